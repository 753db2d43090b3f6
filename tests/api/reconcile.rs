//! `SYSPRO_RECONCILE`: row counts and exact sums per day of the watermark column.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::helpers::*;

/// The same figures computed straight from the simulator's records.
fn expected(
    rows: &[Map<String, Value>],
    period_col: Option<&str>,
    measures: &[&str],
    split: Option<&str>,
    from: &str,
    to: &str,
) -> Value {
    let mut periods: BTreeMap<String, (u64, BTreeMap<String, Decimal>)> = BTreeMap::new();
    for r in rows {
        let period = match period_col {
            Some(c) => {
                let d = r[c].as_str().unwrap()[..10].to_string();
                if d.as_str() < from || d.as_str() >= to {
                    continue;
                }
                d
            }
            None => "all".into(),
        };
        let e = periods.entry(period).or_default();
        e.0 += 1;
        for m in measures {
            if let Value::Number(n) = &r[*m] {
                let v = Decimal::from_str(n.as_str()).unwrap();
                *e.1.entry(m.to_string()).or_default() += v;
                if let Some(s) = split {
                    *e.1.entry(format!("{m}:{}", r[s].as_str().unwrap()))
                        .or_default() += v;
                }
            }
        }
    }
    Value::Array(
        periods
            .into_iter()
            .map(|(p, (n, sums))| {
                let sums: Map<String, Value> = sums
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::from_str(&v.normalize().to_string()).unwrap()))
                    .collect();
                json!({"period": p, "row_count": n, "sums": sums})
            })
            .collect(),
    )
}

#[tokio::test]
async fn reconciliation_figures_equal_syspro_exactly_through_both_transports() {
    for transport in ["odata", "enet"] {
        let app = spawn_app(AppOptions {
            transport,
            page_rows: 300,
            ..Default::default()
        })
        .await;
        let v = app
            .caller
            .call(
                "/v1/reconcile",
                vec![json!("ApInvoice"), json!("2026-09-01"), json!("2026-12-01")],
            )
            .await;
        assert!(v.get("error").is_none(), "{v}");
        let want = expected(
            &app.sim.expected_records("ApInvoice"),
            Some("JournalDate"),
            &["OrigInvValue", "MthInvBal1"],
            None,
            "2026-09-01",
            "2026-12-01",
        );
        assert_eq!(v["periods"], want, "{transport}");

        let v = app
            .caller
            .call(
                "/v1/reconcile",
                vec![
                    json!("GenJournalDetail"),
                    json!("2026-11-01"),
                    json!("2026-11-20"),
                ],
            )
            .await;
        let want = expected(
            &app.sim.expected_records("GenJournalDetail"),
            Some("EntryDate"),
            &["EntryValue"],
            Some("EntryType"),
            "2026-11-01",
            "2026-11-20",
        );
        assert_eq!(v["periods"], want, "{transport}");

        let v = app
            .caller
            .call(
                "/v1/reconcile",
                vec![json!("InvWarehouse"), Value::Null, Value::Null],
            )
            .await;
        let want = expected(
            &app.sim.expected_records("InvWarehouse"),
            None,
            &["QtyOnHand", "QtyAllocated", "UnitCost"],
            None,
            "",
            "",
        );
        assert_eq!(v["periods"], want, "{transport}");
    }
}

#[tokio::test]
async fn reconciliation_refuses_bad_periods_before_asking_syspro() {
    let app = spawn_app(AppOptions::default()).await;
    for (args, needle) in [
        (json!([0, "ArCustomer", "2026-11-01", null]), "NULL periods"),
        (
            json!([0, "ApInvoice", "2026-11-01", "2026-10-01"]),
            "later than",
        ),
        (json!([0, "ApInvoice", "November", null]), "period_from"),
    ] {
        let a = app
            .caller
            .post_raw(
                "/v1/reconcile",
                serde_json::to_vec(&json!({"data": [args]})).unwrap(),
                "b",
                Some(SECRET),
            )
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(
            a.body["error"].as_str().unwrap().contains(needle),
            "{}",
            a.body
        );
    }
    assert!(app.sim.requests().is_empty());
}
