//! The data-plane statements (`sql/60_statements/`): which exist, generic or per table, the one
//! template every statement that keeps an external function's answer is rendered from, and
//! `--statements-json`.

use std::collections::BTreeMap;

use super::settings::{SqlSettings, SqlTable};
use super::text::{Vars, escape_literal, fill, json_path_key, strip_leading_comments, template};
use super::vars::{global_vars, table_vars};

/// Statements that are the same for every table (the table is a bind), each with the
/// placeholder the procedure templates embed it by.
pub(super) const GENERIC_STATEMENTS: &[(&str, &str)] = &[
    ("start_run", "stmt_start_run"),
    ("read_run", "stmt_read_run"),
    ("audit_page", "stmt_audit_page"),
    ("read_page", "stmt_read_page"),
    ("clear_page_buffer", "stmt_clear_page_buffer"),
    ("advance_watermark", "stmt_advance_watermark"),
    ("count_merge", "stmt_count_merge"),
    ("finish_run", "stmt_finish_run"),
    ("typed_view_ddl", "stmt_typed_view_ddl"),
    ("read_drift", "stmt_read_drift"),
    ("record_repull", "stmt_record_repull"),
    ("plan_backfill_ranges", "stmt_plan_backfill_ranges"),
    ("advance_backfill_ranges", "stmt_advance_backfill_ranges"),
    ("read_run_polls", "stmt_read_run_polls"),
    ("clear_backfill_ranges", "stmt_clear_backfill_ranges"),
    ("read_refresh_batches", "stmt_read_refresh_batches"),
    (
        "advance_dependents_checked",
        "stmt_advance_dependents_checked",
    ),
    ("clear_refresh_keys", "stmt_clear_refresh_keys"),
    ("clear_verify_digests", "stmt_clear_verify_digests"),
    ("close_abandoned_runs", "stmt_close_abandoned_runs"),
    ("clear_abandoned_runs", "stmt_clear_abandoned_runs"),
];

/// Statements rendered once per table (key expression, target table), named
/// `<statement>__<slug>` in `--statements-json`.
pub(super) const TABLE_STATEMENTS: &[(&str, &str)] = &[
    ("land_page", "stmt_land_page"),
    ("merge_poll", "stmt_merge_poll"),
    ("reconcile_compare", "stmt_reconcile_compare"),
    ("mark_deleted_range", "stmt_mark_deleted_range"),
    ("land_missing", "stmt_land_missing"),
    ("mark_missing_deleted", "stmt_mark_missing_deleted"),
    ("land_digests", "stmt_land_digests"),
    ("verify_mark_deleted", "stmt_verify_mark_deleted"),
    ("collect_verify_keys", "stmt_collect_verify_keys"),
    ("finish_key_refresh", "stmt_finish_key_refresh"),
];

/// Rendered (as `collect_refresh_keys__<slug>`) only for tables with open items or dependents:
/// what a sync's key refresh re-reads, from the table's catalog entry.
pub(super) const REFRESH_STATEMENT: &str = "collect_refresh_keys";

/// The template of every statement that keeps an external function's answer.
const ANSWER_TEMPLATE: &str = "60_statements/buffer_answer.sql";

/// The table name the procedures pass to an external function: qualified with the company
/// (`UK1.ApInvoice`) unless it is the single company `''`, whose calls stay unqualified as
/// before companies existed (the service reads one company per call).
macro_rules! service_table {
    ($company:literal, $table:literal) => {
        concat!(
            "iff(",
            $company,
            " = '', ",
            $table,
            ", ",
            $company,
            " || '.' || ",
            $table,
            ")"
        )
    };
}

