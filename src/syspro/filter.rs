//! OData `$filter` text built from typed values only: a literal is made from a parsed date, a
//! validated number or an escaped string, so no user text reaches SYSPRO's URL unparsed.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::schema::Column;
pub use crate::catalog::is_plain_number;
use crate::watermark::parse_record_timestamp;

/// An OData v4 literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    /// Digits as SYSPRO sent them; checked to be a plain decimal.
    Number(String),
    /// `Edm.DateTimeOffset`: written with `Z` because SYSPRO's naive datetimes are returned that
    /// way (syspro.md §5.4: build literals in the form the service returns).
    DateTimeOffset(NaiveDateTime),
    /// `Edm.DateTimeOffset` written with the zone suffix the service itself uses (`Z`,
    /// `+02:00`): the wall clock SYSPRO stored, denoting the instant SYSPRO compares with
    /// (CONTRACT.md §3.2). Never shifted.
    DateTimeZoned(NaiveDateTime, String),
    /// `Edm.Date`.
    Date(NaiveDate),
    Bool(bool),
}

impl Literal {
    pub fn render(&self) -> String {
        match self {
            Literal::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Literal::Number(n) => n.clone(),
            Literal::DateTimeOffset(ts) => format!("{}Z", crate::watermark::format_naive(*ts)),
            Literal::DateTimeZoned(ts, zone) => {
                format!("{}{zone}", crate::watermark::format_naive(*ts))
            }
            Literal::Date(d) => d.format("%Y-%m-%d").to_string(),
            Literal::Bool(b) => b.to_string(),
        }
    }

    /// This literal in the zone form `zone` (`Z`, `+02:00`) when it is a date-time; an unknown
    /// form (`None`, or not a zone) keeps `Z`.
    pub fn in_zone(self, zone: Option<&str>) -> Literal {
        match (self, zone) {
            (Literal::DateTimeOffset(ts), Some(z)) if is_zone(z) && z != "Z" => {
                Literal::DateTimeZoned(ts, z.to_string())
            }
            (other, _) => other,
        }
    }

    /// The literal for `since` on the watermark column, in the column's own type.
    pub fn for_timestamp(column: &Column, ts: NaiveDateTime) -> Result<Literal, String> {
        match column.edm_type.as_str() {
            "Edm.DateTimeOffset" | "Edm.DateTime" => Ok(Literal::DateTimeOffset(ts)),
            // A date column compared with a date: `ge` the day itself keeps the bound inclusive.
            "Edm.Date" => Ok(Literal::Date(ts.date())),
            other => Err(format!(
                "watermark column {} is {other}, not a date; set [tables.<Name>] watermark_column to a date column",
                column.name
            )),
        }
    }

