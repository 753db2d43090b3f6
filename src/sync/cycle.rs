//! The sync cycle, written once: the steps of a sync run and of a verify run in the order the
//! procedures run them (sql/70_procedures: `sync_syspro__<table>`, `verify_syspro__<table>` and
//! their parts), generic over the two sides it connects: a [`PageSource`] (SYSPRO, through the pull
//! engine) and a [`Warehouse`] (Snowflake through its SQL API, or the demo's embedded store).
//!
//! A sync run: start the run (the watermark rule decides `since`), close runs cut off earlier, then
//! the watermark pull page by page, each page committed on its own (landed, merged, the watermark
//! advanced, the run's progress recorded: all or nothing), at most `pages_per_run` pages (then the
//! run ends `partial` and the next run goes on from the watermark); then, for tables with open
//! items or dependents, the open-items pull and the key refresh by batches of keys, missing keys
//! flagged deleted; then the run is finished. A verify run pulls every key's digest, flags what
//! SYSPRO no longer has, and refreshes by key what differs.
//!
//! A failure at any step is audited (the run closed `failed` with its kind and message, its work
//! rows removed); what earlier pages committed stays, and the watermark never moves past it.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::watch;
use tracing::Instrument;

/// A table of one company push mode syncs.
#[derive(Debug, Clone)]
pub struct SyncTable {
    /// The SYSPRO company (`""` for a single-company deployment).
    pub company: String,
    /// The catalog's table name.
    pub name: String,
    pub slug: String,
    pub has_watermark: bool,
    pub interval: std::time::Duration,
    /// Its cycle re-reads open items.
    pub open_items: bool,
    /// Its cycle ends with a key refresh (open items or dependents).
    pub key_refresh: bool,
}

impl SyncTable {
    /// `UK1.ApInvoice`, or the bare name for company `""`: what SYSPRO's side is asked for
    /// (`pull::company`), and how logs and reports tell one company's table from another's.
    pub fn qualified_name(&self) -> String {
        crate::catalog::qualified_name(&self.company, &self.name)
    }
}

/// What a run does: a sync cycle, or a verify of the whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Sync,
    Verify,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Verify => "verify",
        }
    }
}

/// What a successful (or partial) run did.
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
    /// The run stopped after `pages_per_run` pages (audited `partial`): what it merged is
    /// committed and the watermark stands behind it; the next run goes on from there.
    pub partial: bool,
}

/// Why a run failed: what the audit row's `error_kind` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Shutdown was asked for; the run stopped at a step boundary.
    Cancelled,
    /// Shutdown's grace period ended with the run still busy.
    Abandoned,
    /// The table has no row in `syspro_sync_control`.
    NotInControl,
    /// The pull engine refused the request (catalog, cursor).
    BadRequest,
    /// The pull did not finish within the most pages one pull may take.
    TooManyPages,
    SnowflakeAuth,
    SnowflakeConfig,
    /// A statement failed in Snowflake.
    SnowflakeError,
    /// Push mode itself (an answer it could not read).
    PushError,
    /// The service's error row after its retries (`upstream_unavailable`, ...), as it named it.
    Service(String),
}

impl FailureKind {
    /// The audit text (`audit_syspro__runs.error_kind`).
    pub fn as_str(&self) -> &str {
        match self {
            FailureKind::Cancelled => "cancelled",
            FailureKind::Abandoned => "abandoned",
            FailureKind::NotInControl => "not_in_control",
            FailureKind::BadRequest => "bad_request",
            FailureKind::TooManyPages => "too_many_pages",
            FailureKind::SnowflakeAuth => "snowflake_auth",
            FailureKind::SnowflakeConfig => "snowflake_config",
            FailureKind::SnowflakeError => "snowflake_error",
            FailureKind::PushError => "push_error",
            FailureKind::Service(kind) => kind,
        }
    }