/// A statement that keeps an external function's answer in the page buffer (`buffer_*`), rendered
/// from [`ANSWER_TEMPLATE`]: the procedures call the function inside the INSERT; push mode and
/// the tests bind the answer they got from the service instead.
pub(super) struct Answer {
    /// The statement's name (`--statements-json`, push mode, the tests).
    pub name: &'static str,
    /// The placeholder the procedure templates embed it by.
    pub placeholder: &'static str,
    /// The external function the procedures call.
    pub function: &'static str,
    /// Its arguments, as the procedures pass them.
    pub args: &'static str,
    /// What `--statements-json` binds instead of the call.
    pub bound: &'static str,
    /// The buffer row's `run_id`, `company_id`, `table_name`, `page_number`,
    /// `requested_since`, `requested_cursor` (what the answer is an answer to).
    pub asked: [&'static str; 6],
    /// Where the row comes from, when not from the binds alone (may use `{{database}}` and
    /// `{{schema}}`).
    pub from: &'static str,
    /// Why it is its own statement, for readers of the rendered text.
    pub note: &'static str,
}

const ONE_PAGE: [&str; 6] = [
    ":run_id",
    ":company_id",
    ":table_name",
    ":page_number",
    "null",
    ":page_cursor",
];
const PAGE: &str = "parse_json(:page)";

/// Every `buffer_*` statement: one per way the procedures call the service.
pub(super) const ANSWERS: &[Answer] = &[
    Answer {
        name: "buffer_page",
        placeholder: "stmt_buffer_page",
        function: "syspro_pull",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", :since, :page_cursor)"
        ),
        bound: PAGE,
        asked: [
            ":run_id",
            ":company_id",
            ":table_name",
            ":page_number",
            ":since",
            ":page_cursor",
        ],
        from: "",
        note: "one page of an incremental (or snapshot) pull",
    },
    Answer {
        name: "buffer_range_page",
        placeholder: "stmt_buffer_range_page",
        function: "syspro_pull_range",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", :since, :until_day, :page_cursor)"
        ),
        bound: PAGE,
        asked: [
            ":run_id",
            ":company_id",
            ":table_name",
            ":page_number",
            ":since",
            ":page_cursor",
        ],
        from: "",
        note: "one page of a bounded pull (a targeted re-pull of a day)",
    },
    Answer {
        name: "buffer_open_page",
        placeholder: "stmt_buffer_open_page",
        function: "syspro_pull_open",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", :page_cursor)"
        ),
        bound: PAGE,
        asked: ONE_PAGE,
        from: "",
        note: "one page of the rows matching the table's open-items filter",
    },
    Answer {
        name: "buffer_digests_page",
        placeholder: "stmt_buffer_digests_page",
        function: "syspro_digests",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", :page_cursor)"
        ),
        bound: PAGE,
        asked: ONE_PAGE,
        from: "",
        note: "one page of verify's scan: every key with its record's digest",
    },
    Answer {
        name: "buffer_keys_batch_page",
        placeholder: "stmt_buffer_keys_batch_page",
        function: "syspro_pull_keys",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", batch.key_array, :page_cursor)"
        ),
        bound: PAGE,
        asked: ONE_PAGE,
        from: "from (\n    select array_agg(refresh.key_object) within group (order by refresh.record_key) as key_array\n    from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh\n    where\n        refresh.run_id = :run_id\n        and refresh.batch_number = :batch_number\n) as batch",
        note: "one page of a pull by key: the rows whose keys are batch :batch_number of the run's \
               refresh keys (at most 1000, sent with every cursor of the batch's pull); push mode \
               reads the keys with read_refresh_batches",
    },
    Answer {
        name: "buffer_schema",
        placeholder: "stmt_buffer_schema",
        function: "syspro_schema",
        args: concat!("(", service_table!(":company_id", ":table_name"), ")"),
        bound: PAGE,
        asked: [
            ":run_id",
            ":company_id",
            ":table_name",
            ":page_number",
            "null",
            "null",
        ],
        from: "",
        note: "the table's columns, for its typed view",
    },
    Answer {
        name: "buffer_reconcile",
        placeholder: "stmt_buffer_reconcile",
        function: "syspro_reconcile",
        args: concat!(
            "(",
            service_table!(":company_id", ":table_name"),
            ", :period_from, :period_to)"
        ),
        bound: PAGE,
        asked: [
            ":run_id",
            ":company_id",
            ":table_name",
            ":page_number",
            ":period_from",
            ":period_to",
        ],
        from: "",
        note: "the reconciliation figures of a window (the window is kept as the asked since/cursor)",
    },
    Answer {
        name: "buffer_backfill_pages",
        placeholder: "stmt_buffer_backfill_pages",
        function: "syspro_pull_range",
        args: concat!(
            "(",
            service_table!("ranges.company_id", "ranges.table_name"),
            ", ranges.range_since, ranges.range_until, ranges.page_cursor)"
        ),
        // the tests bind one page per open range: {"<range_number>": page, ...}
        bound: "get(parse_json(:pages), to_varchar(ranges.range_number))",
        asked: [
            "ranges.run_id",
            "ranges.company_id",
            "ranges.table_name",
            ":page_number + ranges.range_number",
            "ranges.range_since",
            "ranges.page_cursor",
        ],
        from: "from {{database}}.{{schema}}.work_syspro__backfill_ranges as ranges\nwhere\n    ranges.run_id = :run_id\n    and not ranges.is_done",
        note: "the fan-out: the next page of EVERY open range of a backfill in one statement; \
               syspro_pull_range has MAX_BATCH_ROWS = 1, so Snowflake sends one request per range \
               and runs them concurrently. Page numbers are :page_number (the pages so far) plus \
               the range number, unique within the run",
    },
];

