//! Reading ahead: the next page of a pull is read while the caller handles the current one, and
//! a page's cached answer is dropped once the call for the next page shows it arrived.

use mlc_simulator::FaultKind;
use serde_json::{Value, json};

use crate::helpers::*;

fn prefetches(metrics: &str, outcome: &str) -> u64 {
    // Absent samples count 0: the family must be there, or a renamed metric would make a
    // count of 0 pass vacuously.
    assert!(
        metrics.contains("# TYPE mlc_syspro_prefetches counter"),
        "{metrics}"
    );
    let prefix = format!("mlc_syspro_prefetches_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

/// No read ahead was started, skipped or deferred: the family has no sample at all.
fn no_read_ahead(metrics: &str) {
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("mlc_syspro_prefetches_total")),
        "{metrics}"
    );
}

/// One `SYSPRO_PULL('ApInvoice', NULL, cursor)` call.
async fn pull_invoices(app: &TestApp, cursor: Value) -> Value {
    app.caller
        .call("/v1/pull", vec![json!("ApInvoice"), Value::Null, cursor])
        .await
}

/// A whole pull of `table`, checked to equal SYSPRO's rows. Returns the page values.
async fn pull_all_equal(app: &TestApp, table: &str) -> Vec<Value> {
    let (rows, pages) = app.caller.pull_all(table, None).await;
    let keys = catalog_keys(table);
    assert_eq!(
        by_key(rows, &keys),
        by_key(app.sim.expected_records(table), &keys),
        "{table}"
    );
    pages
}

#[tokio::test]
async fn a_pull_following_cursors_reads_each_next_page_ahead_and_each_page_once() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let pages = pull_all_equal(&app, "ApInvoice").await;
    assert!(pages.len() >= 4, "{} pages", pages.len());
    // Page 1's call has no cursor, so page 2 is not read ahead; every later page is. No page is
    // asked of SYSPRO twice and none is read for nothing.
    let m = app.metrics().await;
    assert_eq!(prefetches(&m, "used"), pages.len() as u64 - 2, "{m}");
    assert_eq!(prefetches(&m, "started"), pages.len() as u64 - 2, "{m}");
    assert_eq!(app.page_requests("ApInvoice").len(), pages.len());
}

#[tokio::test]
async fn reading_ahead_stops_two_pages_ahead_of_the_caller() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let first = pull_invoices(&app, Value::Null).await;
    let second = pull_invoices(&app, first["next_cursor"].clone()).await;
    assert!(second["next_cursor"].is_string());
    // The caller stops at page 2: pages 3 and 4 are read ahead, page 5 waits for the caller.
    settle(&app, 2, 1, 4).await;
    // Asking for page 3 lets page 5 be read; page 6 waits.
    let third = pull_invoices(&app, second["next_cursor"].clone()).await;
    assert_eq!(third["page"], json!(3));
    settle(&app, 3, 2, 5).await;
}

/// Waits until every page the pull offered to read ahead was started or deferred (too far
/// ahead of the caller: nothing more can start until the caller moves), and SYSPRO has answered
/// the `expected` page reads; then checks there are exactly that many.
async fn settle(app: &TestApp, started: u64, deferred: u64, expected: usize) {
    wait_until_async(PATIENCE, "the read-ahead to settle", || async {
        let m = app.metrics().await;
        prefetches(&m, "started") >= started
            && prefetches(&m, "deferred") >= deferred
            && app.page_requests("ApInvoice").len() >= expected
    })
    .await;
    let m = app.metrics().await;
    assert_eq!(prefetches(&m, "started"), started, "{m}");
    assert_eq!(app.page_requests("ApInvoice").len(), expected);
}

#[tokio::test]
async fn a_single_call_is_not_read_ahead() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let page = pull_invoices(&app, Value::Null).await;
    assert!(page["next_cursor"].is_string());
    // A read ahead is decided while the call reads its own page, so before it answers.
    no_read_ahead(&app.metrics().await);
    assert_eq!(app.page_requests("ApInvoice").len(), 1);
}

