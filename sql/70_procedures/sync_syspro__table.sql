-- Syncs SYSPRO {{table_name}} into syspro__{{table_slug}}: read the watermark,
-- pull every page, land, MERGE, audit, and only then advance the watermark;
-- then, for tables with open items or dependents, re-read the open items
-- and refresh by key what changed without moving its date (sql/README.md).
-- Called by sync_syspro_table('{{table_name}}') with a fresh run id.
-- Every SQL statement in the body is a data-plane statement from
-- sql/60_statements, rendered once and embedded verbatim.
create or replace procedure {{database}}.{{schema}}.sync_syspro__{{table_slug}}(run_id varchar)
    returns varchar
    language sql
    comment = 'ml-connector: sync SYSPRO {{table_name}} since its watermark; see audit_syspro__runs'
    execute as owner
as
$$
declare
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'sync';
    since varchar;
    poll_id varchar;
    page_number integer default 0;
    page_cursor varchar;
    page_rows integer;
    max_pages integer default {{pages_per_run}};
    rows_inserted integer;
    rows_updated integer;
    rows_deleted integer;
    merged_inserted integer;
    merged_updated integer;
    batch_number integer default 0;
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
    -- a run cut off earlier (task timeout, cancel) is audited and its work rows removed
    {{stmt_close_abandoned_runs}};
    {{stmt_clear_abandoned_runs}};
    select max(run.since)
        into :since
        from (
            {{stmt_read_run}}
        ) as run;

    -- Page by page: pull, audit and land, then MERGE the poll so far and move
    -- the watermark in ONE transaction per page. The service answers in
    -- watermark order, so a run cut off at any point (task timeout, cancel)
    -- keeps every page it merged, the watermark stays behind the merged rows,
    -- and the next run continues from there (since = high water - overlap).
    -- After pages_per_run pages the run stops as 'partial' and leaves the rest
    -- to the next run: a first load of any size makes progress inside the
    -- task timeout.
    rows_inserted := 0;
    rows_updated := 0;
    loop
        page_number := page_number + 1;
        if (page_number > max_pages) then
            run_status := 'partial';
            break;
        end if;
        {{stmt_pull_page}};
        {{stmt_audit_page}};
        {{read_page_or_raise}}
        {{stmt_land_page}};
        {{stmt_clear_page_buffer}};
        begin transaction;
        in_transaction := true;
        {{stmt_merge_poll}};
        select max($1), max($2)
            into :merged_inserted, :merged_updated
            from table(result_scan(last_query_id()));
        rows_inserted := rows_inserted + merged_inserted;
        rows_updated := rows_updated + merged_updated;
        {{stmt_advance_watermark}};
        {{stmt_finish_run}};
        commit;
        in_transaction := false;
        if (page_cursor is null) then
            break;
        end if;
    end loop;
    if (run_status = 'partial') then
        {{stmt_finish_run}};
        return run_status;
    end if;
    run_status := '{{status_after_watermark}}';
    {{stmt_finish_run}};

    {{key_refresh}}
    return run_status;
exception
    when other then
        -- undo a half-done MERGE/watermark, then record why the run failed;
        -- the watermark stays where it was, so the next run re-reads. Only
        -- the transaction this procedure opened is rolled back: a failure
        -- outside it (a page, the key refresh) has no transaction of ours.
        -- Snowflake scopes a procedure's transaction to the procedure: a
        -- ROLLBACK here of a transaction begun by a caller fails
        -- (https://docs.snowflake.com/en/sql-reference/transactions, scoped transactions).
        if (in_transaction) then
            rollback;
        end if;
        run_status := 'failed';
        error_kind := coalesce(error_kind, 'snowflake_error');
        error_message := coalesce(error_message, sqlerrm);
        {{stmt_clear_page_buffer}};
        {{key_refresh_failed}}
        {{stmt_finish_run}};
        raise;
end;
$$;
