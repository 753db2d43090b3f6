//! The page contract: what one call returns ([`Page`], or a [`PullFailure`]) and the one rule
//! for where the next page starts and whether there is one. Pulls, key runs, the read-ahead and
//! reconciliation all page by it.
//!
//! Exactly-once across pages comes from a total order — (watermark, key...), or the key alone —
//! and resuming strictly after the last row returned, whichever way SYSPRO pages.

use serde_json::{Map, Value};

use crate::retry::UpstreamError;
use crate::syspro::{Paging, Position, Rows};

/// One page of a pull.
#[derive(Debug)]
pub struct Page {
    /// The canonical qualified name (`UK1.ApInvoice`; `ApInvoice` for company `""`).
    pub table: String,
    /// The company read; `""` in a single-company deployment (and then not in the value).
    pub company: String,
    pub poll_id: String,
    pub page: u32,
    pub fetched_at: String,
    pub since: Option<String>,
    pub rows: Rows,
    pub next_cursor: Option<String>,
    pub high_water: Option<String>,
    pub key_columns: Vec<String>,
    pub watermark_column: Option<String>,
    pub attempts: u32,
    /// `SYSPRO_PULL_KEYS`: requested keys SYSPRO does not have.
    pub missing: Option<Vec<Value>>,
    /// `SYSPRO_PULL_OPEN`: the filter the rows were read with.
    pub open_items: Option<String>,
}

/// SYSPRO kept failing: becomes an error row (`values::error_row`), so the procedure can audit it.
#[derive(Debug)]
pub struct PullFailure {
    pub error: UpstreamError,
    /// The canonical qualified name.
    pub table: String,
    pub company: String,
    pub poll_id: String,
}

impl PullFailure {
    /// `error` ended the pull `p` (poll `poll_id`).
    pub fn of(p: &super::request::PreparedPull, poll_id: &str, error: UpstreamError) -> Self {
        PullFailure {
            error,
            table: p.name.clone(),
            company: p.company.clone(),
            poll_id: poll_id.to_string(),
        }
    }
}

/// Whether rows may follow a SYSPRO answer, from what the answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follows {
    /// The answer was empty: the read is done.
    Nothing,
    /// SYSPRO paged the answer itself, the page was full, or it was the last page SYSPRO's own
    /// links led to: continue after its last row (an empty answer there ends the read).
    More,
    /// A short page without a next link proves nothing: servers cap pages without saying so
    /// (CONTRACT.md §3.2). Only a read after the last row tells.
    Unproven,
}

/// The rule every reader pages by: `answered` rows came back for a request of `asked`;
/// `linked` when the answer carried a next link, `read_by_link` when the request was one.
pub fn follows(answered: usize, asked: usize, linked: bool, read_by_link: bool) -> Follows {
    if linked {
        Follows::More
    } else if answered == 0 {
        Follows::Nothing
    } else if read_by_link || answered >= asked {
        Follows::More
    } else {
        Follows::Unproven
    }
}

/// Where the page after a page whose last row is `last` starts: after that row's values of the
/// read's `order` columns, or, paging by `$skip`, after the `delivered` rows returned so far.
pub fn position_after(
    paging: Paging,
    order: &[String],
    last: &Map<String, Value>,
    delivered: u64,
) -> Position {
    match paging {
        Paging::Keyset => Position::After {
            values: order
                .iter()
                .map(|c| last.get(c).cloned().unwrap_or(Value::Null))
                .collect(),
        },
        Paging::Skip => Position::Offset { rows: delivered },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_empty_answer_or_a_read_after_the_last_row_ends_a_read() {
        assert_eq!(follows(0, 100, false, false), Follows::Nothing);
        assert_eq!(follows(100, 100, false, false), Follows::More);
        assert_eq!(follows(3, 100, true, false), Follows::More);
        assert_eq!(follows(0, 100, true, false), Follows::More);
        assert_eq!(follows(3, 100, false, true), Follows::More);
        assert_eq!(follows(99, 100, false, false), Follows::Unproven);
    }

    #[test]
    fn the_next_page_starts_after_the_last_row() {
        let last: Map<String, Value> =
            serde_json::from_value(json!({"D": "2026-11-03T00:00:00", "K": "A", "X": 1})).unwrap();
        let order = ["D".to_string(), "K".to_string(), "Missing".to_string()];
        assert_eq!(
            position_after(Paging::Keyset, &order, &last, 7),
            Position::After {
                values: vec![json!("2026-11-03T00:00:00"), json!("A"), Value::Null]
            }
        );
        assert_eq!(
            position_after(Paging::Skip, &order, &last, 7),
            Position::Offset { rows: 7 }
        );
    }
}