    /// Whether a new run may succeed where this one failed.
    pub fn retriable(&self) -> bool {
        !matches!(
            self,
            FailureKind::Cancelled
                | FailureKind::NotInControl
                | FailureKind::BadRequest
                | FailureKind::SnowflakeAuth
                | FailureKind::SnowflakeConfig
        )
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FailureKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a run failed.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{table}: {kind}: {message}")]
pub struct CycleError {
    pub table: String,
    pub run_id: Option<String>,
    pub kind: FailureKind,
    pub message: String,
    /// Whether the failure reached the audit trail (`audit_syspro__runs.status = 'failed'`).
    pub audited: bool,
}

impl CycleError {
    pub fn retriable(&self) -> bool {
        self.kind.retriable()
    }
}

/// A step that failed, with what the audit row will say.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub kind: FailureKind,
    pub message: String,
}

impl StepError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> StepError {
        StepError {
            kind,
            message: message.into(),
        }
    }
}

/// `true` once shutdown was asked for.
pub type Stop = watch::Receiver<bool>;

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &Stop) {
    let mut rx = stop.clone();
    let _ = rx.wait_for(|s| *s).await;
}

/// The run every warehouse step belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub id: &'a str,
    pub kind: RunKind,
    pub table: &'a SyncTable,
}

/// The user's switches for a table (`syspro_sync_control`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub enabled: bool,
    /// `nightly`, `weekly`, `none`, ...
    pub verify_group: String,
}

/// Which pull a page belongs to: which function SYSPRO's side answers and where it lands.
#[derive(Debug, Clone, Copy)]
pub enum Pull<'a> {
    /// `SYSPRO_PULL` from `since`: landed, merged and the watermark advanced page by page.
    Watermark { since: Option<&'a str> },
    /// `SYSPRO_PULL_OPEN`: landed page by page, merged at the end of the pull.
    Open,
    /// `SYSPRO_PULL_KEYS` of one batch of collected keys: landed with its missing keys.
    Keys {
        batch: i64,
        keys: &'a serde_json::Value,
    },
    /// `SYSPRO_DIGESTS`: every key and digest, landed for verify's comparison.
    Digests,
}

impl Pull<'_> {
    fn name(&self) -> &'static str {
        match self {
            Pull::Watermark { .. } => "watermark",
            Pull::Open => "open_items",
            Pull::Keys { .. } => "keys",
            Pull::Digests => "digests",
        }
    }
}

/// A page as SYSPRO's side answered it: the function's value (CONTRACT.md §3) and what the cycle
/// reads from it without asking the warehouse back.
#[derive(Debug, Clone, Default)]
pub struct SourcePage {
    /// The value as JSON text, landed as it is.
    pub value: String,
    pub rows: u64,
    pub poll_id: Option<String>,
    pub next_cursor: Option<String>,
    /// The service's error row (kind, message): audited, nothing landed, the run fails.
    pub error: Option<(String, String)>,
}

/// A page on its way into the warehouse.
#[derive(Debug, Clone, Copy)]
pub struct PageIn<'a> {
    /// 1-based across every pull of the run.
    pub number: u32,
    /// The cursor the page was asked with (`None`: the first page of its pull).
    pub cursor: Option<&'a str>,
    pub since: Option<&'a str>,
    pub page: &'a SourcePage,
}

/// Rows a MERGE inserted and updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    pub inserted: u64,
    pub updated: u64,
}

/// One batch of keys to re-read (`read_refresh_batches`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBatch {
    pub number: i64,
    pub keys: serde_json::Value,
}

/// How a run's audit row is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The watermark step is done; a key refresh follows.
    Running,
    Succeeded,
    Partial,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
        }
    }
}

/// A run's counts across its merges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub refreshed: u64,
}

impl Totals {
    fn add(&mut self, m: Merged) {
        self.inserted += m.inserted;
        self.updated += m.updated;
    }
}

