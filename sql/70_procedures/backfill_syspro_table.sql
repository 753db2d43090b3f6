-- First load of a big table, ranges pulled in parallel:
--     call backfill_syspro_table('GenJournalDetail', '2019-01-01', 1);
-- (one company's: 'UK1.GenJournalDetail'; names resolve as in sync_syspro_table).
-- since: the first day to load (null: the table's initial_since);
-- months_per_range: the size of each range (1: monthly). Returns the
-- backfill's audit row; afterwards the scheduled syncs carry on from the
-- watermark it set. Tables with a watermark column only.
create or replace procedure {{database}}.{{schema}}.backfill_syspro_table(
    table_name varchar,
    since varchar,
    months_per_range integer
)
    returns variant
    language sql
    comment = 'ml-connector: backfill one SYSPRO table by date ranges pulled side by side; returns its audit row'
    execute as owner
as
$$
declare
    {{entry_declarations}}
    first_day varchar;
    range_months integer default 1;
    no_since exception (-20114, 'give the first day to load, or set initial_since in syspro_sync_control');
begin
    {{resolve_table}}
    select max(to_varchar(control.initial_since, 'YYYY-MM-DD'))
        into :first_day
        from {{database}}.{{schema}}.syspro_sync_control as control
        where
            control.company_id = :company_id
            and control.table_name = :known_name;
    first_day := coalesce(since, first_day);
    if (first_day is null) then
        raise no_since;
    end if;
    range_months := coalesce(months_per_range, 1);
    {{dispatch_backfill}}
    {{run_summary}}
    return summary;
end;
$$;
