//! Settings: a TOML file (optional) overlaid by `MLC_<SECTION>__<KEY>` environment variables,
//! validated once at start-up so a bad value fails fast with the key's name in the message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use crate::catalog::TableOverride;
pub use crate::syspro::Paging;

/// Everything the program can be configured with. Each command validates only the parts it uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub syspro: SysproSettings,
    #[serde(default)]
    pub snowflake: SnowflakeSettings,
    /// Additions to, or overrides of, the built-in table catalog, keyed by SYSPRO table name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableOverride>,
    /// Push mode (`sync`): schedule and budgets.
    #[serde(default)]
    pub sync: crate::sync::SyncSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// `host:port` the external-function service listens on.
    pub listen: String,
    /// Shared secret every request must carry in `sf-custom-mlc-secret`. Also keys cursor signatures.
    pub secret: Option<SecretString>,
    /// Upper bound of one batch's response body; Snowflake refuses answers over 10 MB.
    pub response_budget_bytes: usize,
    /// Requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// How long a `next_cursor` stays valid.
    pub cursor_ttl_secs: u64,
    /// How long a finished batch is kept so that Snowflake's retry of it does not pull again.
    pub batch_cache_ttl_secs: u64,
    /// Memory bound of that cache.
    pub batch_cache_max_bytes: u64,
    /// A batch not finished within this answers 202 and Snowflake polls with GET (the
    /// asynchronous protocol); keep it below the gateway's timeout (AWS: 29 s).
    pub async_after_ms: u64,
    /// Batches running at once before new ones get 429, which makes Snowflake slow down.
    pub max_running_batches: usize,
    /// `text` or `json`.
    pub log_format: LogFormat,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secret: None,
            response_budget_bytes: 8 * 1024 * 1024,
            max_body_bytes: 1024 * 1024,
            cursor_ttl_secs: 24 * 3600,
            batch_cache_ttl_secs: 15 * 60,
            batch_cache_max_bytes: 256 * 1024 * 1024,
            async_after_ms: 20_000,
            max_running_batches: 32,
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Odata,
    Enet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SysproSettings {
    pub transport: Transport,
    /// OData base URL up to and including the company segment.
    pub odata_url: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// e.net REST base, e.g. `http://host:20001/SYSPROWCFService/Rest`.
    pub enet_url: Option<String>,
    pub operator: Option<String>,
    pub operator_password: Option<SecretString>,
    pub company_id: Option<String>,
    pub company_password: Option<SecretString>,
    /// Rows asked of SYSPRO per page (`$top`); also the most rows one external-function call returns.
    pub page_rows: usize,
    pub paging: Paging,
    /// Timeout of one HTTP request to SYSPRO.
    pub request_timeout_secs: u64,
    /// Budget for one SYSPRO read including retries. With asynchronous answers (the default)
    /// the gateway's timeout bounds only the first answer (`server.async_after_ms`); the read
    /// may run until shortly before Snowflake's 10-minute limit on an asynchronous call.
    pub retry_deadline_secs: u64,
    pub retry_initial_backoff_ms: u64,
    pub retry_max_backoff_ms: u64,
    /// Attempts per SYSPRO read, the first included.
    pub max_attempts: u32,
    /// SYSPRO requests in flight at once, across all batches: SYSPRO is a production ERP.
    pub max_concurrency: usize,
    /// Pages of a pull read ahead while the caller handles the current one: 1 (default) or 0.
    pub prefetch_pages: usize,
    /// e.net sessions unused this long are logged off and a new one is made on the next call;
    /// keep it below the e.net class timeout set in SYSPRO.
    pub enet_session_idle_secs: u64,
    /// PEM file with the CA(s) of an on-prem SYSPRO's own certificate, trusted in addition to the system store.
    pub ca_cert_path: Option<PathBuf>,
    /// Longest query string one SYSPRO request may carry: `SYSPRO_PULL_KEYS` splits its keys
    /// over as many requests as this needs. IIS refuses longer ones by default (`maxQueryString`
    /// 2048); raise it only if the site raised IIS's.
    pub max_query_bytes: usize,
}

