//! Serving Snowflake at scale: the asynchronous protocol, retried batches, backpressure,
//! compression and parallel backfill.

use std::io::{Read, Write};

use mlc_simulator::FaultKind;
use serde_json::{Value, json};

use crate::helpers::*;

fn async_app(async_after_ms: u64, extra: &[(&str, &str)]) -> AppOptions {
    let mut extra_env = vec![(
        "MLC_SERVER__ASYNC_AFTER_MS".to_string(),
        async_after_ms.to_string(),
    )];
    extra_env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    AppOptions {
        extra_env,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_slow_batch_answers_202_and_get_polling_returns_the_result_once_done() {
    let app = spawn_app(async_app(100, &[])).await;
    let keys = catalog_keys("ApSupplier");
    app.sim.clear_requests();
    app.sim.faults().push(FaultKind::Slow { millis: 1500 });
    let batch = app.caller.new_batch_id();
    let args = [vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let first = app.caller.post_batch("/v1/pull", &args, &batch).await;
    assert_eq!(first.status, 202, "{}", first.body);
    // A retried POST of the running batch joins it.
    assert_eq!(
        app.caller
            .post_batch("/v1/pull", &args, &batch)
            .await
            .status,
        202
    );
    let polls = std::cell::Cell::new(0);
    let done = std::cell::RefCell::new(None);
    wait_until_async(PATIENCE, "the batch to finish", || async {
        let a = app.caller.get_batch("/v1/pull", &batch).await;
        polls.set(polls.get() + 1);
        match a.status {
            202 => false,
            200 => {
                done.replace(Some(a));
                true
            }
            other => panic!("GET answered {other}: {}", a.body),
        }
    })
    .await;
    let (polls, done) = (polls.get(), done.into_inner().expect("finished"));
    assert!(polls > 1, "GET answered 202 while running");
    let rows: Vec<_> = done.body["data"][0][1]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect();
    assert_eq!(
        by_key(rows, &keys),
        by_key(app.sim.expected_records("ApSupplier"), &keys)
    );
    // A late GET, after completion, still answers.
    let late = app.caller.get_batch("/v1/pull", &batch).await;
    assert_eq!((late.status, &late.body), (200, &done.body));
    assert_eq!(
        app.data_reads("ApSupplier").len(),
        1,
        "SYSPRO was asked once"
    );
    assert_eq!(
        app.caller.get_batch("/v1/pull", "never-sent").await.status,
        404
    );
}

#[tokio::test]
async fn a_saturated_service_answers_429_so_snowflake_slows_down() {
    let app = spawn_app(async_app(50, &[("MLC_SERVER__MAX_RUNNING_BATCHES", "1")])).await;
    app.sim.faults().push(FaultKind::Slow { millis: 1500 });
    let args = [vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let slow = app
        .caller
        .post_batch("/v1/pull", &args, &app.caller.new_batch_id())
        .await;
    assert_eq!(slow.status, 202);
    let refused = app
        .caller
        .post_batch("/v1/pull", &args, &app.caller.new_batch_id())
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("MAX_RUNNING_BATCHES")
    );
}

#[tokio::test]
async fn a_batch_id_reused_with_another_body_is_refused() {
    let app = spawn_app(AppOptions::default()).await;
    let batch = app.caller.new_batch_id();
    assert_eq!(
        app.caller
            .post_batch(
                "/v1/pull",
                &[vec![json!("ApSupplier"), Value::Null, Value::Null]],
                &batch
            )
            .await
            .status,
        200
    );
    let other = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("ArCustomer"), Value::Null, Value::Null]],
            &batch,
        )
        .await;
    assert_eq!(other.status, 400);
}

#[tokio::test]
async fn gzip_request_and_response_bodies_work_as_with_compression_auto() {
    let app = spawn_app(AppOptions::default()).await;
    let body = serde_json::to_vec(&json!({"data": [[0, "ApSupplier", null, null]]})).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&body).unwrap();
    let gz = enc.finish().unwrap();
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let resp = raw
        .post(format!("{}/v1/pull", app.base))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("accept-encoding", "gzip")
        .header(
            "sf-external-function-query-batch-id",
            app.caller.new_batch_id(),
        )
        .header("sf-custom-mlc-secret", SECRET)
        .body(gz)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-encoding").unwrap(), "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&resp.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0][1]["table"], json!("ApSupplier"));
}

