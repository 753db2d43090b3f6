-- Syncs every enabled table of a schedule group ('all' for every group), of
-- every company, one after the other. Each company x table is its own run,
-- audited as such: a failing one (a table, or every table of a company whose
-- SYSPRO is down) does not stop the others; the group raises at the end if
-- any failed, so the Task shows the failure and
-- SUSPEND_TASK_AFTER_NUM_FAILURES can act. The tasks call this.
create or replace procedure {{database}}.{{schema}}.sync_syspro_group(group_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: sync every enabled table of a schedule group (or all)'
    execute as owner
as
$$
declare
    current_table varchar;
    tables_synced integer default 0;
    tables_failed integer default 0;
    group_failed exception (-20105, 'one or more tables failed to sync; see audit_syspro__runs');
begin
    {{enabled_tables}}
    for entry in enabled_cursor do
        current_table := entry.qualified_name;
        begin
            call {{database}}.{{schema}}.sync_syspro_table(:current_table);
            tables_synced := tables_synced + 1;
        exception
            -- already audited by the table's procedure; carry on
            when other then
                tables_failed := tables_failed + 1;
        end;
    end for;
    if (tables_failed > 0) then
        raise group_failed;
    end if;
    return object_construct('group_name', group_name, 'tables_synced', tables_synced);
end;
$$;
