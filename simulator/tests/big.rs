//! Benchmark-sized data. Slow in debug builds; run with
//! `cargo test -p mlc-simulator --release --test big -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use mlc_simulator::{SimOptions, Simulator};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark size; run in release"]
async fn one_million_invoices_page_quickly() {
    let t0 = Instant::now();
    let sim = Simulator::new(SimOptions {
        ap_invoice_rows: Some(1_000_000),
        page_cap: Some(5_000),
        ..Default::default()
    });
    let built = t0.elapsed();
    println!("generated 1,000,000 ApInvoice rows in {built:?}");
    assert_eq!(sim.row_count("ApInvoice"), 1_000_000);
    let srv = sim.start("127.0.0.1:0").await.unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut next = Some(format!(
        "{}/ApInvoice?$orderby=JournalDate,Supplier,Invoice&$select=Supplier,Invoice,JournalDate,OrigInvValue",
        srv.odata_url()
    ));
    let (mut rows, mut pages, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let t1 = Instant::now();
    while let Some(u) = next {
        let t = Instant::now();
        let body = c
            .get(&u)
            .basic_auth("odata", Some("odata-secret"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if pages > 0 {
            slowest = slowest.max(t.elapsed());
        }
        let v: Value = serde_json::from_slice(&body).unwrap();
        rows += v["value"].as_array().unwrap().len();
        pages += 1;
        next = v
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    println!(
        "{rows} rows in {pages} pages, {:?} total, slowest page after the first {slowest:?}",
        t1.elapsed()
    );
    assert_eq!(rows, 1_000_000);
    assert_eq!(pages, 200);
    let first = sim.expected_records_range("ApInvoice", 0, 3);
    assert_eq!(first.len(), 3);
    srv.stop().await;
}
