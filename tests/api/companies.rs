//! Several SYSPRO companies in one deployment (issue #16): the simulator serves EDU1 (default)
//! and UK1, whose supplier codes are the same and whose suppliers are not. Every call names its
//! company by a qualified table name (`UK1.ApInvoice`); nothing of one company ever answers for
//! the other.

use std::time::Duration;

use mlc_simulator::{CompanyOptions, CompanyProfile, FaultKind};
use serde_json::{Value, json};

use crate::helpers::*;

/// Whether pulling `id`'s `table` through the service returns exactly that company's records.
async fn pulls_whole(app: &TestApp, id: &str, table: &str) -> bool {
    let keys = catalog_keys(table);
    let (rows, _) = app.caller.pull_all(&format!("{id}.{table}"), None).await;
    by_key(rows, &keys) == by_key(app.sim.company(id).unwrap().expected_records(table), &keys)
}

fn two_companies() -> AppOptions {
    AppOptions {
        companies: vec![CompanyOptions::new("UK1", CompanyProfile::Uk)],
        ..Default::default()
    }
}

#[tokio::test]
async fn each_company_pulls_its_own_rows() {
    let app = spawn_app(two_companies()).await;
    for table in ["ApSupplier", "ApInvoice"] {
        let keys = catalog_keys(table);
        let mut pulled = Vec::new();
        for id in ["EDU1", "UK1"] {
            let name = format!("{id}.{table}");
            let (rows, pages) = app.caller.pull_all(&name, None).await;
            for p in &pages {
                assert_eq!((&p["table"], &p["company"]), (&json!(name), &json!(id)));
            }
            let got = by_key(rows, &keys);
            let want = by_key(app.sim.company(id).unwrap().expected_records(table), &keys);
            assert_eq!(got.len(), want.len(), "{name}: row count");
            assert!(got == want, "{name}: the rows are not that company's");
            pulled.push(got);
        }
        assert_ne!(
            pulled[0], pulled[1],
            "{table}: both companies answered the same"
        );
        if table == "ApSupplier" {
            // the same codes, different suppliers: never one for the other
            assert_eq!(
                pulled[0].keys().collect::<Vec<_>>(),
                pulled[1].keys().collect::<Vec<_>>()
            );
            let differ = pulled[0]
                .iter()
                .filter(|(k, row)| pulled[1][*k]["SupplierName"] != row["SupplierName"])
                .count();
            assert!(differ > 0, "no supplier differs between the companies");
        }
    }
    // each company was read at its own company segment
    for r in app.sim.requests() {
        let company = r.company.as_deref().unwrap_or_default().to_uppercase();
        assert!(
            r.path.to_uppercase().contains(&format!("/{company}/"))
                || r.path.to_uppercase().ends_with(&format!("/{company}")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn a_cursor_of_one_company_is_refused_for_the_other() {
    let app = spawn_app(AppOptions {
        page_rows: 20,
        ..two_companies()
    })
    .await;
    let first = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("UK1.ApInvoice"), Value::Null, Value::Null],
        )
        .await;
    let cursor = first["next_cursor"].clone();
    assert!(cursor.is_string(), "{first}");
    let refused = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("EDU1.ApInvoice"), Value::Null, cursor.clone()]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let message = refused.body["error"].as_str().unwrap();
    assert!(
        message.contains("cursor is for table UK1.ApInvoice but the call names EDU1.ApInvoice"),
        "{message}"
    );
    // ... and continues its own pull, whatever the spelling of the name
    let second = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("uk1.apinvoice"), Value::Null, cursor],
        )
        .await;
    assert_eq!(second["page"], 2, "{second}");
    assert_eq!(second["table"], "UK1.ApInvoice");
}

