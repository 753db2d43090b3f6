//! `ml-connector check` against the simulator: a verdict per item, the fix for each common
//! failure, a non-zero exit when anything failed, and never a secret in the output.

use std::time::Duration;

use crate::helpers::*;

const TIMEOUT: Duration = Duration::from_secs(90);

fn assert_no_secret(run: &Run, secret: &str) {
    assert!(
        !run.all().contains(secret),
        "a secret was printed:\n{}",
        run.explain()
    );
}

#[tokio::test]
async fn a_working_syspro_passes_every_item() {
    let (sim, server) = simulator().await;
    let run = run(
        &["check"],
        &odata_env(&server.odata_url(), &sim, None),
        TIMEOUT,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        verdict(&run.stdout, "SYSPRO $metadata")
            .is_some_and(|l| l.starts_with('✔') && l.contains("13 entity sets")),
        "{}",
        run.explain()
    );
    for table in mlc_simulator::Simulator::table_names() {
        let line = verdict(&run.stdout, &format!("SYSPRO {table}"))
            .unwrap_or_else(|| panic!("no verdict for {table}:\n{}", run.explain()));
        assert!(line.starts_with('✔') && line.contains("$top=1"), "{line}");
    }
    assert!(run.stdout.contains("checks passed"), "{}", run.explain());
    assert_no_secret(&run, &sim.options().password);
    // every table was read with $top=1, after $metadata (then `discover`'s reads)
    let reads: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.api == "odata" && !r.path.ends_with("$metadata"))
        .collect();
    for table in mlc_simulator::Simulator::table_names() {
        assert!(
            reads
                .iter()
                .any(|r| r.path.ends_with(&format!("/{table}")) && r.query.contains("$top=1")),
            "{reads:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_401_with_the_credentials_fix() {
    let (sim, server) = simulator().await;
    let wrong = "not-the-password-42";
    let run = run(
        &["check"],
        &odata_env(&server.odata_url(), &sim, Some(wrong)),
        TIMEOUT,
    )
    .await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO $metadata").expect("a $metadata verdict");
    assert!(line.starts_with('✘') && line.contains("401"), "{line}");
    let fix = fix_of(&run.stdout, "SYSPRO $metadata").expect("a fix");
    assert!(
        fix.contains("MLC_SYSPRO__USER") && fix.contains("MLC_SYSPRO__PASSWORD"),
        "{fix}"
    );
    assert_no_secret(&run, wrong);
    assert_no_secret(&run, &sim.options().password);
}

#[tokio::test]
async fn a_table_syspro_does_not_expose_is_named_with_what_exists() {
    let (sim, server) = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mlc.toml");
    std::fs::write(
        &config,
        "[tables.SorMaster]\nkey_columns = [\"SalesOrder\"]\nwatermark_column = \"EntryDate\"\n",
    )
    .unwrap();
    let run = run(
        &["check", "--config", config.to_str().unwrap()],
        &odata_env(&server.odata_url(), &sim, None),
        TIMEOUT,
    )
    .await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO SorMaster").expect("a SorMaster verdict");
    assert!(
        line.starts_with('✘') && line.contains("has no entity set") && line.contains("ApInvoice"),
        "{line}"
    );
    let fix = fix_of(&run.stdout, "SYSPRO SorMaster").expect("a fix");
    assert!(
        fix.contains("OData") && fix.contains("[tables.SorMaster]"),
        "{fix}"
    );
    // the other tables still pass: one bad table does not hide the rest
    assert!(
        verdict(&run.stdout, "SYSPRO ApInvoice").is_some_and(|l| l.starts_with('✔')),
        "{}",
        run.explain()
    );
    assert!(run.stdout.contains("1 failed"), "{}", run.explain());
}

#[tokio::test]
async fn a_url_with_the_wrong_company_says_what_the_url_must_be() {
    let (sim, server) = simulator().await;
    let url = server.odata_url().replace("/EDU1", "/NOPE");
    let run = run(&["check"], &odata_env(&url, &sim, None), TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO $metadata").expect("a $metadata verdict");
    assert!(line.starts_with('✘') && line.contains("404"), "{line}");
    let fix = fix_of(&run.stdout, "SYSPRO $metadata").expect("a fix");
    assert!(
        fix.contains("MLC_SYSPRO__ODATA_URL") && fix.contains("company segment"),
        "{fix}"
    );
}

#[tokio::test]
async fn nothing_listening_points_at_the_url() {
    let (sim, _server) = simulator().await;
    // a port that was free a moment ago: nothing listens there now
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/SYSPRO8Odata/SYSPROOData/EDU1");
    let run = run(&["check"], &odata_env(&url, &sim, None), TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO $metadata").expect("a $metadata verdict");
    assert!(line.starts_with('✘'), "{line}");
    let fix = fix_of(&run.stdout, "SYSPRO $metadata").expect("a fix");
    assert!(
        fix.contains(&format!("nothing answers at 127.0.0.1:{port}"))
            && fix.contains("MLC_SYSPRO__ODATA_URL"),
        "{fix}"
    );
}

#[tokio::test]
async fn nothing_configured_names_the_variables() {
    let run = run(&["check"], &[], TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO configuration").expect("a configuration verdict");
    for var in [
        "MLC_SYSPRO__ODATA_URL",
        "MLC_SYSPRO__USER",
        "MLC_SYSPRO__PASSWORD",
    ] {
        assert!(line.contains(var), "{line}");
    }
}

#[tokio::test]
async fn the_enet_transport_logs_on_and_off_and_reads_each_table() {
    let (sim, server) = simulator().await;
    let enet = sim.options().enet.clone();
    let env = |password: &str| -> Vec<(String, String)> {
        vec![
            ("MLC_SYSPRO__TRANSPORT".into(), "enet".into()),
            ("MLC_SYSPRO__ENET_URL".into(), server.enet_url()),
            ("MLC_SYSPRO__OPERATOR".into(), enet.operator.clone()),
            ("MLC_SYSPRO__OPERATOR_PASSWORD".into(), password.to_string()),
            ("MLC_SYSPRO__COMPANY_ID".into(), enet.company_id.clone()),
        ]
    };
    let ok = run(&["check"], &env(&enet.operator_password), TIMEOUT).await;
    assert_no_secret(&ok, &enet.operator_password);
    let logon = verdict(&ok.stdout, "SYSPRO e.net logon").expect("a logon verdict");
    assert_eq!(ok.code, 0, "{}", ok.explain());
    assert!(logon.starts_with('✔'), "{logon}");
    assert!(
        verdict(&ok.stdout, "SYSPRO ApInvoice").is_some_and(|l| l.starts_with('✔')),
        "{}",
        ok.explain()
    );
    // every session it opened, it closed
    let counters = sim.enet_counters();
    assert_eq!(counters.active_sessions, 0, "{counters:?}");

    let wrong = "not-the-operator-password";
    let bad = run(&["check"], &env(wrong), TIMEOUT).await;
    assert_ne!(bad.code, 0, "{}", bad.explain());
    let fix = fix_of(&bad.stdout, "SYSPRO e.net logon").expect("a fix");
    assert!(fix.contains("MLC_SYSPRO__OPERATOR_PASSWORD"), "{fix}");
    assert_no_secret(&bad, wrong);
}