#[tokio::test]
async fn a_parallel_backfill_by_month_equals_a_serial_pull() {
    let app = spawn_app(AppOptions {
        page_rows: 150,
        ..Default::default()
    })
    .await;
    let keys = catalog_keys("GenJournalDetail");
    let (serial, _) = app.caller.pull_all("GenJournalDetail", None).await;
    let bounds = [
        None,
        Some("2026-07-01"),
        Some("2026-08-01"),
        Some("2026-09-01"),
        Some("2026-10-01"),
        Some("2026-11-01"),
        Some("2027-01-01"),
    ];
    let ranges: Vec<(Option<&str>, &str)> =
        bounds.windows(2).map(|w| (w[0], w[1].unwrap())).collect();
    let pulls = ranges.iter().map(|(since, until)| {
        let caller = &app.caller;
        async move {
            let since = since.map(|s| json!(s)).unwrap_or(Value::Null);
            let pages = caller
                .follow(
                    "/v1/pull_range",
                    vec![json!("GenJournalDetail"), since, json!(until), Value::Null],
                )
                .await;
            items_of(&pages, "rows")
        }
    });
    let parallel: Vec<_> = futures_util::future::join_all(pulls)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(by_key(parallel, &keys), by_key(serial, &keys));
}

#[tokio::test]
async fn a_range_pull_refuses_bad_bounds() {
    let app = spawn_app(AppOptions::default()).await;
    for (args, needle) in [
        (
            json!([0, "ApInvoice", "2026-11-01", "2026-10-01", null]),
            "later than",
        ),
        (
            json!([0, "ArCustomer", null, "2026-10-01", null]),
            "cannot be pulled by range",
        ),
        (
            json!([0, "ApInvoice", null, null, null]),
            "until must not be NULL",
        ),
        (json!([0, "ApInvoice", null, "soon", null]), "until"),
    ] {
        let a = app
            .caller
            .post_raw(
                "/v1/pull_range",
                serde_json::to_vec(&json!({"data": [args]})).unwrap(),
                "b",
                Some(SECRET),
            )
            .await;
        assert_eq!(a.status, 400);
        assert!(
            a.body["error"].as_str().unwrap().contains(needle),
            "{}",
            a.body
        );
    }
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn a_graceful_shutdown_lets_an_in_flight_batch_finish() {
    let app = spawn_app(AppOptions::default()).await;
    app.sim.faults().push(FaultKind::Slow { millis: 1000 });
    let batch = app.caller.new_batch_id();
    let args = [vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let in_flight = app.caller.post_batch("/v1/pull", &args, &batch);
    let stop = async {
        // the batch is in flight once SYSPRO has taken the slow answer's fault
        wait_until(PATIENCE, "the batch to reach SYSPRO", || {
            app.sim.faults().counters().queued == 0
        })
        .await;
        app.server.stop(true).await;
    };
    let (answer, ()) = tokio::join!(in_flight, stop);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["data"][0][1]["table"], json!("ApSupplier"));
    app.stopped.await.unwrap().unwrap();
    let refused = app
        .caller
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await;
    assert!(refused.is_err(), "the service still answers after shutdown");
}

#[tokio::test]
async fn a_flood_of_batches_is_bounded_by_429s_not_by_memory() {
    let app = spawn_app(async_app(20, &[("MLC_SERVER__MAX_RUNNING_BATCHES", "4")])).await;
    app.sim
        .faults()
        .set_rate(1.0, vec![FaultKind::Slow { millis: 400 }]);
    let args = [vec![json!("ApSupplier"), Value::Null, Value::Null]];
    let flood = (0..60).map(|_| {
        let batch = app.caller.new_batch_id();
        let caller = &app.caller;
        let args = &args;
        async move { caller.post_batch("/v1/pull", args, &batch).await.status }
    });
    let statuses = futures_util::future::join_all(flood).await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let accepted = statuses.iter().filter(|s| **s == 202 || **s == 200).count();
    assert_eq!(refused + accepted, 60, "{statuses:?}");
    assert!(refused >= 50, "{statuses:?}");
    assert!(
        app.sim.requests().len() <= 8,
        "SYSPRO saw {} requests",
        app.sim.requests().len()
    );
}
