-- The page loop of the procedures that pull a table page by page (sync,
-- delete detection, re-pull): pull the next page into the page buffer, audit
-- it, fail on an error answer, land it, and go on until an answer has no next
-- cursor. Embedded, not an object on its own: sqlgen renders it once for each
-- pull statement, stmt_pull_next_page being pull_page, pull_keys_page or
-- pull_range_page and stmt_land_next_page land_page or land_keys. The
-- procedure declares page_number, max_pages, the too_many_pages exception and
-- what read_page_or_raise needs.
loop
    page_number := page_number + 1;
    if (page_number > max_pages) then
        error_kind := 'too_many_pages';
        raise too_many_pages;
    end if;
    {{stmt_pull_next_page}};
    {{stmt_audit_page}};
    {{read_page_or_raise}}
    {{stmt_land_next_page}};
    {{stmt_clear_page_buffer}};
    if (page_cursor is null) then
        break;
    end if;
end loop;
