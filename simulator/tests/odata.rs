//! OData simulator over real HTTP with reqwest.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mlc_simulator::{FaultKind, MutationPlan, SimOptions, SimServer, Simulator};
use serde_json::{Map, Value};

async fn sim(page_cap: Option<usize>) -> (Simulator, SimServer) {
    let s = Simulator::new(SimOptions {
        page_cap,
        seed: 42,
        ..Default::default()
    });
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

async fn get_json(c: &reqwest::Client, url: &str) -> Value {
    let r = c
        .get(url)
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

/// Follow nextLinks; returns all rows and the number of pages.
async fn fetch_all(c: &reqwest::Client, url: &str) -> (Vec<Map<String, Value>>, usize) {
    let mut rows = Vec::new();
    let mut next = Some(url.to_string());
    let mut pages = 0;
    while let Some(u) = next {
        let v = get_json(c, &u).await;
        pages += 1;
        for r in v["value"].as_array().unwrap() {
            rows.push(r.as_object().unwrap().clone());
        }
        next = v
            .get("@odata.nextLink")
            .and_then(|l| l.as_str())
            .map(str::to_string);
        assert!(pages < 10_000);
    }
    (rows, pages)
}

/// What ml-connector does to an answer row: trim strings, strip the zone of date-times.
fn normalise(mut row: Map<String, Value>) -> Map<String, Value> {
    for (_, v) in row.iter_mut() {
        if let Value::String(s) = v {
            let t = s.trim_end_matches(' ');
            let t = if t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T' {
                &t[..19]
            } else {
                t
            };
            *v = Value::String(t.to_string());
        }
    }
    row
}

#[tokio::test]
async fn every_table_matches_expected_records_through_paging() {
    let (s, srv) = sim(Some(250)).await;
    let c = client();
    for t in Simulator::table_names() {
        let expected = s.expected_records(t);
        assert!(!expected.is_empty(), "{t} empty");
        let (rows, pages) = fetch_all(&c, &format!("{}/{t}", srv.odata_url())).await;
        assert_eq!(pages, expected.len().div_ceil(250).max(1), "{t}");
        let got: Vec<_> = rows.into_iter().map(normalise).collect();
        assert_eq!(got.len(), expected.len(), "{t}");
        // default order is the key order, same as expected_records
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(
                serde_json::to_string(g).unwrap(),
                serde_json::to_string(e).unwrap(),
                "{t}"
            );
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn paging_with_filter_orderby_returns_each_row_once() {
    let (s, srv) = sim(Some(97)).await;
    let c = client();
    let url = format!(
        "{}/ApInvoice?$filter=JournalDate ge 2026-09-01T00:00:00Z&$orderby=JournalDate,Supplier,Invoice&$count=true&$select=Supplier,Invoice,JournalDate",
        srv.odata_url()
    );
    let first = get_json(&c, &url).await;
    let count = first["@odata.count"].as_u64().unwrap() as usize;
    let (rows, pages) = fetch_all(&c, &url).await;
    assert_eq!(rows.len(), count);
    assert!(pages > 3);
    let keys: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["Supplier"].as_str().unwrap().to_string(),
                r["Invoice"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), rows.len(), "duplicates");
    let want = s
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["JournalDate"].as_str().unwrap() >= "2026-09-01T00:00:00")
        .count();
    assert_eq!(want, count);
    // ordered by JournalDate then key
    let order: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["JournalDate"].as_str().unwrap().to_string(),
                r["Supplier"].as_str().unwrap().trim_end().to_string(),
                r["Invoice"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(rows[0].len(), 3, "$select");

    // $top/$skip with a page cap: the nextLink stops at $top
    let (rows, _) = fetch_all(
        &c,
        &format!(
            "{}/ApInvoice?$orderby=Supplier,Invoice&$skip=10&$top=250",
            srv.odata_url()
        ),
    )
    .await;
    assert_eq!(rows.len(), 250);
    let exp = s.expected_records("ApInvoice");
    assert_eq!(rows[0]["Invoice"], exp[10]["Invoice"]);
    assert_eq!(rows[249]["Invoice"], exp[259]["Invoice"]);
    srv.stop().await;
}

#[tokio::test]
async fn keyset_paging_without_server_cap() {
    let (s, srv) = sim(None).await;
    let c = client();
    let exp = s.expected_records("GenJournalDetail");
    let mut seen = 0;
    let mut filter = String::from("EntryDate ge 2026-05-01T00:00:00Z");
    loop {
        let url = format!(
            "{}/GenJournalDetail?$filter={}&$orderby=GlYear,GlPeriod,Journal,EntryNumber&$top=500",
            srv.odata_url(),
            urlencode(&filter)
        );
        let v = get_json(&c, &url).await;
        let page = v["value"].as_array().unwrap();
        assert!(v.get("@odata.nextLink").is_none());
        if page.is_empty() {
            break;
        }
        for (i, r) in page.iter().enumerate() {
            assert_eq!(r["Journal"], exp[seen + i]["Journal"]);
            assert_eq!(r["EntryNumber"], exp[seen + i]["EntryNumber"]);
        }
        seen += page.len();
        let l = page.last().unwrap();
        let (y, p, j, e) = (
            &l["GlYear"],
            &l["GlPeriod"],
            &l["Journal"],
            &l["EntryNumber"],
        );
        filter = format!(
            "GlYear gt {y} or (GlYear eq {y} and (GlPeriod gt {p} or (GlPeriod eq {p} and (Journal gt {j} or (Journal eq {j} and EntryNumber gt {e})))))"
        );
    }
    assert_eq!(seen, exp.len());
    srv.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn auth_is_required() {
    let (s, srv) = sim(None).await;
    let c = client();
    let url = format!("{}/ApSupplier", srv.odata_url());
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let www = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.starts_with("Basic realm="), "{www}");
    assert!(r.text().await.unwrap().contains("401 - Unauthorized"));
    let r = c
        .get(&url)
        .basic_auth("odata", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(&url)
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = s.requests();
    assert_eq!(
        log.iter().map(|r| r.authorized).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    assert_eq!(log[2].status, 200);
    s.clear_requests();
    assert!(s.requests().is_empty());
    // control API needs no auth and is not logged
    let r = c
        .get(format!("{}/_sim/tables/ApSupplier", srv.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(s.requests().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn errors_are_odata_json() {
    let (_s, srv) = sim(None).await;
    let c = client();
    for (path, status) in [
        ("/NoSuchTable", 404),
        ("/ApInvoice?$filter=Nope eq 1", 400),
        ("/ApInvoice?$filter=Supplier eq", 400),
        ("/ApInvoice?$filter=Supplier eq 5", 400),
        ("/ApInvoice?$top=-1", 400),
        ("/ApInvoice?$skip=x", 400),
        ("/ApInvoice?$count=yes", 400),
        ("/ApInvoice?$orderby=Nope", 400),
        ("/ApInvoice?$orderby=Supplier sideways", 400),
        ("/ApInvoice?$select=Nope", 400),
        ("/ApInvoice?$expand=Lines", 400),
        ("/ApInvoice?$top=1&$top=2", 400),
    ] {
        let r = c
            .get(format!("{}{path}", srv.odata_url()))
            .basic_auth("odata", Some("odata-secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().len() > 3,
            "{path}: {v}"
        );
        assert!(v["error"]["code"].is_string());
    }
    srv.stop().await;
}

#[tokio::test]
async fn metadata_service_document_and_number_format() {
    let (_s, srv) = sim(None).await;
    let c = client();
    let auth = |r: reqwest::RequestBuilder| r.basic_auth("odata", Some("odata-secret"));
    let md = auth(c.get(format!("{}/$metadata", srv.odata_url())))
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    let md = md.text().await.unwrap();
    assert!(md.contains(r#"<EntityType Name="ApInvoice"><Key><PropertyRef Name="Supplier"/><PropertyRef Name="Invoice"/></Key>"#));
    assert!(md.contains(r#"<Property Name="OrigInvValue" Type="Edm.Decimal" Nullable="false" Precision="14" Scale="2"/>"#));
    assert!(
        md.contains(r#"<Property Name="JournalDate" Type="Edm.DateTimeOffset" Nullable="false""#)
    );
    assert!(md.contains(r#"<EntitySet Name="GrnDetails" EntityType="SYSPRO.GrnDetails"/>"#));
    let sd = get_json(&c, &format!("{}/", srv.odata_url())).await;
    assert_eq!(sd["value"].as_array().unwrap().len(), 13);

    // exact decimal text in the raw body, CHAR padding, DateTimeOffset with Z
    let url = format!(
        "{}/ApInvoice?$filter=OrigInvValue eq 12345678901.23",
        srv.odata_url()
    );
    let raw = auth(c.get(&url)).send().await.unwrap();
    assert!(
        raw.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json; odata.metadata=minimal")
    );
    let raw = raw.text().await.unwrap();
    assert!(raw.contains(r#""OrigInvValue":12345678901.23,"#), "{raw}");
    assert!(raw.contains(r#""Supplier":"ACME           ""#), "{raw}");
    assert!(raw.contains(r#""ExchangeRate":1.000000"#), "{raw}");
    assert!(raw.contains(r#"T00:00:00Z""#), "{raw}");
    // IEEE754Compatible=true: decimals as strings
    let raw = auth(c.get(&url))
        .header(
            "Accept",
            "application/json;odata.metadata=minimal;IEEE754Compatible=true",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""OrigInvValue":"12345678901.23","#), "{raw}");
    // non-ASCII text survives
    let sup = auth(c.get(format!(
        "{}/ApSupplier?$filter=startswith(SupplierName,'Müller')",
        srv.odata_url()
    )))
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(sup.contains("Müller Electronics GmbH"), "{sup}");
    // $count endpoint
    let n = auth(c.get(format!(
        "{}/ApInvoice/$count?$filter=Supplier eq 'ACME'",
        srv.odata_url()
    )))
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(n.parse::<usize>().unwrap() > 0);
    srv.stop().await;
}

#[tokio::test]
async fn faults_are_observable() {
    let (s, srv) = sim(None).await;
    let c = client();
    let url = format!("{}/ApSupplier", srv.odata_url());
    let get = || c.get(&url).basic_auth("odata", Some("odata-secret")).send();

    s.faults().push(FaultKind::Status(503));
    s.faults().push(FaultKind::Status(500));
    s.faults().push(FaultKind::TooManyRequests {
        retry_after_secs: 7,
    });
    let r = get().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string());
    assert_eq!(get().await.unwrap().status(), 500);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(get().await.unwrap().status(), 200);

    s.faults().push(FaultKind::Reset);
    let e = get().await.expect_err("reset must be a transport error");
    assert!(!e.is_status());
    assert_eq!(get().await.unwrap().status(), 200);

    s.faults().push(FaultKind::Truncated);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "truncated body must fail");

    s.faults().push(FaultKind::Slow { millis: 400 });
    let t0 = Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));

    let labels: Vec<Option<String>> = s.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        labels,
        vec![
            Some("status_503".into()),
            Some("status_500".into()),
            Some("too_many_requests".into()),
            None,
            Some("reset".into()),
            None,
            Some("truncated".into()),
            Some("slow".into()),
        ]
    );
    let cn = s.faults().counters();
    assert_eq!(cn.injected, 6);

    // random faults: deterministic under the seed, never on /_sim/
    s.faults().set_rate(0.5, vec![FaultKind::Status(503)]);
    let mut pattern = Vec::new();
    for _ in 0..20 {
        pattern.push(get().await.unwrap().status().as_u16());
        let r = c
            .get(format!("{}/_sim/info", srv.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        pattern.contains(&503) && pattern.contains(&200),
        "{pattern:?}"
    );
    s.faults().clear();
    assert_eq!(get().await.unwrap().status(), 200);
    srv.stop().await;

    let (s2, srv2) = sim(None).await;
    let url2 = format!("{}/ApSupplier", srv2.odata_url());
    // the same number of prior fault draws: 8 queued requests consumed no random draws
    s2.faults().set_rate(0.5, vec![FaultKind::Status(503)]);
    let mut pattern2 = Vec::new();
    for _ in 0..20 {
        pattern2.push(
            c.get(&url2)
                .basic_auth("odata", Some("odata-secret"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(pattern, pattern2);
    srv2.stop().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let (s, srv) = sim(None).await;
    let c = client();
    let base = srv.base_url();
    let plan = MutationPlan {
        inserts: 3,
        updates: 2,
        backdated: 2,
        deletes: 1,
        backdate_max_days: 5,
        tables: Some(vec!["ApInvoice".into(), "ApSupplier".into()]),
    };
    let before = s.row_count("ApInvoice");
    let rep: Value = c
        .post(format!("{base}/_sim/mutate"))
        .json(&plan)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rep["tables"]["ApInvoice"]["inserted"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        rep["tables"]["ApInvoice"]["deleted"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        rep["tables"]["ApInvoice"]["updated"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        rep["tables"]["ApSupplier"]["inserted"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(s.row_count("ApInvoice"), before + 5 - 1);
    let rows: Value = c
        .get(format!("{base}/_sim/tables/ApInvoice"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), before + 4);

    let r: Value = c
        .post(format!("{base}/_sim/advance?days=3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["business_date"], "2026-11-23");
    assert_eq!(s.business_date().to_string(), "2026-11-23");

    let r = c
        .post(format!("{base}/_sim/faults"))
        .json(&serde_json::json!({"push": [{"kind": "status", "code": 503}, {"kind": "too_many_requests", "retry_after_secs": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.faults().counters().queued, 2);
    let r = c
        .get(format!("{}/ApSupplier", srv.odata_url()))
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    c.post(format!("{base}/_sim/faults"))
        .json(&serde_json::json!({"clear": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(s.faults().counters().queued, 0);
    let reqs: Value = c
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reqs.as_array().unwrap().len(), 1);
    assert_eq!(reqs[0]["fault"], "status_503");
    let r = c
        .delete(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(s.requests().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn prefer_maxpagesize_and_format_option() {
    let (s, srv) = sim(None).await;
    let c = client();
    let url = format!(
        "{}/GenMaster?$select=GlCode,CurrentBalance&$format={}",
        srv.odata_url(),
        urlencode("application/json;IEEE754Compatible=true")
    );
    let r = c
        .get(&url)
        .basic_auth("odata", Some("odata-secret"))
        .header("Prefer", "odata.maxpagesize=7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["preference-applied"], "odata.maxpagesize=7");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 7);
    assert!(v["value"][0]["CurrentBalance"].is_string());
    assert!(
        v["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=7")
    );
    let (rows, pages) = fetch_all(&c, &format!("{}/GenMaster", srv.odata_url())).await;
    assert_eq!((rows.len(), pages), (s.row_count("GenMaster"), 1));
    srv.stop().await;
}

#[tokio::test]
async fn reset_and_page_cap_at_run_time() {
    let (s, srv) = sim(None).await;
    let c = client();
    let base = srv.base_url();
    let before = s.expected_records("ApSupplier");
    s.mutate(&MutationPlan {
        deletes: 5,
        inserts: 2,
        ..Default::default()
    });
    s.advance_days(4);
    s.faults().push(FaultKind::Reset);
    let r = c
        .post(format!("{base}/_sim/page_cap?n=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.page_cap(), Some(10));
    let _ = c
        .get(format!("{}/ApSupplier", srv.odata_url()))
        .basic_auth("odata", Some("odata-secret"))
        .send()
        .await;
    let v = get_json(&c, &format!("{}/ApSupplier", srv.odata_url())).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 10);
    let r: Value = c
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["business_date"], "2026-11-20");
    assert_eq!(s.expected_records("ApSupplier"), before);
    assert_eq!(s.page_cap(), None);
    assert!(s.requests().is_empty());
    assert_eq!(s.faults().counters().injected, 0);
    srv.stop().await;
}
