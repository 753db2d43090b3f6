//! e.net REST simulator over real HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use mlc_simulator::{EnetOptions, EnetWrapping, FaultKind, SimOptions, SimServer, Simulator};

async fn sim(wrapping: EnetWrapping, idle: Duration) -> (Simulator, SimServer) {
    let s = Simulator::new(SimOptions {
        seed: 5,
        enet: EnetOptions {
            wrapping,
            idle_timeout: idle,
            ..Default::default()
        },
        ..Default::default()
    });
    let srv = s.start("127.0.0.1:0").await.unwrap();
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

async fn get(c: &reqwest::Client, url: &str, q: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let u = url::Url::parse_with_params(url, q).unwrap();
    let r = c.get(u).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn logon(c: &reqwest::Client, srv: &SimServer) -> String {
    let (st, ct, body) = get(
        c,
        &format!("{}/Logon", srv.enet_url()),
        &[
            ("Operator", "ADMIN"),
            ("OperatorPassword", "enet-secret"),
            ("CompanyId", "EDU1"),
            ("CompanyPassword", ""),
        ],
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(ct, "application/octet-stream");
    String::from_utf8(body).unwrap()
}

fn win1252(b: &[u8]) -> String {
    encoding_rs::WINDOWS_1252.decode(b).0.into_owned()
}

/// Rows of a COMFND answer: one map per `<Row>`.
fn rows(xml: &str) -> Vec<BTreeMap<String, String>> {
    xml.split("<Row>\n")
        .skip(1)
        .map(|chunk| {
            let chunk = chunk.split("</Row>").next().unwrap();
            chunk
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| {
                    if let Some(name) = l.strip_prefix('<').and_then(|l| l.strip_suffix("/>")) {
                        return (name.to_string(), String::new());
                    }
                    let name = &l[1..l.find('>').unwrap()];
                    let v = &l[name.len() + 2..l.len() - name.len() - 3];
                    let v = v
                        .replace("&amp;", "&")
                        .replace("&apos;", "'")
                        .replace("&lt;", "<");
                    (name.to_string(), v)
                })
                .collect()
        })
        .collect()
}

fn comfnd(
    table: &str,
    cols: &[&str],
    wheres: &[(&str, &str, &str, &str)],
    rows: usize,
    order: &[&str],
) -> String {
    let mut x = format!(
        "<Query xmlns:xsd=\"http://www.w3.org/2001/XMLSchema-instance\" xsd:noNamespaceSchemaLocation=\"COMFND.XSD\"><TableName>{table}</TableName><ReturnRows>{rows}</ReturnRows><Columns>"
    );
    for c in cols {
        x.push_str(&format!("<Column>{c}</Column>"));
    }
    x.push_str("</Columns><Where>");
    for (andor, col, cond, val) in wheres {
        x.push_str(&format!(
            "<Expression><OpenBracket>(</OpenBracket><AndOr>{andor}</AndOr><Column>{col}</Column><Condition>{cond}</Condition><Value>{val}</Value><CloseBracket>)</CloseBracket></Expression>"
        ));
    }
    x.push_str("</Where><OrderBy>");
    for c in order {
        x.push_str(&format!("<Column>{c}</Column>"));
    }
    x.push_str("</OrderBy></Query>");
    x
}

async fn query(c: &reqwest::Client, srv: &SimServer, sid: &str, xml: &str) -> String {
    let (st, _, body) = get(
        c,
        &format!("{}/Query/Query", srv.enet_url()),
        &[
            ("UserId", sid),
            ("BusinessObject", "COMFND"),
            ("XmlIn", xml),
        ],
    )
    .await;
    assert_eq!(st, 200);
    win1252(&body)
}

#[tokio::test]
async fn logon_query_logoff() {
    let (s, srv) = sim(EnetWrapping::Bare, Duration::from_secs(600)).await;
    let c = client();
    let sid = logon(&c, &srv).await;
    assert_eq!(sid.len(), 34);
    assert!(
        sid.chars()
            .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_lowercase()),
        "{sid}"
    );

    let xml = query(
        &c,
        &srv,
        &sid,
        &comfnd(
            "ApInvoice",
            &[
                "Supplier",
                "Invoice",
                "OrigInvValue",
                "JournalDate",
                "Reference",
            ],
            &[("", "Supplier", "EQ", "ACME")],
            0,
            &[],
        ),
    )
    .await;
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"Windows-1252\"?>"));
    assert!(xml.contains("Version='8.0.105'"));
    assert!(xml.contains("<HeaderDetails>"));
    let got = rows(&xml);
    let exp: Vec<_> = s
        .expected_records("ApInvoice")
        .into_iter()
        .filter(|r| r["Supplier"] == "ACME")
        .collect();
    assert_eq!(got.len(), exp.len());
    assert!(xml.contains(&format!("<RowsReturned>{:>8}</RowsReturned>", exp.len())));
    for (g, e) in got.iter().zip(&exp) {
        assert_eq!(g["Supplier"], "ACME           ", "CHAR padded");
        assert_eq!(g["Invoice"], e["Invoice"].as_str().unwrap());
        assert_eq!(
            g["OrigInvValue"],
            serde_json::to_string(&e["OrigInvValue"]).unwrap()
        );
        assert_eq!(g["JournalDate"], e["JournalDate"].as_str().unwrap()[..10]);
        assert_eq!(g["Reference"], e["Reference"].as_str().unwrap_or(""));
    }
    assert!(got.iter().any(|g| g["OrigInvValue"] == "12345678901.23"));

    // Windows-1252 on the wire
    let (_, _, raw) = get(
        &c,
        &format!("{}/Query/Query", srv.enet_url()),
        &[
            ("UserId", &sid),
            ("BusinessObject", "COMFND"),
            (
                "XmlIn",
                &comfnd(
                    "ApSupplier",
                    &["SupplierName"],
                    &[("", "SupplierName", "LIKE", "Müller%")],
                    10,
                    &[],
                ),
            ),
        ],
    )
    .await;
    assert!(raw.windows(7).any(|w| w == b"M\xfcller "), "ü must be 0xFC");
    assert!(std::str::from_utf8(&raw).is_err());

    let (st, _, body) = get(
        &c,
        &format!("{}/Logoff", srv.enet_url()),
        &[("UserId", &sid)],
    )
    .await;
    assert_eq!((st, body.as_slice()), (200, b"0".as_slice()));
    let after = query(&c, &srv, &sid, &comfnd("ApSupplier", &[], &[], 1, &[])).await;
    assert_eq!(after, "ERROR: Invalid UserId");
    let n = s.enet_counters();
    assert_eq!(
        (n.logons, n.logoffs, n.queries, n.active_sessions),
        (1, 1, 2, 0)
    );
    let v: serde_json::Value = c
        .get(format!("{}/_sim/enet", srv.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["logons"], 1);
    let log = s.requests();
    assert!(log.iter().all(|r| r.api == "enet"));
    assert!(log[0].authorized && !log.last().unwrap().authorized);
    srv.stop().await;
}