    /// The literal for a value taken from a normalised record (keyset paging).
    pub fn from_record_value(column: &Column, value: &Value) -> Result<Literal, String> {
        let bad = || {
            format!(
                "column {} holds {value} which cannot be compared as {}",
                column.name, column.edm_type
            )
        };
        match (column.edm_type.as_str(), value) {
            ("Edm.String" | "Edm.Guid", Value::String(s)) => Ok(Literal::Text(s.clone())),
            ("Edm.Boolean", Value::Bool(b)) => Ok(Literal::Bool(*b)),
            (_, Value::Number(n)) if column.is_numeric() => {
                let text = n.to_string();
                if is_plain_number(&text) {
                    Ok(Literal::Number(text))
                } else {
                    Err(bad())
                }
            }
            ("Edm.Date", Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Literal::Date)
                .map_err(|_| bad()),
            ("Edm.DateTimeOffset" | "Edm.DateTime", Value::String(s)) => parse_record_timestamp(s)
                .map(Literal::DateTimeOffset)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

/// `Z` or `±hh:mm`.
pub fn is_zone(z: &str) -> bool {
    let b = z.as_bytes();
    z == "Z"
        || (b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit()
            && b[3] == b':'
            && b[4].is_ascii_digit()
            && b[5].is_ascii_digit())
}

/// `column ge literal`.
pub fn at_least(column: &str, lit: &Literal) -> String {
    format!("{column} ge {}", lit.render())
}

/// `column lt literal`.
pub fn before(column: &str, lit: &Literal) -> String {
    format!("{column} lt {}", lit.render())
}

/// Rows strictly after `values` in the order of `columns` (a lexicographic "row value" compare,
/// spelled out because OData has no tuple comparison), led by a plain range on the first column
/// so that SQL Server can seek its index instead of scanning:
/// `c1 ge v1 and (c1 gt v1 or (c1 eq v1 and (c2 gt v2 or (c2 eq v2 and c3 gt v3))))`.
pub fn strictly_after(columns: &[&str], values: &[Literal]) -> String {
    assert_eq!(columns.len(), values.len(), "one value per order column");
    let mut expr = String::new();
    let last = columns.len() - 1;
    for (i, (c, v)) in columns.iter().zip(values).enumerate() {
        let lit = v.render();
        if i == last {
            expr.push_str(&format!("{c} gt {lit}"));
        } else {
            expr.push_str(&format!("({c} gt {lit} or ({c} eq {lit} and "));
        }
    }
    for _ in 0..last {
        expr.push_str("))");
    }
    if last > 0 {
        expr = format!("{} ge {} and {expr}", columns[0], values[0].render());
    }
    expr
}

/// Joins clauses with `and`, each parenthesised.
pub fn all_of(clauses: &[String]) -> Option<String> {
    match clauses.len() {
        0 => None,
        1 => Some(clauses[0].clone()),
        _ => Some(
            clauses
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" and "),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            edm_type: ty.into(),
            nullable: false,
            max_length: None,
            precision: None,
            scale: None,
        }
    }

    fn ts(s: &str) -> NaiveDateTime {
        parse_record_timestamp(s).unwrap()
    }

    #[test]
    fn since_literals_follow_the_column_type() {
        let t = ts("2026-11-01T00:00:00");
        assert_eq!(
            Literal::for_timestamp(&col("JournalDate", "Edm.DateTimeOffset"), t)
                .unwrap()
                .render(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(
            Literal::for_timestamp(&col("JournalDate", "Edm.Date"), t)
                .unwrap()
                .render(),
            "2026-11-01"
        );
        assert!(Literal::for_timestamp(&col("Invoice", "Edm.String"), t).is_err());
        assert_eq!(
            at_least(
                "JournalDate",
                &Literal::DateTimeOffset(ts("2026-11-01T10:20:30.5"))
            ),
            "JournalDate ge 2026-11-01T10:20:30.500Z"
        );
    }

    #[test]
    fn literals_take_the_zone_the_service_writes() {
        let lit = Literal::DateTimeOffset(ts("2026-11-02T00:00:00"));
        assert_eq!(
            lit.clone().in_zone(Some("+02:00")).render(),
            "2026-11-02T00:00:00+02:00"
        );
        assert_eq!(
            lit.clone().in_zone(Some("Z")).render(),
            "2026-11-02T00:00:00Z"
        );
        assert_eq!(lit.clone().in_zone(None).render(), "2026-11-02T00:00:00Z");
        assert_eq!(
            lit.in_zone(Some("' or 1 eq 1")).render(),
            "2026-11-02T00:00:00Z"
        );
        assert_eq!(
            Literal::Text("a".into()).in_zone(Some("+02:00")).render(),
            "'a'"
        );
    }

    #[test]
    fn strings_are_escaped_not_interpolated() {
        let lit = Literal::from_record_value(
            &col("Supplier", "Edm.String"),
            &json!("O'Brien' or 1 eq 1 or 'x"),
        )
        .unwrap();
        assert_eq!(lit.render(), "'O''Brien'' or 1 eq 1 or ''x'");
    }

    #[test]
    fn numbers_must_be_numbers() {
        let c = Column {
            precision: Some(14),
            scale: Some(2),
            ..col("OrigInvValue", "Edm.Decimal")
        };
        let n: serde_json::Value = serde_json::from_str("12345678901.23").unwrap();
        assert_eq!(
            Literal::from_record_value(&c, &n).unwrap().render(),
            "12345678901.23"
        );
        assert!(Literal::from_record_value(&c, &json!("12 or 1 eq 1")).is_err());
        assert!(is_plain_number("-1.5e3") && !is_plain_number("1.") && !is_plain_number("--1"));
    }

    #[test]
    fn keyset_filter_is_lexicographic() {
        let f = strictly_after(
            &["JournalDate", "Supplier", "Invoice"],
            &[
                Literal::DateTimeOffset(ts("2026-11-01T00:00:00")),
                Literal::Text("ACME".into()),
                Literal::Text("000123".into()),
            ],
        );
        assert_eq!(
            f,
            "JournalDate ge 2026-11-01T00:00:00Z and (JournalDate gt 2026-11-01T00:00:00Z or (JournalDate eq 2026-11-01T00:00:00Z and (Supplier gt 'ACME' or (Supplier eq 'ACME' and Invoice gt '000123'))))"
        );
        assert_eq!(
            strictly_after(&["StockCode"], &[Literal::Text("A".into())]),
            "StockCode gt 'A'"
        );
    }
}
