-- Work table for delete detection: the keys SYSPRO still has, per scan.
-- Rows are removed when the scan finishes.
create transient table if not exists {{database}}.{{schema}}.raw_syspro__seen_keys (
    run_id varchar not null,
    table_name varchar not null,
    page_number number(10, 0) not null,
    record_key varchar not null
);
