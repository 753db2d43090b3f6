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
    {{entry_declarations}}
begin
    {{resolve_table}}
    {{dispatch_verify}}
    {{run_summary}}
    return summary;
end;
$$;
