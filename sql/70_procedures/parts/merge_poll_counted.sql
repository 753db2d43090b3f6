-- MERGEs the poll poll_id into the target and adds what it inserted and
-- updated to the run's audit row (count_merge, from the MERGE's own result:
-- the step push mode runs too); the procedure's counts follow the row.
{{stmt_merge_poll}};
{{stmt_count_merge}};
select max(run.rows_inserted), max(run.rows_updated)
    into :rows_inserted, :rows_updated
    from (
        {{stmt_read_run}}
    ) as run;
