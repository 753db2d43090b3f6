//! `SqlApiClient`: Snowflake's SQL API v2 with key-pair JWT (snowflake.md §3–4).
//!
//! One statement = one `POST /api/v2/statements?requestId=<uuid>`; a resubmission after a 429,
//! 5xx or transport error carries the same `requestId` plus `retry=true`, so Snowflake does not
//! run a statement twice. A 202 is polled with `GET /api/v2/statements/{handle}`; results with
//! several partitions are fetched with `?partition=N` (gzip, decoded by reqwest). All waiting,
//! on failure and while polling, goes through [`crate::retry`].
//!
//! Multi-statement requests (`MULTI_STATEMENT_COUNT`) carry the transaction
//! `begin; merge; advance watermark; commit`. Bindings are not allowed there, so values are
//! inlined as typed, escaped literals ([`inline_literal`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use super::jwt::TokenSource;
use super::wire::{self, Binding, PartitionBody, StatementRequest, StatementResponse};
use crate::retry::{self, AttemptError, ErrorKind, RetryPolicy};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Null,
}

impl Bind {
    pub fn text(s: impl Into<String>) -> Bind {
        Bind::Text(s.into())
    }

    pub fn opt_text(s: Option<impl Into<String>>) -> Bind {
        s.map_or(Bind::Null, |s| Bind::Text(s.into()))
    }

    fn binding(&self) -> Binding {
        match self {
            Bind::Text(s) => Binding {
                kind: "TEXT",
                value: Some(s.clone()),
            },
            Bind::Int(n) => Binding {
                kind: "FIXED",
                value: Some(n.to_string()),
            },
            // SQL NULL: a TEXT binding whose value is null
            Bind::Null => Binding {
                kind: "TEXT",
                value: None,
            },
        }
    }
}

/// A value as a SQL literal, for multi-statement requests (which take no bindings): text is
/// single-quoted with `\` and `'` escaped, integers are digits, NULL is `null`. Control
/// characters other than tab and newline are refused rather than trusted to the escaping.
pub fn inline_literal(value: &Bind) -> Result<String, String> {
    match value {
        Bind::Null => Ok("null".into()),
        Bind::Int(n) => Ok(n.to_string()),
        Bind::Text(s) => {
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err("a control character cannot be inlined into SQL".into());
            }
            Ok(format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")))
        }
    }
}

/// Rewrites a `:name` statement into `?` binds, in order, looking each name up in `values`.
pub fn positional(
    statement: &str,
    values: &(dyn Fn(&str) -> Option<Bind> + Sync),
) -> Result<(String, Vec<Bind>), String> {
    let (sql, names) = super::binds::to_positional(statement);
    let binds = names
        .iter()
        .map(|n| values(n).ok_or_else(|| format!("no value for bind :{n}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(nulls_inline(sql, binds))
}

/// SQL NULLs are written into the text as `null` rather than bound: how the SQL API takes a
/// null binding value is not documented (snowflake.md §3). Only when the text holds a literal
/// `?` (so the placeholders cannot be told apart) are they bound as TEXT null.
fn nulls_inline(sql: String, binds: Vec<Bind>) -> (String, Vec<Bind>) {
    if !binds.contains(&Bind::Null) {
        return (sql, binds);
    }
    let pieces: Vec<&str> = sql.split('?').collect();
    if pieces.len() != binds.len() + 1 {
        return (sql, binds);
    }
    let mut out = String::with_capacity(sql.len());
    let mut kept = Vec::with_capacity(binds.len());
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        match binds.get(i) {
            Some(Bind::Null) => out.push_str("null"),
            Some(b) => {
                out.push('?');
                kept.push(b.clone());
            }
            None => {}
        }
    }
    (out, kept)
}

/// A `:name` statement with every bind inlined as a literal (for multi-statement requests).
pub fn inlined(
    statement: &str,
    values: &(dyn Fn(&str) -> Option<Bind> + Sync),
) -> Result<String, String> {
    let (sql, binds) = positional(statement, values)?;
    let pieces: Vec<&str> = sql.split('?').collect();
    if pieces.len() != binds.len() + 1 {
        return Err("the statement holds a literal `?`, so its binds cannot be inlined".into());
    }
    let mut out = String::with_capacity(sql.len() + 64);
    for (i, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(b) = binds.get(i) {
            out.push_str(&inline_literal(b)?);
        }
    }
    Ok(out)
}

/// Rows of one statement, every cell as text.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    pub handle: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub stats: Option<wire::Stats>,
}

impl ResultSet {
    /// The cell of the first row in the named column (case-insensitive).
    pub fn first(&self, column: &str) -> Option<&str> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.rows.first()?.get(i)?.as_deref()
    }

    /// A count a DML statement reports: its `stats`, else the named result column.
    pub fn count(&self, stat: fn(&wire::Stats) -> Option<u64>, column: &str) -> Option<u64> {
        self.stats
            .as_ref()
            .and_then(stat)
            .or_else(|| self.first(column).and_then(|v| v.parse().ok()))
    }
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlErrorKind {
    /// 401/403: the JWT, the key, the account or the user.
    Auth,
    /// 422 and other 4xx: the statement failed (compile error, missing object, warehouse...).
    Statement,
    /// 429/5xx/transport still failing after the retry budget.
    Unavailable,
    /// No result within the deadline (including 408: the statement timed out in Snowflake).
    Timeout,
    /// An answer the client could not read.
    Protocol,
    /// A local problem: key, configuration.
    Config,
}

impl SqlErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SqlErrorKind::Auth => "snowflake_auth",
            SqlErrorKind::Statement => "snowflake_statement",
            SqlErrorKind::Unavailable => "snowflake_unavailable",
            SqlErrorKind::Timeout => "snowflake_timeout",
            SqlErrorKind::Protocol => "snowflake_protocol",
            SqlErrorKind::Config => "snowflake_config",
        }
    }
}

