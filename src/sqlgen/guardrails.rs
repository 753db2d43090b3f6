//! Guardrails over the rendered setup (issue #19): each check returns what breaks its rule, and
//! each test shows the check fails on the defect it guards by planting that defect.

use std::collections::BTreeMap;

use super::*;

fn setup() -> String {
    render_setup(&SqlSettings::default(), &builtin_tables())
}

/// `(name, body)` of every procedure, body between the `$$`.
fn procedures(sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (start, _) in sql.match_indices("create or replace procedure ") {
        let rest = &sql[start..];
        let name = rest["create or replace procedure ".len()..]
            .split('(')
            .next()
            .unwrap()
            .to_string();
        let open = rest.find("$$\n").unwrap() + 3;
        let close = open + rest[open..].find("\n$$;").unwrap();
        out.push((name, rest[open..close].to_string()));
    }
    out
}

/// Splits on `separator` outside parentheses and string literals.
fn split_top_level(text: &str, separator: char) -> Vec<String> {
    let (mut parts, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == separator && !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// A text's code: `--` comments removed, lower case.
fn code_of(sql: &str) -> String {
    sql.lines()
        .map(|line| line.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
        .to_ascii_lowercase()
}

/// The arguments of every call `name(` in `sql` (word-bounded).
fn calls(sql: &str, name: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let needle = format!("{name}(");
    for (at, _) in sql.match_indices(&needle) {
        let before = sql[..at].chars().last().unwrap_or(' ');
        if before.is_ascii_alphanumeric() || before == '_' || before == '.' {
            continue;
        }
        let open = at + needle.len();
        let mut depth = 1;
        let mut end = open;
        for (i, c) in sql[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i;
                break;
            }
        }
        out.push(split_top_level(&sql[open..end], ','));
    }
    out
}

/// Rule: tasks are created suspended (CREATE TASK's default) and nothing but
/// `syspro_start()` resumes them; it resumes every task the setup creates.
fn tasks_resumed_outside_start(sql: &str) -> Vec<String> {
    let start = procedures(sql)
        .into_iter()
        .find(|(name, _)| name.ends_with(".syspro_start"))
        .map(|(_, body)| body)
        .unwrap_or_default();
    let mut problems = Vec::new();
    let outside = sql.replace(&start, "");
    for line in outside.lines() {
        let code = line.split("--").next().unwrap().to_ascii_lowercase();
        if code.contains("alter task") && code.contains("resume") {
            problems.push(format!("resumed outside syspro_start: {line}"));
        }
    }
    for line in sql.lines() {
        if let Some(task) = line.strip_prefix("create or replace task ")
            && !start.contains(&format!("alter task {task} resume;"))
        {
            problems.push(format!("syspro_start does not resume {task}"));
        }
    }
    problems
}

/// Rule: a `select … into` returns exactly one row whatever it finds: every selected
/// expression is an aggregate, or the select has no FROM.
fn unguarded_select_into(sql: &str) -> Vec<String> {
    const AGGREGATES: &[&str] = &["max(", "min(", "count(", "count_if(", "sum(", "listagg("];
    let mut problems = Vec::new();
    for (name, body) in procedures(sql) {
        let lower = body.to_ascii_lowercase();
        for (into_at, _) in lower.match_indices("\n") {
            let line = lower[into_at + 1..].lines().next().unwrap_or("");
            if !line.trim_start().starts_with("into :") {
                continue;
            }
            let select_at = lower[..into_at].rfind("select ").unwrap();
            let list = &lower[select_at + "select ".len()..into_at];
            let after = &lower[into_at..];
            let statement_end = after.find(';').unwrap_or(after.len());
            let has_from = after[..statement_end].contains("from ");
            for expression in split_top_level(list, ',') {
                if has_from && !AGGREGATES.iter().any(|a| expression.contains(a)) {
                    problems.push(format!("{name}: select … into of `{}`", expression.trim()));
                }
            }
        }
    }
    problems
}

/// Rule: a handler rolls back only a transaction its procedure opened (a ROLLBACK of a
/// caller's transaction fails inside a procedure's scope).
fn unguarded_rollbacks(sql: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, body) in procedures(sql) {
        let lines: Vec<&str> = body.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim();
            if code == "rollback;" && !lines[i - 1].trim().starts_with("if (in_transaction)") {
                problems.push(format!("{name}: rollback not guarded by in_transaction"));
            }
            if code == "begin transaction;" && lines[i + 1].trim() != "in_transaction := true;" {
                problems.push(format!("{name}: begin transaction not recorded"));
            }
            if code == "commit;" && lines[i + 1].trim() != "in_transaction := false;" {
                problems.push(format!("{name}: commit not recorded"));
            }
        }
    }
    problems
}

