//! Push mode's engine: the [cycle](super::cycle) over the SQL API ([`SqlApiWarehouse`]) and the
//! pull engine ([`PullerSource`]), every table of every company on its interval, retried with
//! backoff, stopped cleanly on shutdown. A company's tables are cycles of their own: one
//! company failing is audited as its own runs and does not stop the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::cycle::{
    Cycle, CycleError, CycleReport, FailureKind, PageSource, Phase, Pull, RunKind, SourcePage,
    StepError, Stop, SyncTable, Warehouse, stopped,
};
use super::sqlapi::SqlApiWarehouse;
use crate::config::SyncSettings;
use crate::pull::Puller;
use crate::retry::{self, AttemptError, ErrorKind, RetryPolicy};
use crate::snowflake::SqlApiClient;
use crate::sqlgen::{SqlSettings, SqlTable};

/// SYSPRO's side in push mode: the pull engine in this process.
pub struct PullerSource {
    puller: Arc<Puller>,
    page_budget_bytes: usize,
}

impl PullerSource {
    pub fn new(puller: Arc<Puller>, page_budget_bytes: usize) -> Self {
        PullerSource {
            puller,
            page_budget_bytes,
        }
    }
}

impl PageSource for PullerSource {
    /// `table` is the qualified name ([`SyncTable::qualified_name`]), resolved to its company by
    /// the pull engine like any caller's.
    async fn page(
        &self,
        table: &str,
        pull: &Pull<'_>,
        cursor: Option<&str>,
    ) -> Result<SourcePage, StepError> {
        let now = chrono::Utc::now().timestamp();
        let p = &self.puller;
        let prepared = match pull {
            Pull::Watermark { since } => p.prepare_pull(table, *since, cursor, now),
            Pull::Open => p.prepare_open(table, cursor, now),
            Pull::Digests => p.prepare_digests(table, cursor, now),
            Pull::Keys { keys, .. } => p.prepare_pull_keys(table, keys, cursor, now),
        }
        .map_err(|e| StepError::new(FailureKind::BadRequest, e.to_string()))?;
        let (value, page) = match p.run(&prepared, self.page_budget_bytes).await {
            Ok(page) => {
                let rows = page.rows.len() as u64;
                let (value, poll_id) = match pull {
                    // the digests value names no poll
                    Pull::Digests => (page.digests_value(), None),
                    _ => {
                        let mut json = Vec::new();
                        page.write_pull_value(&mut json);
                        (json, Some(page.poll_id.clone()))
                    }
                };
                (
                    value,
                    SourcePage {
                        rows,
                        poll_id,
                        next_cursor: page.next_cursor.clone(),
                        ..SourcePage::default()
                    },
                )
            }
            Err(failure) => {
                let page = SourcePage {
                    poll_id: Some(failure.poll_id.clone()),
                    error: Some((
                        failure.error.kind.as_str().to_string(),
                        failure.error.message.clone(),
                    )),
                    ..SourcePage::default()
                };
                (failure.into_value().to_string().into_bytes(), page)
            }
        };
        let value = String::from_utf8(value)
            .map_err(|e| StepError::new(FailureKind::PushError, format!("page JSON: {e}")))?;
        Ok(SourcePage { value, ..page })
    }
}

pub struct SyncEngine {
    cycle: Cycle<SqlApiWarehouse, PullerSource>,
    tables: Vec<SyncTable>,
    settings: SyncSettings,
}