#[tokio::test]
async fn a_failed_read_ahead_is_read_again_by_the_call_that_needs_it() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        max_attempts: 1,
        ..Default::default()
    })
    .await;
    let keys = catalog_keys("ApInvoice");
    let first = pull_invoices(&app, Value::Null).await;
    // Faults are served in request order: page 2's own read is merely slow, the read ahead of
    // page 3 that follows it fails (one attempt allowed).
    app.sim.faults().push(FaultKind::Slow { millis: 10 });
    app.sim.faults().push(FaultKind::Status(500));
    let mut pages = vec![first];
    loop {
        let cursor = pages.last().unwrap()["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        let v = pull_invoices(&app, cursor).await;
        assert!(v.get("error").is_none(), "{v}");
        pages.push(v);
    }
    assert_eq!(
        by_key(items_of(&pages, "rows"), &keys),
        by_key(app.sim.expected_records("ApInvoice"), &keys)
    );
    let m = app.metrics().await;
    assert_eq!(prefetches(&m, "failed"), 1, "{m}");
    assert!(
        app.page_requests("ApInvoice")
            .iter()
            .any(|r| r.fault.as_deref() == Some("status_500"))
    );
}

#[tokio::test]
async fn reading_ahead_can_be_turned_off() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        extra_env: vec![("MLC_SYSPRO__PREFETCH_PAGES".into(), "0".into())],
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let first = pull_invoices(&app, Value::Null).await;
    let second = pull_invoices(&app, first["next_cursor"].clone()).await;
    assert!(second["next_cursor"].is_string());
    // Reading ahead would have started pages 3 and 4 while page 2 was read (see above).
    no_read_ahead(&app.metrics().await);
    assert_eq!(app.page_requests("ApInvoice").len(), 2);
}

#[tokio::test]
async fn a_page_answer_is_dropped_from_the_batch_cache_once_the_next_page_is_asked_for() {
    let app = spawn_app(AppOptions {
        page_rows: 100,
        ..Default::default()
    })
    .await;
    let get = |batch: String| {
        let caller = &app.caller;
        async move {
            caller
                .http
                .get(format!("{}/v1/pull", caller.base))
                .header("sf-external-function-query-batch-id", batch)
                .header("sf-custom-mlc-secret", &caller.secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (b1, b2) = (app.caller.new_batch_id(), app.caller.new_batch_id());
    let one = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("ApInvoice"), Value::Null, Value::Null]],
            &b1,
        )
        .await;
    assert_eq!(one.status, 200);
    // Until the next page is asked for, a retry of page 1 is answered from the cache.
    assert_eq!(get(b1.clone()).await, 200);
    let cursor = one.body["data"][0][1]["next_cursor"].clone();
    let two = app
        .caller
        .post_batch(
            "/v1/pull",
            &[vec![json!("ApInvoice"), Value::Null, cursor]],
            &b2,
        )
        .await;
    assert_eq!(two.status, 200);
    assert_eq!(get(b1).await, 404, "page 1's answer is still cached");
    assert_eq!(
        get(b2).await,
        200,
        "page 2's answer must stay until page 3 is asked for"
    );
}

