//! The e.net REST transport gives the same pulls, rows and guarantees as OData.

use std::time::Duration;

use mlc_simulator::{EnetOptions, EnetWrapping, FaultKind};
use serde_json::{Value, json};

use crate::helpers::*;

fn enet(page_rows: usize) -> AppOptions {
    AppOptions {
        transport: "enet",
        page_rows,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_full_pull_of_every_table_through_enet_equals_the_same_pull_through_odata() {
    let via_enet = spawn_app(enet(400)).await;
    let via_odata = spawn_app(AppOptions {
        page_rows: 400,
        ..Default::default()
    })
    .await;
    for table in mlc_simulator::Simulator::table_names() {
        let keys = catalog_keys(table);
        let (e, _) = via_enet.caller.pull_all(table, None).await;
        let (o, _) = via_odata.caller.pull_all(table, None).await;
        let e = by_key(e, &keys);
        assert_eq!(e, by_key(o, &keys), "{table}: e.net and OData differ");
        assert_eq!(
            e,
            by_key(via_enet.sim.expected_records(table), &keys),
            "{table}"
        );
    }
    assert_eq!(
        via_enet.sim.enet_counters().logons,
        1,
        "one logon served every pull"
    );
}

#[tokio::test]
async fn incremental_enet_pulls_keep_rows_sharing_a_watermark_across_pages() {
    let app = spawn_app(enet(9)).await;
    let (rows, pages) = app.caller.pull_all("ApInvoice", Some("2026-10-15")).await;
    assert!(pages.len() > 5);
    let keys = catalog_keys("ApInvoice");
    let want: Vec<_> = app
        .sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["JournalDate"].as_str().unwrap() >= "2026-10-15T00:00:00")
        .collect();
    assert_eq!(by_key(rows, &keys), by_key(want, &keys));
    let range = items_of(
        &app.caller
            .follow(
                "/v1/pull_range",
                vec![
                    json!("ApInvoice"),
                    json!("2026-10-01"),
                    json!("2026-11-01"),
                    Value::Null,
                ],
            )
            .await,
        "rows",
    );
    let want: Vec<_> = app
        .sim
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| {
            let d = r["JournalDate"].as_str().unwrap();
            ("2026-10-01T00:00:00".."2026-11-01T00:00:00").contains(&d)
        })
        .collect();
    assert_eq!(by_key(range, &keys), by_key(want, &keys));
}

#[tokio::test]
async fn concurrent_pulls_share_one_session_and_shutdown_logs_it_off() {
    let app = spawn_app(enet(200)).await;
    let tables = [
        "ApInvoice",
        "ArCustomer",
        "InvWarehouse",
        "GenMaster",
        "GrnDetails",
    ];
    let pulls = tables.iter().map(|t| app.caller.pull_all(t, None));
    futures_util::future::join_all(pulls).await;
    let c = app.sim.enet_counters();
    assert_eq!(c.logons, 1, "{c:?}");
    app.server.stop(true).await;
    app.stopped.await.unwrap().unwrap();
    let c = app.sim.enet_counters();
    assert_eq!((c.logoffs, c.active_sessions), (1, 0), "{c:?}");
}

#[tokio::test]
async fn a_session_that_expires_mid_pull_is_renewed_without_failing_the_pull() {
    let app = spawn_app(AppOptions {
        enet: EnetOptions {
            idle_timeout: Duration::from_millis(300),
            ..EnetOptions::default()
        },
        ..enet(50)
    })
    .await;
    let keys = catalog_keys("GenJournalDetail");
    let mut cursor = Value::Null;
    let mut rows = Vec::new();
    let mut pages = 0;
    loop {
        let v = app
            .caller
            .call(
                "/v1/pull",
                vec![json!("GenJournalDetail"), json!("2026-11-01"), cursor],
            )
            .await;
        assert!(v.get("error").is_none(), "{v}");
        rows.extend(
            v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone()),
        );
        cursor = v["next_cursor"].clone();
        pages += 1;
        if cursor.is_null() {
            break;
        }
        if pages == 2 {
            // SYSPRO ends the idle session (the simulator expires it after 300 ms)
            wait_until(PATIENCE, "SYSPRO to expire the session", || {
                app.sim.enet_counters().expired_sessions >= 1
            })
            .await;
        }
    }
    let want: Vec<_> = app
        .sim
        .expected_records("GenJournalDetail")
        .into_iter()
        .filter(|r| r["EntryDate"].as_str().unwrap() >= "2026-11-01T00:00:00")
        .collect();
    assert_eq!(by_key(rows, &keys), by_key(want, &keys));
    let c = app.sim.enet_counters();
    assert!(c.expired_sessions >= 1, "{c:?}");
    assert_eq!(c.logons, 2, "one renewal: {c:?}");
}