/// Rule: no conversion to a date or timestamp depends on the session (AUTO input formats,
/// TIMEZONE, TIMESTAMP_TYPE_MAPPING): text is converted with a named format, "today" is
/// taken in the site time zone, and one-argument conversions only read timestamp columns.
fn session_dependent_time(sql: &str) -> Vec<String> {
    const TIMESTAMP_VALUES: &[&str] = &[
        "target.watermark_value",
        "state.high_water",
        "landed_at",
        "convert_timezone(",
    ];
    // a typed null is no conversion
    let code = code_of(sql).replace("cast(null as timestamp_ntz)", "");
    let mut problems = Vec::new();
    for banned in [
        "::timestamp",
        "::date",
        "as timestamp",
        "as date)",
        "current_date",
        "localtimestamp",
    ] {
        if code.contains(banned) {
            problems.push(format!("conversion without a format: {banned}"));
        }
    }
    for function in ["to_timestamp", "to_timestamp_ltz", "to_timestamp_tz"] {
        if !calls(&code, function).is_empty() {
            problems.push(format!("{function}() follows the session"));
        }
    }
    if code.matches("current_timestamp()").count() != code.matches("convert_timezone(").count() {
        problems.push("current_timestamp() outside convert_timezone".into());
    }
    for function in [
        "to_date",
        "try_to_date",
        "to_timestamp_ntz",
        "try_to_timestamp_ntz",
    ] {
        for args in calls(&code, function) {
            let first = args[0].trim();
            if args.len() < 2 && !TIMESTAMP_VALUES.iter().any(|v| first.starts_with(v)) {
                problems.push(format!("{function}({first}) without a format"));
            }
        }
    }
    problems
}

/// Rule: identifiers built at run time are quoted: the typed views' column aliases, and the
/// user name the setup grants the owner role to.
fn unquoted_runtime_identifiers(sql: &str, statements: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let ddl = &statements["typed_view_ddl"];
    // an alias spliced from SYSPRO's answer: `… as ' || name` is unquoted
    if ddl.contains(" as ' ||") {
        problems.push("typed view alias spliced unquoted".into());
    }
    if !ddl.contains("as \"' || ") {
        problems.push("typed view aliases are not quoted".into());
    }
    for (at, _) in sql.match_indices("identifier($") {
        let var = sql[at + "identifier($".len()..].split(')').next().unwrap();
        if !sql.contains(&format!("set {var} = (select '\"' || replace(")) {
            problems.push(format!("${var} is not a quoted identifier"));
        }
    }
    problems
}

#[test]
fn every_task_is_resumed_by_syspro_start_alone() {
    let sql = setup();
    assert_eq!(tasks_resumed_outside_start(&sql), Vec::<String>::new());
    let planted = sql.replace(
        "-- ---- sql/90_tasks/syspro_start.sql",
        "alter task ml_connector.syspro.task_syspro_reconcile resume;\n-- ---- sql/90_tasks/syspro_start.sql",
    );
    assert!(!tasks_resumed_outside_start(&planted).is_empty());
}

#[test]
fn every_select_into_returns_one_row() {
    let sql = setup();
    assert_eq!(unguarded_select_into(&sql), Vec::<String>::new());
    let planted = sql.replacen(
        "select max(run.rows_inserted), max(run.rows_updated)",
        "select run.rows_inserted, run.rows_updated",
        1,
    );
    assert!(!unguarded_select_into(&planted).is_empty());
    let planted = sql.replacen(
        "select max(ddl.view_ddl), max(ddl.unsafe_columns)",
        "select ddl.view_ddl, ddl.unsafe_columns",
        1,
    );
    assert!(!unguarded_select_into(&planted).is_empty());
}

