-- Steps (b) and (c) of a sync, after the watermark step committed, for a
-- table with open items or dependents: re-read the open items, then refresh
-- by key the rows that left the open set or whose child rows moved, flag
-- what SYSPRO no longer has, and close the run. Neither step moves the
-- watermark; a failure here fails the run (the handler records it) and the
-- next cycle repeats both.
rows_deleted := 0;
{{open_items_pull}}
{{stmt_collect_refresh_keys}};
{{refresh_by_key}}
{{stmt_advance_dependents_checked}};
run_status := 'succeeded';
{{stmt_finish_key_refresh}};
{{stmt_finish_run}};
{{stmt_clear_refresh_keys}};
