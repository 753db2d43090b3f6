//! Every value Snowflake receives, in one place: the `SYSPRO_PULL` family's page values, the
//! `SYSPRO_KEYS` and `SYSPRO_DIGESTS` values, `SYSPRO_SCHEMA`, `SYSPRO_TABLES`,
//! `SYSPRO_RECONCILE`, and the error row any of them answers when SYSPRO keeps failing
//! (CONTRACT.md §3). The external function puts them in its envelope (`extfn::envelope`); push
//! mode binds them to the procedures' statements.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::{Map, Number, Value, json};

use super::page::{Page, PullFailure};
use super::reconcile::{Figures, PreparedReconcile};
use crate::catalog::{Catalog, TableDef};
use crate::retry::UpstreamError;
use crate::syspro::Rows;
use crate::syspro::schema::TableSchema;

impl Page {
    /// The `SYSPRO_PULL` value (CONTRACT.md §3) as JSON. The rows are copied in as they are.
    pub fn write_pull_value(&self, out: &mut Vec<u8>) {
        out.reserve(self.rows.buf.len() + self.rows.len() + 1024);
        out.extend_from_slice(b"{\"table\":");
        write_json(out, &self.table);
        write_company(out, &self.company);
        out.extend_from_slice(b",\"poll_id\":");
        write_json(out, &self.poll_id);
        out.extend_from_slice(b",\"page\":");
        write_json(out, &self.page);
        out.extend_from_slice(b",\"fetched_at\":");
        write_json(out, &self.fetched_at);
        out.extend_from_slice(b",\"since\":");
        write_json(out, &self.since);
        out.extend_from_slice(b",\"rows\":");
        self.rows.write_array(out);
        out.extend_from_slice(b",\"digests\":");
        write_digests(&self.rows, out);
        out.extend_from_slice(b",\"row_count\":");
        write_json(out, &self.rows.len());
        out.extend_from_slice(b",\"next_cursor\":");
        write_json(out, &self.next_cursor);
        out.extend_from_slice(b",\"high_water\":");
        write_json(out, &self.high_water);
        out.extend_from_slice(b",\"key_columns\":");
        write_json(out, &self.key_columns);
        out.extend_from_slice(b",\"watermark_column\":");
        write_json(out, &self.watermark_column);
        if let Some(missing) = &self.missing {
            out.extend_from_slice(b",\"missing\":");
            write_json(out, missing);
        }
        if let Some(open) = &self.open_items {
            out.extend_from_slice(b",\"open_items\":");
            write_json(out, open);
        }
        out.push(b'}');
    }

    /// The `SYSPRO_DIGESTS` value: each row's key and the digest of the whole row, both from one
    /// parse of the row.
    pub fn digests_value(&self) -> Vec<u8> {
        let mut keys = Vec::with_capacity(self.rows.len() * 48 + 2);
        let mut digests = Vec::with_capacity(self.rows.len() * 35 + 2);
        keys.push(b'[');
        digests.push(b'[');
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                keys.push(b',');
                digests.push(b',');
            }
            let digest = digest_and_key(row, &self.key_columns, &mut keys);
            digests.push(b'"');
            digests.extend_from_slice(digest.as_bytes());
            digests.push(b'"');
        }
        keys.push(b']');
        digests.push(b']');
        let mut out = Vec::with_capacity(keys.len() + digests.len() + 256);
        out.extend_from_slice(b"{\"table\":");
        write_json(&mut out, &self.table);
        write_company(&mut out, &self.company);
        out.extend_from_slice(b",\"key_columns\":");
        write_json(&mut out, &self.key_columns);
        out.extend_from_slice(b",\"keys\":");
        out.extend_from_slice(&keys);
        out.extend_from_slice(b",\"digests\":");
        out.extend_from_slice(&digests);
        out.extend_from_slice(b",\"next_cursor\":");
        write_json(&mut out, &self.next_cursor);
        out.push(b'}');
        out
    }

    /// The `SYSPRO_KEYS` value: each row's key columns, in key order.
    pub fn keys_value(&self) -> Value {
        let keys: Vec<Value> = (0..self.rows.len())
            .map(|i| {
                let row = self.rows.record(i);
                let obj: Map<String, Value> = self
                    .key_columns
                    .iter()
                    .map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Value::Null)))
                    .collect();
                Value::Object(obj)
            })
            .collect();
        let mut v = Map::with_capacity(5);
        v.insert("table".into(), self.table.clone().into());
        if !self.company.is_empty() {
            v.insert("company".into(), self.company.clone().into());
        }
        v.insert("key_columns".into(), self.key_columns.clone().into());
        v.insert("keys".into(), Value::Array(keys));
        v.insert("next_cursor".into(), self.next_cursor.clone().into());
        Value::Object(v)
    }
}