#[test]
fn no_handler_rolls_back_a_transaction_it_did_not_open() {
    let sql = setup();
    assert_eq!(unguarded_rollbacks(&sql), Vec::<String>::new());
    let guarded = "if (in_transaction) then\n            rollback;\n        end if;";
    assert!(sql.matches(guarded).count() >= 4 * builtin_tables().len());
    let planted = sql.replacen(guarded, "rollback;", 1);
    assert!(!unguarded_rollbacks(&planted).is_empty());
}

#[test]
fn every_date_and_timestamp_conversion_names_its_format() {
    let sql = setup();
    assert_eq!(session_dependent_time(&sql), Vec::<String>::new());
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    for (name, text) in &statements {
        assert_eq!(session_dependent_time(text), Vec::<String>::new(), "{name}");
    }
    for defect in [
        ("to_date(period, 'YYYY-MM-DD')", "to_date(period)"),
        (
            "to_date(convert_timezone('UTC', current_timestamp()))",
            "current_date()",
        ),
        (
            "try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD')",
            "buffer.page:fetched_at::timestamp_ntz",
        ),
    ] {
        assert!(sql.contains(defect.0), "{defect:?}");
        let planted = sql.replacen(defect.0, defect.1, 1);
        assert!(!session_dependent_time(&planted).is_empty(), "{defect:?}");
    }
}

#[test]
fn every_identifier_built_at_run_time_is_quoted() {
    let sql = setup();
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    assert_eq!(
        unquoted_runtime_identifiers(&sql, &statements),
        Vec::<String>::new()
    );
    let mut planted = statements.clone();
    let ddl = planted["typed_view_ddl"].replace(
        "' as \"' || named_columns.column_alias || '\"'",
        "' as ' || named_columns.column_alias",
    );
    planted.insert("typed_view_ddl".into(), ddl);
    assert!(!unquoted_runtime_identifiers(&sql, &planted).is_empty());
    let planted_sql = sql.replace(
        "(select '\"' || replace(current_user(), '\"', '\"\"') || '\"')",
        "current_user()",
    );
    assert!(!unquoted_runtime_identifiers(&planted_sql, &statements).is_empty());
}

#[test]
fn the_site_time_zone_and_provider_are_rendered() {
    let settings = SqlSettings {
        site_timezone: "Africa/Johannesburg".into(),
        provider: ApiProvider::AwsPrivate,
        ..SqlSettings::default()
    };
    let sql = render_setup(&settings, &builtin_tables());
    assert!(sql.contains("convert_timezone('Africa/Johannesburg', current_timestamp())"));
    assert!(sql.contains("api_provider = aws_private_api_gateway"));
    assert!(sql.contains("alter api integration ml_connector_api set"));
    assert_eq!(
        "aws_gov_private_api_gateway".parse(),
        Ok(ApiProvider::AwsGovPrivate)
    );
    let bad = SqlSettings {
        site_timezone: "UTC'; drop".into(),
        ..SqlSettings::default()
    };
    assert!(validate(&bad, &builtin_tables()).is_err());
}

/// Objects this version retired (renamed work tables, the key-only delete scan): the setup names
/// them only to drop them.
const RETIRED_NAMES: &[&str] = &[
    "raw_syspro__page_buffer",
    "raw_syspro__seen_keys",
    "raw_syspro__backfill_ranges",
    "raw_syspro__refresh_keys",
    "raw_syspro__verify_digests",
    "detect_syspro_deletes",
    "task_syspro_detect_deletes",
];

/// Rule: no procedure, statement or other object uses a retired name (an upgraded account has
/// dropped it); only `drop … if exists` lines name them.
fn retired_names_in_use(sql: &str, statements: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap().to_ascii_lowercase();
        if code.trim_start().starts_with("drop ") && code.contains(" if exists ") {
            continue;
        }
        for name in RETIRED_NAMES {
            if code.contains(name) {
                problems.push(format!("the setup uses {name}: {line}"));
            }
        }
    }
    for (statement, text) in statements {
        for name in RETIRED_NAMES {
            if text.to_ascii_lowercase().contains(name) {
                problems.push(format!("statement {statement} names {name}"));
            }
        }
    }
    problems
}

