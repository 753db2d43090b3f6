-- The watermark per table: the highest watermark value a successful sync
-- merged. Written only by advance_watermark, in the MERGE's transaction.
create table if not exists {{database}}.{{schema}}.syspro_sync_state (
    -- ids
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
