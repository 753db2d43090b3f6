//! What the renderer promises: every placeholder filled, every template used, every table its
//! objects, statements embedded verbatim, binds declared.

use super::statements::{ANSWERS, TABLE_STATEMENTS};
use super::text::{TEMPLATES, snake_case, strip_leading_comments};
use super::vars::record_key_expression;
use super::*;
use crate::snowflake::binds::{scan_binds, to_positional};

/// The distinct `:name` binds of a statement, in order of first use.
fn bind_names(statement: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (_, _, name) in scan_binds(statement) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

fn setup() -> String {
    render_setup(&SqlSettings::default(), &builtin_tables())
}

#[test]
fn rendering_substitutes_every_placeholder() {
    for provider in [ApiProvider::Aws, ApiProvider::Azure, ApiProvider::Gcp] {
        let settings = SqlSettings {
            provider,
            ..SqlSettings::default()
        };
        let sql = render_setup(&settings, &builtin_tables());
        assert!(
            !sql.contains("{{") && !sql.contains("}}"),
            "placeholder left for {provider}"
        );
    }
    for (name, text) in render_statements(&SqlSettings::default(), &builtin_tables()) {
        assert!(!text.contains("{{"), "placeholder left in {name}");
        assert!(
            !text.trim_end().ends_with(';'),
            "{name} must not end with a semicolon"
        );
    }
}

#[test]
fn every_template_is_used_by_the_setup_for_some_provider() {
    let mut rendered = String::new();
    for provider in [ApiProvider::Aws, ApiProvider::Azure, ApiProvider::Gcp] {
        rendered.push_str(&render_setup(
            &SqlSettings {
                provider,
                ..SqlSettings::default()
            },
            &builtin_tables(),
        ));
    }
    for (path, _) in TEMPLATES {
        if path.starts_with("60_statements/") || path.starts_with("70_procedures/parts/") {
            continue; // embedded in procedures, not printed on their own
        }
        assert!(
            rendered.contains(&format!("-- ---- sql/{path}")),
            "{path} is never rendered"
        );
    }
}

#[test]
fn every_file_under_sql_is_compiled_in() {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "sql") {
                let relative = path.strip_prefix(root).unwrap();
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    assert!(files.len() > 40);
    for file in files {
        assert!(
            TEMPLATES.iter().any(|(path, _)| *path == file),
            "sql/{file} is not in sqlgen's TEMPLATES"
        );
    }
}

#[test]
fn one_template_keeps_every_external_function_answer() {
    // the page buffer is written by buffer_answer.sql alone: one INSERT, one column list
    for (path, text) in TEMPLATES {
        if text.contains("insert into {{database}}.{{schema}}.work_syspro__pages") {
            assert_eq!(*path, "60_statements/buffer_answer.sql");
        }
    }
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    let buffering: Vec<&String> = statements
        .iter()
        .filter(|(_, text)| text.contains("insert into ml_connector.syspro.work_syspro__pages"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(buffering.len(), ANSWERS.len());
    for answer in ANSWERS {
        assert!(answer.name.starts_with("buffer_"), "{}", answer.name);
        let text = &statements[answer.name];
        assert!(text.contains(answer.bound), "{}", answer.name);
        // a statement's name never reads as the SYSPRO read it buffers (pull_*)
        assert!(!statements.contains_key(&answer.name.replace("buffer_", "pull_")));
    }
    let sql = setup();
    for function in [
        "syspro_pull(",
        "syspro_pull_range(",
        "syspro_pull_open(",
        "syspro_digests(",
        "syspro_pull_keys(",
        "syspro_schema(",
        "syspro_reconcile(",
    ] {
        assert!(
            ANSWERS
                .iter()
                .any(|a| format!("{}(", a.function) == function),
            "{function} has no buffer_* statement"
        );
        assert!(
            sql.contains(&format!("ml_connector.syspro.{function}")),
            "{function}"
        );
    }
}

#[test]
fn the_chosen_provider_alone_gets_its_integration() {
    let azure = render_setup(
        &SqlSettings {
            provider: ApiProvider::Azure,
            ..SqlSettings::default()
        },
        &builtin_tables(),
    );
    assert!(azure.contains("api_provider = azure_api_management"));
    assert!(!azure.contains("aws_api_gateway") && !azure.contains("google_api_gateway"));
    assert_eq!("GCP".parse::<ApiProvider>(), Ok(ApiProvider::Gcp));
    assert!("oracle".parse::<ApiProvider>().is_err());
}

#[test]
fn every_table_gets_its_objects() {
    let sql = setup();
    let statements = render_statements(&SqlSettings::default(), &builtin_tables());
    for table in builtin_tables() {
        let slug = table.slug();
        for object in [
            format!("ml_connector.syspro.syspro__{slug} ("),
            format!("ml_connector.syspro.sync_syspro__{slug}(run_id varchar, company_id varchar)"),
            format!("ml_connector.syspro.replay_syspro_poll__{slug}("),
            format!(
                "drop procedure if exists ml_connector.syspro.detect_syspro_deletes__{slug}(varchar);"
            ),
            format!(
                "ml_connector.syspro.verify_syspro__{slug}(run_id varchar, company_id varchar)"
            ),
            format!(
                "alter table ml_connector.syspro.syspro__{slug} add column if not exists record_digest varchar;"
            ),
            format!("ml_connector.syspro.reconcile_syspro__{slug}("),
            format!("ml_connector.syspro.repull_syspro_range__{slug}("),
            format!("ml_connector.syspro.backfill_syspro__{slug}("),
            format!("ml_connector.syspro.hist_syspro__{slug} as"),
            format!("if (known_name = '{}') then", table.name),
            format!("'{}' as table_name", table.name),
        ] {
            assert!(sql.contains(&object), "{} lacks {object}", table.name);
        }
        for (name, _) in TABLE_STATEMENTS {
            assert!(
                statements.contains_key(&format!("{name}__{slug}")),
                "no {name} for {}",
                table.name
            );
        }
    }
    assert!(
        sql.contains("task_syspro_sync__financial")
            && sql.contains("task_syspro_sync__masters")
            && sql.contains("task_syspro_verify__nightly")
            && sql.contains("task_syspro_verify__weekly")
    );
    // verify replaces the separate delete scan: an upgrade drops its task
    assert!(!sql.contains("create or replace task ml_connector.syspro.task_syspro_detect_deletes"));
    assert!(sql.contains("drop task if exists ml_connector.syspro.task_syspro_detect_deletes;"));
    assert!(
        sql.contains("report_syspro__ap_aging")
            && sql.contains("report_syspro__stock_by_warehouse")
    );
}

#[test]
fn procedures_embed_the_statements_verbatim() {
    let settings = SqlSettings::default();
    let tables = builtin_tables();
    let sql = render_setup(&settings, &tables);
    let statements = render_statements(&settings, &tables);
    let compact = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let sql = compact(&sql);
    for (name, text) in &statements {
        let text = strip_leading_comments(text);
        // the procedures call the external function where the statement binds its answer
        let text = match ANSWERS.iter().find(|answer| answer.name == name) {
            Some(answer) => text.replace(
                answer.bound,
                &format!("ml_connector.syspro.{}{}", answer.function, answer.args),
            ),
            None => text.to_string(),
        };
        assert!(
            sql.contains(&compact(&text)),
            "statement {name} is not embedded verbatim in a procedure"
        );
    }
}

#[test]
fn secrets_and_literals_are_escaped() {
    let settings = SqlSettings {
        secret_placeholder: "it's".into(),
        ..SqlSettings::default()
    };
    let sql = render_setup(&settings, &builtin_tables());
    // backslash, as CREATE EXTERNAL FUNCTION documents for HEADERS values
    assert!(sql.contains("headers = ('mlc-secret' = 'it\\'s')"), "{sql}");
    assert!(validate(&settings, &builtin_tables()).is_err());
    assert!(!SqlSettings::default().secret_placeholder.is_empty());
}

#[test]
fn external_functions_have_the_contract_shape() {
    let sql = setup();
    for (name, path, batch_of_one) in [
        ("syspro_pull(", "/v1/pull", true),
        ("syspro_keys(", "/v1/keys", true),
        ("syspro_schema(", "/v1/schema", false),
        ("syspro_tables()", "/v1/tables", false),
        ("syspro_reconcile(", "/v1/reconcile", true),
        ("syspro_pull_range(", "/v1/pull_range", true),
        ("syspro_pull_open(", "/v1/pull_open", true),
        ("syspro_digests(", "/v1/digests", true),
        ("syspro_pull_keys(", "/v1/pull_keys", true),
    ] {
        let start = sql
            .find(&format!(
                "create or replace secure external function ml_connector.syspro.{name}"
            ))
            .expect(name);
        let ddl = &sql[start..start + sql[start..].find(";\n").unwrap()];
        assert!(
            ddl.contains("returns variant") && ddl.contains("volatile"),
            "{name}"
        );
        assert!(
            ddl.contains("headers = ('mlc-secret' = '<MLC_SERVER__SECRET>')"),
            "{name}"
        );
        assert!(
            ddl.contains(&format!(
                "as 'https://<api-id>.execute-api.<region>.amazonaws.com/<stage>{path}'"
            )),
            "{name}"
        );
        assert_eq!(ddl.contains("max_batch_rows = 1"), batch_of_one, "{name}");
    }
}

#[test]
fn record_keys_join_every_key_column_in_order() {
    let table = builtin_tables()
        .into_iter()
        .find(|t| t.name == "PorMasterDetail")
        .unwrap();
    assert_eq!(
        record_key_expression(&table),
        "coalesce(item.value:\"PurchaseOrder\"::varchar, '')\n    || '|' || coalesce(item.value:\"Line\"::varchar, '')"
    );
}

#[test]
fn slugs_are_snake_case() {
    assert_eq!(snake_case("ApInvoice"), "ap_invoice");
    assert_eq!(snake_case("GenJournalDetail"), "gen_journal_detail");
    assert_eq!(snake_case("MStockCode"), "m_stock_code");
    assert_eq!(snake_case("MthInvBal1"), "mth_inv_bal1");
}

#[test]
fn binds_are_found_outside_paths_casts_and_literals() {
    let sql = "select p.page:rows, x::varchar, ':no' from t -- :nor\nwhere a = :run_id and b = :page_number and c = :run_id";
    assert_eq!(bind_names(sql), vec!["run_id", "page_number"]);
    let (positional, names) = to_positional(sql);
    assert!(positional.ends_with("where a = ? and b = ? and c = ?"));
    assert_eq!(names, vec!["run_id", "page_number", "run_id"]);
}

#[test]
fn statements_bind_only_what_the_procedures_declare() {
    let known = [
        "run_id",
        "run_kind",
        "company_id",
        "table_name",
        "poll_id",
        "since",
        "page_number",
        "page_cursor",
        "page",
        "rows_inserted",
        "rows_updated",
        "rows_deleted",
        "run_status",
        "error_kind",
        "error_message",
        "until_day",
        "period_from",
        "period_to",
        "period",
        "repull_run_id",
        "range_months",
        "pages",
        "batch_number",
    ];
    for (name, text) in render_statements(&SqlSettings::default(), &builtin_tables()) {
        for bind in bind_names(&text) {
            assert!(
                known.contains(&bind.as_str()),
                "{name} binds unknown :{bind}"
            );
        }
    }
}

#[test]
fn tables_with_open_items_or_dependents_get_a_key_refresh() {
    let tables = builtin_tables();
    let statements = render_statements(&SqlSettings::default(), &tables);
    let with_refresh: Vec<&str> = tables
        .iter()
        .filter(|t| statements.contains_key(&format!("collect_refresh_keys__{}", t.slug())))
        .map(|t| t.name.as_str())
        .collect();
    for name in [
        "ApInvoice",
        "PorMasterHdr",
        "GenJournalDetail",
        "GrnDetails",
    ] {
        assert!(with_refresh.contains(&name), "{name} has open items");
    }
    assert_eq!(with_refresh.len(), 4);
    let ap = &statements["collect_refresh_keys__ap_invoice"];
    // open here but not in the open-items poll
    assert!(ap.contains("(target.record:\"MthInvBal1\"::number(38, 10) is null or target.record:\"MthInvBal1\"::number(38, 10) <> 0)"));
    assert!(ap.contains("where records.poll_id = :poll_id"));
    // parents of new payments
    assert!(ap.contains("from ml_connector.syspro.syspro__ap_invoice_pay as child"));
    assert!(ap.contains("object_construct('Supplier', child.record:\"Supplier\", 'Invoice', child.record:\"Invoice\")"));
    let gl = &statements["collect_refresh_keys__gen_journal_detail"];
    assert!(gl.contains("EntryPosted") && !gl.contains(" as child"));

    let sql = setup();
    let body = |name: &str| {
        let start = sql
            .find(&format!("procedure ml_connector.syspro.{name}("))
            .unwrap();
        sql[start..start + sql[start..].find("$$;").unwrap()].to_string()
    };
    let ap_sync = body("sync_syspro__ap_invoice");
    assert!(ap_sync.contains("ml_connector.syspro.syspro_pull_open(iff(:company_id = '', :table_name, :company_id || '.' || :table_name), :page_cursor)"));
    assert!(ap_sync.contains(
        "ml_connector.syspro.syspro_pull_keys(iff(:company_id = '', :table_name, :company_id || '.' || :table_name), batch.key_array, :page_cursor)"
    ));
    let supplier_sync = body("sync_syspro__ap_supplier");
    assert!(
        !supplier_sync.contains("syspro_pull_open") && !supplier_sync.contains("syspro_pull_keys")
    );
    for table in &tables {
        let verify = body(&format!("verify_syspro__{}", table.slug()));
        assert!(verify.contains("syspro_digests(iff(:company_id = '', :table_name, :company_id || '.' || :table_name), :page_cursor)"));
        assert!(verify.contains("syspro_pull_keys(iff(:company_id = '', :table_name, :company_id || '.' || :table_name), batch.key_array, :page_cursor)"));
    }
}

#[test]
fn handlers_roll_back_only_a_transaction_their_procedure_opened() {
    let sql = setup();
    for (start, _) in sql.match_indices("create or replace procedure ") {
        let body = &sql[start..start + sql[start..].find("$$;").unwrap()];
        let name = body.split('(').next().unwrap();
        if !name.contains("sync_syspro__") {
            continue;
        }
        let handler = &body[body.find("\nexception\n").expect(name)..];
        assert!(
            handler.contains("if (in_transaction) then\n            rollback;"),
            "{name}: an unguarded rollback in its handler"
        );
        assert!(body.contains("in_transaction := true;"), "{name}");
        assert!(body.contains("in_transaction := false;"), "{name}");
    }
}

#[test]
fn verify_groups_are_seeded_and_scheduled() {
    let sql = setup();
    assert!(sql.contains("'InvMovements' as table_name"));
    let seed_of = |table: &str| {
        let start = sql.find(&format!("'{table}' as table_name")).unwrap();
        let end = start + sql[start..].find(" as verify_group").unwrap();
        sql[start..end].rsplit('\'').nth(1).unwrap().to_string()
    };
    assert_eq!(seed_of("InvMovements"), "weekly");
    assert_eq!(seed_of("ApInvoicePay"), "weekly");
    assert_eq!(seed_of("ApInvoice"), "nightly");
    assert_eq!(seed_of("ApSupplier"), "nightly");
    assert!(sql.contains("schedule = 'USING CRON 0 3 * * * UTC'"));
    assert!(sql.contains("call ml_connector.syspro.verify_syspro_group('weekly');"));
}

#[test]
fn a_dependent_must_map_every_parent_key() {
    let mut tables = builtin_tables();
    let ap = tables.iter_mut().find(|t| t.name == "ApInvoice").unwrap();
    ap.refreshed_by[0].keys.truncate(1);
    assert!(validate(&SqlSettings::default(), &tables).is_err());
}

#[test]
fn validation_rejects_what_would_break_the_sql() {
    let tables = builtin_tables();
    assert_eq!(validate(&SqlSettings::default(), &tables), Ok(()));
    let bad = SqlSettings {
        database: "x; drop".into(),
        ..SqlSettings::default()
    };
    assert!(validate(&bad, &tables).is_err());
    let mut dup = tables.clone();
    dup.push(tables[0].clone());
    assert!(validate(&SqlSettings::default(), &dup).is_err());
    assert!(validate(&SqlSettings::default(), &[]).is_err());
}

#[test]
fn companies_get_their_control_rows_and_the_entry_points_resolve_qualified_names() {
    let settings = SqlSettings {
        companies: vec!["EDU1".into(), "UK1".into()],
        ..SqlSettings::default()
    };
    let tables = builtin_tables();
    assert_eq!(validate(&settings, &tables), Ok(()));
    let sql = render_setup(&settings, &tables);
    // one seed row per company × table; companies no longer listed stop syncing
    for company in ["EDU1", "UK1"] {
        assert_eq!(
            sql.matches(&format!("'{company}' as company_id")).count(),
            tables.len()
        );
    }
    assert!(!sql.contains("'' as company_id"));
    assert!(sql.contains("and control.company_id not in ('EDU1', 'UK1');"));
    // the single company by default, seeded as ''
    let single = setup();
    assert_eq!(single.matches("'' as company_id").count(), tables.len());
    assert!(single.contains("and control.company_id not in ('');"));
    // every entry point that takes a table name resolves it (qualified, or the single company's)
    for entry in [
        "sync_syspro_table",
        "verify_syspro_table",
        "reconcile_syspro_table",
        "backfill_syspro_table",
    ] {
        let body = sql
            .split(&format!("procedure ml_connector.syspro.{entry}("))
            .nth(1)
            .unwrap()
            .split("\n$$;")
            .next()
            .unwrap();
        assert!(
            body.contains("upper(split_part(:table_name, '.', 1))"),
            "{entry}"
        );
        assert!(
            body.contains("execute immediate :ambiguous_block;"),
            "{entry}"
        );
        assert!(body.contains("(:run_id, :company_id"), "{entry}");
    }
    // the groups run every company, company by company, each table in name order
    assert!(sql.contains("order by control.company_id, control.table_name"));
    // the per-table procedures take the company; their signatures from before are dropped
    for table in &tables {
        let slug = table.slug();
        assert!(sql.contains(&format!(
            "procedure ml_connector.syspro.sync_syspro__{slug}(run_id varchar, company_id varchar)"
        )));
        for old in [
            format!("sync_syspro__{slug}(varchar)"),
            format!("verify_syspro__{slug}(varchar)"),
            format!("replay_syspro_poll__{slug}(varchar, varchar)"),
            format!("repull_syspro_range__{slug}(varchar, varchar, varchar)"),
            format!("reconcile_syspro__{slug}(varchar, varchar, varchar)"),
            format!("backfill_syspro__{slug}(varchar, varchar, integer)"),
        ] {
            assert!(
                sql.contains(&format!(
                    "drop procedure if exists ml_connector.syspro.{old};"
                )),
                "{old}"
            );
        }
    }
    for bad in [
        vec![],
        vec!["uk1".to_string()],
        vec!["UK-1".to_string()],
        vec!["A".repeat(21)],
        vec!["UK1".to_string(), "UK1".to_string()],
    ] {
        let settings = SqlSettings {
            companies: bad.clone(),
            ..SqlSettings::default()
        };
        assert!(validate(&settings, &tables).is_err(), "{bad:?}");
    }
}
