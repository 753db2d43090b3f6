-- Finds rows of syspro__{{table_slug}} that SYSPRO {{table_name}} no longer has
-- and flags them is_deleted. Pulls every key with syspro_keys; incremental
-- pulls never see a hard delete, and snapshot pulls only show what exists.
-- Called by detect_syspro_deletes('{{table_name}}').
create or replace procedure {{database}}.{{schema}}.detect_syspro_deletes__{{table_slug}}(run_id varchar)
    returns varchar
    language sql
    comment = 'ml-connector: flag rows of SYSPRO {{table_name}} deleted in SYSPRO; see audit_syspro__runs'
    execute as owner
as
$$
declare
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'detect_deletes';
    poll_id varchar;
    page_number integer default 0;
    page_cursor varchar;
    page_rows integer;
    max_pages integer default 100000;
    rows_inserted integer;
    rows_updated integer;
    rows_deleted integer;
    run_status varchar default 'running';
    error_kind varchar;
    error_message varchar;
    not_in_control exception (-20101, 'table is not in syspro_sync_control');
    service_error exception (-20102, 'the service answered with an error; see audit_syspro__pages');
    too_many_pages exception (-20103, 'the key scan did not finish within max_pages pages');
begin
    {{stmt_start_run}};
    if (sqlrowcount = 0) then
        raise not_in_control;
    end if;

    {{page_loop_pull_keys_page}}

    -- only a complete key list may judge deletes: a failed page raised above
    {{stmt_mark_deleted}};
    rows_deleted := sqlrowcount;
    run_status := 'succeeded';
    {{stmt_finish_run}};
    {{stmt_clear_seen_keys}};
    return run_status;
exception
    when other then
        run_status := 'failed';
        error_kind := coalesce(error_kind, 'snowflake_error');
        error_message := coalesce(error_message, sqlerrm);
        {{stmt_clear_page_buffer}};
        {{stmt_clear_seen_keys}};
        {{stmt_finish_run}};
        raise;
end;
$$;
