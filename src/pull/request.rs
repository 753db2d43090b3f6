//! What a call asked for, once checked: a [`PreparedPull`], or the [`BadRequest`] saying which
//! argument is wrong and how to fix it.

use std::sync::Arc;

use chrono::NaiveDate;

use super::cursor::{CursorError, CursorFunction, CursorState};
use super::keyset::KeySet;
use crate::catalog::{TableDef, UnknownTable};
use crate::watermark::{BadTimestamp, Since, Until};

/// A caller mistake: answered with 400 before anything is asked of SYSPRO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error(transparent)]
    UnknownTable(#[from] UnknownTable),
    /// An unqualified table name in a deployment that reads several companies.
    #[error(
        "table '{table}' is ambiguous: this service reads companies {}; name one: {}",
        companies.join(", "),
        companies.iter().map(|c| format!("{c}.{table}")).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousTable {
        table: String,
        companies: Vec<String>,
    },
    /// A qualified name whose company this service does not read.
    #[error(
        "table '{requested}': {}",
        unknown_company(company, requested, companies)
    )]
    UnknownCompany {
        requested: String,
        company: String,
        companies: Vec<String>,
    },
    #[error(transparent)]
    Timestamp(#[from] BadTimestamp),
    #[error("{table} is read whole (it has no watermark column), so since must be NULL")]
    SinceOnWholeTable { table: String },
    #[error("{table} is read whole (it has no watermark column), so it cannot be pulled by range")]
    RangeOnWholeTable { table: String },
    #[error("until {until} must be later than since {since}")]
    EmptyRange { since: String, until: String },
    #[error(
        "{table} has no open-items filter, so there is nothing to re-read: its changes move its watermark or it is read whole; set [tables.{table}] open_items = \"Column op value\" to give it one"
    )]
    NoOpenItems { table: String },
    /// The `keys` argument of `SYSPRO_PULL_KEYS` (see [`KeySet::parse`]).
    #[error("{0}")]
    Keys(String),
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error("{table} is read whole (no watermark column): reconcile it with NULL periods")]
    PeriodsOnWholeTable { table: String },
    #[error("period_to {to} must be later than period_from {from}")]
    EmptyPeriod { from: NaiveDate, to: NaiveDate },
}

impl BadRequest {
    /// The argument the caller has to change, as the function's signature names it.
    pub fn argument(&self) -> &'static str {
        match self {
            BadRequest::UnknownTable(_)
            | BadRequest::AmbiguousTable { .. }
            | BadRequest::UnknownCompany { .. }
            | BadRequest::RangeOnWholeTable { .. }
            | BadRequest::NoOpenItems { .. } => "table",
            BadRequest::Timestamp(e) => e.argument,
            BadRequest::SinceOnWholeTable { .. } => "since",
            BadRequest::EmptyRange { .. } => "until",
            BadRequest::Keys(_) => "keys",
            BadRequest::Cursor(_) => "cursor",
            BadRequest::PeriodsOnWholeTable { .. } => "period_from",
            BadRequest::EmptyPeriod { .. } => "period_to",
        }
    }
}

/// Why a company is not known, and what to call the table instead.
fn unknown_company(company: &str, requested: &str, companies: &[String]) -> String {
    if companies.iter().all(String::is_empty) {
        let table = requested.split_once('.').map_or(requested, |(_, t)| t);
        format!(
            "this service reads one company (no [companies.*] configured), so tables are not qualified: call it '{}'",
            table.trim()
        )
    } else {
        format!(
            "company '{company}' is not one this service reads ({}); configure it as [companies.{}] or name one of these",
            companies.join(", "),
            company.to_ascii_uppercase()
        )
    }
}

/// What a pull returns (CONTRACT.md §3, §3.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// `SYSPRO_PULL` / `SYSPRO_PULL_RANGE`: rows since a watermark.
    Rows,
    /// `SYSPRO_KEYS`: the key of every row.
    Keys,
    /// `SYSPRO_PULL_OPEN`: the rows the table's open-items filter names.
    Open,
    /// `SYSPRO_DIGESTS`: the key and digest of every row.
    Digests,
    /// `SYSPRO_PULL_KEYS`: the rows with these keys.
    ByKeys(Arc<KeySet>),
}

impl Mode {
    pub fn cursor_function(&self) -> CursorFunction {
        match self {
            Mode::Rows => CursorFunction::Pull,
            Mode::Keys => CursorFunction::Keys,
            Mode::Open => CursorFunction::PullOpen,
            Mode::Digests => CursorFunction::Digests,
            Mode::ByKeys(_) => CursorFunction::PullKeys,
        }
    }

    /// The external function, for logs and spans.
    pub fn sql_name(&self) -> &'static str {
        self.cursor_function().sql_name()
    }
}

/// What was asked, checked and resolved against the catalog; no I/O has happened yet.
#[derive(Debug, Clone)]
pub struct PreparedPull {
    /// The company read (`""` for a single-company deployment).
    pub company: String,
    /// The canonical qualified name (`UK1.ApInvoice`, or `ApInvoice` for company `""`): what
    /// the answer's `table` says and the cursor is bound to.
    pub name: String,
    /// The catalog's table, as SYSPRO is asked for it.
    pub table: TableDef,
    pub since: Option<Since>,
    /// Exclusive upper bound (parallel backfill ranges).
    pub until: Option<Until>,
    /// Ordered by the key alone (keys and digests).
    pub keys_only: bool,
    pub mode: Mode,
    /// The cursor the call continues from; `None` for a first page.
    pub state: Option<CursorState>,
}

impl PreparedPull {
    /// The pull's poll id: its cursor's, or a new one for a first page.
    pub fn poll_id(&self) -> String {
        self.state
            .as_ref()
            .map(|s| s.poll_id.clone())
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
    }

    /// The number of the page this call answers (1-based).
    pub fn page(&self) -> u32 {
        self.state.as_ref().map(|s| s.page).unwrap_or(1)
    }
}

/// What a cursor is bound to: `since`, or `since..until` for a range.
pub(super) fn range_binding(since: Option<Since>, until: Option<Until>) -> Option<String> {
    match (since, until) {
        (s, Some(u)) => Some(format!(
            "{}..{}",
            s.map(|s| s.canonical()).unwrap_or_default(),
            u.canonical()
        )),
        (s, None) => s.map(|s| s.canonical()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_names_its_argument() {
        let until = BadRequest::from(Until::parse("soon").unwrap_err());
        assert_eq!(until.argument(), "until");
        assert!(until.to_string().starts_with("until \"soon\""), "{until}");
        let from = BadRequest::from(
            crate::watermark::parse_timestamp_argument("period_from", "x").unwrap_err(),
        );
        assert_eq!(from.argument(), "period_from");
        assert_eq!(
            BadRequest::from(CursorError::Malformed).argument(),
            "cursor"
        );
        let empty = BadRequest::EmptyRange {
            since: "2026-11-02T00:00:00".into(),
            until: "2026-11-01T00:00:00".into(),
        };
        assert_eq!(
            empty.to_string(),
            "until 2026-11-01T00:00:00 must be later than since 2026-11-02T00:00:00"
        );
    }
}
