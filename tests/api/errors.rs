use serde_json::{Value, json};

use crate::helpers::*;

/// Each bad call gets its status and a message naming the problem, and SYSPRO is not asked.
#[tokio::test]
async fn bad_inputs_are_refused_before_syspro_is_asked() {
    // A real cursor to tamper with: from a multi-page pull.
    let small = spawn_app(AppOptions {
        page_rows: 5,
        ..Default::default()
    })
    .await;
    let first = small
        .caller
        .call(
            "/v1/pull",
            vec![json!("ApInvoice"), json!("2026-11-01"), Value::Null],
        )
        .await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let mut tampered = cursor.clone();
    let mid = tampered.len() / 3;
    let flipped = if &tampered[mid..mid + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(mid..mid + 1, flipped);
    small.sim.clear_requests();

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/v1/pull",
            json!({"data": [[0, "NoSuchTable", null, null]]}),
            400,
            "known tables: ",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", "last tuesday", null]]}),
            400,
            "YYYY-MM-DD",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", "2026-11-01' or 1 eq 1", null]]}),
            400,
            "not a date",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", null]]}),
            400,
            "takes 3",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, 42, null, null]]}),
            400,
            "must be text",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", "2026-11-01", tampered]]}),
            400,
            "signature",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", "2026-11-01", "garbage"]]}),
            400,
            "malformed",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoicePay", "2026-11-01", cursor.clone()]]}),
            400,
            "cursor is for table ApInvoice",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", "2026-10-01", cursor.clone()]]}),
            400,
            "pass the same since",
        ),
        (
            "/v1/keys",
            json!({"data": [[0, "ApInvoice", cursor.clone()]]}),
            400,
            "SYSPRO_PULL",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ArCustomer", "2026-11-01", null]]}),
            400,
            "since must be NULL",
        ),
        (
            "/v1/pull",
            json!({"data": [[0, "ApInvoice", null, null], [1, "Nope", null, null]]}),
            400,
            "row 1",
        ),
        (
            "/v1/pull",
            json!({"rows": []}),
            400,
            "external-function JSON",
        ),
        (
            "/v1/schema",
            json!({"data": [[0, null]]}),
            400,
            "must not be NULL",
        ),
    ];
    for (path, body, status, needle) in cases {
        let a = small
            .caller
            .post_raw(
                path,
                serde_json::to_vec(&body).unwrap(),
                &small.caller.new_batch_id(),
                Some(SECRET),
            )
            .await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        let msg = a.body["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{body}: message {msg:?} lacks {needle:?}"
        );
    }
    let not_json = small
        .caller
        .post_raw("/v1/pull", b"{\"data\": [[0, ".to_vec(), "b", Some(SECRET))
        .await;
    assert_eq!(not_json.status, 400);
    let deep = format!("{{\"data\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(
        small
            .caller
            .post_raw("/v1/pull", deep.into_bytes(), "b", Some(SECRET))
            .await
            .status,
        400
    );
    let huge = format!(
        "{{\"data\": [[0, \"{}\", null, null]]}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let a = small
        .caller
        .post_raw("/v1/pull", huge.into_bytes(), "b", Some(SECRET))
        .await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(
        small.sim.requests().is_empty(),
        "SYSPRO was asked: {:?}",
        small.sim.requests()
    );
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_401() {
    let app = spawn_app(AppOptions::default()).await;
    let body = serde_json::to_vec(&json!({"data": [[0, "ApInvoice", null, null]]})).unwrap();
    for secret in [None, Some("wrong"), Some("")] {
        let a = app
            .caller
            .post_raw("/v1/pull", body.clone(), "b1", secret)
            .await;
        assert_eq!(a.status, 401);
        assert!(
            a.body["error"]
                .as_str()
                .unwrap()
                .contains("sf-custom-mlc-secret")
        );
    }
    assert!(app.sim.requests().is_empty());
}

#[tokio::test]
async fn wrong_syspro_credentials_give_an_auth_error_row_naming_the_fix() {
    let app = spawn_app(AppOptions {
        extra_env: vec![("MLC_SYSPRO__PASSWORD".into(), "not-the-password".into())],
        ..Default::default()
    })
    .await;
    let v = app
        .caller
        .call(
            "/v1/pull",
            vec![json!("ApInvoice"), Value::Null, Value::Null],
        )
        .await;
    assert_eq!(v["error"]["kind"], json!("upstream_auth"));
    assert_eq!(v["error"]["attempts"], json!(1), "401 is not retried");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MLC_SYSPRO__PASSWORD")
    );
    assert_eq!(v["table"], json!("ApInvoice"));
    assert!(v["poll_id"].is_string());
}
