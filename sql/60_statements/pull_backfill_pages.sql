-- The fan-out: the next page of EVERY open range of a backfill, in one
-- statement. In the procedure the source is syspro_pull_range(ranges.table_name,
-- ranges.range_since, ranges.range_until, ranges.page_cursor), which has
-- MAX_BATCH_ROWS = 1, so Snowflake sends one request per range and runs
-- them concurrently. Page numbers are :page_number (the pages so far) plus
-- the range number, unique within the run. The tests bind the pages as
-- :pages, an object from range number to page.
insert into {{database}}.{{schema}}.raw_syspro__page_buffer (
    run_id,
    table_name,
    page_number,
    requested_since,
    requested_cursor,
    page,
    received_at
)
select
    ranges.run_id,
    ranges.table_name,
    :page_number + ranges.range_number,
    ranges.range_since,
    ranges.page_cursor,
    {{pull_ranges_source}},
    sysdate()
from {{database}}.{{schema}}.raw_syspro__backfill_ranges as ranges
where
    ranges.run_id = :run_id
    and not ranges.is_done