#[tokio::test]
async fn a_table_must_name_its_company() {
    let app = spawn_app(two_companies()).await;
    let refused = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("ApInvoice"), Value::Null, Value::Null]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.body["error"],
        "table 'ApInvoice' is ambiguous: this service reads companies EDU1, UK1; name one: EDU1.ApInvoice, UK1.ApInvoice"
    );
    let unknown = app
        .caller
        .post_batch(
            "/v1/keys",
            &[vec![json!("DE1.ApSupplier"), Value::Null]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(
        unknown.body["error"]
            .as_str()
            .unwrap()
            .contains("company 'DE1' is not one this service reads (EDU1, UK1)"),
        "{}",
        unknown.body
    );
    assert!(
        app.sim.requests().is_empty(),
        "a refused call asked SYSPRO: {:?}",
        app.sim.requests()
    );

    let tables = app.caller.call("/v1/tables", vec![]).await;
    assert_eq!(tables["companies"], json!(["EDU1", "UK1"]));
    let ap = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ApSupplier")
        .unwrap();
    assert_eq!(
        ap["qualified_names"],
        json!(["EDU1.ApSupplier", "UK1.ApSupplier"])
    );
    let schema = app
        .caller
        .call("/v1/schema", vec![json!("UK1.ApSupplier")])
        .await;
    assert_eq!(
        (&schema["table"], &schema["company"]),
        (&json!("UK1.ApSupplier"), &json!("UK1"))
    );
    assert!(schema["columns"].as_array().unwrap().len() > 3, "{schema}");
    let keys = app
        .caller
        .follow("/v1/keys", vec![json!("UK1.ApSupplier"), Value::Null])
        .await;
    assert_eq!(keys[0]["company"], "UK1");
    let reconcile = app
        .caller
        .call(
            "/v1/reconcile",
            vec![json!("UK1.ApInvoice"), Value::Null, Value::Null],
        )
        .await;
    assert_eq!(
        (&reconcile["table"], &reconcile["company"]),
        (&json!("UK1.ApInvoice"), &json!("UK1")),
        "{reconcile}"
    );
}

#[tokio::test]
async fn one_company_down_does_not_stop_the_other() {
    let app = spawn_app(AppOptions {
        retry_deadline_secs: 2,
        max_attempts: 3,
        ..two_companies()
    })
    .await;
    let uk = app.sim.company("UK1").unwrap();
    uk.faults().set_rate(1.0, vec![FaultKind::Status(503)]);
    let down = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("UK1.ApSupplier"), Value::Null, Value::Null],
        )
        .await;
    assert_eq!(down["error"]["kind"], "upstream_unavailable", "{down}");
    assert_eq!(
        (&down["table"], &down["company"]),
        (&json!("UK1.ApSupplier"), &json!("UK1"))
    );
    assert!(
        pulls_whole(&app, "EDU1", "ApSupplier").await,
        "EDU1 did not pull whole while UK1 was down"
    );
    // the metrics tell which company's SYSPRO retried and which answered
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mlc_syspro_retries_total") && l.contains("company=\"UK1\"")),
        "{metrics}"
    );
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("mlc_syspro_retries_total") && l.contains("company=\"EDU1\"")),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(
            |l| l.starts_with("mlc_syspro_request_duration_seconds_count")
                && l.contains("company=\"EDU1\"")
        ),
        "{metrics}"
    );
    // up again: UK1 pulls, nothing of EDU1's in it
    uk.faults().clear();
    assert!(pulls_whole(&app, "UK1", "ApSupplier").await);
}

#[tokio::test]
async fn a_slow_company_does_not_take_the_others_slots() {
    // One SYSPRO request at a time per company. UK1 answers every request after 1.5 s; three
    // UK1 pulls (two reads each) queue on its one slot for about 9 s. EDU1 has its own slot: its whole pull
    // ends while UK1's are still waiting.
    let app = spawn_app(AppOptions {
        extra_env: vec![("MLC_SYSPRO__MAX_CONCURRENCY".into(), "1".into())],
        retry_deadline_secs: 30,
        ..two_companies()
    })
    .await;
    // UK1's schema first, fast, so that only its page reads are slow
    app.caller
        .call("/v1/schema", vec![json!("UK1.ApSupplier")])
        .await;
    let uk = app.sim.company("UK1").unwrap();
    uk.faults()
        .set_rate(1.0, vec![FaultKind::Slow { millis: 1500 }]);
    let mut slow = Vec::new();
    for _ in 0..3 {
        let caller = SnowflakeCaller::new(&app.base, SECRET);
        slow.push(tokio::spawn(async move {
            caller
                .call(
                    "/v1/pull",
                    vec![json!("UK1.ApSupplier"), Value::Null, Value::Null],
                )
                .await
        }));
    }
    wait_until(PATIENCE, "UK1 to be asked", || {
        app.sim
            .requests()
            .iter()
            .any(|r| r.company.as_deref() == Some("UK1") && r.path.ends_with("/ApSupplier"))
            || uk.faults().counters().injected > 0
    })
    .await;
    assert!(pulls_whole(&app, "EDU1", "ApSupplier").await);
    let waiting = slow.iter().filter(|h| !h.is_finished()).count();
    assert!(
        waiting > 0,
        "EDU1's pull waited for every UK1 read: the companies share a slot"
    );
    for h in slow {
        let v = tokio::time::timeout(Duration::from_secs(60), h)
            .await
            .expect("UK1's pulls end")
            .unwrap();
        assert_eq!(v["table"], "UK1.ApSupplier", "{v}");
    }
}