/// A record's digest (CONTRACT.md §3.1): a pure function of the record, so the same record read
/// by any function, transport, page or process gets the same digest, and Snowflake can compare
/// the digest it stored with one SYSPRO_DIGESTS computes later. Members are hashed in name order
/// (a JSON object's order carries no meaning, and transports list columns in their own order),
/// each value as its compact JSON text; xxh3-128, as 32 hex digits. `record` is one compact
/// JSON object.
pub fn digest_record(record: &[u8]) -> String {
    digest_and_key(record, &[], &mut Vec::new())
}

/// The record's digest, and its key object (the `key_columns` members, in that order, `null`
/// for a missing one) written to `key_out` — from one parse of the record.
pub fn digest_and_key(record: &[u8], key_columns: &[String], key_out: &mut Vec<u8>) -> String {
    use serde_json::value::RawValue;
    use std::collections::BTreeMap;
    fn hash_and_key<K: AsRef<str> + Ord>(
        members: &BTreeMap<K, &RawValue>,
        key_columns: &[String],
        key_out: &mut Vec<u8>,
    ) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (name, value) in members {
            hasher.update(name.as_ref().as_bytes());
            hasher.update(&[0x1f]);
            hasher.update(value.get().as_bytes());
            hasher.update(&[0x1e]);
        }
        if !key_columns.is_empty() {
            key_out.push(b'{');
            for (i, column) in key_columns.iter().enumerate() {
                if i > 0 {
                    key_out.push(b',');
                }
                serde_json::to_writer(&mut *key_out, column).expect("writing to a Vec");
                key_out.push(b':');
                let value = members
                    .iter()
                    .find(|(k, _)| k.as_ref() == column)
                    .map_or("null", |(_, v)| v.get());
                key_out.extend_from_slice(value.as_bytes());
            }
            key_out.push(b'}');
        }
        format!("{:032x}", hasher.digest128())
    }
    // Names with escapes cannot be borrowed; SYSPRO's never have any, so that path is rare.
    match serde_json::from_slice::<BTreeMap<&str, &RawValue>>(record) {
        Ok(members) => hash_and_key(&members, key_columns, key_out),
        Err(_) => {
            let members: BTreeMap<String, &RawValue> =
                serde_json::from_slice(record).expect("rows hold JSON objects");
            hash_and_key(&members, key_columns, key_out)
        }
    }
}

/// Every row's digest, in row order, as a JSON array of strings.
pub fn write_digests(rows: &Rows, out: &mut Vec<u8>) {
    out.reserve(rows.len() * 35 + 2);
    out.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(digest_record(row).as_bytes());
        out.push(b'"');
    }
    out.push(b']');
}

/// The error row: SYSPRO kept failing for this call (`kind` says what to do about it). Pulls
/// name their poll, so the procedure audits the failure against it; `table` is the qualified
/// name and `company` is there when not `""`, so one company's failure is audited as its own.
pub fn error_row(
    error: &UpstreamError,
    table: &str,
    company: &str,
    poll_id: Option<&str>,
) -> Value {
    let mut row = json!({
        "error": {"kind": error.kind.as_str(), "message": error.message, "attempts": error.attempts},
        "table": table,
    });
    if !company.is_empty() {
        row["company"] = company.into();
    }
    if let Some(poll_id) = poll_id {
        row["poll_id"] = poll_id.into();
    }
    row
}

impl PullFailure {
    /// The error row of a pull.
    pub fn into_value(self) -> Value {
        error_row(&self.error, &self.table, &self.company, Some(&self.poll_id))
    }
}

/// The `SYSPRO_SCHEMA` value: the table's columns as that company's SYSPRO describes them, with
/// their Snowflake types; `table` is the qualified name `name`.
pub fn schema_value(name: &str, company: &str, table: &TableDef, schema: &TableSchema) -> Value {
    let columns: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "edm_type": c.edm_type, "snowflake_type": c.snowflake_type(), "nullable": c.nullable}))
        .collect();
    let mut v = json!({"table": name, "columns": columns, "key_columns": table.key_columns, "watermark_column": table.watermark_column});
    if !company.is_empty() {
        v["company"] = company.into();
    }
    v
}

