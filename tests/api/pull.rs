use serde_json::{Value, json};

use crate::helpers::*;

async fn assert_full_pull_matches(app: &TestApp, table: &str) {
    let keys = catalog_keys(table);
    let (rows, _) = app.caller.pull_all(table, None).await;
    let got = by_key(rows, &keys);
    let want = by_key(app.sim.expected_records(table), &keys);
    assert_eq!(got.len(), want.len(), "{table}: row count");
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "{table}: row {k}");
    }
}

#[tokio::test]
async fn a_full_pull_of_every_catalog_table_equals_syspro() {
    let app = spawn_app(AppOptions {
        page_rows: 400,
        ..Default::default()
    })
    .await;
    for table in mlc_simulator::Simulator::table_names() {
        assert_full_pull_matches(&app, table).await;
    }
}

#[tokio::test]
async fn a_pull_through_syspro_server_paging_equals_syspro() {
    // SYSPRO caps answers below our $top and pages with @odata.nextLink.
    for paging in ["keyset", "skip"] {
        let app = spawn_app(AppOptions {
            page_cap: Some(97),
            page_rows: 300,
            paging,
            ..Default::default()
        })
        .await;
        for table in [
            "ApInvoice",
            "InvMovements",
            "GenJournalDetail",
            "ArCustomer",
        ] {
            assert_full_pull_matches(&app, table).await;
        }
        let followed_links = app
            .sim
            .requests()
            .iter()
            .any(|r| r.query.contains("skiptoken"));
        // Keyset paging resumes after the last row rather than trusting SYSPRO's link.
        assert_eq!(followed_links, paging == "skip", "{paging}");
    }
}

#[tokio::test]
async fn rows_deleted_and_inserted_between_pages_do_not_make_a_pull_skip_rows() {
    // Offset paging (SYSPRO's own links or $skip) shifts when rows before the current position
    // disappear; keyset paging does not.
    let app = spawn_app(AppOptions {
        page_cap: Some(50),
        page_rows: 50,
        ..Default::default()
    })
    .await;
    let keys = catalog_keys("ApInvoice");
    let before = by_key(app.sim.expected_records("ApInvoice"), &keys);
    let mut cursor = Value::Null;
    let mut got = Vec::new();
    let mut page = 0;
    loop {
        let v = app
            .caller
            .call("/v1/pull", vec![json!("ApInvoice"), Value::Null, cursor])
            .await;
        got.extend(
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone()),
        );
        cursor = v["next_cursor"].clone();
        page += 1;
        if page % 3 == 0 {
            app.sim.mutate(&mlc_simulator::MutationPlan {
                inserts: 2,
                deletes: 5,
                tables: Some(vec!["ApInvoice".into()]),
                ..Default::default()
            });
        }
        if cursor.is_null() {
            break;
        }
    }
    let got = by_key(got, &keys);
    let after = by_key(app.sim.expected_records("ApInvoice"), &keys);
    // Every row that existed throughout the pull was returned.
    for k in before.keys() {
        if after.contains_key(k) {
            assert!(
                got.contains_key(k),
                "row {k} present before and after the pull was skipped"
            );
        }
    }
}

#[tokio::test]
async fn skip_paging_equals_syspro() {
    let app = spawn_app(AppOptions {
        page_rows: 250,
        paging: "skip",
        ..Default::default()
    })
    .await;
    for table in ["ApInvoice", "PorMasterDetail"] {
        assert_full_pull_matches(&app, table).await;
    }
}

#[tokio::test]
async fn rows_sharing_a_watermark_across_page_boundaries_are_neither_lost_nor_repeated() {
    // Seven rows a page: every business date spans several pages.
    let app = spawn_app(AppOptions {
        page_rows: 7,
        ..Default::default()
    })
    .await;
    let (rows, pages) = app.caller.pull_all("ApInvoice", Some("2026-10-01")).await;
    assert!(pages.len() > 10);
    let boundary_shared = pages.windows(2).any(|w| {
        let a = w[0]["rows"].as_array().unwrap();
        let b = w[1]["rows"].as_array().unwrap();
        !a.is_empty() && !b.is_empty() && a.last().unwrap()["JournalDate"] == b[0]["JournalDate"]
    });
    assert!(
        boundary_shared,
        "the data has a watermark value spanning a page boundary"
    );
    let keys = catalog_keys("ApInvoice");
    let got = by_key(rows, &keys);
    let want: Vec<_> = app
        .sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["JournalDate"].as_str().unwrap() >= "2026-10-01T00:00:00")
        .collect();
    assert_eq!(got, by_key(want, &keys));
}

