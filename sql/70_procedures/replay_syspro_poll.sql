-- Re-merges a landed poll: `call replay_syspro_poll('<poll_id>');` finds the
-- poll's company and table in the landing log, merges it again and returns the replay's
-- audit row. Merging is idempotent: replaying a poll that was merged
-- already changes nothing.
create or replace procedure {{database}}.{{schema}}.replay_syspro_poll(poll_id varchar)
    returns variant
    language sql
    comment = 'ml-connector: re-merge a landed poll from raw_syspro__records; returns its audit row'
    execute as owner
as
$$
declare
    run_id varchar default uuid_string();
    known_name varchar;
    company_id varchar;
    summary variant;
    unknown_table exception (-20106, 'unknown poll: nothing landed with this poll_id');
begin
    select max(records.table_name), max(records.company_id)
        into :known_name, :company_id
        from {{database}}.{{schema}}.raw_syspro__records as records
        where records.poll_id = :poll_id;
    {{dispatch_replay}}
    {{run_summary}}
    return summary;
end;
$$;
