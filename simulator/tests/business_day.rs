//! Business days: rows of any age change without their watermark date moving.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use mlc_simulator::{BusinessDayPlan, MutationReport, SimOptions, Simulator};
use serde_json::{Map, Value};

type Row = Map<String, Value>;

const WATERMARKS: &[(&str, &str)] = &[
    ("ApInvoice", "JournalDate"),
    ("ApInvoicePay", "JournalDate"),
    ("PorMasterHdr", "OrderEntryDate"),
    ("GenJournalDetail", "EntryDate"),
    ("InvMovements", "EntryDate"),
    ("GrnDetails", "OrigReceiptDate"),
];

fn watermark(t: &str) -> Option<&'static str> {
    WATERMARKS.iter().find(|(n, _)| *n == t).map(|(_, w)| *w)
}

fn key_cols(t: &str) -> &'static [&'static str] {
    match t {
        "ApInvoice" => &["Supplier", "Invoice"],
        "ApInvoicePay" => &["Supplier", "Invoice", "EntryNumber"],
        "ApSupplier" => &["Supplier"],
        "PorMasterHdr" => &["PurchaseOrder"],
        "PorMasterDetail" => &["PurchaseOrder", "Line"],
        "GenMaster" => &["Company", "GlCode"],
        "GenHistory" => &["Company", "GlCode", "GlYear"],
        "GenJournalDetail" => &["GlYear", "GlPeriod", "Journal", "EntryNumber"],
        "InvMaster" => &["StockCode"],
        "InvWarehouse" => &["StockCode", "Warehouse"],
        "InvMovements" => &[
            "StockCode",
            "Warehouse",
            "TrnYear",
            "TrnMonth",
            "EntryDate",
            "TrnTime",
        ],
        "GrnDetails" => &["Supplier", "Grn", "GrnSource", "Journal", "JournalEntry"],
        "ArCustomer" => &["Customer"],
        _ => panic!("{t}"),
    }
}

