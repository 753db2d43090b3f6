//! Micro-benchmarks of a pull's hot paths (BENCHMARKS.md), on one real 5000-row ApInvoice page
//! from the simulator:
//!
//! - `odata_page/transcode`: SYSPRO's JSON normalised into the rows of an answer (trimming,
//!   exact decimals, zone-less datetimes, watermarks marked), what `ODataClient::fetch_page` does;
//!   `odata_page/skim`: serde_json reading the page and keeping nothing, the least any
//!   serde_json-based reader can cost; `odata_page/tree`: the same bytes parsed into a
//!   `serde_json::Value` tree only, the first step of how pages were read before transcoding;
//! - `answer/pull_value` and `answer/write`: the `SYSPRO_PULL` value and the batch answer bytes;
//! - `cursor/sign`, `cursor/verify`.
//!
//! ```sh
//! cargo bench --bench hot                 # all
//! cargo bench --bench hot -- odata_page   # a group
//! ```

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ml_connector::pull::{CursorFunction, CursorSigner, CursorState, Page, Position, Rows};
use ml_connector::syspro::metadata::parse_metadata;
use ml_connector::syspro::normalize::transcode_collection;
use ml_connector::syspro::schema::TableSchema;
use mlc_simulator::{SimOptions, Simulator};
use serde_json::{Value, json};
use std::hint::black_box;

const ROWS: usize = 5000;

struct Fixture {
    body: Vec<u8>,
    schema: TableSchema,
}

/// One page as SYSPRO sends it, and the table's schema from `$metadata`.
fn fixture() -> Fixture {
    ml_connector::http::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sim = Simulator::new(SimOptions {
            ap_invoice_rows: Some(20_000),
            ..SimOptions::default()
        });
        let server = sim.start("127.0.0.1:0").await.expect("simulator");
        let o = sim.options().clone();
        let client = reqwest::Client::new();
        let get = |path: String| {
            client
                .get(format!("{}/{path}", server.odata_url()))
                .basic_auth(&o.user, Some(&o.password))
                .send()
        };
        let body = get(format!(
            "ApInvoice?$orderby=JournalDate,Supplier,Invoice&$top={ROWS}"
        ))
        .await
        .expect("page")
        .bytes()
        .await
        .expect("page body")
        .to_vec();
        let xml = get("$metadata".into())
            .await
            .expect("metadata")
            .text()
            .await
            .expect("metadata body");
        let schema = parse_metadata(&xml)
            .expect("metadata parses")
            .table("ApInvoice")
            .expect("ApInvoice")
            .clone();
        server.stop().await;
        Fixture { body, schema }
    })
}

fn transcode(f: &Fixture) -> Rows {
    transcode_collection(&f.body, Some(&f.schema), Some("JournalDate"))
        .expect("OData page")
        .expect("a collection")
        .rows
}

fn page(rows: Rows) -> Page {
    Page {
        table: "ApInvoice".into(),
        company: String::new(),
        poll_id: "0193a0c0-0000-7000-8000-000000000000".into(),
        page: 7,
        fetched_at: "2026-11-20T10:00:00".into(),
        since: None,
        rows,
        next_cursor: Some("x".repeat(300)),
        high_water: Some("2026-11-20T00:00:00".into()),
        key_columns: vec!["Supplier".into(), "Invoice".into()],
        watermark_column: Some("JournalDate".into()),
        attempts: 1,
        missing: None,
        open_items: None,
    }
}

fn odata_page(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("odata_page");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    assert_eq!(transcode(f).len(), ROWS);
    g.bench_function("transcode", |b| b.iter(|| black_box(transcode(f))));
    g.bench_function("skim", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&f.body).expect("JSON"))
        })
    });
    g.bench_function("tree", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(&f.body).expect("JSON")))
    });
    g.finish();
}

fn answer(c: &mut Criterion, f: &Fixture) {
    let rows = transcode(f);
    let mut g = c.benchmark_group("answer");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    g.bench_function("pull_value", |b| {
        b.iter_batched(
            || page(rows.clone()),
            |p| {
                let mut out = Vec::new();
                p.write_pull_value(&mut out);
                black_box(out)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("write", |b| {
        b.iter_batched(
            || {
                let mut out = Vec::new();
                page(rows.clone()).write_pull_value(&mut out);
                out
            },
            |v| {
                black_box(ml_connector::extfn::envelope::write_response(&[(
                    json!(0),
                    v,
                )]))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn cursor(c: &mut Criterion) {
    let signer = CursorSigner::new(b"bench-secret-0123456789abcdef", 86_400);
    let mut state = CursorState::new(
        CursorFunction::Pull,
        "ApInvoice",
        Some("2026-11-01T00:00:00".into()),
        "0193a0c0-0000-7000-8000-000000000000",
        12,
        Position::After {
            values: vec![
                json!("2026-11-03T00:00:00"),
                json!("Müller Electronics"),
                json!("000000000015001"),
            ],
        },
        1_795_000_000,
    );
    state.high_water = Some("2026-11-20T00:00:00".into());
    state.rows_delivered = 55_000;
    let token = signer.sign(&state);
    let mut g = c.benchmark_group("cursor");
    g.bench_function("sign", |b| b.iter(|| black_box(signer.sign(&state))));
    g.bench_function("verify", |b| {
        b.iter(|| {
            black_box(
                signer
                    .verify(
                        &token,
                        "ApInvoice",
                        Some("2026-11-01T00:00:00"),
                        CursorFunction::Pull,
                        1_795_000_100,
                    )
                    .expect("verifies"),
            )
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    let f = fixture();
    odata_page(c, &f);
    answer(c, &f);
    cursor(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
