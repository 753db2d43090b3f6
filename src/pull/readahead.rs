//! Reading a pull's next pages while its caller handles the current one, so that SYSPRO's time
//! overlaps everything else: Snowflake landing a page, the `pull` command writing one, and the
//! service's own work on a page.
//!
//! Safe because a cursor's position fully determines the request for the next page: a page read
//! ahead is the page the call would read, only earlier, exactly as if SYSPRO had been asked a
//! moment sooner. A pull is read ahead only once its caller has followed a cursor (a single call
//! from a worksheet costs SYSPRO one page, not more), never more than [`DEPTH`] pages ahead of
//! the page its caller last asked for, one SYSPRO request at a time per pull, and only when a
//! slot of `syspro.max_concurrency` is free (it never waits for one).
//!
//! Keyset pages are chained as soon as SYSPRO's bytes arrive: the position after a page is its
//! last record's (watermark, key) by the rule of [`super::page`], read by [`page_end`] without
//! normalising the whole page, so
//! SYSPRO starts on page k+1 while page k is still being normalised and answered. That guess is
//! wrong when the byte budget cuts a page short (the next page then starts mid-page): a pull whose
//! pages are cut is read ahead only from the positions its calls give.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::Instrument;

use super::page::{Follows, follows, position_after};
use super::request::{Mode, PreparedPull};
use crate::metrics::Metrics;
use crate::retry::UpstreamError;
use crate::syspro::normalize::page_end;
use crate::syspro::schema::TableSchema;
use crate::syspro::{FetchRequest, Observer, Paging, Position, Source, SourcePage};

/// Pages read ahead of the page a caller last asked for.
pub const DEPTH: u32 = 2;

/// One pull as its pages are requested: the same for every page but the position.
pub struct PullContext {
    pub pull: PreparedPull,
    pub schema: TableSchema,
    pub order: Vec<String>,
    pub page_rows: usize,
    pub paging: Paging,
}

impl PullContext {
    pub fn new(pull: PreparedPull, schema: TableSchema, page_rows: usize, paging: Paging) -> Self {
        let mut ctx = PullContext {
            pull,
            schema,
            order: Vec::new(),
            page_rows,
            paging,
        };
        ctx.order = ctx
            .request(None)
            .order_columns()
            .into_iter()
            .map(str::to_string)
            .collect();
        ctx
    }

    pub fn request<'a>(&'a self, position: Option<&'a Position>) -> FetchRequest<'a> {
        FetchRequest {
            table: &self.pull.table,
            schema: &self.schema,
            since: self.pull.since,
            until: self.pull.until,
            position,
            limit: self.page_rows,
            paging: self.paging,
            // digests hash whole rows; only SYSPRO_KEYS reads the key columns alone
            columns: (self.pull.mode == Mode::Keys)
                .then_some(self.pull.table.key_columns.as_slice()),
            key_order_only: self.pull.keys_only,
            open_items: self.pull.mode == Mode::Open,
            keys: None,
        }
    }

    /// What identifies a page request: everything else is fixed by the table and the settings.
    fn key(&self, position: &Position) -> String {
        let p = &self.pull;
        format!(
            "{}|{:?}|{:?}|{:?}|{}",
            p.table.name,
            p.mode,
            p.since,
            p.until,
            serde_json::to_string(position).expect("positions serialise")
        )
    }
}

type Task = tokio::task::JoinHandle<Result<SourcePage, UpstreamError>>;
/// A page being read or read, and its place among the pages held ([`ReadAhead::held`]).
type Slot = Arc<Mutex<Option<(Task, tokio::sync::OwnedSemaphorePermit)>>>;

/// Where one pull stands.
#[derive(Default)]
struct Poll {
    /// The page the caller last asked for.
    caller_page: u32,
    /// A page found too far ahead to start yet: (page number, position).
    waiting: Option<(u32, Position)>,
    /// The byte budget cut one of the pull's pages: positions come only from calls.
    cut: bool,
}

pub struct ReadAhead {
    source: Arc<Source>,
    limiter: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
    /// Pages being read or read, by [`PullContext::key`]; unused ones are dropped (and their
    /// reads aborted) after a minute.
    pages: moka::sync::Cache<String, Slot>,
    /// Bounds the pages held at once (and so memory). Checked before a read starts: a cache
    /// at capacity would instead evict, or refuse, a page already being read.
    held: Arc<tokio::sync::Semaphore>,
    polls: moka::sync::Cache<String, Arc<Mutex<Poll>>>,
}

