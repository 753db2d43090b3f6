-- Work table for backfills: the ranges one backfill run pulls side by side,
-- each with the cursor of its next page. Rows are removed when the run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__backfill_ranges (
    run_id varchar not null,
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    range_number number(10, 0) not null,    -- 1, 2, ... in date order
    range_since varchar not null,           -- inclusive, YYYY-MM-DD
    range_until varchar not null,           -- exclusive, YYYY-MM-DD
    page_cursor varchar,                    -- the next page's cursor; null before the first page
    is_done boolean not null                -- the range's last page is landed
);

-- work tables of accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.work_syspro__backfill_ranges add column if not exists company_id varchar;
update {{database}}.{{schema}}.work_syspro__backfill_ranges set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.work_syspro__backfill_ranges alter column company_id set not null;
