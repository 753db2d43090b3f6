-- Procedures earlier versions created and this one retires: the key-only
-- delete scan (detect_syspro_deletes*), which verify_syspro_* does with
-- every row's digest and more, and the per-table procedures' signatures
-- from before companies (without company_id): procedures are overloaded by
-- their argument types, so the new ones did not replace them. DROP
-- PROCEDURE names the argument types
-- (https://docs.snowflake.com/en/sql-reference/sql/drop-procedure).
drop procedure if exists {{database}}.{{schema}}.detect_syspro_deletes(varchar);
drop procedure if exists {{database}}.{{schema}}.detect_syspro_deletes_group(varchar);
{{retired_table_procedures}}
