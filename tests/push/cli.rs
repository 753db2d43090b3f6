//! The real binary: `ml-connector sync --once` and `ml-connector sync` stopped by SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn command(env: &[(String, String)], args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ml-connector"));
    cmd.args(args)
        .env_remove("MLC_CONFIG")
        .env("MLC_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("MLC_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_once_and_sigterm() {
    let Rig {
        key,
        standin,
        syspro,
    } = Rig::start(21).await;
    let mut e = env(&syspro, &standin.url, &key.encrypted, Some(PASSPHRASE));
    e.push(("MLC_SYNC__TABLES".into(), "ApInvoice,ArCustomer".into()));

    // --once: one JSON line per table on stdout, exit 0
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        command(&e, &["sync", "--once"]).output(),
    )
    .await
    .expect("sync --once finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines.iter().all(|l| l["status"] == json!("succeeded")),
        "{stdout}"
    );
    assert_eq!(lines[0]["report"]["table"], json!("ApInvoice"));
    // no secret is ever printed
    let key_text = std::fs::read_to_string(&key.plain).unwrap();
    let key_body = key_text.lines().nth(1).unwrap();
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PASSPHRASE) && !text.contains(key_body));
        assert!(!text.contains(&syspro.sim.options().password));
        assert!(!text.contains("Bearer"));
    }

    // a failing --once exits non-zero
    syspro
        .sim
        .faults()
        .set_rate(1.0, vec![mlc_simulator::FaultKind::Status(500)]);
    let mut failing = e.clone();
    failing.push(("MLC_SYNC__CYCLE_MAX_ATTEMPTS".into(), "1".into()));
    let out = command(&failing, &["sync", "--once"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"failed\"") && stdout.contains("upstream_unavailable"),
        "{stdout}"
    );
    syspro.sim.faults().clear();

    // the scheduler: runs both tables, then SIGTERM stops it cleanly
    let mut child = command(&e, &["sync"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        let done = standin
            .query("select count(*) from ml_connector.syspro.audit_syspro__runs where status = 'succeeded'")
            .await[0][0]
            .as_u64()
            .unwrap();
        if done >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler did not run both tables"
        );
        assert!(child.try_wait().unwrap().is_none(), "sync exited early");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("sync stops within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let running = standin
        .query(
            "select count(*) from ml_connector.syspro.audit_syspro__runs where status = 'running'",
        )
        .await;
    assert_eq!(running[0][0], json!(0), "no run left half-done");
}
