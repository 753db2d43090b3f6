-- Work table for backfills: the ranges one backfill run pulls side by side,
-- each with the cursor of its next page. Rows are removed when the run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__backfill_ranges (
    run_id varchar not null,
    table_name varchar not null,
    range_number number(10, 0) not null,    -- 1, 2, ... in date order
    range_since varchar not null,           -- inclusive, YYYY-MM-DD
    range_until varchar not null,           -- exclusive, YYYY-MM-DD
    page_cursor varchar,                    -- the next page's cursor; null before the first page
    is_done boolean not null                -- the range's last page is landed
);
