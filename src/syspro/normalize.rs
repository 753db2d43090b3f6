//! Turns SYSPRO's records into what Snowflake receives: CHAR padding trimmed (syspro.md §5.8),
//! decimals exact (arbitrary-precision JSON numbers, never f64), datetimes as ISO text without a
//! zone and not shifted (syspro.md §5.4), OData annotations dropped.

use serde_json::{Map, Number, Value};

use super::filter::is_plain_number;
use super::schema::{Column, TableSchema};
use crate::watermark::format_naive;

/// Normalises one record in place, keeping SYSPRO's column names and order.
pub fn normalize_record(
    schema: Option<&TableSchema>,
    record: Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::with_capacity(record.len());
    for (name, value) in record {
        if name.starts_with('@') || name.contains("@odata.") {
            continue;
        }
        let column = schema.and_then(|s| s.column(&name));
        out.insert(name, normalize_value(column, value));
    }
    out
}

pub fn normalize_value(column: Option<&Column>, value: Value) -> Value {
    match value {
        Value::String(s) => match column.map(|c| c.edm_type.as_str()) {
            Some("Edm.DateTimeOffset") | Some("Edm.DateTime") => Value::String(strip_zone(&s)),
            // OData's IEEE754Compatible form sends decimals as strings; keep their digits as a number.
            Some(_) if column.is_some_and(Column::is_numeric) && is_plain_number(s.trim()) => s
                .trim()
                .parse::<Number>()
                .map(Value::Number)
                .unwrap_or(Value::String(s)),
            _ => Value::String(trim_padding(s)),
        },
        other => other,
    }
}

fn trim_padding(mut s: String) -> String {
    let keep = s.trim_end_matches(' ').len();
    s.truncate(keep);
    s
}

/// `2026-11-03T00:00:00Z` or `…+02:00` → `2026-11-03T00:00:00`: the wall clock SYSPRO stored.
/// A v2-style `/Date(ms)/` becomes the same ISO form.
pub fn strip_zone(s: &str) -> String {
    let t = s.trim();
    if let Some(ms) = t.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits: String = ms
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        if let Some(dt) = digits
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            return format_naive(dt.naive_utc());
        }
    }
    if t.len() > 19 {
        if let Some(rest) = t.strip_suffix('Z') {
            return rest.to_string();
        }
        let b = t.as_bytes();
        let n = b.len();
        if n >= 25 && (b[n - 6] == b'+' || b[n - 6] == b'-') && b[n - 3] == b':' {
            return t[..n - 6].to_string();
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        let col = |name: &str, ty: &str| Column {
            name: name.into(),
            edm_type: ty.into(),
            nullable: true,
            max_length: None,
            precision: None,
            scale: None,
        };
        TableSchema::new(
            "ApInvoice".into(),
            vec![
                col("Supplier", "Edm.String"),
                col("JournalDate", "Edm.DateTimeOffset"),
                col("OrigInvValue", "Edm.Decimal"),
            ],
            vec![],
        )
    }

    #[test]
    fn records_come_out_as_the_contract_says() {
        let raw: Map<String, Value> = serde_json::from_str(
            r#"{"@odata.etag":"W/1","Supplier":"000123    ","JournalDate":"2026-11-03T00:00:00Z","OrigInvValue":12345678901.23,"Note":null}"#,
        )
        .unwrap();
        let out = normalize_record(Some(&schema()), raw);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"Supplier":"000123","JournalDate":"2026-11-03T00:00:00","OrigInvValue":12345678901.23,"Note":null}"#
        );
    }

    #[test]
    fn decimals_sent_as_strings_keep_their_digits() {
        let raw: Map<String, Value> =
            serde_json::from_str(r#"{"OrigInvValue":"99999999999999.99"}"#).unwrap();
        let out = normalize_record(Some(&schema()), raw);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"OrigInvValue":99999999999999.99}"#
        );
    }

    #[test]
    fn zones_are_removed_not_applied() {
        assert_eq!(
            strip_zone("2026-11-03T10:00:00+02:00"),
            "2026-11-03T10:00:00"
        );
        assert_eq!(
            strip_zone("2026-11-03T10:00:00.123-05:00"),
            "2026-11-03T10:00:00.123"
        );
        assert_eq!(strip_zone("2026-11-03T10:00:00"), "2026-11-03T10:00:00");
        assert_eq!(strip_zone("/Date(1793664000000)/"), "2026-11-03T00:00:00");
    }

    #[test]
    fn leading_spaces_and_inner_spaces_stay() {
        assert_eq!(trim_padding("  A  B   ".into()), "  A  B");
    }
}
