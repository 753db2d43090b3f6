-- One page of one pull: {table, poll_id, fetched_at, since, rows, row_count,
-- next_cursor, high_water, key_columns, watermark_column, page}, or
-- {error: {kind, message, attempts}, table, poll_id} when SYSPRO stays down.
-- SECURE hides the shared secret in HEADERS from everyone but the owner.
-- VOLATILE: the same arguments return new rows as SYSPRO changes.
-- MAX_BATCH_ROWS = 1: each call is a whole page (up to the 8 MiB budget), so
-- one page per batch keeps every answer under Snowflake's 10 MB cap.
create or replace secure external function {{database}}.{{schema}}.syspro_pull(
    table_name varchar,
    since varchar,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of SYSPRO rows with watermark >= since (null: all); loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/pull';
