//! The templates under `sql/`, compiled in, and how they are filled: `{{name}}` placeholders,
//! embedded statements and parts, and the literal/identifier helpers every renderer uses.

use std::collections::BTreeMap;

/// `(path under sql/, text)` for every listed file, compiled in so the binary can print the setup
/// anywhere.
macro_rules! templates {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../sql/", $path)))),*]
    };
}

/// Every file under `sql/` (a unit test checks none is missing).
pub(super) const TEMPLATES: &[(&str, &str)] = templates![
    "00_setup/database.sql",
    "00_setup/grants.sql",
    "00_setup/role__owner.sql",
    "00_setup/role__reader.sql",
    "00_setup/schema.sql",
    "00_setup/warehouse.sql",
    "10_integration/api_integration__aws.sql",
    "10_integration/api_integration__azure.sql",
    "10_integration/api_integration__gcp.sql",
    "10_integration/syspro_digests.sql",
    "10_integration/syspro_keys.sql",
    "10_integration/syspro_pull.sql",
    "10_integration/syspro_pull_keys.sql",
    "10_integration/syspro_pull_open.sql",
    "10_integration/syspro_pull_range.sql",
    "10_integration/syspro_reconcile.sql",
    "10_integration/syspro_schema.sql",
    "10_integration/syspro_tables.sql",
    "20_control/syspro_sync_control.sql",
    "20_control/syspro_sync_control__seed.sql",
    "20_control/syspro_sync_state.sql",
    "30_raw/raw_syspro__records.sql",
    "35_work/retired_work_tables.sql",
    "35_work/work_syspro__backfill_ranges.sql",
    "35_work/work_syspro__pages.sql",
    "35_work/work_syspro__refresh_keys.sql",
    "35_work/work_syspro__verify_digests.sql",
    "40_targets/syspro__table.sql",
    "50_audit/audit_syspro__pages.sql",
    "50_audit/audit_syspro__reconciliation.sql",
    "50_audit/audit_syspro__runs.sql",
    "60_statements/advance_backfill_ranges.sql",
    "60_statements/advance_dependents_checked.sql",
    "60_statements/advance_watermark.sql",
    "60_statements/audit_page.sql",
    "60_statements/buffer_answer.sql",
    "60_statements/clear_abandoned_runs.sql",
    "60_statements/clear_backfill_ranges.sql",
    "60_statements/clear_page_buffer.sql",
    "60_statements/clear_refresh_keys.sql",
    "60_statements/clear_verify_digests.sql",
    "60_statements/close_abandoned_runs.sql",
    "60_statements/collect_refresh_keys.sql",
    "60_statements/collect_verify_keys.sql",
    "60_statements/count_merge.sql",
    "60_statements/finish_key_refresh.sql",
    "60_statements/finish_run.sql",
    "60_statements/land_digests.sql",
    "60_statements/land_missing.sql",
    "60_statements/land_page.sql",
    "60_statements/mark_deleted_range.sql",
    "60_statements/mark_missing_deleted.sql",
    "60_statements/merge_poll.sql",
    "60_statements/plan_backfill_ranges.sql",
    "60_statements/read_drift.sql",
    "60_statements/read_page.sql",
    "60_statements/read_refresh_batches.sql",
    "60_statements/read_run.sql",
    "60_statements/read_run_polls.sql",
    "60_statements/reconcile_compare.sql",
    "60_statements/record_repull.sql",
    "60_statements/start_run.sql",
    "60_statements/typed_view_ddl.sql",
    "60_statements/verify_mark_deleted.sql",
    "70_procedures/backfill_syspro__table.sql",
    "70_procedures/backfill_syspro_table.sql",
    "70_procedures/parts/enabled_tables.sql",
    "70_procedures/parts/entry_declarations.sql",
    "70_procedures/parts/fail_run.sql",
    "70_procedures/parts/key_refresh.sql",
    "70_procedures/parts/merge_poll_counted.sql",
    "70_procedures/parts/open_items_pull.sql",
    "70_procedures/parts/page_declarations.sql",
    "70_procedures/parts/page_loop.sql",
    "70_procedures/parts/read_page_or_raise.sql",
    "70_procedures/parts/refresh_by_key.sql",
    "70_procedures/parts/resolve_table.sql",
    "70_procedures/parts/run_declarations.sql",
    "70_procedures/parts/run_summary.sql",
    "70_procedures/parts/start_run_or_raise.sql",
    "70_procedures/reconcile_syspro__table.sql",
    "70_procedures/reconcile_syspro_group.sql",
    "70_procedures/reconcile_syspro_table.sql",
    "70_procedures/refresh_syspro_typed_views.sql",
    "70_procedures/replay_syspro_poll.sql",
    "70_procedures/replay_syspro_poll__table.sql",
    "70_procedures/repull_syspro_range__table.sql",
    "70_procedures/retired_procedures.sql",
    "70_procedures/sync_syspro__table.sql",
    "70_procedures/sync_syspro_group.sql",
    "70_procedures/sync_syspro_table.sql",
    "70_procedures/syspro_read.sql",
    "70_procedures/verify_syspro__table.sql",
    "70_procedures/verify_syspro_group.sql",
    "70_procedures/verify_syspro_table.sql",
    "80_views/hist_syspro__table.sql",
    "80_views/report_syspro__ap_aging.sql",
    "80_views/report_syspro__reconciliation_drift.sql",
    "80_views/report_syspro__spend_by_supplier.sql",
    "80_views/report_syspro__stock_by_warehouse.sql",
    "90_tasks/retired_tasks.sql",
    "90_tasks/syspro_start.sql",
    "90_tasks/task_syspro_reconcile.sql",
    "90_tasks/task_syspro_sync__group.sql",
    "90_tasks/task_syspro_verify__group.sql",
    "95_dashboard/streamlit_syspro_dashboard.sql",
];

