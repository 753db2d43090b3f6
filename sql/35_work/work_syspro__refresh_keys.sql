-- Work table for key refreshes (sync) and re-pulls (verify): the keys a run
-- pulls with syspro_pull_keys, in batches of at most 1000, and which of
-- them SYSPRO answered it does not have. Rows are removed when the run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__refresh_keys (
    run_id varchar not null,
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    record_key varchar not null,            -- key columns joined with '|'
    key_object variant not null,            -- {"KeyColumn": value, ...}, as syspro_pull_keys takes it
    reason varchar not null,                -- open_item | dependent | changed | absent
    batch_number number(10, 0) not null,    -- 1, 2, ...: one syspro_pull_keys pull each
    is_missing boolean not null,            -- SYSPRO answered it does not have the key
    missing_fetched_at timestamp_ntz        -- when SYSPRO said so (site wall clock)
);

-- work tables of accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.work_syspro__refresh_keys add column if not exists company_id varchar;
update {{database}}.{{schema}}.work_syspro__refresh_keys set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.work_syspro__refresh_keys alter column company_id set not null;
