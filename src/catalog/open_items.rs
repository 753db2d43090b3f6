//! What can change behind a table's watermark, and how a sync finds it (CONTRACT.md §3.1).
//!
//! An *open-items filter* names the rows SYSPRO still changes in place — AP invoices with a
//! balance, purchase orders not yet complete, unposted journal lines — so that every sync cycle
//! can re-read them whole. It is typed: parsed once from `Column op literal [and …]`, then rendered
//! as an OData `$filter`, as a COMFND `Where` group and as Snowflake SQL over a target's `record`,
//! so no configured text reaches SYSPRO or Snowflake unparsed.
//!
//! A *dependent refresh* names child tables whose new rows imply that a parent row changed (a new
//! `ApInvoicePay` row means its `ApInvoice` was paid).

use serde::Serialize;

use super::check_identifier;

/// A comparison in an open-items filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn odata(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }

    /// COMFND's `Condition` element.
    pub fn enet(self) -> &'static str {
        match self {
            Op::Eq => "EQ",
            Op::Ne => "NE",
            Op::Gt => "GT",
            Op::Ge => "GE",
            Op::Lt => "LT",
            Op::Le => "LE",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// A literal an open-items filter compares with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OpenValue {
    Text(String),
    /// A plain decimal, checked digit by digit.
    Number(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub column: String,
    pub op: Op,
    pub value: OpenValue,
}

/// Rows SYSPRO may still change without moving the watermark date: every condition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenItems {
    pub all: Vec<Condition>,
    /// Why we believe this filter names the open rows, or `UNCONFIRMED …`: shown by `tables` and
    /// the README so a site knows what to check.
    pub evidence: String,
}

