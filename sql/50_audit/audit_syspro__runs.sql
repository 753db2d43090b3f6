-- One row per run of a procedure: sync, replay, verify, reconcile, ... The row
-- is written as 'running' before the first call, so a run that dies leaves
-- a trace, and finished with its counts, status and error.
create table if not exists {{database}}.{{schema}}.audit_syspro__runs (
    -- ids
    run_id varchar not null,
    run_kind varchar not null,              -- sync | replay | verify | reconcile | repull | backfill (detect_deletes: earlier versions)
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    poll_id varchar,                        -- the poll pulled (sync) or replayed (replay)
    -- watermark
    since varchar,                          -- what syspro_pull was asked for; null: everything
    stored_high_water timestamp_ntz,        -- the watermark when the run started
    pulled_high_water timestamp_ntz,        -- the highest watermark value the poll saw
    new_high_water timestamp_ntz,           -- the watermark after the run (unchanged on failure)
    -- measures
    pages number(10, 0),
    rows_pulled number(18, 0),
    rows_inserted number(18, 0),
    rows_updated number(18, 0),
    rows_deleted number(18, 0),             -- rows flagged is_deleted (sync key refresh, verify, repull)
    keys_compared number(18, 0),            -- verify: keys SYSPRO listed with their digests
    keys_changed number(18, 0),             -- verify: keys whose digest differs from the target's
    keys_absent number(18, 0),              -- verify: keys SYSPRO has and the target lacks (or flagged deleted)
    keys_refreshed number(18, 0),           -- sync and verify: keys re-pulled with syspro_pull_keys
    keys_flagged_deleted number(18, 0),     -- sync and verify: target rows this run flagged deleted
    -- outcome
    status varchar not null,                -- running | succeeded | partial | failed | abandoned
    error_kind varchar,                     -- the service's error kind, or snowflake_error
    error_message varchar,
    -- date/times
    started_at timestamp_ntz not null,      -- UTC
    finished_at timestamp_ntz               -- UTC
);

-- accounts set up before the key refresh and verify existed get the columns here
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists keys_compared number(18, 0);
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists keys_changed number(18, 0);
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists keys_absent number(18, 0);
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists keys_refreshed number(18, 0);
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists keys_flagged_deleted number(18, 0);

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.audit_syspro__runs add column if not exists company_id varchar;
update {{database}}.{{schema}}.audit_syspro__runs set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.audit_syspro__runs alter column company_id set not null;
