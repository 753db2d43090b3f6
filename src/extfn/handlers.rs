//! `/v1/pull`, `/v1/pull_range`, `/v1/keys`, `/v1/pull_open`, `/v1/digests`, `/v1/pull_keys`,
//! `/v1/schema`, `/v1/tables`, `/v1/reconcile`, `/healthz`, `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use super::envelope::{self, BatchRow};
use crate::metrics::Metrics;
use crate::pull::reconcile::{self, PreparedReconcile};
use crate::pull::{Mode, PreparedPull, Puller, values};

/// Rows of one batch pulled at once; more would just queue on SYSPRO.
const ROWS_IN_FLIGHT: usize = 4;

pub const SECRET_HEADER: &str = "sf-custom-mlc-secret";
pub const BATCH_ID_HEADER: &str = "sf-external-function-query-batch-id";
pub const QUERY_ID_HEADER: &str = "sf-external-function-current-query-id";

/// State shared by all handlers.
pub struct AppState {
    pub puller: Arc<Puller>,
    pub metrics: Metrics,
    /// SHA-256 of the shared secret: comparing digests keeps the check constant-time in length too.
    pub secret_digest: [u8; 32],
    pub response_budget_bytes: usize,
    /// Batches by (endpoint, batch id), running or finished, so that Snowflake's retry of a batch
    /// or its GET for the answer joins the first run instead of pulling again.
    pub batches: moka::future::Cache<String, Arc<BatchSlot>>,
    /// The batch that answered each page of a pull, by [`page_token`]: the call for the next page
    /// proves that answer arrived, so it is dropped from `batches` then instead of filling the
    /// cache for its whole TTL (a long pull would otherwise keep every page's answer).
    answered_pages: moka::future::Cache<String, String>,
    /// Answer 202 when a batch takes longer than this.
    pub async_after: Duration,
    /// Per company: a company whose SYSPRO is slow fills only its own count of running batches,
    /// so the service never refuses (429) another company's batches because of it.
    pub max_running_batches: usize,
    running: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One batch's run: the body digest it was started with, and its answer once there.
pub struct BatchSlot {
    digest: [u8; 32],
    answer: tokio::sync::watch::Sender<Option<Arc<Bytes>>>,
}

impl BatchSlot {
    fn finished(&self) -> Option<Arc<Bytes>> {
        self.answer.borrow().clone()
    }