impl SyncEngine {
    /// `sql_settings` names the database and schema the setup SQL was rendered for.
    pub fn new(
        puller: Arc<Puller>,
        sql: Arc<SqlApiClient>,
        sql_settings: &SqlSettings,
        settings: SyncSettings,
    ) -> Result<Self, String> {
        let companies = puller.company_ids();
        let wanted = tables_to_sync(&puller, &settings.tables)?;
        let mut chosen: Vec<crate::catalog::TableDef> = Vec::new();
        for (_, t) in &wanted {
            if !chosen.iter().any(|c| c.name == t.name) {
                chosen.push(t.clone());
            }
        }
        let sql_tables: Vec<SqlTable> = chosen.iter().map(SqlTable::from).collect();
        crate::sqlgen::validate(sql_settings, &sql_tables).map_err(|e| e.to_string())?;
        let statements: BTreeMap<String, String> =
            crate::sqlgen::render_statements(sql_settings, &sql_tables);
        if puller.has_companies() && !statements.values().any(|s| s.contains(":company_id")) {
            // Without company_id in their keys the statements would MERGE one company's rows
            // over another's with the same key (the same supplier code in two companies).
            return Err(format!(
                "push mode reads companies {} but this build's Snowflake statements do not key rows on company_id, so one company's rows would overwrite another's: sync one company (no [companies.*]) until the Snowflake side carries company_id",
                companies.join(", ")
            ));
        }
        let tables = wanted
            .iter()
            .map(|(company, t)| SyncTable {
                company: company.clone(),
                name: t.name.clone(),
                slug: SqlTable::from(t).slug(),
                has_watermark: t.watermark_column.is_some(),
                interval: settings.interval_for(&t.name, t.watermark_column.is_some()),
                open_items: t.open_items.is_some(),
                key_refresh: statements.contains_key(&format!(
                    "collect_refresh_keys__{}",
                    SqlTable::from(t).slug()
                )),
            })
            .collect::<Vec<_>>();
        let warehouse = SqlApiWarehouse::new(sql, sql_settings, statements, &tables)?;
        let source = PullerSource::new(puller, settings.page_budget_bytes);
        Ok(SyncEngine {
            cycle: Cycle::new(warehouse, source, sql_settings.pages_per_run),
            tables,
            settings,
        })
    }

    pub fn tables(&self) -> &[SyncTable] {
        &self.tables
    }

    pub fn sql(&self) -> &SqlApiClient {
        self.cycle.warehouse.sql()
    }

    /// One run of one table (no retry): see [`Cycle::run`].
    pub async fn run_cycle(
        &self,
        table: &SyncTable,
        kind: RunKind,
        stop: &Stop,
    ) -> Result<CycleReport, CycleError> {
        self.cycle.run(table, kind, stop).await
    }

    /// A table's cycle, retried with backoff (a new audited run each time) while it fails for
    /// reasons that may pass.
    pub async fn run_table(
        &self,
        table: &SyncTable,
        kind: RunKind,
        stop: &Stop,
    ) -> Result<CycleReport, CycleError> {
        let s = &self.settings;
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(s.cycle_retry_initial_backoff_secs),
            max_backoff: Duration::from_secs(
                s.cycle_retry_max_backoff_secs
                    .max(s.cycle_retry_initial_backoff_secs),
            ),
            max_attempts: s.cycle_max_attempts,
            deadline: Duration::from_secs(7 * 24 * 3600),
        };
        let last: Mutex<Option<CycleError>> = Mutex::new(None);
        let phase = self.cycle.phase();
        let work = retry::run(&policy, "sync cycle", &CycleLog, |_, _| async {
            phase.send_replace(Phase::Pulling);
            let r = self.run_cycle(table, kind, stop).await;
            phase.send_replace(Phase::Idle);
            r.map_err(|e| {
                let kind = if e.retriable() {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Rejected
                };
                let attempt = AttemptError::new(kind, "cycle", e.to_string());
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                attempt
            })
        });
        // A stop during a backoff wait ends the wait; a stop during a cycle lets the cycle end
        // itself at its next statement boundary (audited as 'cancelled'); a cycle still busy
        // after the grace period is abandoned (audited as 'abandoned'), except while its
        // transaction is on its way.
        let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
        let idle_stop = async {
            stopped(stop).await;
            let mut phase = phase.subscribe();
            let _ = tokio::time::timeout(grace, phase.wait_for(|p| *p == Phase::Idle)).await;
            let _ = phase.wait_for(|p| *p != Phase::Committing).await;
        };
        let outcome = tokio::select! {
            biased;
            r = work => r.map(|(report, _)| report).map_err(|_| ()),
            _ = idle_stop => Err(()),
        };
        if outcome.is_err()
            && phase.send_replace(Phase::Idle) == Phase::Pulling
            && let Some(run_id) = self.cycle.take_current_run()
        {
            let message = format!(
                "shutdown: the cycle was still running {} s after the stop signal",
                grace.as_secs()
            );
            let run = super::cycle::Run {
                id: &run_id,
                kind,
                table,
            };
            let audited = tokio::time::timeout(
                Duration::from_secs(10),
                self.cycle
                    .warehouse
                    .fail_run(&run, None, &FailureKind::Abandoned, &message),
            )
            .await
            .unwrap_or(false);
            return Err(CycleError {
                table: table.name.clone(),
                run_id: Some(run_id),
                kind: FailureKind::Abandoned,
                message,
                audited,
            });
        }

