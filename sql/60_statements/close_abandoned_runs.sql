-- Closes the audit rows of this company x table's runs that were cut off (task
-- timeout, cancelled query, lost session): still `running` after longer than
-- any task may run (USER_TASK_TIMEOUT_MS), they are marked `abandoned` so the
-- trail says what happened; their work-table rows go with clear_abandoned_runs.
-- Pages they landed stay in the landing log and, with per-page commits, what
-- they merged and the watermark they reached are kept; the new run continues
-- from that watermark.
update {{database}}.{{schema}}.audit_syspro__runs as runs
set
    status = 'abandoned',
    error_kind = 'abandoned',
    error_message = 'the run stopped without finishing (timeout or cancel); closed by run ' || :run_id,
    finished_at = sysdate()
where
    runs.company_id = :company_id
    and runs.table_name = :table_name
    and runs.status = 'running'
    and runs.run_id <> :run_id
    and runs.started_at < dateadd(millisecond, -{{task_timeout_ms}}, sysdate())
