//! Snowflake's side of push mode: key-pair JWT ([`jwt`]), the SQL API v2 wire format ([`wire`])
//! and the client ([`client`]). Knows nothing about SYSPRO.

pub mod client;
pub mod jwt;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::retry::RetryPolicy;

pub use client::{Bind, ResultSet, SqlApiClient, SqlApiConfig, SqlApiError, SqlErrorKind};
pub use jwt::{Clock, KeyPair, TokenSource};

/// The `MLC_SNOWFLAKE__*` settings push mode cannot do without that are not set.
pub fn missing_settings(settings: &Settings) -> Vec<&'static str> {
    let s = &settings.snowflake;
    let mut missing = Vec::new();
    if s.account.as_deref().is_none_or(|v| v.trim().is_empty()) {
        missing.push("MLC_SNOWFLAKE__ACCOUNT");
    }
    if s.user.as_deref().is_none_or(|v| v.trim().is_empty()) {
        missing.push("MLC_SNOWFLAKE__USER");
    }
    if s.private_key_path.is_none() {
        missing.push("MLC_SNOWFLAKE__PRIVATE_KEY_PATH");
    }
    missing
}

/// Loads (and decrypts, once) the configured key.
pub fn load_key(settings: &Settings) -> Result<Arc<KeyPair>, ConfigError> {
    let path = settings.snowflake.private_key_path.as_deref().ok_or_else(|| {
        ConfigError("snowflake.private_key_path is not set: set MLC_SNOWFLAKE__PRIVATE_KEY_PATH to the PKCS#8 key file".into())
    })?;
    KeyPair::from_file(path, settings.snowflake.private_key_passphrase.as_ref())
        .map(Arc::new)
        .map_err(|e| ConfigError(format!("snowflake.private_key_path: {e}")))
}

/// Knobs of the client that are not part of the contract's settings.
#[derive(Debug, Clone)]
pub struct ClientTuning {
    pub token_lifetime_secs: i64,
    pub statement_timeout_secs: u64,
    pub retry: RetryPolicy,
    pub poll_max_interval: Duration,
    pub request_timeout: Duration,
}

impl Default for ClientTuning {
    fn default() -> Self {
        ClientTuning {
            token_lifetime_secs: jwt::MAX_LIFETIME_SECS,
            statement_timeout_secs: 600,
            retry: RetryPolicy {
                initial_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(10),
                max_attempts: 6,
                deadline: Duration::from_secs(120),
            },
            poll_max_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The SQL API's `warehouse`/`database`/`schema`/`role` fields are case-sensitive and must match
/// `SHOW` output (snowflake.md §3): an unquoted identifier is stored upper case, so it is sent
/// upper case; `"Quoted"` names are sent as written, without the quotes.
pub fn context_name(value: &Option<String>) -> Option<String> {
    let v = value.as_deref()?.trim();
    if v.is_empty() {
        return None;
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some(inner.replace("\"\"", "\""));
    }
    let plain = v
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    Some(if plain {
        v.to_ascii_uppercase()
    } else {
        v.to_string()
    })
}

/// The SQL API client the settings describe, with the key already loaded.
pub fn build_client(
    settings: &Settings,
    key: Arc<KeyPair>,
    tuning: &ClientTuning,
    clock: Clock,
) -> Result<SqlApiClient, ConfigError> {
    let missing = missing_settings(settings);
    if !missing.is_empty() {
        return Err(ConfigError(format!(
            "Snowflake is not configured: set {}",
            missing.join(", ")
        )));
    }
    let s = &settings.snowflake;
    let account = s.account.as_deref().unwrap_or_default();
    let base_url = match s.url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(u) => url::Url::parse(u.trim()).map_err(|e| {
            ConfigError(format!(
                "snowflake.url (MLC_SNOWFLAKE__URL) = {u:?} is not a URL: {e}"
            ))
        })?,
        None => client::default_base_url(account).map_err(ConfigError)?,
    };
    if !matches!(base_url.scheme(), "http" | "https") {
        return Err(ConfigError(
            "snowflake.url (MLC_SNOWFLAKE__URL) must be an http(s) URL".into(),
        ));
    }
    let tokens = Arc::new(TokenSource::new(
        key,
        account,
        s.user.as_deref().unwrap_or_default(),
        tuning.token_lifetime_secs,
        clock,
    ));
    let cfg = SqlApiConfig {
        base_url,
        warehouse: context_name(&s.warehouse),
        database: context_name(&s.database),
        schema: context_name(&s.schema),
        role: context_name(&s.role),
        statement_timeout_secs: tuning.statement_timeout_secs,
        retry: tuning.retry,
        poll_max_interval: tuning.poll_max_interval,
        request_timeout: tuning.request_timeout,
    };
    SqlApiClient::new(cfg, tokens).map_err(ConfigError)
}

#[cfg(test)]
mod tests {
    use super::context_name;

    #[test]
    fn context_names_match_show_output() {
        let n = |s: &str| context_name(&Some(s.to_string()));
        assert_eq!(n("ml_connector").as_deref(), Some("ML_CONNECTOR"));
        assert_eq!(n("\"MixedCase\"").as_deref(), Some("MixedCase"));
        assert_eq!(n("  ").as_deref(), None);
        assert_eq!(context_name(&None), None);
    }
}
