-- Targeted re-pull of SYSPRO {{table_name}}: every row with since <= watermark <
-- until_day, pulled with syspro_pull_range, landed and merged like a sync;
-- rows of that range SYSPRO no longer returns are flagged deleted. The
-- watermark is not touched: a re-pulled day is at or below it, and a
-- watermark is only ever safe behind the merged rows, never ahead.
-- Reconciliation calls it for each drifting day (until_day = day + 1).
create or replace procedure {{database}}.{{schema}}.repull_syspro_range__{{table_slug}}(
    run_id varchar,
    since varchar,
    until_day varchar
)
    returns varchar
    language sql
    comment = 'ml-connector: re-pull SYSPRO {{table_name}} rows with since <= watermark < until_day; see audit_syspro__runs'
    execute as owner
as
$$
declare
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'repull';
    poll_id varchar;
    page_number integer default 0;
    page_cursor varchar;
    page_rows integer;
    max_pages integer default 100000;
    rows_inserted integer;
    rows_updated integer;
    rows_deleted integer;
    in_transaction boolean default false;
    run_status varchar default 'running';
    error_kind varchar;
    error_message varchar;
    not_in_control exception (-20101, 'table is not in syspro_sync_control');
    service_error exception (-20102, 'the service answered with an error; see audit_syspro__pages');
    too_many_pages exception (-20103, 'the pull did not finish within max_pages pages');
begin
    {{stmt_start_run}};
    if (sqlrowcount = 0) then
        raise not_in_control;
    end if;

    {{page_loop_pull_range_page}}

    -- the range is complete: MERGE it, flag what SYSPRO no longer has, audit
    begin transaction;
    in_transaction := true;
    {{stmt_merge_poll}};
    select max($1), max($2)
        into :rows_inserted, :rows_updated
        from table(result_scan(last_query_id()));
    {{stmt_mark_deleted_range}};
    rows_deleted := sqlrowcount;
    run_status := 'succeeded';
    {{stmt_finish_run}};
    commit;
    in_transaction := false;
    return run_status;
exception
    when other then
        -- roll back only the transaction this procedure opened: called inside a
        -- caller's transaction, a ROLLBACK of a transaction begun in another
        -- scope fails and the run row would stay 'running' (https://docs.snowflake.com/en/sql-reference/transactions)
        if (in_transaction) then
            rollback;
        end if;
        run_status := 'failed';
        error_kind := coalesce(error_kind, 'snowflake_error');
        error_message := coalesce(error_message, sqlerrm);
        {{stmt_clear_page_buffer}};
        {{stmt_finish_run}};
        raise;
end;
$$;
