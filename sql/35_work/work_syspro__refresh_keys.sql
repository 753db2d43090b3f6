-- Work table for key refreshes (sync) and re-pulls (verify): the keys a run
-- pulls with syspro_pull_keys, in batches of at most 1000, and which of
-- them SYSPRO answered it does not have. Rows are removed when the run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__refresh_keys (
    run_id varchar not null,
    table_name varchar not null,
    record_key varchar not null,            -- key columns joined with '|'
    key_object variant not null,            -- {"KeyColumn": value, ...}, as syspro_pull_keys takes it
    reason varchar not null,                -- open_item | dependent | changed | absent
    batch_number number(10, 0) not null,    -- 1, 2, ...: one syspro_pull_keys pull each
    is_missing boolean not null,            -- SYSPRO answered it does not have the key
    missing_fetched_at timestamp_ntz        -- when SYSPRO said so (site wall clock)
);
