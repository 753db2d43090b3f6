//! Runs the real binary with known secret values through its commands and error paths and looks
//! for those values in everything it prints and answers.

use std::process::Stdio;
use std::time::Duration;

use mlc_simulator::{SimOptions, Simulator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::{PATIENCE, SnowflakeCaller, wait_until};

const SERVICE_SECRET: &str = "svc-secret-KJH23kjh23KJH23kjh";
const SYSPRO_PASSWORD: &str = "syspro-pw-Zx9Zx9Zx9Zx9";
const ENET_PASSWORD: &str = "enet-pw-Qw8Qw8Qw8Qw8";
const COMPANY_PASSWORD: &str = "company-pw-Rt7Rt7Rt7";

fn command(args: &[&str], env: &[(&str, String)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MLC_LOG", "debug");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

fn assert_clean(what: &str, text: &str) {
    for secret in [
        SERVICE_SECRET,
        SYSPRO_PASSWORD,
        ENET_PASSWORD,
        COMPANY_PASSWORD,
    ] {
        assert!(!text.contains(secret), "{what} leaks a secret:\n{text}");
    }
}

/// e.net puts passwords and the session id in query strings: run pulls, a logon failure and an
/// expired session with debug logging and look for all of them, the session ids included.
#[tokio::test]
async fn enet_credentials_and_session_ids_never_appear_in_logs_or_answers() {
    let sim = Simulator::new(SimOptions {
        enet: mlc_simulator::EnetOptions {
            operator_password: ENET_PASSWORD.into(),
            company_password: COMPANY_PASSWORD.into(),
            idle_timeout: Duration::from_millis(400),
            ..Default::default()
        },
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.unwrap();
    for password in [ENET_PASSWORD, "wrong-enet-password"] {
        let env = vec![
            ("MLC_SERVER__LISTEN", "127.0.0.1:0".to_string()),
            ("MLC_SERVER__SECRET", SERVICE_SECRET.to_string()),
            ("MLC_SYSPRO__TRANSPORT", "enet".to_string()),
            ("MLC_SYSPRO__ENET_URL", server.enet_url()),
            ("MLC_SYSPRO__OPERATOR", "ADMIN".to_string()),
            ("MLC_SYSPRO__OPERATOR_PASSWORD", password.to_string()),
            ("MLC_SYSPRO__COMPANY_ID", "EDU1".to_string()),
            ("MLC_SYSPRO__COMPANY_PASSWORD", COMPANY_PASSWORD.to_string()),
            ("MLC_SYSPRO__PAGE_ROWS", "100".to_string()),
            ("MLC_LOG", "trace".to_string()),
        ];
        let mut child = command(&["serve"], &env).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        let caller = SnowflakeCaller::new(&base, SERVICE_SECRET);
        let mut answers = String::new();
        answers.push_str(
            &caller
                .call(
                    "/v1/pull",
                    vec![json!("ApSupplier"), Value::Null, Value::Null],
                )
                .await
                .to_string(),
        );
        // the next call logs on again once SYSPRO has expired the idle session
        wait_until(PATIENCE, "SYSPRO to expire the session", || {
            sim.enet_counters().active_sessions == 0
        })
        .await;
        answers.push_str(
            &caller
                .call(
                    "/v1/pull",
                    vec![json!("ArCustomer"), Value::Null, Value::Null],
                )
                .await
                .to_string(),
        );
        child.start_kill().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        assert!(!stderr.is_empty());
        assert_clean("e.net service logs", &stderr);
        assert_clean("e.net answers", &answers);
        // Session ids are 34 hex characters; none may show up.
        let hexrun = stderr
            .split(|c: char| !c.is_ascii_hexdigit())
            .any(|w| w.len() >= 30);
        assert!(!hexrun, "a session id appears in the logs:\n{stderr}");
    }
    assert!(sim.enet_counters().logons >= 2, "{:?}", sim.enet_counters());
}

#[tokio::test]
async fn no_secret_appears_in_output_logs_or_answers() {
    let sim = Simulator::new(SimOptions {
        password: SYSPRO_PASSWORD.into(),
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.unwrap();
    let base_env = |password: &str| {
        vec![
            ("MLC_SERVER__LISTEN", "127.0.0.1:0".to_string()),
            ("MLC_SERVER__SECRET", SERVICE_SECRET.to_string()),
            ("MLC_SYSPRO__ODATA_URL", server.odata_url()),
            ("MLC_SYSPRO__USER", "odata".to_string()),
            ("MLC_SYSPRO__PASSWORD", password.to_string()),
            ("MLC_SYSPRO__RETRY_DEADLINE_SECS", "2".to_string()),
        ]
    };

    // The service, with good and bad calls and a failing SYSPRO.
    for (password, json_logs) in [(SYSPRO_PASSWORD, false), ("wrong-password", true)] {
        let mut env = base_env(password);
        if json_logs {
            env.push(("MLC_SERVER__LOG_FORMAT", "json".into()));
        }
        let mut child = command(&["serve"], &env).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("serve prints its address")
            .to_string();
        let caller = SnowflakeCaller::new(&base, SERVICE_SECRET);
        let mut answers = String::new();
        let good = caller
            .call(
                "/v1/pull",
                vec![json!("ApSupplier"), Value::Null, Value::Null],
            )
            .await;
        answers.push_str(&good.to_string());
        sim.faults().push(mlc_simulator::FaultKind::Status(500));
        answers.push_str(
            &caller
                .call("/v1/schema", vec![json!("ApInvoice")])
                .await
                .to_string(),
        );
        for (body, secret) in [
            (
                json!({"data": [[0, "ApInvoice", null, null]]}),
                Some("nearly-".to_string() + SERVICE_SECRET),
            ),
            (
                json!({"data": [[0, "ApInvoice", "bad", null]]}),
                Some(SERVICE_SECRET.to_string()),
            ),
            (
                json!({"data": [[0, "ApInvoice", null, "forged.cursor"]]}),
                Some(SERVICE_SECRET.to_string()),
            ),
        ] {
            let a = caller
                .post_raw(
                    "/v1/pull",
                    serde_json::to_vec(&body).unwrap(),
                    "b",
                    secret.as_deref(),
                )
                .await;
            answers.push_str(&a.body.to_string());
        }
        answers.push_str(
            &caller
                .http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        child.start_kill().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).await.unwrap();
        assert!(
            stderr.contains("Answered batch") || stderr.contains("\"Answered batch.\""),
            "logs were captured: {stderr}"
        );
        assert_clean("service logs", &stderr);
        assert_clean("service stdout", &rest);
        assert_clean("service answers", &answers);
    }

    // One-shot commands and start-up failures.
    type Run<'a> = (Vec<&'a str>, Vec<(&'a str, String)>);
    let runs: Vec<Run> = vec![
        (
            vec!["pull", "--table", "ApSupplier"],
            base_env(SYSPRO_PASSWORD),
        ),
        (
            vec!["pull", "--table", "ApSupplier"],
            base_env("wrong-password"),
        ),
        (vec!["--help"], base_env(SYSPRO_PASSWORD)),
        (vec!["tables"], base_env(SYSPRO_PASSWORD)),
        (vec!["serve"], {
            let mut e = base_env(SYSPRO_PASSWORD);
            e.push(("MLC_SYSPRO__PAGE_ROWS", "lots".into()));
            e
        }),
        (vec!["serve"], {
            let mut e = base_env(SYSPRO_PASSWORD);
            e.push(("MLC_SERVER__LISTEN", "not-an-address".into()));
            e
        }),
    ];
    for (args, env) in runs {
        let out = tokio::time::timeout(Duration::from_secs(60), command(&args, &env).output())
            .await
            .unwrap()
            .unwrap();
        assert_clean(
            &format!("{args:?} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
        assert_clean(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
}

#[tokio::test]
async fn serve_fails_fast_and_clearly_without_a_secret() {
    let out = command(
        &["serve"],
        &[("MLC_SYSPRO__ODATA_URL", "http://127.0.0.1:9/x".into())],
    )
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MLC_SERVER__SECRET"), "{err}");
}

#[tokio::test]
async fn the_pull_command_writes_ndjson() {
    let sim = Simulator::new(SimOptions::default());
    let server = sim.start("127.0.0.1:0").await.unwrap();
    let env = vec![
        ("MLC_SYSPRO__ODATA_URL", server.odata_url()),
        ("MLC_SYSPRO__USER", sim.options().user.clone()),
        ("MLC_SYSPRO__PASSWORD", sim.options().password.clone()),
        ("MLC_SYSPRO__PAGE_ROWS", "100".into()),
    ];
    let out = command(&["pull", "--table", "InvWarehouse"], &env)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Map<String, Value>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys = crate::helpers::catalog_keys("InvWarehouse");
    assert_eq!(
        crate::helpers::by_key(lines, &keys),
        crate::helpers::by_key(sim.expected_records("InvWarehouse"), &keys)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("done"));
}
