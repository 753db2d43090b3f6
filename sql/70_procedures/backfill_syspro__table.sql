-- First load of SYSPRO {{table_name}} in parallel: the window from `since` to
-- tomorrow is split into ranges of months_per_range months, and every round
-- asks for the next page of EVERY open range in one statement, which
-- Snowflake fans out as concurrent syspro_pull_range calls. Pages are
-- audited and landed with the statements a sync uses; then, in ONE
-- transaction, every range's poll is merged and the watermark is set to the
-- overall high water (capped and never moved backwards by advance_watermark),
-- so it is never ahead of merged rows. Called by backfill_syspro_table.
create or replace procedure {{database}}.{{schema}}.backfill_syspro__{{table_slug}}(
    run_id varchar,
    company_id varchar,
    since varchar,
    months_per_range integer
)
    returns varchar
    language sql
    comment = 'ml-connector: backfill SYSPRO {{table_name}} by ranges pulled side by side; see audit_syspro__runs'
    execute as owner
as
$$
declare
    run_kind varchar default 'backfill';
    {{run_declarations}}
    {{page_declarations}}
    range_months integer default 1;
    range_count integer default 0;
    round_base integer default 0;
    round_number integer default 0;
    max_rounds integer default 100000;
    no_ranges exception (-20112, 'nothing to backfill: since must be a date before today');
begin
    range_months := greatest(coalesce(months_per_range, 1), 1);
    rows_inserted := 0;
    rows_updated := 0;
    {{start_run_or_raise}}
    {{stmt_plan_backfill_ranges}};
    range_count := sqlrowcount;
    if (range_count = 0) then
        raise no_ranges;
    end if;

    -- one round: the next page of every open range, fetched concurrently,
    -- then audited and landed page by page (each commits on its own)
    loop
        round_number := round_number + 1;
        if (round_number > max_rounds) then
            error_kind := 'too_many_pages';
            raise too_many_pages;
        end if;
        page_number := round_base;
        {{stmt_buffer_backfill_pages}};
        if (sqlrowcount = 0) then
            break;
        end if;
        for range_offset in 1 to range_count do
            page_number := round_base + range_offset;
            {{stmt_audit_page}};
            if (sqlrowcount > 0) then
                {{read_page_or_raise}}
                {{stmt_land_page}};
            end if;
        end for;
        page_number := round_base;
        {{stmt_advance_backfill_ranges}};
        {{stmt_clear_page_buffer}};
        round_base := round_base + range_count;
    end loop;

    -- every range is landed: merge each range's poll and set the watermark together
    let run_polls resultset := (
        {{stmt_read_run_polls}}
    );
    let poll_cursor cursor for run_polls;
    begin transaction;
    in_transaction := true;
    for merged_poll in poll_cursor do
        poll_id := merged_poll.poll_id;
        {{merge_poll_counted}}
    end for;
    {{stmt_advance_watermark}};
    run_status := 'succeeded';
    {{stmt_finish_run}};
    commit;
    in_transaction := false;
    {{stmt_clear_backfill_ranges}};
    return run_status;
exception
    when other then
        -- nothing merged and the watermark untouched; the landed pages stay
        -- in raw_syspro__records (replay_syspro_poll can merge them)
        {{fail_run}}
        {{stmt_clear_page_buffer}};
        {{stmt_clear_backfill_ranges}};
        {{stmt_finish_run}};
        raise;
end;
$$;