/// SYSPRO's side: one page of a pull, after the pull engine's retries. An error row is a page
/// (with `error` set), not an `Err`: it is audited like any page. `Err` is a request the engine
/// refused before asking SYSPRO.
#[allow(async_fn_in_trait)]
pub trait PageSource {
    async fn page(
        &self,
        table: &str,
        pull: &Pull<'_>,
        cursor: Option<&str>,
    ) -> Result<SourcePage, StepError>;
}

/// Snowflake's side, at the granularity of the procedures' steps (each one or more statements
/// of sql/60_statements). Implemented by the SQL API (production) and the demo's store.
#[allow(async_fn_in_trait)]
pub trait Warehouse {
    /// The table's switches; `None`: the table has no control row.
    async fn control(&self, table: &SyncTable) -> Result<Option<Control>, StepError>;
    /// `start_run`: opens the run's audit row and decides `since` (the watermark rule), then
    /// closes runs of the table cut off earlier. `None`: the table is not in the control table.
    async fn start_run(&self, run: &Run<'_>) -> Result<Option<Started>, StepError>;
    /// One page of the watermark pull, all or nothing: audited, landed, the poll so far merged,
    /// the watermark advanced to what the run has pulled, the run's progress recorded. The
    /// MERGE's counts come from [`Warehouse::committed`].
    async fn commit_page(&self, run: &Run<'_>, page: &PageIn<'_>) -> Result<(), StepError>;
    /// The counts of the merges `commit_page` committed in this run (asked once, after its
    /// last page).
    async fn committed(&self, run: &Run<'_>) -> Result<Merged, StepError>;
    /// A page of a pull that does not move the watermark: audited and landed (keys: with its
    /// missing keys; digests: into the verify digests).
    async fn land_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError>;
    /// An error answer: audited, nothing landed.
    async fn audit_failed_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError>;
    /// `merge_poll` of one poll.
    async fn merge_poll(&self, run: &Run<'_>, poll_id: Option<&str>) -> Result<Merged, StepError>;
    /// `collect_refresh_keys`: what left the open set (compared with the open-items poll) and
    /// the parents new child rows name.
    async fn collect_refresh_keys(
        &self,
        run: &Run<'_>,
        open_poll: Option<&str>,
    ) -> Result<(), StepError>;
    /// `verify_mark_deleted`: rows whose key SYSPRO's digests no longer list. Returns how many.
    async fn verify_mark_deleted(&self, run: &Run<'_>) -> Result<u64, StepError>;
    /// `collect_verify_keys`: the keys whose digest differs or that the target lacks.
    async fn collect_verify_keys(&self, run: &Run<'_>) -> Result<(), StepError>;
    /// `read_refresh_batches`.
    async fn refresh_batches(&self, run: &Run<'_>) -> Result<Vec<KeyBatch>, StepError>;
    /// `mark_missing_deleted` of one batch. Returns how many rows were flagged.
    async fn mark_missing_deleted(&self, run: &Run<'_>, batch: i64) -> Result<u64, StepError>;
    async fn advance_dependents_checked(&self, run: &Run<'_>) -> Result<(), StepError>;
    /// `finish_key_refresh`, then `finish_run` with `status` and the run's totals, then the
    /// run's key and digest work rows go.
    async fn finish_run(
        &self,
        run: &Run<'_>,
        status: RunStatus,
        poll_id: Option<&str>,
        totals: &Totals,
    ) -> Result<(), StepError>;
    /// The procedures' exception handler: the work rows go and the run is closed `failed`
    /// with `kind` and `message`. Returns whether the audit row was written.
    async fn fail_run(
        &self,
        run: &Run<'_>,
        poll_id: Option<&str>,
        kind: &FailureKind,
        message: &str,
    ) -> bool;
}

/// What `start_run` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The watermark rule's `since` (`None`: read everything).
    pub since: Option<String>,
}

/// Most pages one pull that does not move the watermark may take, as in the procedures.
pub const MAX_PAGES: u32 = 100_000;

/// Where the run in flight is, for shutdown: a run may be abandoned while `Pulling`, never while
/// a page's commit is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Pulling,
    Committing,
}

/// The cycle over one warehouse and one page source.
pub struct Cycle<W, S> {
    pub warehouse: W,
    pub source: S,
    /// Pages a sync run's watermark pull takes before it ends `partial`.
    pub pages_per_run: u32,
    phase: watch::Sender<Phase>,
    current_run: Mutex<Option<String>>,
}

impl<W: Warehouse, S: PageSource> Cycle<W, S> {
    pub fn new(warehouse: W, source: S, pages_per_run: u32) -> Self {
        Cycle {
            warehouse,
            source,
            pages_per_run: pages_per_run.max(1),
            phase: watch::Sender::new(Phase::Idle),
            current_run: Mutex::new(None),
        }
    }

    pub fn phase(&self) -> &watch::Sender<Phase> {
        &self.phase
    }

    /// The run id of the run in flight (known before `start_run` answers), taken.
    pub fn take_current_run(&self) -> Option<String> {
        self.current_run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn set_current(&self, run_id: Option<String>) {
        *self.current_run.lock().unwrap_or_else(|p| p.into_inner()) = run_id;
    }

    /// One run of one table: a new run id, audited whatever happens after `start_run`.
    pub async fn run(
        &self,
        table: &SyncTable,
        kind: RunKind,
        stop: &Stop,
    ) -> Result<CycleReport, CycleError> {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("cycle", table = %table.qualified_name(), kind = kind.as_str(), run_id = %run_id);
        self.run_with_id(table, kind, run_id, stop)
            .instrument(span)
            .await
    }

    async fn run_with_id(
        &self,
        table: &SyncTable,
        kind: RunKind,
        run_id: String,
        stop: &Stop,
    ) -> Result<CycleReport, CycleError> {
        let fail = |e: StepError, audited: bool| CycleError {
            table: table.qualified_name(),
            run_id: Some(run_id.clone()),
            kind: e.kind,
            message: e.message,
            audited,
        };
        if *stop.borrow() {
            return Err(fail(
                StepError::new(FailureKind::Cancelled, "shutting down"),
                false,
            ));
        }
        let run = Run {
            id: &run_id,
            kind,
            table,
        };
        let mut report = CycleReport {
            table: table.qualified_name(),
            kind,
            run_id: run_id.clone(),
            poll_id: None,
            since: None,
            pages: 0,
            rows_pulled: 0,
            rows_inserted: 0,
            rows_updated: 0,
            rows_deleted: 0,
            keys_refreshed: 0,
            skipped: false,
            partial: false,
        };
        // the user's switches, as the group procedures honour them
        let control = self
            .warehouse
            .control(table)
            .await
            .map_err(|e| fail(e, false))?;
        if let Some(c) = &control
            && (!c.enabled || (kind == RunKind::Verify && c.verify_group == "none"))
        {
            report.skipped = true;
            return Ok(report);
        }
        // known before start_run answers: an abandoned start_run may still have opened the row
        self.set_current(Some(run_id.clone()));
        let started = match self.warehouse.start_run(&run).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.set_current(None);
                return Err(fail(
                    StepError::new(
                        FailureKind::NotInControl,
                        format!(
                            "{} is not in syspro_sync_control: run the setup SQL (`ml-connector sql`) in Snowflake first",
                            table.name
                        ),
                    ),
                    false,
                ));
            }
            Err(e) => {
                self.set_current(None);
                return Err(fail(e, false));
            }
        };
        let mut progress = Progress::default();
        let outcome = match kind {
            RunKind::Sync => {
                report.since = started.since.clone();
                self.sync_body(&run, started.since.as_deref(), &mut progress, stop)
                    .await
            }
            RunKind::Verify => self.verify_body(&run, &mut progress, stop).await,
        };
        self.set_current(None);
        report.pages = progress.pages;
        report.rows_pulled = progress.rows;
        report.poll_id = progress.watermark_poll.clone();
        match outcome {
            Ok((totals, partial)) => {
                report.rows_inserted = totals.inserted;
                report.rows_updated = totals.updated;
                report.rows_deleted = totals.deleted;
                report.keys_refreshed = totals.refreshed;
                report.partial = partial;
                Ok(report)
            }
            Err(e) => {
                let audited = self
                    .warehouse
                    .fail_run(&run, progress.poll.as_deref(), &e.kind, &e.message)
                    .await;
                Err(fail(e, audited))
            }
        }
    }

    /// `sync_syspro__<table>` after start_run. Returns the totals and whether the run is partial.
    async fn sync_body(
        &self,
        run: &Run<'_>,
        since: Option<&str>,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<(Totals, bool), StepError> {
        let wh = &self.warehouse;
        let pull = Pull::Watermark { since };
        let mut totals = Totals::default();
        let mut cursor: Option<String> = None;
        let mut partial = false;
        loop {
            if progress.pages >= self.pages_per_run {
                partial = true;
                break;
            }
            let page = self.next_page(run, &pull, cursor.as_deref(), stop).await?;
            let number = progress.pages + 1;
            let page_in = PageIn {
                number,
                cursor: cursor.as_deref(),
                since,
                page: &page,
            };
            progress.pages = number;
            if page.poll_id.is_some() {
                progress.poll.clone_from(&page.poll_id);
                progress.watermark_poll.clone_from(&page.poll_id);
            }
            if let Some(e) = self.failed_page(run, &pull, &page_in).await? {
                return Err(e);
            }
            if *stop.borrow() {
                return Err(cancelled());
            }
            // the page's rows, its MERGE and the watermark go together or not at all
            self.phase.send_replace(Phase::Committing);
            let committed = wh
                .commit_page(run, &page_in)
                .instrument(tracing::info_span!("commit", page = number))
                .await;
            self.phase.send_replace(Phase::Pulling);
            committed?;
            progress.rows += page.rows;
            cursor = page.next_cursor.clone();
            if cursor.is_none() {
                break;
            }
        }
        totals.add(wh.committed(run).await?);
        let key_refresh = run.table.key_refresh && !partial;
        let status = if partial {
            RunStatus::Partial
        } else if key_refresh {
            RunStatus::Running
        } else {
            RunStatus::Succeeded
        };
        wh.finish_run(run, status, progress.watermark_poll.as_deref(), &totals)
            .await?;
        if key_refresh {
            self.key_refresh(run, progress, &mut totals, stop).await?;
        }
        Ok((totals, partial))
    }

    /// Steps (b) and (c) of a sync (sql/70_procedures/parts/key_refresh.sql): the open-items
    /// re-read, then a by-key re-read of what Snowflake holds as open but SYSPRO no longer
    /// returns as open, and of the parents new child rows name.
    async fn key_refresh(
        &self,
        run: &Run<'_>,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<(), StepError> {
        let wh = &self.warehouse;
        let mut open_poll = None;
        if run.table.open_items {
            open_poll = self
                .pull_and_merge(run, &Pull::Open, progress, totals, stop)
                .await?;
        }
        wh.collect_refresh_keys(run, open_poll.as_deref()).await?;
        self.refresh_by_key(run, progress, totals, stop).await?;
        wh.advance_dependents_checked(run).await?;
        wh.finish_run(run, RunStatus::Succeeded, None, totals).await
    }

    /// sql/70_procedures/parts/refresh_by_key.sql: one `SYSPRO_PULL_KEYS` pull per batch of
    /// collected keys, each landed and merged, its missing keys flagged deleted.
    async fn refresh_by_key(
        &self,
        run: &Run<'_>,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<(), StepError> {
        for batch in self.warehouse.refresh_batches(run).await? {
            totals.refreshed += batch.keys.as_array().map_or(0, |k| k.len() as u64);
            let pull = Pull::Keys {
                batch: batch.number,
                keys: &batch.keys,
            };
            self.pull_and_merge(run, &pull, progress, totals, stop)
                .await?;
            totals.deleted += self
                .warehouse
                .mark_missing_deleted(run, batch.number)
                .await?;
        }
        Ok(())
    }

    /// A pull that never moves the watermark (open items, a batch of keys): its pages landed,
    /// then its poll merged. Returns the poll id.
    async fn pull_and_merge(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        progress: &mut Progress,
        totals: &mut Totals,
        stop: &Stop,
    ) -> Result<Option<String>, StepError> {
        let poll = self.land_pull(run, pull, progress, stop).await?;
        totals.add(self.warehouse.merge_poll(run, poll.as_deref()).await?);
        Ok(poll)
    }

    /// The pages of a pull that does not move the watermark, landed one by one. Page numbers go
    /// on across the pulls of one run. Returns the pull's poll id.
    async fn land_pull(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<Option<String>, StepError> {
        let mut cursor: Option<String> = None;
        let mut poll = None;
        let first = progress.pages;
        loop {
            if progress.pages - first >= MAX_PAGES {
                return Err(StepError::new(
                    FailureKind::TooManyPages,
                    format!("the pull did not finish within {MAX_PAGES} pages"),
                ));
            }
            let page = self.next_page(run, pull, cursor.as_deref(), stop).await?;
            let number = progress.pages + 1;
            let page_in = PageIn {
                number,
                cursor: cursor.as_deref(),
                since: None,
                page: &page,
            };
            progress.pages = number;
            if page.poll_id.is_some() {
                poll.clone_from(&page.poll_id);
                progress.poll.clone_from(&page.poll_id);
            }
            if let Some(e) = self.failed_page(run, pull, &page_in).await? {
                return Err(e);
            }
            self.warehouse
                .land_page(run, pull, &page_in)
                .instrument(tracing::info_span!("land", page = number))
                .await?;
            progress.rows += page.rows;
            cursor = page.next_cursor.clone();
            if cursor.is_none() {
                return Ok(poll);
            }
        }
    }

    /// The next page from SYSPRO's side, unless shutdown was asked for.
    async fn next_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        cursor: Option<&str>,
        stop: &Stop,
    ) -> Result<SourcePage, StepError> {
        if *stop.borrow() {
            return Err(cancelled());
        }
        self.source
            .page(&run.table.qualified_name(), pull, cursor)
            .instrument(tracing::info_span!("page", pull = pull.name()))
            .await
    }

    /// An error answer is audited and fails the run; `None`: the page is a good one.
    async fn failed_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<Option<StepError>, StepError> {
        let Some((kind, message)) = &page.page.error else {
            return Ok(None);
        };
        self.warehouse.audit_failed_page(run, pull, page).await?;
        Ok(Some(StepError::new(
            FailureKind::Service(kind.clone()),
            message.clone(),
        )))
    }

    /// `verify_syspro__<table>`: every key and digest, compared with the digests stored with
    /// the target's rows; exactly the differing and missing keys re-pulled, rows SYSPRO no
    /// longer has flagged deleted.
    async fn verify_body(
        &self,
        run: &Run<'_>,
        progress: &mut Progress,
        stop: &Stop,
    ) -> Result<(Totals, bool), StepError> {
        let wh = &self.warehouse;
        self.land_pull(run, &Pull::Digests, progress, stop).await?;
        let mut totals = Totals {
            deleted: wh.verify_mark_deleted(run).await?,
            ..Totals::default()
        };
        wh.collect_verify_keys(run).await?;
        self.refresh_by_key(run, progress, &mut totals, stop)
            .await?;
        wh.finish_run(run, RunStatus::Succeeded, None, &totals)
            .await?;
        Ok((totals, false))
    }
}

fn cancelled() -> StepError {
    StepError::new(FailureKind::Cancelled, "cancelled: shutting down")
}

/// How far a run got.
#[derive(Default)]
struct Progress {
    pages: u32,
    rows: u64,
    /// The poll of the last page (what a failed run's audit row names).
    poll: Option<String>,
    /// The watermark pull's poll (the run's poll in its report).
    watermark_poll: Option<String>,
}

#[cfg(test)]
mod tests;
