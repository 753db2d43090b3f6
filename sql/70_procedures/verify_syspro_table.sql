-- Verifies one table now: `call verify_syspro_table('ApInvoice');` (one
-- company's: 'UK1.ApInvoice') makes the
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
    company_id varchar;
    qualified_names varchar;
    ambiguous_block varchar;
    summary variant;
    unknown_table exception (-20104, 'unknown table: not in syspro_sync_control');
begin
    {{resolve_table}}
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
