//! The procedures (`sql/70_procedures/`): the statements and parts they embed, the page loops,
//! the dispatch chains over the catalog, and the procedures this version retires.

use super::settings::{SqlSettings, SqlTable};
use super::statements::{
    ANSWERS, GENERIC_STATEMENTS, REFRESH_STATEMENT, TABLE_STATEMENTS, embedded_answer,
    embedded_statement, refresh_candidates,
};
use super::text::{Vars, embedded_part, escape_literal, push_file};
use super::vars::{global_vars, table_vars};

/// Per-table procedures, in the order the setup creates them.
const TABLE_PROCEDURES: &[&str] = &[
    "70_procedures/sync_syspro__table.sql",
    "70_procedures/replay_syspro_poll__table.sql",
    "70_procedures/repull_syspro_range__table.sql",
    "70_procedures/reconcile_syspro__table.sql",
    "70_procedures/backfill_syspro__table.sql",
    "70_procedures/verify_syspro__table.sql",
];

/// The entry points and catalog-wide procedures, in the order the setup creates them.
const PROCEDURES: &[&str] = &[
    "70_procedures/sync_syspro_table.sql",
    "70_procedures/sync_syspro_group.sql",
    "70_procedures/replay_syspro_poll.sql",
    "70_procedures/refresh_syspro_typed_views.sql",
    "70_procedures/syspro_read.sql",
    "70_procedures/reconcile_syspro_table.sql",
    "70_procedures/reconcile_syspro_group.sql",
    "70_procedures/backfill_syspro_table.sql",
    "70_procedures/verify_syspro_table.sql",
    "70_procedures/verify_syspro_group.sql",
];

/// Per-table procedures earlier versions created, by name prefix with their argument types
/// (`DROP PROCEDURE` needs the signature): the key-only delete scan verify replaced, and the
/// signatures from before companies (without `company_id`). Snowflake overloads procedures by
/// their argument types, so `create or replace` with the new arguments leaves the old ones in
/// place (https://docs.snowflake.com/en/developer-guide/udf-stored-procedure-naming-conventions);
/// they would write rows without a company and fail on its NOT NULL.
const RETIRED_TABLE_PROCEDURES: &[(&str, &str)] = &[
    ("detect_syspro_deletes__", "(varchar)"),
    ("sync_syspro__", "(varchar)"),
    ("replay_syspro_poll__", "(varchar, varchar)"),
    ("repull_syspro_range__", "(varchar, varchar, varchar)"),
    ("reconcile_syspro__", "(varchar, varchar, varchar)"),
    ("backfill_syspro__", "(varchar, varchar, integer)"),
    ("verify_syspro__", "(varchar)"),
];

/// The page loops a procedure embeds as `{{page_loop_<buffer statement>}}`: one
/// `70_procedures/parts/page_loop.sql` filled with a `buffer_*` statement and the statements
/// that land its page.
const PAGE_LOOPS: &[(&str, &str, &[&str])] = &[
    (
        "page_loop_buffer_range_page",
        "stmt_buffer_range_page",
        &["stmt_land_page"],
    ),
    (
        "page_loop_buffer_open_page",
        "stmt_buffer_open_page",
        &["stmt_land_page"],
    ),
    (
        "page_loop_buffer_digests_page",
        "stmt_buffer_digests_page",
        &["stmt_land_digests"],
    ),
    // a pull by key lands its rows and notes the keys SYSPRO answered it does not have
    (
        "page_loop_buffer_keys_batch_page",
        "stmt_buffer_keys_batch_page",
        &["stmt_land_page", "stmt_land_missing"],
    ),
];

