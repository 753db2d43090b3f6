-- The watermark per table: the highest watermark value a successful sync
-- merged. Written only by advance_watermark, in the MERGE's transaction.
create table if not exists {{database}}.{{schema}}.syspro_sync_state (
    -- ids
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    last_run_id varchar,
    last_poll_id varchar,
    -- watermark
    high_water timestamp_ntz,               -- null for snapshot tables
    -- key refresh
    dependents_checked_at timestamp_ntz,    -- UTC; child rows loaded since then name parents to refresh
    -- date/times
    updated_at timestamp_ntz not null       -- UTC
);

alter table {{database}}.{{schema}}.syspro_sync_state add column if not exists dependents_checked_at timestamp_ntz;

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.syspro_sync_state add column if not exists company_id varchar;
update {{database}}.{{schema}}.syspro_sync_state set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.syspro_sync_state alter column company_id set not null;
