-- Verifies one table now: `call verify_syspro_table('ApInvoice');` makes the
-- target equal SYSPRO (changed and missing rows re-pulled, deleted rows
-- flagged) and returns the run's audit row (keys_compared, keys_changed,
-- keys_absent, keys_refreshed, keys_flagged_deleted). Raises when the
-- verify failed (after it was audited).
create or replace procedure {{database}}.{{schema}}.verify_syspro_table(table_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: verify one table against SYSPRO now; returns its audit_syspro__runs row'
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
    {{dispatch_verify}}
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
