-- Step (b) of a sync, for tables with an open-items filter: every row SYSPRO
-- may still change without moving its date (an invoice with a balance, a
-- purchase order not complete), read whole with syspro_pull_open and merged.
-- The watermark is not touched. Leaves poll_id at the open-items poll, which
-- collect_refresh_keys compares the target's open rows with.
{{page_loop_buffer_open_page}}
{{merge_poll_counted}}
