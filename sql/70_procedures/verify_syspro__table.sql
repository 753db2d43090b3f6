-- Verifies syspro__{{table_slug}} against SYSPRO {{table_name}}, every row and
-- column: lists every key with its record digest (syspro_digests), flags
-- rows whose key SYSPRO no longer has, and re-pulls by key (syspro_pull_keys)
-- the keys whose digest differs from the target's record_digest and those
-- the target lacks. The watermark is not touched. Called by
-- verify_syspro_table('{{table_name}}') with a fresh run id.
create or replace procedure {{database}}.{{schema}}.verify_syspro__{{table_slug}}(run_id varchar)
    returns varchar
    language sql
    comment = 'ml-connector: make syspro__{{table_slug}} equal SYSPRO {{table_name}}; see audit_syspro__runs'
    execute as owner
as
$$
declare
    table_name varchar default '{{table_name}}';
    run_kind varchar default 'verify';
    poll_id varchar;
    page_number integer default 0;
    page_cursor varchar;
    page_rows integer;
    max_pages integer default 100000;
    batch_number integer default 0;
    rows_inserted integer default 0;
    rows_updated integer default 0;
    rows_deleted integer default 0;
    merged_inserted integer;
    merged_updated integer;
    run_status varchar default 'running';
    error_kind varchar;
    error_message varchar;
    not_in_control exception (-20101, 'table is not in syspro_sync_control');
    service_error exception (-20102, 'the service answered with an error; see audit_syspro__pages');
    too_many_pages exception (-20103, 'the digest scan or a pull by key did not finish within max_pages pages');
begin
    {{stmt_start_run}};
    if (sqlrowcount = 0) then
        raise not_in_control;
    end if;

    -- every key SYSPRO has, with its record's digest
    {{page_loop_pull_digests_page}}

    -- the list is complete (a failed page raised above): flag what is gone
    {{stmt_verify_mark_deleted}};
    rows_deleted := sqlrowcount;

    -- re-pull what changed and what is missing here
    {{stmt_collect_verify_keys}};
    {{refresh_by_key}}

    run_status := 'succeeded';
    {{stmt_finish_key_refresh}};
    {{stmt_finish_run}};
    {{stmt_clear_refresh_keys}};
    {{stmt_clear_verify_digests}};
    return run_status;
exception
    -- no transaction is opened here: every statement commits on its own and
    -- is safe to repeat, so the next verify finishes what this one began
    when other then
        run_status := 'failed';
        error_kind := coalesce(error_kind, 'snowflake_error');
        error_message := coalesce(error_message, sqlerrm);
        {{stmt_clear_page_buffer}};
        {{stmt_finish_key_refresh}};
        {{stmt_finish_run}};
        {{stmt_clear_refresh_keys}};
        {{stmt_clear_verify_digests}};
        raise;
end;
$$;
