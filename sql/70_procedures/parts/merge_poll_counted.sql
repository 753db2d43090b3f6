-- MERGEs the poll poll_id into the target and adds what it inserted and
-- updated to the run's totals, read from the MERGE's own result (one row,
-- so the aggregates change nothing but guarantee SELECT … INTO one row).
{{stmt_merge_poll}};
select max($1), max($2)
    into :merged_inserted, :merged_updated
    from table(result_scan(last_query_id()));
rows_inserted := coalesce(rows_inserted, 0) + merged_inserted;
rows_updated := coalesce(rows_updated, 0) + merged_updated;
