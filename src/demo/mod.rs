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
use mlc_simulator::{BusinessDayPlan, FaultKind, MutationReport, SimOptions, Simulator};
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
        catalog: &catalog,
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
            if let Some(line) = describe_payment_run(&sim, &report) {
                writeln!(out, "  {line}")?;
            }
        }
        let what = match cycle {
            1 => "initial load (since NULL)".to_string(),
            FAULT_CYCLE => "SYSPRO misbehaves: 503 and a dropped connection on ApInvoice, 503s on every attempt for GrnDetails".to_string(),
            CYCLES => "recovery, then the nightly verify task (SYSPRO_DIGESTS)".to_string(),
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
        writeln!(out, "{}", demo.ap_balance_line()?)?;
        if cycle == CYCLES {
            for table in TABLES {
                let line = demo.verify(cycle, table).await?;
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

/// One simulated business day at the distributor, as SYSPRO has them: invoices posted and a
/// payment run over invoices of any age, goods received and matched, stock moved, postings
/// back-dated beyond the overlap window, purges — most changes moving no watermark date.
fn post_a_day(sim: &Simulator) -> MutationReport {
    sim.business_day(&BusinessDayPlan {
        tables: Some(TABLES.iter().map(|t| t.to_string()).collect()),
        new_invoices: 40,
        new_receipts: 15,
        new_movements: 60,
        ..BusinessDayPlan::default()
    })
}

/// "payment run: 31 invoices paid, posted 12 to 170 days ago" — the changes a date watermark
/// cannot see.
fn describe_payment_run(sim: &Simulator, report: &MutationReport) -> Option<String> {
    let changed = &report.tables.get("ApInvoice")?.updated;
    if changed.is_empty() {
        return None;
    }
    let keys = ["Supplier".to_string(), "Invoice".to_string()];
    let wanted: std::collections::BTreeSet<String> = changed
        .iter()
        .map(|k| store::record_key(k, &keys))
        .collect();
    let today = sim.business_date();
    let ages: Vec<i64> = sim
        .expected_records("ApInvoice")
        .iter()
        .filter(|r| wanted.contains(&store::record_key(r, &keys)))
        .filter_map(|r| {
            r.get("JournalDate")?
                .as_str()?
                .get(..10)?
                .parse::<chrono::NaiveDate>()
                .ok()
        })
        .map(|d| (today - d).num_days())
        .collect();
    let (lo, hi) = (ages.iter().min()?, ages.iter().max()?);
    Some(format!(
        "payment run: {} invoices paid, posted {lo} to {hi} days ago — their JournalDate does not move, so only the open-items re-read finds them",
        changed.len()
    ))
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
    catalog: &'a Catalog,
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
            let digests = v["digests"].as_array().cloned().unwrap_or_default();
            self.store.land_page(
                &run_id,
                table,
                &poll_id,
                page_number,
                &fetched_at,
                &rows,
                &digests,
            )?;
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
        let pull_pages = page_number;
        let open = match self.open_items(&run_id, table, &mut page_number).await? {
            Ok(line) => line,
            Err((kind, message)) => {
                let faults = self.sim.faults().counters().injected - faults_before;
                self.store.finish_run(
                    &run_id,
                    table,
                    (inserted, updated, 0),
                    "failed",
                    Some((&kind, &message)),
                    faults,
                    started.elapsed().as_secs_f64(),
                )?;
                return Ok(format!(
                    "  ✘ {table:<13} watermark pull merged, open-items re-read failed: {kind}; the next sync re-reads them"
                ));
            }
        };
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
            pages = pull_pages,
            s = if pull_pages == 1 { " " } else { "s" },
            pulled = count(pulled as u64),
            inserted = count(inserted),
            updated = count(updated),
            hw = new_hw.as_deref().map(day).unwrap_or("—"),
            retried = if faults > 0 {
                format!("  ({faults} SYSPRO faults retried)")
            } else {
                String::new()
            }
        ) + &open)
    }

    /// Calls a paged function (its last argument the cursor) until the cursor ends, auditing
    /// each answer and landing its rows. The pages, or the service's error (kind, message).
    async fn follow(
        &mut self,
        run_id: &str,
        table: &str,
        path: &str,
        args: Vec<Value>,
        page_number: &mut u32,
    ) -> anyhow::Result<Result<Vec<Value>, (String, String)>> {
        let mut pages = Vec::new();
        let mut cursor = Value::Null;
        loop {
            *page_number += 1;
            let mut call = args.clone();
            call.push(cursor.clone());
            let v = self.caller.call(path, call).await?;
            if let Some(err) = v.get("error") {
                let kind = err["kind"].as_str().unwrap_or("error").to_string();
                let message = err["message"].as_str().unwrap_or("").to_string();
                self.store.audit_page(
                    run_id,
                    table,
                    &PageAudit {
                        page_number: *page_number,
                        requested_cursor: !cursor.is_null(),
                        error_kind: Some(kind.clone()),
                        error_message: Some(message.clone()),
                        error_attempts: err["attempts"].as_u64(),
                        ..Default::default()
                    },
                )?;
                return Ok(Err((kind, message)));
            }
            let rows = v["rows"].as_array().cloned().unwrap_or_default();
            let poll_id = v["poll_id"].as_str().map(str::to_string);
            let fetched_at = v["fetched_at"].as_str().map(str::to_string);
            self.store.audit_page(
                run_id,
                table,
                &PageAudit {
                    poll_id: poll_id.clone(),
                    page_number: *page_number,
                    requested_cursor: !cursor.is_null(),
                    row_count: rows.len().max(v["keys"].as_array().map_or(0, Vec::len)),
                    next_cursor: !v["next_cursor"].is_null(),
                    fetched_at: fetched_at.clone(),
                    ..Default::default()
                },
            )?;
            if let (Some(poll_id), Some(fetched_at)) = (&poll_id, &fetched_at) {
                let digests = v["digests"].as_array().cloned().unwrap_or_default();
                self.store.land_page(
                    run_id,
                    table,
                    poll_id,
                    *page_number,
                    fetched_at,
                    &rows,
                    &digests,
                )?;
            }
            cursor = v["next_cursor"].clone();
            pages.push(v);
            if cursor.is_null() {
                return Ok(Ok(pages));
            }
            if pages.len() > 10_000 {
                bail!("{table}: {path} did not end after 10,000 pages");
            }
        }
    }

    /// `SYSPRO_PULL_KEYS` over these keys (1000 per call): lands and merges what SYSPRO has,
    /// flags what it no longer has. Returns (rows merged, flagged deleted).
    async fn pull_keys(
        &mut self,
        run_id: &str,
        table: &str,
        keys: &[Value],
        page_number: &mut u32,
    ) -> anyhow::Result<Result<(u64, u64), (String, String)>> {
        let key_columns = self.store.control(table).key_columns.clone();
        let (mut merged, mut flagged) = (0, 0);
        for batch in keys.chunks(crate::pull::keyset::MAX_KEYS) {
            let pages = match self
                .follow(
                    run_id,
                    table,
                    "/v1/pull_keys",
                    vec![json!(table), Value::Array(batch.to_vec())],
                    page_number,
                )
                .await?
            {
                Ok(pages) => pages,
                Err(e) => return Ok(Err(e)),
            };
            if let Some(poll_id) = pages.first().and_then(|p| p["poll_id"].as_str()) {
                let (i, u) = self.store.merge(table, poll_id)?;
                merged += i + u;
            }
            let missing: Vec<String> = pages
                .iter()
                .flat_map(|p| p["missing"].as_array().cloned().unwrap_or_default())
                .filter_map(|k| k.as_object().map(|o| store::record_key(o, &key_columns)))
                .collect();
            flagged += self.store.flag_deleted(run_id, table, &missing)?;
        }
        Ok(Ok((merged, flagged)))
    }

    /// The rest of a sync cycle for a table with an open-items filter: re-read the open items
    /// (`SYSPRO_PULL_OPEN`), then re-read by key the rows Snowflake still holds as open that
    /// SYSPRO no longer returns as open — paid, completed, or deleted. Returns the line to print.
    async fn open_items(
        &mut self,
        run_id: &str,
        table: &str,
        page_number: &mut u32,
    ) -> anyhow::Result<Result<String, (String, String)>> {
        let Some(open) = self.catalog.get(table)?.open_items.clone() else {
            return Ok(Ok(String::new()));
        };
        let key_columns = self.store.control(table).key_columns.clone();
        let pages = match self
            .follow(
                run_id,
                table,
                "/v1/pull_open",
                vec![json!(table)],
                page_number,
            )
            .await?
        {
            Ok(pages) => pages,
            Err(e) => return Ok(Err(e)),
        };
        let returned: std::collections::HashSet<String> = pages
            .iter()
            .flat_map(|p| p["rows"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_object().map(|o| store::record_key(o, &key_columns)))
            .collect();
        let (inserted, updated) = match pages.first().and_then(|p| p["poll_id"].as_str()) {
            Some(poll_id) => self.store.merge(table, poll_id)?,
            None => (0, 0),
        };
        let stale: Vec<Value> = self
            .store
            .open_rows(table, &open)?
            .into_iter()
            .filter(|(k, _)| !returned.contains(k))
            .map(|(_, key)| key)
            .collect();
        let (_merged, gone) = match self.pull_keys(run_id, table, &stale, page_number).await? {
            Ok(counts) => counts,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(format!(
            "\n    {:<13} open items ({}): {} re-read, {} changed; {} no longer open re-read by key, {} gone",
            "",
            open.text(),
            count(returned.len() as u64),
            count(inserted + updated),
            count(stale.len() as u64),
            count(gone),
        )))
    }

    /// `verify_syspro__<table>`: every key and digest via `SYSPRO_DIGESTS`, compared with the
    /// digests stored with each row; re-pulls exactly the rows that differ or are missing here,
    /// flags the rows SYSPRO no longer has.
    async fn verify(&mut self, cycle: u32, table: &str) -> anyhow::Result<String> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let started = Instant::now();
        self.store.start_run(&run_id, cycle, "verify", table)?;
        let scan_started = self.store.run_started(&run_id)?;
        let key_columns = self.store.control(table).key_columns.clone();
        let mut page_number = 0u32;
        let fail = |store: &Store, kind: &str, message: &str, secs: f64| {
            store.finish_run(
                &run_id,
                table,
                (0, 0, 0),
                "failed",
                Some((kind, message)),
                0,
                secs,
            )
        };
        let pages = match self
            .follow(
                &run_id,
                table,
                "/v1/digests",
                vec![json!(table)],
                &mut page_number,
            )
            .await?
        {
            Ok(pages) => pages,
            Err((kind, message)) => {
                fail(self.store, &kind, &message, started.elapsed().as_secs_f64())?;
                return Ok(format!("  ✘ {table:<13} verify failed: {kind}"));
            }
        };
        let mut syspro: BTreeMap<String, (Value, String)> = BTreeMap::new();
        for p in &pages {
            let keys = p["keys"].as_array().cloned().unwrap_or_default();
            let digests = p["digests"].as_array().cloned().unwrap_or_default();
            for (k, d) in keys.into_iter().zip(digests) {
                if let Some(o) = k.as_object() {
                    syspro.insert(
                        store::record_key(o, &key_columns),
                        (k.clone(), d.as_str().unwrap_or_default().to_string()),
                    );
                }
            }
        }
        let ours = self.store.digests(table)?;
        let mut repull = Vec::new();
        let (mut differ, mut lacking) = (0u64, 0u64);
        for (k, (key, digest)) in &syspro {
            match ours.get(k) {
                Some((Some(d), false, _)) if d == digest => {}
                Some((_, false, _)) => {
                    differ += 1;
                    repull.push(key.clone());
                }
                _ => {
                    lacking += 1;
                    repull.push(key.clone());
                }
            }
        }
        // judged only on a complete, non-empty scan, and only rows loaded before it began
        let gone: Vec<String> = if syspro.is_empty() {
            Vec::new()
        } else {
            ours.iter()
                .filter(|(k, (_, deleted, loaded))| {
                    !deleted && *loaded < scan_started && !syspro.contains_key(*k)
                })
                .map(|(k, _)| k.clone())
                .collect()
        };
        let (merged, missing) = match self
            .pull_keys(&run_id, table, &repull, &mut page_number)
            .await?
        {
            Ok(counts) => counts,
            Err((kind, message)) => {
                fail(self.store, &kind, &message, started.elapsed().as_secs_f64())?;
                return Ok(format!("  ✘ {table:<13} verify re-pull failed: {kind}"));
            }
        };
        let flagged = self.store.flag_deleted(&run_id, table, &gone)? + missing;
        let secs = started.elapsed().as_secs_f64();
        self.store.finish_run(
            &run_id,
            table,
            (lacking, differ, flagged),
            "succeeded",
            None,
            0,
            secs,
        )?;
        Ok(format!(
            "  ✔ {table:<13} verify: {} compared, {differ} differed, {lacking} missing here, {} re-pulled ({merged} merged), {flagged} flagged deleted  {secs:.2} s",
            count(syspro.len() as u64),
            count(repull.len() as u64),
        ))
    }

    /// AP open balance in the store against SYSPRO's, after a sync.
    fn ap_balance_line(&self) -> anyhow::Result<String> {
        let sum = |records: Vec<serde_json::Map<String, Value>>| -> rust_decimal::Decimal {
            records
                .iter()
                .filter_map(|r| r.get("MthInvBal1").map(|v| v.to_string()))
                .filter_map(|t| t.parse::<rust_decimal::Decimal>().ok())
                .sum()
        };
        let ours = sum(self
            .store
            .current_records("ApInvoice")?
            .into_iter()
            .map(|(_, r)| r)
            .collect());
        let theirs = sum(self.sim.expected_records("ApInvoice"));
        Ok(format!(
            "  AP open balance (MthInvBal1) in Snowflake {ours} — SYSPRO {theirs} {}",
            if ours == theirs {
                "✔ equal"
            } else {
                "✘ differ"
            }
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
