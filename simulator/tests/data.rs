//! Data invariants and mutations (no HTTP).

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use mlc_simulator::{MutationPlan, SimOptions, Simulator};
use serde_json::{Map, Value};

const KEYS: &[(&str, &[&str], Option<&str>)] = &[
    ("ApInvoice", &["Supplier", "Invoice"], Some("JournalDate")),
    (
        "ApInvoicePay",
        &["Supplier", "Invoice", "EntryNumber"],
        Some("JournalDate"),
    ),
    ("ApSupplier", &["Supplier"], None),
    ("PorMasterHdr", &["PurchaseOrder"], Some("OrderEntryDate")),
    ("PorMasterDetail", &["PurchaseOrder", "Line"], None),
    ("GenMaster", &["Company", "GlCode"], None),
    ("GenHistory", &["Company", "GlCode", "GlYear"], None),
    (
        "GenJournalDetail",
        &["GlYear", "GlPeriod", "Journal", "EntryNumber"],
        Some("EntryDate"),
    ),
    ("InvMaster", &["StockCode"], None),
    ("InvWarehouse", &["StockCode", "Warehouse"], None),
    (
        "InvMovements",
        &[
            "StockCode",
            "Warehouse",
            "TrnYear",
            "TrnMonth",
            "EntryDate",
            "TrnTime",
        ],
        Some("EntryDate"),
    ),
    (
        "GrnDetails",
        &["Supplier", "Grn", "GrnSource", "Journal", "JournalEntry"],
        Some("OrigReceiptDate"),
    ),
    ("ArCustomer", &["Customer"], None),
];

