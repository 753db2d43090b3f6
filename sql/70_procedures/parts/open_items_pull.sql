-- Step (b) of a sync, for tables with an open-items filter: every row SYSPRO
-- may still change without moving its date (an invoice with a balance, a
-- purchase order not complete), read whole with syspro_pull_open and merged.
-- The watermark is not touched. Leaves poll_id at the open-items poll, which
-- collect_refresh_keys compares the target's open rows with.
{{page_loop_pull_open_page}}
{{stmt_merge_poll}};
select max($1), max($2)
    into :merged_inserted, :merged_updated
    from table(result_scan(last_query_id()));
rows_inserted := rows_inserted + merged_inserted;
rows_updated := rows_updated + merged_updated;