    /// Waits up to `limit` for the answer.
    async fn wait(&self, limit: Duration) -> Option<Arc<Bytes>> {
        let mut rx = self.answer.subscribe();
        match tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }
}

/// Settings of the batch machinery.
pub struct BatchSettings {
    pub response_budget_bytes: usize,
    pub cache_ttl: Duration,
    pub cache_max_bytes: u64,
    pub async_after: Duration,
    pub max_running_batches: usize,
}

impl AppState {
    pub fn new(puller: Arc<Puller>, metrics: Metrics, secret: &[u8], b: BatchSettings) -> Self {
        let batches = moka::future::Cache::builder()
            .time_to_live(b.cache_ttl)
            .weigher(|k: &String, v: &Arc<BatchSlot>| {
                let body = v.finished().map(|b| b.len()).unwrap_or(4096);
                (k.len() + body).min(u32::MAX as usize) as u32
            })
            .max_capacity(b.cache_max_bytes)
            .build();
        AppState {
            puller,
            metrics,
            secret_digest: Sha256::digest(secret).into(),
            response_budget_bytes: b.response_budget_bytes,
            batches,
            answered_pages: moka::future::Cache::builder()
                .time_to_live(b.cache_ttl)
                .max_capacity(100_000)
                .build(),
            async_after: b.async_after,
            max_running_batches: b.max_running_batches,
            running: Default::default(),
        }
    }
}

/// A refusal with its status and a message naming the problem.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn bad(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({ "error": self.message }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Pull,
    PullRange,
    Keys,
    Schema,
    Tables,
    Reconcile,
    PullOpen,
    Digests,
    PullKeys,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::Pull => "SYSPRO_PULL",
            Function::PullRange => "SYSPRO_PULL_RANGE",
            Function::Keys => "SYSPRO_KEYS",
            Function::Schema => "SYSPRO_SCHEMA",
            Function::Tables => "SYSPRO_TABLES",
            Function::Reconcile => "SYSPRO_RECONCILE",
            Function::PullOpen => "SYSPRO_PULL_OPEN",
            Function::Digests => "SYSPRO_DIGESTS",
            Function::PullKeys => "SYSPRO_PULL_KEYS",
        }
    }
    fn endpoint(self) -> &'static str {
        match self {
            Function::Pull => "/v1/pull",
            Function::PullRange => "/v1/pull_range",
            Function::Keys => "/v1/keys",
            Function::Schema => "/v1/schema",
            Function::Tables => "/v1/tables",
            Function::Reconcile => "/v1/reconcile",
            Function::PullOpen => "/v1/pull_open",
            Function::Digests => "/v1/digests",
            Function::PullKeys => "/v1/pull_keys",
        }
    }
    fn args(self) -> usize {
        match self {
            Function::Pull => 3,
            Function::PullRange => 4,
            Function::Keys => 2,
            Function::Schema => 1,
            Function::Tables => 0,
            Function::Reconcile => 3,
            Function::PullOpen => 2,
            Function::Digests => 2,
            Function::PullKeys => 3,
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
    for function in [
        Function::Pull,
        Function::PullRange,
        Function::Keys,
        Function::Schema,
        Function::Tables,
        Function::Reconcile,
        Function::PullOpen,
        Function::Digests,
        Function::PullKeys,
    ] {
        cfg.route(
            function.endpoint(),
            web::post().to(
                move |r: HttpRequest,
                      b: Result<Bytes, actix_web::Error>,
                      s: web::Data<AppState>| call(function, r, b, s),
            ),
        )
        .route(
            function.endpoint(),
            web::get()
                .to(move |r: HttpRequest, s: web::Data<AppState>| batch_status(function, r, s)),
        );
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn check_secret(req: &HttpRequest, state: &AppState) -> Result<(), Refusal> {
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(given).into();
    if given.is_empty() || !bool::from(digest.ct_eq(&state.secret_digest)) {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: format!(
                "missing or wrong {SECRET_HEADER} header: the external function's HEADERS = ('mlc-secret' = '...') must equal MLC_SERVER__SECRET"
            ),
        });
    }
    Ok(())
}

async fn call(
    function: Function,
    req: HttpRequest,
    body: Result<Bytes, actix_web::Error>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let batch_id = header(&req, BATCH_ID_HEADER)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let query_id = header(&req, QUERY_ID_HEADER)
        .unwrap_or("")
        .chars()
        .take(100)
        .collect::<String>();
    let span = tracing::info_span!("batch", function = function.name(), query_id = %query_id, batch_id = %batch_id);
    let started = Instant::now();
    let outcome: Result<Option<Arc<Bytes>>, Refusal> = async {
        check_secret(&req, &state)?;
        let body = body.map_err(|e| {
            let status = e.as_response_error().status_code();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal {
                    status,
                    message: "request body is over the size limit (MLC_SERVER__MAX_BODY_BYTES)"
                        .into(),
                }
            } else {
                Refusal::bad(format!("cannot read the request body: {e}"))
            }
        })?;
        let rows =
            envelope::parse_batch(&body, function.args(), function.name()).map_err(Refusal::bad)?;
        let jobs = prepare(function, &rows, &state.puller)?;
        forget_delivered(&state, &jobs).await;
        if batch_id.is_empty() {
            // Without a batch id (curl, tests) there is nothing to join or ask about: answer inline.
            return Ok(Some(Arc::new(execute(jobs, &state).await.0)));
        }
        let digest: [u8; 32] = Sha256::digest(&body).into();
        let key = format!("{}|{}", function.endpoint(), batch_id);
        let slot = start_or_join(&state, key, digest, jobs).await?;
        Ok(slot.wait(state.async_after).await)
    }
    .instrument(span.clone())
    .await;
    let _enter = span.enter();
    match outcome {
        Ok(Some(bytes)) => {
            state.metrics.request(function.endpoint(), 200);
            tracing::info!(
                message = "Answered batch.",
                status = 200,
                bytes = bytes.len(),
                duration_ms = started.elapsed().as_millis() as u64
            );
            HttpResponse::Ok()
                .content_type("application/json")
                .body(Bytes::clone(&bytes))
        }
        Ok(None) => {
            state.metrics.request(function.endpoint(), 202);
            tracing::info!(
                message = "Batch still running; answering 202 for Snowflake to ask again with GET.",
                status = 202
            );
            HttpResponse::Accepted().json(json!({"status": "running"}))
        }
        Err(refusal) => {
            state
                .metrics
                .request(function.endpoint(), refusal.status.as_u16());
            tracing::warn!(message = "Refused batch.", status = refusal.status.as_u16(), error = %refusal.message);
            refusal.response()
        }
    }
}

