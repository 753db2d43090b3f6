-- After a round is audited and landed: each open range takes its page's
-- next cursor, and is done when there is none.
update {{database}}.{{schema}}.work_syspro__backfill_ranges as ranges
set
    page_cursor = pages.next_cursor,
    is_done = pages.next_cursor is null
from {{database}}.{{schema}}.audit_syspro__pages as pages
where
    ranges.company_id = :company_id
    and ranges.run_id = :run_id
    and not ranges.is_done
    and pages.run_id = :run_id
    and pages.page_number = :page_number + ranges.range_number
