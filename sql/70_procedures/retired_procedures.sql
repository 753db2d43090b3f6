-- Procedures earlier versions created and this one retires: the key-only
-- delete scan (detect_syspro_deletes*), which verify_syspro_* does with
-- every row's digest and more. DROP PROCEDURE names the argument types
-- (https://docs.snowflake.com/en/sql-reference/sql/drop-procedure).
drop procedure if exists {{database}}.{{schema}}.detect_syspro_deletes(varchar);
drop procedure if exists {{database}}.{{schema}}.detect_syspro_deletes_group(varchar);
{{retired_table_procedures}}
