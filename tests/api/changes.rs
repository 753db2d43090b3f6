//! CONTRACT.md §3.1: digests on every value that carries rows, `SYSPRO_DIGESTS`,
//! `SYSPRO_PULL_KEYS` and `SYSPRO_PULL_OPEN`, through both transports.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::helpers::*;

fn key_object(row: &Map<String, Value>, keys: &[String]) -> Value {
    Value::Object(keys.iter().map(|k| (k.clone(), row[k].clone())).collect())
}

/// Digest by key, from pages of rows or of keys.
fn digests_by_key(pages: &[Value], field: &str, keys: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for page in pages {
        let items = page[field].as_array().unwrap();
        let digests = page["digests"].as_array().expect("digests");
        assert_eq!(items.len(), digests.len(), "digests align with {field}");
        for (item, digest) in items.iter().zip(digests) {
            let d = digest.as_str().unwrap();
            assert_eq!(d.len(), 32);
            let k = key_of(item.as_object().unwrap(), keys);
            assert!(out.insert(k.clone(), d.to_string()).is_none(), "{k} twice");
        }
    }
    out
}

async fn pull_keys(app: &TestApp, table: &str, keys: Vec<Value>) -> Vec<Value> {
    app.caller
        .follow(
            "/v1/pull_keys",
            vec![json!(table), Value::Array(keys), Value::Null],
        )
        .await
}

#[tokio::test]
async fn digests_agree_across_functions_and_see_every_row() {
    let app = spawn_app(AppOptions {
        page_rows: 300,
        page_cap: Some(110),
        ..Default::default()
    })
    .await;
    for table in ["ApInvoice", "InvMovements", "ApSupplier"] {
        let keys = catalog_keys(table);
        let (_, pages) = app.caller.pull_all(table, None).await;
        let from_pull = digests_by_key(&pages, "rows", &keys);
        let digest_pages = app
            .caller
            .follow("/v1/digests", vec![json!(table), Value::Null])
            .await;
        for p in &digest_pages {
            assert_eq!(p["key_columns"], json!(keys));
            assert!(p.get("rows").is_none(), "digests carry keys, not rows");
        }
        let from_digests = digests_by_key(&digest_pages, "keys", &keys);
        assert_eq!(from_digests.len(), app.sim.row_count(table), "{table}");
        assert_eq!(
            from_pull, from_digests,
            "{table}: the same record, the same digest"
        );
    }
}

#[tokio::test]
async fn a_changed_row_changes_its_digest_and_only_its_digest() {
    let app = spawn_app(AppOptions::default()).await;
    let keys = catalog_keys("ApSupplier");
    let digest = |pages: Vec<Value>| digests_by_key(&pages, "keys", &keys);
    let before = digest(
        app.caller
            .follow("/v1/digests", vec![json!("ApSupplier"), Value::Null])
            .await,
    );
    let report = app.sim.mutate(&mlc_simulator::MutationPlan {
        updates: 3,
        tables: Some(vec!["ApSupplier".into()]),
        ..Default::default()
    });
    let changed: Vec<String> = report.tables["ApSupplier"]
        .updated
        .iter()
        .map(|k| key_of(k, &keys))
        .collect();
    let after = digest(
        app.caller
            .follow("/v1/digests", vec![json!("ApSupplier"), Value::Null])
            .await,
    );
    assert_eq!(before.len(), after.len());
    for (k, d) in &after {
        assert_eq!(
            before[k] != *d,
            changed.contains(k),
            "{k}: digest moved exactly when the row changed"
        );
    }
}

#[tokio::test]
async fn pull_keys_returns_each_requested_row_once_and_names_the_missing() {
    // A small query budget and a small server page force many requests and server paging.
    for transport in ["odata", "enet"] {
        let app = spawn_app(AppOptions {
            transport,
            page_rows: 50,
            page_cap: (transport == "odata").then_some(7),
            extra_env: vec![("MLC_SYSPRO__MAX_QUERY_BYTES".into(), "1500".into())],
            ..Default::default()
        })
        .await;
        let table = "ApInvoicePay";
        let keys = catalog_keys(table);
        let truth = app.sim.expected_records(table);
        let mut wanted: Vec<Value> = truth
            .iter()
            .step_by(7)
            .take(150)
            .map(|r| key_object(r, &keys))
            .collect();
        // CHAR padding is ignored, a repeat counts once, and keys SYSPRO lacks come back missing
        let mut padded = wanted[0].clone();
        let supplier = padded["Supplier"].as_str().unwrap().to_string();
        padded["Supplier"] = json!(format!("{supplier}   "));
        wanted.push(padded);
        wanted.push(wanted[1].clone());
        let absent = json!({"Supplier": "NOSUCH", "Invoice": "X-1", "EntryNumber": 1});
        let lower = {
            let mut k = wanted[2].clone();
            let inv = k["Invoice"].as_str().unwrap().to_string();
            k["Invoice"] = json!(format!("{inv}zz"));
            k
        };
        wanted.push(absent.clone());
        wanted.push(lower.clone());
        app.sim.clear_requests();
        let pages = pull_keys(&app, table, wanted.clone()).await;
        let rows = items_of(&pages, "rows");
        let got = by_key(rows, &keys);
        let want = by_key(truth.iter().step_by(7).take(150).cloned().collect(), &keys);
        assert_eq!(
            got, want,
            "{transport}: each requested row once, as SYSPRO has it"
        );
        let missing: Vec<Value> = pages
            .iter()
            .flat_map(|p| p["missing"].as_array().unwrap().clone())
            .collect();
        assert_eq!(missing, vec![absent, lower], "{transport}");
        let poll_ids: std::collections::BTreeSet<&str> = pages
            .iter()
            .map(|p| p["poll_id"].as_str().unwrap())
            .collect();
        assert_eq!(poll_ids.len(), 1);
        digests_by_key(&pages, "rows", &keys);
        let requests: Vec<_> = app
            .sim
            .requests()
            .into_iter()
            .filter(|r| {
                r.path.ends_with("/ApInvoicePay") || r.query.contains("BusinessObject=COMFND")
            })
            .collect();
        assert!(
            requests.len() > 3,
            "{transport}: the keys were split over several requests"
        );
        for r in &requests {
            assert!(
                r.query.len() <= 1500,
                "{transport}: query of {} bytes",
                r.query.len()
            );
        }
    }
}