#[test]
fn nothing_uses_a_retired_name_and_the_setup_drops_each() {
    let sql = setup();
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    assert_eq!(
        retired_names_in_use(&sql, &statements),
        Vec::<String>::new()
    );
    for table in [
        "raw_syspro__page_buffer",
        "raw_syspro__seen_keys",
        "raw_syspro__backfill_ranges",
        "raw_syspro__refresh_keys",
        "raw_syspro__verify_digests",
    ] {
        assert!(
            sql.contains(&format!(
                "drop table if exists ml_connector.syspro.{table};"
            )),
            "{table}"
        );
    }
    for procedure in ["detect_syspro_deletes", "detect_syspro_deletes_group"] {
        assert!(
            sql.contains(&format!(
                "drop procedure if exists ml_connector.syspro.{procedure}(varchar);"
            )),
            "{procedure}"
        );
    }
    // the drops come after what replaces them is created, so a failure midway leaves both
    assert!(
        sql.find("drop table if exists ml_connector.syspro.raw_syspro__page_buffer;")
            > sql.find(
                "create transient table if not exists ml_connector.syspro.work_syspro__pages"
            )
    );
    let planted = sql.replacen(
        "from ml_connector.syspro.work_syspro__pages as buffer",
        "from ml_connector.syspro.raw_syspro__page_buffer as buffer",
        1,
    );
    assert_ne!(planted, sql);
    assert!(!retired_names_in_use(&planted, &statements).is_empty());
    let mut planted = statements.clone();
    planted.insert(
        "land_keys__ap_invoice".into(),
        "insert into ml_connector.syspro.raw_syspro__seen_keys select 1".into(),
    );
    assert!(!retired_names_in_use(&sql, &planted).is_empty());
}

// ---- companies (issue #16) ------------------------------------------------------------------

