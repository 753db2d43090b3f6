-- pull_page for a bounded pull (a targeted re-pull of a day): in the
-- procedures the source is syspro_pull_range(:table_name, :since, :until_day,
-- :page_cursor); push mode and the tests bind the page as :page.
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
    :run_id,
    :table_name,
    :page_number,
    :since,
    :page_cursor,
    {{pull_range_source}},
    sysdate()