#[tokio::test]
async fn wrong_credentials_name_the_operator_and_company_but_not_the_password() {
    for wrapping in [
        EnetWrapping::Bare,
        EnetWrapping::JsonQuoted,
        EnetWrapping::XmlString,
    ] {
        let app = spawn_app(AppOptions {
            enet: EnetOptions {
                wrapping,
                ..EnetOptions::default()
            },
            extra_env: vec![(
                "MLC_SYSPRO__OPERATOR_PASSWORD".into(),
                "Wrong-Pass-4711".into(),
            )],
            ..enet(100)
        })
        .await;
        let v = app
            .caller
            .call(
                "/v1/pull",
                vec![json!("ApInvoice"), Value::Null, Value::Null],
            )
            .await;
        assert_eq!(
            v["error"]["kind"],
            json!("upstream_auth"),
            "{wrapping:?}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("\"ADMIN\"") && msg.contains("\"EDU1\""),
            "{msg}"
        );
        assert!(msg.contains("Invalid operator password"), "{msg}");
        assert!(!v.to_string().contains("Wrong-Pass-4711"));
    }
}

#[tokio::test]
async fn enet_answers_in_every_wrapping_and_through_faults_give_every_row() {
    for wrapping in [EnetWrapping::JsonQuoted, EnetWrapping::XmlString] {
        let app = spawn_app(AppOptions {
            enet: EnetOptions {
                wrapping,
                ..EnetOptions::default()
            },
            ..enet(150)
        })
        .await;
        let keys = catalog_keys("ApSupplier");
        let (rows, _) = app.caller.pull_all("ApSupplier", None).await;
        assert_eq!(
            by_key(rows, &keys),
            by_key(app.sim.expected_records("ApSupplier"), &keys),
            "{wrapping:?}"
        );
    }
    let app = spawn_app(enet(120)).await;
    app.sim.faults().set_rate(
        0.3,
        vec![
            FaultKind::Status(503),
            FaultKind::Reset,
            FaultKind::Truncated,
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
        ],
    );
    let keys = catalog_keys("InvMovements");
    let (rows, _) = app.caller.pull_all("InvMovements", None).await;
    assert_eq!(
        by_key(rows, &keys),
        by_key(app.sim.expected_records("InvMovements"), &keys)
    );
}

#[tokio::test]
async fn enet_schema_and_keys_work() {
    let app = spawn_app(enet(300)).await;
    let schema = app
        .caller
        .call("/v1/schema", vec![json!("ApInvoice")])
        .await;
    let cols = schema["columns"].as_array().unwrap();
    let find = |n: &str| cols.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(
        find("OrigInvValue")["snowflake_type"],
        json!("NUMBER(14,2)")
    );
    assert_eq!(
        find("JournalDate")["snowflake_type"],
        json!("TIMESTAMP_NTZ")
    );
    assert_eq!(find("Supplier")["edm_type"], json!("Edm.String"));
    let v = app
        .caller
        .call("/v1/keys", vec![json!("ArCustomer"), Value::Null])
        .await;
    assert_eq!(
        v["keys"].as_array().unwrap().len(),
        app.sim.expected_records("ArCustomer").len()
    );
}
