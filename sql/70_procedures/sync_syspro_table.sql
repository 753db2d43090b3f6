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
    {{entry_declarations}}
begin
    {{resolve_table}}
    {{dispatch_sync}}
    {{run_summary}}
    return summary;
end;
$$;
