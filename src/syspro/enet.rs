//! SYSPRO e.net REST transport (syspro.md §2): `Logon` → session id, `Query/Query` with the
//! COMFND business object, `Logoff`. Everything travels in query strings, so URLs are never
//! logged with their query, and errors name the operator and company, never a password.
//!
//! One session is shared by every pull (single-flight logon in a moka cache: concurrent callers
//! wait for the one logon, and SYSPRO — which may allow one session per operator — never sees two
//! at once). A session idle longer than `enet_session_idle_secs` is logged off and replaced on the
//! next call; an "invalid session" answer causes one new logon and one retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_xml::Reader;
use quick_xml::events::Event;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Number, Value};
use url::Url;

use super::filter::is_plain_number;
use super::odata::redact_url;
use super::schema::{Column, TableSchema};
use crate::catalog::{ColumnType, TableDef};
use crate::metrics::Metrics;
use crate::retry::{self, AttemptError, ErrorKind, RetryPolicy, UpstreamError};

/// Logon details.
pub struct EnetCredentials {
    pub operator: String,
    pub operator_password: SecretString,
    pub company_id: String,
    pub company_password: SecretString,
}

#[derive(Clone)]
struct Session {
    id: Arc<SecretString>,
}

pub struct EnetClient {
    http: reqwest::Client,
    base: Url,
    creds: Arc<EnetCredentials>,
    policy: RetryPolicy,
    metrics: Metrics,
    session: moka::future::Cache<(), Session>,
    schemas: moka::future::Cache<String, Arc<TableSchema>>,
    /// Sessions SYSPRO ended before their idle time (an invalid-session answer, then a new
    /// logon): `check` counts them to see whether companies sharing an operator end each
    /// other's sessions.
    renewed: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for EnetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnetClient")
            .field("base", &self.base.as_str())
            .field("operator", &self.creds.operator)
            .field("company_id", &self.creds.company_id)
            .field("passwords", &"<redacted>")
            .finish()
    }
}

/// One COMFND read.
pub struct ComFnd<'a> {
    pub table: &'a str,
    pub columns: Option<&'a [String]>,
    /// Groups joined by OR; the conditions inside a group joined by AND.
    pub where_any: Vec<Vec<Condition>>,
    pub order_by: Vec<String>,
    pub return_rows: usize,
}

/// `Column Condition Value` of a COMFND `Expression`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    /// `EQ`, `GT`, `GE`, `LT`...
    pub op: &'static str,
    pub value: String,
}

