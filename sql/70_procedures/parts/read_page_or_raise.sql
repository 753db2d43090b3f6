-- Reads back the page just audited: its poll id, its next cursor and the
-- error the service answered with, if any (after the service's own retries).
-- An error answer fails the run, so nothing after it is landed or merged.
-- Embedded by every procedure that pulls pages (not an object on its own);
-- the procedure declares poll_id, page_cursor, error_kind, error_message and
-- the service_error exception.
select page.poll_id, page.next_cursor, page.error_kind, page.error_message
    into :poll_id, :page_cursor, :error_kind, :error_message
    from (
        {{stmt_read_page}}
    ) as page;
if (error_kind is not null) then
    raise service_error;
end if;
