//! Snowflake checks of `check`.

use super::CheckItem;
use crate::config::Settings;

pub async fn check(_settings: &Settings) -> Vec<CheckItem> {
    vec![CheckItem {
        name: "Snowflake".into(),
        ok: false,
        detail: "the Snowflake check is not in this build yet".into(),
        fix: None,
    }]
}
