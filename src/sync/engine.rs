//! The push-mode engine: one cycle per table runs, through the SQL API, the very statements the
//! procedure `sync_syspro__<table>` embeds (sql/70_procedures), in the same order:
//!
//! start_run → read_run (the watermark rule) → per page: [pull from SYSPRO] → buffer_page (the
//! page bound as `:page`) → audit_page → read_page → land_page → clear_page_buffer → then one
//! multi-statement request `begin transaction; merge_poll; advance_watermark; commit` → finish_run.
//!
//! Then, for tables whose changes do not all move their watermark (CONTRACT.md §3.1), the key
//! refresh of sql/70_procedures/parts/key_refresh.sql: the open-items pull (buffer_open_page →
//! land_page → merge_poll), collect_refresh_keys, and per batch of keys buffer_keys_batch_page →
//! land_page + land_missing → merge_poll → mark_missing_deleted; then advance_dependents_checked,
//! finish_key_refresh and finish_run. None of it moves the watermark.
//!
//! A verify run (`verify_syspro__<table>`): buffer_digests_page → land_digests per page,
//! verify_mark_deleted, collect_verify_keys, the same by-key batches, finish_key_refresh.
//!
//! A failed cycle is audited (clear_page_buffer + finish_run 'failed') and never reaches the
//! transaction, so the watermark stays where it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::SyncSettings;
use crate::pull::Puller;
use crate::retry::{self, AttemptError, ErrorKind, RetryPolicy};
use crate::snowflake::client::{Bind, inlined};
use crate::snowflake::{ResultSet, SqlApiClient, SqlApiError, SqlErrorKind};
use crate::sqlgen::{SqlSettings, SqlTable};

/// Most pages one pull may take, as in the procedure (`max_pages`).
const MAX_PAGES: u32 = 100_000;

/// A table push mode syncs.
#[derive(Debug, Clone)]
pub struct SyncTable {
    pub name: String,
    pub slug: String,
    pub has_watermark: bool,
    pub interval: Duration,
    /// Its cycle re-reads open items.
    pub open_items: bool,
    /// Its cycle ends with a key refresh (open items or dependents).
    pub key_refresh: bool,
}

/// What a run does: a sync cycle, or a verify of the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Sync,
    Verify,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Verify => "verify",
        }
    }
}

/// What a successful cycle did.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub table: String,
    pub kind: RunKind,
    pub run_id: String,
    pub poll_id: Option<String>,
    pub since: Option<String>,
    pub pages: u32,
    pub rows_pulled: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    /// Rows flagged deleted (keys SYSPRO no longer has).
    pub rows_deleted: u64,
    /// Keys re-read by key (open items that closed, dependents, verify's differences).
    pub keys_refreshed: u64,
    /// The table is disabled in `syspro_sync_control` (`is_enabled = false`), or a verify of a
    /// table whose `verify_group` is `none`: nothing was done.
    pub skipped: bool,
}

/// Why a cycle failed; `kind` is what the audit row's `error_kind` says.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{table}: {kind}: {message}")]
pub struct CycleError {
    pub table: String,
    pub run_id: Option<String>,
    pub kind: String,
    pub message: String,
    /// Whether the failure reached the audit trail (`audit_syspro__runs.status = 'failed'`).
    pub audited: bool,
}

impl CycleError {
    fn retriable(&self) -> bool {
        !matches!(
            self.kind.as_str(),
            "cancelled" | "not_in_control" | "bad_request" | "snowflake_auth" | "snowflake_config"
        )
    }
}

/// `true` once shutdown was asked for.
pub type Stop = watch::Receiver<bool>;

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &Stop) {
    let mut rx = stop.clone();
    let _ = rx.wait_for(|s| *s).await;
}

pub struct SyncEngine {
    puller: Arc<Puller>,
    sql: Arc<SqlApiClient>,
    statements: BTreeMap<String, String>,
    tables: Vec<SyncTable>,
    settings: SyncSettings,
    /// `<database>.<schema>.syspro_sync_control`.
    control_table: String,
    /// `<database>.<schema>.audit_syspro__runs`.
    runs_table: String,
    /// Where the cycle in flight is; shutdown waits on it.
    phase: watch::Sender<Phase>,
    /// The run id of the cycle in flight (set before start_run answers).
    current_run: Mutex<Option<String>>,
}

