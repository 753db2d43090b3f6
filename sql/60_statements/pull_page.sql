-- Calls the service for one page and keeps the answer verbatim, so an error
-- answer reaches the audit trail unchanged. In the procedures the source is
-- syspro_pull(:table_name, :since, :page_cursor); push mode and the tests
-- bind the page the service returned as :page.
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
    {{pull_source}},
    sysdate()
