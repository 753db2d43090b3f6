-- Which SYSPRO tables to sync, how, and where they land. Edit is_enabled,
-- schedule_group, verify_group, overlap_days and initial_since freely: the seed below only
-- inserts missing tables and refreshes the catalog columns.
create table if not exists {{database}}.{{schema}}.syspro_sync_control (
    -- ids
    company_id varchar not null,            -- SYSPRO's company id, upper case; '' = the single company
    table_name varchar not null,            -- SYSPRO's spelling, e.g. ApInvoice
    -- catalog
    key_columns array not null,             -- record_key joins these with '|'
    watermark_column varchar,               -- null: snapshot table, read whole every run
    description varchar,
    target_table varchar not null,          -- fully qualified syspro__<table>
    typed_view varchar not null,            -- fully qualified stg_syspro__<table>
    -- scheduling
    schedule_group varchar not null,        -- the task that syncs it: financial | masters
    verify_group varchar,                   -- the task that verifies it: nightly | weekly | none
    overlap_days number(5, 0) not null,     -- re-read this many days before the stored high water
    initial_since date,                     -- first run starts here; null: everything
    is_enabled boolean not null,
    -- date/times
    updated_at timestamp_ntz not null
);

alter table {{database}}.{{schema}}.syspro_sync_control add column if not exists verify_group varchar;

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.syspro_sync_control add column if not exists company_id varchar;
update {{database}}.{{schema}}.syspro_sync_control set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.syspro_sync_control alter column company_id set not null;
