//! Reconciliation figures from SYSPRO: per day of a table's watermark column (or one period for
//! tables read whole), the row count and exact sums of its money and quantity columns.
//!
//! SYSPRO's OData `$apply` aggregation is UNCONFIRMED, so the figures are computed by streaming
//! only the columns they need through the same keyset pages as a pull; sums use exact decimals.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::engine::Puller;
use super::page::{Follows, follows, position_after};
use super::request::BadRequest;
use crate::catalog::TableDef;
use crate::retry::UpstreamError;
use crate::syspro::{FetchRequest, Paging, Position};
use crate::watermark::{Since, Until, parse_record_timestamp, parse_timestamp_argument};

/// A checked `SYSPRO_RECONCILE(table, period_from, period_to)` call.
#[derive(Debug, Clone)]
pub struct PreparedReconcile {
    /// The company read (`""` for a single-company deployment).
    pub company: String,
    /// The canonical qualified name.
    pub name: String,
    pub table: TableDef,
    /// Inclusive first day.
    pub from: Option<NaiveDate>,
    /// Exclusive last day.
    pub to: Option<NaiveDate>,
}

/// Per-period figures.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    pub row_count: u64,
    /// Sum per measure, and per `measure:split value` when the table has a split column.
    pub sums: BTreeMap<String, Decimal>,
}

pub fn prepare(
    puller: &Puller,
    table: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<PreparedReconcile, BadRequest> {
    let r = puller.resolve(table)?;
    let (company, name, table) = (r.company.id().to_string(), r.name, r.table);
    let day = |argument: &'static str, v: Option<&str>| -> Result<Option<NaiveDate>, BadRequest> {
        match v.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(t) => Ok(Some(parse_timestamp_argument(argument, t)?.date())),
        }
    };
    let from = day("period_from", from)?;
    let to = day("period_to", to)?;
    if table.watermark_column.is_none() && (from.is_some() || to.is_some()) {
        return Err(BadRequest::PeriodsOnWholeTable { table: name });
    }
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(BadRequest::EmptyPeriod { from, to });
    }
    Ok(PreparedReconcile {
        company,
        name,
        table,
        from,
        to,
    })
}

/// Streams the table's measure columns and adds them up per day.
pub async fn compute(
    puller: &Puller,
    p: &PreparedReconcile,
) -> Result<BTreeMap<String, Figures>, UpstreamError> {
    let company = puller
        .company(&p.company)
        .expect("prepared against this engine's companies");
    let schema = company.source().schema(&p.table).await?;
    let mut columns: Vec<String> = p.table.key_columns.clone();
    columns.extend(p.table.watermark_column.iter().cloned());
    columns.extend(p.table.reconcile_split.iter().cloned());
    columns.extend(p.table.reconcile_measures.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    columns.retain(|c| seen.insert(c.clone()));
    let since = p.from.map(|d| Since(d.and_time(chrono::NaiveTime::MIN)));
    let until = p.to.map(|d| Until(d.and_time(chrono::NaiveTime::MIN)));
    let order: Vec<String> = p
        .table
        .order_columns()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut periods: BTreeMap<String, Figures> = BTreeMap::new();
    let mut position: Option<Position> = None;
    loop {
        let limit = company.effective_page_rows();
        let req = FetchRequest {
            table: &p.table,
            schema: &schema,
            since,
            until,
            position: position.as_ref(),
            limit,
            paging: Paging::Keyset,
            columns: Some(&columns),
            key_order_only: false,
            open_items: false,
            keys: None,
        };
        let page = company.fetch_limited(&req).await?;
        let n = page.rows.len();
        for i in 0..n {
            let row = &page.rows.record(i);
            let period = match p.table.watermark_column.as_deref() {
                Some(wm) => row
                    .get(wm)
                    .and_then(Value::as_str)
                    .and_then(parse_record_timestamp)
                    .map(|t| t.date().to_string())
                    .unwrap_or_else(|| "unknown".into()),
                None => "all".into(),
            };
            add_row(periods.entry(period).or_default(), &p.table, row);
        }
        match follows(n, limit, page.next_link.is_some(), false) {
            Follows::Nothing => break,
            // A short page proves nothing (servers cap pages silently, CONTRACT.md §3.2): the
            // next read is the one that settles it, and only an empty answer ends the table.
            Follows::More | Follows::Unproven => {}
        }
        let Some(last) = n.checked_sub(1).map(|i| page.rows.record(i)) else {
            break;
        };
        position = Some(position_after(Paging::Keyset, &order, &last, 0));
    }
    Ok(periods)
}

fn add_row(f: &mut Figures, table: &TableDef, row: &Map<String, Value>) {
    f.row_count += 1;
    let split = table
        .reconcile_split
        .as_deref()
        .and_then(|c| row.get(c))
        .and_then(Value::as_str)
        .map(str::to_string);
    for m in &table.reconcile_measures {
        let value = match row.get(m) {
            Some(Value::Number(n)) => Decimal::from_str(n.as_str())
                .or_else(|_| Decimal::from_scientific(n.as_str()))
                .ok(),
            Some(Value::String(s)) => Decimal::from_str(s.trim()).ok(),
            _ => None,
        };
        if let Some(v) = value {
            *f.sums.entry(m.clone()).or_default() += v;
            if let Some(s) = &split {
                *f.sums.entry(format!("{m}:{s}")).or_default() += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn sums_are_exact_and_split() {
        let table = Catalog::built_in().get("GenJournalDetail").unwrap().clone();
        let mut f = Figures::default();
        for (ty, v) in [
            ("D", "99999999999999.99"),
            ("D", "0.01"),
            ("C", "-12345678901.23"),
        ] {
            let row: Map<String, Value> =
                serde_json::from_str(&format!(r#"{{"EntryType":"{ty}","EntryValue":{v}}}"#))
                    .unwrap();
            add_row(&mut f, &table, &row);
        }
        assert_eq!(f.row_count, 3);
        assert_eq!(f.sums["EntryValue:D"].to_string(), "100000000000000.00");
        assert_eq!(f.sums["EntryValue:C"].to_string(), "-12345678901.23");
        assert_eq!(f.sums["EntryValue"].to_string(), "99987654321098.77");
    }
}
