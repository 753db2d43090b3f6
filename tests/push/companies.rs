//! Push mode with several companies (issue #16): every (company, table) is a cycle of its own,
//! asked of SYSPRO by its qualified name — and only when the Snowflake statements key rows on
//! `company_id`, since otherwise the same key in two companies (the same supplier code) would
//! MERGE one company's row over the other's.

use ml_connector::snowflake::jwt::system_clock;
use ml_connector::sqlgen::{SqlTable, render_statements};
use ml_connector::sync::build_engine;
use mlc_simulator::{CompanyOptions, CompanyProfile, SimOptions, Simulator};

use crate::harness::*;

#[tokio::test]
async fn push_mode_syncs_each_company_only_with_rows_keyed_by_company() {
    let key = TestKey::generate();
    let sim = Simulator::new(SimOptions {
        seed: 5,
        companies: vec![CompanyOptions::new("UK1", CompanyProfile::Uk)],
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    let syspro = Syspro { sim, server };
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
