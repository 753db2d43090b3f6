use std::time::{Duration, Instant};

use mlc_simulator::FaultKind;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn each_kind_of_syspro_fault_is_retried_and_the_pull_is_complete() {
    let app = spawn_app(AppOptions {
        page_rows: 300,
        ..Default::default()
    })
    .await;
    let faults = [
        FaultKind::Status(500),
        FaultKind::Status(503),
        FaultKind::TooManyRequests {
            retry_after_secs: 1,
        },
        FaultKind::Reset,
        FaultKind::Truncated,
        FaultKind::Slow { millis: 300 },
    ];
    for f in faults {
        app.sim.faults().push(f.clone());
        let (rows, _) = app.caller.pull_all("ApInvoice", None).await;
        let keys = catalog_keys("ApInvoice");
        assert_eq!(
            by_key(rows, &keys),
            by_key(app.sim.expected_records("ApInvoice"), &keys),
            "after {f:?}"
        );
    }
    let metrics = app.metrics().await;
    for reason in ["status_500", "status_503", "status_429", "truncated"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "no retry counted for {reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_third_of_answers_faulted_still_gives_every_row_once() {
    let app = spawn_app(AppOptions {
        page_rows: 150,
        page_cap: Some(120),
        ..Default::default()
    })
    .await;
    app.sim.faults().set_rate(
        0.3,
        vec![
            FaultKind::Status(500),
            FaultKind::Status(503),
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
            FaultKind::Reset,
            FaultKind::Truncated,
        ],
    );
    for table in ["ApInvoice", "InvMovements"] {
        let keys = catalog_keys(table);
        let (rows, _) = app.caller.pull_all(table, None).await;
        assert_eq!(
            by_key(rows, &keys),
            by_key(app.sim.expected_records(table), &keys)
        );
    }
}

#[tokio::test]
async fn a_dead_syspro_yields_an_error_row_within_the_deadline() {
    let app = spawn_app(AppOptions {
        retry_deadline_secs: 2,
        max_attempts: 50,
        ..Default::default()
    })
    .await;
    app.sim.faults().set_rate(1.0, vec![FaultKind::Status(503)]);
    let started = Instant::now();
    let v = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("ApInvoice"), Value::Null, Value::Null],
        )
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: the 2 s deadline was not kept"
    );
    assert_eq!(v["error"]["kind"], json!("upstream_unavailable"), "{v}");
    assert!(v["error"]["attempts"].as_u64().unwrap() > 1);
    assert!(v["error"]["message"].as_str().unwrap().contains("503"));
}