#[tokio::test]
async fn keyset_paging_with_comfnd() {
    let (s, srv) = sim(EnetWrapping::Bare, Duration::from_secs(600)).await;
    let c = client();
    let sid = logon(&c, &srv).await;
    let exp = s.expected_records("ApInvoicePay");
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut last: Option<(String, String, String)> = None;
    loop {
        let wh: Vec<(String, String, String, String)> = match &last {
            None => vec![],
            Some((sup, inv, e)) => vec![
                ("".into(), "Supplier".into(), "GT".into(), sup.clone()),
                ("Or".into(), "Supplier".into(), "EQ".into(), sup.clone()),
                ("And".into(), "Invoice".into(), "GT".into(), inv.clone()),
                ("Or".into(), "Supplier".into(), "EQ".into(), sup.clone()),
                ("And".into(), "Invoice".into(), "EQ".into(), inv.clone()),
                ("And".into(), "EntryNumber".into(), "GT".into(), e.clone()),
            ],
        };
        let whr: Vec<(&str, &str, &str, &str)> = wh
            .iter()
            .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
            .collect();
        let xml = query(
            &c,
            &srv,
            &sid,
            &comfnd(
                "ApInvoicePay",
                &["Supplier", "Invoice", "EntryNumber"],
                &whr,
                150,
                &["Supplier", "Invoice", "EntryNumber"],
            ),
        )
        .await;
        let page = rows(&xml);
        if page.is_empty() {
            break;
        }
        for r in &page {
            seen.push((
                r["Supplier"].trim_end().to_string(),
                r["Invoice"].clone(),
                r["EntryNumber"].clone(),
            ));
        }
        last = seen.last().cloned();
    }
    let want: Vec<(String, String, String)> = exp
        .iter()
        .map(|r| {
            (
                r["Supplier"].as_str().unwrap().to_string(),
                r["Invoice"].as_str().unwrap().to_string(),
                r["EntryNumber"].to_string(),
            )
        })
        .collect();
    assert_eq!(seen, want);
    srv.stop().await;
}

