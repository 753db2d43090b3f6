//! SYSPRO OData v4 client: Basic auth, `$metadata` for column types, pages ordered by
//! (watermark, key) and fetched either by SYSPRO's `@odata.nextLink` or by our own keyset/`$skip`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::Observer;
use super::metadata::{Metadata, parse_metadata};
use super::normalize::{Collection, transcode_collection};
use super::position::NextLink;
use super::schema::TableSchema;
use crate::metrics::Metrics;
use crate::retry::{self, AttemptError, ErrorKind, RetryPolicy, UpstreamError};

/// Characters left as they are in query values; everything else is percent-encoded, spaces as %20.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',')
    .remove(b':');

pub struct ODataClient {
    http: reqwest::Client,
    base: Url,
    user: String,
    password: SecretString,
    policy: RetryPolicy,
    metrics: Metrics,
    metadata: moka::future::Cache<(), Arc<Metadata>>,
    /// The zone suffix SYSPRO last wrote on a date-time value (`Z`, `+02:00`, empty): `$filter`
    /// literals are written in that form (CONTRACT.md §3.2).
    zone: std::sync::RwLock<Option<String>>,
}

impl std::fmt::Debug for ODataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ODataClient")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One request for a page: the query options, or SYSPRO's own next link.
#[derive(Debug, Clone)]
pub enum PageQuery {
    Options {
        filter: Option<String>,
        orderby: String,
        top: usize,
        skip: Option<u64>,
        select: Option<String>,
    },
    Link(String),
}

