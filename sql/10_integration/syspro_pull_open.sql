-- One page of the table's open items: every row matching its open-items
-- filter (catalog `open_items`, e.g. ApInvoice `MthInvBal1 ne 0`), whatever
-- its date, paged like syspro_pull; `open_items` in the answer names the
-- filter. Read whole every sync cycle, so changes SYSPRO makes without moving
-- the watermark date (a payment lowering an old invoice's balance) reach
-- Snowflake in the same cycle. A table without a filter is a 400.
create or replace secure external function {{database}}.{{schema}}.syspro_pull_open(
    table_name varchar,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of the SYSPRO table''s open items; loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/pull_open';