impl OpenItems {
    /// Parses `Column op literal [and Column op literal …]`: `op` one of eq ne gt ge lt le, a
    /// literal a number or a single-quoted string (`''` for a quote).
    pub fn parse(text: &str, evidence: &str) -> Result<OpenItems, String> {
        let mut rest = text.trim();
        let mut all = Vec::new();
        let usage = "write it as `Column op value [and Column op value ...]` with op one of eq ne gt ge lt le and value a number or a 'quoted string'";
        loop {
            let (column, after) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("open_items {text:?} is incomplete: {usage}"))?;
            check_identifier(column).map_err(|e| format!("open_items {text:?}: {e}"))?;
            let after = after.trim_start();
            let (op, after) = after
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("open_items {text:?} is incomplete: {usage}"))?;
            let op = Op::parse(&op.to_ascii_lowercase()).ok_or_else(|| {
                format!("open_items {text:?}: {op:?} is not an operator; {usage}")
            })?;
            let after = after.trim_start();
            let (value, after) = if let Some(quoted) = after.strip_prefix('\'') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '\'' {
                        if quoted[i + 1..].starts_with('\'') {
                            value.push('\'');
                            chars.next();
                        } else {
                            end = Some(i + 1);
                            break;
                        }
                    } else {
                        value.push(c);
                    }
                }
                let end = end.ok_or_else(|| {
                    format!("open_items {text:?}: a quoted value is not closed; {usage}")
                })?;
                (OpenValue::Text(value), &quoted[end..])
            } else {
                let (token, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
                if !super::is_plain_number(token) {
                    return Err(format!(
                        "open_items {text:?}: {token:?} is neither a number nor a 'quoted string'; {usage}"
                    ));
                }
                (OpenValue::Number(token.to_string()), after)
            };
            all.push(Condition {
                column: column.to_string(),
                op,
                value,
            });
            rest = after.trim();
            if rest.is_empty() {
                break;
            }
            rest = rest
                .strip_prefix("and ")
                .or_else(|| rest.strip_prefix("AND "))
                .ok_or_else(|| {
                    format!("open_items {text:?}: conditions are joined by `and` only; {usage}")
                })?
                .trim_start();
        }
        Ok(OpenItems {
            all,
            evidence: evidence.to_string(),
        })
    }

    /// The filter as written (`MthInvBal1 ne 0`), the form the config and README use — and
    /// OData's `$filter` spelling, which is what it is sent as.
    pub fn text(&self) -> String {
        self.all
            .iter()
            .map(|c| {
                let value = match &c.value {
                    OpenValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
                    OpenValue::Number(n) => n.clone(),
                };
                format!("{} {} {value}", c.column, c.op.odata())
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// Snowflake SQL that is true for a target row SYSPRO would return as open. `record` is the
    /// SQL expression of the row's VARIANT record. A null compared with `ne` counts as open
    /// (OData's `null ne x` is true), so this predicate is never narrower than SYSPRO's: a row it
    /// keeps that SYSPRO drops is re-read by key, which costs a read and loses nothing.
    pub fn sql(&self, record: &str) -> String {
        let parts: Vec<String> = self
            .all
            .iter()
            .map(|c| {
                let (value, literal) = match &c.value {
                    OpenValue::Text(s) => (
                        format!("{record}:\"{}\"::varchar", c.column),
                        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
                    ),
                    OpenValue::Number(n) => (
                        format!("{record}:\"{}\"::number(38, 10)", c.column),
                        n.clone(),
                    ),
                };
                let compare = format!("{value} {} {literal}", c.op.sql());
                if c.op == Op::Ne {
                    format!("({value} is null or {compare})")
                } else {
                    compare
                }
            })
            .collect();
        parts.join(" and ")
    }

    /// Whether a record (as the service returns it) is open: the same reading as
    /// [`OpenItems::sql`], for callers that hold records in Rust (the demo, tests).
    pub fn matches(&self, record: &serde_json::Map<String, serde_json::Value>) -> bool {
        use serde_json::Value;
        self.all.iter().all(|c| {
            let ordering = match (record.get(&c.column), &c.value) {
                (None | Some(Value::Null), _) => return c.op == Op::Ne,
                (Some(Value::String(s)), OpenValue::Text(t)) => s.as_str().cmp(t.as_str()),
                (Some(v), OpenValue::Number(n)) => {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    match (
                        text.parse::<rust_decimal::Decimal>(),
                        n.parse::<rust_decimal::Decimal>(),
                    ) {
                        (Ok(a), Ok(b)) => a.cmp(&b),
                        _ => return c.op == Op::Ne,
                    }
                }
                (Some(other), OpenValue::Text(t)) => other.to_string().as_str().cmp(t.as_str()),
            };
            use std::cmp::Ordering::*;
            match c.op {
                Op::Eq => ordering == Equal,
                Op::Ne => ordering != Equal,
                Op::Gt => ordering == Greater,
                Op::Ge => ordering != Less,
                Op::Lt => ordering == Less,
                Op::Le => ordering != Greater,
            }
        })
    }

    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.all.iter().map(|c| c.column.as_str())
    }
}

/// New rows of `child` imply the parent row they name changed: refresh those parents by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependent {
    pub child: String,
    /// (parent key column, child column holding its value), one per parent key column.
    pub keys: Vec<(String, String)>,
    pub evidence: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_render_three_ways() {
        let f = OpenItems::parse(
            "OrderStatus ne '9' and  CancelledFlag ne 'Y' and X gt -1.5",
            "e",
        )
        .unwrap();
        assert_eq!(f.all.len(), 3);
        assert_eq!(
            f.text(),
            "OrderStatus ne '9' and CancelledFlag ne 'Y' and X gt -1.5"
        );
        assert_eq!(
            f.sql("t.record"),
            "(t.record:\"OrderStatus\"::varchar is null or t.record:\"OrderStatus\"::varchar <> '9') and (t.record:\"CancelledFlag\"::varchar is null or t.record:\"CancelledFlag\"::varchar <> 'Y') and t.record:\"X\"::number(38, 10) > -1.5"
        );
        let q = OpenItems::parse("Ref eq 'O''Brien'", "e").unwrap();
        assert_eq!(q.all[0].value, OpenValue::Text("O'Brien".into()));
        assert_eq!(q.text(), "Ref eq 'O''Brien'");
        assert_eq!(q.sql("r"), "r:\"Ref\"::varchar = 'O''Brien'");
    }

    #[test]
    fn records_match_as_the_sql_reads_them() {
        let f = OpenItems::parse("MthInvBal1 ne 0 and InvoiceStatus ne 'P'", "").unwrap();
        let rec = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert!(f.matches(&rec(
            serde_json::json!({"MthInvBal1": 12.50, "InvoiceStatus": " "})
        )));
        assert!(!f.matches(&rec(
            serde_json::json!({"MthInvBal1": 0.00, "InvoiceStatus": " "})
        )));
        assert!(!f.matches(&rec(
            serde_json::json!({"MthInvBal1": -3, "InvoiceStatus": "P"})
        )));
        assert!(f.matches(&rec(
            serde_json::json!({"MthInvBal1": null, "InvoiceStatus": null})
        )));
        let g = OpenItems::parse("Qty ge 10", "").unwrap();
        assert!(g.matches(&rec(serde_json::json!({"Qty": 10.000}))));
        assert!(!g.matches(&rec(serde_json::json!({"Qty": null}))));
    }

    #[test]
    fn bad_filters_say_how_to_write_them() {
        for bad in [
            "MthInvBal1",
            "MthInvBal1 ne",
            "MthInvBal1 != 0",
            "MthInvBal1 ne 0 or X eq 1",
            "MthInvBal1 ne abc",
            "Mth;Bal ne 0",
            "Ref eq 'open",
            "MthInvBal1 ne 0)",
        ] {
            let err = OpenItems::parse(bad, "").unwrap_err();
            assert!(err.contains("open_items"), "{bad}: {err}");
        }
    }
}