/// The `SYSPRO_TABLES` value: the catalog, and the companies read (`[""]` for a single-company
/// deployment). With companies, each table lists its qualified names, the names to call with.
pub fn tables_value(catalog: &Catalog, companies: &[String]) -> Value {
    let several = companies.iter().any(|c| !c.is_empty());
    let tables: Vec<Value> = catalog
        .tables()
        .map(|t| {
            let mut v = json!({"name": t.name, "key_columns": t.key_columns, "watermark_column": t.watermark_column, "description": t.description});
            if several {
                v["qualified_names"] = companies
                    .iter()
                    .map(|c| super::company::qualified_name(c, &t.name))
                    .collect::<Vec<_>>()
                    .into();
            }
            v
        })
        .collect();
    json!({ "tables": tables, "companies": companies })
}

/// The `SYSPRO_RECONCILE` value: per period, the row count and exact sums.
pub fn reconcile_value(p: &PreparedReconcile, periods: &BTreeMap<String, Figures>) -> Value {
    let list: Vec<Value> = periods
        .iter()
        .map(|(period, f)| {
            let sums: Map<String, Value> = f
                .sums
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Number::from_str(&v.normalize().to_string())
                            .map(Value::Number)
                            .unwrap_or(Value::Null),
                    )
                })
                .collect();
            json!({"period": period, "row_count": f.row_count, "sums": sums})
        })
        .collect();
    let mut v = json!({
        "table": p.name,
        "period_column": p.table.watermark_column,
        "period_from": p.from.map(|d| d.to_string()),
        "period_to": p.to.map(|d| d.to_string()),
        "measures": p.table.reconcile_measures,
        "split_by": p.table.reconcile_split,
        "periods": list,
    });
    if !p.company.is_empty() {
        v["company"] = p.company.clone().into();
    }
    v
}