/// Starts a batch, or joins the run of the same batch id (Snowflake's retry after a gateway
/// timeout, or a concurrent duplicate). moka's entry API makes the check-and-insert atomic, so
/// exactly one run exists per batch id.
async fn start_or_join(
    state: &web::Data<AppState>,
    key: String,
    digest: [u8; 32],
    jobs: Vec<(Value, Job)>,
) -> Result<Arc<BatchSlot>, Refusal> {
    if let Some(slot) = state.batches.get(&key).await {
        return joined(state, slot, digest);
    }
    let companies = batch_companies(&jobs);
    if let Some(full) = state.full_company(&companies) {
        return Err(Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: if full.is_empty() {
                format!(
                    "{} batches are running (MLC_SERVER__MAX_RUNNING_BATCHES); Snowflake retries 429 and slows down",
                    state.max_running_batches
                )
            } else {
                format!(
                    "{} batches of company {full} are running (MLC_SERVER__MAX_RUNNING_BATCHES, per company); Snowflake retries 429 and slows down",
                    state.max_running_batches
                )
            },
        });
    }
    let entry = state
        .batches
        .entry(key.clone())
        .or_insert_with(async {
            Arc::new(BatchSlot {
                digest,
                answer: tokio::sync::watch::channel(None).0,
            })
        })
        .await;
    let slot = entry.value().clone();
    if !entry.is_fresh() {
        return joined(state, slot, digest);
    }
    state.count_running(&companies, true);
    let task_state = state.clone();
    let task_slot = slot.clone();
    let span = tracing::Span::current();
    // The run is its own task: it goes on after a 202 has been answered.
    tokio::spawn(
        async move {
            let (bytes, pages) = execute(jobs, &task_state).await;
            task_slot.answer.send_replace(Some(Arc::new(bytes)));
            task_state.count_running(&companies, false);
            for page in pages {
                task_state.answered_pages.insert(page, key.clone()).await;
            }
            // Re-inserting lets the cache weigh the finished answer.
            task_state.batches.insert(key, task_slot).await;
        }
        .instrument(span),
    );
    Ok(slot)
}

/// The companies a batch reads (`""` for a single-company deployment, and for `SYSPRO_TABLES`,
/// which reads none).
fn batch_companies(jobs: &[(Value, Job)]) -> Vec<String> {
    let mut companies: Vec<String> = jobs
        .iter()
        .map(|(_, job)| match job {
            Job::Pull(p) => p.company.clone(),
            Job::Reconcile(p) => p.company.clone(),
            Job::Schema { company, .. } => company.clone(),
            Job::Tables => String::new(),
        })
        .collect();
    companies.sort();
    companies.dedup();
    companies
}

impl AppState {
    /// The first of `companies` with `max_running_batches` batches running, if any.
    fn full_company<'a>(&self, companies: &'a [String]) -> Option<&'a str> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        companies
            .iter()
            .find(|c| running.get(*c).copied().unwrap_or(0) >= self.max_running_batches)
            .map(String::as_str)
    }

    fn count_running(&self, companies: &[String], started: bool) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for c in companies {
            let n = running.entry(c.clone()).or_default();
            *n = if started { *n + 1 } else { n.saturating_sub(1) };
        }
    }
}

fn joined(
    state: &AppState,
    slot: Arc<BatchSlot>,
    digest: [u8; 32],
) -> Result<Arc<BatchSlot>, Refusal> {
    if slot.digest != digest {
        return Err(Refusal::bad(
            "this batch id was already used with a different body; batch ids identify one batch",
        ));
    }
    state.metrics.batch_cache_hit();
    tracing::info!(message = "Joined an earlier run of this batch; SYSPRO is not asked again.");
    Ok(slot)
}

