//! `ml-connector discover` (and the same findings in `check`) against the simulator in each site
//! variant: the verdicts and the `[tables.X]` overrides it prints.

use std::time::Duration;

use mlc_simulator::{
    ColumnTypeOverride, ExtraColumn, KeyOverride, SimOptions, Simulator, SiteOptions,
};

use crate::helpers::*;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn site(site: SiteOptions) -> (Simulator, mlc_simulator::SimServer) {
    let sim = Simulator::new(SimOptions {
        seed: 11,
        ap_invoice_rows: Some(300),
        site,
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    (sim, server)
}

#[tokio::test]
async fn the_plain_simulator_matches_the_catalog() {
    let (sim, server) = site(SiteOptions::default()).await;
    let run = run(
        &["discover"],
        &odata_env(&server.odata_url(), &sim, None),
        TIMEOUT,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.explain());
    // the catalog and the plain simulator agree: no overrides to paste
    assert_eq!(
        run.stdout.matches("[tables.").count(),
        0,
        "{}",
        run.explain()
    );
    assert!(
        run.stdout
            .contains("open items re-read every cycle: MthInvBal1 ne 0"),
        "{}",
        run.explain()
    );
    assert!(
        run.stdout.contains("ApInvoice: matches"),
        "{}",
        run.explain()
    );
    assert!(
        run.stdout.contains("date-times written with Z"),
        "{}",
        run.explain()
    );
    assert!(run.stdout.contains("no TimeStamp"), "{}", run.explain());
}

#[tokio::test]
async fn a_real_site_gets_its_overrides_and_check_fails_on_the_key() {
    let (sim, server) = site(SiteOptions {
        silent_page_cap: Some(200),
        datetime_offset_minutes: Some(120),
        extra_columns: vec![ExtraColumn {
            table: "ArCustomer".into(),
            name: "UserCreditDays".into(),
            sql_type: "decimal(5,0)".into(),
            value: "30".into(),
        }],
        metadata_types: vec![ColumnTypeOverride {
            table: "InvMaster".into(),
            column: "LeadTime".into(),
            sql_type: "decimal(10,0)".into(),
        }],
        metadata_keys: vec![KeyOverride {
            table: "ApInvoicePay".into(),
            columns: vec![
                "Supplier".into(),
                "Invoice".into(),
                "EntryNumber".into(),
                "Journal".into(),
            ],
        }],
        ..SiteOptions::default()
    })
    .await;
    let env = odata_env(&server.odata_url(), &sim, None);
    let run = run(&["discover"], &env, TIMEOUT).await;
    assert_eq!(run.code, 0, "{}", run.explain());
    let out = &run.stdout;
    for expected in [
        "[tables.InvMaster]\ncolumn_types = { LeadTime = \"decimal(10,0)\" }",
        "[tables.ArCustomer]\ncolumn_types = { UserCreditDays = \"decimal(5,0)\" }",
        "[tables.ApInvoicePay]\nkey_columns = [\"Supplier\", \"Invoice\", \"EntryNumber\", \"Journal\"]",
        "[syspro]\npage_rows = 200",
        "ApInvoicePay: LOSES ROWS",
        "InvMaster: differs",
        "with the offset +02:00",
        "WITHOUT a next link",
    ] {
        assert!(
            out.contains(expected),
            "{expected:?} missing:\n{}",
            run.explain()
        );
    }
    // check fails on the key, and names the block to paste; type differences alone pass
    let check = crate::helpers::run(&["check"], &env, TIMEOUT).await;
    assert_ne!(check.code, 0, "{}", check.explain());
    assert!(
        check
            .stdout
            .lines()
            .any(|l| l.starts_with("✘ SYSPRO ApInvoicePay vs catalog") && l.contains("Journal")),
        "{}",
        check.explain()
    );
    assert!(
        check
            .stdout
            .contains("key_columns = [\"Supplier\", \"Invoice\", \"EntryNumber\", \"Journal\"]"),
        "{}",
        check.explain()
    );
    assert!(
        check
            .stdout
            .lines()
            .any(|l| l.starts_with("✔ SYSPRO InvMaster vs catalog")),
        "{}",
        check.explain()
    );
}

#[tokio::test]
async fn enet_sites_that_require_columns_are_named() {
    let (sim, server) = site(SiteOptions {
        enet_require_columns: true,
        ..SiteOptions::default()
    })
    .await;
    let enet = sim.options().enet.clone();
    let env: Vec<(String, String)> = vec![
        ("MLC_SYSPRO__TRANSPORT".into(), "enet".into()),
        ("MLC_SYSPRO__ENET_URL".into(), server.enet_url()),
        ("MLC_SYSPRO__OPERATOR".into(), enet.operator.clone()),
        (
            "MLC_SYSPRO__OPERATOR_PASSWORD".into(),
            enet.operator_password.clone(),
        ),
        ("MLC_SYSPRO__COMPANY_ID".into(), enet.company_id.clone()),
    ];
    let run = run(&["discover"], &env, TIMEOUT).await;
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stdout.contains("COMFND without <Columns> is refused"),
        "{}",
        run.explain()
    );
    assert!(
        run.stdout
            .contains("COMFND with explicit columns (Supplier, Invoice, JournalDate): answered"),
        "{}",
        run.explain()
    );
}
