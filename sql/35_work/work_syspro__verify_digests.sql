-- Work table for verify: every key SYSPRO has, with its record's digest, as
-- syspro_digests listed them. Rows are removed when the verify run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__verify_digests (
    run_id varchar not null,
    table_name varchar not null,
    page_number number(10, 0) not null,
    record_key varchar not null,            -- key columns joined with '|'
    key_object variant not null,            -- the key object as SYSPRO listed it
    record_digest varchar                   -- digests[i]; null if the answer had none
);
