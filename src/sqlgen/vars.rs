//! What the placeholders of `sql/` are filled with: the settings everywhere, and per table its
//! names, key expression and watermark expression.

use super::settings::{SqlSettings, SqlTable};
use super::text::{Vars, escape_header_value, escape_literal, iso_timestamp, json_path_key};

pub(super) fn global_vars(settings: &SqlSettings) -> Vars {
    let mut vars = Vars::new();
    vars.insert("database", settings.database.clone());
    vars.insert("schema", settings.schema.clone());
    vars.insert("integration", settings.integration.clone());
    vars.insert("warehouse", settings.warehouse.clone());
    vars.insert("owner_role", settings.owner_role.clone());
    vars.insert("reader_role", settings.reader_role.clone());
    vars.insert(
        "gateway_url",
        escape_literal(settings.gateway_url.trim_end_matches('/')),
    );
    vars.insert("secret", escape_header_value(&settings.secret_placeholder));
    vars.insert("api_provider", settings.provider.snowflake_name().into());
    vars.insert("site_timezone", escape_literal(&settings.site_timezone));
    // "today" at the site, whatever the session's or the account's TIMEZONE: an owner's-rights
    // procedure runs with its caller's session, a task with the account default
    // (https://docs.snowflake.com/en/sql-reference/functions/convert_timezone)
    vars.insert(
        "site_today",
        format!(
            "to_date(convert_timezone('{}', current_timestamp()))",
            escape_literal(&settings.site_timezone)
        ),
    );
    vars.insert("pages_per_run", settings.pages_per_run.max(1).to_string());
    vars.insert("aws_role_arn", escape_literal(&settings.aws_role_arn));
    vars.insert("azure_tenant_id", escape_literal(&settings.azure_tenant_id));
    vars.insert("azure_app_id", escape_literal(&settings.azure_app_id));
    vars.insert("gcp_audience", escape_literal(&settings.gcp_audience));
    vars.insert("overlap_days", settings.overlap_days.to_string());
    vars.insert("task_timeout_ms", settings.task_timeout_ms.to_string());
    vars.insert(
        "suspend_after_failures",
        settings.suspend_task_after_failures.to_string(),
    );
    vars
}

pub(super) fn table_vars(globals: &Vars, table: &SqlTable) -> Vars {
    let mut vars = globals.clone();
    vars.insert("table_name", escape_literal(&table.name));
    vars.insert("table_slug", table.slug());
    vars.insert("key_columns_list", table.key_columns.join(", "));
    vars.insert(
        "watermark_column_or_none",
        match &table.watermark_column {
            Some(column) => format!("from {column}"),
            None => "none: snapshot table".into(),
        },
    );
    vars.insert("record_key_expression", record_key_expression(table));
    vars.insert(
        "watermark_expression",
        match &table.watermark_column {
            // try_: a malformed date must not fail the whole page's landing; the formats are
            // named so the session's TIMESTAMP_INPUT_FORMAT cannot change what is read
            Some(column) => {
                iso_timestamp(&format!("item.value:{}::varchar", json_path_key(column)))
            }
            None => "cast(null as timestamp_ntz)".into(),
        },
    );
    vars
}

/// The key columns' values joined with `|`, read from a flattened record or key object `item`.
pub(super) fn record_key_expression(table: &SqlTable) -> String {
    table
        .key_columns
        .iter()
        .map(|column| {
            format!(
                "coalesce(item.value:{}::varchar, '')",
                json_path_key(column)
            )
        })
        .collect::<Vec<_>>()
        .join("\n    || '|' || ")
}
