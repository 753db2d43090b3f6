-- Delete detection for every enabled table of a group ('all' for every
-- group); same failure rules as sync_syspro_group. The daily task calls it.
create or replace procedure {{database}}.{{schema}}.detect_syspro_deletes_group(group_name varchar)
    returns variant
    language sql
    comment = 'ml-connector: flag rows deleted in SYSPRO for every enabled table of a group (or all)'
    execute as owner
as
$$
declare
    current_table varchar;
    tables_scanned integer default 0;
    tables_failed integer default 0;
    group_failed exception (-20107, 'delete detection failed for one or more tables; see audit_syspro__runs');
begin
    {{enabled_tables}}
    for entry in enabled_cursor do
        current_table := entry.table_name;
        begin
            call {{database}}.{{schema}}.detect_syspro_deletes(:current_table);
            tables_scanned := tables_scanned + 1;
        exception
            when other then
                tables_failed := tables_failed + 1;
        end;
    end for;
    if (tables_failed > 0) then
        raise group_failed;
    end if;
    return object_construct('group_name', group_name, 'tables_scanned', tables_scanned);
end;
$$;
