//! `sync --once` cycles against the simulator and the SQL API stand-in: the Snowflake tables end
//! equal to SYSPRO's data, with complete audit rows, through mutations and faults on both sides.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ml_connector::snowflake::jwt::system_clock;
use ml_connector::sync::{CycleError, CycleReport, SyncEngine, build_engine};
use mlc_simulator::{FaultKind, MutationPlan, SimCompany, Simulator};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::harness::*;

/// Numbers compared by value: fakesnow's VARIANT (DuckDB JSON) drops trailing zeros (`0.00`
/// comes back `0.0`), which Snowflake's decimal VARIANT keeps.
fn by_value(v: Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Number(n)),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, by_value(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(by_value).collect()),
        other => other,
    }
}

/// Every catalog table's target equals the simulator's records, key for key, value for value.
async fn assert_in_sync(standin: &StandIn, sim: &Simulator, only: Option<&[&str]>) {
    assert_company_in_sync(standin, &sim.default_company(), "", only).await;
}

/// [`assert_in_sync`] for one company: the target's rows of `company_id` equal that simulated
/// company's records.
pub(crate) async fn assert_company_in_sync(
    standin: &StandIn,
    sim: &SimCompany,
    company_id: &str,
    only: Option<&[&str]>,
) {
    for table in ml_connector::sqlgen::builtin_tables() {
        if only.is_some_and(|o| !o.contains(&table.name.as_str())) {
            continue;
        }
        let rows = standin
            .query(&format!(
                "select record_key, record from ml_connector.syspro.syspro__{} where not is_deleted and company_id = '{company_id}'",
                table.slug()
            ))
            .await;
        let actual: BTreeMap<String, Value> = rows
            .into_iter()
            .map(|r| {
                let record = match &r[1] {
                    Value::String(s) => serde_json::from_str(s).unwrap(),
                    other => other.clone(),
                };
                (r[0].as_str().unwrap().to_string(), by_value(record))
            })
            .collect();
        let expected: BTreeMap<String, Value> = sim
            .expected_records(&table.name)
            .into_iter()
            .map(|r| {
                (
                    record_key(&r, &table.key_columns),
                    by_value(Value::Object(r)),
                )
            })
            .collect();
        assert_eq!(
            actual.len(),
            expected.len(),
            "{company_id}.{}: {} rows in Snowflake, {} in SYSPRO",
            table.name,
            actual.len(),
            expected.len()
        );
        for (key, record) in &expected {
            assert_eq!(
                actual.get(key),
                Some(record),
                "{company_id}.{} {key} differs",
                table.name
            );
        }
    }
}

/// Every run finished (succeeded or failed, never left running), its counts match its pages,
/// no page was audited twice and no work copy was left behind.
pub(crate) async fn assert_audit_complete(standin: &StandIn) {
    let running = standin
        .query("select run_id, table_name from ml_connector.syspro.audit_syspro__runs where status not in ('succeeded', 'failed') or finished_at is null")
        .await;
    assert!(running.is_empty(), "unfinished runs: {running:?}");
    let bad = standin
        .query(
            "select runs.run_id, runs.table_name, runs.pages, runs.rows_pulled, runs.status from ml_connector.syspro.audit_syspro__runs as runs \
             where runs.status = 'succeeded' and (runs.pages < 1 or (runs.run_kind = 'sync' and runs.poll_id is null) or runs.rows_inserted is null \
             or runs.rows_pulled <> (select coalesce(sum(p.row_count), 0) from ml_connector.syspro.audit_syspro__pages as p where p.run_id = runs.run_id) \
             or runs.pages <> (select count(*) from ml_connector.syspro.audit_syspro__pages as p where p.run_id = runs.run_id))",
        )
        .await;
    assert!(
        bad.is_empty(),
        "succeeded runs whose counts disagree with their pages: {bad:?}"
    );
    let failed = standin
        .query("select run_id from ml_connector.syspro.audit_syspro__runs where status = 'failed' and (error_kind is null or error_message is null)")
        .await;
    assert!(
        failed.is_empty(),
        "failed runs without a reason: {failed:?}"
    );
    let twice = standin
        .query("select run_id, page_number, count(*) from ml_connector.syspro.audit_syspro__pages group by run_id, page_number having count(*) > 1")
        .await;
    assert!(twice.is_empty(), "pages audited twice: {twice:?}");
    let left = standin
        .query("select count(*) from ml_connector.syspro.work_syspro__pages")
        .await;
    assert_eq!(
        left[0][0],
        json!(0),
        "work copies left in work_syspro__pages"
    );
}

