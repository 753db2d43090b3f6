-- One page of the table's current keys: {table, key_columns, keys, next_cursor}.
-- Used by delete detection: a key that is in Snowflake but no longer in
-- SYSPRO was hard-deleted there.
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
