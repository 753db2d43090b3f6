-- Work table: each external-function answer is stored here first, exactly
-- as returned, then audited, landed and deleted. Keeping the call inside an
-- INSERT means no VARIANT ever has to travel through a procedure variable.
-- Transient: nothing here needs Fail-safe.
create transient table if not exists {{database}}.{{schema}}.raw_syspro__page_buffer (
    run_id varchar not null,
    table_name varchar not null,
    page_number number(10, 0) not null,
    requested_since varchar,
    requested_cursor varchar,
    page variant,                           -- the whole answer of syspro_pull / syspro_keys / syspro_schema
    received_at timestamp_ntz not null      -- UTC
);
