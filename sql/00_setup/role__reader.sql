-- Analysts read the synced tables, history and reports; they never write.
create role if not exists {{reader_role}}
    comment = 'ml-connector: reads the synced SYSPRO tables, audit trail and reports';
