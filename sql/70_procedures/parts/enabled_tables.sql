-- The tables a _group procedure works through: every enabled company x table
-- of the schedule group group_name ('all': every group), company by company
-- and each company's tables in name order (a child table after its parent),
-- as the cursor enabled_cursor: the name to call the entry procedure with
-- (qualified_name: 'UK1.ApInvoice', or 'ApInvoice' for the single company
-- ''), and each table's watermark column, which reconciliation needs to
-- choose its periods. Embedded, not an object on its own; the procedure
-- takes group_name as its argument.
let enabled_tables resultset := (
    select
        iff(control.company_id = '', control.table_name, control.company_id || '.' || control.table_name)
            as qualified_name,
        control.watermark_column
    from {{database}}.{{schema}}.syspro_sync_control as control
    where
        control.is_enabled
        and (:group_name = 'all' or control.schedule_group = :group_name)
    order by control.company_id, control.table_name
);
let enabled_cursor cursor for enabled_tables;
