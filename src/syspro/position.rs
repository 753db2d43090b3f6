//! Where a read of a table resumes, in SYSPRO's terms: the pull engine's cursors carry one of
//! these, signed, between calls.

use serde::{Deserialize, Serialize};

/// How the OData client walks a table when SYSPRO does not page the answer itself.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Paging {
    /// `$filter` past the last row's (watermark, keys): stable while SYSPRO changes under us.
    Keyset,
    /// `$skip`/`$top` with a stable `$orderby`: for services that reject compound filters.
    Skip,
}

/// Where the next page of a read starts. The short wire names keep cursors small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Position {
    /// After this row's values of the read's order columns (`FetchRequest::order_columns`).
    After {
        #[serde(rename = "v")]
        values: Vec<serde_json::Value>,
    },
    /// SYSPRO's own `@odata.nextLink`, as path and query relative to `syspro.odata_url` (never a
    /// host: the link is joined to the configured service and checked again when followed), with
    /// `skip` rows of that page already returned.
    Link {
        #[serde(rename = "rel")]
        relative: String,
        skip: usize,
    },
    /// `$skip` paging: rows already returned.
    Offset {
        #[serde(rename = "n")]
        rows: u64,
    },
}

impl Position {
    /// A label for logs and spans that shows no row values.
    pub fn kind(&self) -> &'static str {
        match self {
            Position::After { .. } => "after",
            Position::Link { .. } => "link",
            Position::Offset { .. } => "offset",
        }
    }
}

/// SYSPRO paged an answer itself: the rest is behind `@odata.nextLink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextLink {
    /// Path and query relative to `syspro.odata_url`: what [`Position::Link`] may carry.
    InService(String),
    /// A link off the configured service; never followed. The text says why.
    Refused(String),
}