/// `,"company":"UK1"` after a value's `table`, only when the company is not `""`: the values of
/// a single-company deployment stay exactly as they were.
fn write_company(out: &mut Vec<u8>, company: &str) {
    if !company.is_empty() {
        out.extend_from_slice(b",\"company\":");
        write_json(out, company);
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("serialising to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::ErrorKind;

    fn map(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn row(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn page(rows: Vec<Map<String, Value>>) -> Page {
        Page {
            table: "ApInvoice".into(),
            company: String::new(),
            poll_id: "p-1".into(),
            page: 3,
            fetched_at: "2026-11-20T10:00:00".into(),
            since: Some("2026-11-01T00:00:00".into()),
            rows: rows.into_iter().collect(),
            next_cursor: None,
            high_water: Some("2026-11-03T00:00:00".into()),
            key_columns: vec!["Supplier".into(), "Invoice".into()],
            watermark_column: Some("JournalDate".into()),
            attempts: 1,
            missing: None,
            open_items: None,
        }
    }

    #[test]
    fn digests_follow_the_record_not_its_member_order() {
        let a = digest_record(br#"{"K":"a","V":1.50,"W":null}"#);
        assert_eq!(a.len(), 32);
        assert_eq!(a, digest_record(br#"{"W":null,"V":1.50,"K":"a"}"#));
        assert_eq!(a, digest_record(br#"{"W":null,"V":1.50,"\u004b":"a"}"#));
        for other in [
            br#"{"K":"a","V":1.5,"W":null}"#.as_slice(),
            br#"{"K":"a","V":1.50,"W":""}"#,
            br#"{"K":"a","V":1.50}"#,
            br#"{"K":"a","V":1.50,"W":null,"X":null}"#,
            br#"{"KV":"a","":1.50,"W":null}"#,
        ] {
            assert_ne!(
                a,
                digest_record(other),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        let rows: Rows = [map(r#"{"K":"a","V":1.50,"W":null}"#)]
            .into_iter()
            .collect();
        let mut out = Vec::new();
        write_digests(&rows, &mut out);
        assert_eq!(out, format!("[\"{a}\"]").into_bytes());
    }

    #[test]
    fn the_error_row_is_one_shape() {
        let error = UpstreamError {
            kind: ErrorKind::Unavailable,
            cause: crate::retry::Cause::Unclassified,
            message: "SYSPRO is down".into(),
            attempts: 6,
        };
        let pull = PullFailure {
            error: error.clone(),
            table: "ApInvoice".into(),
            company: String::new(),
            poll_id: "p-1".into(),
        };
        assert_eq!(
            pull.into_value().to_string(),
            r#"{"error":{"kind":"upstream_unavailable","message":"SYSPRO is down","attempts":6},"table":"ApInvoice","poll_id":"p-1"}"#
        );
        assert_eq!(
            error_row(&error, "ApInvoice", "", None).to_string(),
            r#"{"error":{"kind":"upstream_unavailable","message":"SYSPRO is down","attempts":6},"table":"ApInvoice"}"#
        );
    }

    #[test]
    fn page_values_keep_their_shape() {
        let rows = vec![
            row(
                r#"{"Supplier":"ACME","Invoice":"000000000015001","JournalDate":"2026-11-03T00:00:00","OrigInvValue":12345678901.23}"#,
            ),
            row(
                r#"{"Supplier":"Åström","Invoice":"a-1","JournalDate":"2026-11-03T00:00:00","OrigInvValue":1234.50}"#,
            ),
        ];
        let expected = json!({
            "table": "ApInvoice",
            "poll_id": "p-1",
            "page": 3,
            "fetched_at": "2026-11-20T10:00:00",
            "since": "2026-11-01T00:00:00",
            "rows": rows.clone(),
            "digests": rows.iter().map(|r| digest_record(&serde_json::to_vec(r).unwrap())).collect::<Vec<_>>(),
            "row_count": 2,
            "next_cursor": null,
            "high_water": "2026-11-03T00:00:00",
            "key_columns": ["Supplier", "Invoice"],
            "watermark_column": "JournalDate",
        });
        let mut got = Vec::new();
        page(rows.clone()).write_pull_value(&mut got);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let digests: Value = serde_json::from_slice(&page(rows.clone()).digests_value()).unwrap();
        assert_eq!(digests["keys"], page(rows.clone()).keys_value()["keys"]);
        assert_eq!(digests["digests"], expected["digests"]);
        let keys = page(rows).keys_value();
        assert_eq!(
            serde_json::to_string(&keys).unwrap(),
            r#"{"table":"ApInvoice","key_columns":["Supplier","Invoice"],"keys":[{"Supplier":"ACME","Invoice":"000000000015001"},{"Supplier":"Åström","Invoice":"a-1"}],"next_cursor":null}"#
        );
    }

    #[test]
    fn a_company_is_named_only_when_there_are_companies() {
        let mut p = page(vec![row(r#"{"Supplier":"ACME","Invoice":"1"}"#)]);
        p.table = "UK1.ApInvoice".into();
        p.company = "UK1".into();
        let mut got = Vec::new();
        p.write_pull_value(&mut got);
        let text = String::from_utf8(got).unwrap();
        assert!(
            text.starts_with(r#"{"table":"UK1.ApInvoice","company":"UK1","poll_id":"p-1""#),
            "{text}"
        );
        let digests: Value = serde_json::from_slice(&p.digests_value()).unwrap();
        assert_eq!(
            (&digests["table"], &digests["company"]),
            (&json!("UK1.ApInvoice"), &json!("UK1"))
        );
        assert_eq!(p.keys_value()["company"], "UK1");
        let failure = PullFailure {
            error: UpstreamError {
                kind: ErrorKind::Unavailable,
                cause: crate::retry::Cause::Unclassified,
                message: "down".into(),
                attempts: 1,
            },
            table: "UK1.ApInvoice".into(),
            company: "UK1".into(),
            poll_id: "p".into(),
        };
        assert_eq!(failure.into_value()["company"], "UK1");

        let catalog = Catalog::built_in();
        let one = tables_value(&catalog, &[String::new()]);
        assert_eq!(one["companies"], json!([""]));
        assert!(one["tables"][0].get("qualified_names").is_none());
        let two = tables_value(&catalog, &["EDU1".into(), "UK1".into()]);
        let ap = two["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "ApInvoice")
            .unwrap();
        assert_eq!(
            ap["qualified_names"],
            json!(["EDU1.ApInvoice", "UK1.ApInvoice"])
        );
    }
}