pub(super) fn template(path: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("sqlgen: no template {path}"))
}

pub(super) type Vars = BTreeMap<&'static str, String>;

pub(super) fn push_file(out: &mut String, path: &str, instance: Option<&str>, vars: &Vars) {
    match instance {
        Some(which) => out.push_str(&format!("-- ---- sql/{path} ({which}) ----\n")),
        None => out.push_str(&format!("-- ---- sql/{path} ----\n")),
    }
    out.push_str(fill(template(path), vars).trim_end());
    out.push_str("\n\n");
}

/// A part of `70_procedures/parts/` as a procedure embeds it. Its leading comment is for readers
/// of the template and is dropped, so the rendered procedure reads as if written out in place.
pub(super) fn embedded_part(name: &str, vars: &Vars) -> String {
    let text = strip_leading_comments(template(&format!("70_procedures/parts/{name}.sql")));
    fill(text, vars).trim_end().to_string()
}

pub(super) fn strip_leading_comments(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with("--") {
        rest = rest.split_once('\n').map_or("", |(_, tail)| tail);
    }
    rest
}

/// Substitutes `{{name}}` placeholders. A multi-line value continues at the indentation of the
/// line its placeholder is on, so embedded statements stay readable. Unknown names are a bug in
/// the templates and panic (the unit tests render every template).
pub(super) fn fill(text: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .map(|e| start + e)
                .unwrap_or_else(|| panic!("sqlgen: unclosed placeholder in {line:?}"));
            let name = &rest[start + 2..end];
            let value = vars
                .get(name)
                .unwrap_or_else(|| panic!("sqlgen: no value for placeholder {{{{{name}}}}}"));
            out.push_str(&rest[..start]);
            out.push_str(&value.replace('\n', &format!("\n{indent}")));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
    }
    // blank lines inside embedded statements must not carry the indentation
    out.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn escape_literal(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

/// A `HEADERS` value. CREATE EXTERNAL FUNCTION documents backslash escapes for quotes in header
/// values (https://docs.snowflake.com/en/sql-reference/sql/create-external-function); `\'` is
/// also a valid escape in any Snowflake string literal, so it reads the same either way.
pub(super) fn escape_header_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `"Name"`: a JSON path key, quoted so Snowflake keeps SYSPRO's mixed case.
pub(super) fn json_path_key(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

pub(super) fn is_identifier(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `ApInvoice` -> `ap_invoice`, `PorMasterHdr` -> `por_master_hdr`, `MStockCode` -> `m_stock_code`.
pub(super) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A `varchar` holding an ISO date or timestamp as the service writes them (`2026-11-03`,
/// `2026-11-03T10:00:00`, `2026-11-03T10:00:00.123`) as `timestamp_ntz`, with every format named
/// (AUTO detection follows the session's `TIMESTAMP_INPUT_FORMAT`); null when none fits.
pub(super) fn iso_timestamp(text: &str) -> String {
    format!(
        "coalesce(try_to_timestamp_ntz({text}, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF'), \
         try_to_timestamp_ntz({text}, 'YYYY-MM-DD\"T\"HH24:MI:SS'), \
         try_to_timestamp_ntz({text}, 'YYYY-MM-DD'))"
    )
}
