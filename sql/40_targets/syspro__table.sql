-- Current state of SYSPRO {{table_name}}: one row per key ({{key_columns_list}}),
-- the latest version any sync merged. Hard deletes in SYSPRO are kept as
-- soft deletes (is_deleted) so history and audit still join.
-- Rendered once per table in the catalog.
create table if not exists {{database}}.{{schema}}.syspro__{{table_slug}} (
    -- ids
    company_id varchar not null,            -- SYSPRO's company id; '' = the single company
    record_key varchar not null,            -- {{key_columns_list}} joined with '|'
    -- payload
    record variant not null,                -- the SYSPRO record; typed columns in stg_syspro__{{table_slug}}
    record_hash varchar(32) not null,
    record_digest varchar,                  -- the service's digest of this version; verify compares it with SYSPRO's
    watermark_value timestamp_ntz,          -- {{watermark_column_or_none}}
    -- lineage
    poll_id varchar not null,               -- the poll that last changed this row
    first_poll_id varchar not null,         -- the poll that first inserted it
    -- date/times
    fetched_at timestamp_ntz not null,      -- when SYSPRO was read for this version (site wall clock)
    loaded_at timestamp_ntz not null,       -- when Snowflake last changed this row (UTC)
    first_loaded_at timestamp_ntz not null,
    -- soft delete
    is_deleted boolean not null,
    deleted_at timestamp_ntz,               -- UTC; null unless is_deleted
    deleted_by_run_id varchar               -- the run (sync key refresh, verify, re-pull) that flagged it
);

-- accounts set up before record digests existed get the column here; the
-- next merge or verify of a row fills it
alter table {{database}}.{{schema}}.syspro__{{table_slug}} add column if not exists record_digest varchar;

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.syspro__{{table_slug}} add column if not exists company_id varchar;
update {{database}}.{{schema}}.syspro__{{table_slug}} set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.syspro__{{table_slug}} alter column company_id set not null;
