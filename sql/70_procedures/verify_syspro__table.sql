-- Verifies syspro__{{table_slug}} against SYSPRO {{table_name}}, every row and
-- column: lists every key with its record digest (syspro_digests), flags
-- rows whose key SYSPRO no longer has, and re-pulls by key (syspro_pull_keys)
-- the keys whose digest differs from the target's record_digest and those
-- the target lacks. The watermark is not touched. Called by
-- verify_syspro_table('{{table_name}}') with a fresh run id and the company;
-- only that company's rows are compared and flagged.
create or replace procedure {{database}}.{{schema}}.verify_syspro__{{table_slug}}(run_id varchar, company_id varchar)
    returns varchar
    language sql
    comment = 'ml-connector: make syspro__{{table_slug}} equal SYSPRO {{table_name}}; see audit_syspro__runs'
    execute as owner
as
$$
declare
    run_kind varchar default 'verify';
    {{run_declarations}}
    {{page_declarations}}
begin
    rows_inserted := 0;
    rows_updated := 0;
    rows_deleted := 0;
    {{start_run_or_raise}}

    -- every key SYSPRO has, with its record's digest
    {{page_loop_buffer_digests_page}}

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
        {{fail_run}}
        {{stmt_clear_page_buffer}};
        {{stmt_finish_key_refresh}};
        {{stmt_finish_run}};
        {{stmt_clear_refresh_keys}};
        {{stmt_clear_verify_digests}};
        raise;
end;
$$;
