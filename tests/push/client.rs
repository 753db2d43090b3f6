//! `SqlApiClient` against the stand-in: bindings, partitions, 202 polling, errors, retries.

use ml_connector::snowflake::jwt::system_clock;
use ml_connector::snowflake::{Bind, SqlErrorKind};
use ml_connector::sync::{build_engine, client_tuning};
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_bindings_partitions_polling_and_errors() {
    let key = TestKey::generate();
    let standin = StandIn::start(StandInOptions {
        keys: vec![&key.public],
        partition_rows: 40,
        ..StandInOptions::default()
    })
    .await;
    let syspro = start_syspro(1).await;
    let s = settings(env(&syspro, &standin.url, &key.plain, None));
    let keypair = ml_connector::snowflake::load_key(&s).unwrap();
    let client =
        ml_connector::snowflake::build_client(&s, keypair, &client_tuning(&s.sync), system_clock())
            .unwrap();

    // typed bindings, quotes and NULL
    let r = client
        .execute(
            "select ?, ?, ?",
            &[Bind::text("it's \\ ok"), Bind::Int(42), Bind::Null],
        )
        .await
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![
            Some("it's \\ ok".to_string()),
            Some("42".into()),
            None
        ]]
    );

    // 130 rows come back in 4 partitions (1 inline + 3 gzip), in order
    client
        .execute(
            "create table if not exists ml_connector.syspro.numbers (n number)",
            &[],
        )
        .await
        .unwrap();
    let values: Vec<String> = (1..=130).map(|n| format!("({n})")).collect();
    let ins = client
        .execute(
            &format!(
                "insert into ml_connector.syspro.numbers (n) values {}",
                values.join(", ")
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        ins.count(|s| s.num_rows_inserted, "number of rows inserted"),
        Some(130)
    );
    standin.ctl("reset-stats", json!({})).await;
    let all = client
        .execute("select n from ml_connector.syspro.numbers order by n", &[])
        .await
        .unwrap();
    let got: Vec<i64> = all
        .rows
        .iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, (1..=130).collect::<Vec<_>>());
    assert_eq!(standin.stats().await["partitions_served"], json!(3));

    // 202 + polling
    standin
        .ctl("async", json!({"count": 1, "delay_ms": 700}))
        .await;
    let r = client
        .execute("select count(*) from ml_connector.syspro.numbers", &[])
        .await
        .unwrap();
    assert_eq!(r.rows[0][0].as_deref(), Some("130"));
    let stats = standin.stats().await;
    assert_eq!(stats["accepted_202"], json!(1));
    assert!(stats["polls"].as_u64().unwrap() >= 2, "{stats}");

    // a transaction in one request; each statement's result comes back
    let results = client
        .execute_multi(&[
            "begin transaction".into(),
            "delete from ml_connector.syspro.numbers where n > 100".into(),
            "select count(*) from ml_connector.syspro.numbers".into(),
            "commit".into(),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[2].rows[0][0].as_deref(), Some("100"));

    // a failing statement in a transaction rolls it back and names Snowflake's code
    let err = client
        .execute_multi(&[
            "begin transaction".into(),
            "delete from ml_connector.syspro.numbers".into(),
            "select nosuch from ml_connector.syspro.numbers".into(),
            "commit".into(),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.kind, SqlErrorKind::Statement);
    assert_eq!(err.status, Some(422));
    assert!(err.code.is_some() && err.sql_state.is_some(), "{err:?}");
    assert!(err.to_string().contains("NOSUCH"), "{err}");
    let left = client
        .execute("select count(*) from ml_connector.syspro.numbers", &[])
        .await
        .unwrap();
    assert_eq!(left.rows[0][0].as_deref(), Some("100"), "rolled back");

    // 429 with Retry-After, then 503, then the answer
    standin
        .ctl(
            "faults",
            json!({"status": 429, "retry_after": 1, "count": 1}),
        )
        .await;
    standin
        .ctl("faults", json!({"status": 503, "count": 1}))
        .await;
    let started = std::time::Instant::now();
    let r = client.execute("select 1", &[]).await.unwrap();
    assert_eq!(r.rows[0][0].as_deref(), Some("1"));
    assert!(
        started.elapsed().as_millis() >= 1000,
        "Retry-After was honoured"
    );

    // 408: the statement timed out in Snowflake; not resubmitted
    standin.ctl("reset-stats", json!({})).await;
    standin
        .ctl("faults", json!({"status": 408, "count": 1}))
        .await;
    let err = client.execute("select 2", &[]).await.unwrap_err();
    assert_eq!(err.kind, SqlErrorKind::Timeout, "{err:?}");
    assert_eq!((err.status, err.attempts), (Some(408), 1));
    assert_eq!(standin.stats().await["executions"], json!(0));

    // an answer lost after the statement ran: the resubmission is not executed twice
    standin.ctl("reset-stats", json!({})).await;
    standin
        .ctl(
            "faults",
            json!({"status": 502, "when": "after", "count": 1}),
        )
        .await;
    client
        .execute(
            "insert into ml_connector.syspro.numbers (n) values (1000)",
            &[],
        )
        .await
        .unwrap();
    let n = client
        .execute(
            "select count(*) from ml_connector.syspro.numbers where n = 1000",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n.rows[0][0].as_deref(), Some("1"), "inserted once");
    assert_eq!(
        standin.stats().await["retries_answered_from_cache"],
        json!(1)
    );

    // a key-less engine build fails with the variables named
    let err = build_engine(
        &settings(vec![
            ("MLC_SYSPRO__ODATA_URL".into(), syspro.server.odata_url()),
            ("MLC_SYSPRO__USER".into(), "u".into()),
            ("MLC_SYSPRO__PASSWORD".into(), "p".into()),
        ]),
        system_clock(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("MLC_SNOWFLAKE__ACCOUNT"), "{err}");
}
