-- Worksheet access, every page: SYSPRO rows since a date as a table,
--     select r.record:"Invoice"::varchar as invoice, r.record
--     from table(syspro_read('ApInvoice', '2026-11-01')) as r;
-- An external function is scalar and returns one page, so this procedure
-- loops syspro_pull until next_cursor is null and returns the rows. It runs
-- SELECTs only (no DML), which is what lets it be called from a FROM
-- clause; the pages are collected as JSON text (bounded by VARCHAR's size),
-- so it is for ad hoc reads, not bulk loads. Nothing is landed or audited.
create or replace procedure {{database}}.{{schema}}.syspro_read(table_name varchar, since varchar)
    returns table (
        table_name varchar,
        poll_id varchar,
        page_number number,
        fetched_at timestamp_ntz,
        record variant
    )
    language sql
    comment = 'ml-connector: every SYSPRO row with watermark >= since (null: all), as a table'
    execute as owner
as
$$
declare
    page variant;
    page_cursor varchar;
    page_number integer default 0;
    max_pages integer default 10000;
    pages_json varchar default '[]';
    page_rows resultset;
    service_error exception (-20110, 'syspro_pull answered with an error; run select syspro_pull(...) to see it');
    too_many_pages exception (-20103, 'the pull did not finish within max_pages pages');
begin
    loop
        page_number := page_number + 1;
        if (page_number > max_pages) then
            raise too_many_pages;
        end if;
        select {{database}}.{{schema}}.syspro_pull(:table_name, :since, :page_cursor)
            into :page;
        if (page is null or get(page, 'error') is not null) then
            raise service_error;
        end if;
        pages_json := to_json(array_append(parse_json(pages_json), page));
        page_cursor := get(page, 'next_cursor')::varchar;
        if (page_cursor is null) then
            break;
        end if;
    end loop;
    page_rows := (
        select
            pages.value:"table"::varchar as table_name,
            pages.value:poll_id::varchar as poll_id,
            pages.index + 1 as page_number,
            coalesce(
                    try_to_timestamp_ntz(pages.value:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS.FF'),
                    try_to_timestamp_ntz(pages.value:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS'),
                    try_to_timestamp_ntz(pages.value:fetched_at::varchar, 'YYYY-MM-DD')
                ) as fetched_at,
            item.value as record
        from table(flatten(input => parse_json(:pages_json))) as pages,
            lateral flatten(input => pages.value:rows) as item
    );
    return table(page_rows);
end;
$$;
