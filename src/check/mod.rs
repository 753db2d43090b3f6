//! `ml-connector check`: pings what is configured and says, per item, what works and how to fix
//! what does not.

pub mod discover;
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

/// `check` is a diagnosis, not a sync: a dead SYSPRO should be reported in seconds, not after
/// the full retry budget, so reads here are retried once at most and bounded in time.
const CHECK_MAX_ATTEMPTS: u32 = 2;
const CHECK_DEADLINE_SECS: u64 = 30;

/// The user's settings with a short retry budget: `check` diagnoses, it does not sync.
pub(crate) fn quick_settings(settings: &Settings) -> Settings {
    let mut quick = settings.clone();
    let s = &mut quick.syspro;
    s.page_rows = 1;
    s.max_attempts = s.max_attempts.min(CHECK_MAX_ATTEMPTS);
    s.retry_deadline_secs = s.retry_deadline_secs.min(CHECK_DEADLINE_SECS);
    s.request_timeout_secs = s.request_timeout_secs.min(CHECK_DEADLINE_SECS);
    s.retry_initial_backoff_ms = s.retry_initial_backoff_ms.min(200);
    s.retry_max_backoff_ms = s.retry_max_backoff_ms.min(1000);
    quick
}

/// Runs every check the configuration allows: SYSPRO always (every mode reads it; each company,
/// or only `company`), Snowflake as far as it is configured (pull mode needs none of it).
pub async fn run(settings: &Settings, company: Option<&str>) -> Vec<CheckItem> {
    let mut items = syspro::check_companies(settings, company).await;
    items.extend(snowflake::check(settings).await);
    items
}

/// The verdict lines and a summary, as `check` prints them.
pub fn render(items: &[CheckItem]) -> String {
    let width = items
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for i in items {
        let pad = " ".repeat(width - i.name.chars().count());
        out.push_str(&format!(
            "{} {}{pad}  {}\n",
            if i.ok { "✔" } else { "✘" },
            i.name,
            i.detail
        ));
        if let (false, Some(fix)) = (i.ok, &i.fix) {
            out.push_str(&format!("  {}  fix: {fix}\n", " ".repeat(width)));
        }
    }
    let failed = items.iter().filter(|i| !i.ok).count();
    out.push('\n');
    if failed == 0 {
        out.push_str(&format!("All {} checks passed.\n", items.len()));
    } else {
        let passed = items.len() - failed;
        out.push_str(&format!(
            "{passed} {} passed, {failed} failed.\n",
            if passed == 1 { "check" } else { "checks" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_fixes_only_for_failures() {
        let items = vec![
            CheckItem {
                name: "a".into(),
                ok: true,
                detail: "fine".into(),
                fix: Some("never shown".into()),
            },
            CheckItem {
                name: "longer".into(),
                ok: false,
                detail: "broken".into(),
                fix: Some("do this".into()),
            },
        ];
        let text = render(&items);
        assert!(text.contains("✔ a       fine"), "{text}");
        assert!(text.contains("✘ longer  broken"), "{text}");
        assert!(text.contains("fix: do this"), "{text}");
        assert!(!text.contains("never shown"), "{text}");
        assert!(text.ends_with("1 check passed, 1 failed.\n"), "{text}");
    }
}