async fn state(standin: &StandIn) -> Vec<Vec<Value>> {
    standin
        .query("select table_name, high_water, last_run_id from ml_connector.syspro.syspro_sync_state order by table_name")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_once_follows_syspro_through_mutations_and_faults() {
    let key = TestKey::generate();
    let standin = StandIn::start(StandInOptions {
        keys: vec![&key.public],
        partition_rows: 50,
        ..StandInOptions::default()
    })
    .await;
    standin.apply_setup().await;
    let syspro = start_syspro(11).await;
    let sim = &syspro.sim;
    // the encrypted key, decrypted once when the engine is built
    let settings = settings(env(&syspro, &standin.url, &key.encrypted, Some(PASSPHRASE)));
    let engine = build_engine(&settings, system_clock()).expect("engine builds");
    let (_tx, stop) = watch::channel(false);

    // 1. the first load
    for r in engine.run_once(&stop, false).await {
        let report = r.expect("first cycle succeeds");
        assert!(report.pages >= 1);
    }
    assert_in_sync(&standin, sim, None).await;
    let first_state = state(&standin).await;
    assert_eq!(first_state.len(), 13, "every table has a watermark row");

    // 2. SYSPRO changes; both sides fail now and then
    sim.mutate(&MutationPlan {
        inserts: 15,
        updates: 15,
        backdated: 8,
        deletes: 0,
        backdate_max_days: 2,
        tables: None,
    });
    sim.faults().set_rate(
        0.15,
        vec![
            FaultKind::Status(503),
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
            FaultKind::Reset,
        ],
    );
    for fault in [
        json!({"status": 503, "count": 2}),
        json!({"status": 429, "count": 1, "retry_after": 1}),
        json!({"status": 500, "when": "after", "count": 2}),
        json!({"status": 503, "path": "status", "count": 1}),
        json!({"status": 503, "when": "after", "match": "begin transaction", "count": 1}),
    ] {
        standin.ctl("faults", fault).await;
    }
    standin
        .ctl("async", json!({"count": 8, "delay_ms": 300}))
        .await;
    standin.ctl("reset-stats", json!({})).await;
    for r in engine.run_once(&stop, false).await {
        r.expect("the cycle succeeds through the faults");
    }
    let stats = standin.stats().await;
    assert!(stats["faults"].as_u64().unwrap() >= 6, "{stats}");
    assert!(
        stats["retries_answered_from_cache"].as_u64().unwrap() >= 3,
        "lost answers were resubmitted with retry=true: {stats}"
    );
    assert!(stats["accepted_202"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["polls"].as_u64().unwrap() >= 1, "{stats}");
    sim.faults().clear();
    assert_in_sync(&standin, sim, None).await;

    // 3. the next business day
    sim.advance_days(1);
    sim.mutate(&MutationPlan {
        inserts: 10,
        updates: 10,
        backdated: 5,
        deletes: 0,
        backdate_max_days: 3,
        tables: None,
    });
    for r in engine.run_once(&stop, false).await {
        r.expect("third cycle succeeds");
    }
    assert_in_sync(&standin, sim, None).await;
    assert_audit_complete(&standin).await;
    let runs = standin
        .query("select count(*) from ml_connector.syspro.audit_syspro__runs where status = 'succeeded'")
        .await;
    assert_eq!(runs[0][0], json!(39), "13 tables x 3 cycles");
    let landed = standin
        .query("select count(distinct poll_id) from ml_connector.syspro.raw_syspro__records")
        .await;
    assert!(landed[0][0].as_u64().unwrap() >= 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_cycle_is_audited_retried_and_keeps_the_watermark() {
    let rig = Rig::start(5).await;
    let (standin, sim) = (&rig.standin, &rig.syspro.sim);
    let engine = rig.engine("ApInvoice, ApSupplier", &[]);
    assert_eq!(engine.tables().len(), 2);
    let (_tx, stop) = watch::channel(false);
    for r in engine.run_once(&stop, false).await {
        r.unwrap();
    }
    let only: &[&str] = &["ApInvoice", "ApSupplier"];
    assert_in_sync(standin, sim, Some(only)).await;
    let before = state(standin).await;

    // SYSPRO down for longer than the retry budget: every attempt is audited as failed
    sim.mutate(&MutationPlan {
        inserts: 5,
        updates: 5,
        backdated: 0,
        deletes: 0,
        backdate_max_days: 1,
        tables: Some(vec!["ApInvoice".into(), "ApSupplier".into()]),
    });
    sim.faults().set_rate(1.0, vec![FaultKind::Status(500)]);
    for r in engine.run_once(&stop, false).await {
        let err = r.unwrap_err();
        assert_eq!(err.kind, "upstream_unavailable", "{err}");
        assert!(err.audited);
    }
    sim.faults().clear();
    assert_eq!(state(standin).await, before, "the watermark did not move");
    let failed = standin
        .query("select table_name, error_kind, error_message from ml_connector.syspro.audit_syspro__runs where status = 'failed'")
        .await;
    assert_eq!(failed.len(), 6, "3 attempts x 2 tables: {failed:?}");
    assert!(failed.iter().all(|r| r[1] == json!("upstream_unavailable")));

    // Snowflake refuses the MERGE: the transaction does not happen, the run says why
    standin
        .ctl(
            "faults",
            json!({"status": 422, "match": "merge into ml_connector.syspro.syspro__ap_invoice", "code": "100090",
                   "message": "Duplicate row detected during DML action", "count": 3}),
        )
        .await;
    let results = engine.run_once(&stop, false).await;
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind, "snowflake_error");
    assert!(
        err.message.contains("100090") && err.message.contains("Duplicate row"),
        "{err}"
    );
    results[1].as_ref().expect("ApSupplier is not affected");
    let after = state(standin).await;
    let ap = |s: &Vec<Vec<Value>>| s.iter().find(|r| r[0] == json!("ApInvoice")).cloned();
    assert_eq!(
        ap(&after),
        ap(&before),
        "ApInvoice's watermark did not move"
    );
    let msg = standin
        .query("select error_kind, error_message from ml_connector.syspro.audit_syspro__runs where status = 'failed' and error_kind = 'snowflake_error'")
        .await;
    assert_eq!(msg.len(), 3);
    assert!(msg[0][1].as_str().unwrap().contains("Duplicate row"));

    // and the next cycle catches up
    for r in engine.run_once(&stop, false).await {
        r.unwrap();
    }
    assert_in_sync(standin, sim, Some(only)).await;
    assert_audit_complete(standin).await;

    // a table disabled in the control table is skipped, as the group procedure skips it
    standin
        .query("update ml_connector.syspro.syspro_sync_control set is_enabled = false where table_name = 'ApInvoice'")
        .await;
    let runs_before = standin
        .query("select count(*) from ml_connector.syspro.audit_syspro__runs")
        .await;
    let results = engine.run_once(&stop, false).await;
    let skipped = results[0].as_ref().unwrap();
    assert!(skipped.skipped && skipped.pages == 0, "{skipped:?}");
    assert!(!results[1].as_ref().unwrap().skipped);
    let runs_after = standin
        .query("select count(*) from ml_connector.syspro.audit_syspro__runs")
        .await;
    assert_eq!(
        runs_after[0][0].as_u64().unwrap(),
        runs_before[0][0].as_u64().unwrap() + 1,
        "one run: ApSupplier's"
    );
    standin
        .query("update ml_connector.syspro.syspro_sync_control set is_enabled = true where table_name = 'ApInvoice'")
        .await;

    // a table missing from the control table is refused before anything is pulled
    standin
        .query(
            "delete from ml_connector.syspro.syspro_sync_control where table_name = 'ApSupplier'",
        )
        .await;
    let results = engine.run_once(&stop, false).await;
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.kind, "not_in_control");
    assert!(err.message.contains("ml-connector sql"), "{err}");
    assert!(!err.audited);
    results[0].as_ref().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_across_a_long_run() {
    let rig = Rig::start(3).await;
    let tables = ["ApInvoice", "GenJournalDetail", "InvMovements"];
    let engine = rig.engine(&tables.join(","), &[("MLC_SYNC__TOKEN_LIFETIME_SECS", "5")]);
    let (_tx, stop) = watch::channel(false);
    // slow statements stretch the run over several token lifetimes
    rig.standin
        .ctl("async", json!({"count": 12, "delay_ms": 500}))
        .await;
    let started = std::time::Instant::now();
    for r in engine.run_once(&stop, false).await {
        r.expect("no cycle fails for an expired token");
    }
    assert!(
        started.elapsed().as_secs() >= 4,
        "the run lasted {:?}",
        started.elapsed()
    );
    let minted = engine.sql().tokens().minted();
    let stats = rig.standin.stats().await;
    assert!(minted >= 3, "tokens minted: {minted}");
    assert!(stats["tokens_seen"].as_u64().unwrap() >= 3, "{stats}");
    assert_in_sync(&rig.standin, &rig.syspro.sim, Some(&tables)).await;
}

/// Runs one cycle in the background and asks it to stop 1.5 s in: the cycle's results, and how
/// long it took to end once asked.
async fn stop_mid_cycle(engine: SyncEngine) -> (Vec<Result<CycleReport, CycleError>>, Duration) {
    let (tx, stop) = watch::channel(false);
    let runner = tokio::spawn(async move { engine.run_once(&stop, false).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tx.send(true).unwrap();
    let asked = Instant::now();
    let results = tokio::time::timeout(Duration::from_secs(40), runner)
        .await
        .expect("the cycle ends once asked to stop")
        .unwrap();
    (results, asked.elapsed())
}

/// Every audited run, as (status, error kind).
async fn audited_runs(standin: &StandIn) -> Vec<Vec<Value>> {
    standin
        .query("select status, error_kind from ml_connector.syspro.audit_syspro__runs")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_cycle_at_a_step_boundary_and_audits_it() {
    let rig = Rig::start(9).await;
    let engine = rig.engine("ApInvoice", &[("MLC_SYSPRO__PAGE_ROWS", "100")]);
    rig.standin
        .ctl("async", json!({"count": 100, "delay_ms": 200}))
        .await;
    let (results, took) = stop_mid_cycle(engine).await;
    assert!(
        took.as_secs() < 30,
        "the engine stops promptly, took {took:?}"
    );
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind, "cancelled");
    assert!(err.audited);
    assert_eq!(
        audited_runs(&rig.standin).await,
        vec![vec![json!("failed"), json!("cancelled")]]
    );
    // pages commit one by one (as the procedure's): a cancelled run keeps what it committed,
    // and its watermark is never ahead of the rows merged
    let ahead = rig
        .standin
        .query(
            "select count(*) from ml_connector.syspro.syspro_sync_state as state \
             where state.table_name = 'ApInvoice' and (state.high_water > \
             (select max(target.watermark_value) from ml_connector.syspro.syspro__ap_invoice as target) \
             or (state.high_water is not null and not exists (select 1 from ml_connector.syspro.syspro__ap_invoice)))",
        )
        .await;
    assert_eq!(
        ahead[0][0],
        json!(0),
        "the watermark is behind the merged rows"
    );
    assert_audit_complete(&rig.standin).await;

    // and the next run goes on from there to a table equal to SYSPRO's
    let engine = rig.engine("ApInvoice", &[("MLC_SYSPRO__PAGE_ROWS", "100")]);
    let (_tx, stop) = watch::channel(false);
    for r in engine.run_once(&stop, false).await {
        r.unwrap();
    }
    assert_in_sync(&rig.standin, &rig.syspro.sim, Some(&["ApInvoice"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_still_busy_after_the_grace_period_is_abandoned_and_audited() {
    let rig = Rig::start(9).await;
    let engine = rig.engine("ApInvoice", &[("MLC_SYNC__SHUTDOWN_GRACE_SECS", "0")]);
    // start_run takes 30 s: the stop lands in the middle of it
    rig.standin
        .ctl(
            "async",
            json!({"count": 1, "delay_ms": 30000, "match": "insert into ml_connector.syspro.audit_syspro__runs"}),
        )
        .await;
    let (results, took) = stop_mid_cycle(engine).await;
    assert!(took.as_secs() < 15, "abandoned at once, took {took:?}");
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind, "abandoned", "{err:?}");
    assert_eq!(
        audited_runs(&rig.standin).await,
        vec![vec![json!("failed"), json!("abandoned")]]
    );
    assert!(err.audited);
}

/// AP open balance per invoice in Snowflake (`not is_deleted`, balance not zero) and in SYSPRO.
async fn open_invoices(
    standin: &StandIn,
    sim: &Simulator,
) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let balance = |v: &Value| v.to_string().trim_matches('"').parse::<f64>().unwrap();
    let rows = standin
        .query("select record_key, record from ml_connector.syspro.syspro__ap_invoice where not is_deleted")
        .await;
    let ours = rows
        .into_iter()
        .filter_map(|r| {
            let record: Value = match &r[1] {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                other => other.clone(),
            };
            let b = balance(&record["MthInvBal1"]);
            (b != 0.0).then(|| (r[0].as_str().unwrap().to_string(), b))
        })
        .collect();
    let keys = ["Supplier".to_string(), "Invoice".to_string()];
    let theirs = sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter_map(|r| {
            let b = balance(&r["MthInvBal1"]);
            (b != 0.0).then(|| (record_key(&r, &keys), b))
        })
        .collect();
    (ours, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_converges_on_changes_that_move_no_watermark_and_verify_makes_tables_equal() {
    const TABLES: &[&str] = &[
        "ApInvoice",
        "ApInvoicePay",
        "ApSupplier",
        "PorMasterHdr",
        "GrnDetails",
        "GenJournalDetail",
    ];
    let rig = Rig::start(23).await;
    let (standin, sim) = (&rig.standin, &rig.syspro.sim);
    let engine = rig.engine(&TABLES.join(","), &[]);
    let (_tx, stop) = watch::channel(false);
    for r in engine.run_once(&stop, false).await {
        r.expect("the first load succeeds");
    }
    for day in 1..=3 {
        sim.advance_days(1);
        let report = sim.business_day(&mlc_simulator::BusinessDayPlan {
            tables: Some(TABLES.iter().map(|t| t.to_string()).collect()),
            ..Default::default()
        });
        assert!(
            !report.tables["ApInvoice"].updated.is_empty(),
            "day {day}: a payment run on old invoices"
        );
        for r in engine.run_once(&stop, false).await {
            r.expect("the cycle succeeds");
        }
        let (ours, theirs) = open_invoices(standin, sim).await;
        assert_eq!(
            ours, theirs,
            "day {day}: AP open items equal SYSPRO's after the cycle"
        );
    }
    // the verify makes every table equal, deletes flagged
    let results = engine.run_once(&stop, true).await;
    let verifies: Vec<CycleReport> = results
        .into_iter()
        .map(|r| r.expect("every run succeeds"))
        .filter(|r| r.kind == ml_connector::sync::RunKind::Verify)
        .collect();
    assert_eq!(verifies.len(), TABLES.len());
    assert_in_sync(standin, sim, Some(TABLES)).await;
    assert_audit_complete(standin).await;
    // a verify of unchanged tables re-pulls nothing
    let again = engine.run_once(&stop, true).await;
    for r in again {
        let r = r.expect("every run succeeds");
        if r.kind == ml_connector::sync::RunKind::Verify {
            assert_eq!(
                (r.keys_refreshed, r.rows_deleted),
                (0, 0),
                "{}: {r:?}",
                r.table
            );
        }
    }
}

/// How many SQL API requests push mode sent, and how many pages a run committed.
async fn requests_and_pages(standin: &StandIn, run_id: &str) -> (u64, u64) {
    let stats = standin.stats().await;
    let pages = standin
        .query(&format!(
            "select count(*) from ml_connector.syspro.audit_syspro__pages where run_id = '{run_id}'"
        ))
        .await;
    (
        stats["requests"].as_u64().expect("requests counted"),
        count(&pages[0][0]),
    )
}

/// The stand-in answers numbers as strings (jsonv2).
fn count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Issue #18: a committed page costs two SQL API requests (the page bound into the buffer; one
/// multi-statement request that lands, merges, counts the MERGE and advances the watermark), and
/// the run's audit row still says what its MERGEs inserted and updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_costs_two_requests_and_the_run_counts_what_its_merges_did() {
    let rig = Rig::start(13).await;
    let (standin, sim) = (&rig.standin, &rig.syspro.sim);
    // a watermark table without a key refresh: its runs are the page loop and nothing else
    let engine = rig.engine("InvMovements", &[("MLC_SYSPRO__PAGE_ROWS", "40")]);
    let (_tx, stop) = watch::channel(false);
    let run = |stop| {
        let engine = &engine;
        async move {
            standin.ctl("reset-stats", json!({})).await;
            let mut reports = engine.run_once(stop, false).await;
            let report = reports
                .pop()
                .expect("one table")
                .expect("the cycle succeeds");
            let (requests, pages) = requests_and_pages(standin, &report.run_id).await;
            let counts = standin
                .query(&format!(
                    "select rows_inserted, rows_updated, rows_pulled from ml_connector.syspro.audit_syspro__runs where run_id = '{}'",
                    report.run_id
                ))
                .await;
            (
                requests,
                pages,
                counts[0].iter().map(count).collect::<Vec<_>>(),
            )
        }
    };

    let (first_requests, first_pages, first_counts) = run(&stop).await;
    let loaded = standin
        .query("select count(*) from ml_connector.syspro.syspro__inv_movements")
        .await;
    assert!(
        first_pages >= 5,
        "the first load spans pages: {first_pages}"
    );
    assert_eq!(
        first_counts[0],
        count(&loaded[0][0]),
        "the first load inserted every row it loaded"
    );
    assert_eq!(first_counts[1], 0, "nothing to update on a first load");

    sim.mutate(&MutationPlan {
        inserts: 3,
        updates: 0,
        backdated: 0,
        deletes: 0,
        backdate_max_days: 1,
        tables: Some(vec!["InvMovements".into()]),
    });
    let (next_requests, next_pages, next_counts) = run(&stop).await;
    assert!(next_pages < first_pages);
    assert_eq!(next_counts[0], 3, "the three new movements, and only them");
    assert_eq!(
        first_requests - next_requests,
        2 * (first_pages - next_pages),
        "every page beyond a run's fixed steps costs exactly two requests \
         ({first_requests} requests for {first_pages} pages, {next_requests} for {next_pages})"
    );
    assert_in_sync(standin, sim, Some(&["InvMovements"])).await;
}
