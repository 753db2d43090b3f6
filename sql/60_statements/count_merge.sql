-- Adds what the MERGE just before it inserted and updated to the run's
-- totals, read from that MERGE's own result (one row: its "number of rows
-- inserted" and "number of rows updated" columns), in the same request and
-- transaction, so push mode learns a page's counts without another request.
-- LAST_QUERY_ID() is the previous statement of the session; push mode runs
-- this straight after merge_poll in one multi-statement request.
update {{database}}.{{schema}}.audit_syspro__runs as runs
set
    rows_inserted = coalesce(runs.rows_inserted, 0) + coalesce(merged.inserted, 0),
    rows_updated = coalesce(runs.rows_updated, 0) + coalesce(merged.updated, 0)
from (
    select
        max(last_merge."number of rows inserted") as inserted,
        max(last_merge."number of rows updated") as updated
    from table(result_scan(last_query_id())) as last_merge
) as merged
where
    runs.company_id = :company_id
    and runs.run_id = :run_id
