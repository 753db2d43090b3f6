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

/// Runs every check the configuration allows. SYSPRO is always checked (every mode reads it);
/// Snowflake only when any `MLC_SNOWFLAKE__*` setting is present, since pull mode needs none.
pub async fn run(settings: &Settings) -> Vec<CheckItem> {
    let mut items = syspro::check(settings).await;
    if snowflake_configured(settings) {
        items.extend(snowflake::check(settings).await);
    } else {
        items.push(CheckItem {
            name: "Snowflake".into(),
            ok: true,
            detail: "not configured, skipped (pull mode needs nothing here; `sync` needs MLC_SNOWFLAKE__ACCOUNT, __USER and __PRIVATE_KEY_PATH)".into(),
            fix: None,
        });
    }
    items
}

fn snowflake_configured(settings: &Settings) -> bool {
    let s = &settings.snowflake;
    s.account.is_some()
        || s.user.is_some()
        || s.private_key_path.is_some()
        || s.url.is_some()
        || s.warehouse.is_some()
        || s.database.is_some()
        || s.schema.is_some()
        || s.role.is_some()
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
        out.push_str(&format!(
            "{} checks passed, {failed} failed.\n",
            items.len() - failed
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
        assert!(text.ends_with("1 checks passed, 1 failed.\n"), "{text}");
    }
}
