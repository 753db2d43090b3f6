//! Snowflake's side of push mode: key-pair JWT ([`jwt`]), the SQL API v2 wire format ([`wire`])
//! and the client ([`client`]). Knows nothing about SYSPRO.

pub mod binds;
pub mod client;
pub mod jwt;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::retry::RetryPolicy;

pub use client::{Bind, ResultSet, SqlApiClient, SqlApiConfig, SqlApiError, SqlErrorKind};
pub use jwt::{Clock, KeyPair, TokenSource};

/// Why the SQL API client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Http(#[from] crate::http::ClientError),
}

/// Loads (and decrypts, once) the configured key.
pub fn load_key(settings: &Settings) -> Result<Arc<KeyPair>, ConfigError> {
    let login = settings.snowflake_login()?;
    KeyPair::from_file(
        &login.private_key_path,
        login.private_key_passphrase.as_ref(),
    )
    .map(Arc::new)
    .map_err(|e| {
        ConfigError::unusable(
            "snowflake.private_key_path",
            e.0,
            "give a PKCS#8 PEM file (`openssl genrsa 2048 | openssl pkcs8 -topk8 -v2 aes-256-cbc -inform PEM -out rsa_key.p8`); an encrypted one needs MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE",
        )
    })
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
) -> Result<SqlApiClient, BuildError> {
    let login = settings.snowflake_login()?;
    let s = &settings.snowflake;
    // `snowflake_login` checked that `snowflake.url`, if set, is an http(s) URL.
    let base_url = match s.url.as_deref() {
        Some(u) => url::Url::parse(u.trim()).ok(),
        None => client::default_base_url(&login.account).ok(),
    }
    .ok_or_else(|| ConfigError::BadValue {
        key: crate::config::Key::new("snowflake.account"),
        problem: format!("= {:?} does not make a URL", login.account),
        fix: "give the orgname-account_name (or the account locator), or set snowflake.url".into(),
    })?;
    let tokens = Arc::new(TokenSource::new(
        key,
        &login.account,
        &login.user,
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
    Ok(SqlApiClient::new(cfg, tokens)?)
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
