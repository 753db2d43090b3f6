//! The `keys` argument of `SYSPRO_PULL_KEYS` (CONTRACT.md §3.1): checked whole before anything
//! is asked of SYSPRO, deduplicated, and matched against returned records the way SYSPRO
//! matches them (CHAR padding ignored, case-sensitive).

use serde_json::{Map, Value};

use crate::catalog::{ColumnType, TableDef};
use crate::watermark::{format_naive, parse_record_timestamp};

/// At most this many keys in one call.
pub const MAX_KEYS: usize = 1000;

/// The keys of one `SYSPRO_PULL_KEYS` call, in the order given, each listed once.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySet {
    /// Values in `key_columns` order: strings right-trimmed, numbers and datetimes as given.
    pub keys: Vec<Vec<Value>>,
    /// What a cursor is bound to: a hash of the key list.
    pub binding: String,
}

impl KeySet {
    /// Checks `keys` against the table's key columns and their catalog types.
    pub fn parse(table: &TableDef, keys: &Value) -> Result<KeySet, String> {
        let columns = &table.key_columns;
        let example = || {
            let fields: Vec<String> = columns.iter().map(|c| format!("{c:?}: ...")).collect();
            format!("[{{{}}}]", fields.join(", "))
        };
        let Value::Array(items) = keys else {
            return Err(format!(
                "keys must be an ARRAY of key objects of {}, like {}; got {}",
                table.name,
                example(),
                kind(keys)
            ));
        };
        if items.len() > MAX_KEYS {
            return Err(format!(
                "keys holds {} key objects; at most {MAX_KEYS} per call: split them over several calls",
                items.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(object) = item else {
                return Err(format!(
                    "keys[{i}] must be an object naming {} (like {}), got {}",
                    columns.join(", "),
                    example(),
                    kind(item)
                ));
            };
            if let Some(unknown) = object.keys().find(|k| !columns.iter().any(|c| c == *k)) {
                return Err(format!(
                    "keys[{i}] names {unknown:?}, which is not a key column of {}; its key columns are {}",
                    table.name,
                    columns.join(", ")
                ));
            }
            let mut key = Vec::with_capacity(columns.len());
            for column in columns {
                let value = object.get(column).ok_or_else(|| {
                    format!(
                        "keys[{i}] has no {column:?}; every key object names all of {}",
                        columns.join(", ")
                    )
                })?;
                key.push(
                    check_value(table, column, value)
                        .map_err(|e| format!("keys[{i}].{column}: {e}"))?,
                );
            }
            if seen.insert(match_text(&key)) {
                out.push(key);
            }
        }
        let binding = {
            let text = serde_json::to_vec(&out).expect("values serialise");
            format!("keys:{:032x}", xxhash_rust::xxh3::xxh3_128(&text))
        };
        Ok(KeySet { keys: out, binding })
    }

    /// The key object of key `i`, as `missing` lists it.
    pub fn object(&self, table: &TableDef, i: usize) -> Value {
        Value::Object(
            table
                .key_columns
                .iter()
                .cloned()
                .zip(self.keys[i].iter().cloned())
                .collect::<Map<String, Value>>(),
        )
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_value(table: &TableDef, column: &str, value: &Value) -> Result<Value, String> {
    match (table.column_type(column), value) {
        (_, Value::Null) => Err("a key value is never NULL".into()),
        (Some(ColumnType::Decimal { .. } | ColumnType::Int), Value::Number(n)) => {
            if crate::catalog::is_plain_number(&n.to_string()) {
                Ok(value.clone())
            } else {
                Err(format!("{n} is not a plain number"))
            }
        }
        (Some(ColumnType::Decimal { .. } | ColumnType::Int), other) => Err(format!(
            "must be a number (the column is numeric), got {}",
            kind(other)
        )),
        (Some(ColumnType::DateTime), Value::String(s)) => parse_record_timestamp(s)
            .map(|ts| Value::String(format_naive(ts)))
            .ok_or_else(|| format!("{s:?} is not a date or timestamp like 2026-11-03T00:00:00")),
        (Some(ColumnType::DateTime), other) => Err(format!(
            "must be a timestamp as text like \"2026-11-03T00:00:00\", got {}",
            kind(other)
        )),
        (None, Value::String(s)) => Ok(Value::String(s.trim_end_matches(' ').to_string())),
        (None, other) => Err(format!(
            "must be text (the column is a string), got {}",
            kind(other)
        )),
    }
}

/// How a key compares with a record's key: SYSPRO ignores CHAR padding and compares numbers by
/// value (`10` is `10.00`), timestamps by instant.
pub fn match_text(key: &[Value]) -> String {
    let mut out = String::new();
    for v in key {
        match v {
            Value::String(s) => {
                let s = s.trim_end_matches(' ');
                match parse_record_timestamp(s) {
                    Some(ts) if s.len() >= 10 && s.as_bytes()[4] == b'-' => {
                        out.push_str("t:");
                        out.push_str(&format_naive(ts));
                    }
                    _ => {
                        out.push_str("s:");
                        out.push_str(s);
                    }
                }
            }
            Value::Number(n) => {
                out.push_str("n:");
                let text = n.to_string();
                match text.parse::<rust_decimal::Decimal>() {
                    Ok(d) => out.push_str(&d.normalize().to_string()),
                    Err(_) => out.push_str(&text),
                }
            }
            other => {
                out.push_str("j:");
                out.push_str(&other.to_string());
            }
        }
        out.push('\u{1f}');
    }
    out
}

/// A record's key, read like [`match_text`].
pub fn record_match_text(table: &TableDef, record: &Map<String, Value>) -> String {
    let key: Vec<Value> = table
        .key_columns
        .iter()
        .map(|c| record.get(c).cloned().unwrap_or(Value::Null))
        .collect();
    match_text(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn table(name: &str) -> TableDef {
        Catalog::built_in().get(name).unwrap().clone()
    }

    #[test]
    fn keys_are_checked_trimmed_and_deduplicated() {
        let t = table("ApInvoice");
        let set = KeySet::parse(
            &t,
            &json!([
                {"Supplier": "ACME  ", "Invoice": "INV-1"},
                {"Invoice": "INV-1", "Supplier": "ACME"},
                {"Supplier": "ACME", "Invoice": "inv-1"},
            ]),
        )
        .unwrap();
        assert_eq!(set.keys.len(), 2, "padding ignored, case kept");
        assert_eq!(
            set.object(&t, 0),
            json!({"Supplier": "ACME", "Invoice": "INV-1"})
        );
        let again = KeySet::parse(&t, &json!([{"Supplier": "ACME", "Invoice": "INV-1"}, {"Supplier": "ACME", "Invoice": "inv-1"}])).unwrap();
        assert_eq!(set.binding, again.binding);

        let g = table("GenJournalDetail");
        let set = KeySet::parse(
            &g,
            &json!([{"GlYear": 2026, "GlPeriod": 11, "Journal": 1, "EntryNumber": 10.0}]),
        )
        .unwrap();
        let record: Map<String, Value> = serde_json::from_value(
            json!({"GlYear": 2026, "GlPeriod": 11, "Journal": 1, "EntryNumber": 10, "X": 1}),
        )
        .unwrap();
        assert_eq!(match_text(&set.keys[0]), record_match_text(&g, &record));

        let m = table("InvMovements");
        let set = KeySet::parse(&m, &json!([{"StockCode": "A", "Warehouse": "JHB", "TrnYear": 2026, "TrnMonth": 11, "EntryDate": "2026-11-03", "TrnTime": 1}])).unwrap();
        assert_eq!(set.keys[0][4], json!("2026-11-03T00:00:00"));
    }

    #[test]
    fn bad_keys_name_the_problem() {
        let t = table("ApInvoice");
        let cases = [
            (json!("ACME"), "must be an ARRAY"),
            (json!({"Supplier": "A"}), "must be an ARRAY"),
            (json!([["ACME", "INV-1"]]), "keys[0] must be an object"),
            (json!([{"Supplier": "A"}]), "has no \"Invoice\""),
            (
                json!([{"Supplier": "A", "Invoice": "I", "Branch": "x"}]),
                "\"Branch\", which is not a key column",
            ),
            (json!([{"Supplier": null, "Invoice": "I"}]), "never NULL"),
            (json!([{"Supplier": 12, "Invoice": "I"}]), "must be text"),
        ];
        for (keys, expected) in cases {
            let err = KeySet::parse(&t, &keys).unwrap_err();
            assert!(err.contains(expected), "{keys}: {err}");
        }
        let g = table("GenJournalDetail");
        let err = KeySet::parse(
            &g,
            &json!([{"GlYear": "2026", "GlPeriod": 1, "Journal": 1, "EntryNumber": 1}]),
        )
        .unwrap_err();
        assert!(err.contains("must be a number"), "{err}");
        let many: Vec<Value> = (0..1001)
            .map(|i| json!({"Supplier": "A", "Invoice": i.to_string()}))
            .collect();
        assert!(
            KeySet::parse(&t, &Value::Array(many))
                .unwrap_err()
                .contains("at most 1000")
        );
        assert!(KeySet::parse(&t, &json!([])).unwrap().keys.is_empty());
    }
}
