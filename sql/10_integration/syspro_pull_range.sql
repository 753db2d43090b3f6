-- One page of a bounded pull: rows with since <= watermark < until (since
-- null: unbounded below; until is required), same answer and cursors as
-- syspro_pull, a cursor being bound to its since..until. For backfills and
-- targeted re-pulls: disjoint ranges can be pulled at the same time, each
-- exactly once.
-- MAX_BATCH_ROWS = 1: a backfill asks for the next page of every open range
-- in ONE statement (select syspro_pull_range(r.table_name, r.since, r.until,
-- r.page_cursor) from ranges r). Snowflake splits the rows into batches and
-- sends batches concurrently, so one row per batch is what puts every range
-- in flight at once; it also keeps each answer (one page, up to the 8 MiB
-- budget) under Snowflake's 10 MB response cap. Larger batches would pull
-- the ranges one after the other inside a request and overflow the cap.
create or replace secure external function {{database}}.{{schema}}.syspro_pull_range(
    table_name varchar,
    since varchar,
    until varchar,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of SYSPRO rows with since <= watermark < until; loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/pull_range';
