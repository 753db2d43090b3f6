-- Reads back the page just audited: its poll id, its next cursor and the
-- error the service answered with, if any (after the service's own retries).
-- An error answer fails the run, so nothing after it is landed or merged.
-- Embedded by every procedure that pulls pages (not an object on its own);
-- the procedure declares poll_id, page_cursor, page_rows, error_kind, error_message and
-- the service_error exception. Every SELECT ... INTO selects aggregates: one
-- row whatever the query finds, the only case INTO documents
-- (https://docs.snowflake.com/en/sql-reference/constructs/into); no row reads as a missing page.
select max(page.poll_id), max(page.next_cursor), max(page.error_kind), max(page.error_message), count(*)
    into :poll_id, :page_cursor, :error_kind, :error_message, :page_rows
    from (
        {{stmt_read_page}}
    ) as page;
if (page_rows <> 1) then
    error_kind := 'missing_page';
    error_message := 'the page just pulled has no audit row';
end if;
if (error_kind is not null) then
    raise service_error;
end if;