impl Default for SysproSettings {
    fn default() -> Self {
        Self {
            transport: Transport::Odata,
            odata_url: None,
            user: None,
            password: None,
            enet_url: None,
            operator: None,
            operator_password: None,
            company_id: None,
            company_password: None,
            page_rows: 5000,
            paging: Paging::Keyset,
            request_timeout_secs: 300,
            retry_deadline_secs: 540,
            retry_initial_backoff_ms: 200,
            retry_max_backoff_ms: 5000,
            max_attempts: 6,
            max_concurrency: 4,
            prefetch_pages: 1,
            enet_session_idle_secs: 300,
            ca_cert_path: None,
            max_query_bytes: 2048,
        }
    }
}

impl SysproSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn retry_deadline(&self) -> Duration {
        Duration::from_secs(self.retry_deadline_secs)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnowflakeSettings {
    pub account: Option<String>,
    pub user: Option<String>,
    pub private_key_path: Option<PathBuf>,
    pub private_key_passphrase: Option<SecretString>,
    pub url: Option<String>,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub role: Option<String>,
}

/// A configuration problem, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads defaults, then the file (if any), then `MLC_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with the environment given, so tests need not touch the process's.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist (given by --config or MLC_CONFIG)",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // The environment is passed in rather than read by figment's `Env`, so tests need not
        // mutate the process environment; the mapping is the same: MLC_A__B -> a.b.
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MLC_") && k.contains("__"))
            .collect();
        for (key, value) in &vars {
            let path = key["MLC_".len()..].to_ascii_lowercase().replace("__", ".");
            let parsed = env_value(&path, value);
            figment = figment.merge(Serialized::default(&path, parsed));
        }
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError(describe_figment_error(&e)))?;
        settings.validate_common()?;
        Ok(settings)
    }

    fn validate_common(&self) -> Result<(), ConfigError> {
        if self.server.response_budget_bytes < 64 * 1024
            || self.server.response_budget_bytes > 10_000_000
        {
            return Err(ConfigError(
                "server.response_budget_bytes (MLC_SERVER__RESPONSE_BUDGET_BYTES) must be between 65536 and 10000000: Snowflake refuses batch answers over 10 MB".into(),
            ));
        }
        if self.syspro.page_rows == 0 || self.syspro.page_rows > 100_000 {
            return Err(ConfigError(
                "syspro.page_rows (MLC_SYSPRO__PAGE_ROWS) must be between 1 and 100000".into(),
            ));
        }
        if self.syspro.prefetch_pages > 1 {
            return Err(ConfigError(
                "syspro.prefetch_pages (MLC_SYSPRO__PREFETCH_PAGES) must be 0 (off) or 1".into(),
            ));
        }
        if self.syspro.max_concurrency == 0 || self.server.max_running_batches == 0 {
            return Err(ConfigError(
                "syspro.max_concurrency and server.max_running_batches must be at least 1".into(),
            ));
        }
        if self.syspro.max_attempts == 0 {
            return Err(ConfigError(
                "syspro.max_attempts (MLC_SYSPRO__MAX_ATTEMPTS) must be at least 1".into(),
            ));
        }
        if self.syspro.retry_initial_backoff_ms > self.syspro.retry_max_backoff_ms {
            return Err(ConfigError(
                "syspro.retry_initial_backoff_ms must not exceed syspro.retry_max_backoff_ms"
                    .into(),
            ));
        }
        for (name, t) in &self.tables {
            if let Some(keys) = &t.key_columns
                && keys.is_empty()
            {
                return Err(ConfigError(format!(
                    "tables.{name}.key_columns must name at least one column"
                )));
            }
        }
        Ok(())
    }

    /// What `serve` needs: a listen address, the secret, and a reachable SYSPRO.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        let secret = self.server.secret.as_ref().ok_or_else(|| {
            ConfigError(
                "server.secret is not set: set MLC_SERVER__SECRET (e.g. `openssl rand -hex 32`) and put the same value in the external functions' HEADERS = ('mlc-secret' = '...')".into(),
            )
        })?;
        if secret.expose_secret().len() < 16 {
            return Err(ConfigError(
                "server.secret (MLC_SERVER__SECRET) is shorter than 16 characters; use a random value such as `openssl rand -hex 32`".into(),
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err()
            && !self.server.listen.contains(':')
        {
            return Err(ConfigError(format!(
                "server.listen (MLC_SERVER__LISTEN) = {:?} is not host:port",
                self.server.listen
            )));
        }
        self.validate_for_syspro()
    }

    /// What any command that reads SYSPRO needs.
    pub fn validate_for_syspro(&self) -> Result<(), ConfigError> {
        match self.syspro.transport {
            Transport::Odata => {
                let url = self.syspro.odata_url.as_deref().ok_or_else(|| {
                    ConfigError("syspro.odata_url is not set: set MLC_SYSPRO__ODATA_URL to the OData base up to and including the company segment".into())
                })?;
                check_http_url("syspro.odata_url (MLC_SYSPRO__ODATA_URL)", url)?;
                if self.syspro.user.as_deref().unwrap_or("").is_empty() {
                    return Err(ConfigError(
                        "syspro.user is not set: set MLC_SYSPRO__USER to the OData Basic-auth user"
                            .into(),
                    ));
                }
                if self.syspro.password.is_none() {
                    return Err(ConfigError(
                        "syspro.password is not set: set MLC_SYSPRO__PASSWORD".into(),
                    ));
                }
            }
            Transport::Enet => {
                let url = self.syspro.enet_url.as_deref().ok_or_else(|| {
                    ConfigError("syspro.enet_url is not set: set MLC_SYSPRO__ENET_URL, e.g. http://host:20001/SYSPROWCFService/Rest".into())
                })?;
                check_http_url("syspro.enet_url (MLC_SYSPRO__ENET_URL)", url)?;
                for (name, v) in [
                    ("operator", &self.syspro.operator),
                    ("company_id", &self.syspro.company_id),
                ] {
                    if v.as_deref().unwrap_or("").is_empty() {
                        return Err(ConfigError(format!(
                            "syspro.{name} is not set: set MLC_SYSPRO__{} for the e.net logon",
                            name.to_ascii_uppercase()
                        )));
                    }
                }
            }
        }
        if let Some(ca) = &self.syspro.ca_cert_path
            && !ca.exists()
        {
            return Err(ConfigError(format!(
                "syspro.ca_cert_path (MLC_SYSPRO__CA_CERT_PATH) = {} does not exist",
                ca.display()
            )));
        }
        Ok(())
    }

    /// The secret's bytes, for the request check and the cursor key; `None` before validation.
    pub fn secret_bytes(&self) -> Option<&[u8]> {
        self.server
            .secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes())
    }
}