/// What the engine is doing, for shutdown: a cycle is abandoned only while `Pulling`, never
/// once its MERGE + watermark transaction has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Pulling,
    Committing,
}

impl SyncEngine {
    /// `sql_settings` names the database and schema the setup SQL was rendered for.
    pub fn new(
        puller: Arc<Puller>,
        sql: Arc<SqlApiClient>,
        sql_settings: &SqlSettings,
        settings: SyncSettings,
    ) -> Result<Self, String> {
        let catalog = puller.catalog();
        let chosen: Vec<_> = if settings.tables.is_empty() {
            catalog.tables().cloned().collect()
        } else {
            settings
                .tables
                .iter()
                .map(|t| {
                    catalog
                        .get(t)
                        .cloned()
                        .map_err(|e| format!("sync.tables (MLC_SYNC__TABLES): {e}"))
                })
                .collect::<Result<_, _>>()?
        };
        let sql_tables: Vec<SqlTable> = chosen.iter().map(SqlTable::from).collect();
        crate::sqlgen::validate(sql_settings, &sql_tables).map_err(|e| e.to_string())?;
        let statements = crate::sqlgen::render_statements(sql_settings, &sql_tables);
        let tables = sql_tables
            .iter()
            .map(|t| SyncTable {
                name: t.name.clone(),
                slug: t.slug(),
                has_watermark: t.watermark_column.is_some(),
                interval: settings.interval_for(&t.name, t.watermark_column.is_some()),
                open_items: t.open_items.is_some(),
                key_refresh: statements
                    .contains_key(&format!("collect_refresh_keys__{}", t.slug())),
            })
            .collect::<Vec<_>>();
        let engine = SyncEngine {
            puller,
            sql,
            statements,
            tables,
            settings,
            phase: watch::Sender::new(Phase::Idle),
            control_table: format!(
                "{}.{}.syspro_sync_control",
                sql_settings.database, sql_settings.schema
            ),
            runs_table: format!(
                "{}.{}.audit_syspro__runs",
                sql_settings.database, sql_settings.schema
            ),
            current_run: Mutex::new(None),
        };
        for t in &engine.tables {
            for stem in [
                "land_page",
                "merge_poll",
                "land_missing",
                "mark_missing_deleted",
                "finish_key_refresh",
                "land_digests",
                "verify_mark_deleted",
                "collect_verify_keys",
            ] {
                engine.statement(&format!("{stem}__{}", t.slug))?;
            }
        }
        for name in [
            "start_run",
            "read_run",
            "buffer_page",
            "buffer_open_page",
            "buffer_keys_batch_page",
            "buffer_digests_page",
            "audit_page",
            "read_page",
            "read_refresh_batches",
            "clear_page_buffer",
            "clear_refresh_keys",
            "clear_verify_digests",
            "close_abandoned_runs",
            "clear_abandoned_runs",
            "advance_watermark",
            "advance_dependents_checked",
            "finish_run",
        ] {
            engine.statement(name)?;
        }
        Ok(engine)
    }

    pub fn tables(&self) -> &[SyncTable] {
        &self.tables
    }

    pub fn sql(&self) -> &SqlApiClient {
        &self.sql
    }

    fn set_current(&self, run_id: Option<String>) {
        *self.current_run.lock().unwrap_or_else(|p| p.into_inner()) = run_id;
    }

