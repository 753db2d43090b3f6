//! Serde mirrors of the SQL API v2 JSON (snowflake.md §3). Nothing outside this file knows the
//! field spellings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/v2/statements` body.
#[derive(Debug, Serialize)]
pub struct StatementRequest<'a> {
    pub statement: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    /// 1-based string keys; not allowed in multi-statement requests.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bindings: BTreeMap<String, Binding>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<&'static str, String>,
}

/// One bound value: the type and the value as text (null for SQL NULL).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Binding {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Option<String>,
}

/// 200 (`ResultSet`), 202 (`QueryStatus`), 408/422 (`QueryFailureStatus`) and error bodies
/// share these fields; each answer fills some of them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementResponse {
    pub code: Option<String>,
    pub message: Option<String>,
    pub sql_state: Option<String>,
    pub statement_handle: Option<String>,
    /// Multi-statement requests: one handle per statement, in order.
    pub statement_handles: Option<Vec<String>>,
    pub statement_status_url: Option<String>,
    pub result_set_meta_data: Option<ResultSetMetaData>,
    pub data: Option<Vec<Vec<Value>>>,
    pub stats: Option<Stats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSetMetaData {
    pub num_rows: Option<u64>,
    pub format: Option<String>,
    #[serde(default)]
    pub row_type: Vec<RowType>,
    #[serde(default)]
    pub partition_info: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RowType {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionInfo {
    pub row_count: Option<u64>,
    pub uncompressed_size: Option<u64>,
    pub compressed_size: Option<u64>,
}

/// DML counts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub num_rows_inserted: Option<u64>,
    pub num_rows_updated: Option<u64>,
    pub num_rows_deleted: Option<u64>,
    pub num_duplicate_rows_updated: Option<u64>,
}

/// A partition ≥ 1 carries rows only. The docs do not show whether they come wrapped in
/// `{"data": ...}` or as a bare array (UNCONFIRMED), so both are read.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PartitionBody {
    Wrapped { data: Vec<Vec<Value>> },
    Bare(Vec<Vec<Value>>),
}

impl PartitionBody {
    pub fn into_rows(self) -> Vec<Vec<Value>> {
        match self {
            PartitionBody::Wrapped { data } | PartitionBody::Bare(data) => data,
        }
    }
}

/// A result cell as text: the API sends every value as a JSON string, null for NULL.
pub fn cell_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_read_in_both_shapes() {
        let wrapped: PartitionBody = serde_json::from_str(r#"{"data": [["1", null]]}"#).unwrap();
        let bare: PartitionBody = serde_json::from_str(r#"[["1", null]]"#).unwrap();
        assert_eq!(wrapped.into_rows(), bare.into_rows());
    }

    #[test]
    fn a_result_set_parses() {
        let body = r#"{"resultSetMetaData":{"numRows":1,"format":"jsonv2","rowType":[{"name":"number of rows inserted","type":"fixed"}],"partitionInfo":[{"rowCount":1,"uncompressedSize":10}]},"data":[["3"]],"code":"090001","statementStatusUrl":"/api/v2/statements/h?requestId=r","sqlState":"00000","statementHandle":"h","message":"Statement executed successfully.","createdOn":1,"stats":{"numRowsInserted":3}}"#;
        let r: StatementResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.statement_handle.as_deref(), Some("h"));
        assert_eq!(r.stats.unwrap().num_rows_inserted, Some(3));
        let meta = r.result_set_meta_data.unwrap();
        assert_eq!(meta.row_type[0].name, "number of rows inserted");
        assert_eq!(cell_text(&r.data.unwrap()[0][0]).as_deref(), Some("3"));
    }

    #[test]
    fn bindings_serialise_with_one_based_keys() {
        let mut bindings = BTreeMap::new();
        bindings.insert(
            "1".to_string(),
            Binding {
                kind: "TEXT",
                value: None,
            },
        );
        let req = StatementRequest {
            statement: "select ?",
            timeout: Some(60),
            database: None,
            schema: None,
            warehouse: Some("WH"),
            role: None,
            bindings,
            parameters: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"statement":"select ?","timeout":60,"warehouse":"WH","bindings":{"1":{"type":"TEXT","value":null}}}"#
        );
    }
}
