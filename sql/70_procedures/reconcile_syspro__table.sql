-- Reconciles syspro__{{table_slug}} with SYSPRO {{table_name}} over [period_from,
-- period_to) (null: unbounded; snapshot tables whole): one row per period in
-- audit_syspro__reconciliation. Each drifting day is re-pulled at once with
-- repull_syspro_range__{{table_slug}} (a snapshot table's 'all' period with its
-- sync and verify), and the row records the re-pull's run id.
-- Called by reconcile_syspro_table('{{table_name}}', ...) with the company;
-- its re-pulls are the same company's.
create or replace procedure {{database}}.{{schema}}.reconcile_syspro__{{table_slug}}(
    run_id varchar,
    company_id varchar,
    period_from varchar,
    period_to varchar
)
    returns varchar
    language sql
    comment = 'ml-connector: reconcile SYSPRO {{table_name}} per day and re-pull drifting days; see audit_syspro__reconciliation'
    execute as owner
as
$$
declare
    run_kind varchar default 'reconcile';
    {{run_declarations}}
    {{page_declarations}}
    period varchar;
    until_day varchar;
    repull_run_id varchar;
    verify_run_id varchar;
    repulls_failed integer default 0;
    repull_failed exception (-20111, 'a targeted re-pull failed; see audit_syspro__runs');
begin
    page_number := 1;
    {{start_run_or_raise}}
    {{stmt_buffer_reconcile}};
    {{stmt_audit_page}};
    {{read_page_or_raise}}
    {{stmt_reconcile_compare}};
    {{stmt_clear_page_buffer}};

    -- re-pull every drifting day; each re-pull is its own audited run
    let drift_periods resultset := (
        {{stmt_read_drift}}
    );
    let drift_cursor cursor for drift_periods;
    for drift in drift_cursor do
        period := drift.period;
        repull_run_id := uuid_string();
        begin
            if (period = 'all') then
                verify_run_id := uuid_string();
                call {{database}}.{{schema}}.sync_syspro__{{table_slug}}(:repull_run_id, :company_id);
                call {{database}}.{{schema}}.verify_syspro__{{table_slug}}(:verify_run_id, :company_id);
            else
                until_day := to_varchar(dateadd(day, 1, to_date(period, 'YYYY-MM-DD')), 'YYYY-MM-DD');
                call {{database}}.{{schema}}.repull_syspro_range__{{table_slug}}(:repull_run_id, :company_id, :period, :until_day);
            end if;
        exception
            -- audited by the re-pull's own procedure; go on with the other days
            when other then
                repulls_failed := repulls_failed + 1;
        end;
        {{stmt_record_repull}};
    end for;

    if (repulls_failed > 0) then
        error_kind := 'repull_failed';
        error_message := repulls_failed || ' targeted re-pull(s) failed; see audit_syspro__runs';
        raise repull_failed;
    end if;
    run_status := 'succeeded';
    {{stmt_finish_run}};
    return run_status;
exception
    when other then
        {{fail_run}}
        {{stmt_clear_page_buffer}};
        {{stmt_finish_run}};
        raise;
end;
$$;
