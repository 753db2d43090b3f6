-- One row per external-function answer: what was asked (since, cursor) and
-- what came back (poll, SYSPRO read time, row count, cursor, error).
create table if not exists {{database}}.{{schema}}.audit_syspro__pages (
    -- ids
    run_id varchar not null,
    poll_id varchar,                        -- null for key pages and failed answers
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    page_number number(10, 0) not null,
    -- request
    requested_since varchar,
    requested_cursor varchar,
    -- answer
    row_count number(18, 0) not null,       -- rows, or keys for a key page
    high_water timestamp_ntz,
    next_cursor varchar,
    error_kind varchar,
    error_message varchar,
    error_attempts number(5, 0),
    -- date/times
    fetched_at timestamp_ntz,               -- when the service read SYSPRO (site wall clock)
    received_at timestamp_ntz not null      -- when Snowflake received the answer (UTC)
);

-- accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.audit_syspro__pages add column if not exists company_id varchar;
update {{database}}.{{schema}}.audit_syspro__pages set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.audit_syspro__pages alter column company_id set not null;