/// A statement that failed for good, with Snowflake's own code, message and SQLSTATE.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SqlApiError {
    pub kind: SqlErrorKind,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub sql_state: Option<String>,
    pub message: String,
    pub attempts: u32,
    pub statement_handle: Option<String>,
}

impl SqlApiError {
    fn local(kind: SqlErrorKind, message: impl Into<String>) -> Self {
        SqlApiError {
            kind,
            status: None,
            code: None,
            sql_state: None,
            message: message.into(),
            attempts: 0,
            statement_handle: None,
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("Snowflake SQL API: {}", self.message);
        let mut tags = Vec::new();
        if let Some(c) = &self.code {
            tags.push(format!("code {c}"));
        }
        if let Some(st) = &self.sql_state {
            tags.push(format!("SQLSTATE {st}"));
        }
        if let Some(h) = self.status {
            tags.push(format!("HTTP {h}"));
        }
        if self.attempts > 1 {
            tags.push(format!("{} attempts", self.attempts));
        }
        if !tags.is_empty() {
            s.push_str(&format!(" ({})", tags.join(", ")));
        }
        s
    }
}

/// Where and how to talk to Snowflake.
#[derive(Debug, Clone)]
pub struct SqlApiConfig {
    /// `https://<account>.snowflakecomputing.com` or `MLC_SNOWFLAKE__URL`.
    pub base_url: Url,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub role: Option<String>,
    /// `timeout` of each statement, in seconds (0 = Snowflake's maximum).
    pub statement_timeout_secs: u64,
    /// Retries of one request on 429/5xx/transport errors.
    pub retry: RetryPolicy,
    /// Longest wait between two status polls of a running statement.
    pub poll_max_interval: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

/// The URL Snowflake serves an account on: `https://<account>.snowflakecomputing.com`, with the
/// account in lower case and `_` as `-` (hosts take no underscores).
pub fn default_base_url(account: &str) -> Result<Url, String> {
    let host = account
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .trim_end_matches(".snowflakecomputing.com")
        .to_ascii_lowercase()
        .replace('_', "-");
    Url::parse(&format!("https://{host}.snowflakecomputing.com"))
        .map_err(|e| format!("snowflake.account {account:?} does not make a URL: {e}"))
}

/// Details of the last failed attempt that `retry::run` does not carry.
#[derive(Debug, Clone, Default)]
struct Detail {
    status: Option<u16>,
    code: Option<String>,
    sql_state: Option<String>,
    handle: Option<String>,
    kind: Option<SqlErrorKind>,
}

type Shared = Arc<Mutex<Detail>>;

enum Submitted {
    Done(Box<StatementResponse>),
    Pending(String),
}

pub struct SqlApiClient {
    http: reqwest::Client,
    cfg: SqlApiConfig,
    tokens: Arc<TokenSource>,
}

impl std::fmt::Debug for SqlApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlApiClient")
            .field("base_url", &self.cfg.base_url.as_str())
            .finish()
    }
}

