-- Targeted re-pull of SYSPRO {{table_name}}: every row with since <= watermark <
-- until_day, pulled with syspro_pull_range, landed and merged like a sync;
-- rows of that range SYSPRO no longer returns are flagged deleted. The
-- watermark is not touched: a re-pulled day is at or below it, and a
-- watermark is only ever safe behind the merged rows, never ahead.
-- Reconciliation calls it for each drifting day (until_day = day + 1).
create or replace procedure {{database}}.{{schema}}.repull_syspro_range__{{table_slug}}(
    run_id varchar,
    company_id varchar,
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
    run_kind varchar default 'repull';
    {{run_declarations}}
    {{page_declarations}}
begin
    {{start_run_or_raise}}

    {{page_loop_buffer_range_page}}

    -- the range is complete: MERGE it, flag what SYSPRO no longer has, audit
    begin transaction;
    in_transaction := true;
    {{merge_poll_counted}}
    {{stmt_mark_deleted_range}};
    rows_deleted := sqlrowcount;
    run_status := 'succeeded';
    {{stmt_finish_run}};
    commit;
    in_transaction := false;
    return run_status;
exception
    when other then
        {{fail_run}}
        {{stmt_clear_page_buffer}};
        {{stmt_finish_run}};
        raise;
end;
$$;
