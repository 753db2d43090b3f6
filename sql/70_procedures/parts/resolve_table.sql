-- Resolves the table an entry procedure was called with against the control
-- table, case-insensitively: 'ApInvoice' is the single company's (company_id
-- ''), 'UK1.ApInvoice' company UK1's. In a deployment that syncs companies an
-- unqualified name names none of them; the error lists the qualified names.
-- A declared exception's message is a constant, so that error is raised by a
-- block EXECUTE IMMEDIATE runs, whose declaration carries the names
-- (https://docs.snowflake.com/en/sql-reference/sql/execute-immediate: the
-- string may hold a block). Embedded by the entry procedures (argument
-- table_name), which declare known_name, company_id, qualified_names and
-- ambiguous_block (entry_declarations.sql), then call the table's procedure with the company; a name
-- that matches nothing leaves known_name null (the dispatch raises
-- unknown_table).
select max(control.table_name), max(control.company_id)
    into :known_name, :company_id
    from {{database}}.{{schema}}.syspro_sync_control as control
    where
        lower(control.table_name) = lower(iff(contains(:table_name, '.'), split_part(:table_name, '.', 2), :table_name))
        and control.company_id = iff(contains(:table_name, '.'), upper(split_part(:table_name, '.', 1)), '');
if (known_name is null and not contains(table_name, '.')) then
    select coalesce(listagg(control.company_id || '.' || control.table_name, ', ') within group (order by control.company_id), '')
        into :qualified_names
        from {{database}}.{{schema}}.syspro_sync_control as control
        where lower(control.table_name) = lower(:table_name);
    if (qualified_names <> '') then
        ambiguous_block := 'declare ambiguous_table exception (-20115, ''table ' || replace(table_name, '''', '')
            || ' is ambiguous: this deployment syncs it for several companies; name one: '
            || replace(qualified_names, '''', '') || '''); begin raise ambiguous_table; end;';
        execute immediate :ambiguous_block;
    end if;
end if;
