-- pull_page for verify's digest scan: in the procedures the source is
-- syspro_digests(:table_name, :page_cursor), one page of keys with their
-- record digests; push mode and the tests bind the page as :page.
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
    {{digests_source}},
    sysdate()
