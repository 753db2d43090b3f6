-- One page of the table's keys with a digest of each record: {table,
-- key_columns, keys, digests, next_cursor}, digests aligned with keys and
-- equal to the digests pulls return. Used by verify: a key whose digest
-- differs from the target's record_digest changed in SYSPRO, a key the
-- target lacks is missing in Snowflake, a target key not listed was deleted.
create or replace secure external function {{database}}.{{schema}}.syspro_digests(
    table_name varchar,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of the SYSPRO table''s keys and record digests; loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/digests';
