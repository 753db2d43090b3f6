-- Small and quick to suspend: a sync is a few external-function calls and
-- one MERGE per table, and tasks wake it every few minutes.
create warehouse if not exists {{warehouse}}
    warehouse_size = xsmall
    auto_suspend = 60
    auto_resume = true
    initially_suspended = true
    comment = 'ml-connector: runs the SYSPRO sync tasks';
