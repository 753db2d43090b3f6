-- Seeds the control table from the catalog ml-connector was rendered with:
-- one row per company x table ('' is the single company of a deployment
-- without [companies.*]). Re-running it adds new tables and companies and
-- refreshes keys/watermarks but keeps the user's scheduling choices (groups,
-- overlap, initial_since, is_enabled).
merge into {{database}}.{{schema}}.syspro_sync_control as control
using (
    select
        listed.company_id,
        listed.table_name,
        parse_json(listed.key_columns_json)::array as key_columns,
        listed.watermark_column,
        listed.description,
        listed.target_table,
        listed.typed_view,
        listed.schedule_group,
        listed.verify_group
    from (
{{control_rows}}
    ) as listed
) as seed
on
    control.company_id = seed.company_id
    and control.table_name = seed.table_name
when matched then update set
    key_columns = seed.key_columns,
    watermark_column = seed.watermark_column,
    description = seed.description,
    target_table = seed.target_table,
    typed_view = seed.typed_view,
    -- set once (also on tables seeded before verify existed), then the user's
    verify_group = coalesce(control.verify_group, seed.verify_group),
    updated_at = sysdate()
when not matched then insert (
    company_id,
    table_name,
    key_columns,
    watermark_column,
    description,
    target_table,
    typed_view,
    schedule_group,
    verify_group,
    overlap_days,
    initial_since,
    is_enabled,
    updated_at
) values (
    seed.company_id,
    seed.table_name,
    seed.key_columns,
    seed.watermark_column,
    seed.description,
    seed.target_table,
    seed.typed_view,
    seed.schedule_group,
    seed.verify_group,
    {{overlap_days}},
    null,
    true,
    sysdate()
);

-- A company the service no longer reads (say the single company '' of an
-- account that moved to [companies.*]) keeps its rows and data but stops
-- syncing: its calls would be refused. Listing it again re-enables nothing
-- by itself; set is_enabled back where you want it.
update {{database}}.{{schema}}.syspro_sync_control as control
set
    is_enabled = false,
    updated_at = sysdate()
where
    control.is_enabled
    and control.company_id not in ({{company_list}});
