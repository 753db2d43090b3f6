-- Reconciles one table now:
--     call reconcile_syspro_table('ApInvoice', '2026-10-01', '2026-11-01');
-- (one company's: 'UK1.ApInvoice'; names resolve as in sync_syspro_table).
-- period_from inclusive, period_to exclusive (YYYY-MM-DD; null: unbounded;
-- snapshot tables take nulls). Writes audit_syspro__reconciliation,
-- re-pulls drifting days, and returns a summary of the run.
create or replace procedure {{database}}.{{schema}}.reconcile_syspro_table(
    table_name varchar,
    period_from varchar,
    period_to varchar
)
    returns variant
    language sql
    comment = 'ml-connector: reconcile one SYSPRO table per day; returns a summary, details in audit_syspro__reconciliation'
    execute as owner
as
$$
declare
    {{entry_declarations}}
begin
    {{resolve_table}}
    {{dispatch_reconcile}}
    select object_construct(
            'run_id', :run_id,
            'company_id', :company_id,
            'table_name', :known_name,
            'periods', count(*),
            'drift_periods', count_if(recon.status = 'drift'),
            'repulls', count_if(recon.is_repull_triggered)
        )
        into :summary
        from {{database}}.{{schema}}.audit_syspro__reconciliation as recon
        where
            recon.company_id = :company_id
            and recon.run_id = :run_id;
    return summary;
end;
$$;
