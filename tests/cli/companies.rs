//! `pull`, `check` and `discover` with several companies (issue #16): the binary configured with
//! `[companies.EDU1]` and `[companies.UK1]` against a simulator serving both.

use std::collections::BTreeSet;
use std::time::Duration;

use mlc_simulator::{CompanyOptions, CompanyProfile, FaultKind, SimOptions, SimServer, Simulator};
use serde_json::{Map, Value};

use crate::helpers::*;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn two_companies() -> (Simulator, SimServer, Vec<(String, String)>) {
    let sim = Simulator::new(SimOptions {
        seed: 11,
        ap_invoice_rows: Some(300),
        companies: vec![CompanyOptions::new("UK1", CompanyProfile::Uk)],
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    let mut env: Vec<(String, String)> = odata_env(&server.odata_url(), &sim, None)
        .into_iter()
        .filter(|(k, _)| k != "MLC_SYSPRO__ODATA_URL")
        .collect();
    for id in ["EDU1", "UK1"] {
        env.push((
            format!("MLC_COMPANIES__{id}__ODATA_URL"),
            server.odata_url_for(id),
        ));
    }
    (sim, server, env)
}

fn suppliers(ndjson: &str) -> BTreeSet<(String, String)> {
    ndjson
        .lines()
        .map(|l| {
            let r: Map<String, Value> = serde_json::from_str(l).expect("one record a line");
            (
                r["Supplier"].as_str().unwrap().to_string(),
                r["SupplierName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected(sim: &Simulator, id: &str) -> BTreeSet<(String, String)> {
    sim.company(id)
        .unwrap()
        .expected_records("ApSupplier")
        .iter()
        .map(|r| {
            (
                r["Supplier"].as_str().unwrap().to_string(),
                r["SupplierName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pull_reads_the_company_it_is_given() {
    let (sim, _server, env) = two_companies().await;
    let uk = run(&["pull", "--table", "UK1.ApSupplier"], &env, TIMEOUT).await;
    assert_eq!(uk.code, 0, "{}", uk.explain());
    assert_eq!(suppliers(&uk.stdout), expected(&sim, "UK1"));
    assert!(
        uk.stderr.contains("UK1.ApSupplier: done"),
        "{}",
        uk.explain()
    );
    let edu = run(
        &["pull", "--company", "edu1", "--table", "ApSupplier"],
        &env,
        TIMEOUT,
    )
    .await;
    assert_eq!(edu.code, 0, "{}", edu.explain());
    assert_eq!(suppliers(&edu.stdout), expected(&sim, "EDU1"));
    assert_ne!(expected(&sim, "EDU1"), expected(&sim, "UK1"));

    let neither = run(&["pull", "--table", "ApSupplier"], &env, TIMEOUT).await;
    assert_ne!(neither.code, 0, "{}", neither.explain());
    assert!(
        neither
            .stderr
            .contains("name one: EDU1.ApSupplier, UK1.ApSupplier"),
        "{}",
        neither.explain()
    );
    assert!(neither.stdout.is_empty(), "{}", neither.explain());
}

#[tokio::test]
async fn check_reports_each_company_on_its_own() {
    let (sim, _server, env) = two_companies().await;
    sim.company("UK1")
        .unwrap()
        .faults()
        .set_rate(1.0, vec![FaultKind::Status(503)]);
    let run = run(&["check"], &env, TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    assert!(
        verdict(&run.stdout, "SYSPRO EDU1 $metadata").is_some_and(|l| l.starts_with('✔')),
        "{}",
        run.explain()
    );
    for table in Simulator::table_names() {
        let line = verdict(&run.stdout, &format!("SYSPRO EDU1.{table}"))
            .unwrap_or_else(|| panic!("no verdict for EDU1.{table}:\n{}", run.explain()));
        assert!(line.starts_with('✔'), "{line}");
    }
    let uk = verdict(&run.stdout, "SYSPRO UK1 $metadata")
        .unwrap_or_else(|| panic!("no UK1 verdict:\n{}", run.explain()));
    assert!(uk.starts_with('✘') && uk.contains("503"), "{uk}");
    assert!(
        !run.all().contains(&sim.options().password),
        "a secret was printed"
    );

    // --company: only that one
    let only = crate::helpers::run(&["check", "--company", "edu1"], &env, TIMEOUT).await;
    assert_eq!(only.code, 0, "{}", only.explain());
    assert!(!only.stdout.contains("UK1"), "{}", only.explain());
}

#[tokio::test]
async fn a_company_without_its_url_is_named_with_its_variable() {
    let (_sim, _server, mut env) = two_companies().await;
    env.push(("MLC_COMPANIES__DE1__USER".into(), "de".into()));
    let run = run(&["check"], &env, TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO DE1 configuration")
        .unwrap_or_else(|| panic!("no DE1 verdict:\n{}", run.explain()));
    assert!(
        line.starts_with('✘') && line.contains("MLC_COMPANIES__DE1__ODATA_URL"),
        "{line}"
    );
    // the others are still checked
    assert!(
        verdict(&run.stdout, "SYSPRO UK1 $metadata").is_some_and(|l| l.starts_with('✔')),
        "{}",
        run.explain()
    );
    // a [syspro] key no company may inherit is one verdict for the whole configuration
    let (_sim, _server, mut env) = two_companies().await;
    env.push(("MLC_SYSPRO__COMPANY_ID".into(), "EDU1".into()));
    let run = crate::helpers::run(&["check"], &env, TIMEOUT).await;
    assert_ne!(run.code, 0, "{}", run.explain());
    let line = verdict(&run.stdout, "SYSPRO configuration")
        .unwrap_or_else(|| panic!("no configuration verdict:\n{}", run.explain()));
    assert!(
        line.starts_with('✘') && line.contains("MLC_SYSPRO__COMPANY_ID"),
        "{line}"
    );
}

#[tokio::test]
async fn discover_reports_each_company() {
    let (_sim, _server, env) = two_companies().await;
    let run = run(&["discover"], &env, TIMEOUT).await;
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stdout.contains("## Company EDU1") && run.stdout.contains("## Company UK1"),
        "{}",
        run.explain()
    );
    let one = crate::helpers::run(&["discover", "--company", "UK1"], &env, TIMEOUT).await;
    assert_eq!(one.code, 0, "{}", one.explain());
    assert!(
        one.stdout.contains("## Company UK1") && !one.stdout.contains("EDU1"),
        "{}",
        one.explain()
    );
}

/// Both companies over e.net as the simulator's one operator, sessions scoped as given.
async fn over_enet(
    scope: mlc_simulator::SessionScope,
) -> (Simulator, SimServer, Vec<(String, String)>) {
    let sim = Simulator::new(SimOptions {
        seed: 11,
        ap_invoice_rows: Some(300),
        companies: vec![CompanyOptions::new("UK1", CompanyProfile::Uk)],
        enet: mlc_simulator::EnetOptions {
            session_scope: scope,
            ..Default::default()
        },
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    let o = sim.options().enet.clone();
    let env = vec![
        ("MLC_SYSPRO__TRANSPORT".to_string(), "enet".to_string()),
        ("MLC_SYSPRO__ENET_URL".into(), server.enet_url()),
        ("MLC_SYSPRO__OPERATOR".into(), o.operator.clone()),
        (
            "MLC_SYSPRO__OPERATOR_PASSWORD".into(),
            o.operator_password.clone(),
        ),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS".into(), "10".into()),
        ("MLC_COMPANIES__EDU1__COMPANY_ID".into(), "EDU1".into()),
        ("MLC_COMPANIES__UK1__COMPANY_ID".into(), "UK1".into()),
    ];
    (sim, server, env)
}

#[tokio::test]
async fn check_tells_whether_companies_can_share_an_enet_operator() {
    let (sim, _server, env) = over_enet(mlc_simulator::SessionScope::Operator).await;
    let strict = run(&["check"], &env, TIMEOUT).await;
    assert_ne!(strict.code, 0, "{}", strict.explain());
    let line = verdict(&strict.stdout, "SYSPRO e.net operator ADMIN")
        .unwrap_or_else(|| panic!("no operator verdict:\n{}", strict.explain()));
    assert!(
        line.starts_with('✘') && line.contains("one session per operator"),
        "{line}"
    );
    let fix = fix_of(&strict.stdout, "SYSPRO e.net operator ADMIN").unwrap_or_default();
    assert!(fix.contains("MLC_COMPANIES__UK1__OPERATOR"), "{fix}");
    assert!(
        verdict(&strict.stdout, "SYSPRO UK1 e.net logon").is_some_and(|l| l.starts_with('✔')),
        "{}",
        strict.explain()
    );
    assert!(!strict.all().contains(&sim.options().enet.operator_password));

    let (_sim, _server, env) = over_enet(mlc_simulator::SessionScope::OperatorAndCompany).await;
    let apart = run(&["check"], &env, TIMEOUT).await;
    assert_eq!(apart.code, 0, "{}", apart.explain());
    assert!(
        verdict(&apart.stdout, "SYSPRO e.net operator ADMIN").is_some_and(|l| l.starts_with('✔')),
        "{}",
        apart.explain()
    );
}