        outcome.map_err(|()| {
            last.lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| CycleError {
                    table: table.name.clone(),
                    run_id: None,
                    kind: FailureKind::Cancelled,
                    message: "shutting down".into(),
                    audited: false,
                })
        })
    }

    /// One cycle of every table, in catalog order (`sync --once`); with `verify`, then a verify
    /// of every table (`sync --once --verify`).
    pub async fn run_once(
        &self,
        stop: &Stop,
        verify: bool,
    ) -> Vec<Result<CycleReport, CycleError>> {
        let mut out = Vec::new();
        let kinds: &[RunKind] = if verify {
            &[RunKind::Sync, RunKind::Verify]
        } else {
            &[RunKind::Sync]
        };
        for &kind in kinds {
            for table in &self.tables {
                if *stop.borrow() {
                    return out;
                }
                // a partial run left the rest of a first load to the next run: --once takes
                // every table all the way, run after run
                loop {
                    let r = self.run_table(table, kind, stop).await;
                    log_outcome(&r);
                    let partial = matches!(&r, Ok(report) if report.partial);
                    out.push(r);
                    if !partial || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        out
    }

    /// When the table's next verify is due, from its `verify_group` and its last successful
    /// verify (both in Snowflake, so a restart keeps the schedule); `None`: never (`none`). A
    /// table never verified is verified one interval after push mode starts.
    async fn next_verify(&self, table: &SyncTable) -> Option<Instant> {
        let (group, since_last) = match self.cycle.warehouse.verify_schedule(table).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(table = %table.name, error = %e, "could not read the verify schedule; verifying after the nightly interval");
                (None, None)
            }
        };
        let group = group.unwrap_or_else(|| "nightly".into());
        let interval = self.settings.verify_interval(&group)?;
        let since_last = since_last.map(|s| Duration::from_secs_f64(s.max(0.0)));
        Some(Instant::now() + since_last.map_or(interval, |d| interval.saturating_sub(d)))
    }

    /// Every table on its interval, and its verify on its group's, until `stop`.
    pub async fn run_forever(&self, stop: &Stop) {
        let mut due: Vec<(Instant, RunKind, usize)> = Vec::new();
        for (i, table) in self.tables.iter().enumerate() {
            due.push((Instant::now(), RunKind::Sync, i));
            if let Some(when) = self.next_verify(table).await {
                due.push((when, RunKind::Verify, i));
            }
        }
        loop {
            if *stop.borrow() || due.is_empty() {
                break;
            }
            let (slot, &(when, kind, i)) = due
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| d.0)
                .expect("due is not empty");
            tokio::select! {
                _ = tokio::time::sleep_until(when) => {}
                _ = stopped(stop) => break,
            }
            let table = &self.tables[i];
            let began = Instant::now();
            let r = self.run_table(table, kind, stop).await;
            log_outcome(&r);
            match kind {
                // a partial run goes on at once
                RunKind::Sync if matches!(&r, Ok(report) if report.partial) => {
                    due[slot].0 = Instant::now();
                }
                RunKind::Sync => {
                    due[slot].0 = (began + table.interval).max(Instant::now());
                }
                RunKind::Verify => match self.next_verify(table).await {
                    // a failed verify is tried again after the table's sync interval
                    Some(next) if r.is_ok() => due[slot].0 = next.max(Instant::now()),
                    Some(_) => due[slot].0 = Instant::now() + table.interval,
                    None => {
                        due.remove(slot);
                    }
                },
            }
        }
        tracing::info!(message = "Push mode stopped.");
    }
}