fn key_of(r: &Map<String, Value>, key: &[&str]) -> String {
    key.iter()
        .map(|k| r[*k].to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn check_invariants(s: &Simulator) {
    assert_eq!(Simulator::table_names().len(), 13);
    for (t, key, wm) in KEYS {
        assert!(Simulator::table_names().contains(t));
        let rows = s.expected_records(t);
        assert!(!rows.is_empty(), "{t}");
        let keys: BTreeSet<String> = rows.iter().map(|r| key_of(r, key)).collect();
        assert_eq!(keys.len(), rows.len(), "{t}: keys not unique");
        // key columns first in column order
        let cols: Vec<&String> = rows[0].keys().collect();
        for k in *key {
            assert!(cols.iter().any(|c| c == k), "{t}.{k}");
        }
        if let Some(w) = wm {
            let mut days = BTreeSet::new();
            for r in &rows {
                let d = r[*w].as_str().unwrap_or_else(|| panic!("{t}.{w} null"));
                assert!(
                    d.ends_with("T00:00:00"),
                    "{t}.{w} = {d}: business dates are midnight"
                );
                days.insert(d.to_string());
            }
            assert!(
                days.len() * 2 < rows.len(),
                "{t}: many rows must share a watermark value"
            );
            let max = days.iter().next_back().unwrap();
            assert!(max.as_str() <= format!("{}T00:00:00", s.business_date()).as_str());
        }
    }
}

#[test]
fn generated_data_is_consistent_and_deterministic() {
    let a = Simulator::new(SimOptions {
        seed: 9,
        ..Default::default()
    });
    check_invariants(&a);
    let b = Simulator::new(SimOptions {
        seed: 9,
        ..Default::default()
    });
    let c = Simulator::new(SimOptions {
        seed: 10,
        ..Default::default()
    });
    for t in Simulator::table_names() {
        assert_eq!(a.expected_records(t), b.expected_records(t), "{t}");
    }
    assert_ne!(
        a.expected_records("ApInvoice"),
        c.expected_records("ApInvoice")
    );
    assert_eq!(
        a.business_date(),
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    );
    let inv = a.expected_records("ApInvoice");
    assert_eq!(inv.len(), 1500);
    assert!(
        inv.iter()
            .any(|r| serde_json::to_string(&r["OrigInvValue"]).unwrap() == "12345678901.23")
    );
    assert!(inv.iter().any(|r| r["Reference"].is_null()));
    assert!(
        inv.iter()
            .any(|r| r["OrigInvValue"].to_string().ends_with('0'))
    );
    // strings are trimmed in expected records (CHAR padding removed)
    assert!(inv.iter().any(|r| r["Supplier"] == "ACME"));
    assert!(inv.iter().any(|r| r["InvoiceStatus"] == ""));
    let sup = a.expected_records("ApSupplier");
    assert!(
        sup.iter()
            .any(|r| r["SupplierName"] == "Müller Electronics GmbH")
    );
    assert!(
        sup.iter()
            .any(|r| r["SupplierName"].as_str().unwrap().contains("Société"))
    );
    let po = a.expected_records("PorMasterHdr");
    assert!(
        po.iter()
            .all(|r| r["PurchaseOrder"].as_str().unwrap().len() == 15)
    );
    assert!(
        po[0]["PurchaseOrder"]
            .as_str()
            .unwrap()
            .starts_with("0000000000")
    );
    let big = Simulator::new(SimOptions {
        ap_invoice_rows: Some(5_000),
        ..Default::default()
    });
    assert_eq!(big.row_count("ApInvoice"), 5_000);
}

#[test]
fn mutations_follow_the_plan() {
    let s = Simulator::new(SimOptions::default());
    s.advance_days(2);
    let today = s.business_date();
    let lo = today.checked_sub_days(Days::new(4)).unwrap();
    let before: Vec<Vec<Map<String, Value>>> = Simulator::table_names()
        .iter()
        .map(|t| s.expected_records(t))
        .collect();
    let plan = MutationPlan {
        inserts: 4,
        updates: 3,
        backdated: 2,
        deletes: 2,
        backdate_max_days: 4,
        tables: None,
    };
    let rep = s.mutate(&plan);
    let json = serde_json::to_string(&rep).unwrap();
    let back: mlc_simulator::MutationReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rep);
    let plan_json: MutationPlan = serde_json::from_str(r#"{"inserts": 1}"#).unwrap();
    assert_eq!(plan_json.inserts, 1);
    assert_eq!(rep.tables.len(), 13);
    check_invariants(&s);
    for (i, (t, key, wm)) in KEYS.iter().enumerate() {
        let tm = &rep.tables[*t];
        let after = s.expected_records(t);
        let old: BTreeSet<String> = before[i].iter().map(|r| key_of(r, key)).collect();
        let new: BTreeSet<String> = after.iter().map(|r| key_of(r, key)).collect();
        assert_eq!(tm.deleted.len(), 2, "{t}");
        for d in &tm.deleted {
            assert!(
                old.contains(&key_of(d, key)) && !new.contains(&key_of(d, key)),
                "{t}"
            );
        }
        for ins in &tm.inserted {
            let k = key_of(ins, key);
            assert!(!old.contains(&k) && new.contains(&k), "{t}: {k}");
            if let Some(w) = wm {
                let row = after.iter().find(|r| key_of(r, key) == k).unwrap();
                let d = NaiveDate::parse_from_str(&row[*w].as_str().unwrap()[..10], "%Y-%m-%d")
                    .unwrap();
                assert!(d <= today && d >= lo, "{t}: {d}");
            }
        }
        if wm.is_some() {
            assert!(tm.inserted.len() >= 6, "{t}: {}", tm.inserted.len());
        } else if *t != "GenHistory" && *t != "GenMaster" && *t != "InvWarehouse" {
            assert_eq!(tm.inserted.len(), 4, "{t}");
        }
        assert_eq!(tm.updated.len().min(3), tm.updated.len());
        for u in &tm.updated {
            let k = key_of(u, key);
            let a = after.iter().find(|r| key_of(r, key) == k).unwrap();
            let b = before[i].iter().find(|r| key_of(r, key) == k).unwrap();
            assert_ne!(a, b, "{t}: update changed nothing");
            if let Some(w) = wm {
                assert_eq!(a[*w], b[*w], "{t}: watermark changed");
                let d =
                    NaiveDate::parse_from_str(&a[*w].as_str().unwrap()[..10], "%Y-%m-%d").unwrap();
                assert!(d >= lo, "{t}: updated row outside the window");
            }
        }
        assert_eq!(
            after.len(),
            before[i].len() + tm.inserted.len() - tm.deleted.len(),
            "{t}"
        );
    }
    // snapshot tables get updates
    assert_eq!(rep.tables["ApSupplier"].updated.len(), 3);
}

#[test]
fn many_mutation_rounds_keep_keys_unique() {
    let s = Simulator::new(SimOptions {
        seed: 3,
        ..Default::default()
    });
    for round in 0..12u32 {
        let plan = MutationPlan {
            inserts: 1 + (round as usize % 4) * 10,
            updates: 25,
            backdated: 7,
            deletes: (round as usize % 3) * 5,
            backdate_max_days: 1 + round % 6,
            tables: None,
        };
        s.mutate(&plan);
        if round % 3 == 0 {
            s.advance_days(1 + round % 2);
        }
    }
    check_invariants(&s);
}