const USER_AGENT: &str = concat!("ml-connector/", env!("CARGO_PKG_VERSION"));

impl SqlApiClient {
    pub fn new(
        cfg: SqlApiConfig,
        tokens: Arc<TokenSource>,
    ) -> Result<Self, crate::http::ClientError> {
        let http = crate::http::build_client(cfg.request_timeout, None)?;
        Ok(SqlApiClient { http, cfg, tokens })
    }

    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    pub fn config(&self) -> &SqlApiConfig {
        &self.cfg
    }

    /// Runs one statement with positional (`?`) bindings and returns all its rows.
    pub async fn execute(&self, sql: &str, binds: &[Bind]) -> Result<ResultSet, SqlApiError> {
        let bindings: BTreeMap<String, Binding> = binds
            .iter()
            .enumerate()
            .map(|(i, b)| ((i + 1).to_string(), b.binding()))
            .collect();
        let response = self.submit(sql, bindings, BTreeMap::new()).await?;
        self.collect(response).await
    }

    /// Runs a `:name` statement, binding each name with `values`.
    pub async fn execute_named(
        &self,
        statement: &str,
        values: &(dyn Fn(&str) -> Option<Bind> + Sync),
    ) -> Result<ResultSet, SqlApiError> {
        let (sql, binds) = positional(statement, values)
            .map_err(|m| SqlApiError::local(SqlErrorKind::Config, m))?;
        self.execute(&sql, &binds).await
    }