/// Snowflake's GET on a batch (snowflake.md §1.4): 200 with the answer when finished, 202 while
/// it runs, 404 for a batch this service does not know (never POSTed, or evicted).
async fn batch_status(
    function: Function,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = check_secret(&req, &state) {
        return r.response();
    }
    let batch_id = header(&req, BATCH_ID_HEADER).unwrap_or("");
    let key = format!("{}|{}", function.endpoint(), batch_id);
    let slot = if batch_id.is_empty() {
        None
    } else {
        state.batches.get(&key).await
    };
    let Some(slot) = slot else {
        state.metrics.request(function.endpoint(), 404);
        return Refusal {
            status: StatusCode::NOT_FOUND,
            message: format!("no batch {batch_id:?} is known here (never sent, or older than MLC_SERVER__BATCH_CACHE_TTL_SECS)"),
        }
        .response();
    };
    match slot.wait(state.async_after).await {
        Some(bytes) => {
            state.metrics.request(function.endpoint(), 200);
            HttpResponse::Ok()
                .content_type("application/json")
                .body(Bytes::clone(&bytes))
        }
        None => {
            state.metrics.request(function.endpoint(), 202);
            HttpResponse::Accepted().json(json!({"status": "running"}))
        }
    }
}

/// Validates every row, so one bad row means no SYSPRO request at all.
fn prepare(
    function: Function,
    rows: &[BatchRow],
    puller: &Puller,
) -> Result<Vec<(Value, Job)>, Refusal> {
    let now = chrono::Utc::now().timestamp();
    let mut prepared = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let at = |e: String| {
            Refusal::bad(if rows.len() > 1 {
                format!("row {i}: {e}")
            } else {
                e
            })
        };
        let table = || -> Result<&str, Refusal> {
            envelope::text_arg(row, 0, "table")
                .map_err(at)?
                .ok_or_else(|| at("table must not be NULL".into()))
        };
        let job = match function {
            Function::Pull => {
                let since = envelope::text_arg(row, 1, "since").map_err(at)?;
                let cursor = envelope::text_arg(row, 2, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_pull(table()?, since, cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::PullRange => {
                let since = envelope::text_arg(row, 1, "since").map_err(at)?;
                let until = envelope::text_arg(row, 2, "until")
                    .map_err(at)?
                    .ok_or_else(|| at("until must not be NULL".into()))?;
                let cursor = envelope::text_arg(row, 3, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_pull_range(table()?, since, until, cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::Keys => {
                let cursor = envelope::text_arg(row, 1, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_keys(table()?, cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::PullOpen => {
                let cursor = envelope::text_arg(row, 1, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_open(table()?, cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::Digests => {
                let cursor = envelope::text_arg(row, 1, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_digests(table()?, cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::PullKeys => {
                let cursor = envelope::text_arg(row, 2, "cursor").map_err(at)?;
                Job::Pull(Box::new(
                    puller
                        .prepare_pull_keys(table()?, &row.args[1], cursor, now)
                        .map_err(|e| at(e.to_string()))?,
                ))
            }
            Function::Schema => {
                let r = puller.resolve(table()?).map_err(|e| at(e.to_string()))?;
                Job::Schema {
                    company: r.company.id().to_string(),
                    name: r.name,
                    table: r.table,
                }
            }
            Function::Tables => Job::Tables,
            Function::Reconcile => {
                let from = envelope::text_arg(row, 1, "period_from").map_err(at)?;
                let to = envelope::text_arg(row, 2, "period_to").map_err(at)?;
                Job::Reconcile(
                    reconcile::prepare(puller, table()?, from, to)
                        .map_err(|e| at(e.to_string()))?,
                )
            }
        };
        prepared.push((row.number.clone(), job));
    }
    Ok(prepared)
}

/// Identifies one page of one pull (its poll id and page number).
fn page_token(poll_id: &str, page: u32) -> String {
    format!("{poll_id}#{page}")
}

/// Drops the cached answers of the pages before the ones these jobs continue from: a call
/// carrying page n+1's cursor shows page n's answer was received, so no retry of it will come.
async fn forget_delivered(state: &AppState, jobs: &[(Value, Job)]) {
    for (_, job) in jobs {
        if let Job::Pull(p) = job
            && let Some(cursor) = &p.state
        {
            let token = page_token(&cursor.poll_id, cursor.page.saturating_sub(1));
            if let Some(batch) = state.answered_pages.remove(&token).await {
                state.batches.invalidate(&batch).await;
            }
        }
    }
}

/// Runs the rows (a few at a time) and answers in input order. Also gives the pages answered.
async fn execute(mut jobs: Vec<(Value, Job)>, state: &AppState) -> (Bytes, Vec<String>) {
    let budget = state.response_budget_bytes / jobs.len().max(1);
    let puller = &state.puller;
    if jobs.len() == 1 {
        // The usual batch (the procedures send one row per call): the value is written straight
        // into the answer, saving a copy of the page.
        let (n, job) = jobs.pop().expect("one job");
        let answer = run_job(
            job,
            puller,
            &state.metrics,
            budget,
            envelope::response_start(&n),
        )
        .await;
        let mut out = answer.value;
        envelope::response_end(&mut out);
        return (Bytes::from(out), answer.page.into_iter().collect());
    }
    let results: Vec<(Value, JobAnswer)> = futures_util::stream::iter(jobs)
        .map(|(n, job)| async move {
            let answer = run_job(job, puller, &state.metrics, budget, Vec::new()).await;
            (n, answer)
        })
        .buffered(ROWS_IN_FLIGHT)
        .collect()
        .await;
    let mut pages = Vec::new();
    let values: Vec<(Value, Vec<u8>)> = results
        .into_iter()
        .map(|(n, answer)| {
            pages.extend(answer.page);
            (n, answer.value)
        })
        .collect();
    (Bytes::from(envelope::write_response(&values)), pages)
}

enum Job {
    Reconcile(PreparedReconcile),
    /// Every function that reads pages: the mode says which value it answers.
    Pull(Box<PreparedPull>),
    Schema {
        company: String,
        name: String,
        table: crate::catalog::TableDef,
    },
    Tables,
}

/// One row's value, serialised after what `out` held, and the page it answered (pulls).
struct JobAnswer {
    value: Vec<u8>,
    page: Option<String>,
}

async fn run_job(
    job: Job,
    puller: &Puller,
    metrics: &Metrics,
    budget: usize,
    mut out: Vec<u8>,
) -> JobAnswer {
    let value = match job {
        Job::Reconcile(p) => match reconcile::compute(puller, &p).await {
            Ok(periods) => values::reconcile_value(&p, &periods),
            Err(e) => {
                tracing::error!(message = "SYSPRO read for reconciliation failed; answering with an error row.", table = %p.name, kind = e.kind.as_str(), error = %e.message);
                values::error_row(&e, &p.name, &p.company, None)
            }
        },
        Job::Pull(p) => match puller.run(&p, budget).await {
            Ok(page) => {
                metrics.rows(&page.table, page.rows.len() as u64);
                tracing::info!(message = "Pulled page.", table = %page.table, poll_id = %page.poll_id, page = page.page, rows = page.rows.len(), attempts = page.attempts, last = page.next_cursor.is_none());
                let token = page_token(&page.poll_id, page.page);
                match p.mode {
                    Mode::Keys => write_value(&mut out, &page.keys_value()),
                    Mode::Digests => out.extend(page.digests_value()),
                    _ => page.write_pull_value(&mut out),
                }
                return JobAnswer {
                    value: out,
                    page: Some(token),
                };
            }
            Err(f) => {
                tracing::error!(message = "SYSPRO read failed; answering with an error row.", table = %f.table, poll_id = %f.poll_id, kind = f.error.kind.as_str(), error = %f.error.message, attempts = f.error.attempts);
                f.into_value()
            }
        },
        Job::Schema {
            company,
            name,
            table,
        } => {
            let source = puller
                .company(&company)
                .expect("prepared against this engine's companies")
                .source();
            match source.schema(&table).await {
                Ok(schema) => values::schema_value(&name, &company, &table, &schema),
                Err(e) => values::error_row(&e, &name, &company, None),
            }
        }
        Job::Tables => values::tables_value(puller.catalog(), &puller.company_ids()),
    };
    write_value(&mut out, &value);
    JobAnswer {
        value: out,
        page: None,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    serde_json::to_writer(out, value).expect("serialising a Value cannot fail");
}
