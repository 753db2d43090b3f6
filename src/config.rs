//! Settings: one typed model of every section (`[server]`, `[syspro]`, `[companies.*]`,
//! `[snowflake]`, `[sync]`, `[tables.*]`), read one way: defaults, then a TOML file (optional), then `MLC_<SECTION>__<KEY>`
//! environment variables, merged by figment and typed by the model. Validated once, at load;
//! what only some commands need (a SYSPRO endpoint, a service secret, a Snowflake login) is
//! checked by the one method that hands it out. Every error is a [`ConfigError`] that names the
//! key, its variable and the fix.
//!
//! **Architecture Invariant:** this module imports from the crate only leaves — `catalog`'s
//! `[tables.*]` block and `syspro::position`'s `Paging` — so everything may import it without
//! closing a loop.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

// A leaf: the paging of a SYSPRO read, which the syspro module defines.
pub use crate::syspro::position::Paging;

// ---------------------------------------------------------------------------------------------
// errors

/// A setting: its dotted key in the TOML file and the environment variable that overrides it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    pub fn new(path: impl Into<String>) -> Key {
        Key(path.into())
    }

    /// `syspro.odata_url`.
    pub fn path(&self) -> &str {
        &self.0
    }

    /// `MLC_SYSPRO__ODATA_URL`.
    pub fn env_var(&self) -> String {
        format!("MLC_{}", self.0.to_ascii_uppercase().replace('.', "__"))
    }

    /// The section the key is in: `syspro`, `tables`, ...
    pub fn section(&self) -> &str {
        self.0.split('.').next().unwrap_or("")
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.env_var())
    }
}

/// A configuration problem: what is wrong, with which key(s), and what to do about it. Code
/// decides on the variant and [`ConfigError::keys`], never on the message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// `--config` / `MLC_CONFIG` names a file that is not there.
    #[error(
        "configuration: config file {} does not exist (given by --config or MLC_CONFIG): give an existing file, or none to configure by environment alone",
        path.display()
    )]
    NoFile { path: PathBuf },
    /// The file is not valid TOML.
    #[error("configuration: config file {}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: String },
    /// A key the model does not have (usually a misspelling).
    #[error("configuration: unknown key {key}; expected one of: {}", expected.join(", "))]
    UnknownKey { key: Key, expected: Vec<String> },
    /// A value of the wrong type or outside its range.
    #[error("configuration: {key} {problem}: {fix}")]
    BadValue {
        key: Key,
        problem: String,
        fix: String,
    },
    /// Keys a command needs that are not set (an empty value counts as not set).
    #[error(
        "configuration: {} not set: {fix}",
        keys.iter().map(Key::to_string).collect::<Vec<_>>().join(", ")
    )]
    Missing { keys: Vec<Key>, fix: String },
    /// Two values that contradict each other.
    #[error("configuration: {first} must not exceed {second}: {fix}")]
    Conflict {
        first: Key,
        second: Key,
        fix: String,
    },
    /// Two companies that name the same SYSPRO company (the same OData URL, or the same e.net
    /// service and company id): their rows would be read twice under two ids.
    #[error("configuration: {first} and {second} name the same SYSPRO company: {fix}")]
    Duplicate {
        first: Key,
        second: Key,
        fix: String,
    },
    /// A well-formed value whose target cannot be used: a file that is missing or unreadable,
    /// a key that does not decrypt, an address already in use.
    #[error("configuration: {key}: {problem}: {fix}")]
    Unusable {
        key: Key,
        problem: String,
        fix: String,
    },
}