    fn statement(&self, name: &str) -> Result<&str, String> {
        self.statements
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("sqlgen rendered no statement {name}"))
    }

    async fn exec(&self, name: &str, binds: &Binds) -> Result<ResultSet, StepError> {
        let text = self.statement(name).map_err(StepError::Internal)?;
        self.sql
            .execute_named(text, &|n| binds.get(n))
            .await
            .map_err(|e| StepError::Sql(name.to_string(), e))
    }

    /// One run of one table: a new run id, audited whatever happens after `start_run`.
    pub async fn run_cycle(
        &self,
        table: &SyncTable,
        kind: RunKind,
        stop: &Stop,
    ) -> Result<CycleReport, CycleError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let fail = |kind: &str, message: String, audited: bool| CycleError {
            table: table.name.clone(),
            run_id: Some(run_id.clone()),
            kind: kind.to_string(),
            message,
            audited,
        };
        if *stop.borrow() {
            return Err(fail("cancelled", "shutting down".into(), false));
        }
        // the user's switches, as the group procedures honour them
        let enabled = self
            .sql
            .execute(
                &format!(
                    "select control.is_enabled, coalesce(control.verify_group, 'nightly') from {} as control where control.table_name = ?",
                    self.control_table
                ),
                &[Bind::text(&table.name)],
            )
            .await
            .map_err(|e| {
                let e = StepError::Sql("read syspro_sync_control".into(), e);
                fail(e.kind(), e.to_string(), false)
            })?;
        let row = enabled.rows.first();
        let column = |i: usize| row.and_then(|r| r.get(i)).cloned().flatten();
        let disabled = matches!(column(0).as_deref(), Some("false" | "0"));
        let unverified = kind == RunKind::Verify && column(1).as_deref() == Some("none");
        if disabled || unverified {
            return Ok(CycleReport {
                table: table.name.clone(),
                kind,
                run_id,
                poll_id: None,
                since: None,
                pages: 0,
                rows_pulled: 0,
                rows_inserted: 0,
                rows_updated: 0,
                rows_deleted: 0,
                keys_refreshed: 0,
                skipped: true,
            });
        }
        let mut binds = Binds::default();
        binds.set("run_id", Bind::text(&run_id));
        binds.set("run_kind", Bind::text(kind.as_str()));
        binds.set("table_name", Bind::text(&table.name));
        binds.set("poll_id", Bind::Null);
        // known before start_run answers: an abandoned start_run may still have opened the row
        self.set_current(Some(run_id.clone()));
        let started = self.exec("start_run", &binds).await.map_err(|e| {
            self.set_current(None);
            fail(e.kind(), e.to_string(), false)
        })?;
        if started.count(|s| s.num_rows_inserted, "number of rows inserted") == Some(0) {
            self.set_current(None);
            return Err(fail(
                "not_in_control",
                format!(
                    "{} is not in syspro_sync_control: run the setup SQL (`ml-connector sql`) in Snowflake first",
                    table.name
                ),
                false,
            ));
        }
        // runs of this table cut off earlier (a killed process, a lost session) are closed as
        // abandoned and their work rows removed, as the procedures do
        for statement in ["close_abandoned_runs", "clear_abandoned_runs"] {
            if let Err(e) = self.exec(statement, &binds).await {
                tracing::warn!(table = %table.name, run_id = %run_id, error = %e, "could not close abandoned runs");
            }
        }
        let mut progress = Progress::default();
        let outcome = match kind {
            RunKind::Sync => {
                self.cycle_body(table, &run_id, &mut binds, &mut progress, stop)
                    .await
            }
            RunKind::Verify => {
                self.verify_body(table, &run_id, &mut binds, &mut progress, stop)
                    .await
            }
        };
        self.set_current(None);
        match outcome {
            Ok(report) => Ok(report),
            Err(e) => {
                let (kind, message) = match &e {
                    StepError::Service(kind, message) => (kind.clone(), message.clone()),
                    other => (other.kind().to_string(), other.to_string()),
                };
                let audited = self
                    .audit_failure(&run_id, table, &progress, &kind, &message)
                    .await;
                Err(fail(&kind, message, audited))
            }
        }
    }

    async fn cycle_body(
        &self,
        table: &SyncTable,
        run_id: &str,
        binds: &mut Binds,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<CycleReport, StepError> {
        let run = self.exec("read_run", binds).await?;
        let since = run
            .first("since")
            .or_else(|| {
                run.rows
                    .first()
                    .and_then(|r| r.first())
                    .and_then(|c| c.as_deref())
            })
            .map(str::to_string);
        binds.set("since", Bind::opt_text(since.clone()));
        let land = [format!("land_page__{}", table.slug)];
        let rows_pulled = self
            .page_loop(
                table,
                &Fetch::Rows {
                    since: since.as_deref(),
                },
                "buffer_page",
                &land,
                binds,
                progress,
                stop,
            )
            .await?;
        let page_number = progress.pages;
        if *stop.borrow() {
            return Err(StepError::Cancelled);
        }

        // the MERGE and the watermark move together or not at all
        let poll_id = progress.poll_id.clone();
        binds.set("poll_id", Bind::opt_text(poll_id.clone()));
        let merge = inlined(
            self.statement(&format!("merge_poll__{}", table.slug))
                .map_err(StepError::Internal)?,
            &|n| binds.get(n),
        )
        .map_err(StepError::Internal)?;
        let advance = inlined(
            self.statement("advance_watermark")
                .map_err(StepError::Internal)?,
            &|n| binds.get(n),
        )
        .map_err(StepError::Internal)?;
        self.phase.send_replace(Phase::Committing);
        let results = self
            .sql
            .execute_multi(&[
                "begin transaction".to_string(),
                merge,
                advance,
                "commit".to_string(),
            ])
            .await
            .map_err(|e| StepError::Sql("merge_poll + advance_watermark transaction".into(), e))?;
        let merged = &results[1];
        let inserted = merged
            .count(|s| s.num_rows_inserted, "number of rows inserted")
            .unwrap_or(0);
        let updated = merged
            .count(|s| s.num_rows_updated, "number of rows updated")
            .unwrap_or(0);
        binds.set("rows_inserted", Bind::Int(inserted as i64));
        binds.set("rows_updated", Bind::Int(updated as i64));
        binds.set("rows_deleted", Bind::Null);
        binds.set(
            "run_status",
            Bind::text(if table.key_refresh {
                "running"
            } else {
                "succeeded"
            }),
        );
        binds.set("error_kind", Bind::Null);
        binds.set("error_message", Bind::Null);
        // After the commit: a failure here leaves the run 'running' with the watermark moved
        // (the procedure finishes the run inside its transaction; the SQL API cannot bind there).
        self.exec("finish_run", binds).await?;
        self.phase.send_replace(Phase::Pulling);
        let mut totals = Totals {
            inserted,
            updated,
            ..Totals::default()
        };
        let mut rows_pulled = rows_pulled;
        if table.key_refresh {
            rows_pulled += self
                .key_refresh(table, binds, progress, &mut totals, stop)
                .await?;
        }
        Ok(CycleReport {
            table: table.name.clone(),
            kind: RunKind::Sync,
            run_id: run_id.to_string(),
            poll_id,
            since,
            pages: progress.pages.max(page_number),
            rows_pulled,
            rows_inserted: totals.inserted,
            rows_updated: totals.updated,
            rows_deleted: totals.deleted,
            keys_refreshed: totals.refreshed,
            skipped: false,
        })
    }

    /// The pages of one pull, as the procedures' page loop runs them: per page, the SYSPRO read
    /// through the pull engine, `pull_statement` with the page bound as `:page`, audit_page,
    /// read_page (an error answer fails the run), the `land` statements, clear_page_buffer.
    /// Page numbers go on across the loops of one run. Returns the rows pulled.
    #[allow(clippy::too_many_arguments)]
    async fn page_loop(
        &self,
        table: &SyncTable,
        fetch: &Fetch<'_>,
        pull_statement: &str,
        land: &[String],
        binds: &mut Binds,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<u64, StepError> {
        let mut cursor: Option<String> = None;
        let mut rows_pulled = 0u64;
        let first_page = progress.pages;
        loop {
            if *stop.borrow() {
                return Err(StepError::Cancelled);
            }
            let page_number = progress.pages + 1;
            if page_number - first_page > MAX_PAGES {
                return Err(StepError::Service(
                    "too_many_pages".into(),
                    format!("the pull did not finish within {MAX_PAGES} pages"),
                ));
            }
            let page = self
                .fetch_page(&table.name, fetch, cursor.as_deref())
                .await?;
            binds.set("page_number", Bind::Int(i64::from(page_number)));
            binds.set("page_cursor", Bind::opt_text(cursor.clone()));
            binds.set("page", Bind::Text(page.text));
            self.exec(pull_statement, binds).await?;
            binds.set("page", Bind::Null);
            self.exec("audit_page", binds).await?;
            let read = self.exec("read_page", binds).await?;
            progress.pages = page_number;
            if let Some(p) = read.first("poll_id") {
                progress.poll_id = Some(p.to_string());
            }
            if let Some(kind) = read.first("error_kind") {
                return Err(StepError::Service(
                    kind.to_string(),
                    read.first("error_message").unwrap_or("").to_string(),
                ));
            }
            if read.rows.is_empty() {
                return Err(StepError::Internal(format!(
                    "page {page_number} was not audited (read_page found no row)"
                )));
            }
            rows_pulled += page.rows;
            for statement in land {
                self.exec(statement, binds).await?;
            }
            self.exec("clear_page_buffer", binds).await?;
            cursor = read.first("next_cursor").map(str::to_string);
            if cursor.is_none() {
                return Ok(rows_pulled);
            }
        }
    }

    /// Steps (b) and (c) of a sync cycle (sql/70_procedures/parts/key_refresh.sql): the
    /// open-items re-read, then a by-key re-read of what Snowflake holds as open but SYSPRO no
    /// longer returns as open, and of the parents new child rows name. Returns the rows pulled.
    async fn key_refresh(
        &self,
        table: &SyncTable,
        binds: &mut Binds,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<u64, StepError> {
        let mut rows = 0;
        // the open-items candidates are compared with the open-items poll, bound as :poll_id
        binds.set("poll_id", Bind::Null);
        if table.open_items {
            let land = [format!("land_page__{}", table.slug)];
            rows += self
                .pull_and_merge(
                    table,
                    (&Fetch::Open, "buffer_open_page", &land),
                    binds,
                    progress,
                    totals,
                    stop,
                )
                .await?;
        }
        self.exec(&format!("collect_refresh_keys__{}", table.slug), binds)
            .await?;
        rows += self
            .refresh_by_key(table, binds, progress, totals, stop)
            .await?;
        self.exec("advance_dependents_checked", binds).await?;
        self.finish_refresh(table, binds, totals).await?;
        Ok(rows)
    }

    /// sql/70_procedures/parts/refresh_by_key.sql: one `SYSPRO_PULL_KEYS` pull per batch of
    /// collected keys; each landed and merged, its `missing` keys flagged deleted.
    async fn refresh_by_key(
        &self,
        table: &SyncTable,
        binds: &mut Binds,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<u64, StepError> {
        let batches = self.exec("read_refresh_batches", binds).await?;
        let land = [
            format!("land_page__{}", table.slug),
            format!("land_missing__{}", table.slug),
        ];
        let mut rows = 0;
        for batch in &batches.rows {
            let number = batch.first().cloned().flatten().ok_or_else(|| {
                StepError::Internal("read_refresh_batches answered no batch number".into())
            })?;
            let keys_json = batch
                .get(2)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "[]".into());
            let keys: serde_json::Value = serde_json::from_str(&keys_json).map_err(|e| {
                StepError::Internal(format!(
                    "read_refresh_batches answered keys that are not JSON: {e}"
                ))
            })?;
            totals.refreshed += keys.as_array().map_or(0, |k| k.len() as u64);
            let number: i64 = number
                .trim()
                .parse::<f64>()
                .map(|n| n as i64)
                .map_err(|e| StepError::Internal(format!("batch number {number:?}: {e}")))?;
            binds.set("batch_number", Bind::Int(number));
            rows += self
                .pull_and_merge(
                    table,
                    (&Fetch::Keys(&keys), "buffer_keys_batch_page", &land),
                    binds,
                    progress,
                    totals,
                    stop,
                )
                .await?;
            let flagged = self
                .exec(&format!("mark_missing_deleted__{}", table.slug), binds)
                .await?;
            totals.deleted += flagged
                .count(|s| s.num_rows_updated, "number of rows updated")
                .unwrap_or(0);
        }
        Ok(rows)
    }

    /// A pull that never moves the watermark (open items, a batch of keys): its pages, then
    /// merge_poll of its poll. Returns the rows pulled.
    async fn pull_and_merge(
        &self,
        table: &SyncTable,
        (fetch, pull_statement, land): (&Fetch<'_>, &str, &[String]),
        binds: &mut Binds,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<u64, StepError> {
        progress.poll_id = None;
        let rows = self
            .page_loop(table, fetch, pull_statement, land, binds, progress, stop)
            .await?;
        binds.set("poll_id", Bind::opt_text(progress.poll_id.clone()));
        self.merge(table, binds, totals).await?;
        Ok(rows)
    }

    /// merge_poll of the poll bound as `:poll_id`, counted into `totals`.
    async fn merge(
        &self,
        table: &SyncTable,
        binds: &Binds,
        totals: &mut Totals,
    ) -> Result<(), StepError> {
        let merged = self
            .exec(&format!("merge_poll__{}", table.slug), binds)
            .await?;
        totals.inserted += merged
            .count(|s| s.num_rows_inserted, "number of rows inserted")
            .unwrap_or(0);
        totals.updated += merged
            .count(|s| s.num_rows_updated, "number of rows updated")
            .unwrap_or(0);
        Ok(())
    }

    /// finish_key_refresh and finish_run 'succeeded' with the run's totals, then the work rows go.
    async fn finish_refresh(
        &self,
        table: &SyncTable,
        binds: &mut Binds,
        totals: &Totals,
    ) -> Result<(), StepError> {
        self.exec(&format!("finish_key_refresh__{}", table.slug), binds)
            .await?;
        binds.set("rows_inserted", Bind::Int(totals.inserted as i64));
        binds.set("rows_updated", Bind::Int(totals.updated as i64));
        binds.set("rows_deleted", Bind::Int(totals.deleted as i64));
        binds.set("run_status", Bind::text("succeeded"));
        binds.set("error_kind", Bind::Null);
        binds.set("error_message", Bind::Null);
        self.exec("finish_run", binds).await?;
        self.exec("clear_refresh_keys", binds).await?;
        Ok(())
    }

    /// `verify_syspro__<table>`: every key and digest, compared with the digests stored with
    /// the target's rows; exactly the differing and missing keys re-pulled, rows SYSPRO no longer
    /// has flagged deleted.
    async fn verify_body(
        &self,
        table: &SyncTable,
        run_id: &str,
        binds: &mut Binds,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<CycleReport, StepError> {
        binds.set("since", Bind::Null);
        let land = [format!("land_digests__{}", table.slug)];
        let mut rows_pulled = self
            .page_loop(
                table,
                &Fetch::Digests,
                "buffer_digests_page",
                &land,
                binds,
                progress,
                stop,
            )
            .await?;
        let flagged = self
            .exec(&format!("verify_mark_deleted__{}", table.slug), binds)
            .await?;
        let mut totals = Totals {
            deleted: flagged
                .count(|s| s.num_rows_updated, "number of rows updated")
                .unwrap_or(0),
            ..Totals::default()
        };
        self.exec(&format!("collect_verify_keys__{}", table.slug), binds)
            .await?;
        rows_pulled += self
            .refresh_by_key(table, binds, progress, &mut totals, stop)
            .await?;
        binds.set("poll_id", Bind::Null);
        self.finish_refresh(table, binds, &totals).await?;
        self.exec("clear_verify_digests", binds).await?;
        Ok(CycleReport {
            table: table.name.clone(),
            kind: RunKind::Verify,
            run_id: run_id.to_string(),
            poll_id: None,
            since: None,
            pages: progress.pages,
            rows_pulled,
            rows_inserted: totals.inserted,
            rows_updated: totals.updated,
            rows_deleted: totals.deleted,
            keys_refreshed: totals.refreshed,
            skipped: false,
        })
    }

    /// One page from SYSPRO through the pull engine: the function's value, or its error row.
    async fn fetch_page(
        &self,
        table: &str,
        fetch: &Fetch<'_>,
        cursor: Option<&str>,
    ) -> Result<PulledPage, StepError> {
        let now = chrono::Utc::now().timestamp();
        let prepared = match fetch {
            Fetch::Rows { since } => self.puller.prepare_pull(table, *since, cursor, now),
            Fetch::Open => self.puller.prepare_open(table, cursor, now),
            Fetch::Digests => self.puller.prepare_digests(table, cursor, now),
            Fetch::Keys(keys) => self.puller.prepare_pull_keys(table, keys, cursor, now),
        }
        .map_err(|e| StepError::Service("bad_request".into(), e.to_string()))?;
        let (json, rows) = match self
            .puller
            .run(&prepared, self.settings.page_budget_bytes)
            .await
        {
            Ok(page) => match fetch {
                Fetch::Digests => (page.digests_value(), page.rows.len() as u64),
                _ => {
                    let mut json = Vec::new();
                    page.write_pull_value(&mut json);
                    (json, page.rows.len() as u64)
                }
            },
            Err(failure) => (failure.into_value().to_string().into_bytes(), 0),
        };
        let text =
            String::from_utf8(json).map_err(|e| StepError::Internal(format!("page JSON: {e}")))?;
        Ok(PulledPage { text, rows })
    }

    /// What the procedure's exception handler does: drop the work copies and close the run as
    /// failed. Returns whether the audit row was written.
    async fn audit_failure(
        &self,
        run_id: &str,
        table: &SyncTable,
        progress: &Progress,
        kind: &str,
        message: &str,
    ) -> bool {
        let mut binds = Binds::default();
        binds.set("run_id", Bind::text(run_id));
        binds.set("table_name", Bind::text(&table.name));
        binds.set("poll_id", Bind::opt_text(progress.poll_id.clone()));
        binds.set("rows_inserted", Bind::Null);
        binds.set("rows_updated", Bind::Null);
        binds.set("rows_deleted", Bind::Null);
        binds.set("run_status", Bind::text("failed"));
        binds.set("error_kind", Bind::text(kind));
        let message: String = message
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(4000)
            .collect();
        binds.set("error_message", Bind::text(message));
        if let Err(e) = self.exec("clear_page_buffer", &binds).await {
            tracing::warn!(table = %table.name, run_id, error = %e, "could not clear the page buffer of a failed run");
        }
        // what a key refresh or verify got done is counted; its work rows go
        for statement in [
            format!("finish_key_refresh__{}", table.slug),
            "clear_refresh_keys".to_string(),
            "clear_verify_digests".to_string(),
        ] {
            if let Err(e) = self.exec(&statement, &binds).await {
                tracing::warn!(table = %table.name, run_id, error = %e, "could not clean up after a failed run");
            }
        }
        match self.exec("finish_run", &binds).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(table = %table.name, run_id, error = %e, "could not audit a failed run; its row stays 'running'");
                false
            }
        }
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
        let work = retry::run(&policy, "sync cycle", &CycleLog, |_, _| async {
            self.phase.send_replace(Phase::Pulling);
            let r = self.run_cycle(table, kind, stop).await;
            self.phase.send_replace(Phase::Idle);
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
            let mut phase = self.phase.subscribe();
            let _ = tokio::time::timeout(grace, phase.wait_for(|p| *p == Phase::Idle)).await;
            let _ = phase.wait_for(|p| *p != Phase::Committing).await;
        };
        let outcome = tokio::select! {
            biased;
            r = work => r.map(|(report, _)| report).map_err(|_| ()),
            _ = idle_stop => Err(()),
        };
        if outcome.is_err() && self.phase.send_replace(Phase::Idle) == Phase::Pulling {
            let abandoned = self
                .current_run
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(run_id) = abandoned {
                let message = format!(
                    "shutdown: the cycle was still running {} s after the stop signal",
                    grace.as_secs()
                );
                let audited = tokio::time::timeout(
                    Duration::from_secs(10),
                    self.audit_failure(&run_id, table, &Progress::default(), "abandoned", &message),
                )
                .await
                .unwrap_or(false);
                return Err(CycleError {
                    table: table.name.clone(),
                    run_id: Some(run_id),
                    kind: "abandoned".into(),
                    message,
                    audited,
                });
            }
        }
        outcome.map_err(|()| {
            last.lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| CycleError {
                    table: table.name.clone(),
                    run_id: None,
                    kind: "cancelled".into(),
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
                let r = self.run_table(table, kind, stop).await;
                log_outcome(&r);
                out.push(r);
            }
        }
        out
    }

    /// When the table's next verify is due, from its `verify_group` and its last successful
    /// verify (both in Snowflake, so a restart keeps the schedule); `None`: never (`none`). A
    /// table never verified is verified one interval after push mode starts.
    async fn next_verify(&self, table: &SyncTable) -> Option<Instant> {
        let answer = self
            .sql
            .execute(
                &format!(
                    "select coalesce(control.verify_group, 'nightly'), \
                     (select datediff(second, max(runs.started_at), sysdate()) from {runs} as runs \
                      where runs.table_name = control.table_name and runs.run_kind = 'verify' and runs.status = 'succeeded') \
                     from {control} as control where control.table_name = ?",
                    runs = self.runs_table,
                    control = self.control_table,
                ),
                &[Bind::text(&table.name)],
            )
            .await;
        let row = match answer {
            Ok(a) => a.rows.into_iter().next().unwrap_or_default(),
            Err(e) => {
                tracing::warn!(table = %table.name, error = %e, "could not read the verify schedule; verifying after the nightly interval");
                Vec::new()
            }
        };
        let group = row
            .first()
            .cloned()
            .flatten()
            .unwrap_or_else(|| "nightly".into());
        let interval = self.settings.verify_interval(&group)?;
        let since_last = row
            .get(1)
            .cloned()
            .flatten()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.max(0.0)));
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
            table = %c.table, kind = c.kind.as_str(), run_id = %c.run_id, pages = c.pages, rows_pulled = c.rows_pulled,
            rows_inserted = c.rows_inserted, rows_updated = c.rows_updated, rows_deleted = c.rows_deleted,
            keys_refreshed = c.keys_refreshed,
            "run succeeded"
        ),
        Err(e) => tracing::warn!(
            table = %e.table, run_id = ?e.run_id, kind = %e.kind, error = %e.message, audited = e.audited,
            "sync cycle failed; the watermark did not move"
        ),
    }
}

struct CycleLog;
impl retry::RetryObserver for CycleLog {
    fn on_retry(&self, _what: &str, error: &AttemptError, attempt: u32, wait: Duration) {
        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error.message, "sync cycle failed; retrying");
    }
}

#[derive(Default)]
struct Progress {
    pages: u32,
    poll_id: Option<String>,
}

/// Which function a page loop reads.
enum Fetch<'a> {
    Rows { since: Option<&'a str> },
    Open,
    Digests,
    Keys(&'a serde_json::Value),
}

/// A run's counts across its merges.
#[derive(Default)]
struct Totals {
    inserted: u64,
    updated: u64,
    deleted: u64,
    refreshed: u64,
}

struct PulledPage {
    text: String,
    rows: u64,
}

/// The values of a cycle's `:name` binds.
#[derive(Default)]
struct Binds(BTreeMap<&'static str, Bind>);

impl Binds {
    fn set(&mut self, name: &'static str, value: Bind) {
        self.0.insert(name, value);
    }
    fn get(&self, name: &str) -> Option<Bind> {
        self.0.get(name).cloned()
    }
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("{0}: {1}")]
    Sql(String, SqlApiError),
    /// The service's (pull engine's) error row, or a pull-level failure.
    #[error("{0}: {1}")]
    Service(String, String),
    #[error("cancelled: shutting down")]
    Cancelled,
    #[error("{0}")]
    Internal(String),
}

impl StepError {
    fn kind(&self) -> &str {
        match self {
            StepError::Sql(_, e) => match e.kind {
                SqlErrorKind::Auth => "snowflake_auth",
                SqlErrorKind::Config => "snowflake_config",
                _ => "snowflake_error",
            },
            StepError::Service(k, _) => k,
            StepError::Cancelled => "cancelled",
            StepError::Internal(_) => "push_error",
        }
    }
}
