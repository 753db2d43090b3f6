-- Re-merges one landed poll of SYSPRO {{table_name}} into syspro__{{table_slug}},
-- from the landing log alone (no call to SYSPRO). Used for a poll whose run
-- failed after landing, or to repair the target. The watermark is left
-- alone: the next sync re-reads from it anyway. Called by replay_syspro_poll.
create or replace procedure {{database}}.{{schema}}.replay_syspro_poll__{{table_slug}}(
    run_id varchar,
    poll_id varchar
)
    returns varchar
    language sql
    comment = 'ml-connector: re-merge a landed poll of SYSPRO {{table_name}}; see audit_syspro__runs'
    execute as owner
as
$$
declare
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'replay';
    rows_inserted integer;
    rows_updated integer;
    rows_deleted integer;
    in_transaction boolean default false;
    run_status varchar default 'running';
    error_kind varchar;
    error_message varchar;
    not_in_control exception (-20101, 'table is not in syspro_sync_control');
begin
    {{stmt_start_run}};
    if (sqlrowcount = 0) then
        raise not_in_control;
    end if;
    begin transaction;
    in_transaction := true;
    {{stmt_merge_poll}};
    select max($1), max($2)
        into :rows_inserted, :rows_updated
        from table(result_scan(last_query_id()));
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
        error_kind := 'snowflake_error';
        error_message := sqlerrm;
        {{stmt_finish_run}};
        raise;
end;
$$;
