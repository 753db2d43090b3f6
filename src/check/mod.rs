//! `ml-connector check`: pings what is configured and says, per item, what works and how to fix
//! what does not.

pub mod snowflake;
pub mod syspro;

use crate::config::Settings;

/// One verdict line of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    /// What was checked, e.g. "SYSPRO OData $metadata" or "Snowflake JWT".
    pub name: String,
    pub ok: bool,
    /// What was seen.
    pub detail: String,
    /// How to fix it, when not ok.
    pub fix: Option<String>,
}

/// Runs every check the configuration allows.
pub async fn run(settings: &Settings) -> Vec<CheckItem> {
    let mut items = syspro::check(settings).await;
    items.extend(snowflake::check(settings).await);
    items
}
