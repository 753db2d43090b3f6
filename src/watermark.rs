//! Watermark bounds (`since`, `until`): what users may pass, and the site-local timestamps they
//! stand for.
//!
//! SYSPRO stores business dates as SQL `datetime` without a zone (syspro.md §5.4), so every value
//! here is a naive wall-clock timestamp; a trailing `Z` is accepted and ignored, never applied.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// An inclusive lower bound on a table's watermark column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Since(pub NaiveDateTime);

/// An exclusive upper bound on a table's watermark column (`SYSPRO_PULL_RANGE`'s `until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Until(pub NaiveDateTime);

/// A call argument that is not one of the accepted date or timestamp forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{argument} {text:?} is not a date or timestamp; use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.fff] or YYYY-MM-DDTHH:MM:SS[.fff][Z]"
)]
pub struct BadTimestamp {
    /// The argument as the function's signature names it (`since`, `until`, `period_from`, ...).
    pub argument: &'static str,
    pub text: String,
}

/// Accepts `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.fff]` and `YYYY-MM-DDTHH:MM:SS[.fff][Z]`
/// (CONTRACT.md §3); anything else is refused naming `argument` and the accepted forms.
pub fn parse_timestamp_argument(
    argument: &'static str,
    text: &str,
) -> Result<NaiveDateTime, BadTimestamp> {
    let t = text.trim();
    let bad = || BadTimestamp {
        argument,
        text: text.to_string(),
    };
    if t.len() > 40 || !t.is_ascii() {
        return Err(bad());
    }
    if t.len() == 10 {
        let d = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?;
        return Ok(d.and_time(NaiveTime::MIN));
    }
    if t.len() < 19 {
        return Err(bad());
    }
    let sep = t.as_bytes()[10];
    if sep != b' ' && sep != b'T' {
        return Err(bad());
    }
    let body = t.strip_suffix('Z').unwrap_or(t);
    let normalised = format!("{}T{}", &body[..10], &body[11..]);
    let ts =
        NaiveDateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad())?;
    // chrono's %.f accepts a bare trailing '.', which is not one of the documented forms.
    if normalised.ends_with('.') {
        return Err(bad());
    }
    Ok(ts)
}

impl Since {
    /// The `since` argument (see [`parse_timestamp_argument`]).
    pub fn parse(text: &str) -> Result<Since, BadTimestamp> {
        parse_timestamp_argument("since", text).map(Since)
    }

    /// The canonical text a cursor is bound to and that responses echo.
    pub fn canonical(&self) -> String {
        format_naive(self.0)
    }
}

impl Until {
    /// The `until` argument (see [`parse_timestamp_argument`]).
    pub fn parse(text: &str) -> Result<Until, BadTimestamp> {
        parse_timestamp_argument("until", text).map(Until)
    }

    /// The canonical text a cursor is bound to.
    pub fn canonical(&self) -> String {
        format_naive(self.0)
    }

    /// True when the range `since..self` holds no timestamp.
    pub fn is_not_after(&self, since: Since) -> bool {
        self.0 <= since.0
    }
}

/// ISO-8601 without a zone; fractional seconds only when present.
pub fn format_naive(ts: NaiveDateTime) -> String {
    if ts.and_utc().timestamp_subsec_nanos() == 0 {
        ts.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        ts.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
    }
}

/// Parses the timestamps that normalised records carry (`2026-11-03T00:00:00[.fff]` or `2026-11-03`).
pub fn parse_record_timestamp(text: &str) -> Option<NaiveDateTime> {
    if text.len() == 10 {
        return NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// The `since` a scheduled sync should use: the stored high water minus the overlap window, at
/// day granularity, because date-only business columns cannot order rows within a day.
pub fn since_for_next_run(high_water: Option<NaiveDateTime>, overlap_days: u32) -> Option<Since> {
    high_water.map(|hw| {
        let day = hw.date() - chrono::Days::new(u64::from(overlap_days));
        Since(day.and_time(NaiveTime::MIN))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let midnight = Since::parse("2026-11-01").unwrap();
        assert_eq!(midnight.canonical(), "2026-11-01T00:00:00");
        assert_eq!(
            Since::parse("2026-11-01 10:20:30").unwrap().canonical(),
            "2026-11-01T10:20:30"
        );
        assert_eq!(
            Since::parse("2026-11-01T10:20:30.125").unwrap().canonical(),
            "2026-11-01T10:20:30.125"
        );
        assert_eq!(
            Since::parse("2026-11-01T10:20:30Z").unwrap().canonical(),
            "2026-11-01T10:20:30"
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "01/11/2026",
            "2026-11-01T25:00:00",
            "2026-11-01T10:20:30+02:00",
            "2026-11-01x10:20:30",
            "2026-11-01T10:20:30.",
            "2026-11-01' or 1 eq 1",
            "2026-11-01T10:20",
            "１２３４-11-01",
        ] {
            assert!(Since::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refusals_name_the_argument() {
        let since = Since::parse("yesterday").unwrap_err().to_string();
        assert!(
            since.starts_with("since \"yesterday\" is not a date"),
            "{since}"
        );
        let until = Until::parse("tomorrow").unwrap_err();
        assert_eq!(until.argument, "until");
        assert!(
            until
                .to_string()
                .starts_with("until \"tomorrow\" is not a date")
        );
        let from = parse_timestamp_argument("period_from", "x").unwrap_err();
        assert!(from.to_string().starts_with("period_from \"x\""));
        let u = Until::parse("2026-11-02").unwrap();
        assert!(u.is_not_after(Since::parse("2026-11-02").unwrap()));
        assert!(!u.is_not_after(Since::parse("2026-11-01T23:59:59").unwrap()));
        assert_eq!(u.canonical(), "2026-11-02T00:00:00");
    }

    #[test]
    fn next_run_backs_off_whole_days() {
        let hw = NaiveDateTime::parse_from_str("2026-11-20T00:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            since_for_next_run(Some(hw), 3).unwrap().canonical(),
            "2026-11-17T00:00:00"
        );
        let late =
            NaiveDateTime::parse_from_str("2026-11-20T17:45:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            since_for_next_run(Some(late), 0).unwrap().canonical(),
            "2026-11-20T00:00:00"
        );
        assert_eq!(since_for_next_run(None, 3), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,48}") {
            let _ = Since::parse(&s);
        }

        #[test]
        fn canonical_text_parses_back(secs in 0i64..4_000_000_000, millis in 0u32..1000) {
            let ts = chrono::DateTime::from_timestamp(secs, millis * 1_000_000).unwrap().naive_utc();
            let s = Since(ts);
            proptest::prop_assert_eq!(Since::parse(&s.canonical()).unwrap(), s);
        }
    }
}
