-- The variables and exceptions of a procedure that pulls pages: what the
-- page loop (page_loop.sql), the buffer_* statements and read_page_or_raise
-- bind and raise. max_pages bounds a loop that never ends (a service that
-- keeps answering a next cursor); a sync lowers it to pages_per_run.
poll_id varchar;
page_number integer default 0;
page_cursor varchar;
page_rows integer;
max_pages integer default 100000;
batch_number integer default 0;
service_error exception (-20102, 'the service answered with an error; see audit_syspro__pages');
too_many_pages exception (-20103, 'a pull did not finish within max_pages pages (a backfill: max_rounds rounds)');
