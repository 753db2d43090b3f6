//! Several companies in one simulator (issue #16): each its own data set and currency, the
//! same codes meaning different things, isolation on OData and e.net, faults, business days
//! and site variants per company.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mlc_simulator::{
    BusinessDayPlan, CompanyOptions, CompanyProfile, EnetOperator, EnetOptions, ExtraColumn,
    FaultKind, SessionScope, SimOptions, SimServer, Simulator, SiteOptions,
};
use serde_json::{Map, Value};

type Row = Map<String, Value>;

fn two_companies() -> SimOptions {
    SimOptions {
        seed: 11,
        companies: vec![CompanyOptions {
            company_password: "uk-company-secret".into(),
            ..CompanyOptions::new("UK1", CompanyProfile::Uk)
        }],
        ..Default::default()
    }
}

async fn start(opts: SimOptions) -> (Simulator, SimServer) {
    let s = Simulator::new(opts);
    let srv = s.start("127.0.0.1:0").await.expect("start");
    (s, srv)
}

fn client() -> reqwest::Client {
    // In a workspace build reqwest is unified with ml-connector's `rustls-no-provider`
    // feature, which needs a crypto provider installed before the first client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn key_of(table: &str, r: &Row) -> String {
    let cols: &[&str] = match table {
        "ApInvoice" => &["Supplier", "Invoice"],
        "ApSupplier" => &["Supplier"],
        "InvMaster" => &["StockCode"],
        "ArCustomer" => &["Customer"],
        "PorMasterHdr" => &["PurchaseOrder"],
        other => panic!("no key for {other}"),
    };
    cols.iter()
        .map(|c| r[*c].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn by_key(table: &str, rows: Vec<Row>) -> BTreeMap<String, Row> {
    rows.into_iter().map(|r| (key_of(table, &r), r)).collect()
}

#[test]
fn the_same_codes_mean_different_things_in_each_company() {
    let sim = Simulator::new(two_companies());
    let edu = sim.company("EDU1").unwrap();
    let uk = sim.company("uk1").expect("ids are case-insensitive");
    assert_eq!(sim.companies().len(), 2);
    assert_eq!((edu.currency(), uk.currency()), ("ZAR", "GBP"));
    assert_eq!(uk.id(), "UK1");

    // Suppliers: every code in both, a different supplier (name, currency) behind ACME.
    let es = by_key("ApSupplier", edu.expected_records("ApSupplier"));
    let us = by_key("ApSupplier", uk.expected_records("ApSupplier"));
    assert_eq!(es.keys().collect::<Vec<_>>(), us.keys().collect::<Vec<_>>());
    assert_eq!(es["ACME"]["SupplierName"], "ACME Components (Pty) Ltd");
    assert_eq!(us["ACME"]["SupplierName"], "Acme Fasteners (UK) Ltd");
    assert_eq!(es["ACME"]["Currency"], "ZAR");
    assert_eq!(us["ACME"]["Currency"], "GBP");
    let same_name = es
        .iter()
        .filter(|(k, r)| r["SupplierName"] == us[*k]["SupplierName"])
        .count();
    assert_eq!(same_name, 0, "no supplier code names the same supplier");

    // Stock codes: the same codes, other items.
    let em = by_key("InvMaster", edu.expected_records("InvMaster"));
    let um = by_key("InvMaster", uk.expected_records("InvMaster"));
    assert_eq!(em.keys().collect::<Vec<_>>(), um.keys().collect::<Vec<_>>());
    let same_desc = em
        .iter()
        .filter(|(k, r)| r["Description"] == um[*k]["Description"])
        .count();
    assert_eq!(same_desc, 0);

    // Customers: same codes, local currency each.
    let ec = by_key("ArCustomer", edu.expected_records("ArCustomer"));
    let uc = by_key("ArCustomer", uk.expected_records("ArCustomer"));
    assert_eq!(ec.keys().collect::<Vec<_>>(), uc.keys().collect::<Vec<_>>());
    assert!(uc.values().all(|r| r["Currency"] == "GBP"));
    assert!(ec.values().all(|r| r["Currency"] == "ZAR"));

    // AP invoices: full keys (Supplier, Invoice) shared, with other amounts and dates.
    let ei = by_key("ApInvoice", edu.expected_records("ApInvoice"));
    let ui = by_key("ApInvoice", uk.expected_records("ApInvoice"));
    let common: Vec<&String> = ei.keys().filter(|k| ui.contains_key(*k)).collect();
    assert!(common.len() >= 100, "{} shared invoice keys", common.len());
    assert!(
        ui.len() > common.len(),
        "not a copy: most invoices are the company's own"
    );
    let differ = common
        .iter()
        .filter(|k| {
            let (a, b) = (&ei[**k], &ui[**k]);
            a["OrigInvValue"] != b["OrigInvValue"] && a["InvoiceDate"] != b["InvoiceDate"]
        })
        .count();
    assert!(
        differ * 10 >= common.len() * 9,
        "{differ} of {} shared keys differ in amount and date",
        common.len()
    );
    // Purchase orders: the document numbering collides too.
    let ep = by_key("PorMasterHdr", edu.expected_records("PorMasterHdr"));
    let up = by_key("PorMasterHdr", uk.expected_records("PorMasterHdr"));
    assert!(ep.keys().filter(|k| up.contains_key(*k)).count() >= 50);

    // The GL carries its company; warehouses are the company's own.
    assert!(
        uk.expected_records("GenMaster")
            .iter()
            .all(|r| r["Company"] == "UK1")
    );
    assert!(
        edu.expected_records("GenMaster")
            .iter()
            .all(|r| r["Company"] == "EDU1")
    );
    let whs: BTreeSet<String> = uk
        .expected_records("InvWarehouse")
        .iter()
        .map(|r| r["Warehouse"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(whs, ["GLA", "LON", "MAN"].map(String::from).into());
}

#[test]
fn companies_are_deterministic_and_the_default_one_is_the_single_company_data() {
    let multi = Simulator::new(two_companies());
    let single = Simulator::new(SimOptions {
        seed: 11,
        ..Default::default()
    });
    let again = Simulator::new(two_companies());
    for t in Simulator::table_names() {
        assert_eq!(
            multi.expected_records(t),
            single.expected_records(t),
            "{t}: adding a company changes nothing of the default one"
        );
        let uk = multi.company("UK1").unwrap().expected_records(t);
        assert_eq!(uk, again.company("UK1").unwrap().expected_records(t), "{t}");
        assert!(!uk.is_empty(), "{t}");
    }
    // Another seed, other data.
    let other = Simulator::new(SimOptions {
        seed: 12,
        ..two_companies()
    });
    assert_ne!(
        other.company("UK1").unwrap().expected_records("ApInvoice"),
        multi.company("UK1").unwrap().expected_records("ApInvoice")
    );
}

#[test]
fn business_days_and_mutations_change_one_company_and_keys_stay_unique() {
    let sim = Simulator::new(two_companies());
    let edu = sim.default_company();
    let uk = sim.company("UK1").unwrap();
    let before: Vec<_> = Simulator::table_names()
        .iter()
        .map(|t| edu.expected_records(t))
        .collect();
    for _ in 0..3 {
        let r = uk.business_day(&BusinessDayPlan::default());
        assert!(!r.tables["ApInvoice"].inserted.is_empty());
        sim.advance_days(1);
    }
    uk.mutate(&mlc_simulator::MutationPlan {
        inserts: 5,
        updates: 5,
        deletes: 2,
        backdate_max_days: 3,
        ..Default::default()
    });
    for (t, rows) in Simulator::table_names().iter().zip(&before) {
        assert_eq!(&edu.expected_records(t), rows, "{t} of EDU1 untouched");
    }
    // One calendar: the date moved for both.
    assert_eq!(edu.business_date(), uk.business_date());
    assert_eq!(uk.business_date().to_string(), "2026-11-23");
    // New UK invoices never take a key shared with EDU1 twice.
    let keys: Vec<String> = uk
        .expected_records("ApInvoice")
        .iter()
        .map(|r| key_of("ApInvoice", r))
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len());
}

#[test]
#[should_panic(expected = "company 'edu1' is given twice")]
fn a_company_id_given_twice_is_refused() {
    Simulator::new(SimOptions {
        companies: vec![CompanyOptions::new("edu1", CompanyProfile::Uk)],
        ..Default::default()
    });
}

async fn odata(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = c
        .get(url)
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// All rows of an entity set, following nextLinks (which must stay in the company).
async fn odata_all(c: &reqwest::Client, url: &str, company: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next {
        assert!(u.contains(&format!("/SYSPROOData/{company}/")), "{u}");
        let (st, v) = odata(c, &u).await;
        assert_eq!(st, 200, "{u}");
        assert!(
            v["@odata.context"]
                .as_str()
                .unwrap()
                .contains(&format!("/{company}/$metadata")),
        );
        for r in v["value"].as_array().unwrap() {
            rows.push(r.as_object().unwrap().clone());
        }
        next = v["@odata.nextLink"].as_str().map(str::to_string);
    }
    rows
}

#[tokio::test]
async fn odata_serves_each_company_under_its_segment() {
    let (sim, srv) = start(SimOptions {
        page_cap: Some(400),
        ..two_companies()
    })
    .await;
    let c = client();
    assert_eq!(srv.odata_url(), srv.odata_url_for("EDU1"));
    for co in sim.companies() {
        let url = format!("{}/ApSupplier", srv.odata_url_for(co.id()));
        let rows = odata_all(&c, &url, co.id()).await;
        let got: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["Supplier"].as_str().unwrap().trim_end().to_string(),
                    r["SupplierName"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = co
            .expected_records("ApSupplier")
            .iter()
            .map(|r| {
                (
                    r["Supplier"].as_str().unwrap().to_string(),
                    r["SupplierName"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "{}", co.id());
        // Paging through a bigger table stays in the company.
        let inv = odata_all(
            &c,
            &format!("{}/ApInvoice", srv.odata_url_for(co.id())),
            co.id(),
        )
        .await;
        assert_eq!(inv.len(), co.row_count("ApInvoice"));
    }
    // The same filter, two answers.
    let acme = |co: &str| {
        format!(
            "{}/ApSupplier?$filter=Supplier eq 'ACME'&$select=Supplier,SupplierName,Currency",
            srv.odata_url_for(co)
        )
    };
    let (_, e) = odata(&c, &acme("EDU1")).await;
    let (_, u) = odata(&c, &acme("uk1")).await;
    assert_eq!(e["value"][0]["Currency"], "ZAR");
    assert_eq!(u["value"][0]["Currency"], "GBP");
    assert_eq!(u["value"][0]["SupplierName"], "Acme Fasteners (UK) Ltd");
    // Each company's count.
    let r = c
        .get(format!("{}/ApInvoice/$count", srv.odata_url_for("UK1")))
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        sim.company("UK1")
            .unwrap()
            .row_count("ApInvoice")
            .to_string()
    );

    // An unknown company: 404 with an OData error naming it (assumed, syspro.md §1.2 is silent).
    let (st, v) = odata(&c, &format!("{}/ApInvoice", srv.odata_url_for("NOPE"))).await;
    assert_eq!(st, 404);
    assert_eq!(
        v["error"]["message"],
        "Company 'NOPE' is not configured for OData access."
    );
    let log = sim.requests();
    assert_eq!(log.last().unwrap().company, None);
    assert!(
        log.iter()
            .any(|r| r.company.as_deref() == Some("UK1") && r.status == 200)
    );
    srv.stop().await;
}

#[tokio::test]
async fn odata_credentials_can_differ_per_company() {
    let mut opts = two_companies();
    opts.companies[0].user = Some("uk-reader".into());
    opts.companies[0].password = Some("uk-odata-secret".into());
    let (_sim, srv) = start(opts).await;
    let c = client();
    let get = |co: &str, user: &str, pw: &str| {
        c.get(format!("{}/ApSupplier?$top=1", srv.odata_url_for(co)))
            .basic_auth(user, Some(pw))
            .send()
    };
    assert_eq!(
        get("UK1", "uk-reader", "uk-odata-secret")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get("UK1", "odata", "odata-secret").await.unwrap().status(),
        401
    );
    assert_eq!(
        get("EDU1", "odata", "odata-secret").await.unwrap().status(),
        200
    );
    assert_eq!(
        get("EDU1", "uk-reader", "uk-odata-secret")
            .await
            .unwrap()
            .status(),
        401
    );
    srv.stop().await;
}

async fn enet_get(
    c: &reqwest::Client,
    srv: &SimServer,
    method: &str,
    q: &[(&str, &str)],
) -> String {
    let u = url::Url::parse_with_params(&format!("{}/{method}", srv.enet_url()), q).unwrap();
    let r = c.get(u).send().await.unwrap();
    assert_eq!(r.status(), 200, "{method}");
    encoding_rs::WINDOWS_1252
        .decode(&r.bytes().await.unwrap())
        .0
        .into_owned()
}

async fn logon(
    c: &reqwest::Client,
    srv: &SimServer,
    operator: &str,
    password: &str,
    company: &str,
    company_password: &str,
) -> String {
    enet_get(
        c,
        srv,
        "Logon",
        &[
            ("Operator", operator),
            ("OperatorPassword", password),
            ("CompanyId", company),
            ("CompanyPassword", company_password),
        ],
    )
    .await
}

async fn query(c: &reqwest::Client, srv: &SimServer, sid: &str, xml: &str) -> String {
    enet_get(
        c,
        srv,
        "Query/Query",
        &[
            ("UserId", sid),
            ("BusinessObject", "COMFND"),
            ("XmlIn", xml),
        ],
    )
    .await
}

fn all_rows(table: &str, cols: &[&str]) -> String {
    let cols: String = cols
        .iter()
        .map(|c| format!("<Column>{c}</Column>"))
        .collect();
    format!("<Query><TableName>{table}</TableName><Columns>{cols}</Columns></Query>")
}

/// `(Supplier, Invoice)` per `<Row>` of a COMFND answer with those two columns.
fn invoice_keys(xml: &str) -> BTreeSet<String> {
    xml.split("<Row>")
        .skip(1)
        .map(|row| {
            let field = |name: &str| {
                let a = row.find(&format!("<{name}>")).unwrap() + name.len() + 2;
                let b = row.find(&format!("</{name}>")).unwrap();
                row[a..b].trim_end().replace("&amp;", "&")
            };
            format!("{}|{}", field("Supplier"), field("Invoice"))
        })
        .collect()
}

#[tokio::test]
async fn an_enet_session_reads_only_its_company() {
    let (sim, srv) = start(SimOptions {
        enet: EnetOptions {
            session_scope: SessionScope::OperatorAndCompany,
            ..Default::default()
        },
        ..two_companies()
    })
    .await;
    let c = client();
    let edu = logon(&c, &srv, "ADMIN", "enet-secret", "EDU1", "").await;
    let uk = logon(&c, &srv, "ADMIN", "enet-secret", "uk1", "uk-company-secret").await;
    assert_eq!(edu.len(), 34, "{edu}");
    assert_eq!(uk.len(), 34, "{uk}");

    let acme = "<Query><TableName>ApSupplier</TableName><Columns><Column>SupplierName</Column><Column>Currency</Column></Columns><Where><Expression><Column>Supplier</Column><Condition>EQ</Condition><Value>ACME</Value></Expression></Where></Query>";
    let a = query(&c, &srv, &edu, acme).await;
    let b = query(&c, &srv, &uk, acme).await;
    assert!(
        a.contains("<SupplierName>ACME Components (Pty) Ltd</SupplierName>"),
        "{a}"
    );
    assert!(a.contains("<Currency>ZAR</Currency>"), "{a}");
    assert!(
        b.contains("<SupplierName>Acme Fasteners (UK) Ltd</SupplierName>"),
        "{b}"
    );
    assert!(b.contains("<Currency>GBP</Currency>"), "{b}");

    // Every invoice a session sees is its company's, and all of them.
    for (sid, co) in [(&edu, "EDU1"), (&uk, "UK1")] {
        let got = invoice_keys(
            &query(
                &c,
                &srv,
                sid,
                &all_rows("ApInvoice", &["Supplier", "Invoice"]),
            )
            .await,
        );
        let want: BTreeSet<String> = sim
            .company(co)
            .unwrap()
            .expected_records("ApInvoice")
            .iter()
            .map(|r| key_of("ApInvoice", r))
            .collect();
        assert_eq!(got, want, "{co}");
    }

    let profile = enet_get(&c, &srv, "GetLogonProfile", &[("UserId", &uk)]).await;
    assert!(profile.contains("<CompanyId>UK1</CompanyId>"), "{profile}");
    assert!(
        profile.contains("<CompanyName>Electronic Distributors (UK) Ltd</CompanyName>"),
        "{profile}"
    );

    // Unknown company and a wrong company password (texts assumed, see README).
    assert_eq!(
        logon(&c, &srv, "ADMIN", "enet-secret", "NOPE", "").await,
        "ERROR: Invalid company"
    );
    assert_eq!(
        logon(&c, &srv, "ADMIN", "enet-secret", "UK1", "").await,
        "ERROR: Invalid company password"
    );
    let log = sim.requests();
    let last = log.last().unwrap();
    assert_eq!(last.company.as_deref(), Some("UK1"));
    assert!(!last.authorized);
    srv.stop().await;
}

#[tokio::test]
async fn one_session_per_operator_across_companies_by_default() {
    let (sim, srv) = start(SimOptions {
        enet: EnetOptions {
            extra_operators: vec![EnetOperator {
                operator: "SYNCUK".into(),
                password: "uk-op-secret".into(),
            }],
            ..Default::default()
        },
        ..two_companies()
    })
    .await;
    let c = client();
    let q = all_rows("ApSupplier", &["Supplier"]);
    let edu = logon(&c, &srv, "ADMIN", "enet-secret", "EDU1", "").await;
    // The same operator in the other company ends the first session (syspro.md §2.5 [GO]).
    let uk = logon(&c, &srv, "ADMIN", "enet-secret", "UK1", "uk-company-secret").await;
    assert_eq!(query(&c, &srv, &edu, &q).await, "ERROR: Invalid UserId");
    assert!(query(&c, &srv, &uk, &q).await.contains("<Row>"));
    // A second operator holds the other company's session next to it.
    let edu = logon(&c, &srv, "SYNCUK", "uk-op-secret", "EDU1", "").await;
    assert!(query(&c, &srv, &edu, &q).await.contains("<Row>"));
    assert!(query(&c, &srv, &uk, &q).await.contains("<Row>"));
    let counters = sim.enet_counters();
    assert_eq!(counters.replaced_sessions, 1);
    assert_eq!(counters.active_sessions, 2);
    srv.stop().await;
}

#[tokio::test]
async fn one_company_down_while_the_other_answers() {
    let (sim, srv) = start(SimOptions {
        enet: EnetOptions {
            session_scope: SessionScope::OperatorAndCompany,
            ..Default::default()
        },
        ..two_companies()
    })
    .await;
    let c = client();
    let edu_sid = logon(&c, &srv, "ADMIN", "enet-secret", "EDU1", "").await;
    let uk_sid = logon(&c, &srv, "ADMIN", "enet-secret", "UK1", "uk-company-secret").await;

    sim.company("UK1")
        .unwrap()
        .faults()
        .set_rate(1.0, vec![FaultKind::Status(503)]);
    for _ in 0..3 {
        let (st, _) = odata(
            &c,
            &format!("{}/ApSupplier?$top=5", srv.odata_url_for("UK1")),
        )
        .await;
        assert_eq!(st, 503);
        let (st, v) = odata(&c, &format!("{}/ApSupplier?$top=5", srv.odata_url())).await;
        assert_eq!(st, 200);
        assert_eq!(v["value"].as_array().unwrap().len(), 5);
    }
    // e.net: the UK session's calls fail, EDU1's answer.
    let q = all_rows("ApSupplier", &["Supplier"]);
    let u = url::Url::parse_with_params(
        &format!("{}/Query/Query", srv.enet_url()),
        &[
            ("UserId", uk_sid.as_str()),
            ("BusinessObject", "COMFND"),
            ("XmlIn", q.as_str()),
        ],
    )
    .unwrap();
    assert_eq!(c.get(u).send().await.unwrap().status(), 503);
    assert!(query(&c, &srv, &edu_sid, &q).await.contains("<Row>"));
    let uk_faults = sim.company("UK1").unwrap().faults().counters();
    assert_eq!(uk_faults.injected, 4);
    assert_eq!(sim.faults().counters().injected, 0);
    assert_eq!(sim.default_company().faults().counters().injected, 0);
    let log = sim.requests();
    assert!(
        log.iter()
            .filter(|r| r.company.as_deref() == Some("UK1") && r.api == "odata")
            .all(|r| r.status == 503 && r.fault.as_deref() == Some("status_503"))
    );

    // Up again; the simulator-wide faults still hit every company.
    sim.company("UK1").unwrap().faults().clear();
    let (st, _) = odata(
        &c,
        &format!("{}/ApSupplier?$top=1", srv.odata_url_for("UK1")),
    )
    .await;
    assert_eq!(st, 200);
    sim.faults().push(FaultKind::Status(500));
    sim.faults().push(FaultKind::Status(500));
    for co in ["EDU1", "UK1"] {
        let (st, _) = odata(&c, &format!("{}/ApSupplier?$top=1", srv.odata_url_for(co))).await;
        assert_eq!(st, 500, "{co}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn site_variants_are_per_company() {
    let (sim, srv) = start(two_companies()).await;
    let c = client();
    sim.company("UK1").unwrap().set_site(SiteOptions {
        extra_columns: vec![ExtraColumn {
            table: "ApSupplier".into(),
            name: "UserVatNo".into(),
            sql_type: "varchar(20)".into(),
            value: "GB123456789".into(),
        }],
        ..Default::default()
    });
    let meta = |co: &str| {
        let c = c.clone();
        let url = format!("{}/$metadata", srv.odata_url_for(co));
        async move {
            c.get(url)
                .basic_auth("odata", Some("odata-secret"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(meta("UK1").await.contains("UserVatNo"));
    assert!(!meta("EDU1").await.contains("UserVatNo"));
    assert_eq!(sim.site(), SiteOptions::default());
    assert_eq!(
        sim.company("UK1").unwrap().expected_records("ApSupplier")[0]["UserVatNo"],
        "GB123456789"
    );
    // reset restores every company's options
    sim.reset();
    assert!(!meta("UK1").await.contains("UserVatNo"));
    srv.stop().await;
}

#[tokio::test]
async fn the_control_api_takes_a_company() {
    let (sim, srv) = start(two_companies()).await;
    let c = client();
    let base = format!("{}/_sim", srv.base_url());
    let companies: Value = c
        .get(format!("{base}/companies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(companies[0]["id"], "EDU1");
    assert_eq!(companies[1]["id"], "UK1");
    assert_eq!(companies[1]["currency"], "GBP");
    assert_eq!(companies[1]["profile"], "uk");

    let info: Value = c
        .get(format!("{base}/info?company=UK1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["company"], "UK1");
    assert_eq!(info["currency"], "GBP");
    assert_eq!(
        info["tables"]["ApInvoice"],
        sim.company("UK1").unwrap().row_count("ApInvoice")
    );

    let edu_before = sim.expected_records("ApInvoice");
    let uk_before = sim.company("UK1").unwrap().row_count("ApInvoice");
    let r: Value = c
        .post(format!("{base}/business_day?company=UK1"))
        .body(r#"{"new_invoices": 7}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        r["tables"]["ApInvoice"]["inserted"]
            .as_array()
            .unwrap()
            .len()
            >= 7
    );
    assert_eq!(sim.expected_records("ApInvoice"), edu_before);
    assert!(sim.company("UK1").unwrap().row_count("ApInvoice") > uk_before);

    let uk_rows: Value = c
        .get(format!("{base}/tables/ApSupplier?company=UK1&limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        uk_rows[0]["Currency"],
        sim.company("UK1").unwrap().expected_records("ApSupplier")[0]["Currency"]
    );

    let f: Value = c
        .post(format!("{base}/faults?company=UK1"))
        .body(r#"{"push":[{"kind":"status","code":503}]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["queued"], 1);
    assert_eq!(sim.company("UK1").unwrap().faults().counters().queued, 1);
    assert_eq!(sim.faults().counters().queued, 0);

    let site = c
        .post(format!("{base}/site?company=UK1"))
        .body(r#"{"page_delay_ms": 5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(site.status(), 200);
    assert_eq!(sim.company("UK1").unwrap().site().page_delay_ms, 5);
    assert_eq!(sim.site().page_delay_ms, 0);

    // Unknown company: 404 naming the known ones; a group-wide call refuses a company.
    let r = c
        .post(format!("{base}/mutate?company=NOPE"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "no company 'NOPE' (companies: EDU1, UK1)");
    let r = c
        .post(format!("{base}/advance?days=1&company=UK1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    srv.stop().await;
}
