-- The landing log: every record every poll read, append-only, as SYSPRO
-- returned it. It is the audit trail of what was read and when, and the
-- source a poll can be replayed from (replay_syspro_poll). Never updated.
create table if not exists {{database}}.{{schema}}.raw_syspro__records (
    -- ids
    poll_id varchar not null,               -- one pull: every page of it
    run_id varchar not null,                -- the audit_syspro__runs row that pulled it
    company_id varchar not null,            -- the company read; '' = the single company
    table_name varchar not null,
    page_number number(10, 0) not null,
    row_index number(10, 0) not null,       -- 0-based position in the page
    record_key varchar not null,            -- key columns joined with '|'
    -- payload
    record variant not null,                -- the SYSPRO record, column names as in SYSPRO
    record_hash varchar(32) not null,       -- md5 of the record's JSON: change detection
    record_digest varchar,                  -- the service's digest of the record (the page's digests[i])
    watermark_value timestamp_ntz,          -- the record's watermark column; null for snapshots
    -- date/times
    fetched_at timestamp_ntz not null,      -- when the service read SYSPRO (site wall clock)
    landed_at timestamp_ntz not null        -- when Snowflake stored it (UTC)
)
cluster by (table_name, to_date(landed_at));

-- accounts set up before record digests existed get the column here
alter table {{database}}.{{schema}}.raw_syspro__records add column if not exists record_digest varchar;

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.raw_syspro__records add column if not exists company_id varchar;
update {{database}}.{{schema}}.raw_syspro__records set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.raw_syspro__records alter column company_id set not null;