impl ODataClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        user: String,
        password: SecretString,
        policy: RetryPolicy,
        metrics: Metrics,
    ) -> Result<Self, String> {
        let base = super::http::service_base(base_url, "syspro.odata_url")?;
        Ok(ODataClient {
            http,
            base,
            user,
            password,
            policy,
            metrics,
            metadata: moka::future::Cache::builder()
                .max_capacity(1)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            zone: std::sync::RwLock::new(None),
        })
    }

    /// The zone suffix SYSPRO's date-time values carry, as last seen (`None`: none seen yet).
    pub fn datetime_zone(&self) -> Option<String> {
        self.zone.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note_zone(&self, zone: &str) {
        if self.datetime_zone().as_deref() != Some(zone) {
            *self.zone.write().unwrap_or_else(|e| e.into_inner()) = Some(zone.to_string());
        }
    }

    /// The zone form of `column`'s values: as seen already, or from one value read for it
    /// (`$top=1`). `None` when the table holds no value to learn from.
    pub async fn learn_zone(
        &self,
        schema: &TableSchema,
        column: &str,
    ) -> Result<Option<String>, UpstreamError> {
        if let Some(z) = self.datetime_zone() {
            return Ok(Some(z));
        }
        let query = PageQuery::Options {
            filter: Some(format!("{column} ne null")),
            orderby: column.to_string(),
            top: 1,
            skip: None,
            select: Some(column.to_string()),
        };
        self.fetch_page(schema, &query, None, None).await?;
        Ok(self.datetime_zone())
    }

    /// SYSPRO's answer to one request as it came (for `discover`), with the retry policy.
    pub async fn fetch_raw(
        &self,
        entity_set: &str,
        query: &PageQuery,
    ) -> Result<actix_web::web::Bytes, UpstreamError> {
        let url = self
            .page_url(entity_set, query)
            .map_err(|message| UpstreamError {
                kind: ErrorKind::Rejected,
                cause: crate::retry::Cause::Unclassified,
                message,
                attempts: 0,
            })?;
        let (body, _) = retry::run(&self.policy, "SYSPRO OData page", &self.metrics, |_, _| {
            let url = url.clone();
            async move { self.get_bytes(url, "application/json", "page").await }
        })
        .await?;
        Ok(body)
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `$metadata`, fetched once an hour at most; concurrent callers share one fetch.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, UpstreamError> {
        self.metadata
            .try_get_with((), async {
                let url = self.base.join("$metadata").expect("static path joins");
                let (text, _) =
                    retry::run(&self.policy, "SYSPRO $metadata", &self.metrics, |_, _| {
                        let url = url.clone();
                        async move {
                            let body = self.get_text(url, "application/xml", "metadata").await?;
                            parse_metadata(&body).map_err(|e| {
                                AttemptError::new(ErrorKind::Protocol, "bad_metadata", e)
                            })
                        }
                    })
                    .await?;
                Ok::<_, UpstreamError>(Arc::new(text))
            })
            .await
            .map_err(|e: Arc<UpstreamError>| (*e).clone())
    }

    /// The schema of one entity set, or a clear error if SYSPRO does not expose it.
    pub async fn schema(&self, table: &str) -> Result<TableSchema, UpstreamError> {
        let md = self.metadata().await?;
        md.table(table).cloned().ok_or_else(|| {
            let mut sets: Vec<&str> = md.entity_sets().collect();
            sets.sort_unstable();
            UpstreamError {
                kind: ErrorKind::Rejected,
                cause: crate::retry::Cause::NoSuchTable,
                message: format!(
                    "SYSPRO's OData service has no entity set {table:?} (it exposes {}); check the operator's OData table access in SYSPRO",
                    sets.join(", ")
                ),
                attempts: 1,
            }
        })
    }

    /// Fetches one page with the retry policy, normalised against `schema` (see
    /// [`transcode_collection`]). `observer` sees each answer's bytes first. Returns the page
    /// and the attempts it took.
    pub async fn fetch_page(
        &self,
        schema: &TableSchema,
        query: &PageQuery,
        watermark: Option<&str>,
        observer: Option<&Observer>,
    ) -> Result<(Collection, u32), UpstreamError> {
        let url = self
            .page_url(&schema.entity_set, query)
            .map_err(|message| UpstreamError {
                kind: ErrorKind::Rejected,
                cause: crate::retry::Cause::Unclassified,
                message,
                attempts: 0,
            })?;
        let (page, attempts) =
            retry::run(&self.policy, "SYSPRO OData page", &self.metrics, |_, _| {
                let url = url.clone();
                async move {
                    let body = self.get_bytes(url, "application/json", "page").await?;
                    if let Some(observe) = observer {
                        observe(&body);
                    }
                    // Normalising a page takes milliseconds of CPU: off the event loop, so that the
                    // thread stays free to answer calls and to start the next read ahead.
                    let (schema, watermark) = (schema.clone(), watermark.map(str::to_string));
                    tokio::task::spawn_blocking(move || {
                        parse_collection(&body, Some(&schema), watermark.as_deref())
                    })
                    .await
                    .map_err(|e| {
                        AttemptError::new(
                            ErrorKind::Protocol,
                            "bad_json",
                            format!("normalising SYSPRO's page failed: {e}"),
                        )
                    })?
                }
            })
            .await?;
        if let Some(zone) = &page.zone {
            self.note_zone(zone);
        }
        Ok((page, attempts))
    }

    fn page_url(&self, entity_set: &str, query: &PageQuery) -> Result<Url, String> {
        match query {
            PageQuery::Link(link) => self.check_link(link),
            PageQuery::Options {
                filter,
                orderby,
                top,
                skip,
                select,
            } => {
                let mut url = self
                    .base
                    .join(entity_set)
                    .map_err(|e| format!("bad entity set {entity_set:?}: {e}"))?;
                url.set_query(Some(&query_string(filter, orderby, *top, *skip, select)));
                Ok(url)
            }
        }
    }

    /// A next link is followed only if it stays on the configured service: a cursor, even a
    /// signed one, never sends us to another host (SSRF).
    pub fn check_link(&self, link: &str) -> Result<Url, String> {
        let url = self
            .base
            .join(link)
            .map_err(|_| "SYSPRO's next link is not a URL".to_string())?;
        let same_origin = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        if !same_origin
            || !url.path().starts_with(self.base.path())
            || url.username() != ""
            || url.password().is_some()
        {
            return Err(format!(
                "refusing to follow a next link outside {}",
                self.base
            ));
        }
        Ok(url)
    }

    /// SYSPRO's next link as a cursor may carry it: path and query relative to the service,
    /// so that a cursor never names a host; [`Self::check_link`] joins it again when followed.
    pub fn next_link(&self, link: &str) -> NextLink {
        match self.check_link(link) {
            Ok(url) => match url.as_str().strip_prefix(self.base.as_str()) {
                Some(relative) => NextLink::InService(relative.to_string()),
                None => NextLink::Refused(format!(
                    "refusing to follow a next link outside {}",
                    self.base
                )),
            },
            Err(refusal) => NextLink::Refused(refusal),
        }
    }

    async fn get_bytes(
        &self,
        url: Url,
        accept: &str,
        operation: &str,
    ) -> Result<actix_web::web::Bytes, AttemptError> {
        let started = Instant::now();
        let result = self
            .http
            .get(url.clone())
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await;
        let mut response = result.map_err(|e| transport_error(&e, &url))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = super::http::retry_after(&response);
            let body = response.text().await.unwrap_or_default();
            self.metrics.syspro_latency(operation, started.elapsed());
            return Err(status_error(status.as_u16(), retry_after, &body, &url));
        }
        let broke_off = |e: reqwest::Error| {
            AttemptError::new(
                ErrorKind::Unavailable,
                "truncated",
                format!(
                    "SYSPRO's answer from {} broke off: {}",
                    redact_url(&url),
                    error_chain(&e)
                ),
            )
        };
        // Read into one buffer of the announced size: collecting the chunks and then joining
        // them would hold a page twice.
        let announced = response.content_length().unwrap_or(0).min(64 << 20) as usize;
        let mut body = Vec::with_capacity(announced);
        while let Some(chunk) = response.chunk().await.map_err(broke_off)? {
            body.extend_from_slice(&chunk);
        }
        self.metrics.syspro_latency(operation, started.elapsed());
        Ok(body.into())
    }

    async fn get_text(
        &self,
        url: Url,
        accept: &str,
        operation: &str,
    ) -> Result<String, AttemptError> {
        let bytes = self.get_bytes(url, accept, operation).await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            AttemptError::new(
                ErrorKind::Protocol,
                "bad_encoding",
                "SYSPRO's $metadata is not UTF-8",
            )
        })
    }
}

