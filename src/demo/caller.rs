//! Calls the service the way Snowflake's external-function runtime does: a POST per batch with
//! the `sf-external-function-*` headers, the shared secret from the function's `HEADERS`, a batch
//! id per call, and `{"data": [[row, args...]]}` bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
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
        crate::syspro::http::install_crypto_provider();
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
        let batch = self.next_batch.fetch_add(1, Ordering::SeqCst);
        let batch_id = format!("{}:1:1:0:{batch}", self.query_id);
        let mut row = vec![json!(0)];
        row.extend(args);
        let body = json!({ "data": [row] });
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
        let (name, signature) = match path {
            "/v1/pull" => (
                "SYSPRO_PULL",
                "(TABLE VARCHAR, SINCE VARCHAR, CURSOR VARCHAR)",
            ),
            "/v1/keys" => ("SYSPRO_KEYS", "(TABLE VARCHAR, CURSOR VARCHAR)"),
            "/v1/schema" => ("SYSPRO_SCHEMA", "(TABLE VARCHAR)"),
            _ => ("SYSPRO_TABLES", "()"),
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("user-agent", "snowflake/1.0")
            .header("sf-external-function-format", "json")
            .header("sf-external-function-format-version", "1.0")
            .header("sf-external-function-current-query-id", &self.query_id)
            .header("sf-external-function-query-batch-id", batch_id)
            .header("sf-external-function-name", name)
            .header("sf-external-function-name-base64", b64(name))
            .header("sf-external-function-signature", signature)
            .header("sf-external-function-signature-base64", b64(signature))
            .header("sf-external-function-return-type", "VARIANT")
            .header("sf-external-function-return-type-base64", b64("VARIANT"))
            .header("sf-custom-mlc-secret", self.secret.expose_secret())
    }
}
