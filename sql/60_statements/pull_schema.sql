-- Same as pull_page, for syspro_schema(:table_name): the table's columns.
insert into {{database}}.{{schema}}.raw_syspro__page_buffer (
    run_id,
    table_name,
    page_number,
    requested_since,
    requested_cursor,
    page,
    received_at
)
select
    :run_id,
    :table_name,
    :page_number,
    null,
    null,
    {{schema_source}},
    sysdate()