fn parse_collection(
    body: &[u8],
    schema: Option<&TableSchema>,
    watermark: Option<&str>,
) -> Result<Collection, AttemptError> {
    let collection = transcode_collection(body, schema, watermark).map_err(|e| {
        // A cut-off body usually ends the JSON early: that is a transport fault worth retrying.
        let kind = if e.is_eof() {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Protocol
        };
        let reason = if e.is_eof() { "truncated" } else { "bad_json" };
        AttemptError::new(
            kind,
            reason,
            format!("SYSPRO's answer is not the expected OData JSON: {e}"),
        )
    })?;
    collection.ok_or_else(|| {
        AttemptError::new(
            ErrorKind::Protocol,
            "bad_json",
            "SYSPRO's answer has no \"value\" array",
        )
    })
}

fn status_error(status: u16, retry_after: Option<Duration>, body: &str, url: &Url) -> AttemptError {
    let detail = odata_error_message(body);
    let hint = match status {
        401 => {
            " — check MLC_SYSPRO__USER and MLC_SYSPRO__PASSWORD (SYSPRO answered 401 Unauthorized)"
        }
        403 => " — the OData operator lacks access to this table",
        404 => " — check MLC_SYSPRO__ODATA_URL and the table name",
        _ => "",
    };
    AttemptError::from_status(
        status,
        retry_after,
        format!(
            "SYSPRO answered HTTP {status} for {}{}{hint}",
            redact_url(url),
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ),
    )
}

