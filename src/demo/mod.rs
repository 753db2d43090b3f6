//! `ml-connector demo`: the whole pull-mode flow on this machine, with no credentials, services or
//! network. It starts the embedded SYSPRO simulator and the real service (`Application::build` on
//! port 0 with a generated secret), then plays the Snowflake side the way `sql/` does — a Task's
//! calls to `SYSPRO_PULL` following `next_cursor`, landing, dedupe + MERGE into current-state tables
//! with soft deletes, audit rows, the watermark advanced only after the MERGE, and `SYSPRO_KEYS`
//! for hard deletes — against an in-memory SQLite database, over a few days of simulated postings
//! with a bout of SYSPRO faults. It ends with the audit trail, the reports of `sql/80_views`, and a
//! self-check that the store equals SYSPRO's records.

pub mod caller;
mod render;
mod reports;
mod store;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use mlc_simulator::{FaultKind, MutationPlan, MutationReport, SimOptions, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::startup::Application;
use caller::SnowflakeCaller;
use render::{Align, TextTable, clip, count};
use store::{Control, PageAudit, Store};

/// The tables the demo syncs: what the three reports read, plus receipts and movements.
const TABLES: &[&str] = &[
    "ApSupplier",
    "ApInvoice",
    "GrnDetails",
    "InvMovements",
    "InvWarehouse",
];
/// The control table's `overlap_days` (the product's default).
const OVERLAP_DAYS: u32 = 3;
const CYCLES: u32 = 4;
/// The cycle in which the simulator injects faults.
const FAULT_CYCLE: u32 = 3;
/// Attempts per SYSPRO read in the demo's service (the product's default is 6).
const MAX_ATTEMPTS: u32 = 3;
/// Rows per page: small, so that pulls take several pages as real ones do.
const PAGE_ROWS: usize = 400;

/// The demo prints its own progress; the service it embeds logs to stderr only when `MLC_LOG`
/// (or `RUST_LOG`) asks for it, e.g. `MLC_LOG=info ml-connector demo`.
pub fn init_logging() {
    if std::env::var_os("MLC_LOG").is_some() || std::env::var_os("RUST_LOG").is_some() {
        crate::telemetry::init(crate::config::LogFormat::Text);
    }
}

/// How the demo ended.
pub struct Outcome {
    pub runs: usize,
    pub failed_runs: usize,
}

/// Runs the demo, printing as it goes; an error means the demo itself is broken (its self-check
/// failed or the service misbehaved), never that a simulated SYSPRO fault happened.
pub async fn run() -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let out = &mut std::io::stdout();
    let sim = Simulator::new(SimOptions {
        seed: 2026,
        ap_invoice_rows: Some(1_200),
        ..SimOptions::default()
    });
    let sim_server = sim
        .start("127.0.0.1:0")
        .await
        .context("cannot start the embedded SYSPRO simulator on 127.0.0.1")?;