#[tokio::test]
async fn pull_keys_with_no_keys_reads_nothing() {
    let app = spawn_app(AppOptions::default()).await;
    app.sim.clear_requests();
    let v = app
        .caller
        .call(
            "/v1/pull_keys",
            vec![json!("ApInvoice"), json!([]), Value::Null],
        )
        .await;
    assert_eq!(v["rows"], json!([]));
    assert_eq!(v["missing"], json!([]));
    assert!(v["next_cursor"].is_null());
    assert!(app.page_requests("ApInvoice").is_empty());
}

#[tokio::test]
async fn bad_keys_are_refused_before_syspro_is_asked() {
    let app = spawn_app(AppOptions::default()).await;
    app.sim.clear_requests();
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"Supplier": "A", "Invoice": i.to_string()}))
        .collect();
    for (keys, expected) in [
        (json!("ACME|INV-1"), "must be an ARRAY"),
        (json!([{"Supplier": "ACME"}]), "has no \"Invoice\""),
        (
            json!([{"Supplier": "ACME", "Invoice": "1", "Journal": 5}]),
            "not a key column",
        ),
        (json!([{"Supplier": 5, "Invoice": "1"}]), "must be text"),
        (json!([{"Supplier": "A", "Invoice": null}]), "never NULL"),
        (Value::Array(many), "at most 1000"),
    ] {
        let a = app
            .caller
            .post_batch(
                "/v1/pull_keys",
                &[vec![json!("ApInvoice"), keys.clone(), Value::Null]],
                &app.caller.new_batch_id(),
            )
            .await;
        assert_eq!(a.status, 400, "{keys}: {}", a.body);
        let message = a.body["error"].as_str().unwrap();
        assert!(message.contains(expected), "{keys}: {message}");
    }
    // a cursor is bound to its key set
    let first = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("ApInvoice"), Value::Null, Value::Null],
        )
        .await;
    let a = app
        .caller
        .post_batch(
            "/v1/pull_keys",
            &[vec![
                json!("ApInvoice"),
                json!([]),
                first["next_cursor"].clone(),
            ]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"].as_str().unwrap().contains("SYSPRO_PULL"),
        "{}",
        a.body
    );
    let before = app.page_requests("ApInvoice").len();
    assert_eq!(before, 1, "only the SYSPRO_PULL page reached SYSPRO");
}

#[tokio::test]
async fn pull_open_reads_exactly_the_open_items() {
    for transport in ["odata", "enet"] {
        let app = spawn_app(AppOptions {
            transport,
            page_rows: 200,
            ..Default::default()
        })
        .await;
        for (table, is_open) in [
            (
                "ApInvoice",
                (|r: &Map<String, Value>| {
                    r["MthInvBal1"].to_string().parse::<f64>().unwrap() != 0.0
                }) as fn(&Map<String, Value>) -> bool,
            ),
            ("GenJournalDetail", |r| r["EntryPosted"] != json!("Y")),
            ("GrnDetails", |r| {
                r["MatchedValue"].to_string().parse::<f64>().unwrap() == 0.0
            }),
            ("PorMasterHdr", |r| {
                r["OrderStatus"] != json!("9")
                    && r["OrderStatus"] != json!("*")
                    && r["CancelledFlag"] != json!("Y")
            }),
        ] {
            let keys = catalog_keys(table);
            let pages = app
                .caller
                .follow("/v1/pull_open", vec![json!(table), Value::Null])
                .await;
            for p in &pages {
                assert!(
                    p["high_water"].is_null(),
                    "an open-items read never moves a watermark"
                );
                assert!(p["open_items"].is_string());
            }
            let got = by_key(items_of(&pages, "rows"), &keys);
            let want = by_key(
                app.sim
                    .expected_records(table)
                    .into_iter()
                    .filter(is_open)
                    .collect(),
                &keys,
            );
            assert!(!want.is_empty(), "{table}: the simulator has open items");
            assert_eq!(got, want, "{transport} {table}");
        }
        let a = app
            .caller
            .post_batch(
                "/v1/pull_open",
                &[vec![json!("ApSupplier"), Value::Null]],
                &app.caller.new_batch_id(),
            )
            .await;
        assert_eq!(a.status, 400);
        assert!(
            a.body["error"].as_str().unwrap().contains("open_items"),
            "{}",
            a.body
        );
    }
}
