//! `[sync]`: push mode's schedule and budgets (`MLC_SYNC__<KEY>`).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How `ml-connector sync` schedules and bounds its work.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Tables to sync (`MLC_SYNC__TABLES=ApInvoice,ApSupplier`); empty: every catalog table.
    #[serde(deserialize_with = "list_or_csv")]
    pub tables: Vec<String>,
    /// Interval of tables with a watermark column (the `financial` group), in seconds.
    #[serde(deserialize_with = "number")]
    pub financial_interval_secs: u64,
    /// Interval of snapshot tables read whole (the `masters` group), in seconds.
    #[serde(deserialize_with = "number")]
    pub masters_interval_secs: u64,
    /// Per-table intervals in seconds, e.g. `intervals = { ApInvoice = 300 }`
    /// (`MLC_SYNC__INTERVALS__APINVOICE=300`); names are matched case-insensitively.
    #[serde(deserialize_with = "number_map")]
    pub intervals: BTreeMap<String, u64>,
    /// Upper bound of one page's JSON, bound as one SQL API value.
    #[serde(deserialize_with = "number")]
    pub page_budget_bytes: usize,
    /// Runs of a failing cycle before it waits for its next turn (each run is audited).
    #[serde(deserialize_with = "number")]
    pub cycle_max_attempts: u32,
    #[serde(deserialize_with = "number")]
    pub cycle_retry_initial_backoff_secs: u64,
    #[serde(deserialize_with = "number")]
    pub cycle_retry_max_backoff_secs: u64,
    /// `timeout` of each SQL API statement.
    #[serde(deserialize_with = "number")]
    pub statement_timeout_secs: u64,
    /// Budget of one SQL API request including its retries on 429/5xx.
    #[serde(deserialize_with = "number")]
    pub sql_retry_deadline_secs: u64,
    #[serde(deserialize_with = "number")]
    pub sql_max_attempts: u32,
    /// Lifetime of each key-pair JWT (Snowflake caps it at 3600).
    #[serde(deserialize_with = "number")]
    pub token_lifetime_secs: u64,
    /// After SIGTERM/ctrl-c a running cycle may go on this long before it is abandoned (and
    /// audited as such); keep it below the service manager's stop timeout (systemd: 30 s).
    #[serde(deserialize_with = "number")]
    pub shutdown_grace_secs: u64,
    /// How often `sync` verifies a table whose `verify_group` in `syspro_sync_control` is
    /// `nightly` (every key and record digest compared with SYSPRO's), in seconds.
    #[serde(deserialize_with = "number")]
    pub verify_nightly_interval_secs: u64,
    /// The same for the `weekly` group (large append-only tables).
    #[serde(deserialize_with = "number")]
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

    pub fn validate(&self) -> Result<(), String> {
        if self.page_budget_bytes < 64 * 1024 {
            return Err(
                "sync.page_budget_bytes (MLC_SYNC__PAGE_BUDGET_BYTES) must be at least 65536"
                    .into(),
            );
        }
        if self.cycle_max_attempts == 0 || self.sql_max_attempts == 0 {
            return Err(
                "sync.cycle_max_attempts and sync.sql_max_attempts must be at least 1".into(),
            );
        }
        if self.token_lifetime_secs == 0 || self.token_lifetime_secs > 3600 {
            return Err("sync.token_lifetime_secs (MLC_SYNC__TOKEN_LIFETIME_SECS) must be between 1 and 3600: Snowflake refuses longer".into());
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText<T> {
    Num(T),
    Text(String),
}

/// Environment values arrive as text; numbers in TOML arrive as numbers: take both.
fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
{
    match NumOrText::<T>::deserialize(d)? {
        NumOrText::Num(n) => Ok(n),
        NumOrText::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number"))),
    }
}

fn number_map<'de, D>(d: D) -> Result<BTreeMap<String, u64>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = BTreeMap::<String, NumOrText<u64>>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            NumOrText::Num(n) => Ok((k, n)),
            NumOrText::Text(s) => s.trim().parse().map(|n| (k.clone(), n)).map_err(|_| {
                serde::de::Error::custom(format!("interval of {k}: {s:?} is not a number"))
            }),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrText {
    List(Vec<String>),
    Text(String),
}

fn list_or_csv<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match ListOrText::deserialize(d)? {
        ListOrText::List(v) => v,
        ListOrText::Text(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_values_configure_the_schedule() {
        let s = Settings::load_from(
            None,
            env(&[
                ("MLC_SYNC__TABLES", "ApInvoice, ApSupplier"),
                ("MLC_SYNC__FINANCIAL_INTERVAL_SECS", "300"),
                ("MLC_SYNC__INTERVALS__APSUPPLIER", "60"),
                ("MLC_SYNC__TOKEN_LIFETIME_SECS", "600"),
            ]),
        )
        .unwrap();
        let sync = &s.sync;
        assert_eq!(sync.tables, vec!["ApInvoice", "ApSupplier"]);
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
        sync.validate().unwrap();
    }

    #[test]
    fn toml_values_and_bad_values() {
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
        let err =
            Settings::load_from(None, env(&[("MLC_SYNC__PAGE_BUDGET_BYTES", "lots")])).unwrap_err();
        assert!(err.0.contains("page_budget_bytes"), "{}", err.0);
        let s =
            Settings::load_from(None, env(&[("MLC_SYNC__TOKEN_LIFETIME_SECS", "7200")])).unwrap();
        assert!(s.sync.validate().unwrap_err().contains("3600"));
    }
}
