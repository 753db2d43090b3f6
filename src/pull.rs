//! The pull engine: one call returns one page of a table's rows since a watermark, plus a signed
//! cursor for the next. Shared by the external function, the `pull` command and push mode.
//!
//! Exactly-once across pages comes from a total order — (watermark, key...) — and resuming
//! strictly after the last row returned, whichever way SYSPRO pages.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, TableDef};
use crate::config::Paging;
use crate::cursor::{CursorFunction, CursorSigner, CursorState, Position};
use crate::keyset::{KeySet, match_text, record_match_text};
use crate::readahead::{PullContext, ReadAhead};
use crate::retry::UpstreamError;
use crate::rows::Rows;
use crate::syspro::{FetchRequest, Observer, Source, SourcePage};
use crate::watermark::{Since, parse_record_timestamp};

/// Bytes kept free in each answer for the envelope around the rows (ids, cursor, names).
const ENVELOPE_RESERVE: usize = 8 * 1024;

/// A short page followed by more rows teaches the server's silent page cap only from this size
/// on: smaller short pages are more likely rows inserted while the pull ran.
const MIN_LEARNED_CAP: usize = 50;

/// A caller mistake: answered with 400 before anything is asked of SYSPRO.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// What a pull returns (CONTRACT.md §3, §3.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// `SYSPRO_PULL` / `SYSPRO_PULL_RANGE`: rows since a watermark.
    Rows,
    /// `SYSPRO_KEYS`: the key of every row.
    Keys,
    /// `SYSPRO_PULL_OPEN`: the rows the table's open-items filter names.
    Open,
    /// `SYSPRO_DIGESTS`: the key and digest of every row.
    Digests,
    /// `SYSPRO_PULL_KEYS`: the rows with these keys.
    ByKeys(Arc<KeySet>),
}

impl Mode {
    fn cursor_function(&self) -> CursorFunction {
        match self {
            Mode::Rows => CursorFunction::Pull,
            Mode::Keys => CursorFunction::Keys,
            Mode::Open => CursorFunction::PullOpen,
            Mode::Digests => CursorFunction::Digests,
            Mode::ByKeys(_) => CursorFunction::PullKeys,
        }
    }
}

/// What was asked, checked and resolved against the catalog; no I/O has happened yet.
#[derive(Debug, Clone)]
pub struct PreparedPull {
    pub table: TableDef,
    pub since: Option<Since>,
    /// Exclusive upper bound (parallel backfill ranges).
    pub until: Option<Since>,
    /// Ordered by the key alone (keys and digests).
    pub keys_only: bool,
    pub mode: Mode,
    pub state: Option<CursorState>,
}

impl PreparedPull {
    /// The pull's poll id: its cursor's, or a new one for a first page.
    fn poll_id(&self) -> String {
        self.state
            .as_ref()
            .map(|s| s.p.clone())
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    }
}

/// The engine, shared by every caller.
pub struct Puller {
    catalog: Arc<Catalog>,
    source: Arc<Source>,
    signer: CursorSigner,
    page_rows: usize,
    paging: Paging,
    /// Bounds SYSPRO requests in flight across every caller: SYSPRO is a production ERP.
    limiter: Arc<tokio::sync::Semaphore>,
    ahead: Option<Arc<ReadAhead>>,
    max_query_bytes: usize,
    /// The most rows SYSPRO was seen to answer without a next link when more followed (its
    /// silent page cap); `usize::MAX` until one is seen. Pages ask for no more than this.
    server_cap: std::sync::atomic::AtomicUsize,
}

impl Puller {
    pub fn new(
        catalog: Arc<Catalog>,
        source: Arc<Source>,
        signer: CursorSigner,
        page_rows: usize,
        paging: Paging,
        max_concurrency: usize,
    ) -> Self {
        Puller {
            catalog,
            source,
            signer,
            page_rows,
            paging,
            limiter: Arc::new(tokio::sync::Semaphore::new(max_concurrency.max(1))),
            ahead: None,
            max_query_bytes: 2048,
            server_cap: std::sync::atomic::AtomicUsize::new(usize::MAX),
        }
    }

    /// The longest query string a SYSPRO request may carry (`syspro.max_query_bytes`).
    pub fn with_max_query_bytes(mut self, bytes: usize) -> Self {
        self.max_query_bytes = bytes;
        self
    }

