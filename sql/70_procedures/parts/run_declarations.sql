-- The variables and exception every per-table procedure (…__table.sql)
-- declares for its audit row: what start_run, finish_run and merge_poll
-- bind (merge_poll_counted.sql reads the merge counts back into
-- rows_inserted/rows_updated) and the transaction flag the handler checks
-- (fail_run.sql). Embedded after the
-- procedure's own `run_kind` declaration.
table_name varchar default '{{table_name}}';
rows_inserted integer;
rows_updated integer;
rows_deleted integer;
in_transaction boolean default false;
run_status varchar default 'running';
error_kind varchar;
error_message varchar;
not_in_control exception (-20101, 'table is not in syspro_sync_control');
