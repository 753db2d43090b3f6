-- One page of the table's current keys: {table, key_columns, keys, next_cursor}.
-- No procedure calls it (verify lists keys with their digests through
-- syspro_digests); kept for worksheets: which keys SYSPRO has right now.
create or replace secure external function {{database}}.{{schema}}.syspro_keys(
    table_name varchar,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of the SYSPRO table''s current keys; loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/keys';