fn log_outcome(r: &Result<CycleReport, CycleError>) {
    match r {
        Ok(c) if c.skipped => tracing::info!(
            table = %c.table,
            "sync skipped: the table is disabled in syspro_sync_control"
        ),
        Ok(c) => tracing::info!(
            table = %c.table, kind = c.kind.as_str(), run_id = %c.run_id, partial = c.partial, pages = c.pages, rows_pulled = c.rows_pulled,
            rows_inserted = c.rows_inserted, rows_updated = c.rows_updated, rows_deleted = c.rows_deleted,
            keys_refreshed = c.keys_refreshed,
            "run succeeded"
        ),
        Err(e) => tracing::warn!(
            table = %e.table, run_id = ?e.run_id, kind = %e.kind, error = %e.message, audited = e.audited,
            "run failed; the watermark stands behind the pages it committed"
        ),
    }
}

struct CycleLog;
impl retry::RetryObserver for CycleLog {
    fn on_retry(&self, _what: &str, error: &AttemptError, attempt: u32, wait: Duration) {
        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error.message, "sync cycle failed; retrying");
    }
}

/// The (company, table) pairs push mode syncs, company by company: `sync.tables` entries are
/// `ApInvoice` (that table of every company) or `UK1.ApInvoice` (of one company); none: every
/// catalog table of every company.
fn tables_to_sync(
    puller: &Puller,
    entries: &[String],
) -> Result<Vec<(String, crate::catalog::TableDef)>, String> {
    let catalog = puller.catalog();
    let companies = puller.company_ids();
    let mut wanted: Vec<(String, crate::catalog::TableDef)> = Vec::new();
    if entries.is_empty() {
        for company in &companies {
            wanted.extend(catalog.tables().map(|t| (company.clone(), t.clone())));
        }
        return Ok(wanted);
    }
    for entry in entries {
        let named = match entry.split_once('.') {
            Some(_) => puller
                .resolve(entry)
                .map(|r| vec![(r.company.id().to_string(), r.table)])
                .map_err(|e| e.to_string()),
            None => catalog
                .get(entry)
                .map(|t| {
                    companies
                        .iter()
                        .map(|c| (c.clone(), t.clone()))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string()),
        };
        wanted.extend(named.map_err(|e| format!("sync.tables (MLC_SYNC__TABLES): {e}"))?);
    }
    // company by company, each in the list's order; a table named twice is synced once
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen = std::collections::HashSet::new();
    wanted.retain(|(c, t)| seen.insert((c.clone(), t.name.clone())));
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pull::company::tests::puller;

    fn names(list: &[(String, crate::catalog::TableDef)]) -> Vec<String> {
        list.iter()
            .map(|(c, t)| crate::catalog::qualified_name(c, &t.name))
            .collect()
    }

    #[test]
    fn every_company_syncs_every_table_it_is_given() {
        let two = puller(&["EDU1", "UK1"]);
        let all = tables_to_sync(&two, &[]).unwrap();
        assert_eq!(all.len(), 2 * two.catalog().tables().count());
        assert_eq!(all[0].0, "EDU1");
        assert_eq!(all.last().unwrap().0, "UK1");
        let some = tables_to_sync(
            &two,
            &[
                "ApInvoice".into(),
                "uk1.apsupplier".into(),
                "UK1.ApInvoice".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            names(&some),
            ["EDU1.ApInvoice", "UK1.ApInvoice", "UK1.ApSupplier"]
        );
        let err = tables_to_sync(&two, &["DE1.ApInvoice".into()]).unwrap_err();
        assert!(err.starts_with("sync.tables (MLC_SYNC__TABLES): "), "{err}");

        let one = puller(&[""]);
        let list = tables_to_sync(&one, &["ApSupplier".into(), "ApInvoice".into()]).unwrap();
        assert_eq!(names(&list), ["ApSupplier", "ApInvoice"]);
    }
}