impl ConfigError {
    fn bad(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError::BadValue {
            key: Key::new(key),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// A problem with what a key names (a file, an address), not with its text.
    pub fn unusable(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfigError::Unusable {
            key: Key::new(key),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn missing(keys: &[&str], fix: impl Into<String>) -> Self {
        ConfigError::Missing {
            keys: keys.iter().map(|k| Key::new(*k)).collect(),
            fix: fix.into(),
        }
    }

    /// The keys the problem is about (none for the file itself).
    pub fn keys(&self) -> Vec<&Key> {
        match self {
            ConfigError::NoFile { .. } | ConfigError::BadFile { .. } => Vec::new(),
            ConfigError::UnknownKey { key, .. }
            | ConfigError::BadValue { key, .. }
            | ConfigError::Unusable { key, .. } => vec![key],
            ConfigError::Missing { keys, .. } => keys.iter().collect(),
            ConfigError::Conflict { first, second, .. }
            | ConfigError::Duplicate { first, second, .. } => vec![first, second],
        }
    }

    /// What to do about it, on its own (the message carries it too).
    pub fn fix(&self) -> String {
        match self {
            ConfigError::NoFile { .. } => {
                "give an existing file with --config or MLC_CONFIG, or none".into()
            }
            ConfigError::BadFile { path, .. } => {
                format!("correct the TOML syntax of {}", path.display())
            }
            ConfigError::UnknownKey { key, expected } => format!(
                "correct or remove {} (one of: {})",
                key.path(),
                expected.join(", ")
            ),
            ConfigError::BadValue { fix, .. }
            | ConfigError::Missing { fix, .. }
            | ConfigError::Conflict { fix, .. }
            | ConfigError::Duplicate { fix, .. }
            | ConfigError::Unusable { fix, .. } => fix.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the model

/// Everything the program can be configured with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub syspro: SysproSettings,
    /// Several SYSPRO companies read by one deployment, keyed by company id (`[companies.UK1]`,
    /// `MLC_COMPANIES__UK1__ODATA_URL`). Empty: the one company `[syspro]` describes. Read them
    /// through [`Settings::companies`].
    #[serde(default)]
    pub companies: BTreeMap<String, CompanySettings>,
    #[serde(default)]
    pub snowflake: SnowflakeSettings,
    /// Additions to, or overrides of, the built-in table catalog, keyed by SYSPRO table name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableOverride>,
    /// Push mode (`sync`): schedule and budgets.
    #[serde(default)]
    pub sync: SyncSettings,
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
    /// Batches running at once (per company) before new ones get 429, which makes Snowflake
    /// slow down; per company so that a slow company cannot get another's batches refused.
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

/// One company of a several-company deployment (`[companies.<ID>]`). A key left unset is taken
/// from `[syspro]` — except `odata_url`, whose company segment is the company's own, and
/// `company_id`, which defaults to the section's id (the e.net logon's `CompanyId`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompanySettings {
    pub transport: Option<Transport>,
    /// OData base URL up to and including this company's segment.
    pub odata_url: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub enet_url: Option<String>,
    pub operator: Option<String>,
    pub operator_password: Option<SecretString>,
    pub company_id: Option<String>,
    pub company_password: Option<SecretString>,
    /// SYSPRO requests in flight at once for this company: each company has its own limit, so a
    /// slow company cannot take the others' slots.
    pub max_concurrency: Option<usize>,
}

/// A company as every command that reads SYSPRO needs it ([`Settings::companies`]).
#[derive(Debug, Clone)]
pub struct Company {
    /// SYSPRO's company id, upper-cased; `""` for the single company of a `[syspro]`-only
    /// configuration (every name, cursor and value then reads exactly as without companies).
    pub id: String,
    /// Where its settings are: `syspro` or `companies.UK1` (for keys in errors and fixes).
    pub section: String,
    pub endpoint: SysproEndpoint,
    /// Its own limit on SYSPRO requests in flight.
    pub max_concurrency: usize,
}

impl Company {
    /// The table name a caller uses for `table` of this company: `UK1.ApInvoice`, or the
    /// catalog name alone for the single company.
    pub fn qualify(&self, table: &str) -> String {
        qualified_name(&self.id, table)
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

impl SnowflakeSettings {
    /// Nothing of the key-pair login is set: pull mode, which needs none of it.
    pub fn is_unconfigured(&self) -> bool {
        self.account.is_none()
            && self.user.is_none()
            && self.private_key_path.is_none()
            && self.url.is_none()
            && self.warehouse.is_none()
    }
}

pub use crate::catalog::{TableOverride, is_company_id, qualified_name};

/// The keys whose empty string is a value of its own rather than "not set".
const EMPTY_IS_A_VALUE: [&str; 2] = ["watermark_column", "open_items"];

/// How `ml-connector sync` schedules and bounds its work (`[sync]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Tables to sync (`MLC_SYNC__TABLES=ApInvoice,ApSupplier`); empty: every catalog table.
    #[serde(deserialize_with = "crate::catalog::names")]
    pub tables: Vec<String>,
    /// Interval of tables with a watermark column (the `financial` group), in seconds.
    pub financial_interval_secs: u64,
    /// Interval of snapshot tables read whole (the `masters` group), in seconds.
    pub masters_interval_secs: u64,
    /// Per-table intervals in seconds, e.g. `intervals = { ApInvoice = 300 }`
    /// (`MLC_SYNC__INTERVALS__APINVOICE=300`); names are matched case-insensitively.
    pub intervals: BTreeMap<String, u64>,
    /// Upper bound of one page's JSON, bound as one SQL API value.
    pub page_budget_bytes: usize,
    /// Runs of a failing cycle before it waits for its next turn (each run is audited).
    pub cycle_max_attempts: u32,
    pub cycle_retry_initial_backoff_secs: u64,
    pub cycle_retry_max_backoff_secs: u64,
    /// `timeout` of each SQL API statement.
    pub statement_timeout_secs: u64,
    /// Budget of one SQL API request including its retries on 429/5xx.
    pub sql_retry_deadline_secs: u64,
    pub sql_max_attempts: u32,
    /// Lifetime of each key-pair JWT (Snowflake caps it at 3600).
    pub token_lifetime_secs: u64,
    /// After SIGTERM/ctrl-c a running cycle may go on this long before it is abandoned (and
    /// audited as such); keep it below the service manager's stop timeout (systemd: 30 s).
    pub shutdown_grace_secs: u64,
    /// How often `sync` verifies a table whose `verify_group` in `syspro_sync_control` is
    /// `nightly` (every key and record digest compared with SYSPRO's), in seconds.
    pub verify_nightly_interval_secs: u64,
    /// The same for the `weekly` group (large append-only tables).
    pub verify_weekly_interval_secs: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            tables: Vec::new(),
            financial_interval_secs: 900,
            masters_interval_secs: 6 * 3600,
            intervals: BTreeMap::new(),
            page_budget_bytes: 4 * 1024 * 1024,
            cycle_max_attempts: 3,
            cycle_retry_initial_backoff_secs: 5,
            cycle_retry_max_backoff_secs: 300,
            statement_timeout_secs: 600,
            sql_retry_deadline_secs: 120,
            sql_max_attempts: 6,
            token_lifetime_secs: 3600,
            shutdown_grace_secs: 20,
            verify_nightly_interval_secs: 24 * 3600,
            verify_weekly_interval_secs: 7 * 24 * 3600,
        }
    }
}

impl SyncSettings {
    /// The verify interval of a `verify_group`; `None` for `none` (never verified).
    pub fn verify_interval(&self, group: &str) -> Option<Duration> {
        match group {
            "none" => None,
            "weekly" => Some(self.verify_weekly_interval_secs),
            _ => Some(self.verify_nightly_interval_secs),
        }
        .map(|s| Duration::from_secs(s.max(60)))
    }

    /// The interval of a table: its own, else its group's.
    pub fn interval_for(&self, table: &str, has_watermark: bool) -> Duration {
        let own = self
            .intervals
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(table))
            .map(|(_, v)| *v);
        Duration::from_secs(own.unwrap_or(if has_watermark {
            self.financial_interval_secs
        } else {
            self.masters_interval_secs
        }))
        .max(Duration::from_secs(1))
    }
}

// ---------------------------------------------------------------------------------------------
// what commands are handed once validated

/// SYSPRO as the settings describe it, every required value present and checked.
#[derive(Debug, Clone)]
pub enum SysproEndpoint {
    OData {
        url: String,
        user: String,
        password: SecretString,
    },
    Enet {
        url: String,
        operator: String,
        operator_password: SecretString,
        company_id: String,
        company_password: SecretString,
    },
}

/// The key-pair login to Snowflake's SQL API, every required value present (and
/// `snowflake.url`, if set, an http(s) URL).
#[derive(Debug, Clone)]
pub struct SnowflakeLogin {
    pub account: String,
    pub user: String,
    pub private_key_path: PathBuf,
    pub private_key_passphrase: Option<SecretString>,
}

// ---------------------------------------------------------------------------------------------
// reading

/// The one empty-value rule: a value that is empty or blank is the same as no value — an empty
/// variable does not override, an empty text in the file leaves the key unset — except for the
/// `[tables.*]` keys whose empty string means "off" ([`EMPTY_IS_A_VALUE`]).
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

fn blank_is_unset<T: AsRef<str>>(value: &mut Option<T>) {
    if value.as_ref().is_some_and(|v| is_blank(v.as_ref())) {
        *value = None;
    }
}

fn blank_secret_is_unset(value: &mut Option<SecretString>) {
    if value.as_ref().is_some_and(|v| is_blank(v.expose_secret())) {
        *value = None;
    }
}

fn blank_path_is_unset(value: &mut Option<PathBuf>) {
    if value
        .as_ref()
        .is_some_and(|p| is_blank(&p.to_string_lossy()))
    {
        *value = None;
    }
}

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
                return Err(ConfigError::NoFile {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Serialized::defaults(env_overrides(env)));
        // Lossy: environment values are text, and the model's type decides what the text must
        // be (`"250"` for a number, `"true"` for a flag); a value never changes type on its own.
        let mut settings: Settings = figment
            .extract_lossy()
            .map_err(|e| describe_figment_error(&e, file))?;
        settings.apply_empty_rule();
        settings.validate()?;
        Ok(settings)
    }

    fn apply_empty_rule(&mut self) {
        blank_secret_is_unset(&mut self.server.secret);
        let s = &mut self.syspro;
        for text in [
            &mut s.odata_url,
            &mut s.user,
            &mut s.enet_url,
            &mut s.operator,
            &mut s.company_id,
        ] {
            blank_is_unset(text);
        }
        for secret in [
            &mut s.password,
            &mut s.operator_password,
            &mut s.company_password,
        ] {
            blank_secret_is_unset(secret);
        }
        blank_path_is_unset(&mut s.ca_cert_path);
        let sf = &mut self.snowflake;
        for text in [
            &mut sf.account,
            &mut sf.user,
            &mut sf.url,
            &mut sf.warehouse,
            &mut sf.database,
            &mut sf.schema,
            &mut sf.role,
        ] {
            blank_is_unset(text);
        }
        blank_path_is_unset(&mut sf.private_key_path);
        blank_secret_is_unset(&mut sf.private_key_passphrase);
        for t in self.tables.values_mut() {
            blank_is_unset(&mut t.description);
        }
        for c in self.companies.values_mut() {
            for text in [
                &mut c.odata_url,
                &mut c.user,
                &mut c.enet_url,
                &mut c.operator,
                &mut c.company_id,
            ] {
                blank_is_unset(text);
            }
            for secret in [
                &mut c.password,
                &mut c.operator_password,
                &mut c.company_password,
            ] {
                blank_secret_is_unset(secret);
            }
        }
    }

    /// Every rule a value must meet whatever the command: ranges and relations. (What a value
    /// points at — a URL, a file — is checked by the method that hands it to its one user, so
    /// a command that does not use it is not stopped by it.)
    fn validate(&self) -> Result<(), ConfigError> {
        let sv = &self.server;
        if !(64 * 1024..=10_000_000).contains(&sv.response_budget_bytes) {
            return Err(ConfigError::bad(
                "server.response_budget_bytes",
                format!("is {}", sv.response_budget_bytes),
                "give a value between 65536 and 10000000: Snowflake refuses batch answers over 10 MB",
            ));
        }
        at_least_one("server.max_running_batches", sv.max_running_batches as u64)?;
        if sv.listen.parse::<std::net::SocketAddr>().is_err() && !sv.listen.contains(':') {
            return Err(ConfigError::bad(
                "server.listen",
                format!("= {:?} is not host:port", sv.listen),
                "give an address and port, e.g. 0.0.0.0:8080",
            ));
        }

        let s = &self.syspro;
        if !(1..=100_000).contains(&s.page_rows) {
            return Err(ConfigError::bad(
                "syspro.page_rows",
                format!("is {}", s.page_rows),
                "give a value between 1 and 100000",
            ));
        }
        if s.prefetch_pages > 1 {
            return Err(ConfigError::bad(
                "syspro.prefetch_pages",
                format!("is {}", s.prefetch_pages),
                "give 0 (off) or 1",
            ));
        }
        at_least_one("syspro.max_concurrency", s.max_concurrency as u64)?;
        at_least_one("syspro.max_attempts", u64::from(s.max_attempts))?;
        if s.retry_initial_backoff_ms > s.retry_max_backoff_ms {
            return Err(ConfigError::Conflict {
                first: Key::new("syspro.retry_initial_backoff_ms"),
                second: Key::new("syspro.retry_max_backoff_ms"),
                fix: format!(
                    "lower the first ({}) or raise the second ({})",
                    s.retry_initial_backoff_ms, s.retry_max_backoff_ms
                ),
            });
        }

        let y = &self.sync;
        if y.page_budget_bytes < 64 * 1024 {
            return Err(ConfigError::bad(
                "sync.page_budget_bytes",
                format!("is {}", y.page_budget_bytes),
                "give at least 65536",
            ));
        }
        at_least_one("sync.cycle_max_attempts", u64::from(y.cycle_max_attempts))?;
        at_least_one("sync.sql_max_attempts", u64::from(y.sql_max_attempts))?;
        if !(1..=3600).contains(&y.token_lifetime_secs) {
            return Err(ConfigError::bad(
                "sync.token_lifetime_secs",
                format!("is {}", y.token_lifetime_secs),
                "give a value between 1 and 3600: Snowflake refuses longer",
            ));
        }

        self.validate_company_ids()?;

        for (name, t) in &self.tables {
            if t.key_columns.as_ref().is_some_and(Vec::is_empty) {
                return Err(ConfigError::bad(
                    &format!("tables.{name}.key_columns"),
                    "is empty",
                    "name at least one column, or remove the key to keep the built-in keys",
                ));
            }
        }
        Ok(())
    }

    /// Company ids are SYSPRO's (1–20 of `[A-Za-z0-9_]`), each written once whatever its case.
    fn validate_company_ids(&self) -> Result<(), ConfigError> {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (key, c) in &self.companies {
            if !is_company_id(key) {
                return Err(ConfigError::bad(
                    &format!("companies.{key}"),
                    "is not a SYSPRO company id",
                    "name the section after the company's id: 1 to 20 letters, digits or _, e.g. [companies.UK1]",
                ));
            }
            if let Some(other) = seen.insert(key.to_ascii_uppercase(), key) {
                return Err(ConfigError::Duplicate {
                    first: Key::new(format!("companies.{other}")),
                    second: Key::new(format!("companies.{key}")),
                    fix: format!(
                        "company ids are not case-sensitive: write the company once, as [companies.{}] (MLC_COMPANIES__{}__* variables add to that section)",
                        key.to_ascii_uppercase(),
                        key.to_ascii_uppercase()
                    ),
                });
            }
            if c.max_concurrency == Some(0) {
                at_least_one(&format!("companies.{key}.max_concurrency"), 0)?;
            }
        }
        Ok(())
    }

    /// SYSPRO as every command that reads it needs it, for the single company of a
    /// `[syspro]`-only configuration: the transport's URL and credentials, and the site CA file
    /// if one is named. Commands use [`Settings::companies`], which is this when no
    /// `[companies.*]` are configured.
    pub fn syspro_endpoint(&self) -> Result<SysproEndpoint, ConfigError> {
        let s = &self.syspro;
        let endpoint = endpoint_of(EndpointParts::of("syspro".into(), s))?;
        self.check_ca_file()?;
        Ok(endpoint)
    }

    /// Every company this deployment reads, in id order: the one place SYSPRO's settings are
    /// checked for use (`serve`, `pull`, `check`, `discover` and `sync` all start here).
    /// Without `[companies.*]` it is the one company of `[syspro]`, with id `""`. With them,
    /// each `[companies.<ID>]` inherits every key it leaves unset from `[syspro]`, except
    /// `odata_url` (its own company segment) and `company_id` (the section's id).
    pub fn companies(&self) -> Result<Vec<Company>, ConfigError> {
        if self.companies.is_empty() {
            return Ok(vec![Company {
                id: String::new(),
                section: "syspro".into(),
                endpoint: self.syspro_endpoint()?,
                max_concurrency: self.syspro.max_concurrency,
            }]);
        }
        let first = self
            .companies
            .keys()
            .next()
            .map(|k| k.to_ascii_uppercase())
            .unwrap_or_default();
        if self.syspro.odata_url.is_some() {
            return Err(ConfigError::bad(
                "syspro.odata_url",
                "is set, but [companies.*] are configured and each company has its own OData URL (the company segment differs)",
                format!(
                    "unset it, and give each company its own: [companies.{first}] odata_url = \"https://erp.example.com/SYSPRO8Odata/SYSPROOData/{first}\" (MLC_COMPANIES__{first}__ODATA_URL)"
                ),
            ));
        }
        if self.syspro.company_id.is_some() {
            return Err(ConfigError::bad(
                "syspro.company_id",
                "is set, but [companies.*] are configured and each company logs on to e.net as itself",
                format!(
                    "unset it: a company's e.net company id is its section's id ([companies.{first}]), or that section's own company_id (MLC_COMPANIES__{first}__COMPANY_ID)"
                ),
            ));
        }
        let mut companies = Vec::with_capacity(self.companies.len());
        for key in self.companies.keys() {
            let id = key.to_ascii_uppercase();
            let section = format!("companies.{id}");
            let view = self.company_view(&id);
            let s = &view.syspro;
            let endpoint = endpoint_of(EndpointParts::of(section.clone(), s))?;
            companies.push(Company {
                id,
                section,
                endpoint,
                max_concurrency: s.max_concurrency,
            });
        }
        companies.sort_by(|a, b| a.id.cmp(&b.id));
        for (i, a) in companies.iter().enumerate() {
            for b in &companies[..i] {
                if let Some(field) = same_company(&a.endpoint, &b.endpoint) {
                    return Err(ConfigError::Duplicate {
                        first: Key::new(format!("{}.{field}", b.section)),
                        second: Key::new(format!("{}.{field}", a.section)),
                        fix: "give each company its own: one [companies.<ID>] section per SYSPRO company, each with its company's OData URL (…/SYSPROOData/<ID>) or e.net company_id".into(),
                    });
                }
            }
        }
        self.check_ca_file()?;
        Ok(companies)
    }

    /// The settings as one company sees them: a `[syspro]`-only configuration whose `[syspro]`
    /// is that company's keys over the shared ones. The one place a company inherits: every key
    /// it leaves unset comes from `[syspro]`, except `odata_url` (its own company segment) and
    /// `company_id` (the section's id). `check` and `discover` diagnose each company through it.
    /// An id that is not configured gives the settings unchanged.
    pub fn company_view(&self, id: &str) -> Settings {
        let mut view = self.clone();
        view.companies.clear();
        let Some((key, c)) = self
            .companies
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(id))
        else {
            return view;
        };
        let s = &mut view.syspro;
        if let Some(t) = c.transport {
            s.transport = t;
        }
        s.odata_url.clone_from(&c.odata_url);
        s.company_id = Some(
            c.company_id
                .clone()
                .unwrap_or_else(|| key.to_ascii_uppercase()),
        );
        for (own, shared) in [
            (&c.user, &mut s.user),
            (&c.enet_url, &mut s.enet_url),
            (&c.operator, &mut s.operator),
        ] {
            if own.is_some() {
                shared.clone_from(own);
            }
        }
        for (own, shared) in [
            (&c.password, &mut s.password),
            (&c.operator_password, &mut s.operator_password),
            (&c.company_password, &mut s.company_password),
        ] {
            if own.is_some() {
                shared.clone_from(own);
            }
        }
        if let Some(n) = c.max_concurrency {
            s.max_concurrency = n;
        }
        view
    }

    /// The company ids configured, upper-cased and in order (`[""]` without `[companies.*]`),
    /// without checking their SYSPRO settings: what `sql` renders control rows for.
    pub fn company_ids(&self) -> Vec<String> {
        if self.companies.is_empty() {
            return vec![String::new()];
        }
        let mut ids: Vec<String> = self
            .companies
            .keys()
            .map(|k| k.to_ascii_uppercase())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn check_ca_file(&self) -> Result<(), ConfigError> {
        if let Some(ca) = &self.syspro.ca_cert_path
            && !ca.exists()
        {
            return Err(ConfigError::unusable(
                "syspro.ca_cert_path",
                format!("{} does not exist", ca.display()),
                "give a PEM file with the CA certificate(s) that issued SYSPRO's certificate",
            ));
        }
        Ok(())
    }

    /// The service's shared secret, as `serve` needs it.
    pub fn service_secret(&self) -> Result<&SecretString, ConfigError> {
        let secret = self.server.secret.as_ref().ok_or_else(|| {
            ConfigError::missing(
                &["server.secret"],
                "generate one (e.g. `openssl rand -hex 32`) and put the same value in the external functions' HEADERS = ('mlc-secret' = '...')",
            )
        })?;
        if secret.expose_secret().len() < 16 {
            return Err(ConfigError::bad(
                "server.secret",
                "is shorter than 16 characters",
                "use a random value such as `openssl rand -hex 32`",
            ));
        }
        Ok(secret)
    }

    /// What `serve` needs: the secret and a usable SYSPRO for every company.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        self.service_secret()?;
        self.companies().map(|_| ())
    }

    /// The key-pair login push mode (and `check`) needs.
    pub fn snowflake_login(&self) -> Result<SnowflakeLogin, ConfigError> {
        let s = &self.snowflake;
        match (&s.account, &s.user, &s.private_key_path) {
            (Some(account), Some(user), Some(path)) => {
                if let Some(url) = &s.url {
                    http_url(
                        "snowflake.url",
                        url,
                        "give the account's https URL, or leave it unset to derive it from snowflake.account",
                    )?;
                }
                Ok(SnowflakeLogin {
                    account: account.clone(),
                    user: user.clone(),
                    private_key_path: path.clone(),
                    private_key_passphrase: s.private_key_passphrase.clone(),
                })
            }
            _ => {
                let missing: Vec<&str> = [
                    ("snowflake.account", s.account.is_none()),
                    ("snowflake.user", s.user.is_none()),
                    ("snowflake.private_key_path", s.private_key_path.is_none()),
                ]
                .into_iter()
                .filter_map(|(k, m)| m.then_some(k))
                .collect();
                Err(ConfigError::missing(
                    &missing,
                    "push mode signs in with a key-pair JWT: it needs the account, the user and the PKCS#8 private key file (see deploy/config.example.toml)",
                ))
            }
        }
    }

    /// The secret's bytes, for the request check and the cursor key; `None` when not set.
    pub fn secret_bytes(&self) -> Option<&[u8]> {
        self.server
            .secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes())
    }
}

/// One company's SYSPRO keys, its own or inherited, with the section they are set in.
struct EndpointParts {
    section: String,
    transport: Transport,
    odata_url: Option<String>,
    user: Option<String>,
    password: Option<SecretString>,
    enet_url: Option<String>,
    operator: Option<String>,
    operator_password: Option<SecretString>,
    company_id: Option<String>,
    company_password: Option<SecretString>,
}

impl EndpointParts {
    /// The keys of `section` (`syspro`, or `companies.<ID>` with `[syspro]`'s filled in).
    fn of(section: String, s: &SysproSettings) -> EndpointParts {
        EndpointParts {
            section,
            transport: s.transport,
            odata_url: s.odata_url.clone(),
            user: s.user.clone(),
            password: s.password.clone(),
            enet_url: s.enet_url.clone(),
            operator: s.operator.clone(),
            operator_password: s.operator_password.clone(),
            company_id: s.company_id.clone(),
            company_password: s.company_password.clone(),
        }
    }
}

/// The endpoint of one company's keys, or the keys missing from its section.
fn endpoint_of(p: EndpointParts) -> Result<SysproEndpoint, ConfigError> {
    let key = |name: &str| format!("{}.{name}", p.section);
    let (in_section, example) = if p.section == "syspro" {
        ("the [syspro] section".to_string(), "EDU1")
    } else {
        (
            format!("[{}] (or in [syspro], shared by every company)", p.section),
            p.section.trim_start_matches("companies."),
        )
    };
    let missing = |keys: &[(String, bool)], what: &str| {
        let names: Vec<&str> = keys
            .iter()
            .filter_map(|(k, m)| m.then_some(k.as_str()))
            .collect();
        ConfigError::missing(
            &names,
            format!(
                "set them in the environment or in {in_section} of the --config file: {what}; every key: deploy/config.example.toml"
            ),
        )
    };
    match p.transport {
        Transport::Odata => match (p.odata_url, p.user, p.password) {
            (Some(url), Some(user), Some(password)) => {
                http_url(
                    &key("odata_url"),
                    &url,
                    &format!(
                        "give the OData base up to and including the company segment, e.g. https://erp.example.com/SYSPRO8Odata/SYSPROOData/{example}"
                    ),
                )?;
                Ok(SysproEndpoint::OData {
                    url,
                    user,
                    password,
                })
            }
            (url, user, password) => {
                let what = if p.section == "syspro" {
                    "the OData base up to and including the company segment (e.g. https://erp.example.com/SYSPRO8Odata/SYSPROOData/EDU1) and the operator's OData user and password".to_string()
                } else {
                    format!(
                        "the company's own OData base, up to and including its segment (e.g. https://erp.example.com/SYSPRO8Odata/SYSPROOData/{example}; odata_url is never taken from [syspro]), and the OData user and password"
                    )
                };
                Err(missing(
                    &[
                        (key("odata_url"), url.is_none()),
                        (key("user"), user.is_none()),
                        (key("password"), password.is_none()),
                    ],
                    &what,
                ))
            }
        },
        Transport::Enet => match (p.enet_url, p.operator, p.company_id) {
            (Some(url), Some(operator), Some(company_id)) => {
                http_url(
                    &key("enet_url"),
                    &url,
                    "give the e.net REST base, e.g. http://erp:20001/SYSPROWCFService/Rest",
                )?;
                let or_empty =
                    |v: Option<SecretString>| v.unwrap_or_else(|| SecretString::from(""));
                Ok(SysproEndpoint::Enet {
                    url,
                    operator,
                    operator_password: or_empty(p.operator_password),
                    company_id,
                    company_password: or_empty(p.company_password),
                })
            }
            (url, operator, company_id) => Err(missing(
                &[
                    (key("enet_url"), url.is_none()),
                    (key("operator"), operator.is_none()),
                    (key("company_id"), company_id.is_none()),
                ],
                "the e.net REST base (e.g. http://erp:20001/SYSPROWCFService/Rest) and the e.net logon's operator and company",
            )),
        },
    }
}

/// The key two endpoints share when they read the same SYSPRO company, if they do.
fn same_company(a: &SysproEndpoint, b: &SysproEndpoint) -> Option<&'static str> {
    let url = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    match (a, b) {
        (SysproEndpoint::OData { url: x, .. }, SysproEndpoint::OData { url: y, .. })
            if url(x) == url(y) =>
        {
            Some("odata_url")
        }
        (
            SysproEndpoint::Enet {
                url: x,
                company_id: cx,
                ..
            },
            SysproEndpoint::Enet {
                url: y,
                company_id: cy,
                ..
            },
        ) if url(x) == url(y) && cx.eq_ignore_ascii_case(cy) => Some("company_id"),
        _ => None,
    }
}

