-- The tables a _group procedure works through: every enabled table of the
-- schedule group group_name ('all': every group), in name order, as the
-- cursor enabled_cursor (with each table's watermark column, which
-- reconciliation needs to choose its periods). Embedded, not an object on
-- its own; the procedure takes group_name as its argument.
let enabled_tables resultset := (
    select control.table_name, control.watermark_column
    from {{database}}.{{schema}}.syspro_sync_control as control
    where
        control.is_enabled
        and (:group_name = 'all' or control.schedule_group = :group_name)
    order by control.table_name
);
let enabled_cursor cursor for enabled_tables;