/// The tables that hold a company's rows: control, state, the landing log, the work tables, the
/// audit trail and every target (`syspro__<table>`).
fn is_data_table(name: &str) -> bool {
    let name = name.rsplit('.').next().unwrap_or(name);
    ["syspro_sync_control", "syspro_sync_state"].contains(&name)
        || [
            "syspro__",
            "raw_syspro__",
            "work_syspro__",
            "audit_syspro__",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// The statements of a text (split on `;` outside string literals and parentheses), comments
/// removed, lower case.
fn code_statements(sql: &str) -> Vec<String> {
    split_top_level(&code_of(sql), ';')
}

/// Rule: every MERGE, UPDATE and DELETE on a data table keys on `company_id` (a MERGE in its ON,
/// the others in their WHERE), so no statement can touch another company's rows. The one
/// exception is the upgrade's fill of the new column (`set company_id = '' where company_id is
/// null`), which is about rows that have no company yet.
fn writes_without_company(texts: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, text) in texts {
        for statement in code_statements(text) {
            if statement.contains("set company_id = '' where company_id is null") {
                continue;
            }
            for keyword in ["merge into ", "update ", "delete from "] {
                for (at, _) in statement.match_indices(keyword) {
                    let before = statement[..at].chars().last().unwrap_or(' ');
                    if before.is_ascii_alphanumeric() || before == '_' {
                        continue;
                    }
                    let rest = &statement[at + keyword.len()..];
                    let table = rest.split_whitespace().next().unwrap_or("");
                    if !is_data_table(table) {
                        continue;
                    }
                    let condition = if keyword == "merge into " {
                        // the ON clause: between the source's alias and the first WHEN
                        let on = rest
                            .find("\non\n")
                            .or_else(|| rest.find(" on "))
                            .unwrap_or(0);
                        let when = rest[on..].find("when ").map_or(rest.len(), |w| on + w);
                        &rest[on..when]
                    } else {
                        rest.find("where").map_or("", |w| &rest[w..])
                    };
                    if !condition.contains("company_id") {
                        problems.push(format!(
                            "{name}: {}{table} does not key on company_id",
                            keyword
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// Rule: a statement that binds `:table_name` binds `:company_id` too: a table name alone no
/// longer says whose rows (push mode and the procedures bind both).
fn table_without_company(statements: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, text) in statements {
        let binds: Vec<String> = crate::snowflake::binds::scan_binds(text)
            .into_iter()
            .map(|(_, _, bind)| bind)
            .collect();
        if binds.iter().any(|b| b == "table_name") && !binds.iter().any(|b| b == "company_id") {
            problems.push(format!("{name} binds :table_name without :company_id"));
        }
    }
    problems
}

/// Rule: the procedures call every external function with the company's qualified name
/// (`company_id || '.' || table_name`, or the bare name for the single company ''); only
/// `syspro_read` passes the name its caller wrote, qualified or not.
fn unqualified_calls(sql: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (procedure, body) in procedures(sql) {
        if procedure.ends_with(".syspro_read") {
            continue;
        }
        for function in [
            "syspro_pull",
            "syspro_pull_range",
            "syspro_pull_open",
            "syspro_digests",
            "syspro_pull_keys",
            "syspro_keys",
            "syspro_schema",
            "syspro_reconcile",
        ] {
            for args in calls(
                &body.replace(&format!(".{function}("), &format!(" {function}(")),
                function,
            ) {
                let first = args[0].trim();
                if !(first.starts_with("iff(") && first.contains("company_id || '.' || ")) {
                    problems.push(format!(
                        "{procedure}: {function}({first}, …) is not qualified"
                    ));
                }
            }
        }
    }
    problems
}

fn all_texts(sql: &str, statements: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut texts: Vec<(String, String)> = statements
        .iter()
        .map(|(name, text)| (name.clone(), text.clone()))
        .collect();
    texts.push(("setup".into(), sql.to_string()));
    texts
}

#[test]
fn every_write_to_a_data_table_keys_on_the_company() {
    let sql = setup();
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    assert_eq!(
        writes_without_company(&all_texts(&sql, &statements)),
        Vec::<String>::new()
    );
    // the checks see what they guard: a delete flagging every company's rows, a MERGE on the key
    // alone, the control seed on the table name alone
    let mut planted = statements.clone();
    let flag = planted["verify_mark_deleted__ap_invoice"].replace(
        "    target.company_id = :company_id\n    and not target.is_deleted",
        "    not target.is_deleted",
    );
    assert_ne!(flag, planted["verify_mark_deleted__ap_invoice"]);
    planted.insert("verify_mark_deleted__ap_invoice".into(), flag);
    assert!(!writes_without_company(&all_texts(&sql, &planted)).is_empty());
    let mut planted = statements.clone();
    let merge = planted["merge_poll__ap_invoice"].replace(
        "on\n    target.company_id = source.company_id\n    and target.record_key",
        "on\n    target.record_key",
    );
    assert_ne!(merge, planted["merge_poll__ap_invoice"]);
    planted.insert("merge_poll__ap_invoice".into(), merge);
    assert!(!writes_without_company(&all_texts(&sql, &planted)).is_empty());
    let seed = sql.replace(
        "on\n    control.company_id = seed.company_id\n    and control.table_name",
        "on\n    control.table_name",
    );
    assert_ne!(seed, sql);
    assert!(!writes_without_company(&all_texts(&seed, &statements)).is_empty());
}

#[test]
fn every_statement_that_binds_a_table_binds_its_company() {
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    assert_eq!(table_without_company(&statements), Vec::<String>::new());
    assert!(statements.values().any(|s| s.contains(":company_id")));
    let mut planted = statements.clone();
    let start = planted["start_run"].replace(
        "    control.company_id = :company_id\n    and control.table_name",
        "    control.table_name",
    );
    assert_ne!(start, planted["start_run"]);
    planted.insert("start_run".into(), start);
    assert!(!table_without_company(&planted).is_empty());
}

#[test]
fn the_procedures_call_the_service_with_the_companys_table() {
    let sql = setup();
    assert_eq!(unqualified_calls(&sql), Vec::<String>::new());
    assert!(sql.contains("syspro_pull(iff(:company_id = '', :table_name, :company_id || '.' || :table_name), :since, :page_cursor)"));
    let planted = sql.replacen(
        "syspro_pull_open(iff(:company_id = '', :table_name, :company_id || '.' || :table_name),",
        "syspro_pull_open(:table_name,",
        1,
    );
    assert_ne!(planted, sql);
    assert!(!unqualified_calls(&planted).is_empty());
}
