-- The entry point to sync one table: `call sync_syspro_table('ApInvoice');`,
-- or one company's: `call sync_syspro_table('UK1.ApInvoice');`. Resolves the
-- name case-insensitively against the control table (parts/resolve_table),
-- runs the table's own procedure for that company with a fresh run id and
-- returns that run's audit row. Raises when the sync failed (after it was audited), so a Task run
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
    company_id varchar;
    qualified_names varchar;
    ambiguous_block varchar;
    summary variant;
    unknown_table exception (-20104, 'unknown table: not in syspro_sync_control');
begin
    {{resolve_table}}
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
