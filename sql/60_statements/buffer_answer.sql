-- Keeps an external function's answer verbatim in the page buffer before
-- anything interprets it, so an error answer reaches the audit trail
-- unchanged, and no VARIANT travels through a procedure variable. One
-- template for every call: sqlgen renders it once per external function
-- (buffer_page for syspro_pull, buffer_range_page, buffer_open_page,
-- buffer_digests_page, buffer_keys_batch_page, buffer_schema,
-- buffer_reconcile, buffer_backfill_pages; src/sqlgen/statements.rs says
-- which call and binds each takes). In the procedures the answer is the
-- call; push mode and the tests bind the answer they got as :page.
insert into {{database}}.{{schema}}.work_syspro__pages (
    run_id,
    company_id,
    table_name,
    page_number,
    requested_since,
    requested_cursor,
    page,
    received_at
)
select
    {{answer_run_id}},
    {{answer_company_id}},
    {{answer_table_name}},
    {{answer_page_number}},
    {{answer_since}},
    {{answer_cursor}},
    {{answer}},
    sysdate()
{{answer_from}}