/// The message of an OData error body, or a short text of an IIS HTML page.
fn odata_error_message(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(m) = v.pointer("/error/message").and_then(Value::as_str)
    {
        return Some(m.chars().take(300).collect());
    }
    let text: String = body
        .split('<')
        .filter_map(|chunk| chunk.split_once('>').map(|(_, t)| t.trim()))
        .filter(|t| !t.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let text = if text.is_empty() {
        body.trim().to_string()
    } else {
        text
    };
    if text.is_empty() {
        None
    } else {
        Some(text.chars().take(200).collect())
    }
}

fn transport_error(e: &reqwest::Error, url: &Url) -> AttemptError {
    let chain = error_chain(e);
    let cause = crate::http::transport_cause(e);
    let hint = if cause == crate::retry::Cause::Certificate {
        " — if SYSPRO uses a certificate from the site's own CA, set MLC_SYSPRO__CA_CERT_PATH to that CA's PEM file"
    } else {
        ""
    };
    let reason = super::http::transport_reason(e);
    AttemptError::new(
        ErrorKind::Unavailable,
        reason,
        format!("cannot reach SYSPRO at {}: {chain}{hint}", redact_url(url)),
    )
    .with_cause(cause)
}

/// Only scheme, host and path: query strings may carry credentials (e.net) and are never logged.
pub fn redact_url(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    // reqwest puts the URL (with query) in its Display; strip anything that looks like one.
    parts
        .join(": ")
        .split_whitespace()
        .map(|w| if w.contains("://") { "<url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The query string of a page request, as sent: also what `SYSPRO_PULL_KEYS` measures against
/// `syspro.max_query_bytes`.
pub fn query_string(
    filter: &Option<String>,
    orderby: &str,
    top: usize,
    skip: Option<u64>,
    select: &Option<String>,
) -> String {
    let mut q = String::new();
    let mut push = |k: &str, v: &str| {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        q.extend(utf8_percent_encode(v, QUERY_VALUE));
    };
    if let Some(f) = filter {
        push("$filter", f);
    }
    push("$orderby", orderby);
    push("$top", &top.to_string());
    if let Some(s) = skip {
        push("$skip", &s.to_string());
    }
    if let Some(s) = select {
        push("$select", s);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ODataClient {
        ODataClient::new(
            crate::http::build_client(Duration::from_secs(1), None).unwrap(),
            "https://erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1",
            "u".into(),
            SecretString::from("p"),
            RetryPolicy {
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(1),
                max_attempts: 1,
                deadline: Duration::from_secs(1),
            },
            Metrics::new(),
        )
        .unwrap()
    }

    #[test]
    fn page_urls_are_encoded_options() {
        let c = client();
        let url = c
            .page_url(
                "ApInvoice",
                &PageQuery::Options {
                    filter: Some(
                        "JournalDate ge 2026-11-01T00:00:00Z and Supplier gt 'O''Brien & Co'"
                            .into(),
                    ),
                    orderby: "JournalDate,Supplier,Invoice".into(),
                    top: 500,
                    skip: None,
                    select: None,
                },
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice?$filter=JournalDate%20ge%202026-11-01T00:00:00Z%20and%20Supplier%20gt%20%27O%27%27Brien%20%26%20Co%27&$orderby=JournalDate,Supplier,Invoice&$top=500"
        );
    }

    #[test]
    fn next_links_must_stay_on_the_service() {
        let c = client();
        assert!(
            c.check_link(
                "https://erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice?$skip=5000"
            )
            .is_ok()
        );
        for bad in [
            "https://evil.example/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice",
            "http://erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice",
            "https://erp.example:9999/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice",
            "https://erp.example:8443/other/ApInvoice",
            "https://user:pw@erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice",
            "//169.254.169.254/latest",
        ] {
            assert!(c.check_link(bad).is_err(), "{bad} accepted");
            assert!(
                matches!(c.next_link(bad), NextLink::Refused(_)),
                "{bad} kept"
            );
        }
        // A link kept in a cursor names no host, and joins back to the same request.
        let link = "https://erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1/ApInvoice?$skip=5000";
        let NextLink::InService(relative) = c.next_link(link) else {
            panic!("an in-service link was refused");
        };
        assert_eq!(relative, "ApInvoice?$skip=5000");
        assert_eq!(c.check_link(&relative).unwrap().as_str(), link);
        assert_eq!(
            c.next_link("ApInvoice?$skip=10"),
            NextLink::InService("ApInvoice?$skip=10".into())
        );
    }

    #[test]
    fn answers_are_classified_for_the_retry_policy() {
        let page = parse_collection(
            br#"{"@odata.context":"x","value":[{"A":1}],"@odata.nextLink":"n"}"#,
            None,
            None,
        )
        .unwrap();
        assert_eq!((page.rows.len(), page.next_link.as_deref()), (1, Some("n")));
        let cut = parse_collection(br#"{"value":[{"A":1},{"A""#, None, None).unwrap_err();
        assert_eq!(cut.kind, ErrorKind::Unavailable);
        for bad in [&b"<html>"[..], br#"{"value":[1]}"#, br#"{"rows":[]}"#] {
            assert_eq!(
                parse_collection(bad, None, None).unwrap_err().kind,
                ErrorKind::Protocol
            );
        }
    }

    #[test]
    fn iis_pages_become_short_messages() {
        let m = odata_error_message("<html><head><title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head></html>").unwrap();
        assert!(m.starts_with("401 - Unauthorized"), "{m}");
        assert_eq!(
            odata_error_message(r#"{"error":{"code":"","message":"bad filter"}}"#).unwrap(),
            "bad filter"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_answers_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_collection(&body, None, None);
        }

        #[test]
        fn json_like_answers_never_panic(body in "\\{\"value\":\\[(\\{\"[A-Z]\":(1|\"x\"|null|\\[\\]|\\{\\})\\},?){0,3}\\]?.{0,6}") {
            let _ = parse_collection(body.as_bytes(), None, Some("A"));
        }
    }
}
