//! Snowflake's external-function envelope (snowflake.md §1.1–1.2): `{"data": [[row, args...]]}`
//! in, `{"data": [[row, value]]}` out, one result per input row in the same order. The values
//! inside are written by `pull::values`; this module only wraps and unwraps them.

use serde::Deserialize;
use serde_json::Value;

/// One input row: Snowflake's row number (echoed back verbatim) and the arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub number: Value,
    pub args: Vec<Value>,
}

#[derive(Deserialize)]
struct RawBatch {
    data: Vec<Vec<Value>>,
}

/// The most rows one batch may carry; pulls are heavy, and `MAX_BATCH_ROWS` in sql/ keeps real
/// batches far below this.
pub const MAX_BATCH_ROWS: usize = 10_000;

/// Parses a batch and checks every row has `args` arguments.
pub fn parse_batch(body: &[u8], args: usize, function: &str) -> Result<Vec<BatchRow>, String> {
    let raw: RawBatch = serde_json::from_slice(body).map_err(|e| {
        format!("request body is not Snowflake's external-function JSON {{\"data\": [[row, args...], ...]}}: {e}")
    })?;
    if raw.data.len() > MAX_BATCH_ROWS {
        return Err(format!(
            "batch has {} rows; at most {MAX_BATCH_ROWS} are accepted (set MAX_BATCH_ROWS on the function)",
            raw.data.len()
        ));
    }
    raw.data
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            if row.is_empty() || !row[0].is_u64() {
                return Err(format!("row {i} does not start with a row number"));
            }
            if row.len() != args + 1 {
                return Err(format!(
                    "row {i} has {} argument{}; {function} takes {args}",
                    row.len() - 1,
                    if row.len() == 2 { "" } else { "s" }
                ));
            }
            let args = row.split_off(1);
            Ok(BatchRow {
                number: row.pop().expect("row number"),
                args,
            })
        })
        .collect()
}

/// An optional text argument: SQL NULL is JSON null; anything but a string is refused.
pub fn text_arg<'a>(
    row: &'a BatchRow,
    index: usize,
    name: &str,
) -> Result<Option<&'a str>, String> {
    match &row.args[index] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        other => Err(format!("argument {name} must be text, got {other}")),
    }
}

/// The start of a one-row answer, up to where its value goes: `{"data":[[n,`.
pub fn response_start(number: &Value) -> Vec<u8> {
    let mut out = b"{\"data\":[[".to_vec();
    serde_json::to_writer(&mut out, number).expect("serialising to a Vec cannot fail");
    out.push(b',');
    out
}

/// Closes a one-row answer begun with [`response_start`] and its value.
pub fn response_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"]]}");
}

/// Writes the answer `{"data":[[n, value], ...]}` from each row's number and its value, the
/// values already serialised (pages are written as JSON straight from SYSPRO's rows).
pub fn write_response(results: &[(Value, Vec<u8>)]) -> Vec<u8> {
    let values: usize = results.iter().map(|(_, v)| v.len() + 32).sum();
    let mut out = Vec::with_capacity(values + 16);
    out.extend_from_slice(b"{\"data\":[");
    for (i, (n, v)) in results.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        serde_json::to_writer(&mut out, n).expect("serialising to a Vec cannot fail");
        out.push(b',');
        out.extend_from_slice(v);
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_round_trip() {
        let rows = parse_batch(
            br#"{"data":[[0,"ApInvoice","2026-11-01",null],[1,"ArCustomer",null,null]]}"#,
            3,
            "SYSPRO_PULL",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(text_arg(&rows[0], 1, "since").unwrap(), Some("2026-11-01"));
        assert_eq!(text_arg(&rows[1], 2, "cursor").unwrap(), None);
        let out = write_response(&[
            (
                rows[0].number.clone(),
                json!({"a":1}).to_string().into_bytes(),
            ),
            (rows[1].number.clone(), b"null".to_vec()),
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"data":[[0,{"a":1}],[1,null]]}"#
        );
        let mut one = response_start(&rows[1].number);
        one.extend_from_slice(b"{\"b\":[]}");
        response_end(&mut one);
        assert_eq!(
            one,
            write_response(&[(rows[1].number.clone(), b"{\"b\":[]}".to_vec())])
        );
    }

    #[test]
    fn malformed_batches_say_what_is_wrong() {
        assert!(
            parse_batch(b"{}", 3, "SYSPRO_PULL")
                .unwrap_err()
                .contains("external-function JSON")
        );
        assert!(
            parse_batch(br#"{"data":[[0,"ApInvoice"]]}"#, 3, "SYSPRO_PULL")
                .unwrap_err()
                .contains("takes 3")
        );
        assert!(
            parse_batch(
                br#"{"data":[["x","ApInvoice",null,null]]}"#,
                3,
                "SYSPRO_PULL"
            )
            .unwrap_err()
            .contains("row number")
        );
        let rows = parse_batch(br#"{"data":[[0,5,null,null]]}"#, 3, "SYSPRO_PULL").unwrap();
        assert!(text_arg(&rows[0], 0, "table").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_batch(&body, 3, "SYSPRO_PULL");
        }
    }
}