    /// Reads pulls' next pages ahead of their callers (see [`crate::readahead`]).
    pub fn with_read_ahead(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.ahead = Some(ReadAhead::new(
            self.source.clone(),
            self.limiter.clone(),
            metrics,
        ));
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn page_rows(&self) -> usize {
        self.page_rows
    }

    /// Rows a page asks for: `page_rows`, or the server's silent page cap once one was seen.
    pub fn effective_page_rows(&self) -> usize {
        self.page_rows.min(
            self.server_cap
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1),
        )
    }

    /// The silent page cap learned from SYSPRO's answers, if any.
    pub fn learned_page_cap(&self) -> Option<usize> {
        Some(self.server_cap.load(std::sync::atomic::Ordering::Relaxed))
            .filter(|&c| c != usize::MAX)
    }

    /// One SYSPRO read under the engine's concurrency limit.
    pub async fn fetch_limited(
        &self,
        request: &FetchRequest<'_>,
    ) -> Result<SourcePage, UpstreamError> {
        self.fetch_limited_observed(request, None).await
    }

    async fn fetch_limited_observed(
        &self,
        request: &FetchRequest<'_>,
        observer: Option<&Observer>,
    ) -> Result<SourcePage, UpstreamError> {
        let _permit = self
            .limiter
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.source.fetch_observed(request, observer).await
    }

    /// The catalog's table, or a 400 that lists the known ones.
    pub fn table(&self, name: &str) -> Result<TableDef, BadRequest> {
        self.catalog
            .get(name)
            .cloned()
            .map_err(|e| BadRequest(e.to_string()))
    }

