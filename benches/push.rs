//! Push-mode benchmark (BENCHMARKS.md): `sync --once` of one table, first load, against the SQL
//! API stand-in (tests/sqlapi/server.py on fakesnow) behind a proxy that adds a fixed latency to
//! every HTTP request (150 ms by default: a Snowflake SQL API round trip from outside its region,
//! statement queueing included). What it shows is how many round trips a page costs: rows/s,
//! SQL API requests per page, and the seconds of the cycle.
//!
//! ```sh
//! cargo bench --bench push                                  # 4000 ApInvoice rows, 250 a page
//! cargo bench --bench push -- --rows 4000 --page-rows 250 --latency-ms 150 --runs 3
//! ```
//!
//! Needs the stand-in's venv (`tests/sqlapi/setup.sh`) and the `openssl` CLI, as tests/push does.
//! Not a test: it asserts only that the cycle succeeded and pulled every row.

// the engine's future, nested in the bench's, is deeper than the default allows
#![recursion_limit = "256"]

mod common;
#[allow(dead_code)]
#[path = "../tests/push/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use harness::{StandIn, TestKey};
use ml_connector::snowflake::jwt::system_clock;
use ml_connector::sync::build_engine;
use mlc_simulator::{SimOptions, Simulator};

struct Args {
    rows: usize,
    page_rows: usize,
    latency_ms: u64,
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        rows: 4000,
        page_rows: 250,
        latency_ms: 150,
        runs: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .expect("a value after the option")
                .replace('_', "")
                .parse::<u64>()
                .expect("a number")
        };
        match arg.as_str() {
            "--rows" => a.rows = value() as usize,
            "--page-rows" => a.page_rows = value() as usize,
            "--latency-ms" => a.latency_ms = value(),
            "--runs" => a.runs = value().max(1) as usize,
            // what `cargo bench` passes to every bench
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    a
}

/// Forwards every request to the stand-in after `latency`, counting them.
struct Proxy {
    upstream: String,
    latency: Duration,
    client: reqwest::Client,
    requests: AtomicU64,
}

async fn forward(req: HttpRequest, body: web::Bytes, proxy: web::Data<Proxy>) -> HttpResponse {
    tokio::time::sleep(proxy.latency).await;
    proxy.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut out = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream));
    for (name, value) in req.headers() {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match out.body(body.to_vec()).send().await {
        Ok(a) => a,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let mut back = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(answer.status().as_u16()).unwrap(),
    );
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            back.insert_header((name.as_str(), value.as_bytes()));
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    back.body(bytes.to_vec())
}

struct Run {
    rows: u64,
    pages: u32,
    requests: u64,
    secs: f64,
}

async fn one_run(a: &Args, key: &TestKey) -> Run {
    let standin = StandIn::set_up(key).await;
    let sim = Simulator::new(SimOptions {
        seed: 7,
        ap_invoice_rows: Some(a.rows),
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    let syspro = harness::Syspro { sim, server };

    let proxy = web::Data::new(Proxy {
        upstream: standin.url.clone(),
        latency: Duration::from_millis(a.latency_ms),
        client: reqwest::Client::builder().no_gzip().build().unwrap(),
        requests: AtomicU64::new(0),
    });
    let data = proxy.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let http = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(256 * 1024 * 1024))
            .default_service(web::to(forward))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let http_handle = http.handle();
    tokio::spawn(http);

    let mut env = harness::env(&syspro, &proxy_url, &key.plain, None);
    env.push(("MLC_SYNC__TABLES".into(), "ApInvoice".into()));
    env.push(("MLC_SYSPRO__PAGE_ROWS".into(), a.page_rows.to_string()));
    env.push(("MLC_SYNC__CYCLE_MAX_ATTEMPTS".into(), "1".into()));
    let engine = build_engine(&harness::settings(env), system_clock()).expect("engine builds");
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let began = Instant::now();
    let results = engine.run_once(&stop, false).await;
    let secs = began.elapsed().as_secs_f64();
    let report = match results.into_iter().next() {
        Some(Ok(r)) => r,
        other => panic!("the cycle failed: {other:?}"),
    };
    assert!(
        report.rows_pulled >= a.rows as u64,
        "pulled {} of {} rows",
        report.rows_pulled,
        a.rows
    );
    http_handle.stop(false).await;
    Run {
        rows: report.rows_pulled,
        pages: report.pages,
        requests: proxy.requests.load(Ordering::Relaxed),
        secs,
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("{}", common::machine());
    println!(
        "push mode, sync --once of ApInvoice (first load): {} rows, {} rows a page, +{} ms per SQL API request, {} run(s)",
        a.rows, a.page_rows, a.latency_ms, a.runs
    );
    let key = TestKey::generate();
    let mut runs: Vec<Run> = Vec::new();
    for i in 0..a.runs {
        let r = rt.block_on(one_run(&a, &key));
        println!(
            "run {}: {} rows, {} pages, {} SQL API requests ({:.2} a page), {:.1} s, {:.0} rows/s",
            i + 1,
            r.rows,
            r.pages,
            r.requests,
            r.requests as f64 / f64::from(r.pages.max(1)),
            r.secs,
            r.rows as f64 / r.secs
        );
        runs.push(r);
    }
    runs.sort_by(|x, y| x.secs.total_cmp(&y.secs));
    let m = &runs[runs.len() / 2];
    println!(
        "\n| rows | pages | SQL API requests | requests/page | seconds | rows/s |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {:.2} | {:.1} | {:.0} |",
        m.rows,
        m.pages,
        m.requests,
        m.requests as f64 / f64::from(m.pages.max(1)),
        m.secs,
        m.rows as f64 / m.secs
    );
}
