-- The entry point to sync one table: `call sync_syspro_table('ApInvoice');`
-- Resolves the name case-insensitively against the control table, runs the
-- table's own procedure with a fresh run id and returns that run's audit
-- row. Raises when the sync failed (after it was audited), so a Task run
-- that calls it fails too.
create or replace procedure {{database}}.{{schema}}.sync_syspro_table(table_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: sync one SYSPRO table now; returns its audit_syspro__runs row'
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
    {{dispatch_sync}}
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
