-- (Re)creates stg_syspro__<table> for every enabled table from what
-- syspro_schema says about its columns. A view covers every company's rows
-- (company_id first); the columns are asked of one company that syncs the
-- table (the first by id): the companies of one SYSPRO share its tables. Run after setup and whenever SYSPRO
-- gains columns: `call refresh_syspro_typed_views();`
create or replace procedure {{database}}.{{schema}}.refresh_syspro_typed_views()
    returns variant
    language sql
    comment = 'ml-connector: create one typed view per table from SYSPRO''s column types'
    execute as owner
as
$$
declare
    run_id varchar default uuid_string();
    table_name varchar;
    company_id varchar;
    page_number integer default 0;
    view_ddl varchar;
    unsafe_columns integer;
    views_created array default array_construct();
    views_failed array default array_construct();
    unsafe_schema exception (-20108, 'syspro_schema returned a column name or type that is not safe in DDL');
    no_schema exception (-20109, 'syspro_schema returned no columns (or an error) for a table');
begin
    let enabled_tables resultset := (
        select control.table_name, min(control.company_id) as company_id
        from {{database}}.{{schema}}.syspro_sync_control as control
        where control.is_enabled
        group by control.table_name
        order by control.table_name
    );
    let enabled_cursor cursor for enabled_tables;
    for entry in enabled_cursor do
        table_name := entry.table_name;
        company_id := entry.company_id;
        page_number := page_number + 1;
        -- one table's bad schema must not stop the views of the tables after it
        begin
            {{stmt_buffer_schema}};
            -- aggregates: exactly one row even when the answer was an error and
            -- the grouped statement finds nothing (INTO documents only one row:
            -- https://docs.snowflake.com/en/sql-reference/constructs/into)
            select max(ddl.view_ddl), max(ddl.unsafe_columns)
                into :view_ddl, :unsafe_columns
                from (
                    {{stmt_typed_view_ddl}}
                ) as ddl;
            -- cleared per table: the buffer's rows are each company's own
            {{stmt_clear_page_buffer}};
            if (view_ddl is null) then
                raise no_schema;
            end if;
            if (unsafe_columns > 0) then
                raise unsafe_schema;
            end if;
            execute immediate :view_ddl;
            views_created := array_append(views_created, table_name);
        exception
            when other then
                views_failed := array_append(
                    views_failed, object_construct('table_name', table_name, 'error', sqlerrm)
                );
                {{stmt_clear_page_buffer}};
        end;
    end for;
    return object_construct('views_created', views_created, 'views_failed', views_failed);
exception
    when other then
        {{stmt_clear_page_buffer}};
        raise;
end;
$$;
