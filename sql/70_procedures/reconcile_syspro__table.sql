-- Reconciles syspro__{{table_slug}} with SYSPRO {{table_name}} over [period_from,
-- period_to) (null: unbounded; snapshot tables whole): one row per period in
-- audit_syspro__reconciliation. Each drifting day is re-pulled at once with
-- repull_syspro_range__{{table_slug}} (a snapshot table's 'all' period with its
-- sync and delete detection), and the row records the re-pull's run id.
-- Called by reconcile_syspro_table('{{table_name}}', ...).
create or replace procedure {{database}}.{{schema}}.reconcile_syspro__{{table_slug}}(
    run_id varchar,
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
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'reconcile';
    poll_id varchar;
    page_number integer default 1;
    page_cursor varchar;
    page_rows integer;
    period varchar;
    until_day varchar;
    repull_run_id varchar;
    deletes_run_id varchar;
    repulls_failed integer default 0;
    rows_inserted integer;
    rows_updated integer;
    rows_deleted integer;
    run_status varchar default 'running';
    error_kind varchar;
    error_message varchar;
    not_in_control exception (-20101, 'table is not in syspro_sync_control');
    service_error exception (-20102, 'the service answered with an error; see audit_syspro__pages');
    repull_failed exception (-20111, 'a targeted re-pull failed; see audit_syspro__runs');
begin
    {{stmt_start_run}};
    if (sqlrowcount = 0) then
        raise not_in_control;
    end if;
    {{stmt_pull_reconcile}};
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
                deletes_run_id := uuid_string();
                call {{database}}.{{schema}}.sync_syspro__{{table_slug}}(:repull_run_id);
                call {{database}}.{{schema}}.detect_syspro_deletes__{{table_slug}}(:deletes_run_id);
            else
                until_day := to_varchar(dateadd(day, 1, to_date(period, 'YYYY-MM-DD')), 'YYYY-MM-DD');
                call {{database}}.{{schema}}.repull_syspro_range__{{table_slug}}(:repull_run_id, :period, :until_day);
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
        run_status := 'failed';
        error_kind := coalesce(error_kind, 'snowflake_error');
        error_message := coalesce(error_message, sqlerrm);
        {{stmt_clear_page_buffer}};
        {{stmt_finish_run}};
        raise;
end;
$$;
