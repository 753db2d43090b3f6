//! Turns SYSPRO's records into what Snowflake receives: CHAR padding trimmed (syspro.md §5.8),
//! decimals exact (arbitrary-precision JSON numbers, never f64), datetimes as ISO text without a
//! zone and not shifted (syspro.md §5.4), OData annotations dropped.

use serde_json::{Map, Number, Value};

use super::filter::is_plain_number;
use super::schema::{Column, TableSchema};
use crate::watermark::format_naive;

/// Normalises one record, keeping SYSPRO's column names and order.
pub fn normalize_record(
    schema: Option<&TableSchema>,
    record: Map<String, Value>,
) -> Map<String, Value> {
    Normalizer::new(schema).record(record)
}

/// Normalises the records of one page: every record of a page has the same columns in the same
/// order, so each column's type is looked up once per page instead of once per value, and each
/// record is changed in place rather than rebuilt.
pub struct Normalizer<'a> {
    schema: Option<&'a TableSchema>,
    /// The column at each position of the last record, by name.
    columns: Vec<(String, Option<&'a Column>)>,
}

impl<'a> Normalizer<'a> {
    pub fn new(schema: Option<&'a TableSchema>) -> Self {
        Normalizer {
            schema,
            columns: Vec::new(),
        }
    }

    pub fn record(&mut self, mut record: Map<String, Value>) -> Map<String, Value> {
        if record.keys().any(|name| is_annotation(name)) {
            record.retain(|name, _| !is_annotation(name));
        }
        for (i, (name, value)) in record.iter_mut().enumerate() {
            let column = match self.columns.get(i) {
                Some((n, c)) if n == name => *c,
                _ => {
                    let c = self.schema.and_then(|s| s.column(name));
                    if i < self.columns.len() {
                        self.columns[i] = (name.clone(), c);
                    } else {
                        self.columns.push((name.clone(), c));
                    }
                    c
                }
            };
            if matches!(value, Value::String(_)) {
                *value = normalize_value(column, std::mem::take(value));
            }
        }
        record
    }
}

fn is_annotation(name: &str) -> bool {
    name.starts_with('@') || name.contains("@odata.")
}

pub fn normalize_value(column: Option<&Column>, value: Value) -> Value {
    match value {
        Value::String(s) => match column.map(|c| c.edm_type.as_str()) {
            Some("Edm.DateTimeOffset") | Some("Edm.DateTime") => Value::String(strip_zone_owned(s)),
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

/// [`strip_zone`] reusing the string's buffer in the usual cases (`…Z`, `…+02:00`, no zone).
fn strip_zone_owned(mut s: String) -> String {
    if s.trim().len() != s.len() || s.starts_with("/Date(") {
        return strip_zone(&s);
    }
    let b = s.as_bytes();
    let n = b.len();
    if n > 19 {
        if b[n - 1] == b'Z' {
            s.truncate(n - 1);
        } else if n >= 25 && (b[n - 6] == b'+' || b[n - 6] == b'-') && b[n - 3] == b':' {
            s.truncate(n - 6);
        }
    }
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
    fn a_page_normaliser_follows_changing_columns() {
        let schema = schema();
        let mut n = Normalizer::new(Some(&schema));
        let records = [
            r#"{"Supplier":"A  ","JournalDate":"2026-11-03T00:00:00Z","OrigInvValue":"1.50"}"#,
            r#"{"@odata.etag":"W/2","Supplier":"B ","JournalDate":"2026-11-04T10:00:00+02:00","OrigInvValue":2.00}"#,
            r#"{"OrigInvValue":"3.25","Supplier":"C","JournalDate":" 2026-11-05T00:00:00Z "}"#,
            r#"{"JOURNALDATE":"2026-11-06T00:00:00Z","Extra":"x  ","OrigInvValue@odata.type":"Edm.Decimal"}"#,
        ];
        for text in records {
            let raw: Map<String, Value> = serde_json::from_str(text).unwrap();
            let expected = reference(Some(&schema), raw.clone());
            assert_eq!(
                serde_json::to_string(&n.record(raw)).unwrap(),
                serde_json::to_string(&expected).unwrap(),
                "{text}"
            );
        }
    }

    /// The record-by-record normalisation the page normaliser replaced.
    fn reference(schema: Option<&TableSchema>, record: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, value) in record {
            if name.starts_with('@') || name.contains("@odata.") {
                continue;
            }
            let column = schema.and_then(|s| s.column(&name));
            let value = match (value, column.map(|c| c.edm_type.as_str())) {
                (Value::String(s), Some("Edm.DateTimeOffset" | "Edm.DateTime")) => {
                    Value::String(strip_zone(&s))
                }
                (v, _) => normalize_value(column, v),
            };
            out.insert(name, value);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn zones_are_stripped_the_same_in_place(s in "\\PC{0,30}|[ ]?2026-11-0[1-9]T[0-2][0-9]:00:00(\\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})?[ ]?|/Date\\([0-9]{1,13}\\)/") {
            proptest::prop_assert_eq!(strip_zone_owned(s.clone()), strip_zone(&s));
        }
    }

    #[test]
    fn leading_spaces_and_inner_spaces_stay() {
        assert_eq!(trim_padding("  A  B   ".into()), "  A  B");
    }
}
