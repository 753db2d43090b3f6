-- The page loop of the procedures that pull a table page by page (re-pull,
-- verify, the sync's open items and pulls by key): buffer the next answer,
-- audit it, fail on an error answer, land it, and go on until an answer has
-- no next cursor. Embedded, not an object on its own: sqlgen renders it
-- once for each buffer_* statement that pages (procedures.rs PAGE_LOOPS),
-- with the statements that land its pages. The procedure declares
-- page_declarations.sql.
loop
    page_number := page_number + 1;
    if (page_number > max_pages) then
        error_kind := 'too_many_pages';
        raise too_many_pages;
    end if;
    {{stmt_buffer_next_page}};
    {{stmt_audit_page}};
    {{read_page_or_raise}}
    {{stmt_land_next_page}};
    {{stmt_clear_page_buffer}};
    if (page_cursor is null) then
        break;
    end if;
end loop;