impl EnetClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        creds: EnetCredentials,
        policy: RetryPolicy,
        metrics: Metrics,
        idle: Duration,
    ) -> Result<Self, String> {
        let base = super::http::service_base(base_url, "syspro.enet_url")?;
        let creds = Arc::new(creds);
        let (logoff_http, logoff_base) = (http.clone(), base.clone());
        // A session that sat idle is logged off so that it does not hold an e.net licence.
        let session = moka::future::Cache::builder()
            .max_capacity(1)
            .time_to_idle(idle)
            .async_eviction_listener(move |_k, s: Session, _cause| {
                let (http, base) = (logoff_http.clone(), logoff_base.clone());
                Box::pin(async move {
                    logoff(&http, &base, &s.id).await;
                })
            })
            .build();
        Ok(EnetClient {
            http,
            base,
            creds,
            policy,
            metrics,
            session,
            schemas: moka::future::Cache::builder()
                .max_capacity(256)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            renewed: Default::default(),
        })
    }

    /// How many sessions SYSPRO ended early, each answered by a new logon.
    pub fn sessions_renewed(&self) -> u64 {
        self.renewed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The operator this client logs on as (not a secret).
    pub fn operator(&self) -> &str {
        &self.creds.operator
    }

    /// Logs on (once, however many callers ask at the same time) or returns the live session.
    async fn session(&self) -> Result<Session, UpstreamError> {
        self.session
            .try_get_with((), self.logon())
            .await
            .map_err(|e: Arc<UpstreamError>| (*e).clone())
    }

    async fn logon(&self) -> Result<Session, UpstreamError> {
        let mut url = self.base.join("Logon").expect("static path");
        url.query_pairs_mut()
            .append_pair("Operator", &self.creds.operator)
            .append_pair(
                "OperatorPassword",
                self.creds.operator_password.expose_secret(),
            )
            .append_pair("CompanyId", &self.creds.company_id)
            .append_pair(
                "CompanyPassword",
                self.creds.company_password.expose_secret(),
            );
        let (text, _) = retry::run(&self.policy, "SYSPRO e.net logon", &self.metrics, |_, _| {
            let url = url.clone();
            async move { self.get_text(url, "logon").await }
        })
        .await?;
        let answer = unwrap_answer(&text);
        if let Some(err) = error_text(&answer) {
            return Err(UpstreamError {
                kind: ErrorKind::Auth,
                cause: crate::retry::Cause::Unclassified,
                message: format!(
                    "SYSPRO e.net refused the logon of operator {:?} in company {:?}: {err} — check MLC_SYSPRO__OPERATOR, MLC_SYSPRO__OPERATOR_PASSWORD, MLC_SYSPRO__COMPANY_ID and MLC_SYSPRO__COMPANY_PASSWORD",
                    self.creds.operator, self.creds.company_id
                ),
                attempts: 1,
            });
        }
        let id = answer.trim().to_string();
        // syspro.md §2.3: a session id is e.g. 34 hex characters, not a GUID; accept any token
        // without spaces or markup, and refuse what is clearly something else.
        if id.is_empty() || id.len() > 200 || id.contains(char::is_whitespace) || id.contains('<') {
            return Err(UpstreamError {
                kind: ErrorKind::Protocol,
                cause: crate::retry::Cause::Unclassified,
                message: "SYSPRO e.net answered the logon with something that is not a session id"
                    .into(),
                attempts: 1,
            });
        }
        tracing::info!(message = "Logged on to SYSPRO e.net.", operator = %self.creds.operator, company = %self.creds.company_id);
        Ok(Session {
            id: Arc::new(SecretString::from(id)),
        })
    }

    /// Logs the live session off (shutdown), so that it does not hold a licence.
    pub async fn shutdown(&self) {
        if let Some(s) = self.session.get(&()).await {
            self.session.invalidate(&()).await;
            self.session.run_pending_tasks().await;
            // The listener logs off evicted sessions; an explicit call covers listeners that
            // have not run before the process exits.
            logoff(&self.http, &self.base, &s.id).await;
        }
    }

    /// Logon then logoff, for `check`.
    pub async fn check_logon(&self) -> Result<(), UpstreamError> {
        let s = self.logon().await?;
        logoff(&self.http, &self.base, &s.id).await;
        Ok(())
    }

    /// Runs a COMFND query; on an invalid-session answer logs on again once and retries.
    pub async fn query(
        &self,
        q: &ComFnd<'_>,
    ) -> Result<(Vec<Map<String, Value>>, u32), UpstreamError> {
        let xml_in = comfnd_xml(q);
        let mut renewed = false;
        loop {
            let session = self.session().await?;
            let result = retry::run(&self.policy, "SYSPRO e.net query", &self.metrics, |_, _| {
                let mut url = self.base.join("Query/Query").expect("static path");
                url.query_pairs_mut()
                    .append_pair("UserId", session.id.expose_secret())
                    .append_pair("BusinessObject", "COMFND")
                    .append_pair("XmlIn", &xml_in);
                async move {
                    let bytes = self.get_bytes(url, "query").await?;
                    parse_answer(&bytes)
                }
            })
            .await;
            match result {
                Err(e) if e.kind == ErrorKind::Session && !renewed => {
                    renewed = true;
                    self.renewed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(message = "SYSPRO e.net session ended; logging on again.", error = %e.message);
                    if self
                        .session
                        .get(&())
                        .await
                        .is_some_and(|cur| Arc::ptr_eq(&cur.id, &session.id))
                    {
                        self.session.invalidate(&()).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Columns of a table: the names COMFND answers with, typed from the catalog's hints.
    pub async fn schema(&self, table: &TableDef) -> Result<TableSchema, UpstreamError> {
        let key = table.name.to_ascii_lowercase();
        let found = self
            .schemas
            .try_get_with(key, async {
                let names = self.learn_names(table).await?;
                let columns = names
                    .into_iter()
                    .map(|name| {
                        let ty = table.column_type(&name);
                        let (precision, scale) = match ty {
                            Some(ColumnType::Decimal { precision, scale }) => {
                                (Some(precision), Some(scale))
                            }
                            _ => (None, None),
                        };
                        let is_key = table
                            .key_columns
                            .iter()
                            .any(|k| k.eq_ignore_ascii_case(&name));
                        Column {
                            edm_type: ty
                                .map(ColumnType::edm_type)
                                .unwrap_or("Edm.String")
                                .to_string(),
                            nullable: !is_key,
                            max_length: None,
                            precision,
                            scale,
                            name,
                        }
                    })
                    .collect();
                Ok::<_, UpstreamError>(Arc::new(TableSchema::new(
                    table.name.clone(),
                    columns,
                    table.key_columns.clone(),
                )))
            })
            .await
            .map_err(|e: Arc<UpstreamError>| (*e).clone())?;
        Ok((*found).clone())
    }

    /// The columns of `table` as COMFND answers them: all of them when SYSPRO answers a query
    /// without `<Columns>`, else those the catalog knows (keys, watermark, `select`, typed
    /// columns). A key or watermark column missing from the answer is an error that names it.
    /// An empty table proves nothing: then the catalog's columns are used as they are.
    async fn learn_names(&self, table: &TableDef) -> Result<Vec<String>, UpstreamError> {
        let one = |columns| ComFnd {
            table: &table.name,
            columns,
            where_any: Vec::new(),
            order_by: Vec::new(),
            return_rows: 1,
        };
        let known = catalog_columns(table);
        let names = match self.query_names(&one(None)).await {
            Ok(names) => names,
            // SYSPRO may insist on <Columns>: name the ones the catalog knows, or (when a typed
            // column is not at this site) those pulls need.
            Err(e) if e.kind == ErrorKind::Rejected => match self
                .query_names(&one(Some(&known)))
                .await
            {
                Ok(names) => Ok(names),
                Err(e) if e.kind == ErrorKind::Rejected => {
                    self.query_names(&one(Some(&needed_columns(table)))).await
                }
                Err(e) => Err(e),
            }
            .map_err(|e| UpstreamError {
                    message: format!(
                        "{}; COMFND was asked for the columns [tables.{}] names ({}): correct key_columns, watermark_column, select or column_types (`ml-connector discover` lists what SYSPRO has)",
                        e.message,
                        table.name,
                        known.join(", ")
                    ),
                    ..e
                })?,
            Err(e) => return Err(e),
        };
        if names.is_empty() {
            return Ok(known);
        }
        for (needed, setting) in table.key_columns.iter().map(|c| (c, "key_columns")).chain(
            table
                .watermark_column
                .iter()
                .map(|c| (c, "watermark_column")),
        ) {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(needed)) {
                return Err(UpstreamError {
                    kind: ErrorKind::Rejected,
                    cause: crate::retry::Cause::NoSuchColumn,
                    message: format!(
                        "SYSPRO e.net's {t} has no column {needed:?}, which [tables.{t}] {setting} names (COMFND answered {}); set [tables.{t}] {setting} to SYSPRO's columns",
                        names.join(", "),
                        t = table.name
                    ),
                    attempts: 1,
                });
            }
        }
        Ok(names)
    }

    /// One COMFND row's column names, as SYSPRO answered them (for `discover`).
    pub async fn sample_names(
        &self,
        table: &str,
        columns: Option<&[String]>,
    ) -> Result<Vec<String>, UpstreamError> {
        self.query_names(&ComFnd {
            table,
            columns,
            where_any: Vec::new(),
            order_by: Vec::new(),
            return_rows: 1,
        })
        .await
    }

    async fn query_names(&self, q: &ComFnd<'_>) -> Result<Vec<String>, UpstreamError> {
        let (rows, _) = self.query(q).await?;
        Ok(rows
            .first()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn get_bytes(
        &self,
        url: Url,
        operation: &str,
    ) -> Result<actix_web::web::Bytes, AttemptError> {
        let started = Instant::now();
        let shown = redact_url(&url);
        let response = self.http.get(url).send().await.map_err(|e| {
            let reason = super::http::transport_reason(&e);
            AttemptError::new(
                ErrorKind::Unavailable,
                reason,
                format!(
                    "cannot reach SYSPRO e.net at {shown}: {}",
                    strip_urls(&e.to_string())
                ),
            )
            .with_cause(crate::http::transport_cause(&e))
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = super::http::retry_after(&response);
            self.metrics.syspro_latency(operation, started.elapsed());
            return Err(AttemptError::from_status(
                status,
                retry_after,
                format!("SYSPRO e.net answered HTTP {status} for {shown}"),
            ));
        }
        let bytes = response.bytes().await.map_err(|e| {
            AttemptError::new(
                ErrorKind::Unavailable,
                "truncated",
                format!(
                    "SYSPRO e.net's answer from {shown} broke off: {}",
                    strip_urls(&e.to_string())
                ),
            )
        })?;
        self.metrics.syspro_latency(operation, started.elapsed());
        Ok(bytes)
    }

    async fn get_text(&self, url: Url, operation: &str) -> Result<String, AttemptError> {
        let bytes = self.get_bytes(url, operation).await?;
        Ok(decode_text(&bytes))
    }
}

/// The columns pulls need: keys, watermark, `select`.
pub fn needed_columns(table: &TableDef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in table
        .key_columns
        .iter()
        .chain(table.watermark_column.iter())
        .chain(table.select.iter().flatten())
    {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.clone());
        }
    }
    out
}

/// The columns the catalog knows of a table: keys, watermark, `select`, typed columns.
pub fn catalog_columns(table: &TableDef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates = table
        .key_columns
        .iter()
        .chain(table.watermark_column.iter())
        .chain(table.select.iter().flatten())
        .chain(table.column_types.iter().map(|(c, _)| c));
    for c in candidates {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.clone());
        }
    }
    out
}

async fn logoff(http: &reqwest::Client, base: &Url, id: &SecretString) {
    let mut url = base.join("Logoff").expect("static path");
    url.query_pairs_mut()
        .append_pair("UserId", id.expose_secret());
    match http.get(url).timeout(Duration::from_secs(10)).send().await {
        Ok(r) => tracing::info!(
            message = "Logged off SYSPRO e.net.",
            status = r.status().as_u16()
        ),
        Err(_) => tracing::warn!(
            message = "SYSPRO e.net logoff failed; the session will time out in SYSPRO."
        ),
    }
}

fn strip_urls(text: &str) -> String {
    text.split_whitespace()
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decodes an answer: UTF-8 when it is, else Windows-1252 (what e.net XML declares, syspro.md §2.3).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// The text inside an answer that may be bare, JSON-quoted or a serialised `<string>` element,
/// depending on the e.net version (syspro.md §2.3).
pub fn unwrap_answer(text: &str) -> String {
    let t = text.trim_start_matches('\u{feff}').trim();
    if t.starts_with('"')
        && let Ok(Value::String(s)) = serde_json::from_str::<Value>(t)
    {
        return s;
    }
    if t.starts_with("<string")
        && let (Some(open_end), Some(close)) = (t.find('>'), t.rfind("</string>"))
        && open_end < close
    {
        return quick_xml::escape::unescape(&t[open_end + 1..close])
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| t[open_end + 1..close].to_string());
    }
    t.to_string()
}

/// `Some(message)` when the answer is e.net's `ERROR...` text.
pub fn error_text(answer: &str) -> Option<String> {
    let t = answer.trim();
    if t.get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("ERROR"))
    {
        let rest = t[5..].trim_start_matches([':', ' ', '-']).trim();
        Some(if rest.is_empty() {
            t.to_string()
        } else {
            rest.chars().take(300).collect()
        })
    } else {
        None
    }
}

/// Whether an `ERROR` text means the session is gone (UNCONFIRMED wording: syspro.md §2.5).
fn is_session_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["userid", "user id", "session", "logon", "logged", "guid"]
        .iter()
        .any(|w| m.contains(w))
}

/// Parses a COMFND answer: every 200 may be an error (`ERROR` text or an error element).
pub fn parse_answer(bytes: &[u8]) -> Result<Vec<Map<String, Value>>, AttemptError> {
    let text = decode_text(bytes);
    let xml = unwrap_answer(&text);
    if let Some(err) = error_text(&xml) {
        let kind = if is_session_error(&err) {
            ErrorKind::Session
        } else {
            ErrorKind::Rejected
        };
        return Err(AttemptError::new(
            kind,
            "enet_error",
            format!("SYSPRO e.net: {err}"),
        ));
    }
    parse_rows(&xml)
}

/// Rows of a COMFND answer, as text. An empty element (`<X/>`) is NULL; an element with no
/// text (`<X></X>`) is an empty string (UNCONFIRMED how real e.net writes NULL).
fn parse_rows(xml: &str) -> Result<Vec<Map<String, Value>>, AttemptError> {
    let protocol = |m: String| AttemptError::new(ErrorKind::Protocol, "bad_xml", m);
    // Decoding has happened already; the declaration's encoding must not be applied again.
    let body = match xml.find("?>") {
        Some(i) if xml.trim_start().starts_with("<?xml") => &xml[i + 2..],
        _ => xml,
    };
    let mut reader = Reader::from_str(body);
    let mut rows = Vec::new();
    let mut depth = 0usize;
    let mut in_row = false;
    let mut row = Map::new();
    let mut field: Option<String> = None;
    let mut text = String::new();
    let mut error: Option<String> = None;
    let mut error_field = false;
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            // A cut-off answer fails here: retry it.
            AttemptError::new(
                ErrorKind::Unavailable,
                "truncated",
                format!("SYSPRO e.net's XML is cut off or malformed: {e}"),
            )
        })?;
        match event {
            Event::Start(e) => {
                depth += 1;
                saw_root = true;
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "ErrorDescription" {
                    error_field = true;
                }
                if in_row && depth == 3 {
                    field = Some(name);
                    text.clear();
                } else if name == "Row" && depth == 2 {
                    in_row = true;
                    row = Map::new();
                }
            }
            Event::Empty(e) => {
                saw_root = true;
                if in_row && depth == 2 {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    row.insert(name, Value::Null);
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| protocol(format!("bad XML text: {e}")))?;
                if field.is_some() {
                    text.push_str(&s);
                } else if error_field {
                    error.get_or_insert_with(String::new).push_str(s.trim());
                }
            }
            Event::CData(t) if field.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(e) => {
                if let Some(name) = field.take() {
                    row.insert(name, Value::String(std::mem::take(&mut text)));
                } else if in_row && depth == 2 {
                    in_row = false;
                    rows.push(std::mem::take(&mut row));
                }
                if e.local_name().as_ref() == b"ErrorDescription" {
                    error_field = false;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || !saw_root {
        return Err(AttemptError::new(
            ErrorKind::Unavailable,
            "truncated",
            "SYSPRO e.net's XML answer is incomplete",
        ));
    }
    if let Some(e) = error {
        let kind = if is_session_error(&e) {
            ErrorKind::Session
        } else {
            ErrorKind::Rejected
        };
        return Err(AttemptError::new(
            kind,
            "enet_error",
            format!("SYSPRO e.net business object error: {e}"),
        ));
    }
    Ok(rows)
}

/// Builds COMFND's XmlIn (syspro.md §2.4). Values are XML-escaped; column names were checked
/// as identifiers by the catalog.
pub fn comfnd_xml(q: &ComFnd<'_>) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut x = String::from(
        "<Query xmlns:xsd=\"http://www.w3.org/2001/XMLSchema-instance\" xsd:noNamespaceSchemaLocation=\"COMFND.XSD\">",
    );
    x.push_str(&format!(
        "<TableName>{}</TableName><ReturnRows>{}</ReturnRows>",
        esc(q.table),
        q.return_rows
    ));
    if let Some(cols) = q.columns {
        x.push_str("<Columns>");
        for c in cols {
            x.push_str(&format!("<Column>{}</Column>", esc(c)));
        }
        x.push_str("</Columns>");
    }
    if !q.where_any.is_empty() {
        x.push_str("<Where>");
        let mut first = true;
        for group in &q.where_any {
            for (i, c) in group.iter().enumerate() {
                let and_or = if first {
                    ""
                } else if i == 0 {
                    "Or"
                } else {
                    "And"
                };
                first = false;
                x.push_str("<Expression>");
                x.push_str(&format!(
                    "<OpenBracket>{}</OpenBracket>",
                    if i == 0 { "(" } else { "" }
                ));
                if !and_or.is_empty() {
                    x.push_str(&format!("<AndOr>{and_or}</AndOr>"));
                }
                x.push_str(&format!(
                    "<Column>{}</Column><Condition>{}</Condition><Value>{}</Value>",
                    esc(&c.column),
                    c.op,
                    esc(&c.value)
                ));
                x.push_str(&format!(
                    "<CloseBracket>{}</CloseBracket>",
                    if i + 1 == group.len() { ")" } else { "" }
                ));
                x.push_str("</Expression>");
            }
        }
        x.push_str("</Where>");
    }
    if !q.order_by.is_empty() {
        x.push_str("<OrderBy>");
        for c in &q.order_by {
            x.push_str(&format!("<Column>{}</Column>", esc(c)));
        }
        x.push_str("</OrderBy>");
    }
    x.push_str("</Query>");
    x
}

/// Types a row of e.net text like the OData path types its JSON: decimals exact numbers,
/// datetimes ISO without zone, strings right-trimmed, empty numbers and dates NULL.
pub fn normalize_row(table: &TableDef, raw: Map<String, Value>) -> Map<String, Value> {
    raw.into_iter()
        .map(|(name, value)| {
            let v = match (table.column_type(&name), value) {
                (_, Value::Null) => Value::Null,
                (Some(ColumnType::Decimal { .. } | ColumnType::Int), Value::String(s)) => {
                    let t = s.trim();
                    if t.is_empty() {
                        Value::Null
                    } else if is_plain_number(t) {
                        t.parse::<Number>()
                            .map(Value::Number)
                            .unwrap_or(Value::String(s))
                    } else {
                        Value::String(t.to_string())
                    }
                }
                (Some(ColumnType::DateTime), Value::String(s)) => {
                    let t = s.trim();
                    if t.is_empty() {
                        Value::Null
                    } else {
                        Value::String(iso_datetime(t))
                    }
                }
                (None, Value::String(s)) => Value::String(s.trim_end_matches(' ').to_string()),
                (_, other) => other,
            };
            (name, v)
        })
        .collect()
}

/// `2026-11-03` → `2026-11-03T00:00:00`; `2026-11-03 10:20:30` → `2026-11-03T10:20:30`.
fn iso_datetime(t: &str) -> String {
    if t.len() == 10 {
        return format!("{t}T00:00:00");
    }
    if t.len() > 10 && t.as_bytes()[10] == b' ' {
        return format!("{}T{}", &t[..10], &t[11..]);
    }
    super::normalize::strip_zone(t)
}

/// The COMFND value text of a normalised record value (keyset positions, since).
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            // Dates compare as CCYY-MM-DD in COMFND (simulator and [RUBY] templates); datetimes
            // of SYSPRO business columns are midnight (syspro.md §5.1).
            if s.len() == 19 && s.as_bytes()[10] == b'T' && s.ends_with("T00:00:00") {
                Some(s[..10].to_string())
            } else {
                Some(s.clone())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn answers_are_unwrapped_in_every_form() {
        assert_eq!(
            unwrap_answer("90C1386560F2A345961C2153151C050200"),
            "90C1386560F2A345961C2153151C050200"
        );
        assert_eq!(
            unwrap_answer("\"ERROR: Invalid operator password\""),
            "ERROR: Invalid operator password"
        );
        assert_eq!(
            unwrap_answer(
                "<string xmlns=\"http://schemas.microsoft.com/2003/10/Serialization/\">ERROR: a &amp; b</string>"
            ),
            "ERROR: a & b"
        );
        assert_eq!(
            error_text("ERROR: Invalid operator password").as_deref(),
            Some("Invalid operator password")
        );
        assert_eq!(error_text("90C1386560F2A345961C2153151C050200"), None);
    }

    #[test]
    fn comfnd_answers_become_typed_records() {
        let xml = "<?xml version=\"1.0\" encoding=\"Windows-1252\"?>\n<ApInvoice Version='8.0.105'><HeaderDetails><TableName>ApInvoice</TableName></HeaderDetails>\
            <Row><Supplier>M\u{fc}LLER    </Supplier><Invoice>000123</Invoice><JournalDate>2026-11-03</JournalDate><OrigInvValue>12345678901.23</OrigInvValue><Reference/><Branch></Branch></Row>\
            <RowsReturned>       1</RowsReturned></ApInvoice>";
        let (encoded, _, _) = encoding_rs::WINDOWS_1252.encode(xml);
        let rows = parse_answer(&encoded).unwrap();
        let table = Catalog::built_in().get("ApInvoice").unwrap().clone();
        let row = normalize_row(&table, rows[0].clone());
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"Supplier":"MüLLER","Invoice":"000123","JournalDate":"2026-11-03T00:00:00","OrigInvValue":12345678901.23,"Reference":null,"Branch":""}"#
        );
    }

    #[test]
    fn errors_inside_a_200_are_found() {
        let bo = "<?xml version=\"1.0\" encoding=\"Windows-1252\"?><ErrorMessage><ErrorNumber>100003</ErrorNumber><ErrorDescription>Table 'Nope' not found</ErrorDescription></ErrorMessage>";
        let e = parse_answer(bo.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert!(e.message.contains("Table 'Nope' not found"));
        assert_eq!(
            parse_answer(b"ERROR: Invalid UserId").unwrap_err().kind,
            ErrorKind::Session
        );
        assert_eq!(
            parse_answer(b"\"ERROR: Invalid UserId\"").unwrap_err().kind,
            ErrorKind::Session
        );
        assert_eq!(
            parse_answer(b"<ApInvoice><Row><Supplier>A")
                .unwrap_err()
                .kind,
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn keyset_where_is_a_disjunction_of_bracketed_groups() {
        let q = ComFnd {
            table: "ApInvoice",
            columns: None,
            where_any: vec![
                vec![Condition {
                    column: "JournalDate".into(),
                    op: "GT",
                    value: "2026-11-03".into(),
                }],
                vec![
                    Condition {
                        column: "JournalDate".into(),
                        op: "EQ",
                        value: "2026-11-03".into(),
                    },
                    Condition {
                        column: "Supplier".into(),
                        op: "GT",
                        value: "O'Brien & <Co>".into(),
                    },
                ],
            ],
            order_by: vec!["JournalDate".into(), "Supplier".into()],
            return_rows: 100,
        };
        let x = comfnd_xml(&q);
        assert!(x.contains("<Expression><OpenBracket>(</OpenBracket><Column>JournalDate</Column><Condition>GT</Condition><Value>2026-11-03</Value><CloseBracket>)</CloseBracket></Expression>"), "{x}");
        assert!(
            x.contains("<AndOr>Or</AndOr><Column>JournalDate</Column><Condition>EQ</Condition>"),
            "{x}"
        );
        assert!(
            x.contains("<Value>O&apos;Brien &amp; &lt;Co&gt;</Value>")
                || x.contains("<Value>O'Brien &amp; &lt;Co&gt;</Value>"),
            "{x}"
        );
        assert!(
            x.contains("<OrderBy><Column>JournalDate</Column><Column>Supplier</Column></OrderBy>")
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_answers_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_answer(&body);
        }

        #[test]
        fn xml_like_answers_never_panic(body in "<[A-Za-z]{1,4}>(<Row>(<[A-Z][a-z]{0,3}>[^<]{0,6}</[A-Z][a-z]{0,3}>|<[A-Z]/>){0,3}</Row>){0,3}.{0,8}") {
            let _ = parse_answer(body.as_bytes());
        }
    }
}
