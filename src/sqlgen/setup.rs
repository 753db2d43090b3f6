//! The whole setup, top to bottom: the order of `sql/`'s folders, the roles that run each part,
//! and the control table's seed.

use super::procedures::push_procedures;
use super::settings::{SqlSettings, SqlTable};
use super::tasks::push_tasks;
use super::text::{escape_literal, fill, push_file};
use super::vars::{global_vars, table_vars};
use super::views::push_views;

/// The whole setup, top to bottom, pasteable into a worksheet: roles, warehouse, database and
/// grants (as ACCOUNTADMIN), the API integration for the configured provider, then, as the owner
/// role, the external functions, tables, procedures, views and tasks.
pub fn render_setup(settings: &SqlSettings, tables: &[SqlTable]) -> String {
    let globals = global_vars(settings);
    let mut out = String::new();
    out.push_str(&format!(
        "-- ml-connector: Snowflake setup for {} SYSPRO table(s), gateway {} ({}).\n\
         -- Rendered by `ml-connector sql` from the templates in sql/; see sql/README.md.\n\
         -- Run top to bottom. The first part needs ACCOUNTADMIN; the rest runs as {}.\n\n",
        tables.len(),
        settings.gateway_url.trim_end_matches('/'),
        settings.provider,
        settings.owner_role,
    ));
    out.push_str("use role accountadmin;\n\n");
    for path in [
        "00_setup/role__owner.sql",
        "00_setup/role__reader.sql",
        "00_setup/warehouse.sql",
        "00_setup/database.sql",
        "00_setup/schema.sql",
        "00_setup/grants.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    push_file(
        &mut out,
        settings.provider.integration_template(),
        None,
        &globals,
    );

    out.push_str(&fill(
        "use role {{owner_role}};\nuse warehouse {{warehouse}};\nuse schema {{database}}.{{schema}};\n\n",
        &globals,
    ));
    for path in [
        "10_integration/syspro_pull.sql",
        "10_integration/syspro_keys.sql",
        "10_integration/syspro_schema.sql",
        "10_integration/syspro_tables.sql",
        "10_integration/syspro_reconcile.sql",
        "10_integration/syspro_pull_range.sql",
        "10_integration/syspro_pull_open.sql",
        "10_integration/syspro_digests.sql",
        "10_integration/syspro_pull_keys.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }

    let mut control = globals.clone();
    control.insert("control_rows", control_rows(settings, tables));
    control.insert(
        "company_list",
        settings
            .companies
            .iter()
            .map(|company| format!("'{}'", escape_literal(company)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for path in [
        "20_control/syspro_sync_control.sql",
        "20_control/syspro_sync_state.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    push_file(
        &mut out,
        "20_control/syspro_sync_control__seed.sql",
        None,
        &control,
    );
    for path in [
        "30_raw/raw_syspro__records.sql",
        "35_work/work_syspro__pages.sql",
        "35_work/work_syspro__backfill_ranges.sql",
        "35_work/work_syspro__refresh_keys.sql",
        "35_work/work_syspro__verify_digests.sql",
        "35_work/retired_work_tables.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    for table in tables {
        push_file(
            &mut out,
            "40_targets/syspro__table.sql",
            Some(&table.name),
            &table_vars(&globals, table),
        );
    }
    for path in [
        "50_audit/audit_syspro__runs.sql",
        "50_audit/audit_syspro__pages.sql",
        "50_audit/audit_syspro__reconciliation.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }

    push_procedures(&mut out, settings, tables);

    push_views(&mut out, settings, tables);
    push_tasks(&mut out, settings, tables);
    push_file(
        &mut out,
        "95_dashboard/streamlit_syspro_dashboard.sql",
        None,
        &globals,
    );
    out.push_str(&fill(
        "-- Done. Every task is SUSPENDED until you start the schedule:\n\
         --   1. describe integration {{integration}};  -- then finish the gateway's trust (deploy/)\n\
         --   2. call {{database}}.{{schema}}.syspro_start();  -- checks syspro_tables() answers, then resumes the tasks\n\
         --      {\"ok\": false, ...} says what is wrong; fix it and call it again. Re-running this\n\
         --      setup leaves the tasks suspended: call syspro_start() again afterwards.\n\
         --   3. call {{database}}.{{schema}}.refresh_syspro_typed_views();\n",
        &globals,
    ));
    out
}

/// One seed row per company × table: a company's tables are the catalog's, and land in the
/// table's one target (`company_id` tells the companies apart).
fn control_rows(settings: &SqlSettings, tables: &[SqlTable]) -> String {
    let qualified = |name: String| format!("{}.{}.{name}", settings.database, settings.schema);
    settings
        .companies
        .iter()
        .flat_map(|company| tables.iter().map(move |table| (company, table)))
        .map(|(company, table)| {
            let keys = format!("[{}]", table.key_columns.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(","));
            let watermark = match &table.watermark_column {
                Some(column) => format!("'{}'", escape_literal(column)),
                None => "cast(null as varchar)".into(),
            };
            format!(
                "        select\n            '{}' as company_id,\n            '{}' as table_name,\n            '{}' as key_columns_json,\n            {} as watermark_column,\n            '{}' as description,\n            '{}' as target_table,\n            '{}' as typed_view,\n            '{}' as schedule_group,\n            '{}' as verify_group",
                escape_literal(company),
                escape_literal(&table.name),
                escape_literal(&keys),
                watermark,
                escape_literal(&table.description),
                qualified(format!("syspro__{}", table.slug())),
                qualified(format!("stg_syspro__{}", table.slug())),
                table.schedule_group(),
                table.verify_group(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n        union all\n")
}

// ---------------------------------------------------------------------------------------------