#[tokio::test]
async fn errors_and_wrappings() {
    for (w, expect) in [
        (EnetWrapping::Bare, "ERROR: Invalid operator password".to_string()),
        (EnetWrapping::JsonQuoted, "\"ERROR: Invalid operator password\"".to_string()),
        (
            EnetWrapping::XmlString,
            "<string xmlns=\"http://schemas.microsoft.com/2003/10/Serialization/\">ERROR: Invalid operator password</string>"
                .to_string(),
        ),
    ] {
        let (s, srv) = sim(w, Duration::from_secs(600)).await;
        let c = client();
        let (st, _, body) = get(
            &c,
            &format!("{}/Logon", srv.enet_url()),
            &[("Operator", "ADMIN"), ("OperatorPassword", "nope"), ("CompanyId", "EDU1")],
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(String::from_utf8(body).unwrap(), expect);
        assert_eq!(s.enet_counters().failed_logons, 1);
        srv.stop().await;
    }

    let (_s, srv) = sim(EnetWrapping::Bare, Duration::from_secs(600)).await;
    let c = client();
    let sid = logon(&c, &srv).await;
    let x = query(&c, &srv, &sid, &comfnd("NoTable", &[], &[], 1, &[])).await;
    assert!(
        x.contains("<ErrorDescription>Table 'NoTable' not found</ErrorDescription>"),
        "{x}"
    );
    let x = query(&c, &srv, &sid, &comfnd("ApInvoice", &["Nope"], &[], 1, &[])).await;
    assert!(
        x.contains("<ErrorDescription>Column 'Nope' not found"),
        "{x}"
    );
    let x = query(
        &c,
        &srv,
        &sid,
        &comfnd(
            "ApInvoice",
            &[],
            &[("", "OrigInvValue", "GT", "abc")],
            1,
            &[],
        ),
    )
    .await;
    assert!(x.contains("<ErrorDescription>"), "{x}");
    let x = query(&c, &srv, &sid, "<Query><TableName>ApInvoice").await;
    assert!(x.contains("<ErrorNumber>"), "{x}");
    // path case varies (syspro.md §2.1)
    let lower = srv.enet_url().replace("/Rest", "/rest");
    let (st, _, body) = get(&c, &format!("{lower}/GetVersion"), &[]).await;
    assert_eq!(
        (st, String::from_utf8(body).unwrap().as_str()),
        (200, "8.0.105")
    );
    let (st, _, _) = get(&c, &format!("{}/Nope", srv.enet_url()), &[]).await;
    assert_eq!(st, 404);
    srv.stop().await;
}

#[tokio::test]
async fn sessions_are_replaced_and_expire() {
    let (s, srv) = sim(EnetWrapping::Bare, Duration::from_millis(400)).await;
    let c = client();
    let a = logon(&c, &srv).await;
    let b = logon(&c, &srv).await;
    assert_ne!(a, b);
    let q = comfnd("GenMaster", &["GlCode"], &[], 2, &[]);
    assert_eq!(
        query(&c, &srv, &a, &q).await,
        "ERROR: Invalid UserId",
        "second logon ends the first"
    );
    assert!(query(&c, &srv, &b, &q).await.contains("<Row>"));
    // activity keeps it alive
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(query(&c, &srv, &b, &q).await.contains("<Row>"));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(query(&c, &srv, &b, &q).await, "ERROR: Invalid UserId");
    let n = s.enet_counters();
    assert_eq!(
        (n.replaced_sessions, n.expired_sessions, n.active_sessions),
        (1, 1, 0)
    );
    // profile
    let d = logon(&c, &srv).await;
    let (_, _, body) = get(
        &c,
        &format!("{}/GetLogonProfile", srv.enet_url()),
        &[("UserId", &d)],
    )
    .await;
    let p = win1252(&body);
    assert!(
        p.contains("<AccountingDate>2026-11-20</AccountingDate>"),
        "{p}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn faults_apply_to_enet() {
    let (s, srv) = sim(EnetWrapping::Bare, Duration::from_secs(600)).await;
    let c = client();
    s.faults().push(FaultKind::Status(503));
    s.faults().push(FaultKind::Reset);
    let url = format!("{}/GetVersion", srv.enet_url());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 503);
    assert!(c.get(&url).send().await.is_err());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    srv.stop().await;
}
