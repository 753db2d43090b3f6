-- What the procedure needs from the answer to go on: the cursor of the next
-- page (null: the pull is complete) and whether the answer was an error.
select
    pages.poll_id,
    pages.next_cursor,
    pages.error_kind,
    pages.error_message
from {{database}}.{{schema}}.audit_syspro__pages as pages
where
    pages.run_id = :run_id
    and pages.page_number = :page_number