    /// Checks a `SYSPRO_PULL(table, since, cursor)` call.
    pub fn prepare_pull(
        &self,
        table: &str,
        since: Option<&str>,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let table = self.table(table)?;
        let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => {
                if table.watermark_column.is_none() {
                    return Err(BadRequest(format!(
                        "{} is read whole (it has no watermark column), so since must be NULL",
                        table.name
                    )));
                }
                Some(Since::parse(text).map_err(BadRequest)?)
            }
        };
        let state = self.verify_cursor(
            cursor,
            &table,
            since.map(|s| s.canonical()).as_deref(),
            CursorFunction::Pull,
            now,
        )?;
        Ok(PreparedPull {
            table,
            since,
            until: None,
            keys_only: false,
            mode: Mode::Rows,
            state,
        })
    }

    /// Checks a `SYSPRO_PULL_OPEN(table, cursor)` call.
    pub fn prepare_open(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let table = self.table(table)?;
        if table.open_items.is_none() {
            return Err(BadRequest(format!(
                "{} has no open-items filter, so there is nothing to re-read: its changes move its watermark or it is read whole; set [tables.{}] open_items = \"Column op value\" to give it one",
                table.name, table.name
            )));
        }
        self.whole_table(table, Mode::Open, None, cursor, now)
    }

    /// Checks a `SYSPRO_DIGESTS(table, cursor)` call.
    pub fn prepare_digests(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.table(table)?, Mode::Digests, None, cursor, now)
    }

    /// Checks a `SYSPRO_PULL_KEYS(table, keys, cursor)` call: every key, before any SYSPRO read.
    pub fn prepare_pull_keys(
        &self,
        table: &str,
        keys: &Value,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let table = self.table(table)?;
        let set = KeySet::parse(&table, keys).map_err(BadRequest)?;
        let binding = set.binding.clone();
        self.whole_table(
            table,
            Mode::ByKeys(Arc::new(set)),
            Some(&binding),
            cursor,
            now,
        )
    }

    /// Checks a `SYSPRO_KEYS(table, cursor)` call.
    pub fn prepare_keys(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.table(table)?, Mode::Keys, None, cursor, now)
    }

    /// A read with no watermark bounds, its cursor checked against `mode`'s function and
    /// `binding`. Everything but the open items is read in key order.
    fn whole_table(
        &self,
        table: TableDef,
        mode: Mode,
        binding: Option<&str>,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let state = self.verify_cursor(cursor, &table, binding, mode.cursor_function(), now)?;
        Ok(PreparedPull {
            table,
            since: None,
            until: None,
            keys_only: !matches!(mode, Mode::Open | Mode::Rows),
            mode,
            state,
        })
    }

    /// Checks a `SYSPRO_PULL_RANGE(table, since, until, cursor)` call: rows with
    /// `since <= watermark < until`, so that disjoint ranges can be pulled concurrently.
    pub fn prepare_pull_range(
        &self,
        table: &str,
        since: Option<&str>,
        until: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let def = self.table(table)?;
        if def.watermark_column.is_none() {
            return Err(BadRequest(format!(
                "{} is read whole (it has no watermark column), so it cannot be pulled by range",
                def.name
            )));
        }
        let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => Some(Since::parse(text).map_err(BadRequest)?),
            None => None,
        };
        let until = Since::parse(until).map_err(|e| BadRequest(e.replace("since", "until")))?;
        if since.is_some_and(|s| s >= until) {
            return Err(BadRequest(format!(
                "until {} must be later than since {}",
                until.canonical(),
                since.map(|s| s.canonical()).unwrap_or_default()
            )));
        }
        let binding = range_binding(since, Some(until));
        let state =
            self.verify_cursor(cursor, &def, binding.as_deref(), CursorFunction::Pull, now)?;
        Ok(PreparedPull {
            table: def,
            since,
            until: Some(until),
            keys_only: false,
            mode: Mode::Rows,
            state,
        })
    }

    fn verify_cursor(
        &self,
        cursor: Option<&str>,
        table: &TableDef,
        since: Option<&str>,
        function: CursorFunction,
        now: i64,
    ) -> Result<Option<CursorState>, BadRequest> {
        match cursor.map(str::trim).filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(c) => self
                .signer
                .verify(c, &table.name, since, function, now)
                .map(Some)
                .map_err(|e| BadRequest(e.to_string())),
        }
    }

    /// Fetches one page and builds the function's value. `budget` bounds the value's JSON size.
    pub async fn run(&self, p: &PreparedPull, budget: usize) -> Result<Page, PullFailure> {
        if let Mode::ByKeys(set) = &p.mode {
            return self.run_keys(p, set, budget).await;
        }
        let poll_id = p.poll_id();
        let fail = |error: UpstreamError| PullFailure {
            error,
            table: p.table.name.clone(),
            poll_id: poll_id.clone(),
        };
        let schema = self.source.schema(&p.table).await.map_err(fail)?;
        let limit = self.effective_page_rows();
        let ctx = Arc::new(PullContext::new(p.clone(), schema, limit, self.paging));
        let order = &ctx.order;
        let position = p.state.as_ref().map(|s| s.pos.clone());
        let request = ctx.request(position.as_ref());
        // Only pulls whose caller follows cursors are read ahead.
        let ahead = self.ahead.as_ref().zip(p.state.as_ref());
        if let Some((ahead, state)) = ahead {
            ahead.caller_at(&ctx, &state.p, state.n);
        }
        let read_ahead = match (ahead, &position) {
            (Some((ahead, _)), Some(pos)) => ahead.take(&ctx, pos).await,
            _ => None,
        };
        let page = match read_ahead {
            Some(page) => page,
            None => {
                let observer =
                    ahead.and_then(|(ahead, state)| ahead.observer(&ctx, &state.p, state.n));
                self.fetch_limited_observed(&request, observer.as_deref())
                    .await
                    .map_err(fail)?
            }
        };
        let fetched_at = Utc::now().naive_utc();

        let already = match &position {
            Some(Position::Link { skip, .. }) => *skip,
            _ => 0,
        };
        let fetched = page.rows.len();
        let mut rows = page.rows;
        rows.remove_front(already);
        // One row always goes out, or a huge row would stall the pull forever.
        let mut budget_left = budget.saturating_sub(ENVELOPE_RESERVE);
        let mut kept = 0;
        for row in rows.iter() {
            let size = row.len() + 1;
            if kept > 0 && size > budget_left {
                break;
            }
            budget_left = budget_left.saturating_sub(size);
            kept += 1;
        }
        let cut = kept < rows.len();
        rows.truncate(kept);

        let mut high_water = p.state.as_ref().and_then(|s| s.hw.clone());
        if p.table.watermark_column.is_some() && p.mode == Mode::Rows {
            for i in 0..rows.len() {
                if let Some(v) = rows.watermark(i) {
                    // Rows come in watermark order, so most equal the high water: skip parsing those.
                    if high_water.as_deref().is_none_or(|h| v != h && later(&v, h)) {
                        high_water = Some(v.into_owned());
                    }
                }
            }
        }

        let offset_so_far = p.state.as_ref().map(|s| s.d).unwrap_or(0);
        let last_position = |rows: &Rows| -> Option<Position> {
            let n = rows.len();
            if n == 0 {
                return None;
            }
            Some(match self.paging {
                Paging::Keyset => {
                    let last = rows.record(n - 1);
                    Position::After {
                        v: order
                            .iter()
                            .map(|c| last.get(c).cloned().unwrap_or(Value::Null))
                            .collect(),
                    }
                }
                Paging::Skip => Position::Offset {
                    n: offset_so_far + n as u64,
                },
            })
        };
        let next = if cut {
            match &position {
                Some(Position::Link { url, .. }) => Some(Position::Link {
                    url: url.clone(),
                    skip: already + rows.len(),
                }),
                _ => last_position(&rows),
            }
        } else if let Some(link) = page.next_link {
            match self.paging {
                // SYSPRO paged the answer. Its next link encodes a position we cannot inspect
                // (offset-based links skip or repeat rows when data changes between pages,
                // syspro.md §5.7), so keyset paging resumes after the last row instead: the same
                // number of requests, and exactly-once whatever the link means.
                Paging::Keyset => last_position(&rows),
                Paging::Skip => Some(Position::Link { url: link, skip: 0 }),
            }
        } else if fetched == 0 {
            None
        } else if matches!(position, Some(Position::Link { .. })) || fetched >= limit {
            // After SYSPRO's own paging ends, or after a full page, there may be more: continue
            // after the last row. The answer to that is empty when the table is done.
            last_position(&rows)
        } else {
            // A short page without a next link proves nothing: servers cap pages without
            // saying so (CONTRACT.md §3.2). One row asked for after the last row does.
            match last_position(&rows) {
                None => None,
                Some(pos) => {
                    let mut probe = ctx.request(Some(&pos));
                    probe.limit = 1;
                    let after = self.fetch_limited(&probe).await.map_err(fail)?;
                    if after.rows.is_empty() {
                        None
                    } else {
                        if fetched >= MIN_LEARNED_CAP {
                            let was = self
                                .server_cap
                                .fetch_min(fetched, std::sync::atomic::Ordering::Relaxed);
                            if fetched < was {
                                tracing::warn!(
                                    message = "SYSPRO answered fewer rows than asked, without a next link, and more followed: it caps pages silently; pages now ask for no more.",
                                    table = %p.table.name,
                                    asked = limit,
                                    answered = fetched
                                );
                            }
                        }
                        Some(pos)
                    }
                }
            }
        };
        if let Some((ahead, state)) = ahead {
            if cut {
                ahead.page_was_cut(&state.p);
            }
            if let Some(pos) = &next {
                // Usually started already, from SYSPRO's bytes; not when the budget cut the
                // page, or for positions only a normalised page gives.
                ahead.offer(&ctx, &state.p, state.n + 1, pos.clone());
            }
        }
        let page_no = p.state.as_ref().map(|s| s.n).unwrap_or(1);
        let next_cursor = next.map(|pos| {
            self.signer.sign(&CursorState {
                t: p.table.name.clone(),
                s: range_binding(p.since, p.until),
                p: poll_id.clone(),
                n: page_no + 1,
                hw: high_water.clone(),
                pos,
                iat: Utc::now().timestamp(),
                d: offset_so_far + rows.len() as u64,
                keys: p.mode == Mode::Keys,
                f: match p.mode {
                    Mode::Rows | Mode::Keys => None,
                    _ => Some(p.mode.cursor_function()),
                },
                c: 0,
                seen: Vec::new(),
            })
        });
        Ok(Page {
            table: p.table.name.clone(),
            poll_id,
            page: page_no,
            fetched_at: crate::watermark::format_naive(fetched_at),
            since: p.since.map(|s| s.canonical()),
            rows,
            next_cursor,
            high_water,
            key_columns: p.table.key_columns.clone(),
            watermark_column: p.table.watermark_column.clone(),
            attempts: page.attempts,
            missing: None,
            open_items: match p.mode {
                Mode::Open => p.table.open_items.as_ref().map(|o| o.text()),
                _ => None,
            },
        })
    }

    /// One answer of `SYSPRO_PULL_KEYS`: the key runs of [`Source::key_chunks`], one SYSPRO
    /// request each (more when SYSPRO pages a run), until the byte budget is used. A run's keys
    /// that no record answered are `missing` only once a request shows nothing follows the last
    /// row: a short page alone proves nothing (CONTRACT.md §3.2).
    async fn run_keys(
        &self,
        p: &PreparedPull,
        set: &KeySet,
        budget: usize,
    ) -> Result<Page, PullFailure> {
        let poll_id = p.poll_id();
        let fail = |error: UpstreamError| PullFailure {
            error,
            table: p.table.name.clone(),
            poll_id: poll_id.clone(),
        };
        let page_no = p.state.as_ref().map(|s| s.n).unwrap_or(1);
        let mut rows = Rows::new();
        let mut missing = Vec::new();
        let mut attempts = 0;
        let mut next = None;
        if !set.keys.is_empty() {
            let schema = self.source.schema(&p.table).await.map_err(fail)?;
            let chunks = self
                .source
                .key_chunks(
                    &p.table,
                    &schema,
                    &set.keys,
                    self.page_rows,
                    self.max_query_bytes,
                )
                .map_err(fail)?;
            let (mut c, mut pos, mut seen) = match &p.state {
                Some(s) => (s.c, Some(s.pos.clone()), s.seen.clone()),
                None => (0, None, Vec::new()),
            };
            if matches!(pos, Some(Position::Offset { n: 0 })) {
                pos = None;
            }
            let mut budget_left = budget.saturating_sub(ENVELOPE_RESERVE);
            while c < chunks.len() {
                let chunk = &set.keys[chunks[c].clone()];
                let wanted: std::collections::HashMap<String, u32> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (match_text(k), i as u32))
                    .collect();
                let request = FetchRequest {
                    table: &p.table,
                    schema: &schema,
                    since: None,
                    until: None,
                    position: pos.as_ref(),
                    limit: self.page_rows,
                    paging: Paging::Keyset,
                    columns: None,
                    key_order_only: true,
                    open_items: false,
                    keys: Some(chunk),
                };
                let page = self.fetch_limited(&request).await.map_err(fail)?;
                attempts += page.attempts;
                let fetched = page.rows.len();
                let mut kept = 0;
                for row in page.rows.iter() {
                    // the row, its comma and its digest
                    let size = row.len() + 36;
                    if (kept > 0 || !rows.is_empty()) && size > budget_left {
                        break;
                    }
                    budget_left = budget_left.saturating_sub(size);
                    kept += 1;
                }
                for i in 0..kept {
                    let record = page.rows.record(i);
                    if let Some(&j) = wanted.get(&record_match_text(&p.table, &record))
                        && !seen.contains(&j)
                    {
                        seen.push(j);
                    }
                }
                rows.extend_from(&page.rows, 0..kept);
                let unseen = chunk.len() > seen.len();
                let cut = kept < fetched;
                // More of this run may follow: SYSPRO paged it, the budget cut it, or keys are
                // still unanswered after a non-empty page (a silent page cap looks the same).
                let more = cut || page.next_link.is_some() || (fetched > 0 && unseen);
                if more {
                    if kept > 0 {
                        let last = page.rows.record(kept - 1);
                        pos = Some(Position::After {
                            v: p.table
                                .key_columns
                                .iter()
                                .map(|k| last.get(k).cloned().unwrap_or(Value::Null))
                                .collect(),
                        });
                    }
                    if cut || kept == 0 {
                        next = Some((c, pos.clone(), seen.clone()));
                        break;
                    }
                    continue;
                }
                let seen_set: std::collections::HashSet<u32> = seen.iter().copied().collect();
                let start = chunks[c].start;
                for j in 0..chunk.len() {
                    if !seen_set.contains(&(j as u32)) {
                        missing.push(set.object(&p.table, start + j));
                    }
                }
                c += 1;
                pos = None;
                seen.clear();
                if c < chunks.len() && budget_left < 64 * 1024 {
                    next = Some((c, None, Vec::new()));
                    break;
                }
            }
        }
        let next_cursor = next.map(|(c, pos, seen)| {
            self.signer.sign(&CursorState {
                t: p.table.name.clone(),
                s: Some(set.binding.clone()),
                p: poll_id.clone(),
                n: page_no + 1,
                hw: None,
                // the start of a run is "no position"; Offset 0 stands for it in the cursor
                pos: pos.unwrap_or(Position::Offset { n: 0 }),
                iat: Utc::now().timestamp(),
                d: 0,
                keys: false,
                f: Some(CursorFunction::PullKeys),
                c,
                seen,
            })
        });
        Ok(Page {
            table: p.table.name.clone(),
            poll_id,
            page: page_no,
            fetched_at: crate::watermark::format_naive(Utc::now().naive_utc()),
            since: None,
            rows,
            next_cursor,
            high_water: None,
            key_columns: p.table.key_columns.clone(),
            watermark_column: p.table.watermark_column.clone(),
            attempts,
            missing: Some(missing),
            open_items: None,
        })
    }
}

