//! Push mode with several companies (issue #16): every (company, table) is a cycle of its own,
//! asked of SYSPRO by its qualified name — and only when the Snowflake statements key rows on
//! `company_id`, since otherwise the same key in two companies (the same supplier code) would
//! MERGE one company's row over the other's.

use ml_connector::config::Settings;
use ml_connector::snowflake::jwt::system_clock;
use ml_connector::sqlgen::{SqlTable, render_statements};
use ml_connector::sync::build_engine;
use mlc_simulator::{
    CompanyOptions, CompanyProfile, FaultKind, MutationPlan, SimOptions, Simulator,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::harness::*;
use crate::sync::{assert_audit_complete, assert_company_in_sync};

#[tokio::test]
async fn push_mode_syncs_each_company_only_with_rows_keyed_by_company() {
    let key = TestKey::generate();
    let syspro = edu1_and_uk1(5).await;
    // No SQL API is asked: the engine is only built.
    let mut e = env(&syspro, "http://127.0.0.1:9", &key.plain, None);
    e.retain(|(k, _)| k != "MLC_SYSPRO__ODATA_URL");
    for id in ["EDU1", "UK1"] {
        e.push((
            format!("MLC_COMPANIES__{id}__ODATA_URL"),
            syspro.server.odata_url_for(id),
        ));
    }
    e.push(("MLC_SYNC__TABLES".into(), "ApSupplier,UK1.ApInvoice".into()));
    let s = settings(e);
    let tables: Vec<SqlTable> = ml_connector::catalog::Catalog::built_in()
        .tables()
        .map(SqlTable::from)
        .collect();
    let keyed = render_statements(&ml_connector::startup::sql_settings(&s), &tables)
        .values()
        .any(|text| text.contains(":company_id"));
    match build_engine(&s, system_clock()) {
        Ok(engine) => {
            assert!(
                keyed,
                "an engine was built over statements without company_id"
            );
            let names: Vec<String> = engine.tables().iter().map(|t| t.qualified_name()).collect();
            assert_eq!(
                names,
                ["EDU1.ApSupplier", "UK1.ApSupplier", "UK1.ApInvoice"]
            );
        }
        Err(err) => {
            assert!(
                !keyed,
                "refused although the statements key on company_id: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("companies EDU1, UK1")
                    && text.contains("one company's rows would overwrite another's"),
                "{text}"
            );
        }
    }
}

/// The environment of a push-mode engine reading EDU1 and UK1 of `syspro` into `standin`.
/// The simulator with its default company EDU1 (ZAR) and UK1 (GBP), whose supplier and
/// invoice codes collide with EDU1's.
async fn edu1_and_uk1(seed: u64) -> Syspro {
    let sim = Simulator::new(SimOptions {
        seed,
        companies: vec![CompanyOptions::new("UK1", CompanyProfile::Uk)],
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    Syspro { sim, server }
}

fn two_company_env(syspro: &Syspro, standin: &StandIn, key: &TestKey, tables: &str) -> Settings {
    let mut e = env(syspro, &standin.url, &key.plain, None);
    e.retain(|(k, _)| k != "MLC_SYSPRO__ODATA_URL");
    for id in ["EDU1", "UK1"] {
        e.push((
            format!("MLC_COMPANIES__{id}__ODATA_URL"),
            syspro.server.odata_url_for(id),
        ));
    }
    e.push(("MLC_SYNC__TABLES".into(), tables.into()));
    settings(e)
}

async fn high_waters(standin: &StandIn, company_id: &str) -> Vec<Vec<Value>> {
    standin
        .query(&format!(
            "select table_name, high_water from ml_connector.syspro.syspro_sync_state where company_id = '{company_id}' order by table_name"
        ))
        .await
}

/// Issue #16 end to end in push mode: two companies whose supplier codes and invoice keys collide
/// sync into the same Snowflake tables, each company's rows equal to its own SYSPRO and never
/// merged over the other's; with one company down the other keeps syncing, and the down one's
/// failure is its own audited run that leaves its watermark where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_companies_sync_apart_and_one_down_does_not_stop_the_other() {
    let key = TestKey::generate();
    let standin = StandIn::start(StandInOptions {
        keys: vec![&key.public],
        ..StandInOptions::default()
    })
    .await;
    standin.apply_setup_for(&["EDU1", "UK1"]).await;
    let syspro = edu1_and_uk1(8).await;
    let (edu, uk) = (
        syspro.sim.company("EDU1").expect("EDU1"),
        syspro.sim.company("UK1").expect("UK1"),
    );
    let tables: &[&str] = &["ApSupplier", "ApInvoice"];
    let engine = build_engine(
        &two_company_env(&syspro, &standin, &key, &tables.join(",")),
        system_clock(),
    )
    .expect("engine builds");
    let (_tx, stop) = watch::channel(false);

    for r in engine.run_once(&stop, false).await {
        r.expect("every company's first load succeeds");
    }
    assert_company_in_sync(&standin, &edu, "EDU1", Some(tables)).await;
    assert_company_in_sync(&standin, &uk, "UK1", Some(tables)).await;
    // the collisions are real: the same supplier codes in both companies, different suppliers
    let shared = standin
        .query(
            "select count(*) from ml_connector.syspro.syspro__ap_supplier as edu \
             join ml_connector.syspro.syspro__ap_supplier as uk on uk.record_key = edu.record_key \
             where edu.company_id = 'EDU1' and uk.company_id = 'UK1' and edu.record_hash <> uk.record_hash",
        )
        .await;
    assert!(
        count(&shared[0][0]) > 0,
        "supplier codes shared by both companies, each kept as its own row"
    );
    let runs = standin
        .query("select company_id, count(*) from ml_connector.syspro.audit_syspro__runs where status = 'succeeded' group by company_id order by company_id")
        .await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| count(&r[1]) == 2), "{runs:?}");

    // UK1 is down for longer than the retry budget while both companies post
    let uk_before = high_waters(&standin, "UK1").await;
    let plan = MutationPlan {
        inserts: 5,
        updates: 5,
        backdated: 0,
        deletes: 0,
        backdate_max_days: 1,
        tables: Some(tables.iter().map(|t| t.to_string()).collect()),
    };
    edu.mutate(&plan);
    uk.mutate(&plan);
    uk.faults().set_rate(1.0, vec![FaultKind::Status(500)]);
    for r in engine.run_once(&stop, false).await {
        match r {
            Ok(report) => assert!(
                report.table.starts_with("EDU1."),
                "only EDU1 syncs: {}",
                report.table
            ),
            Err(err) => {
                assert!(err.table.starts_with("UK1."), "{err}");
                assert!(err.audited, "{err}");
            }
        }
    }
    assert_company_in_sync(&standin, &edu, "EDU1", Some(tables)).await;
    assert_eq!(
        high_waters(&standin, "UK1").await,
        uk_before,
        "UK1's watermarks did not move"
    );
    let failed = standin
        .query("select distinct company_id from ml_connector.syspro.audit_syspro__runs where status = 'failed'")
        .await;
    assert_eq!(failed, vec![vec![json!("UK1")]], "only UK1's runs failed");

    // UK1 back: it catches up from where it stood
    uk.faults().clear();
    for r in engine.run_once(&stop, false).await {
        r.expect("both companies sync again");
    }
    assert_company_in_sync(&standin, &edu, "EDU1", Some(tables)).await;
    assert_company_in_sync(&standin, &uk, "UK1", Some(tables)).await;
    assert_audit_complete(&standin).await;
}

/// The stand-in answers numbers as strings (jsonv2).
fn count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}
