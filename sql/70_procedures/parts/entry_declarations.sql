-- The variables and exception of every entry procedure (sync_, verify_,
-- reconcile_ and backfill_syspro_table): the fresh run id the table's own
-- procedure runs under, what resolve_table.sql sets (known_name, company_id;
-- qualified_names and ambiguous_block for its error naming the companies),
-- the summary the procedure returns, and the exception the dispatch raises
-- for a name that matches no table. Embedded before the procedure's own.
run_id varchar default uuid_string();
known_name varchar;
company_id varchar;
qualified_names varchar;
ambiguous_block varchar;
summary variant;
unknown_table exception (-20104, 'unknown table: not in syspro_sync_control');
