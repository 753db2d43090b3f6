-- Current state of SYSPRO {{table_name}}: one row per key ({{key_columns_list}}),
-- the latest version any sync merged. Hard deletes in SYSPRO are kept as
-- soft deletes (is_deleted) so history and audit still join.
-- Rendered once per table in the catalog.
create table if not exists {{database}}.{{schema}}.syspro__{{table_slug}} (
    -- ids
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