#[tokio::test]
async fn one_company_answers_as_before() {
    let app = spawn_app(AppOptions::default()).await;
    let v = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("apsupplier"), Value::Null, Value::Null],
        )
        .await;
    assert_eq!(v["table"], "ApSupplier");
    assert!(v.get("company").is_none(), "{v}");
    let refused = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("EDU1.ApSupplier"), Value::Null, Value::Null]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("call it 'ApSupplier'"),
        "{}",
        refused.body
    );
    let tables = app.caller.call("/v1/tables", vec![]).await;
    assert_eq!(tables["companies"], json!([""]));
    assert!(tables["tables"][0].get("qualified_names").is_none());
}

/// Two companies over e.net; UK1 logs on as its own operator when `own_operator`.
fn over_enet(own_operator: bool) -> AppOptions {
    let mut o = AppOptions {
        transport: "enet",
        ..two_companies()
    };
    if own_operator {
        o.enet.extra_operators = vec![mlc_simulator::EnetOperator {
            operator: "SYNCUK".into(),
            password: "uk-op-secret".into(),
        }];
        o.extra_env = vec![
            ("MLC_COMPANIES__UK1__OPERATOR".into(), "SYNCUK".into()),
            (
                "MLC_COMPANIES__UK1__OPERATOR_PASSWORD".into(),
                "uk-op-secret".into(),
            ),
        ];
    }
    o
}

async fn pulls_each_companys_suppliers(app: &TestApp) {
    for id in ["EDU1", "UK1", "EDU1"] {
        assert!(
            pulls_whole(app, id, "ApSupplier").await,
            "{id}: the rows are not that company's"
        );
    }
}

#[tokio::test]
async fn each_company_has_its_own_enet_session() {
    // The simulator's default: a logon ends the operator's other sessions, in any company
    // (syspro.md §2.5, UNCONFIRMED). With an operator per company both sessions live.
    let app = spawn_app(over_enet(true)).await;
    pulls_each_companys_suppliers(&app).await;
    let c = app.sim.enet_counters();
    assert_eq!(
        (c.logons, c.active_sessions, c.replaced_sessions),
        (2, 2, 0),
        "{c:?}"
    );
    // stopping logs every company's session off
    app.server.stop(true).await;
    app.stopped.await.unwrap().unwrap();
    let c = app.sim.enet_counters();
    assert_eq!((c.logoffs, c.active_sessions), (2, 0), "{c:?}");
}

#[tokio::test]
async fn companies_sharing_an_operator_still_read_their_own_rows() {
    // One operator for both, and SYSPRO ends its other session at each logon: every switch of
    // company costs a logon (the invalid session is renewed), but no call fails and no row of
    // one company is read for the other.
    let app = spawn_app(over_enet(false)).await;
    pulls_each_companys_suppliers(&app).await;
    let c = app.sim.enet_counters();
    assert!(c.replaced_sessions >= 1 && c.logons >= 3, "{c:?}");
}

#[tokio::test]
async fn a_slow_company_fills_only_its_own_running_batches() {
    // One running batch per company; UK1's next read is slow, so its batch keeps running.
    let app = spawn_app(AppOptions {
        extra_env: vec![
            ("MLC_SERVER__ASYNC_AFTER_MS".into(), "50".into()),
            ("MLC_SERVER__MAX_RUNNING_BATCHES".into(), "1".into()),
        ],
        ..two_companies()
    })
    .await;
    app.sim
        .company("UK1")
        .unwrap()
        .faults()
        .push(FaultKind::Slow { millis: 2000 });
    let uk = [vec![json!("UK1.ApSupplier"), Value::Null, Value::Null]];
    let slow = app
        .caller
        .post_batch("/v1/pull", &uk, &app.caller.new_batch_id())
        .await;
    assert_eq!(slow.status, 202, "{}", slow.body);
    let refused = app
        .caller
        .post_batch("/v1/pull", &uk, &app.caller.new_batch_id())
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("batches of company UK1 are running"),
        "{}",
        refused.body
    );
    // EDU1 is not refused for UK1's slowness
    let edu = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("EDU1.ApSupplier"), Value::Null, Value::Null]],
            &app.caller.new_batch_id(),
        )
        .await;
    assert!(matches!(edu.status, 200 | 202), "{}", edu.body);
}