/// What a cursor is bound to: `since`, or `since..until` for a range.
fn range_binding(since: Option<Since>, until: Option<Since>) -> Option<String> {
    match (since, until) {
        (s, Some(u)) => Some(format!(
            "{}..{}",
            s.map(|s| s.canonical()).unwrap_or_default(),
            u.canonical()
        )),
        (s, None) => s.map(|s| s.canonical()),
    }
}

/// True when watermark text `a` is later than `b`, compared as timestamps when both parse.
fn later(a: &str, b: &str) -> bool {
    match (parse_record_timestamp(a), parse_record_timestamp(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}

/// One page of a pull.
#[derive(Debug)]
pub struct Page {
    pub table: String,
    pub poll_id: String,
    pub page: u32,
    pub fetched_at: String,
    pub since: Option<String>,
    pub rows: Rows,
    pub next_cursor: Option<String>,
    pub high_water: Option<String>,
    pub key_columns: Vec<String>,
    pub watermark_column: Option<String>,
    pub attempts: u32,
    /// `SYSPRO_PULL_KEYS`: requested keys SYSPRO does not have.
    pub missing: Option<Vec<Value>>,
    /// `SYSPRO_PULL_OPEN`: the filter the rows were read with.
    pub open_items: Option<String>,
}

impl Page {
    /// The `SYSPRO_PULL` value (CONTRACT.md §3) as JSON. The rows are copied in as they are.
    pub fn write_pull_value(&self, out: &mut Vec<u8>) {
        out.reserve(self.rows.buf.len() + self.rows.len() + 1024);
        out.extend_from_slice(b"{\"table\":");
        write_json(out, &self.table);
        out.extend_from_slice(b",\"poll_id\":");
        write_json(out, &self.poll_id);
        out.extend_from_slice(b",\"page\":");
        write_json(out, &self.page);
        out.extend_from_slice(b",\"fetched_at\":");
        write_json(out, &self.fetched_at);
        out.extend_from_slice(b",\"since\":");
        write_json(out, &self.since);
        out.extend_from_slice(b",\"rows\":");
        self.rows.write_array(out);
        out.extend_from_slice(b",\"digests\":");
        self.rows.write_digests(out);
        out.extend_from_slice(b",\"row_count\":");
        write_json(out, &self.rows.len());
        out.extend_from_slice(b",\"next_cursor\":");
        write_json(out, &self.next_cursor);
        out.extend_from_slice(b",\"high_water\":");
        write_json(out, &self.high_water);
        out.extend_from_slice(b",\"key_columns\":");
        write_json(out, &self.key_columns);
        out.extend_from_slice(b",\"watermark_column\":");
        write_json(out, &self.watermark_column);
        if let Some(missing) = &self.missing {
            out.extend_from_slice(b",\"missing\":");
            write_json(out, missing);
        }
        if let Some(open) = &self.open_items {
            out.extend_from_slice(b",\"open_items\":");
            write_json(out, open);
        }
        out.push(b'}');
    }

    /// The `SYSPRO_DIGESTS` value: each row's key and the digest of the whole row, both from one
    /// parse of the row.
    pub fn digests_value(&self) -> Vec<u8> {
        let mut keys = Vec::with_capacity(self.rows.len() * 48 + 2);
        let mut digests = Vec::with_capacity(self.rows.len() * 35 + 2);
        keys.push(b'[');
        digests.push(b'[');
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                keys.push(b',');
                digests.push(b',');
            }
            let digest = crate::rows::digest_and_key(row, &self.key_columns, &mut keys);
            digests.push(b'"');
            digests.extend_from_slice(digest.as_bytes());
            digests.push(b'"');
        }
        keys.push(b']');
        digests.push(b']');
        let mut out = Vec::with_capacity(keys.len() + digests.len() + 256);
        out.extend_from_slice(b"{\"table\":");
        write_json(&mut out, &self.table);
        out.extend_from_slice(b",\"key_columns\":");
        write_json(&mut out, &self.key_columns);
        out.extend_from_slice(b",\"keys\":");
        out.extend_from_slice(&keys);
        out.extend_from_slice(b",\"digests\":");
        out.extend_from_slice(&digests);
        out.extend_from_slice(b",\"next_cursor\":");
        write_json(&mut out, &self.next_cursor);
        out.push(b'}');
        out
    }

    /// The `SYSPRO_KEYS` value: each row's key columns, in key order.
    pub fn keys_value(&self) -> Value {
        let keys: Vec<Value> = (0..self.rows.len())
            .map(|i| {
                let row = self.rows.record(i);
                let obj: Map<String, Value> = self
                    .key_columns
                    .iter()
                    .map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Value::Null)))
                    .collect();
                Value::Object(obj)
            })
            .collect();
        let mut v = Map::with_capacity(4);
        v.insert("table".into(), self.table.clone().into());
        v.insert("key_columns".into(), self.key_columns.clone().into());
        v.insert("keys".into(), Value::Array(keys));
        v.insert("next_cursor".into(), self.next_cursor.clone().into());
        Value::Object(v)
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serialising to a Vec cannot fail");
}

