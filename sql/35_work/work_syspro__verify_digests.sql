-- Work table for verify: every key SYSPRO has, with its record's digest, as
-- syspro_digests listed them. Rows are removed when the verify run ends.
create transient table if not exists {{database}}.{{schema}}.work_syspro__verify_digests (
    run_id varchar not null,
    company_id varchar not null,            -- '' = the single company
    table_name varchar not null,
    page_number number(10, 0) not null,
    record_key varchar not null,            -- key columns joined with '|'
    key_object variant not null,            -- the key object as SYSPRO listed it
    record_digest varchar                   -- digests[i]; null if the answer had none
);

-- work tables of accounts set up before companies existed: every row so far is the single
-- company (''). Snowflake cannot combine ADD COLUMN IF NOT EXISTS with DEFAULT, nor add a default to an
-- existing column (https://docs.snowflake.com/en/sql-reference/sql/alter-table,
-- https://docs.snowflake.com/en/sql-reference/sql/alter-table-column), so the
-- column is added bare, filled, then made NOT NULL; it has no default on new
-- accounts either, so every account behaves alike: each statement writes it.
alter table {{database}}.{{schema}}.work_syspro__verify_digests add column if not exists company_id varchar;
update {{database}}.{{schema}}.work_syspro__verify_digests set company_id = '' where company_id is null;
alter table {{database}}.{{schema}}.work_syspro__verify_digests alter column company_id set not null;
