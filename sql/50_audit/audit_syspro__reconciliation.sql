-- One row per reconciliation run x table x period: SYSPRO's row count and
-- exact sums (from syspro_reconcile) next to the same figures computed over
-- the synced target (rows not flagged deleted), the differences, and
-- whether a targeted re-pull of the period was triggered. A period is a day
-- of the table's watermark column (YYYY-MM-DD), or 'all' for snapshot tables.
create table if not exists {{database}}.{{schema}}.audit_syspro__reconciliation (
    -- ids
    run_id varchar not null,                -- the audit_syspro__runs row (run_kind reconcile)
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    period varchar not null,
    -- the window reconciled (null: unbounded)
    period_from date,
    period_to date,                         -- exclusive
    -- row counts
    syspro_row_count number(18, 0) not null,
    target_row_count number(18, 0) not null,
    row_count_difference number(18, 0) not null,    -- SYSPRO minus Snowflake: > 0 means rows missing in Snowflake
    -- sums per measure, and per "measure:split value" (e.g. EntryValue:D)
    syspro_sums variant,                    -- as SYSPRO summed them, exact
    target_sums variant,
    sum_differences variant,                -- only measures that differ: SYSPRO minus Snowflake
    -- outcome
    status varchar not null,                -- ok | drift
    is_repull_triggered boolean not null,
    repull_run_id varchar,                  -- the audit_syspro__runs row of the re-pull
    -- date/times
    reconciled_at timestamp_ntz not null    -- UTC
);

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.audit_syspro__reconciliation add column if not exists company_id varchar;
update {{database}}.{{schema}}.audit_syspro__reconciliation set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.audit_syspro__reconciliation alter column company_id set not null;
