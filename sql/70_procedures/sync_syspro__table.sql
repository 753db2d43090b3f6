-- Syncs SYSPRO {{table_name}} into syspro__{{table_slug}}: read the watermark,
-- pull every page, land, MERGE, audit, and only then advance the watermark;
-- then, for tables with open items or dependents, re-read the open items
-- and refresh by key what changed without moving its date (sql/README.md).
-- Called by sync_syspro_table('{{table_name}}') with a fresh run id and the
-- company ('' = the single company); every statement keys on it, so the run
-- reads, merges and moves the watermark of that company alone.
-- Every SQL statement in the body is a data-plane statement from
-- sql/60_statements, rendered once and embedded verbatim.
create or replace procedure {{database}}.{{schema}}.sync_syspro__{{table_slug}}(run_id varchar, company_id varchar)
    returns varchar
    language sql
    comment = 'ml-connector: sync SYSPRO {{table_name}} since its watermark; see audit_syspro__runs'
    execute as owner
as
$$
declare
    run_kind varchar default 'sync';
    {{run_declarations}}
    {{page_declarations}}
    since varchar;
begin
    max_pages := {{pages_per_run}};
    {{start_run_or_raise}}
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
        {{stmt_buffer_page}};
        {{stmt_audit_page}};
        {{read_page_or_raise}}
        {{stmt_land_page}};
        {{stmt_clear_page_buffer}};
        begin transaction;
        in_transaction := true;
        {{merge_poll_counted}}
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
        -- the watermark stays where the last committed page left it, so the
        -- next run re-reads from there
        {{fail_run}}
        {{stmt_clear_page_buffer}};
        {{key_refresh_failed}}
        {{stmt_finish_run}};
        raise;
end;
$$;