impl ReadAhead {
    pub fn new(
        source: Arc<Source>,
        limiter: Arc<tokio::sync::Semaphore>,
        metrics: Metrics,
    ) -> Arc<Self> {
        let slots = limiter.available_permits().max(1) * DEPTH as usize;
        Arc::new(ReadAhead {
            source,
            limiter,
            metrics,
            held: Arc::new(tokio::sync::Semaphore::new(slots)),
            pages: moka::sync::Cache::builder()
                .max_capacity(4 * slots as u64)
                .time_to_live(Duration::from_secs(60))
                .eviction_listener(|_, slot: Slot, cause| {
                    // Taken pages are removed too (cause: explicit); only unused ones are aborted.
                    if cause.was_evicted()
                        && let Some((task, _held)) = slot.lock().expect("not poisoned").take()
                    {
                        task.abort();
                    }
                })
                .build(),
            polls: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(120))
                .build(),
        })
    }

    fn poll(&self, poll_id: &str) -> Arc<Mutex<Poll>> {
        self.polls.get_with(poll_id.to_string(), || {
            Arc::new(Mutex::new(Poll::default()))
        })
    }

    /// The caller asks for page `page` of pull `poll_id`: a page that was too far ahead may
    /// start now.
    pub fn caller_at(self: &Arc<Self>, ctx: &Arc<PullContext>, poll_id: &str, page: u32) {
        let poll = self.poll(poll_id);
        let mut poll = poll.lock().expect("not poisoned");
        poll.caller_page = poll.caller_page.max(page);
        if let Some((k, _)) = &poll.waiting
            && *k <= poll.caller_page + DEPTH
        {
            let (k, position) = poll.waiting.take().expect("just seen");
            self.start(ctx, poll_id, k, position);
        }
    }

    /// Page `page` of the pull begins at `position`: read it now if it is near enough.
    pub fn offer(
        self: &Arc<Self>,
        ctx: &Arc<PullContext>,
        poll_id: &str,
        page: u32,
        position: Position,
    ) {
        let poll = self.poll(poll_id);
        let mut poll = poll.lock().expect("not poisoned");
        if page <= poll.caller_page + DEPTH {
            self.start(ctx, poll_id, page, position);
        } else if poll.waiting.as_ref().is_none_or(|(k, _)| *k < page) {
            poll.waiting = Some((page, position));
            self.metrics.prefetch("deferred");
        }
    }

    /// Called with the poll's lock held, so that one page is never read twice at once.
    fn start(
        self: &Arc<Self>,
        ctx: &Arc<PullContext>,
        poll_id: &str,
        page: u32,
        position: Position,
    ) {
        let key = ctx.key(&position);
        if self.pages.contains_key(&key) {
            return;
        }
        let (Ok(held), Ok(permit)) = (
            self.held.clone().try_acquire_owned(),
            self.limiter.clone().try_acquire_owned(),
        ) else {
            // The call for the page reads it itself.
            self.metrics.prefetch("skipped");
            return;
        };
        let this = self.clone();
        let task_ctx = ctx.clone();
        let poll_id = poll_id.to_string();
        let task = tokio::spawn(
            async move {
                let _permit = permit;
                let observer = this.observer(&task_ctx, &poll_id, page);
                let request = task_ctx.request(Some(&position));
                this.source.fetch(&request, observer.as_deref()).await
            }
            .instrument(tracing::info_span!("read_ahead", page)),
        );
        self.metrics.prefetch("started");
        self.pages
            .insert(key, Arc::new(Mutex::new(Some((task, held)))));
    }

    /// The caller's page was cut short by the byte budget: stop guessing positions from
    /// SYSPRO's bytes for this pull.
    pub fn page_was_cut(&self, poll_id: &str) {
        let poll = self.poll(poll_id);
        let mut poll = poll.lock().expect("not poisoned");
        poll.cut = true;
        poll.waiting = None;
    }

    /// The page at `position`, if it was read ahead and the read succeeded. A failed read
    /// ahead is not the call's failure: the call reads again with its own retries.
    pub async fn take(&self, ctx: &PullContext, position: &Position) -> Option<SourcePage> {
        let slot = self.pages.remove(&ctx.key(position))?;
        let (task, _held) = slot.lock().expect("not poisoned").take()?;
        match task.await {
            Ok(Ok(page)) => {
                self.metrics.prefetch("used");
                Some(page)
            }
            Ok(Err(e)) => {
                tracing::info!(message = "A page read ahead failed; reading it again.", error = %e.message);
                self.metrics.prefetch("failed");
                None
            }
            Err(_) => {
                self.metrics.prefetch("failed");
                None
            }
        }
    }

    /// What sees SYSPRO's bytes for page `page` and offers the page after it. Keyset paging
    /// only: other positions cannot be known before the page is normalised.
    pub fn observer(
        self: &Arc<Self>,
        ctx: &Arc<PullContext>,
        poll_id: &str,
        page: u32,
    ) -> Option<Box<Observer>> {
        if ctx.paging != Paging::Keyset {
            return None;
        }
        let (this, ctx, poll_id) = (self.clone(), ctx.clone(), poll_id.to_string());
        Some(Box::new(move |body: &[u8]| {
            let Some(end) = page_end(body, Some(&ctx.schema)) else {
                return;
            };
            // Only what the answer itself shows: a short page would need a read to tell.
            let more = follows(end.records, ctx.page_rows, end.more, false) == Follows::More;
            let Some(last) = end.last.filter(|_| more) else {
                return;
            };
            let position = position_after(Paging::Keyset, &ctx.order, &last, 0);
            if !this.poll(&poll_id).lock().expect("not poisoned").cut {
                this.offer(&ctx, &poll_id, page + 1, position);
            }
        }))
    }
}
