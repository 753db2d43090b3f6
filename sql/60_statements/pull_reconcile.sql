-- Asks SYSPRO for the reconciliation figures of a window and keeps the
-- answer verbatim, like pull_page; audit_page and read_page then record and
-- surface an error answer the same way. In the procedures the source is
-- syspro_reconcile(:table_name, :period_from, :period_to).
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
    :period_from,
    :period_to,
    {{reconcile_source}},
    sysdate()
