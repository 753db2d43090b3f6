//! Calls the service the way Snowflake's external-function runtime does: a POST per batch with
//! the `sf-external-function-*` headers, the shared secret from the function's `HEADERS`, a batch
//! id per call, and `{"data": [[row, args...]]}` bodies. The headers, batch ids and bodies are
//! public so that the API tests (tests/api) speak the protocol exactly as the demo does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub struct SnowflakeCaller {
    http: reqwest::Client,
    base: String,
    secret: SecretString,
    query_id: String,
    next_batch: AtomicU64,
}

impl SnowflakeCaller {
    pub fn new(base: &str, secret: SecretString) -> anyhow::Result<Self> {
        crate::http::install_crypto_provider();
        Ok(SnowflakeCaller {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .context("cannot build the demo's HTTP client")?,
            base: base.trim_end_matches('/').to_string(),
            secret,
            query_id: uuid::Uuid::new_v4().to_string(),
            next_batch: AtomicU64::new(0),
        })
    }

    /// One function call (a one-row batch): the row's value. A 202 (the batch runs long) is
    /// polled with GET and the same batch id, as Snowflake does.
    pub async fn call(&self, path: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        let batch_id = batch_id(
            &self.query_id,
            self.next_batch.fetch_add(1, Ordering::SeqCst),
        );
        let body = batch_body(&[args]);
        let mut response = self
            .request(reqwest::Method::POST, path, &batch_id)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("the service did not answer {path}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while response.status() == reqwest::StatusCode::ACCEPTED {
            if std::time::Instant::now() > deadline {
                bail!("the service kept answering 202 to {path} for two minutes");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            response = self
                .request(reqwest::Method::GET, path, &batch_id)
                .send()
                .await
                .with_context(|| format!("the service did not answer the poll of {path}"))?;
        }
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("the service's answer to {path} is not JSON"))?;
        if !status.is_success() {
            bail!("the service answered {path} with HTTP {status}: {body}");
        }
        body.pointer("/data/0/1")
            .cloned()
            .with_context(|| format!("the service's answer to {path} has no data[0][1]"))
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        batch_id: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .headers(protocol_headers(path, &self.query_id, batch_id))
            .header("sf-custom-mlc-secret", self.secret.expose_secret())
    }
}

/// The external function served at `path`: its name and signature as Snowflake reports them
/// (argument names as declared in sql/10_integration, upper-cased).
fn function_at(path: &str) -> (&'static str, &'static str) {
    match path {
        "/v1/pull" => (
            "SYSPRO_PULL",
            "(TABLE_NAME VARCHAR, SINCE VARCHAR, PAGE_CURSOR VARCHAR)",
        ),
        "/v1/keys" => ("SYSPRO_KEYS", "(TABLE_NAME VARCHAR, PAGE_CURSOR VARCHAR)"),
        "/v1/schema" => ("SYSPRO_SCHEMA", "(TABLE_NAME VARCHAR)"),
        "/v1/reconcile" => (
            "SYSPRO_RECONCILE",
            "(TABLE_NAME VARCHAR, PERIOD_FROM VARCHAR, PERIOD_TO VARCHAR)",
        ),
        "/v1/pull_range" => (
            "SYSPRO_PULL_RANGE",
            "(TABLE_NAME VARCHAR, SINCE VARCHAR, UNTIL VARCHAR, PAGE_CURSOR VARCHAR)",
        ),
        _ => ("SYSPRO_TABLES", "()"),
    }
}

/// The headers Snowflake's external-function runtime sends with batch `batch_id` of query
/// `query_id` to the function at `path` — all but the shared secret, which comes from the
/// function's `HEADERS`. The demo and the API tests both call the service with these.
pub fn protocol_headers(path: &str, query_id: &str, batch_id: &str) -> HeaderMap {
    let (name, signature) = function_at(path);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut headers = HeaderMap::new();
    for (header, value) in [
        ("user-agent", "snowflake/1.0".to_string()),
        ("sf-external-function-format", "json".into()),
        ("sf-external-function-format-version", "1.0".into()),
        ("sf-external-function-current-query-id", query_id.into()),
        ("sf-external-function-query-batch-id", batch_id.into()),
        ("sf-external-function-name", name.into()),
        ("sf-external-function-name-base64", b64(name)),
        ("sf-external-function-signature", signature.into()),
        ("sf-external-function-signature-base64", b64(signature)),
        ("sf-external-function-return-type", "VARIANT".into()),
        ("sf-external-function-return-type-base64", b64("VARIANT")),
    ] {
        let value = HeaderValue::try_from(value)
            .unwrap_or_else(|_| panic!("{header}: query and batch ids are header-safe"));
        headers.insert(header, value);
    }
    headers
}

/// The `n`th batch id of query `query_id`, shaped as in an AWS capture: `<query id>:1:1:0:<n>`
/// (the service must not parse it; the shape only makes logs look like production's).
pub fn batch_id(query_id: &str, n: u64) -> String {
    format!("{query_id}:1:1:0:{n}")
}

/// `{"data": [[0, args...], [1, args...], ...]}`: one batch with a row per element of `rows`,
/// numbered in order.
pub fn batch_body(rows: &[Vec<Value>]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, args)| {
            let mut row = vec![json!(i)];
            row.extend(args.iter().cloned());
            Value::Array(row)
        })
        .collect();
    json!({ "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_each_function_as_its_sql_declares_it() {
        for sql in [
            include_str!("../../sql/10_integration/syspro_pull.sql"),
            include_str!("../../sql/10_integration/syspro_keys.sql"),
            include_str!("../../sql/10_integration/syspro_schema.sql"),
            include_str!("../../sql/10_integration/syspro_tables.sql"),
            include_str!("../../sql/10_integration/syspro_reconcile.sql"),
            include_str!("../../sql/10_integration/syspro_pull_range.sql"),
        ] {
            let declared = sql.split_once("{{schema}}.").unwrap().1;
            let (name, rest) = declared.split_once('(').unwrap();
            let args: Vec<String> = rest
                .split_once(')')
                .unwrap()
                .0
                .split(',')
                .map(|a| a.trim().to_uppercase())
                .filter(|a| !a.is_empty())
                .collect();
            let path = sql
                .split_once("{{gateway_url}}")
                .unwrap()
                .1
                .split_once('\'')
                .unwrap()
                .0;
            let headers = protocol_headers(path, "q", &batch_id("q", 7));
            assert_eq!(
                headers["sf-external-function-name"],
                name.to_uppercase().as_str(),
                "{path}"
            );
            assert_eq!(
                headers["sf-external-function-signature"],
                format!("({})", args.join(", ")).as_str(),
                "{path}"
            );
            assert_eq!(headers["sf-external-function-query-batch-id"], "q:1:1:0:7");
        }
    }

    #[test]
    fn a_batch_numbers_its_rows_in_order() {
        assert_eq!(
            batch_body(&[vec![json!("ApInvoice")], vec![json!("ApSupplier")]]),
            json!({"data": [[0, "ApInvoice"], [1, "ApSupplier"]]})
        );
    }
}