/// Whether a procedure's statement calls the external function or binds its answer.
#[derive(Clone, Copy)]
pub(super) enum Source {
    /// `database.schema.function(args)`, as the procedures run it.
    Call,
    /// The answer bound as `:page` (`:pages`), as `--statements-json` prints it.
    Bound,
}

fn answer_vars(answer: &Answer, vars: &Vars, source: Source) -> Vars {
    let mut vars = vars.clone();
    let [run_id, company_id, table_name, page_number, since, cursor] = answer.asked;
    vars.insert("answer_run_id", run_id.into());
    vars.insert("answer_company_id", company_id.into());
    vars.insert("answer_table_name", table_name.into());
    vars.insert("answer_page_number", page_number.into());
    vars.insert("answer_since", since.into());
    vars.insert("answer_cursor", cursor.into());
    let from = fill(answer.from, &vars);
    vars.insert("answer_from", from);
    let answer_value = match source {
        Source::Call => format!(
            "{}.{}.{}{}",
            vars["database"], vars["schema"], answer.function, answer.args
        ),
        Source::Bound => answer.bound.into(),
    };
    vars.insert("answer", answer_value);
    vars
}

/// A statement's rendered text, without a trailing semicolon.
pub(super) fn statement(name: &str, vars: &Vars) -> String {
    let text = fill(template(&format!("60_statements/{name}.sql")), vars);
    trim_statement(&text)
}

fn trim_statement(text: &str) -> String {
    text.trim_end().trim_end_matches(';').trim_end().to_string()
}

/// A `buffer_*` statement's rendered text: a line naming it and what it keeps, then the template.
pub(super) fn answer_statement(answer: &Answer, vars: &Vars, source: Source) -> String {
    let text = fill(
        template(ANSWER_TEMPLATE),
        &answer_vars(answer, vars, source),
    );
    format!(
        "-- {}: the answer of {}{}: {}.\n{}",
        answer.name,
        answer.function,
        answer.args,
        answer.note,
        trim_statement(&text)
    )
}

/// A statement as a procedure embeds it: its leading comment (the why, written once in the
/// template) becomes a pointer to the template, so 13 copies of each procedure stay short.
pub(super) fn embedded_statement(name: &str, vars: &Vars) -> String {
    format!(
        "-- sql/60_statements/{name}.sql\n{}",
        strip_leading_comments(&statement(name, vars))
    )
}

/// A `buffer_*` statement as a procedure embeds it, calling the external function; the pointer
/// names the template and the statement (`--statements-json` prints it under that name).
pub(super) fn embedded_answer(answer: &Answer, vars: &Vars) -> String {
    format!(
        "-- sql/{ANSWER_TEMPLATE}: {}\n{}",
        answer.name,
        strip_leading_comments(&answer_statement(answer, vars, Source::Call))
    )
}

/// The data-plane statements, by name, with `:name` bind placeholders: the text the procedures
/// embed, except that the external-function calls are replaced by `parse_json(:page)` (the page
/// the caller got from the service). Per-table statements are named `<statement>__<slug>`.
/// Bind them with [`crate::snowflake::binds::to_positional`].
pub fn render_statements(settings: &SqlSettings, tables: &[SqlTable]) -> BTreeMap<String, String> {
    let vars = global_vars(settings);
    let mut out = BTreeMap::new();
    for (name, _) in GENERIC_STATEMENTS {
        out.insert(name.to_string(), statement(name, &vars));
    }
    for answer in ANSWERS {
        out.insert(
            answer.name.to_string(),
            answer_statement(answer, &vars, Source::Bound),
        );
    }
    for table in tables {
        let table_vars = table_vars(&vars, table);
        for (name, _) in TABLE_STATEMENTS {
            out.insert(
                format!("{name}__{}", table.slug()),
                statement(name, &table_vars),
            );
        }
        if table.has_key_refresh(tables) {
            let mut refresh_vars = table_vars.clone();
            refresh_vars.insert(
                "refresh_candidates",
                refresh_candidates(settings, table, tables),
            );
            out.insert(
                format!("{REFRESH_STATEMENT}__{}", table.slug()),
                statement(REFRESH_STATEMENT, &refresh_vars),
            );
        }
    }
    out
}