fn at_least_one(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::bad(key, "is 0", "give at least 1"));
    }
    Ok(())
}

fn http_url(key: &str, url: &str, fix: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ConfigError::bad(
            key,
            format!("= {url:?} is not an http(s) URL"),
            fix,
        )),
    }
}

/// The `MLC_<SECTION>__<KEY>` variables as one nested dictionary of text values.
///
/// figment's own `Env` provider is not used: it reads TOML-like syntax out of values, so a
/// password of digits would become a number and a quoted one would lose its quotes. Here every
/// value stays text and the model's types decide ([`Figment::extract_lossy`]).
fn env_overrides(env: impl IntoIterator<Item = (String, String)>) -> Dict {
    let mut root = Dict::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("MLC_") else {
            continue;
        };
        if !rest.contains("__") {
            continue; // MLC_CONFIG, MLC_LOG: not settings
        }
        let mut path: Vec<String> = rest
            .to_ascii_lowercase()
            .split("__")
            .map(str::to_string)
            .collect();
        // Company ids are upper case, as the file's [companies.UK1] sections are written, so the
        // variables of a company add to its section instead of making a second one.
        if path.len() > 2 && path[0] == "companies" {
            path[1].make_ascii_uppercase();
        }
        let last = path.last().map(String::as_str).unwrap_or("");
        if is_blank(&value) && !EMPTY_IS_A_VALUE.contains(&last) {
            continue;
        }
        insert_path(&mut root, &path, Value::from(value));
    }
    root
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn describe_figment_error(e: &figment::Error, file: Option<&Path>) -> ConfigError {
    let err = e.clone().into_iter().next().unwrap_or_else(|| e.clone());
    let key = err.path.join(".");
    match &err.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            // figment's path may already end with the unknown field.
            let full = if key.is_empty() {
                field.clone()
            } else if key == *field || key.ends_with(&format!(".{field}")) {
                key
            } else {
                format!("{key}.{field}")
            };
            ConfigError::UnknownKey {
                key: Key::new(full),
                expected: expected.iter().map(|s| s.to_string()).collect(),
            }
        }
        kind if key.is_empty() => match file {
            Some(path) => ConfigError::BadFile {
                path: path.to_path_buf(),
                problem: kind.to_string(),
            },
            None => ConfigError::BadValue {
                key: Key::new(""),
                problem: kind.to_string(),
                fix: "correct the MLC_* variables".into(),
            },
        },
        kind => ConfigError::BadValue {
            key: Key::new(key),
            problem: format!("is wrong: {kind}"),
            fix: "give a value of the type the key takes (deploy/config.example.toml shows each)"
                .into(),
        },
    }
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

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(None, env(pairs))
    }

    #[test]
    fn environment_alone_is_a_complete_configuration() {
        let s = load(&[
            ("MLC_SERVER__LISTEN", "0.0.0.0:9000"),
            ("MLC_SERVER__SECRET", "0123456789abcdef0123"),
            (
                "MLC_SYSPRO__ODATA_URL",
                "https://erp.example/SYSPRO8Odata/SYSPROOData/EDU1",
            ),
            ("MLC_SYSPRO__USER", "odata"),
            ("MLC_SYSPRO__PASSWORD", "12345"),
            ("MLC_SYSPRO__PAGE_ROWS", "250"),
            ("MLC_SERVER__LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.server.log_format, LogFormat::Json);
        assert_eq!(s.syspro.page_rows, 250);
        // a password of digits stays text
        assert_eq!(s.syspro.password.as_ref().unwrap().expose_secret(), "12345");
        s.validate_for_serve().unwrap();
        assert!(matches!(
            s.syspro_endpoint().unwrap(),
            SysproEndpoint::OData { ref user, .. } if user == "odata"
        ));
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
        let s = Settings::load_from(
            Some(&path),
            env(&[
                ("MLC_SYSPRO__USER", "env-user"),
                ("MLC_TABLES__APINVOICE__KEY_COLUMNS", "Supplier, Invoice"),
            ]),
        )
        .unwrap();
        assert_eq!(s.syspro.user.as_deref(), Some("env-user"));
        assert_eq!(s.syspro.page_rows, 100);
        assert_eq!(s.tables["ApInvoice"].select.as_ref().unwrap().len(), 2);
        assert_eq!(
            s.tables["apinvoice"].key_columns.as_deref(),
            Some(&["Supplier".to_string(), "Invoice".to_string()][..])
        );
    }

    #[test]
    fn an_empty_value_is_no_value_except_where_empty_means_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[syspro]\nuser = \"file-user\"\npage_rows = 100\n[snowflake]\ndatabase = \"\"\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&path),
            env(&[
                ("MLC_SYSPRO__USER", ""),
                ("MLC_SYSPRO__PAGE_ROWS", " "),
                ("MLC_SYSPRO__PASSWORD", ""),
                ("MLC_SNOWFLAKE__SCHEMA", "  "),
                ("MLC_TABLES__APINVOICE__WATERMARK_COLUMN", ""),
                ("MLC_TABLES__APINVOICE__OPEN_ITEMS", ""),
            ]),
        )
        .unwrap();
        // an empty variable does not override the file
        assert_eq!(s.syspro.user.as_deref(), Some("file-user"));
        assert_eq!(s.syspro.page_rows, 100);
        assert!(s.syspro.password.is_none());
        // an empty text in the file is unset
        assert!(s.snowflake.database.is_none());
        assert!(s.snowflake.schema.is_none());
        // ... but these two keys' empty string means "off"
        assert_eq!(s.tables["apinvoice"].watermark_column.as_deref(), Some(""));
        assert_eq!(s.tables["apinvoice"].open_items.as_deref(), Some(""));
    }

    #[test]
    fn a_misspelt_key_is_named_with_its_variable() {
        let err = load(&[("MLC_SYSPRO__PASWORD", "x")]).unwrap_err();
        let ConfigError::UnknownKey { key, expected } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key.path(), "syspro.pasword");
        assert_eq!(key.env_var(), "MLC_SYSPRO__PASWORD");
        assert!(expected.iter().any(|e| e == "password"), "{expected:?}");
        let text = err.to_string();
        assert!(text.contains("MLC_SYSPRO__PASWORD)"), "{text}");
        assert!(!text.contains("pasword.pasword"), "{text}");
    }

    #[test]
    fn a_bad_number_names_the_key_and_the_variable() {
        let err = load(&[("MLC_SYSPRO__PAGE_ROWS", "many")]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, .. } if key.path() == "syspro.page_rows"),
            "{err:?}"
        );
        assert!(err.to_string().contains("MLC_SYSPRO__PAGE_ROWS"), "{err}");
        let err = load(&[("MLC_SYSPRO__TRANSPORT", "soap")]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, .. } if key.path() == "syspro.transport"),
            "{err:?}"
        );
    }

    #[test]
    fn a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[syspro\nuser = 1").unwrap();
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::BadFile { .. }), "{err:?}");
        let missing = dir.path().join("none.toml");
        let err = Settings::load_from(Some(&missing), env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::NoFile { .. }), "{err:?}");
        assert!(err.to_string().contains("MLC_CONFIG"), "{err}");
    }

    #[test]
    fn ranges_and_relations_are_checked_at_load() {
        for (var, value, key) in [
            ("MLC_SYSPRO__PAGE_ROWS", "0", "syspro.page_rows"),
            ("MLC_SYSPRO__PREFETCH_PAGES", "2", "syspro.prefetch_pages"),
            ("MLC_SYSPRO__MAX_ATTEMPTS", "0", "syspro.max_attempts"),
            (
                "MLC_SERVER__RESPONSE_BUDGET_BYTES",
                "20000000",
                "server.response_budget_bytes",
            ),
            (
                "MLC_SYNC__TOKEN_LIFETIME_SECS",
                "7200",
                "sync.token_lifetime_secs",
            ),
            (
                "MLC_SYNC__PAGE_BUDGET_BYTES",
                "1000",
                "sync.page_budget_bytes",
            ),
        ] {
            let err = load(&[(var, value)]).unwrap_err();
            assert_eq!(
                err.keys().iter().map(|k| k.path()).collect::<Vec<_>>(),
                vec![key],
                "{err}"
            );
            assert!(err.to_string().contains(var), "{err}");
        }
        let err = load(&[("MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS", "9000")]).unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
        assert!(
            load(&[("MLC_SYNC__TOKEN_LIFETIME_SECS", "7200")])
                .unwrap_err()
                .to_string()
                .contains("3600")
        );
    }

    #[test]
    fn serve_refuses_to_start_without_a_secret() {
        let s = load(&[]).unwrap();
        let err = s.validate_for_serve().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Missing { keys, .. } if keys == &[Key::new("server.secret")]),
            "{err:?}"
        );
        assert!(err.to_string().contains("MLC_SERVER__SECRET"), "{err}");
    }

    #[test]
    fn a_missing_syspro_names_every_key_of_its_transport() {
        let err = load(&[]).unwrap().syspro_endpoint().unwrap_err();
        let ConfigError::Missing { keys, .. } = &err else {
            panic!("{err:?}")
        };
        let vars: Vec<String> = keys.iter().map(Key::env_var).collect();
        assert_eq!(
            vars,
            [
                "MLC_SYSPRO__ODATA_URL",
                "MLC_SYSPRO__USER",
                "MLC_SYSPRO__PASSWORD"
            ]
        );
        let err = load(&[
            ("MLC_SYSPRO__TRANSPORT", "enet"),
            (
                "MLC_SYSPRO__ENET_URL",
                "http://h:20001/SYSPROWCFService/Rest",
            ),
        ])
        .unwrap()
        .syspro_endpoint()
        .unwrap_err();
        let paths: Vec<&str> = err.keys().into_iter().map(Key::path).collect();
        assert_eq!(paths, ["syspro.operator", "syspro.company_id"]);
    }

    #[test]
    fn urls_are_checked_where_they_are_used() {
        let odata = load(&[
            ("MLC_SYSPRO__ODATA_URL", "erp.example"),
            ("MLC_SYSPRO__USER", "u"),
            ("MLC_SYSPRO__PASSWORD", "p"),
            ("MLC_SNOWFLAKE__ACCOUNT", "a"),
            ("MLC_SNOWFLAKE__USER", "u"),
            ("MLC_SNOWFLAKE__PRIVATE_KEY_PATH", "/k.p8"),
            ("MLC_SNOWFLAKE__URL", "ftp://x"),
        ])
        .unwrap();
        let err = odata.syspro_endpoint().unwrap_err();
        assert_eq!(err.keys()[0].env_var(), "MLC_SYSPRO__ODATA_URL", "{err}");
        let err = odata.snowflake_login().unwrap_err();
        assert_eq!(err.keys()[0].env_var(), "MLC_SNOWFLAKE__URL", "{err}");
    }

    #[test]
    fn a_missing_ca_file_is_unusable() {
        let s = load(&[
            ("MLC_SYSPRO__ODATA_URL", "https://erp/SYSPROOData/EDU1"),
            ("MLC_SYSPRO__USER", "u"),
            ("MLC_SYSPRO__PASSWORD", "p"),
            ("MLC_SYSPRO__CA_CERT_PATH", "/nonexistent/ca.pem"),
        ])
        .unwrap();
        let err = s.syspro_endpoint().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Unusable { key, .. } if key.path() == "syspro.ca_cert_path"),
            "{err:?}"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = load(&[
            ("MLC_SERVER__SECRET", "super-secret-value-1"),
            ("MLC_SYSPRO__PASSWORD", "pw-secret-2"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("super-secret-value-1"));
        assert!(!shown.contains("pw-secret-2"));
    }

    #[test]
    fn environment_values_configure_the_schedule() {
        let s = load(&[
            ("MLC_SYNC__TABLES", "ApInvoice, ApSupplier"),
            ("MLC_SYNC__FINANCIAL_INTERVAL_SECS", "300"),
            ("MLC_SYNC__INTERVALS__APSUPPLIER", "60"),
            ("MLC_SYNC__TOKEN_LIFETIME_SECS", "600"),
        ])
        .unwrap();
        let sync = &s.sync;
        assert_eq!(sync.tables, vec!["ApInvoice", "ApSupplier"]);
        assert_eq!(sync.token_lifetime_secs, 600);
        assert_eq!(
            sync.interval_for("ApInvoice", true),
            Duration::from_secs(300)
        );
        assert_eq!(
            sync.interval_for("ApSupplier", false),
            Duration::from_secs(60)
        );
        assert_eq!(
            sync.interval_for("InvMaster", false),
            Duration::from_secs(6 * 3600)
        );
    }

    #[test]
    fn toml_values_configure_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[sync]\ntables = [\"ApInvoice\"]\nmasters_interval_secs = 3600\nintervals = { ApInvoice = 120 }\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!(
            s.sync.interval_for("apinvoice", true),
            Duration::from_secs(120)
        );
        assert_eq!(s.sync.masters_interval_secs, 3600);
        assert_eq!(s.sync.tables, vec!["ApInvoice"]);
        let err = load(&[("MLC_SYNC__PAGE_BUDGET_BYTES", "lots")]).unwrap_err();
        assert_eq!(err.keys()[0].path(), "sync.page_budget_bytes", "{err}");
        let err = load(&[("MLC_SYNC__INTERVALS__APINVOICE", "soon")]).unwrap_err();
        assert!(
            err.to_string().contains("MLC_SYNC__INTERVALS__APINVOICE"),
            "{err}"
        );
    }

    #[test]
    fn the_snowflake_login_names_what_is_missing() {
        let s = load(&[("MLC_SNOWFLAKE__ACCOUNT", "acct")]).unwrap();
        assert!(!s.snowflake.is_unconfigured());
        let err = s.snowflake_login().unwrap_err();
        let vars: Vec<String> = err.keys().into_iter().map(Key::env_var).collect();
        assert_eq!(
            vars,
            ["MLC_SNOWFLAKE__USER", "MLC_SNOWFLAKE__PRIVATE_KEY_PATH"]
        );
        assert!(load(&[]).unwrap().snowflake.is_unconfigured());
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const TWO_COMPANIES: &str = "[syspro]\nuser = \"odata\"\npassword = \"shared-pw-1\"\nmax_concurrency = 3\n\
        [companies.EDU1]\nodata_url = \"https://erp.example/SYSPROOData/EDU1\"\n\
        [companies.UK1]\nodata_url = \"https://erp.example/SYSPROOData/UK1\"\nuser = \"uk-user\"\nmax_concurrency = 1\n";

    #[test]
    fn companies_inherit_from_syspro_but_their_url() {
        let (_dir, path) = file(TWO_COMPANIES);
        let s = Settings::load_from(
            Some(&path),
            env(&[("MLC_COMPANIES__UK1__PASSWORD", "uk-pw-2")]),
        )
        .unwrap();
        let companies = s.companies().unwrap();
        let ids: Vec<&str> = companies.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["EDU1", "UK1"]);
        let SysproEndpoint::OData {
            url,
            user,
            password,
        } = &companies[0].endpoint
        else {
            panic!("{companies:?}")
        };
        assert!(url.ends_with("/EDU1"));
        assert_eq!(user, "odata");
        assert_eq!(password.expose_secret(), "shared-pw-1");
        assert_eq!(companies[0].max_concurrency, 3);
        let SysproEndpoint::OData { user, password, .. } = &companies[1].endpoint else {
            panic!("{companies:?}")
        };
        // the environment adds to the file's section, it does not make a second company
        assert_eq!(
            (user.as_str(), password.expose_secret()),
            ("uk-user", "uk-pw-2")
        );
        assert_eq!(companies[1].max_concurrency, 1);
        assert_eq!(companies[1].qualify("ApInvoice"), "UK1.ApInvoice");
        s.validate_for_serve().unwrap_err(); // no secret; but the companies are fine
        let shown = format!("{s:?} {companies:?}");
        assert!(
            !shown.contains("shared-pw-1") && !shown.contains("uk-pw-2"),
            "{shown}"
        );
    }

    #[test]
    fn one_company_without_companies_has_the_empty_id() {
        let s = load(&[
            (
                "MLC_SYSPRO__ODATA_URL",
                "https://erp.example/SYSPROOData/EDU1",
            ),
            ("MLC_SYSPRO__USER", "u"),
            ("MLC_SYSPRO__PASSWORD", "p"),
        ])
        .unwrap();
        let companies = s.companies().unwrap();
        assert_eq!(companies.len(), 1);
        assert_eq!(companies[0].id, "");
        assert_eq!(companies[0].section, "syspro");
        assert_eq!(companies[0].qualify("ApInvoice"), "ApInvoice");
    }

    #[test]
    fn companies_configured_by_environment_alone() {
        let s = load(&[
            ("MLC_SYSPRO__USER", "u"),
            ("MLC_SYSPRO__PASSWORD", "p"),
            (
                "MLC_COMPANIES__uk1__ODATA_URL",
                "https://erp.example/SYSPROOData/UK1",
            ),
            (
                "MLC_COMPANIES__EDU1__ODATA_URL",
                "https://erp.example/SYSPROOData/EDU1",
            ),
        ])
        .unwrap();
        let ids: Vec<String> = s.companies().unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["EDU1", "UK1"]);
    }

    #[test]
    fn a_bad_or_repeated_company_id_is_named() {
        let (_dir, path) = file("[companies.\"U-K\"]\nodata_url = \"https://e/x\"\n");
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(
            matches!(&err, ConfigError::BadValue { key, .. } if key.path() == "companies.U-K"),
            "{err:?}"
        );
        assert!(err.to_string().contains("[companies.UK1]"), "{err}");
        let (_dir, path) = file("[companies.A123456789012345678901]\n");
        assert!(matches!(
            Settings::load_from(Some(&path), env(&[])).unwrap_err(),
            ConfigError::BadValue { .. }
        ));
        let (_dir, path) = file("[companies.uk1]\nuser = \"a\"\n[companies.UK1]\nuser = \"b\"\n");
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        let ConfigError::Duplicate { first, second, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (first.path(), second.path()),
            ("companies.UK1", "companies.uk1")
        );
        let err = load(&[("MLC_COMPANIES__UK1__PASWORD", "x")]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, .. } if key.env_var() == "MLC_COMPANIES__UK1__PASWORD"),
            "{err:?}"
        );
    }

    #[test]
    fn a_company_without_its_own_odata_url_is_missing_it() {
        let (_dir, path) = file(TWO_COMPANIES);
        let s =
            Settings::load_from(Some(&path), env(&[("MLC_COMPANIES__DE1__USER", "de")])).unwrap();
        let err = s.companies().unwrap_err();
        let ConfigError::Missing { keys, fix } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(keys, &[Key::new("companies.DE1.odata_url")]);
        assert!(fix.contains("SYSPROOData/DE1"), "{fix}");
        assert!(
            err.to_string().contains("MLC_COMPANIES__DE1__ODATA_URL"),
            "{err}"
        );
        // [syspro]'s URL is no company's: refused rather than silently unused
        let s = Settings::load_from(
            Some(&path),
            env(&[(
                "MLC_SYSPRO__ODATA_URL",
                "https://erp.example/SYSPROOData/EDU1",
            )]),
        )
        .unwrap();
        let err = s.companies().unwrap_err();
        assert_eq!(err.keys()[0].path(), "syspro.odata_url", "{err}");
        assert!(
            err.fix().contains("MLC_COMPANIES__EDU1__ODATA_URL"),
            "{err}"
        );
    }

    #[test]
    fn two_companies_on_one_syspro_company_are_refused() {
        let (_dir, path) = file(TWO_COMPANIES);
        let s = Settings::load_from(
            Some(&path),
            env(&[(
                "MLC_COMPANIES__UK1__ODATA_URL",
                "https://ERP.example/SYSPROOData/EDU1/",
            )]),
        )
        .unwrap();
        let err = s.companies().unwrap_err();
        let ConfigError::Duplicate { first, second, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (first.path(), second.path()),
            ("companies.EDU1.odata_url", "companies.UK1.odata_url")
        );
        // e.net: the company id defaults to the section's, so two sections differ by default
        let enet = [
            ("MLC_SYSPRO__TRANSPORT", "enet"),
            (
                "MLC_SYSPRO__ENET_URL",
                "http://h:20001/SYSPROWCFService/Rest",
            ),
            ("MLC_SYSPRO__OPERATOR", "ADMIN"),
            ("MLC_COMPANIES__EDU1__COMPANY_PASSWORD", "edu"),
            ("MLC_COMPANIES__UK1__COMPANY_PASSWORD", "uk"),
        ];
        let companies = load(&enet).unwrap().companies().unwrap();
        let ids: Vec<&str> = companies
            .iter()
            .map(|c| match &c.endpoint {
                SysproEndpoint::Enet { company_id, .. } => company_id.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["EDU1", "UK1"]);
        let mut same = enet.to_vec();
        same.push(("MLC_COMPANIES__UK1__COMPANY_ID", "edu1"));
        let err = load(&same).unwrap().companies().unwrap_err();
        assert_eq!(
            err.keys().iter().map(|k| k.path()).collect::<Vec<_>>(),
            ["companies.EDU1.company_id", "companies.UK1.company_id"],
            "{err}"
        );
    }
}