#[tokio::test]
async fn an_incremental_pull_returns_rows_on_or_after_since_with_a_high_water() {
    let app = spawn_app(AppOptions::default()).await;
    let since = "2026-11-10";
    let (rows, pages) = app.caller.pull_all("GenJournalDetail", Some(since)).await;
    let want: Vec<_> = app
        .sim
        .expected_records("GenJournalDetail")
        .into_iter()
        .filter(|r| r["EntryDate"].as_str().unwrap() >= "2026-11-10T00:00:00")
        .collect();
    assert!(!want.is_empty());
    let keys = catalog_keys("GenJournalDetail");
    assert_eq!(by_key(rows, &keys), by_key(want.clone(), &keys));
    let max = want
        .iter()
        .map(|r| r["EntryDate"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let last = pages.last().unwrap();
    assert_eq!(last["high_water"], json!(max));
    assert_eq!(last["since"], json!("2026-11-10T00:00:00"));
    assert_eq!(last["watermark_column"], json!("EntryDate"));
    let poll_ids: std::collections::HashSet<_> =
        pages.iter().map(|p| p["poll_id"].clone()).collect();
    assert_eq!(poll_ids.len(), 1, "one poll id for all pages of a pull");
}

#[tokio::test]
async fn mutations_between_pulls_are_seen_by_the_next_overlapping_pull() {
    let app = spawn_app(AppOptions::default()).await;
    app.sim.advance_days(1);
    let report = app.sim.mutate(&mlc_simulator::MutationPlan {
        inserts: 5,
        updates: 5,
        backdated: 3,
        deletes: 2,
        backdate_max_days: 3,
        tables: Some(vec!["ApInvoice".into()]),
    });
    let since = (app.sim.business_date() - chrono::Days::new(3))
        .format("%Y-%m-%d")
        .to_string();
    let (rows, _) = app.caller.pull_all("ApInvoice", Some(&since)).await;
    let keys = catalog_keys("ApInvoice");
    let got = by_key(rows, &keys);
    let cutoff = format!("{since}T00:00:00");
    let want: Vec<_> = app
        .sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["JournalDate"].as_str().unwrap() >= cutoff.as_str())
        .collect();
    assert_eq!(got, by_key(want, &keys));
    // The new and back-dated invoices SYSPRO just posted are among them.
    let inserted = &report.tables["ApInvoice"].inserted;
    assert!(!inserted.is_empty());
    for row in inserted {
        assert!(
            got.contains_key(&key_of(row, &keys)),
            "new invoice {row:?} missing"
        );
    }
}

#[tokio::test]
async fn decimals_stay_exact_and_strings_are_trimmed() {
    let app = spawn_app(AppOptions::default()).await;
    let (rows, _) = app.caller.pull_all("ApInvoice", None).await;
    let big = rows
        .iter()
        .find(|r| matches!(&r["OrigInvValue"], Value::Number(n) if n.as_str() == "12345678901.23"));
    assert!(
        big.is_some(),
        "the 12345678901.23 invoice comes through digit for digit"
    );
    for r in &rows {
        for (k, v) in r {
            if let Value::String(s) = v {
                assert!(!s.ends_with(' '), "{k} = {s:?} keeps CHAR padding");
            }
        }
        assert!(!r["JournalDate"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn the_byte_budget_bounds_every_answer_and_the_pull_still_completes() {
    let budget = 64 * 1024;
    let app = spawn_app(AppOptions {
        page_rows: 2000,
        response_budget_bytes: budget,
        ..Default::default()
    })
    .await;
    let keys = catalog_keys("ApInvoice");
    let mut cursor = Value::Null;
    let mut rows = Vec::new();
    loop {
        let batch = app
            .caller
            .post_batch(
                "/v1/pull",
                &[vec![json!("ApInvoice"), Value::Null, cursor.clone()]],
                &app.caller.new_batch_id(),
            )
            .await;
        assert_eq!(batch.status, 200);
        assert!(
            serde_json::to_vec(&batch.body).unwrap().len() <= budget,
            "answer over budget"
        );
        let v = &batch.body["data"][0][1];
        rows.extend(
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone()),
        );
        cursor = v["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(
        by_key(rows, &keys),
        by_key(app.sim.expected_records("ApInvoice"), &keys)
    );
}

#[tokio::test]
async fn a_batch_of_several_rows_is_answered_in_order() {
    let app = spawn_app(AppOptions::default()).await;
    let rows = vec![
        vec![json!("ArCustomer"), Value::Null, Value::Null],
        vec![json!("apinvoice"), json!("2026-11-15"), Value::Null],
        vec![json!("InvWarehouse"), Value::Null, Value::Null],
    ];
    let a = app
        .caller
        .post_batch("/v1/pull", &rows, &app.caller.new_batch_id())
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"][0][1]["table"], json!("ArCustomer"));
    assert_eq!(a.body["data"][1][1]["table"], json!("ApInvoice"));
    assert_eq!(a.body["data"][2][1]["table"], json!("InvWarehouse"));
}

#[tokio::test]
async fn a_repeated_batch_is_answered_without_asking_syspro_again() {
    let app = spawn_app(AppOptions::default()).await;
    let batch = app.caller.new_batch_id();
    let args = [vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let first = app.caller.post_batch("/v1/pull", &args, &batch).await;
    let requests = app.sim.requests().len();
    let (second, third) = tokio::join!(
        app.caller.post_batch("/v1/pull", &args, &batch),
        app.caller.post_batch("/v1/pull", &args, &batch)
    );
    assert_eq!(app.sim.requests().len(), requests, "SYSPRO was asked again");
    assert_eq!(first.body, second.body);
    assert_eq!(first.body, third.body);
}

#[tokio::test]
async fn concurrent_duplicates_of_a_new_batch_cause_one_syspro_pull() {
    let app = spawn_app(AppOptions::default()).await;
    app.sim.clear_requests();
    let batch = app.caller.new_batch_id();
    let args = [vec![json!("GenMaster"), Value::Null, Value::Null]];
    let (a, b) = tokio::join!(
        app.caller.post_batch("/v1/pull", &args, &batch),
        app.caller.post_batch("/v1/pull", &args, &batch)
    );
    assert_eq!(a.body, b.body);
    assert_eq!(app.data_reads("GenMaster").len(), 1);
}

#[tokio::test]
async fn keys_schema_and_tables_answer() {
    let app = spawn_app(AppOptions {
        page_rows: 300,
        ..Default::default()
    })
    .await;
    let tables = app.caller.call("/v1/tables", vec![]).await;
    assert_eq!(tables["tables"].as_array().unwrap().len(), 13);
    let schema = app
        .caller
        .call("/v1/schema", vec![json!("ApInvoice")])
        .await;
    let value = schema["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "OrigInvValue")
        .unwrap();
    assert_eq!(value["snowflake_type"], json!("NUMBER(14,2)"));
    assert_eq!(schema["key_columns"], json!(["Supplier", "Invoice"]));

    let keys = items_of(
        &app.caller
            .follow("/v1/keys", vec![json!("InvMovements"), Value::Null])
            .await,
        "keys",
    );
    let key_cols = catalog_keys("InvMovements");
    let want: std::collections::BTreeSet<String> = app
        .sim
        .expected_records("InvMovements")
        .iter()
        .map(|r| key_of(r, &key_cols))
        .collect();
    let got: std::collections::BTreeSet<String> =
        keys.iter().map(|k| key_of(k, &key_cols)).collect();
    assert_eq!(got.len(), keys.len(), "a key repeated");
    assert_eq!(got, want);
    assert_eq!(keys[0].len(), key_cols.len());
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let app = spawn_app(AppOptions::default()).await;
    app.caller.pull_all("ApSupplier", None).await;
    let health = app
        .caller
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = app.metrics().await;
    assert!(metrics.contains("mlc_extfn_requests_total"), "{metrics}");
    assert!(
        metrics.contains("mlc_rows_returned_total{table=\"ApSupplier\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlc_syspro_request_duration_seconds"),
        "{metrics}"
    );
}