/// The candidates of a table's key refresh (`collect_refresh_keys`), from its catalog entry:
/// target rows still open here that the open-items poll `:poll_id` did not return, and the
/// parent keys of child rows loaded since the last refresh. Each yields `record_key`,
/// `key_object` (as `syspro_pull_keys` takes it) and `reason`.
pub(super) fn refresh_candidates(
    settings: &SqlSettings,
    table: &SqlTable,
    tables: &[SqlTable],
) -> String {
    let qualified = |name: String| format!("{}.{}.{name}", settings.database, settings.schema);
    let key_object = |record: &str, columns: &[(&str, &str)]| {
        let members = columns
            .iter()
            .map(|(key, column)| {
                format!(
                    "'{}', {record}:{}",
                    escape_literal(key),
                    json_path_key(column)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("object_construct({members})")
    };
    let mut parts = Vec::new();
    if let Some(open) = &table.open_items {
        let own: Vec<(&str, &str)> = table
            .key_columns
            .iter()
            .map(|k| (k.as_str(), k.as_str()))
            .collect();
        parts.push(format!(
            "-- open here, not in the open-items poll: left the set in SYSPRO ({})\n\
             select\n    target.record_key,\n    {} as key_object,\n    'open_item' as reason\n\
             from {} as target\n\
             where\n    target.company_id = :company_id\n    and not target.is_deleted\n    and {}\n    and target.record_key not in (\n        \
             select records.record_key\n        from {} as records\n        where records.poll_id = :poll_id\n    )",
            open.text().replace('\n', " "),
            key_object("target.record", &own),
            qualified(format!("syspro__{}", table.slug())),
            open.sql("target.record"),
            qualified("raw_syspro__records".into()),
        ));
    }
    for (dependent, child) in table.dependents(tables) {
        let columns: Vec<(&str, &str)> = table
            .key_columns
            .iter()
            .map(|k| {
                let child_column = dependent
                    .keys
                    .iter()
                    .find(|(parent, _)| parent == k)
                    .map(|(_, c)| c.as_str())
                    .expect("validate: a dependent maps every key column");
                (k.as_str(), child_column)
            })
            .collect();
        let record_key = columns
            .iter()
            .map(|(_, c)| format!("coalesce(child.record:{}::varchar, '')", json_path_key(c)))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let present = columns
            .iter()
            .map(|(_, c)| format!("child.record:{}::varchar is not null", json_path_key(c)))
            .collect::<Vec<_>>()
            .join("\n    and ");
        parts.push(format!(
            "-- parents named by {child} rows loaded since the last key refresh\n\
             select\n    {record_key} as record_key,\n    {} as key_object,\n    'dependent' as reason\n\
             from {} as child\n\
             where\n    child.company_id = :company_id\n    and {present}\n    and child.loaded_at >= (\n        \
             select coalesce(state.dependents_checked_at, dateadd(day, -control.overlap_days, runs.started_at))\n        \
             from {} as runs\n        \
             inner join {} as control\n            on control.company_id = runs.company_id and control.table_name = runs.table_name\n        \
             left join {} as state\n            on state.company_id = runs.company_id and state.table_name = runs.table_name\n        \
             where runs.run_id = :run_id\n    )",
            key_object("child.record", &columns),
            qualified(format!("syspro__{}", child.slug())),
            qualified("audit_syspro__runs".into()),
            qualified("syspro_sync_control".into()),
            qualified("syspro_sync_state".into()),
            child = child.name,
        ));
    }
    if parts.is_empty() {
        // not rendered for such tables; a well-typed empty source keeps the statement valid
        parts.push(
            "select cast(null as varchar) as record_key, cast(null as variant) as key_object, \
             cast(null as varchar) as reason\nwhere false"
                .into(),
        );
    }
    parts.join("\n\nunion all\n\n")
}