    /// Runs several statements in one request (`MULTI_STATEMENT_COUNT`), e.g. a transaction;
    /// returns each statement's result in order. Statements must carry no binds.
    pub async fn execute_multi(
        &self,
        statements: &[String],
    ) -> Result<Vec<ResultSet>, SqlApiError> {
        let handles = self.submit_multi(statements).await?;
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(self.result(&handle).await?);
        }
        Ok(out)
    }

    /// Runs several statements in one request and returns their statement handles once all
    /// have run, without fetching any result: one HTTP request when the request finishes
    /// within its wait. [`SqlApiClient::result`] fetches the results wanted.
    pub async fn submit_multi(&self, statements: &[String]) -> Result<Vec<String>, SqlApiError> {
        let text = statements.join(";\n");
        let mut parameters = BTreeMap::new();
        parameters.insert("MULTI_STATEMENT_COUNT", statements.len().to_string());
        let response = self.submit(&text, BTreeMap::new(), parameters).await?;
        let handles = response.statement_handles.clone().unwrap_or_default();
        if handles.len() != statements.len() {
            return Err(SqlApiError {
                statement_handle: response.statement_handle.clone(),
                ..SqlApiError::local(
                    SqlErrorKind::Protocol,
                    format!(
                        "a request of {} statements answered with {} statement handles",
                        statements.len(),
                        handles.len()
                    ),
                )
            });
        }
        Ok(handles)
    }

    /// The result of one statement of a multi-statement request, by its handle.
    pub async fn result(&self, handle: &str) -> Result<ResultSet, SqlApiError> {
        let r = self.fetch_status(handle).await?;
        self.collect(r).await
    }

    /// POSTs a statement (resubmitting on transient failures) and waits for it to finish.
    async fn submit(
        &self,
        sql: &str,
        bindings: BTreeMap<String, Binding>,
        mut parameters: BTreeMap<&'static str, String>,
    ) -> Result<StatementResponse, SqlApiError> {
        // timestamps as text we can read whatever the account's settings
        parameters
            .entry("timestamp_ntz_output_format")
            .or_insert_with(|| "YYYY-MM-DD\"T\"HH24:MI:SS.FF9".into());
        let request = StatementRequest {
            statement: sql,
            timeout: Some(self.cfg.statement_timeout_secs),
            database: self.cfg.database.as_deref(),
            schema: self.cfg.schema.as_deref(),
            warehouse: self.cfg.warehouse.as_deref(),
            role: self.cfg.role.as_deref(),
            bindings,
            parameters,
        };
        let body = Arc::new(
            serde_json::to_vec(&request)
                .map_err(|e| SqlApiError::local(SqlErrorKind::Protocol, e.to_string()))?,
        );
        let request_id = uuid::Uuid::new_v4().to_string();
        let detail: Shared = Arc::default();
        let outcome = retry::run(
            &self.cfg.retry,
            "Snowflake statement",
            &retry::Quiet,
            |attempt, remaining| {
                let body = body.clone();
                let request_id = request_id.clone();
                let detail = detail.clone();
                async move {
                    let mut url = self.url("/api/v2/statements");
                    url.query_pairs_mut().append_pair("requestId", &request_id);
                    if attempt > 1 {
                        url.query_pairs_mut().append_pair("retry", "true");
                    }
                    let (status, text, retry_after) = self
                        .send(reqwest::Method::POST, url, Some(body), remaining)
                        .await?;
                    self.read_answer(status, &text, retry_after, &detail)
                }
            },
        )
        .await;
        let submitted = self.finish(outcome, &detail)?;
        match submitted {
            Submitted::Done(r) => Ok(*r),
            Submitted::Pending(handle) => self.fetch_status(&handle).await,
        }
    }

    /// Polls a statement until it is done; the first answer of a finished statement holds
    /// partition 0.
    async fn fetch_status(&self, handle: &str) -> Result<StatementResponse, SqlApiError> {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: self.cfg.poll_max_interval,
            max_attempts: u32::MAX,
            // the statement's own timeout, plus room for the retries of the polls themselves
            deadline: Duration::from_secs(if self.cfg.statement_timeout_secs == 0 {
                604_800
            } else {
                self.cfg.statement_timeout_secs
            }) + self.cfg.retry.deadline,
        };
        let detail: Shared = Arc::default();
        let outcome = retry::run(
            &policy,
            "Snowflake statement status",
            &retry::Quiet,
            |_, remaining| {
                let detail = detail.clone();
                async move {
                    let url = self.url(&format!("/api/v2/statements/{handle}"));
                    let (status, text, retry_after) = self
                        .send(reqwest::Method::GET, url, None, remaining)
                        .await?;
                    match self.read_answer(status, &text, retry_after, &detail)? {
                        Submitted::Done(r) => Ok(*r),
                        Submitted::Pending(_) => Err(AttemptError::new(
                            ErrorKind::Unavailable,
                            "pending",
                            "the statement is still running",
                        )),
                    }
                }
            },
        )
        .await;
        self.finish(outcome, &detail)
    }

    /// Turns a finished statement's answer into rows, fetching partitions 1.. as needed.
    async fn collect(&self, r: StatementResponse) -> Result<ResultSet, SqlApiError> {
        let meta = r.result_set_meta_data.unwrap_or_default();
        let handle = r.statement_handle.unwrap_or_default();
        let mut rows: Vec<Vec<Option<String>>> = r
            .data
            .unwrap_or_default()
            .iter()
            .map(|row| row.iter().map(wire::cell_text).collect())
            .collect();
        for partition in 1..meta.partition_info.len() {
            let detail: Shared = Arc::default();
            let outcome = retry::run(
                &self.cfg.retry,
                "Snowflake result partition",
                &retry::Quiet,
                |_, remaining| {
                    let detail = detail.clone();
                    let handle = handle.clone();
                    async move {
                        let mut url = self.url(&format!("/api/v2/statements/{handle}"));
                        url.query_pairs_mut()
                            .append_pair("partition", &partition.to_string());
                        let (status, text, retry_after) = self
                            .send(reqwest::Method::GET, url, None, remaining)
                            .await?;
                        if status != StatusCode::OK {
                            self.read_answer(status, &text, retry_after, &detail)?;
                            return Err(AttemptError::new(
                                ErrorKind::Protocol,
                                "partition",
                                format!("partition {partition} answered HTTP {status}"),
                            ));
                        }
                        serde_json::from_str::<PartitionBody>(&text).map_err(|e| {
                            AttemptError::new(
                                ErrorKind::Protocol,
                                "bad_json",
                                format!("partition {partition} is not JSON rows: {e}"),
                            )
                        })
                    }
                },
            )
            .await;
            let body = self.finish(outcome, &detail)?;
            rows.extend(
                body.into_rows()
                    .iter()
                    .map(|row| row.iter().map(wire::cell_text).collect::<Vec<_>>()),
            );
        }
        Ok(ResultSet {
            handle,
            columns: meta.row_type.into_iter().map(|c| c.name).collect(),
            rows,
            stats: r.stats,
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.cfg.base_url.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
        url.set_query(None);
        url
    }

    /// One HTTP exchange with a fresh-enough token; a 401 that says the token is invalid or
    /// expired is answered once more with a newly minted token.
    async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        body: Option<Arc<Vec<u8>>>,
        remaining: Duration,
    ) -> Result<(StatusCode, String, Option<Duration>), AttemptError> {
        for renewed in [false, true] {
            let token = self
                .tokens
                .token()
                .map_err(|e| AttemptError::new(ErrorKind::Rejected, "key", e.to_string()))?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(remaining.min(self.cfg.request_timeout))
                .header("Authorization", format!("Bearer {token}"))
                .header("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT")
                .header("Accept", "application/json")
                .header("User-Agent", USER_AGENT);
            if let Some(b) = &body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(b.as_ref().clone());
            }
            let resp = req.send().await.map_err(|e| {
                let what = if e.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                AttemptError::new(
                    ErrorKind::Unavailable,
                    "transport",
                    format!("request to {} {what}: {}", host_of(&url), root_cause(&e)),
                )
            })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
            let text = resp.text().await.map_err(|e| {
                AttemptError::new(
                    ErrorKind::Unavailable,
                    "truncated",
                    format!("reading the answer failed: {}", root_cause(&e)),
                )
            })?;
            if status == StatusCode::UNAUTHORIZED && !renewed {
                let code = serde_json::from_str::<StatementResponse>(&text)
                    .ok()
                    .and_then(|r| r.code);
                if matches!(code.as_deref(), Some("390144" | "390318" | "390112")) {
                    self.tokens.invalidate();
                    continue;
                }
            }
            return Ok((status, text, retry_after));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Classifies one answer: done, still running, or a failed attempt (details kept aside).
    fn read_answer(
        &self,
        status: StatusCode,
        text: &str,
        retry_after: Option<Duration>,
        detail: &Shared,
    ) -> Result<Submitted, AttemptError> {
        let parsed = serde_json::from_str::<StatementResponse>(text);
        let record = |kind: SqlErrorKind, r: Option<&StatementResponse>| {
            let mut d = detail.lock().unwrap_or_else(|e| e.into_inner());
            *d = Detail {
                status: Some(status.as_u16()),
                code: r.and_then(|r| r.code.clone()),
                sql_state: r.and_then(|r| r.sql_state.clone()),
                handle: r.and_then(|r| r.statement_handle.clone()),
                kind: Some(kind),
            };
        };
        let message = |r: Option<&StatementResponse>| {
            r.and_then(|r| r.message.clone())
                .unwrap_or_else(|| format!("HTTP {status}: {}", snippet(text)))
        };
        match status.as_u16() {
            200 => match parsed {
                Ok(r) => Ok(Submitted::Done(Box::new(r))),
                Err(e) => {
                    record(SqlErrorKind::Protocol, None);
                    Err(AttemptError::new(
                        ErrorKind::Protocol,
                        "bad_json",
                        format!("the answer is not a result set: {e}"),
                    ))
                }
            },
            202 => {
                let r = parsed.ok();
                match r.and_then(|r| r.statement_handle) {
                    Some(h) => Ok(Submitted::Pending(h)),
                    None => {
                        record(SqlErrorKind::Protocol, None);
                        Err(AttemptError::new(
                            ErrorKind::Protocol,
                            "no_handle",
                            "202 without a statementHandle",
                        ))
                    }
                }
            }
            408 => {
                let r = parsed.ok();
                record(SqlErrorKind::Timeout, r.as_ref());
                Err(AttemptError::new(
                    ErrorKind::Rejected,
                    "status_408",
                    format!(
                        "the statement exceeded its timeout and was cancelled: {}",
                        message(r.as_ref())
                    ),
                ))
            }
            401 | 403 => {
                let r = parsed.ok();
                record(SqlErrorKind::Auth, r.as_ref());
                Err(AttemptError::from_status(
                    status.as_u16(),
                    None,
                    message(r.as_ref()),
                ))
            }
            429 | 500..=599 => {
                let r = parsed.ok();
                record(SqlErrorKind::Unavailable, r.as_ref());
                Err(AttemptError::from_status(
                    status.as_u16(),
                    retry_after,
                    message(r.as_ref()),
                ))
            }
            _ => {
                let r = parsed.ok();
                record(SqlErrorKind::Statement, r.as_ref());
                Err(AttemptError::from_status(
                    status.as_u16(),
                    None,
                    message(r.as_ref()),
                ))
            }
        }
    }

    fn finish<T>(
        &self,
        outcome: Result<(T, u32), retry::UpstreamError>,
        detail: &Shared,
    ) -> Result<T, SqlApiError> {
        match outcome {
            Ok((v, _)) => Ok(v),
            Err(e) => {
                let d = detail.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let kind = match e.kind {
                    ErrorKind::Timeout => SqlErrorKind::Timeout,
                    _ => d.kind.unwrap_or(match e.kind {
                        ErrorKind::Auth => SqlErrorKind::Auth,
                        ErrorKind::Rejected => SqlErrorKind::Statement,
                        ErrorKind::Protocol => SqlErrorKind::Protocol,
                        _ => SqlErrorKind::Unavailable,
                    }),
                };
                let kind = if e.kind == ErrorKind::Rejected && d.kind.is_none() {
                    SqlErrorKind::Config
                } else {
                    kind
                };
                Err(SqlApiError {
                    kind,
                    status: d.status,
                    code: d.code,
                    sql_state: d.sql_state,
                    message: e.message,
                    attempts: e.attempts,
                    statement_handle: d.handle,
                })
            }
        }
    }
}

fn host_of(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or("?"),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if text == e.to_string() {
        text
    } else {
        format!("{e}: {text}")
    }
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    let cut: String = t.chars().take(300).collect();
    if cut.len() < t.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_typed_and_escaped() {
        assert_eq!(inline_literal(&Bind::Null).unwrap(), "null");
        assert_eq!(inline_literal(&Bind::Int(-42)).unwrap(), "-42");
        assert_eq!(
            inline_literal(&Bind::text(r"it's a \ path")).unwrap(),
            r"'it''s a \\ path'"
        );
        assert!(inline_literal(&Bind::text("a\u{0}b")).is_err());
    }

    #[test]
    fn named_binds_are_inlined_in_order() {
        let sql = "select :a, x:path::varchar, ':not' from t where b = :b and c = :a";
        let out = inlined(sql, &|n| match n {
            "a" => Some(Bind::text("o'k")),
            "b" => Some(Bind::Int(7)),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            out,
            "select 'o''k', x:path::varchar, ':not' from t where b = 7 and c = 'o''k'"
        );
        assert!(inlined("select :zz", &|_| None).is_err());
    }

    #[test]
    fn nulls_are_written_not_bound() {
        let (sql, binds) = positional("select :a, :b, :a", &|n| match n {
            "a" => Some(Bind::Null),
            _ => Some(Bind::Int(1)),
        })
        .unwrap();
        assert_eq!(sql, "select null, ?, null");
        assert_eq!(binds, vec![Bind::Int(1)]);
    }

    #[test]
    fn base_urls_follow_the_account() {
        assert_eq!(
            default_base_url("myorg-my_account").unwrap().as_str(),
            "https://myorg-my-account.snowflakecomputing.com/"
        );
        assert_eq!(
            default_base_url("xy12345.eu-west-1").unwrap().as_str(),
            "https://xy12345.eu-west-1.snowflakecomputing.com/"
        );
    }
}