fn check_http_url(name: &str, url: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(()),
        _ => Err(ConfigError(format!(
            "{name} = {url:?} is not an http(s) URL"
        ))),
    }
}

/// Environment values are text; the keys below are lists or numbers, everything else stays text so
/// that a password of digits is not turned into a number.
fn env_value(path: &str, value: &str) -> figment::value::Value {
    use figment::value::Value;
    let last = path.rsplit('.').next().unwrap_or(path);
    if matches!(last, "key_columns" | "select" | "reconcile_measures") {
        let items: Vec<String> = value
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        return Value::from(items);
    }
    // Numbers are recognised by the naming rule every numeric key follows (a unit suffix or a
    // `max_` prefix), so a new numeric key needs no entry here.
    let numeric = [
        "_secs",
        "_ms",
        "_bytes",
        "_rows",
        "_days",
        "_attempts",
        "_batches",
        "_concurrency",
        "_pages",
    ]
    .iter()
    .any(|suffix| last.ends_with(suffix))
        || last.starts_with("max_");
    if numeric && let Ok(n) = value.trim().parse::<u64>() {
        return Value::from(n);
    }
    Value::from(value.to_string())
}

fn describe_figment_error(e: &figment::Error) -> String {
    let mut parts = Vec::new();
    for err in e.clone() {
        let key = if err.path.is_empty() {
            String::new()
        } else {
            err.path.join(".")
        };
        let env_name = if key.is_empty() {
            String::new()
        } else {
            format!(" (MLC_{})", key.to_ascii_uppercase().replace('.', "__"))
        };
        let msg = match &err.kind {
            figment::error::Kind::UnknownField(field, expected) => {
                // figment's path may already end with the unknown field.
                let full = if key.is_empty() {
                    field.clone()
                } else if key == *field || key.ends_with(&format!(".{field}")) {
                    key.clone()
                } else {
                    format!("{key}.{field}")
                };
                format!(
                    "unknown key `{full}` (MLC_{}); expected one of: {}",
                    full.to_ascii_uppercase().replace('.', "__"),
                    expected.join(", ")
                )
            }
            kind => format!("`{key}`{env_name}: {kind}"),
        };
        parts.push(msg);
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_alone_is_a_complete_configuration() {
        let s = Settings::load_from(
            None,
            env(&[
                ("MLC_SERVER__LISTEN", "0.0.0.0:9000"),
                ("MLC_SERVER__SECRET", "0123456789abcdef0123"),
                (
                    "MLC_SYSPRO__ODATA_URL",
                    "https://erp.example/SYSPRO8Odata/SYSPROOData/EDU1",
                ),
                ("MLC_SYSPRO__USER", "odata"),
                ("MLC_SYSPRO__PASSWORD", "12345"),
                ("MLC_SYSPRO__PAGE_ROWS", "250"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.syspro.page_rows, 250);
        assert_eq!(s.syspro.password.as_ref().unwrap().expose_secret(), "12345");
        s.validate_for_serve().unwrap();
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[syspro]\npage_rows = 100\nuser = \"file-user\"\n[tables.ApInvoice]\nselect = [\"Supplier\", \"Invoice\"]\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[("MLC_SYSPRO__USER", "env-user")])).unwrap();
        assert_eq!(s.syspro.user.as_deref(), Some("env-user"));
        assert_eq!(s.syspro.page_rows, 100);
        assert_eq!(s.tables["ApInvoice"].select.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn a_misspelt_key_is_named_with_its_variable() {
        let err = Settings::load_from(None, env(&[("MLC_SYSPRO__PASWORD", "x")])).unwrap_err();
        assert!(err.0.contains("syspro.pasword"), "{}", err.0);
        assert!(err.0.contains("MLC_SYSPRO__PASWORD)"), "{}", err.0);
        assert!(!err.0.contains("pasword.pasword"), "{}", err.0);
    }

    #[test]
    fn a_bad_number_names_the_key() {
        let err = Settings::load_from(None, env(&[("MLC_SYSPRO__PAGE_ROWS", "many")])).unwrap_err();
        assert!(err.0.contains("page_rows"), "{}", err.0);
    }

    #[test]
    fn serve_refuses_to_start_without_a_secret() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        let err = s.validate_for_serve().unwrap_err();
        assert!(err.0.contains("MLC_SERVER__SECRET"), "{}", err.0);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings::load_from(
            None,
            env(&[
                ("MLC_SERVER__SECRET", "super-secret-value-1"),
                ("MLC_SYSPRO__PASSWORD", "pw-secret-2"),
            ]),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("super-secret-value-1"));
        assert!(!shown.contains("pw-secret-2"));
    }
}
