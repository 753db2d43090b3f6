-- The page buffer: each external-function answer is stored here first,
-- exactly as returned (sql/60_statements/buffer_answer.sql), then audited,
-- landed and deleted. Keeping the call inside an
-- INSERT means no VARIANT ever has to travel through a procedure variable.
-- Transient: nothing here needs Fail-safe.
create transient table if not exists {{database}}.{{schema}}.work_syspro__pages (
    run_id varchar not null,
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    page_number number(10, 0) not null,
    requested_since varchar,
    requested_cursor varchar,
    page variant,                           -- the external function's whole answer
    received_at timestamp_ntz not null      -- UTC
);

-- work tables of accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.work_syspro__pages add column if not exists company_id varchar;
update {{database}}.{{schema}}.work_syspro__pages set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.work_syspro__pages alter column company_id set not null;