#[tokio::test]
async fn pages_cut_by_the_byte_budget_are_read_ahead_only_from_the_positions_calls_give() {
    let app = spawn_app(AppOptions {
        page_rows: 500,
        response_budget_bytes: 64 * 1024,
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let pages = pull_all_equal(&app, "ApInvoice").await;
    assert!(
        pages.len() > 10,
        "{} answers: the budget should cut",
        pages.len()
    );
    // Every read ahead that started has reached SYSPRO: an answer read its page itself unless a
    // read ahead had it.
    let m = app.metrics().await;
    let expected = pages.len() as u64 - prefetches(&m, "used") + prefetches(&m, "started");
    wait_until(PATIENCE, "the reads ahead to reach SYSPRO", || {
        app.data_reads("ApInvoice").len() as u64 >= expected
    })
    .await;
    // Each answer's page is read once; guesses from SYSPRO's bytes stop at the first cut page,
    // so at most the two made before it are wasted.
    let requests = app.data_reads("ApInvoice").len();
    assert!(
        requests <= pages.len() + 2,
        "{requests} SYSPRO reads for {} answers",
        pages.len()
    );
}

#[tokio::test]
async fn concurrent_pulls_sharing_one_syspro_slot_read_each_page_once() {
    // One SYSPRO slot: reads ahead compete with the calls and with each other. The bound on
    // the pages held across pulls is the next test's.
    let app = spawn_app(AppOptions {
        page_rows: 100,
        extra_env: vec![("MLC_SYSPRO__MAX_CONCURRENCY".into(), "1".into())],
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    let tables = ["ApInvoice", "GenJournalDetail", "InvMovements"];
    let app = &app;
    let pulls = futures_util::future::join_all(tables.iter().map(|t| pull_all_equal(app, t))).await;
    // Every page read ahead was used by its call: none is still on its way.
    let m = app.metrics().await;
    assert_eq!(
        prefetches(&m, "started"),
        prefetches(&m, "used") + prefetches(&m, "failed"),
        "{m}"
    );
    for (table, pages) in tables.iter().zip(pulls) {
        assert_eq!(
            app.page_requests(table).len(),
            pages.len(),
            "{table}: a page was read twice or for nothing"
        );
    }
}

#[tokio::test]
async fn the_pages_held_read_ahead_are_bounded_across_all_pulls() {
    // Two SYSPRO slots: at most 2 × DEPTH = 4 pages are held read ahead, whatever the pulls.
    // (With one slot, as above, the read that would offer a page holds the only slot, so the
    // offer is always skipped and the bound cannot be reached.)
    let app = spawn_app(AppOptions {
        page_rows: 100,
        extra_env: vec![("MLC_SYSPRO__MAX_CONCURRENCY".into(), "2".into())],
        ..Default::default()
    })
    .await;
    app.sim.clear_requests();
    // Three pulls stop at page 2, one after the other. Each would read pages 3 and 4 ahead on its
    // own (six pages); each one's reading ahead ends when a page is deferred (page 5: too far
    // ahead of its caller) or skipped (no page left to hold, or no free slot).
    let tables = ["ApInvoice", "GenJournalDetail", "InvMovements"];
    for (i, table) in tables.iter().enumerate() {
        let first = app
            .caller
            .call("/v1/pull", vec![json!(table), Value::Null, Value::Null])
            .await;
        let second = app
            .caller
            .call(
                "/v1/pull",
                vec![json!(table), Value::Null, first["next_cursor"].clone()],
            )
            .await;
        assert!(second["next_cursor"].is_string(), "{table}: {second}");
        wait_until_async(PATIENCE, "the pull's reading ahead to end", || async {
            let m = app.metrics().await;
            prefetches(&m, "skipped") + prefetches(&m, "deferred") > i as u64
        })
        .await;
    }
    let m = app.metrics().await;
    assert_eq!(
        prefetches(&m, "started"),
        4,
        "the bound is reached and kept: {m}"
    );
    let reads_ahead = || {
        tables
            .iter()
            .map(|t| app.page_requests(t).len())
            .sum::<usize>()
            - 2 * tables.len()
    };
    wait_until(PATIENCE, "the pages read ahead to reach SYSPRO", || {
        reads_ahead() >= 4
    })
    .await;
    assert_eq!(reads_ahead(), 4, "{m}");
    // The pages held are the pulls' own next pages: following the cursors uses them.
    for table in tables {
        let (rows, _) = app.caller.pull_all(table, None).await;
        let keys = catalog_keys(table);
        assert_eq!(
            by_key(rows, &keys),
            by_key(app.sim.expected_records(table), &keys),
            "{table}"
        );
    }
}
