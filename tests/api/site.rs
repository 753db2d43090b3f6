//! Site variants of SYSPRO (CONTRACT.md §3.2): each pulled exactly once, or refused with the fix.

use std::collections::BTreeSet;

use mlc_simulator::SiteOptions;
use serde_json::{Value, json};

use crate::helpers::*;

fn assert_exactly_once(app: &TestApp, table: &str, rows: &[serde_json::Map<String, Value>]) {
    let keys = catalog_keys(table);
    let seen: BTreeSet<String> = rows.iter().map(|r| key_of(r, &keys)).collect();
    assert_eq!(seen.len(), rows.len(), "{table}: duplicates");
    let mut got = rows.to_vec();
    got.sort_by_key(|r| key_of(r, &keys));
    let mut want = app.sim.expected_records(table);
    want.sort_by_key(|r| key_of(r, &keys));
    assert_eq!(got.len(), want.len(), "{table}: row count");
    assert!(got == want, "{table}: records differ");
}

#[tokio::test]
async fn a_silent_page_cap_loses_no_row() {
    let app = spawn_app(AppOptions {
        page_rows: 500,
        site: SiteOptions {
            silent_page_cap: Some(200),
            ..SiteOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    for table in ["ApInvoice", "InvMaster", "GenJournalDetail"] {
        let (rows, _) = app.caller.pull_all(table, None).await;
        assert_exactly_once(&app, table, &rows);
    }
    // after the cap was learned, pages ask for it
    let last = app.page_requests("GenJournalDetail");
    assert!(
        last.iter().any(|r| r.query.contains("$top=200")),
        "{last:?}"
    );
}

#[tokio::test]
async fn offsets_on_date_times_keep_the_wall_clock_and_lose_no_row() {
    let app = spawn_app(AppOptions {
        page_rows: 97,
        site: SiteOptions {
            datetime_offset_minutes: Some(120),
            ..SiteOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    let (rows, _) = app.caller.pull_all("ApInvoice", None).await;
    assert_exactly_once(&app, "ApInvoice", &rows);
    // since: the rows of that day on the site's clock are all there
    let since = "2026-11-01";
    let (rows, _) = app.caller.pull_all("ApInvoice", Some(since)).await;
    let want: Vec<_> = app
        .sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["JournalDate"].as_str().unwrap() >= "2026-11-01T00:00:00")
        .collect();
    assert_eq!(rows.len(), want.len());
    let reqs = app.page_requests("ApInvoice");
    assert!(
        reqs.iter().any(|r| r.query.contains("%2B02:00")),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn enet_that_requires_columns_is_read_with_them() {
    let app = spawn_app(AppOptions {
        transport: "enet",
        page_rows: 150,
        site: SiteOptions {
            enet_require_columns: true,
            ..SiteOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    let (rows, _) = app.caller.pull_all("ApInvoice", None).await;
    let keys = catalog_keys("ApInvoice");
    let seen: BTreeSet<String> = rows.iter().map(|r| key_of(r, &keys)).collect();
    assert_eq!(seen.len(), rows.len());
    assert_eq!(rows.len(), app.sim.row_count("ApInvoice"));
}

#[tokio::test]
async fn a_key_column_syspro_lacks_is_refused_with_the_fix() {
    for transport in ["odata", "enet"] {
        let app = spawn_app(AppOptions {
            transport,
            extra_env: vec![(
                "MLC_TABLES__APINVOICE__KEY_COLUMNS".into(),
                "Supplier,InvoiceNo".into(),
            )],
            ..AppOptions::default()
        })
        .await;
        let v = app
            .caller
            .call(
                "/v1/pull",
                vec![json!("ApInvoice"), Value::Null, Value::Null],
            )
            .await;
        let m = v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            m.contains("InvoiceNo") && m.contains("key_columns"),
            "{transport}: {v}"
        );
    }
}

#[tokio::test]
async fn a_slow_page_arrives_through_the_asynchronous_protocol() {
    // 35 s SYSPRO page behind a 29 s gateway, scaled by 10.
    let app = spawn_app(AppOptions {
        retry_deadline_secs: 540,
        extra_env: vec![("MLC_SERVER__ASYNC_AFTER_MS".into(), "2900".into())],
        site: SiteOptions {
            page_delay_ms: 3500,
            ..SiteOptions::default()
        },
        ..AppOptions::default()
    })
    .await;
    let c = &app.caller;
    let id = c.new_batch_id();
    let rows = vec![vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let mut a = c.post_batch("/v1/pull", &rows, &id).await;
    let mut polls = 0;
    while a.status == 202 {
        polls += 1;
        assert!(polls < 100, "never finished");
        a = c.get_batch("/v1/pull", &id).await;
    }
    assert_eq!(a.status, 200, "{}", a.body);
    let v = &a.body["data"][0][1];
    assert!(v.get("error").is_none(), "{v}");
    assert_eq!(
        v["rows"].as_array().unwrap().len(),
        app.sim.row_count("ApSupplier")
    );
}