fn key_of(t: &str, r: &Row) -> String {
    key_cols(t)
        .iter()
        .map(|k| r[*k].to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn by_key(t: &str, rows: Vec<Row>) -> BTreeMap<String, Row> {
    rows.into_iter().map(|r| (key_of(t, &r), r)).collect()
}

fn snapshot(s: &Simulator) -> BTreeMap<String, BTreeMap<String, Row>> {
    Simulator::table_names()
        .iter()
        .map(|t| (t.to_string(), by_key(t, s.expected_records(t))))
        .collect()
}

fn date(v: &Value) -> NaiveDate {
    NaiveDate::parse_from_str(&v.as_str().expect("date")[..10], "%Y-%m-%d").unwrap()
}

/// Exact decimal as cents (scale 2) or micro-units (scale 6), from the JSON text.
fn fixed(v: &Value, scale: u32) -> i128 {
    let t = v.to_string();
    let (i, f) = t.split_once('.').unwrap_or((&t, ""));
    let neg = i.starts_with('-');
    let mut f = f.to_string();
    while f.len() < scale as usize {
        f.push('0');
    }
    let m = i.trim_start_matches('-').parse::<i128>().unwrap() * 10i128.pow(scale)
        + f.parse::<i128>().unwrap_or(0);
    if neg { -m } else { m }
}

fn days_before(today: NaiveDate, d: NaiveDate) -> i64 {
    (today - d).num_days()
}

/// The report matches the data: inserted keys are new, deleted ones gone, updated rows
/// changed, watermarks of updated rows unchanged, keys unique, row counts add up.
fn check_report(
    before: &BTreeMap<String, BTreeMap<String, Row>>,
    s: &Simulator,
    rep: &MutationReport,
) {
    for (t, tm) in &rep.tables {
        let old = &before[t];
        let rows = s.expected_records(t);
        let n = rows.len();
        let new = by_key(t, rows);
        assert_eq!(new.len(), n, "{t}: keys not unique");
        for k in &tm.inserted {
            let k = key_of(t, k);
            assert!(!old.contains_key(&k) && new.contains_key(&k), "{t}: {k}");
        }
        for k in &tm.deleted {
            let k = key_of(t, k);
            assert!(old.contains_key(&k) && !new.contains_key(&k), "{t}: {k}");
        }
        let upd: BTreeSet<String> = tm.updated.iter().map(|k| key_of(t, k)).collect();
        assert_eq!(upd.len(), tm.updated.len(), "{t}: updated twice");
        for k in &upd {
            let (a, b) = (&old[k], &new[k]);
            assert_ne!(a, b, "{t}: update changed nothing");
            if let Some(w) = watermark(t) {
                assert_eq!(a[w], b[w], "{t}: watermark moved");
            }
        }
        // rows not reported did not change
        for (k, a) in old {
            if !upd.contains(k)
                && let Some(b) = new.get(k)
            {
                assert_eq!(a, b, "{t}: unreported change");
            }
        }
        assert_eq!(n, old.len() + tm.inserted.len() - tm.deleted.len(), "{t}");
    }
}

fn busy_day() -> BusinessDayPlan {
    BusinessDayPlan {
        payment_run_share: 0.1,
        po_completions: 12,
        po_cancellations: 4,
        grn_matches: 30,
        journal_postings: 20,
        backdated: 6,
        ..Default::default()
    }
}

#[test]
fn history_has_open_documents_of_all_ages() {
    let s = Simulator::new(SimOptions::default());
    let today = s.business_date();
    let inv = s.expected_records("ApInvoice");
    let age = |r: &Row, c: &str| days_before(today, date(&r[c]));
    let open_old = inv
        .iter()
        .filter(|r| fixed(&r["MthInvBal1"], 2) > 0 && age(r, "JournalDate") > 90)
        .count();
    let part_old = inv
        .iter()
        .filter(|r| {
            let b = fixed(&r["MthInvBal1"], 2);
            b > 0 && b < fixed(&r["OrigInvValue"], 2) && age(r, "JournalDate") > 30
        })
        .count();
    let paid = inv
        .iter()
        .filter(|r| fixed(&r["MthInvBal1"], 2) == 0 && r["InvoiceStatus"] == "P")
        .count();
    assert!(open_old > 20, "{open_old}");
    assert!(part_old > 10, "{part_old}");
    assert!(paid > inv.len() / 3, "{paid}");

    let po = s.expected_records("PorMasterHdr");
    let open_po = |min: i64| {
        po.iter()
            .filter(|r| {
                (r["OrderStatus"] == "1" || r["OrderStatus"] == "4")
                    && age(r, "OrderEntryDate") > min
            })
            .count()
    };
    assert!(open_po(90) > 10 && open_po(30) > open_po(90));

    let grn = s.expected_records("GrnDetails");
    let unmatched = grn
        .iter()
        .filter(|r| fixed(&r["MatchedValue"], 2) == 0 && age(r, "OrigReceiptDate") > 30)
        .count();
    let partly = grn
        .iter()
        .filter(|r| {
            let m = fixed(&r["MatchedQty"], 6);
            m > 0 && m < fixed(&r["QtyReceived"], 6) && age(r, "OrigReceiptDate") > 30
        })
        .count();
    let full = grn
        .iter()
        .filter(|r| r["MatchedValue"] == r["OrigGrnValue"] && r["MatchedQty"] == r["QtyReceived"])
        .count();
    assert!(unmatched > 10 && partly > 10 && full > grn.len() / 3);
    for r in &grn {
        assert!(fixed(&r["MatchedValue"], 2) <= fixed(&r["OrigGrnValue"], 2));
        assert!(fixed(&r["MatchedQty"], 6) <= fixed(&r["QtyReceived"], 6));
    }

    let gjd = s.expected_records("GenJournalDetail");
    let unposted: BTreeSet<i64> = gjd
        .iter()
        .filter(|r| r["EntryPosted"] == "N")
        .map(|r| age(r, "EntryDate"))
        .collect();
    assert!(unposted.contains(&0));
    assert!(unposted.iter().any(|a| (1..=7).contains(a)));
    assert!(unposted.iter().any(|a| (8..=30).contains(a)));
    assert!(unposted.iter().any(|a| *a > 30));
    assert!(gjd.iter().filter(|r| r["EntryPosted"] == "Y").count() > gjd.len() / 2);
}

#[test]
fn a_business_day_changes_rows_of_any_age_without_moving_watermarks() {
    let s = Simulator::new(SimOptions::default());
    s.advance_days(1);
    let today = s.business_date();
    let before = snapshot(&s);
    let rep = s.business_day(&busy_day());
    assert_eq!(
        s.business_date(),
        today,
        "business_day must not advance the date"
    );
    assert_eq!(rep.business_date, Some(today));
    assert_eq!(rep.tables.len(), 13);
    check_report(&before, &s, &rep);
    let after = snapshot(&s);
    let keys = |t: &str, f: fn(&mlc_simulator::TableMutations) -> &Vec<Row>| -> Vec<String> {
        f(&rep.tables[t]).iter().map(|k| key_of(t, k)).collect()
    };
    let old_and_new = |t: &str, k: &String| (&before[t][k], &after[t][k]);

    // payment run: balances of invoices posted over 30 days ago went down
    let mut paid: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut old_paid = 0;
    for k in keys("ApInvoice", |m| &m.updated) {
        let (a, b) = old_and_new("ApInvoice", &k);
        let (ba, bb) = (fixed(&a["MthInvBal1"], 2), fixed(&b["MthInvBal1"], 2));
        assert!(bb < ba && bb >= 0, "{k}: {ba} -> {bb}");
        assert_eq!(b["InvoiceStatus"] == "P", bb == 0, "{k}");
        if days_before(today, date(&a["JournalDate"])) > 30 {
            old_paid += 1;
        }
        paid.insert(
            (b["Supplier"].to_string(), b["Invoice"].to_string()),
            ba - bb,
        );
    }
    assert!(old_paid >= 5, "{old_paid}");
    assert!(paid.values().any(|&v| v > 0));
    assert!(
        keys("ApInvoice", |m| &m.updated)
            .iter()
            .any(|k| fixed(&after["ApInvoice"][k]["MthInvBal1"], 2) == 0)
    );
    // one payment row dated today per paid invoice, for the amount the balance went down
    let mut pays: BTreeMap<(String, String), i128> = BTreeMap::new();
    for k in keys("ApInvoicePay", |m| &m.inserted) {
        let p = &after["ApInvoicePay"][&k];
        assert_eq!(date(&p["JournalDate"]), today);
        *pays
            .entry((p["Supplier"].to_string(), p["Invoice"].to_string()))
            .or_default() -= fixed(&p["TrnValue"], 2);
    }
    assert_eq!(pays, paid);

    // POs entered over 30 days ago completed or cancelled today
    let mut old_done = 0;
    for k in keys("PorMasterHdr", |m| &m.updated) {
        let (a, b) = old_and_new("PorMasterHdr", &k);
        match b["OrderStatus"].as_str().unwrap() {
            "9" => {
                assert_eq!(date(&b["DatePoCompleted"]), today);
                assert_eq!(b["ActiveFlag"], "");
            }
            "*" => assert_eq!(b["CancelledFlag"], "Y"),
            "4" => assert_eq!(a["OrderStatus"], "1"), // a first receipt today
            st => panic!("{k}: status {st}"),
        }
        if b["OrderStatus"] != "4" && days_before(today, date(&a["OrderEntryDate"])) > 30 {
            old_done += 1;
        }
    }
    assert!(old_done >= 3, "{old_done}");
    // cancelled POs lose their unreceived lines
    assert!(!rep.tables["PorMasterDetail"].deleted.is_empty());

    // journal lines older than any overlap window posted
    let mut old_posted = 0;
    for k in keys("GenJournalDetail", |m| &m.updated) {
        let (a, b) = old_and_new("GenJournalDetail", &k);
        assert_eq!(
            (a["EntryPosted"].as_str(), b["EntryPosted"].as_str()),
            (Some("N"), Some("Y"))
        );
        if days_before(today, date(&a["EntryDate"])) > 7 {
            old_posted += 1;
        }
    }
    assert!(old_posted > 0, "{old_posted}");
    assert!(!rep.tables["GenMaster"].updated.is_empty());
    assert!(!rep.tables["GenHistory"].updated.is_empty());
    // new journal lines are unposted
    for k in keys("GenJournalDetail", |m| &m.inserted) {
        assert_eq!(after["GenJournalDetail"][&k]["EntryPosted"], "N");
    }

    // GRNs received over 30 days ago matched
    let mut old_matched = 0;
    for k in keys("GrnDetails", |m| &m.updated) {
        let (a, b) = old_and_new("GrnDetails", &k);
        assert!(fixed(&b["MatchedValue"], 2) > fixed(&a["MatchedValue"], 2));
        assert!(fixed(&b["MatchedQty"], 6) <= fixed(&b["QtyReceived"], 6));
        if days_before(today, date(&a["OrigReceiptDate"])) > 30 {
            old_matched += 1;
        }
    }
    assert!(old_matched > 0);

    // back-dated inserts older than 10 days, and inserts dated today
    let mut backdated = 0;
    let mut today_rows = 0;
    for (t, w) in WATERMARKS {
        for k in keys(t, |m| &m.inserted) {
            let d = date(&after[*t][&k][*w]);
            let age = days_before(today, d);
            assert!(age == 0 || (10..=45).contains(&age), "{t}: {d}");
            if age >= 10 {
                backdated += 1;
            } else {
                today_rows += 1;
            }
        }
    }
    assert!(backdated >= 1, "{backdated}");
    assert!(today_rows > 20, "{today_rows}");

    // masters edited, hard deletes of old rows
    for t in ["ApSupplier", "ArCustomer", "InvMaster", "InvWarehouse"] {
        assert!(!rep.tables[t].updated.is_empty(), "{t}");
    }
    for k in keys("ApInvoice", |m| &m.deleted) {
        let a = &before["ApInvoice"][&k];
        assert!(days_before(today, date(&a["JournalDate"])) > 120);
        assert_eq!(a["InvoiceStatus"], "P");
    }
    assert!(!rep.tables["ApInvoice"].deleted.is_empty());
    assert!(!rep.tables["GenJournalDetail"].deleted.is_empty());
}

#[test]
fn business_days_are_deterministic_under_the_seed() {
    let run = |seed| {
        let s = Simulator::new(SimOptions {
            seed,
            ..Default::default()
        });
        let mut reps = Vec::new();
        for _ in 0..3 {
            reps.push(s.business_day(&BusinessDayPlan::default()));
            s.advance_days(1);
        }
        (reps, snapshot(&s))
    };
    let (a, sa) = run(5);
    let (b, sb) = run(5);
    let (c, _) = run(6);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert_ne!(a, c);
    // many days keep keys unique and reports true
    let s = Simulator::new(SimOptions::default());
    for _ in 0..10 {
        let before = snapshot(&s);
        let rep = s.business_day(&busy_day());
        check_report(&before, &s, &rep);
        s.advance_days(1);
    }
}

#[test]
fn tables_restrict_the_day_and_idle_does_nothing() {
    let s = Simulator::new(SimOptions::default());
    let before = snapshot(&s);
    let rep = s.business_day(&BusinessDayPlan::idle());
    assert_eq!(rep.tables.len(), 13);
    assert!(
        rep.tables
            .values()
            .all(|m| m.inserted.is_empty() && m.updated.is_empty() && m.deleted.is_empty())
    );
    assert_eq!(snapshot(&s), before);

    let rep = s.business_day(&BusinessDayPlan {
        tables: Some(vec!["ApInvoice".into(), "NoSuchTable".into()]),
        ..Default::default()
    });
    assert_eq!(rep.tables.keys().collect::<Vec<_>>(), ["ApInvoice"]);
    assert_eq!(rep.unknown_tables, ["NoSuchTable"]);
    assert!(!rep.tables["ApInvoice"].updated.is_empty());
    check_report(&before, &s, &rep);
    let after = snapshot(&s);
    for t in Simulator::table_names() {
        if *t != "ApInvoice" {
            assert_eq!(after[*t], before[*t], "{t}");
        }
    }
    // JSON: missing fields take the defaults
    let p: BusinessDayPlan = serde_json::from_str(r#"{"po_completions": 9}"#).unwrap();
    assert_eq!(
        p,
        BusinessDayPlan {
            po_completions: 9,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn business_day_over_http_and_new_columns_served() {
    let s = Simulator::new(SimOptions::default());
    let srv = s.start("127.0.0.1:0").await.unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base = srv.base_url();
    let twin = Simulator::new(SimOptions::default());

    let r = c
        .post(format!("{base}/_sim/business_day"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: MutationReport = r.json().await.unwrap();
    assert_eq!(rep, twin.business_day(&BusinessDayPlan::default()));

    let plan = BusinessDayPlan {
        tables: Some(vec!["PorMasterHdr".into()]),
        po_completions: 2,
        ..BusinessDayPlan::idle()
    };
    let rep: Value = c
        .post(format!("{base}/_sim/business_day"))
        .json(&plan)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rep["tables"]["PorMasterHdr"]["updated"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = c
        .post(format!("{base}/_sim/business_day"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // MatchedValue / MatchedQty in $metadata, OData rows and COMFND answers
    let md = c
        .get(format!("{}/$metadata", srv.odata_url()))
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.contains(r#"<Property Name="OrigGrnValue" Type="Edm.Decimal" Nullable="false" Precision="14" Scale="2"/><Property Name="MatchedValue" Type="Edm.Decimal" Nullable="false" Precision="14" Scale="2"/><Property Name="MatchedQty" Type="Edm.Decimal" Nullable="false" Precision="18" Scale="6"/>"#), "{md}");
    let v: Value = c
        .get(format!(
            "{}/GrnDetails?$top=1&$select=Grn,MatchedValue,MatchedQty",
            srv.odata_url()
        ))
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["value"][0]["MatchedQty"].is_number(), "{v}");
    let sid = c
        .get(
            url::Url::parse_with_params(
                &format!("{}/Logon", srv.enet_url()),
                [
                    ("Operator", "ADMIN"),
                    ("OperatorPassword", "enet-secret"),
                    ("CompanyId", "EDU1"),
                    ("CompanyPassword", ""),
                ],
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xml = "<Query><TableName>GrnDetails</TableName><ReturnRows>2</ReturnRows><Columns><Column>Grn</Column><Column>MatchedValue</Column><Column>MatchedQty</Column></Columns></Query>";
    let body = c
        .get(
            url::Url::parse_with_params(
                &format!("{}/Query/Query", srv.enet_url()),
                [
                    ("UserId", sid.trim()),
                    ("BusinessObject", "COMFND"),
                    ("XmlIn", xml),
                ],
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("<MatchedValue>") && body.contains("<MatchedQty>"),
        "{body}"
    );
    srv.stop().await;
}
