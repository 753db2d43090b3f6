-- The page buffer: each external-function answer is stored here first,
-- exactly as returned (sql/60_statements/buffer_answer.sql), then audited,
-- landed and deleted. Keeping the call inside an
-- INSERT means no VARIANT ever has to travel through a procedure variable.
-- Transient: nothing here needs Fail-safe.
create transient table if not exists {{database}}.{{schema}}.work_syspro__pages (
    run_id varchar not null,
    table_name varchar not null,
    page_number number(10, 0) not null,
    requested_since varchar,
    requested_cursor varchar,
    page variant,                           -- the external function's whole answer
    received_at timestamp_ntz not null      -- UTC
);
