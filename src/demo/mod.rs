//! `ml-connector demo`: the whole pull-mode flow on this machine, with no credentials, services or
//! network. It starts the embedded SYSPRO simulator and the real service (`Application::build` on
//! port 0 with a generated secret), then plays the Snowflake side the way `sql/` does — a Task's
//! calls to `SYSPRO_PULL` following `next_cursor`, landing, dedupe + MERGE into current-state tables
//! with soft deletes, audit rows, the watermark advanced only after the MERGE, and `SYSPRO_KEYS`
//! for hard deletes — against an in-memory SQLite database, over a few days of simulated postings
//! with a bout of SYSPRO faults. It ends with the audit trail, the reports of `sql/80_views`, and a
//! self-check that the store equals SYSPRO's records.
//!
//! It runs a group of two SYSPRO companies (issue #16): the simulator's default EDU1 (a South
//! African distributor, ZAR) and UK1 (GBP), whose codes collide while meaning different things.
//! The service is configured for them as a deployment is, with `[companies.<ID>]` sections
//! (here their `MLC_COMPANIES__<ID>__*` variables), and every run names its table qualified
//! (`UK1.ApInvoice`), so the demo goes through the product's own company path.

pub mod caller;
mod render;
mod reports;
mod store;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use mlc_simulator::{
    BusinessDayPlan, CompanyOptions, CompanyProfile, FaultKind, MutationReport, SimCompany,
    SimOptions, Simulator,
};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::startup::Application;
use crate::sync::cycle::{
    Cycle, CycleError, CycleReport, FailureKind, PageSource, Pull, RunKind, SourcePage, StepError,
    Stop, SyncTable,
};
use caller::SnowflakeCaller;
use render::{Align, TextTable, clip, count};
use store::{Control, RunNotes, Store, StoreWarehouse};

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
/// ApInvoice rows of each company's history.
const AP_INVOICE_ROWS: usize = 1_200;
/// The group's second company, next to the simulator's default (EDU1): British, in GBP, with
/// the same supplier, stock and invoice codes as EDU1 meaning other things.
const SECOND_COMPANY: &str = "UK1";

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
        ap_invoice_rows: Some(AP_INVOICE_ROWS),
        companies: vec![CompanyOptions {
            ap_invoice_rows: Some(AP_INVOICE_ROWS),
            ..CompanyOptions::new(SECOND_COMPANY, CompanyProfile::Uk)
        }],
        ..SimOptions::default()
    });
    let sim_server = sim
        .start("127.0.0.1:0")
        .await
        .context("cannot start the embedded SYSPRO simulator on 127.0.0.1")?;

    // The real service, configured only through its settings, with a secret nobody sees: one
    // `[companies.<ID>]` per simulated company, each with its own OData URL (its company
    // segment) and everything else inherited from `[syspro]`, as deploy/config.example.toml
    // describes a group.
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut env = vec![
        ("MLC_SERVER__LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("MLC_SERVER__SECRET".into(), secret.clone()),
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
    for company in sim.companies() {
        env.push((
            format!("MLC_COMPANIES__{}__ODATA_URL", company.id()),
            sim_server.odata_url_for(company.id()),
        ));
    }
    let settings = Settings::load_from(None, env).context("the demo's own settings")?;
    // The companies as the service reads them (ids upper-cased, in id order): the demo syncs
    // exactly these, and finds each one's SYSPRO truth by the same id.
    let companies: Vec<(String, SimCompany)> = settings
        .companies()
        .context("the demo's own companies")?
        .into_iter()
        .map(|c| {
            let sim_company = sim
                .company(&c.id)
                .with_context(|| format!("company {} is not in the simulator", c.id))?;
            Ok((c.id, sim_company))
        })
        .collect::<anyhow::Result<_>>()?;
    let company_ids: Vec<String> = companies.iter().map(|(id, _)| id.clone()).collect();
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
    let store =
        Store::open(&company_ids, controls).context("cannot create the in-memory SQLite store")?;
    // companies × tables, by qualified name (`UK1.ApInvoice`): what each run asks the service for
    let tables: BTreeMap<String, SyncTable> = company_ids
        .iter()
        .flat_map(|c| TABLES.iter().map(move |t| (c, t)))
        .map(|(company, t)| {
            let def = catalog.get(t).expect("a built-in table");
            let sync_table = SyncTable {
                company: company.clone(),
                name: def.name.clone(),
                slug: store::slug(&def.name),
                has_watermark: def.watermark_column.is_some(),
                interval: std::time::Duration::from_secs(0),
                open_items: def.open_items.is_some(),
                // the demo refreshes open items; it does not track dependents
                key_refresh: def.open_items.is_some(),
            };
            (sync_table.qualified_name(), sync_table)
        })
        .collect();
    let fault_company = company_ids[0].clone();

    writeln!(
        out,
        "ml-connector demo: SYSPRO → ml-connector → Snowflake, all on this machine\n"
    )?;
    writeln!(
        out,
        "  SYSPRO     embedded simulator of a group of electronics distributors, two SYSPRO companies:"
    )?;
    for (id, c) in &companies {
        writeln!(
            out,
            "             {id:<5} {} ({}), {}",
            c.profile().company_name(),
            c.currency(),
            sim_server.odata_url_for(id)
        )?;
    }
    writeln!(
        out,
        "             the same supplier, stock and invoice codes in both, meaning different things"
    )?;
    writeln!(
        out,
        "  service    ml-connector serve (pull mode) at {service_url}, with a generated shared secret,"
    )?;
    writeln!(
        out,
        "             configured with [companies.{}] sections; tables are named qualified ({}.ApInvoice)",
        company_ids.join("], [companies."),
        SECOND_COMPANY
    )?;
    writeln!(
        out,
        "  Snowflake  stand-in: SQLite in memory with sql/'s tables; each sync does what a Task's procedure does"
    )?;
    writeln!(
        out,
        "             (SYSPRO_PULL page by page, land, MERGE, audit, then advance the watermark; overlap {OVERLAP_DAYS} days);"
    )?;
    writeln!(
        out,
        "             every table keys on (company_id, record_key), every run is audited per company"
    )?;

    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut demo = Demo {
        sim: &sim,
        companies: companies.iter().cloned().collect(),
        cycle: Cycle::new(
            StoreWarehouse::new(store, catalog.clone()),
            ServiceSource { caller: &caller },
            u32::MAX,
        ),
        tables,
        stop,
    };
    for cycle in 1..=CYCLES {
        if cycle > 1 {
            // one calendar for the group; each company posts its own day
            sim.advance_days(1);
            writeln!(out, "\nSYSPRO posts business day {}:", sim.business_date())?;
            for (id, company) in &companies {
                let report = post_a_day(company);
                writeln!(out, "  {id:<5} {}", describe_mutations(&report))?;
                if let Some(line) = describe_payment_run(company, &report) {
                    writeln!(out, "        {line}")?;
                }
            }
        }
        let what = match cycle {
            1 => "initial load (since NULL)".to_string(),
            FAULT_CYCLE => format!(
                "{fault_company}'s SYSPRO misbehaves: 503 and a dropped connection on ApInvoice, 503s on every attempt for GrnDetails; the other company answers as usual"
            ),
            CYCLES => "recovery, then the nightly verify task (SYSPRO_DIGESTS)".to_string(),
            _ => "incremental".to_string(),
        };
        writeln!(
            out,
            "\nSync {cycle}/{CYCLES} at {}: {what}",
            sim.business_date()
        )?;
        for (id, company) in &companies {
            for table in TABLES {
                // the faults are the company's own (only requests addressed to it see them)
                if cycle == FAULT_CYCLE && *id == fault_company {
                    let faults = company.faults();
                    match *table {
                        "ApInvoice" => {
                            faults.push(FaultKind::Status(503));
                            faults.push(FaultKind::Reset);
                        }
                        "GrnDetails" => {
                            for _ in 0..MAX_ATTEMPTS {
                                faults.push(FaultKind::Status(503));
                            }
                        }
                        _ => {}
                    }
                }
                let line = demo.sync(cycle, id, table).await?;
                writeln!(out, "{line}")?;
                out.flush()?;
            }
            company.faults().clear();
            writeln!(out, "{}", demo.ap_balance_line(id)?)?;
        }
        if cycle == CYCLES {
            for (id, _) in &companies {
                for table in TABLES {
                    let line = demo.verify(cycle, id, table).await?;
                    writeln!(out, "{line}")?;
                    out.flush()?;
                }
            }
        }
    }

    // The audit trail.
    let store = demo.cycle.warehouse.into_store();
    let runs = store.runs()?;
    writeln!(
        out,
        "\nAudit trail (audit_syspro__runs: one row per run; the watermark moves only after a successful MERGE)"
    )?;
    write!(out, "{}", render_runs(&runs))?;
    let faulted: Vec<String> = runs
        .iter()
        .filter(|r| r.faults > 0 && r.status == "succeeded")
        .map(|r| {
            format!(
                "sync {} {}",
                r.cycle,
                crate::catalog::qualified_name(&r.company_id, &r.table_name)
            )
        })
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
            crate::catalog::qualified_name(&r.company_id, &r.table_name),
            r.error_kind.as_deref().unwrap_or("error"),
            clip(r.error_message.as_deref().unwrap_or(""), 160),
            r.stored_high_water.as_deref().map(day).unwrap_or("(none)")
        )?;
    }

    // The reports, over the whole group: each line names its company.
    let today = sim.business_date();
    let aging = reports::ap_aging(store.conn(), today)?;
    let spend = reports::spend_by_supplier(store.conn())?;
    let stock = reports::stock_by_warehouse(store.conn())?;
    // a company's local currency is its SYSPRO setup's, not a column of InvWarehouse
    let local_currency: BTreeMap<String, String> = companies
        .iter()
        .map(|(id, c)| (id.clone(), c.currency().to_string()))
        .collect();
    writeln!(out, "\n{}", reports::render_aging(&aging, today))?;
    writeln!(out, "{}", reports::render_spend(&spend, today))?;
    writeln!(out, "{}", reports::render_stock(&stock, &local_currency))?;
    let suppliers = reports::collisions(store.conn(), "syspro__ap_supplier", "SupplierName")?;
    let invoices = reports::collisions(store.conn(), "syspro__ap_invoice", "Currency")?;
    writeln!(
        out,
        "{}",
        reports::render_collisions(&suppliers, invoices.keys)
    )?;

    // The self-check: each company's rows in the store are exactly that company's records in
    // SYSPRO, and the reports' totals per company are its SYSPRO totals computed independently.
    let mut checked = 0usize;
    for (id, company) in &companies {
        for table in TABLES {
            checked += verify_table(&store, id, company, table)?;
        }
        let expected = reports::totals_from_syspro(
            &company.expected_records("ApInvoice"),
            &company.expected_records("InvWarehouse"),
        )
        .context("SYSPRO's records have unparseable amounts")?;
        let (ap, sp, stock_value) = reports::totals_from_reports(id, &aging, &spend, &stock);
        if ap != expected.ap_balance || sp != expected.spend {
            bail!(
                "demo self-check failed for {id}: report totals differ from SYSPRO's (AP {ap:?} vs {:?}, spend {sp:?} vs {:?})",
                expected.ap_balance,
                expected.spend
            );
        }
        let exact_stock = expected.stock_value_e11 as f64 / 1e11;
        if (stock_value - exact_stock).abs() > 0.01 {
            bail!(
                "demo self-check failed for {id}: stock value {stock_value:.2} vs SYSPRO's {exact_stock:.2}"
            );
        }
    }
    let (landed, failed_runs) = (
        store.landed_count()?,
        runs.iter().filter(|r| r.status == "failed").count(),
    );
    writeln!(
        out,
        "Self-check ✔ for each of the {} companies the store equals that company's SYSPRO records in all {} tables ({} current rows; {} records landed in {} runs), and the report totals equal its SYSPRO totals.",
        companies.len(),
        TABLES.len(),
        count(checked as u64),
        count(landed),
        runs.len()
    )?;
    writeln!(
        out,
        "Done in {:.1} s.\n\nNext: point it at your SYSPRO (MLC_SYSPRO__ODATA_URL, MLC_SYSPRO__USER, MLC_SYSPRO__PASSWORD; every key in\ndeploy/config.example.toml; several companies: one [companies.<ID>] each) and run `ml-connector check`; then `ml-connector sql` prints the Snowflake side. See README.md.",
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
fn post_a_day(company: &SimCompany) -> MutationReport {
    company.business_day(&BusinessDayPlan {
        tables: Some(TABLES.iter().map(|t| t.to_string()).collect()),
        new_invoices: 40,
        new_receipts: 15,
        new_movements: 60,
        ..BusinessDayPlan::default()
    })
}

/// "payment run: 31 invoices paid, posted 12 to 170 days ago" — the changes a date watermark
/// cannot see.
fn describe_payment_run(company: &SimCompany, report: &MutationReport) -> Option<String> {
    let changed = &report.tables.get("ApInvoice")?.updated;
    if changed.is_empty() {
        return None;
    }
    let keys = ["Supplier".to_string(), "Invoice".to_string()];
    let wanted: std::collections::BTreeSet<String> = changed
        .iter()
        .map(|k| store::record_key(k, &keys))
        .collect();
    let today = company.business_date();
    let ages: Vec<i64> = company
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

/// SYSPRO's side in the demo: the real service, called as Snowflake calls its external
/// functions (`SYSPRO_PULL`, `_PULL_OPEN`, `_PULL_KEYS`, `SYSPRO_DIGESTS`), so the demo shows
/// pull mode's protocol.
struct ServiceSource<'a> {
    caller: &'a SnowflakeCaller,
}

impl PageSource for ServiceSource<'_> {
    async fn page(
        &self,
        table: &str,
        pull: &Pull<'_>,
        cursor: Option<&str>,
    ) -> Result<SourcePage, StepError> {
        let (path, args) = match pull {
            Pull::Watermark { since } => ("/v1/pull", vec![json!(table), json!(since)]),
            Pull::Open => ("/v1/pull_open", vec![json!(table)]),
            Pull::Keys { keys, .. } => ("/v1/pull_keys", vec![json!(table), (*keys).clone()]),
            Pull::Digests => ("/v1/digests", vec![json!(table)]),
        };
        let mut args = args;
        args.push(json!(cursor));
        let v = self
            .caller
            .call(path, args)
            .await
            .map_err(|e| StepError::new(FailureKind::PushError, format!("{e:#}")))?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let rows = v["rows"]
            .as_array()
            .or_else(|| v["keys"].as_array())
            .map_or(0, Vec::len) as u64;
        Ok(SourcePage {
            rows,
            poll_id: text(&v["poll_id"]),
            next_cursor: text(&v["next_cursor"]),
            error: v.get("error").map(|e| {
                (
                    e["kind"].as_str().unwrap_or("error").to_string(),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            }),
            value: v.to_string(),
        })
    }
}

struct Demo<'a> {
    sim: &'a Simulator,
    /// Each company's SYSPRO, by the id the service knows it by.
    companies: BTreeMap<String, SimCompany>,
    cycle: Cycle<StoreWarehouse, ServiceSource<'a>>,
    tables: BTreeMap<String, SyncTable>,
    stop: Stop,
}

