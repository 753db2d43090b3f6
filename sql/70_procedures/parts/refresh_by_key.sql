-- Pulls the run's refresh keys (work_syspro__refresh_keys) with
-- syspro_pull_keys, one poll per batch of at most 1000 keys: each page is
-- audited, landed with its `missing` keys noted, then the poll is merged and
-- the keys SYSPRO does not have are flagged deleted. Embedded by the sync's
-- key refresh and by verify; the procedure declares batch_number and the
-- page loop's variables.
let refresh_batches resultset := (
    {{stmt_read_refresh_batches}}
);
let refresh_cursor cursor for refresh_batches;
for batch in refresh_cursor do
    batch_number := batch.batch_number;
    {{page_loop_buffer_keys_batch_page}}
    {{merge_poll_counted}}
    {{stmt_mark_missing_deleted}};
    rows_deleted := rows_deleted + sqlrowcount;
end for;
