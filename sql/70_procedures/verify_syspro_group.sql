-- Verifies every enabled table whose verify_group is group_name ('all': every
-- table with a verify group other than 'none'), of every company, one after
-- the other. Each company x table is its own run: a failing one does not
-- stop the others; the group raises at the end if any
-- failed, so the Task shows it. The verify tasks call this.
create or replace procedure {{database}}.{{schema}}.verify_syspro_group(group_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: verify every enabled table of a verify group (nightly, weekly or all)'
    execute as owner
as
$$
declare
    current_table varchar;
    tables_verified integer default 0;
    tables_failed integer default 0;
    group_failed exception (-20108, 'verify failed for one or more tables; see audit_syspro__runs');
begin
    let verify_tables resultset := (
        select
            iff(control.company_id = '', control.table_name, control.company_id || '.' || control.table_name)
                as qualified_name
        from {{database}}.{{schema}}.syspro_sync_control as control
        where
            control.is_enabled
            and coalesce(control.verify_group, 'none') <> 'none'
            and (:group_name = 'all' or control.verify_group = :group_name)
        order by control.company_id, control.table_name
    );
    let verify_cursor cursor for verify_tables;
    for entry in verify_cursor do
        current_table := entry.qualified_name;
        begin
            call {{database}}.{{schema}}.verify_syspro_table(:current_table);
            tables_verified := tables_verified + 1;
        exception
            -- already audited by the table's procedure; carry on
            when other then
                tables_failed := tables_failed + 1;
        end;
    end for;
    if (tables_failed > 0) then
        raise group_failed;
    end if;
    return object_construct('group_name', group_name, 'tables_verified', tables_verified);
end;
$$;
