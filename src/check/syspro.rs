//! SYSPRO checks of `check`.

use super::CheckItem;
use crate::config::Settings;

pub async fn check(_settings: &Settings) -> Vec<CheckItem> {
    vec![CheckItem {
        name: "SYSPRO".into(),
        ok: false,
        detail: "the SYSPRO check is not in this build yet".into(),
        fix: None,
    }]
}