    // The real service, configured only through its settings, with a secret nobody sees.
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let env = vec![
        ("MLC_SERVER__LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("MLC_SERVER__SECRET".into(), secret.clone()),
        ("MLC_SYSPRO__ODATA_URL".into(), sim_server.odata_url()),
        ("MLC_SYSPRO__USER".into(), sim.options().user.clone()),
        (
            "MLC_SYSPRO__PASSWORD".into(),
            sim.options().password.clone(),
        ),
        ("MLC_SYSPRO__PAGE_ROWS".into(), PAGE_ROWS.to_string()),
        ("MLC_SYSPRO__MAX_ATTEMPTS".into(), MAX_ATTEMPTS.to_string()),
        ("MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS".into(), "50".into()),
        ("MLC_SYSPRO__RETRY_MAX_BACKOFF_MS".into(), "200".into()),
        ("MLC_SYSPRO__RETRY_DEADLINE_SECS".into(), "10".into()),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS".into(), "10".into()),
    ];
    let settings = Settings::load_from(None, env).context("the demo's own settings")?;
    let app = Application::build(&settings).context("cannot start the service")?;
    let service_url = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    let caller = SnowflakeCaller::new(&service_url, SecretString::from(secret))?;

    let catalog = Catalog::built_in();
    let controls = TABLES
        .iter()
        .map(|t| {
            let def = catalog.get(t).expect("a built-in table");
            Control {
                table_name: def.name.clone(),
                key_columns: def.key_columns.clone(),
                watermark_column: def.watermark_column.clone(),
                overlap_days: OVERLAP_DAYS,
            }
        })
        .collect();
    let mut store = Store::open(controls).context("cannot create the in-memory SQLite store")?;

    writeln!(
        out,
        "ml-connector demo: SYSPRO → ml-connector → Snowflake, all on this machine\n"
    )?;
    writeln!(
        out,
        "  SYSPRO     embedded simulator of an electronics distributor (company {}, three warehouses)",
        sim.options().company
    )?;
    writeln!(out, "             {}", sim_server.odata_url())?;
    writeln!(
        out,
        "  service    ml-connector serve (pull mode) at {service_url}, with a generated shared secret"
    )?;
    writeln!(
        out,
        "  Snowflake  stand-in: SQLite in memory with sql/'s tables; each sync does what a Task's procedure does"
    )?;
    writeln!(
        out,
        "             (SYSPRO_PULL page by page, land, MERGE, audit, then advance the watermark; overlap {OVERLAP_DAYS} days)"
    )?;

    let mut demo = Demo {
        sim: &sim,
        caller: &caller,
        store: &mut store,
    };
    for cycle in 1..=CYCLES {
        if cycle > 1 {
            sim.advance_days(1);
            let report = post_a_day(&sim);
            writeln!(
                out,
                "\nSYSPRO posts business day {}:\n  {}",
                sim.business_date(),
                describe_mutations(&report)
            )?;
        }
        let what = match cycle {
            1 => "initial load (since NULL)".to_string(),
            FAULT_CYCLE => "SYSPRO misbehaves: 503 and a dropped connection on ApInvoice, 503s on every attempt for GrnDetails".to_string(),
            CYCLES => "recovery, then the delete-detection task (SYSPRO_KEYS)".to_string(),
            _ => "incremental".to_string(),
        };
        writeln!(
            out,
            "\nSync {cycle}/{CYCLES} at {}: {what}",
            sim.business_date()
        )?;
        for table in TABLES {
            if cycle == FAULT_CYCLE {
                match *table {
                    "ApInvoice" => {
                        sim.faults().push(FaultKind::Status(503));
                        sim.faults().push(FaultKind::Reset);
                    }
                    "GrnDetails" => {
                        for _ in 0..MAX_ATTEMPTS {
                            sim.faults().push(FaultKind::Status(503));
                        }
                    }
                    _ => {}
                }
            }
            let line = demo.sync(cycle, table).await?;
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        sim.faults().clear();
        if cycle == CYCLES {
            for table in TABLES {
                let line = demo.detect_deletes(cycle, table).await?;
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
    }

    // The audit trail.
    let runs = store.runs()?;
    writeln!(
        out,
        "\nAudit trail (audit_syspro__runs: one row per run; the watermark moves only after a successful MERGE)"
    )?;
    write!(out, "{}", render_runs(&runs))?;
    let faulted: Vec<String> = runs
        .iter()
        .filter(|r| r.faults > 0 && r.status == "succeeded")
        .map(|r| format!("sync {} {}", r.cycle, r.table_name))
        .collect();
    if !faulted.is_empty() {
        writeln!(
            out,
            "  faults = SYSPRO failures the simulator injected; the service retried them ({} succeeded anyway).",
            faulted.join(", ")
        )?;
    }
    for r in runs.iter().filter(|r| r.status == "failed") {
        writeln!(
            out,
            "  sync {} {} failed: {} — {}\n    its watermark stayed at {}, so the next run re-read those days.",
            r.cycle,
            r.table_name,
            r.error_kind.as_deref().unwrap_or("error"),
            clip(r.error_message.as_deref().unwrap_or(""), 160),
            r.stored_high_water.as_deref().map(day).unwrap_or("(none)")
        )?;
    }

    // The reports.
    let today = sim.business_date();
    let aging = reports::ap_aging(store.conn(), today)?;
    let spend = reports::spend_by_supplier(store.conn())?;
    let stock = reports::stock_by_warehouse(store.conn())?;
    writeln!(out, "\n{}", reports::render_aging(&aging, today))?;
    writeln!(out, "{}", reports::render_spend(&spend, today))?;
    writeln!(out, "{}", reports::render_stock(&stock))?;

    // The self-check: the store holds exactly SYSPRO's records, and the reports' totals are
    // SYSPRO's totals computed independently.
    let mut checked = 0usize;
    for table in TABLES {
        checked += verify_table(&store, &sim, table)?;
    }
    let expected = reports::totals_from_syspro(
        &sim.expected_records("ApInvoice"),
        &sim.expected_records("InvWarehouse"),
    )
    .context("SYSPRO's records have unparseable amounts")?;
    let (ap, sp, stock_value) = reports::totals_from_reports(&aging, &spend, &stock);
    if ap != expected.ap_balance || sp != expected.spend {
        bail!(
            "demo self-check failed: report totals differ from SYSPRO's (AP {ap:?} vs {:?}, spend {sp:?} vs {:?})",
            expected.ap_balance,
            expected.spend
        );
    }
    let exact_stock = expected.stock_value_e11 as f64 / 1e11;
    if (stock_value - exact_stock).abs() > 0.01 {
        bail!("demo self-check failed: stock value {stock_value:.2} vs SYSPRO's {exact_stock:.2}");
    }
    let (landed, failed_runs) = (
        store.landed_count()?,
        runs.iter().filter(|r| r.status == "failed").count(),
    );
    writeln!(
        out,
        "Self-check ✔ the store equals SYSPRO's records for all {} tables ({} current rows; {} records landed in {} runs), and the report totals equal SYSPRO's.",
        TABLES.len(),
        count(checked as u64),
        count(landed),
        runs.len()
    )?;
    writeln!(
        out,
        "Done in {:.1} s.\n\nNext: point it at your SYSPRO (MLC_SYSPRO__ODATA_URL, MLC_SYSPRO__USER, MLC_SYSPRO__PASSWORD; every key in\ndeploy/config.example.toml) and run `ml-connector check`; then `ml-connector sql` prints the Snowflake side. See README.md.",
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;

    server.abort();
    sim_server.stop().await;
    Ok(Outcome {
        runs: runs.len(),
        failed_runs,
    })
}

/// One simulated business day at the distributor: invoices posted and paid, goods received,
/// stock moved, a few late (back-dated) postings and a couple of purges.
fn post_a_day(sim: &Simulator) -> MutationReport {
    let plan = |inserts, updates, backdated, deletes, tables: &[&str]| MutationPlan {
        inserts,
        updates,
        backdated,
        deletes,
        backdate_max_days: OVERLAP_DAYS,
        tables: Some(tables.iter().map(|t| t.to_string()).collect()),
    };
    let mut report = sim.mutate(&plan(40, 25, 6, 1, &["ApInvoice"]));
    for p in [
        plan(15, 3, 3, 0, &["GrnDetails"]),
        plan(60, 0, 5, 0, &["InvMovements"]),
        plan(2, 30, 0, 1, &["InvWarehouse"]),
    ] {
        report.tables.extend(sim.mutate(&p).tables);
    }
    report
}

fn describe_mutations(report: &MutationReport) -> String {
    let mut parts = Vec::new();
    for table in TABLES {
        if let Some(m) = report.tables.get(*table) {
            let mut bits = vec![format!("+{} new", m.inserted.len())];
            if !m.updated.is_empty() {
                bits.push(format!("{} changed", m.updated.len()));
            }
            if !m.deleted.is_empty() {
                bits.push(format!("{} deleted", m.deleted.len()));
            }
            parts.push(format!("{table} {}", bits.join(", ")));
        }
    }
    parts.join("; ")
}

struct Demo<'a> {
    sim: &'a Simulator,
    caller: &'a SnowflakeCaller,
    store: &'a mut Store,
}

impl Demo<'_> {
    /// `sync_syspro__<table>`: pull every page since the watermark, land, MERGE, advance.
    async fn sync(&mut self, cycle: u32, table: &str) -> anyhow::Result<String> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let started = Instant::now();
        let faults_before = self.sim.faults().counters().injected;
        let (since, _stored) = self.store.start_run(&run_id, cycle, "sync", table)?;
        let mut cursor = Value::Null;
        let mut page_number = 0u32;
        let mut pulled = 0usize;
        let poll_id = loop {
            page_number += 1;
            let v = self
                .caller
                .call("/v1/pull", vec![json!(table), json!(since), cursor.clone()])
                .await?;
            if let Some(err) = v.get("error") {
                let kind = err["kind"].as_str().unwrap_or("error").to_string();
                let message = err["message"].as_str().unwrap_or("").to_string();
                let attempts = err["attempts"].as_u64();
                self.store.audit_page(
                    &run_id,
                    table,
                    &PageAudit {
                        page_number,
                        requested_since: since.clone(),
                        requested_cursor: !cursor.is_null(),
                        error_kind: Some(kind.clone()),
                        error_message: Some(message.clone()),
                        error_attempts: attempts,
                        ..Default::default()
                    },
                )?;
                let faults = self.sim.faults().counters().injected - faults_before;
                let secs = started.elapsed().as_secs_f64();
                self.store.finish_run(
                    &run_id,
                    table,
                    (0, 0, 0),
                    "failed",
                    Some((&kind, &message)),
                    faults,
                    secs,
                )?;
                return Ok(format!(
                    "  ✘ {table:<13} failed after {} attempts: {kind}; watermark kept at {}",
                    attempts.unwrap_or(0),
                    self.store
                        .high_water(table)?
                        .as_deref()
                        .map(day)
                        .unwrap_or("(none)")
                ));
            }
            let rows = v["rows"].as_array().cloned().unwrap_or_default();
            let poll_id = v["poll_id"].as_str().unwrap_or_default().to_string();
            let fetched_at = v["fetched_at"].as_str().unwrap_or_default().to_string();
            self.store.audit_page(
                &run_id,
                table,
                &PageAudit {
                    poll_id: Some(poll_id.clone()),
                    page_number,
                    requested_since: since.clone(),
                    requested_cursor: !cursor.is_null(),
                    row_count: rows.len(),
                    high_water: v["high_water"].as_str().map(str::to_string),
                    next_cursor: !v["next_cursor"].is_null(),
                    fetched_at: Some(fetched_at.clone()),
                    ..Default::default()
                },
            )?;
            self.store
                .land_page(&run_id, table, &poll_id, page_number, &fetched_at, &rows)?;
            pulled += rows.len();
            cursor = v["next_cursor"].clone();
            if cursor.is_null() {
                break poll_id;
            }
            if page_number > 10_000 {
                bail!("{table}: the pull did not end after 10,000 pages");
            }
        };
        let (inserted, updated, new_hw) = self.store.merge_and_advance(&run_id, table, &poll_id)?;
        let faults = self.sim.faults().counters().injected - faults_before;
        let secs = started.elapsed().as_secs_f64();
        self.store.finish_run(
            &run_id,
            table,
            (inserted, updated, 0),
            "succeeded",
            None,
            faults,
            secs,
        )?;
        let from = match &since {
            Some(s) => format!("since {s}"),
            None if self.store.control(table).watermark_column.is_some() => "since NULL".into(),
            None => "whole (snapshot)".into(),
        };
        Ok(format!(
            "  ✔ {table:<13} {from:<17} {pages:>2} page{s} {pulled:>6} rows {inserted:>6} new {updated:>4} changed  watermark {hw:<10} {secs:>5.2} s{retried}",
            pages = page_number,
            s = if page_number == 1 { " " } else { "s" },
            pulled = count(pulled as u64),
            inserted = count(inserted),
            updated = count(updated),
            hw = new_hw.as_deref().map(day).unwrap_or("—"),
            retried = if faults > 0 {
                format!("  ({faults} SYSPRO faults retried)")
            } else {
                String::new()
            }
        ))
    }

    /// `detect_syspro_deletes__<table>`: every key via `SYSPRO_KEYS`, then flag the missing ones.
    async fn detect_deletes(&mut self, cycle: u32, table: &str) -> anyhow::Result<String> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let started = Instant::now();
        self.store
            .start_run(&run_id, cycle, "detect_deletes", table)?;
        let mut cursor = Value::Null;
        let mut page_number = 0u32;
        let mut seen = 0usize;
        loop {
            page_number += 1;
            let v = self
                .caller
                .call("/v1/keys", vec![json!(table), cursor.clone()])
                .await?;
            if let Some(err) = v.get("error") {
                let kind = err["kind"].as_str().unwrap_or("error").to_string();
                let message = err["message"].as_str().unwrap_or("").to_string();
                self.store.finish_run(
                    &run_id,
                    table,
                    (0, 0, 0),
                    "failed",
                    Some((&kind, &message)),
                    0,
                    started.elapsed().as_secs_f64(),
                )?;
                return Ok(format!("  ✘ {table:<13} key scan failed: {kind}"));
            }
            let keys = v["keys"].as_array().cloned().unwrap_or_default();
            self.store.audit_page(
                &run_id,
                table,
                &PageAudit {
                    page_number,
                    requested_cursor: !cursor.is_null(),
                    row_count: keys.len(),
                    next_cursor: !v["next_cursor"].is_null(),
                    fetched_at: v["fetched_at"].as_str().map(str::to_string),
                    ..Default::default()
                },
            )?;
            self.store.land_keys(&run_id, table, &keys)?;
            seen += keys.len();
            cursor = v["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
            if page_number > 10_000 {
                bail!("{table}: the key scan did not end after 10,000 pages");
            }
        }
        let deleted = self.store.mark_deleted(&run_id, table)?;
        let secs = started.elapsed().as_secs_f64();
        self.store
            .finish_run(&run_id, table, (0, 0, deleted), "succeeded", None, 0, secs)?;
        Ok(format!(
            "  ✔ {table:<13} {:<17} {page_number:>2} page{} {:>6} keys {deleted:>6} flagged deleted{:>33}{secs:>5.2} s",
            "key scan",
            if page_number == 1 { " " } else { "s" },
            count(seen as u64),
            ""
        ))
    }
}

/// `2026-11-21T00:00:00` → `2026-11-21`.
fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

fn render_runs(runs: &[store::RunRow]) -> String {
    let mut t = TextTable::new(&[
        ("#", Align::Right),
        ("run", Align::Left),
        ("table", Align::Left),
        ("since", Align::Left),
        ("watermark", Align::Left),
        ("pages", Align::Right),
        ("pulled", Align::Right),
        ("inserted", Align::Right),
        ("updated", Align::Right),
        ("deleted", Align::Right),
        ("faults", Align::Right),
        ("status", Align::Left),
        ("error", Align::Left),
        ("secs", Align::Right),
    ]);
    let mut last_cycle = 0;
    for r in runs {
        if r.cycle != last_cycle && last_cycle != 0 {
            t.rule();
        }
        last_cycle = r.cycle;
        let wm = match (&r.stored_high_water, &r.new_high_water) {
            (_, None) => "—".to_string(),
            (Some(a), Some(b)) if a == b => format!("{} (kept)", day(b)),
            (_, Some(b)) => format!("→ {}", day(b)),
        };
        t.row(vec![
            r.cycle.to_string(),
            if r.run_kind == "sync" {
                "sync".into()
            } else {
                "deletes".into()
            },
            r.table_name.clone(),
            match (&r.since, r.run_kind.as_str()) {
                (Some(s), _) => s.clone(),
                (None, "sync") => "NULL".into(),
                (None, _) => "".into(),
            },
            if r.run_kind == "sync" {
                wm
            } else {
                String::new()
            },
            r.pages.to_string(),
            count(r.rows_pulled),
            count(r.rows_inserted),
            count(r.rows_updated),
            count(r.rows_deleted),
            count(r.faults),
            r.status.clone(),
            r.error_kind.clone().unwrap_or_default(),
            format!("{:.2}", r.seconds),
        ]);
    }
    t.render(2)
}

/// The store's current rows of `table` equal SYSPRO's records, key by key. Returns the row count.
fn verify_table(store: &Store, sim: &Simulator, table: &str) -> anyhow::Result<usize> {
    let keys = &store.control(table).key_columns;
    let expected: BTreeMap<String, _> = sim
        .expected_records(table)
        .into_iter()
        .map(|r| (store::record_key(&r, keys), r))
        .collect();
    let actual: BTreeMap<String, _> = store.current_records(table)?.into_iter().collect();
    if actual == expected {
        return Ok(actual.len());
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(3)
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(3)
        .collect();
    let differ: Vec<&String> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .take(3)
        .collect();
    bail!(
        "demo self-check failed for {table}: store has {} rows, SYSPRO {}; missing {missing:?}, extra {extra:?}, different {differ:?}",
        actual.len(),
        expected.len()
    )
}
