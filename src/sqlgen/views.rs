//! The history and report views (`sql/80_views/`).

use super::settings::{SqlSettings, SqlTable};
use super::text::push_file;
use super::vars::{global_vars, table_vars};

/// One history view per table; the reports whose tables the catalog has; the drift report.
pub(super) fn push_views(out: &mut String, settings: &SqlSettings, tables: &[SqlTable]) {
    let globals = global_vars(settings);
    for table in tables {
        push_file(
            out,
            "80_views/hist_syspro__table.sql",
            Some(&table.name),
            &table_vars(&globals, table),
        );
    }
    let has = |name: &str| tables.iter().any(|t| t.name == name);
    if has("ApInvoice") && has("ApSupplier") {
        push_file(out, "80_views/report_syspro__ap_aging.sql", None, &globals);
        push_file(
            out,
            "80_views/report_syspro__spend_by_supplier.sql",
            None,
            &globals,
        );
    }
    push_file(
        out,
        "80_views/report_syspro__reconciliation_drift.sql",
        None,
        &globals,
    );
    if has("InvWarehouse") {
        push_file(
            out,
            "80_views/report_syspro__stock_by_warehouse.sql",
            None,
            &globals,
        );
    }
}
