-- Re-merges one landed poll of SYSPRO {{table_name}} into syspro__{{table_slug}},
-- from the landing log alone (no call to SYSPRO). Used for a poll whose run
-- failed after landing, or to repair the target. The watermark is left
-- alone: the next sync re-reads from it anyway. Called by replay_syspro_poll.
create or replace procedure {{database}}.{{schema}}.replay_syspro_poll__{{table_slug}}(
    run_id varchar,
    company_id varchar,
    poll_id varchar
)
    returns varchar
    language sql
    comment = 'ml-connector: re-merge a landed poll of SYSPRO {{table_name}}; see audit_syspro__runs'
    execute as owner
as
$$
declare
    run_kind varchar default 'replay';
    {{run_declarations}}
begin
    {{start_run_or_raise}}
    begin transaction;
    in_transaction := true;
    {{merge_poll_counted}}
    run_status := 'succeeded';
    {{stmt_finish_run}};
    commit;
    in_transaction := false;
    return run_status;
exception
    when other then
        {{fail_run}}
        {{stmt_finish_run}};
        raise;
end;
$$;