/// Every procedure, per table first, then the entry points; then the drops of the retired ones.
pub(super) fn push_procedures(out: &mut String, settings: &SqlSettings, tables: &[SqlTable]) {
    let procedures = procedure_vars(settings, tables);
    for table in tables {
        let vars = procedure_table_vars(settings, &procedures, table, tables);
        for path in TABLE_PROCEDURES {
            push_file(out, path, Some(&table.name), &vars);
        }
    }
    for path in PROCEDURES {
        push_file(out, path, None, &procedures);
    }
    let mut retired = global_vars(settings);
    retired.insert(
        "retired_table_procedures",
        tables
            .iter()
            .flat_map(|table| {
                RETIRED_TABLE_PROCEDURES.iter().map(move |(prefix, args)| {
                    format!(
                        "drop procedure if exists {}.{}.{prefix}{}{args};",
                        settings.database,
                        settings.schema,
                        table.slug()
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    push_file(out, "70_procedures/retired_procedures.sql", None, &retired);
}

/// Variables for the procedures: the generic statements embedded (the `buffer_*` ones calling
/// their external function), the parts every procedure shares, and the dispatch chains over the
/// catalog.
fn procedure_vars(settings: &SqlSettings, tables: &[SqlTable]) -> Vars {
    let mut vars = global_vars(settings);
    let qualified = |name: &str| format!("{}.{}.{name}", settings.database, settings.schema);
    let mut embedded: Vec<(&'static str, String)> = GENERIC_STATEMENTS
        .iter()
        .map(|(name, placeholder)| (*placeholder, embedded_statement(name, &vars)))
        .collect();
    embedded.extend(
        ANSWERS
            .iter()
            .map(|answer| (answer.placeholder, embedded_answer(answer, &vars))),
    );
    vars.extend(embedded);
    for part in [
        "read_page_or_raise",
        "enabled_tables",
        "start_run_or_raise",
        "fail_run",
        "resolve_table",
        "entry_declarations",
        "run_summary",
    ] {
        let text = embedded_part(part, &vars);
        vars.insert(part, text);
    }
    for (placeholder, procedure, args) in [
        ("dispatch_sync", "sync_syspro__", "(:run_id, :company_id)"),
        (
            "dispatch_replay",
            "replay_syspro_poll__",
            "(:run_id, :company_id, :poll_id)",
        ),
        (
            "dispatch_reconcile",
            "reconcile_syspro__",
            "(:run_id, :company_id, :period_from, :period_to)",
        ),
        (
            "dispatch_backfill",
            "backfill_syspro__",
            "(:run_id, :company_id, :first_day, :range_months)",
        ),
        (
            "dispatch_verify",
            "verify_syspro__",
            "(:run_id, :company_id)",
        ),
    ] {
        vars.insert(
            placeholder,
            dispatch(tables, |t| {
                format!(
                    "call {}{args};",
                    qualified(&format!("{procedure}{}", t.slug()))
                )
            }),
        );
    }
    vars
}

fn procedure_table_vars(
    settings: &SqlSettings,
    procedures: &Vars,
    table: &SqlTable,
    tables: &[SqlTable],
) -> Vars {
    let mut vars = table_vars(procedures, table);
    let mut statement_vars = table_vars(&global_vars(settings), table);
    for (name, placeholder) in TABLE_STATEMENTS {
        vars.insert(placeholder, embedded_statement(name, &statement_vars));
    }
    for part in ["run_declarations", "page_declarations"] {
        let text = embedded_part(part, &vars);
        vars.insert(part, text);
    }
    let merge_poll_counted = embedded_part("merge_poll_counted", &vars);
    vars.insert("merge_poll_counted", merge_poll_counted);
    for (placeholder, buffer, lands) in PAGE_LOOPS {
        let mut loop_vars = vars.clone();
        loop_vars.insert("stmt_buffer_next_page", vars[buffer].clone());
        let land = lands
            .iter()
            .map(|land| vars[land].clone())
            .collect::<Vec<_>>()
            .join(";\n");
        loop_vars.insert("stmt_land_next_page", land);
        vars.insert(placeholder, embedded_part("page_loop", &loop_vars));
    }
    let refresh_by_key = embedded_part("refresh_by_key", &vars);
    vars.insert("refresh_by_key", refresh_by_key);
    if table.has_key_refresh(tables) {
        statement_vars.insert(
            "refresh_candidates",
            refresh_candidates(settings, table, tables),
        );
        vars.insert(
            "stmt_collect_refresh_keys",
            embedded_statement(REFRESH_STATEMENT, &statement_vars),
        );
        let open_items_pull = if table.open_items.is_some() {
            embedded_part("open_items_pull", &vars)
        } else {
            "-- no open-items filter: (b) has nothing to re-read whole".to_string()
        };
        vars.insert("open_items_pull", open_items_pull);
        let key_refresh = embedded_part("key_refresh", &vars);
        vars.insert("key_refresh", key_refresh);
        vars.insert("status_after_watermark", "running".into());
        vars.insert(
            "key_refresh_failed",
            format!(
                "{};\n{};",
                vars["stmt_finish_key_refresh"], vars["stmt_clear_refresh_keys"]
            ),
        );
    } else {
        vars.insert(
            "key_refresh",
            "-- no open items or dependents: nothing changes behind the watermark".into(),
        );
        vars.insert("status_after_watermark", "succeeded".into());
        vars.insert("key_refresh_failed", String::new());
    }
    vars
}

fn dispatch(tables: &[SqlTable], call: impl Fn(&SqlTable) -> String) -> String {
    let mut out = String::new();
    for (i, table) in tables.iter().enumerate() {
        let keyword = if i == 0 { "if" } else { "elseif" };
        out.push_str(&format!(
            "{keyword} (known_name = '{}') then\n    {}\n",
            escape_literal(&table.name),
            call(table)
        ));
    }
    out.push_str("else\n    raise unknown_table;\nend if;");
    out
}