impl Demo<'_> {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.cycle.warehouse.store()
    }

    /// The faults injected so far into requests to `company`: the simulator-wide ones (every
    /// company sees them, the demo injects none) and the company's own.
    fn faults_injected(&self, company: &str) -> u64 {
        self.sim.faults().counters().injected
            + self
                .companies
                .get(company)
                .map_or(0, |c| c.faults().counters().injected)
    }

    /// One run of the cycle (`sync::cycle`) on the store for one company's table, its faults
    /// and seconds noted in its audit row.
    async fn run(
        &self,
        cycle: u32,
        company: &str,
        table: &str,
        kind: RunKind,
    ) -> anyhow::Result<(Result<CycleReport, CycleError>, RunNotes, u64, f64)> {
        let name = crate::catalog::qualified_name(company, table);
        let sync_table = self
            .tables
            .get(&name)
            .with_context(|| format!("{name} is not one of the demo's tables"))?;
        self.cycle.warehouse.set_cycle(cycle);
        let started = Instant::now();
        let faults_before = self.faults_injected(company);
        let r = self.cycle.run(sync_table, kind, &self.stop).await;
        let notes = self.cycle.warehouse.take_notes();
        let faults = self.faults_injected(company) - faults_before;
        let secs = started.elapsed().as_secs_f64();
        let run_id = match &r {
            Ok(report) => Some(report.run_id.clone()),
            Err(e) => e.run_id.clone(),
        };
        if let Some(run_id) = run_id {
            self.store().note_run(&run_id, faults, secs)?;
        }
        Ok((r, notes, faults, secs))
    }

    /// `sync_syspro__<table>`: the watermark pull page by page (each page landed, merged and the
    /// watermark advanced together), then the open-items re-read and the refresh by key.
    async fn sync(&mut self, cycle: u32, company: &str, table: &str) -> anyhow::Result<String> {
        let (r, notes, faults, secs) = self.run(cycle, company, table, RunKind::Sync).await?;
        let hw = self.store().high_water(company, table)?;
        let name = crate::catalog::qualified_name(company, table);
        let report = match r {
            Ok(report) => report,
            Err(e) if notes.watermark_done => {
                return Ok(format!(
                    "  ✘ {name:<18} watermark pull merged, open-items re-read failed: {}; the next sync re-reads them",
                    e.kind
                ));
            }
            Err(e) => {
                return Ok(format!(
                    "  ✘ {name:<18} failed: {}; watermark kept at {}",
                    e.kind,
                    hw.as_deref().map(day).unwrap_or("(none)")
                ));
            }
        };
        let from = match &report.since {
            Some(s) => format!("since {s}"),
            None if self.store().control(table).watermark_column.is_some() => "since NULL".into(),
            None => "whole (snapshot)".into(),
        };
        let pages = notes.watermark_pages;
        let open = match self.catalog_open_items(&name) {
            Some(open) => format!(
                "\n    {:<18} open items ({open}): {} re-read, {} changed; {} no longer open re-read by key, {} gone",
                "",
                count(notes.open_returned),
                count(notes.open_changed),
                count(notes.open_stale),
                count(report.rows_deleted),
            ),
            None => String::new(),
        };
        Ok(format!(
            "  ✔ {name:<18} {from:<17} {pages:>2} page{s} {pulled:>6} rows {inserted:>6} new {updated:>4} changed  watermark {hw:<10} {secs:>5.2} s{retried}",
            s = if pages == 1 { " " } else { "s" },
            pulled = count(notes.watermark_rows),
            inserted = count(notes.watermark_merged.inserted),
            updated = count(notes.watermark_merged.updated),
            hw = hw.as_deref().map(day).unwrap_or("—"),
            retried = if faults > 0 {
                format!("  ({faults} SYSPRO faults retried)")
            } else {
                String::new()
            }
        ) + &open)
    }

    /// The open-items filter of a qualified table, when it re-reads open items.
    fn catalog_open_items(&self, name: &str) -> Option<String> {
        let t = &self.tables[name];
        if !t.open_items {
            return None;
        }
        self.cycle
            .warehouse
            .open_items(&t.name)
            .map(|o| o.text().to_string())
    }

    /// `verify_syspro__<table>`: every key and digest via `SYSPRO_DIGESTS`, compared with the
    /// digests stored with each row; re-pulls exactly the rows that differ or are missing here,
    /// flags the rows SYSPRO no longer has.
    async fn verify(&mut self, cycle: u32, company: &str, table: &str) -> anyhow::Result<String> {
        let (r, notes, _faults, secs) = self.run(cycle, company, table, RunKind::Verify).await?;
        let name = crate::catalog::qualified_name(company, table);
        let report = match r {
            Ok(report) => report,
            Err(e) => return Ok(format!("  ✘ {name:<18} verify failed: {}", e.kind)),
        };
        Ok(format!(
            "  ✔ {name:<18} verify: {} compared, {} differed, {} missing here, {} re-pulled ({} merged), {} flagged deleted  {secs:.2} s",
            count(notes.compared),
            notes.differed,
            notes.lacking,
            count(report.keys_refreshed),
            report.rows_inserted + report.rows_updated,
            report.rows_deleted,
        ))
    }

    /// A company's AP open balance in the store against its SYSPRO's, after a sync: per
    /// currency, since a company's invoices are in several and their sum would mean nothing.
    fn ap_balance_line(&self, company: &str) -> anyhow::Result<String> {
        type Balances = BTreeMap<String, rust_decimal::Decimal>;
        let sum = |records: Vec<serde_json::Map<String, Value>>| -> Balances {
            let mut by_currency = Balances::new();
            for r in &records {
                let currency = r.get("Currency").and_then(Value::as_str).unwrap_or("");
                let balance = r
                    .get("MthInvBal1")
                    .map(|v| v.to_string())
                    .and_then(|t| t.parse::<rust_decimal::Decimal>().ok());
                if let Some(b) = balance {
                    *by_currency.entry(currency.to_string()).or_default() += b;
                }
            }
            by_currency.retain(|_, b| !b.is_zero());
            by_currency
        };
        let show = |b: &Balances| {
            b.iter()
                .map(|(c, v)| {
                    // grouped like the reports; an amount with more than two decimals (SYSPRO
                    // keeps two) is shown as it is rather than rounded
                    let cents = reports::scaled(Some(&Value::String(v.to_string())), 2);
                    format!("{c} {}", cents.map_or_else(|| v.to_string(), render::money))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ours = sum(self
            .store()
            .current_records(company, "ApInvoice")?
            .into_iter()
            .map(|(_, r)| r)
            .collect());
        let theirs = sum(self
            .companies
            .get(company)
            .with_context(|| format!("company {company} is not in the simulator"))?
            .expected_records("ApInvoice"));
        Ok(format!(
            "  {company} AP open balance (MthInvBal1) in Snowflake {} — SYSPRO {} {}",
            show(&ours),
            show(&theirs),
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
        ("company", Align::Left),
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
            r.company_id.clone(),
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

/// A company's current rows of `table` in the store equal that company's SYSPRO records, key by
/// key (the other company's rows with the same keys are not its own). Returns the row count.
fn verify_table(
    store: &Store,
    company: &str,
    sim: &SimCompany,
    table: &str,
) -> anyhow::Result<usize> {
    let keys = &store.control(table).key_columns;
    let expected: BTreeMap<String, _> = sim
        .expected_records(table)
        .into_iter()
        .map(|r| (store::record_key(&r, keys), r))
        .collect();
    let actual: BTreeMap<String, _> = store.current_records(company, table)?.into_iter().collect();
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
        "demo self-check failed for {}: store has {} rows, SYSPRO {}; missing {missing:?}, extra {extra:?}, different {differ:?}",
        crate::catalog::qualified_name(company, table),
        actual.len(),
        expected.len()
    )
}
