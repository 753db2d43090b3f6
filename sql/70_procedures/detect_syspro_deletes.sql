-- Flags rows SYSPRO hard-deleted: `call detect_syspro_deletes('ApSupplier');`
-- returns the scan's audit row (rows_deleted = rows newly flagged).
create or replace procedure {{database}}.{{schema}}.detect_syspro_deletes(table_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: flag rows deleted in SYSPRO for one table; returns its audit row'
    execute as owner
as
$$
declare
    run_id varchar default uuid_string();
    known_name varchar;
    summary variant;
    unknown_table exception (-20104, 'unknown table: not in syspro_sync_control');
begin
    select max(control.table_name)
        into :known_name
        from {{database}}.{{schema}}.syspro_sync_control as control
        where lower(control.table_name) = lower(:table_name);
    {{dispatch_detect_deletes}}
    select parse_json(max(to_json(run_row.summary)))
        into :summary
        from (
            select object_construct(*) as summary
            from {{database}}.{{schema}}.audit_syspro__runs as runs
            where runs.run_id = :run_id
        ) as run_row;
    return summary;
end;
$$;
