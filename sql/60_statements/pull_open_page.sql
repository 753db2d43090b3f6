-- pull_page for the open-items pull: in the procedures the source is
-- syspro_pull_open(:table_name, :page_cursor), every row matching the
-- table's open-items filter; push mode and the tests bind the page as :page.
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
    null,
    :page_cursor,
    {{pull_open_source}},
    sysdate()
