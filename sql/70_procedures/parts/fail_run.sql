-- The start of every per-table procedure's exception handler: undo a
-- half-done MERGE/watermark/audit transaction, then name why the run failed
-- (the service's error from read_page_or_raise, else Snowflake's). Only the
-- transaction this procedure opened is rolled back: Snowflake scopes a
-- procedure's transaction to the procedure, and a ROLLBACK here of one a
-- caller began fails and would leave the run row `running`
-- (https://docs.snowflake.com/en/sql-reference/transactions, scoped
-- transactions). The procedure then clears its work rows, records the run
-- with finish_run and re-raises.
if (in_transaction) then
    rollback;
end if;
run_status := 'failed';
error_kind := coalesce(error_kind, 'snowflake_error');
error_message := coalesce(error_message, sqlerrm);
