//! Micro-benchmarks of a pull's hot paths (BENCHMARKS.md), on one real 5000-row ApInvoice page
//! from the simulator:
//!
//! - `odata_page/parse`: SYSPRO's JSON into records (what `ODataClient::fetch_page` does);
//!   `parse_sized_maps`: the same with each record's map sized like the previous record's;
//! - `odata_page/normalize`: trimming, exact decimals, zone-less datetimes for every record
//!   (`normalize_record_by_record`: without the per-page column lookup);
//! - `answer/row_sizes`: the byte-budget measurement of every row (`…_by_serialising`: the way
//!   it was measured before `pull::json_size`);
//! - `answer/pull_value` and `answer/write`: the `SYSPRO_PULL` value and the batch answer bytes;
//! - `cursor/sign`, `cursor/verify`.
//!
//! ```sh
//! cargo bench --bench hot                 # all
//! cargo bench --bench hot -- odata_page   # a group
//! ```

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ml_connector::cursor::{CursorSigner, CursorState, Position};
use ml_connector::pull::{Page, json_size};
use ml_connector::syspro::metadata::parse_metadata;
use ml_connector::syspro::normalize::{Normalizer, normalize_record};
use ml_connector::syspro::schema::TableSchema;
use mlc_simulator::{SimOptions, Simulator};
use serde_json::{Map, Value, json};
use std::hint::black_box;

const ROWS: usize = 5000;

struct Fixture {
    body: Vec<u8>,
    schema: TableSchema,
}

/// One page as SYSPRO sends it, and the table's schema from `$metadata`.
fn fixture() -> Fixture {
    ml_connector::syspro::http::install_crypto_provider();
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

#[derive(serde::Deserialize)]
struct Collection {
    value: Vec<Map<String, Value>>,
}

/// The same page read with each record's map sized like the previous one (serde_json's own map
/// visitor starts every record empty and grows it five times for ApInvoice's columns).
#[derive(serde::Deserialize)]
struct SizedCollection {
    #[serde(deserialize_with = "sized_rows")]
    value: Vec<Map<String, Value>>,
}

fn sized_rows<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Map<String, Value>>, D::Error> {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    struct Rows;
    struct Row(usize);
    impl<'de> Visitor<'de> for Rows {
        type Value = Vec<Map<String, Value>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut rows = Vec::new();
            let mut width = 0;
            while let Some(row) = seq.next_element_seed(Row(width))? {
                width = row.len();
                rows.push(row);
            }
            Ok(rows)
        }
    }
    impl<'de> DeserializeSeed<'de> for Row {
        type Value = Map<String, Value>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Row {
        type Value = Map<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a record")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::with_capacity(self.0);
            while let Some((k, v)) = m.next_entry::<String, Value>()? {
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Rows)
}

fn parse(body: &[u8]) -> Vec<Map<String, Value>> {
    serde_json::from_slice::<Collection>(body)
        .expect("OData page")
        .value
}

fn normalized(f: &Fixture) -> Vec<Map<String, Value>> {
    let mut n = Normalizer::new(Some(&f.schema));
    parse(&f.body).into_iter().map(|r| n.record(r)).collect()
}

fn page(rows: Vec<Map<String, Value>>) -> Page {
    Page {
        table: "ApInvoice".into(),
        poll_id: "0193a0c0-0000-7000-8000-000000000000".into(),
        page: 7,
        fetched_at: "2026-11-20T10:00:00".into(),
        since: None,
        rows_bytes: 0,
        rows,
        next_cursor: Some("x".repeat(300)),
        high_water: Some("2026-11-20T00:00:00".into()),
        key_columns: vec!["Supplier".into(), "Invoice".into()],
        watermark_column: Some("JournalDate".into()),
        attempts: 1,
    }
}

fn odata_page(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("odata_page");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    g.bench_function("parse", |b| b.iter(|| black_box(parse(&f.body))));
    assert_eq!(
        serde_json::to_string(&parse(&f.body)).unwrap(),
        serde_json::to_string(
            &serde_json::from_slice::<SizedCollection>(&f.body)
                .unwrap()
                .value
        )
        .unwrap()
    );
    g.bench_function("parse_sized_maps", |b| {
        b.iter(|| black_box(serde_json::from_slice::<SizedCollection>(&f.body).unwrap()))
    });
    g.bench_function("normalize", |b| {
        b.iter_batched(
            || parse(&f.body),
            |rows| {
                let mut n = Normalizer::new(Some(&f.schema));
                black_box(rows.into_iter().map(|r| n.record(r)).collect::<Vec<_>>())
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("normalize_record_by_record", |b| {
        b.iter_batched(
            || parse(&f.body),
            |rows| {
                black_box(
                    rows.into_iter()
                        .map(|r| normalize_record(Some(&f.schema), r))
                        .collect::<Vec<_>>(),
                )
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn answer(c: &mut Criterion, f: &Fixture) {
    let rows = normalized(f);
    let mut g = c.benchmark_group("answer");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);
    g.bench_function("row_sizes", |b| {
        b.iter(|| black_box(rows.iter().map(|r| json_size(r) + 1).sum::<usize>()))
    });
    g.bench_function("row_sizes_by_serialising", |b| {
        b.iter(|| {
            black_box(
                rows.iter()
                    .map(|r| serde_json::to_vec(r).map(|v| v.len() + 1).unwrap_or(0))
                    .sum::<usize>(),
            )
        })
    });
    g.bench_function("pull_value", |b| {
        b.iter_batched(
            || page(rows.clone()),
            |p| black_box(p.into_pull_value()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("write", |b| {
        b.iter_batched(
            || page(rows.clone()).into_pull_value(),
            |v| {
                black_box(ml_connector::extfn::wire::write_response(&[(json!(0), v)]));
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn cursor(c: &mut Criterion) {
    let signer = CursorSigner::new(b"bench-secret-0123456789abcdef", 86_400);
    let state = CursorState {
        t: "ApInvoice".into(),
        s: Some("2026-11-01T00:00:00".into()),
        p: "0193a0c0-0000-7000-8000-000000000000".into(),
        n: 12,
        hw: Some("2026-11-20T00:00:00".into()),
        pos: Position::After {
            v: vec![
                json!("2026-11-03T00:00:00"),
                json!("Müller Electronics"),
                json!("000000000015001"),
            ],
        },
        iat: 1_795_000_000,
        d: 55_000,
        keys: false,
    };
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
                        false,
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