/// SYSPRO kept failing: becomes an error row, so the procedure can audit it.
#[derive(Debug)]
pub struct PullFailure {
    pub error: UpstreamError,
    pub table: String,
    pub poll_id: String,
}

impl PullFailure {
    pub fn into_value(self) -> Value {
        json!({
            "error": {"kind": self.error.kind.as_str(), "message": self.error.message, "attempts": self.error.attempts},
            "table": self.table,
            "poll_id": self.poll_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn page(rows: Vec<Map<String, Value>>) -> Page {
        Page {
            table: "ApInvoice".into(),
            poll_id: "p-1".into(),
            page: 3,
            fetched_at: "2026-11-20T10:00:00".into(),
            since: Some("2026-11-01T00:00:00".into()),
            rows: rows.into_iter().collect(),
            next_cursor: None,
            high_water: Some("2026-11-03T00:00:00".into()),
            key_columns: vec!["Supplier".into(), "Invoice".into()],
            watermark_column: Some("JournalDate".into()),
            attempts: 1,
            missing: None,
            open_items: None,
        }
    }

    #[test]
    fn page_values_keep_their_shape() {
        let rows = vec![
            row(
                r#"{"Supplier":"ACME","Invoice":"000000000015001","JournalDate":"2026-11-03T00:00:00","OrigInvValue":12345678901.23}"#,
            ),
            row(
                r#"{"Supplier":"Åström","Invoice":"a-1","JournalDate":"2026-11-03T00:00:00","OrigInvValue":1234.50}"#,
            ),
        ];
        let expected = json!({
            "table": "ApInvoice",
            "poll_id": "p-1",
            "page": 3,
            "fetched_at": "2026-11-20T10:00:00",
            "since": "2026-11-01T00:00:00",
            "rows": rows.clone(),
            "digests": rows.iter().map(|r| crate::rows::digest_record(&serde_json::to_vec(r).unwrap())).collect::<Vec<_>>(),
            "row_count": 2,
            "next_cursor": null,
            "high_water": "2026-11-03T00:00:00",
            "key_columns": ["Supplier", "Invoice"],
            "watermark_column": "JournalDate",
        });
        let mut got = Vec::new();
        page(rows.clone()).write_pull_value(&mut got);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let digests: Value = serde_json::from_slice(&page(rows.clone()).digests_value()).unwrap();
        assert_eq!(digests["keys"], page(rows.clone()).keys_value()["keys"]);
        assert_eq!(digests["digests"], expected["digests"]);
        let keys = page(rows).keys_value();
        assert_eq!(
            serde_json::to_string(&keys).unwrap(),
            r#"{"table":"ApInvoice","key_columns":["Supplier","Invoice"],"keys":[{"Supplier":"ACME","Invoice":"000000000015001"},{"Supplier":"Åström","Invoice":"a-1"}],"next_cursor":null}"#
        );
    }
}
