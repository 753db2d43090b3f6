-- Same as pull_page, for one page of syspro_keys(:table_name, :page_cursor).
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
    :page_cursor,
    {{keys_source}},
    sysdate()
