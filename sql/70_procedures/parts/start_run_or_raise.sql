-- Writes the run's audit row as `running`; start_run inserts nothing for a
-- table missing from the control table, and the run goes no further.
{{stmt_start_run}};
if (sqlrowcount = 0) then
    raise not_in_control;
end if;
