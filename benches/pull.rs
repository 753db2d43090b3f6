//! End-to-end pull benchmark (BENCHMARKS.md): the SYSPRO simulator serves N ApInvoice rows and
//! three readers take all of them, page by page, in the same order:
//!
//! - `floor`: a plain reqwest client fetching SYSPRO's pages with the same `$orderby`/`$top`
//!   keyset paging the service uses (it reads only the order columns of each page's last row);
//! - `serve`: `ml-connector serve` as a separate process, called as Snowflake calls it (its
//!   headers, a new batch id per call, one-row batches) following `next_cursor`;
//! - `cli`: `ml-connector pull --table ApInvoice`, NDJSON into a counting sink;
//! - `digests`: `SYSPRO_DIGESTS` over the whole table, as the verify run calls it (keys and a
//!   digest per row, CONTRACT.md §3.1);
//! - `open`: `SYSPRO_PULL_OPEN`, the open-items re-read every sync cycle makes (its rows are the
//!   invoices with a balance, not all N; the table reports SYSPRO requests and bytes per cycle).
//!
//! For each: rows/s, MB/s (what that reader delivers: OData JSON, answer JSON, NDJSON), the ratio
//! to the floor, the peak RSS (VmHWM) and CPU per row of the ml-connector process.
//!
//! ```sh
//! cargo bench --bench pull                              # N = 100000 and 1000000
//! cargo bench --bench pull -- --rows 100000 --runs 3    # median of 3
//! ```
//!
//! Not a test: it asserts only that every row arrived, once per reader.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::NaiveDateTime;
use ml_connector::syspro::filter::{Literal, strictly_after};
use mlc_simulator::{SimOptions, SimServer, Simulator};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::IgnoredAny;

const TABLE: &str = "ApInvoice";
const SECRET: &str = "bench-secret-0123456789abcdef";
/// ApInvoice's page order: watermark, then key (catalog).
const ORDER: [&str; 3] = ["JournalDate", "Supplier", "Invoice"];
/// The release binary cargo built for this bench; `--bin PATH` compares another build.
const BIN: &str = env!("CARGO_BIN_EXE_ml-connector");

struct Args {
    rows: Vec<usize>,
    page_rows: usize,
    runs: usize,
    only: Vec<String>,
    bin: String,
    /// Ask the service for gzip answers (`Accept-Encoding: gzip`), as a gateway may.
    gzip: bool,
    /// Extra `MLC_*` settings for the ml-connector processes, `KEY=VALUE`.
    env: Vec<(String, String)>,
}

fn args() -> Args {
    let mut a = Args {
        rows: vec![100_000, 1_000_000],
        page_rows: 5000,
        runs: 1,
        only: vec![
            "floor".into(),
            "serve".into(),
            "cli".into(),
            "digests".into(),
            "open".into(),
        ],
        bin: BIN.to_string(),
        gzip: false,
        env: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().expect("a value after the option");
        match arg.as_str() {
            "--rows" => {
                a.rows = value()
                    .split(',')
                    .map(|n| n.replace('_', "").parse().expect("--rows N[,N...]"))
                    .collect()
            }
            "--page-rows" => a.page_rows = value().parse().expect("--page-rows N"),
            "--runs" => a.runs = value().parse::<usize>().expect("--runs N").max(1),
            "--only" => a.only = value().split(',').map(str::to_string).collect(),
            "--bin" => a.bin = value(),
            "--gzip" => a.gzip = true,
            "--env" => {
                let kv = value();
                let (k, v) = kv.split_once('=').expect("--env KEY=VALUE");
                a.env.push((k.to_string(), v.to_string()));
            }
            // cargo bench passes --bench; anything else is a mistake worth seeing.
            "--bench" => {}
            other => panic!(
                "unknown option {other}; use --rows N[,N] --page-rows N --runs N --only floor,serve,cli,digests,open --bin PATH --gzip --env KEY=VALUE"
            ),
        }
    }
    a
}

/// One reader's run over the whole table.
#[derive(Clone, Debug, Default)]
struct Run {
    rows: usize,
    bytes: u64,
    requests: usize,
    secs: f64,
    /// ml-connector's CPU (user + system) during the run, seconds; none for the floor.
    cpu_secs: Option<f64>,
    /// ml-connector's peak resident set, bytes.
    peak_rss: Option<u64>,
    /// Requests the simulator logged (pages and the reads that prove a short page the last).
    syspro_requests: usize,
}

impl Run {
    fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.secs
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    ml_connector::http::install_crypto_provider();
    println!("{}", common::machine());
    println!(
        "binary: {}\npage_rows: {}, runs: {} (median shown), gzip answers: {}, env: {:?}\n",
        a.bin, a.page_rows, a.runs, a.gzip, a.env
    );
    let mut table = Vec::new();
    for &n in &a.rows {
        let started = Instant::now();
        let sim = Simulator::new(SimOptions {
            ap_invoice_rows: Some(n),
            ..SimOptions::default()
        });
        let server = rt.block_on(sim.start("127.0.0.1:0")).expect("simulator");
        let total = sim.row_count(TABLE);
        eprintln!(
            "N = {n}: simulator up with {total} {TABLE} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Readers take turns run by run, so that a busy moment on a shared machine does not
        // fall on one reader only.
        let open_rows = sim
            .expected_records(TABLE)
            .iter()
            .filter(|r| {
                r.get("MthInvBal1")
                    .map(|v| v.to_string())
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|v| v != 0.0)
            })
            .count();
        let readers: Vec<&str> = ["floor", "serve", "cli", "digests", "open"]
            .into_iter()
            .filter(|r| a.only.iter().any(|o| o == r))
            .collect();
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); readers.len()];
        for i in 0..a.runs {
            for (reader, done) in readers.iter().zip(runs.iter_mut()) {
                let requests_before = sim.requests().len();
                let mut r = match *reader {
                    "floor" => rt.block_on(floor(&server, &sim, &a)),
                    "serve" => rt.block_on(serve(&server, &sim, &a, Function::Pull)),
                    "digests" => rt.block_on(serve(&server, &sim, &a, Function::Digests)),
                    "open" => rt.block_on(serve(&server, &sim, &a, Function::Open)),
                    _ => cli(&server, &sim, &a),
                };
                r.syspro_requests = sim.requests().len() - requests_before;
                let want = if *reader == "open" { open_rows } else { total };
                assert_eq!(r.rows, want, "{reader} returned {} of {want} rows", r.rows);
                eprintln!(
                    "  {reader} run {}: {} rows in {:.2} s = {:.0} rows/s, CPU {}, peak RSS {}",
                    i + 1,
                    r.rows,
                    r.secs,
                    r.rows_per_sec(),
                    r.cpu_secs
                        .map(|c| format!("{c:.2} s"))
                        .unwrap_or_else(|| "—".into()),
                    r.peak_rss
                        .map(|b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)))
                        .unwrap_or_else(|| "—".into())
                );
                done.push(r);
            }
        }
        let results: Vec<(&str, Run)> = readers
            .iter()
            .zip(runs)
            .map(|(reader, mut runs)| {
                runs.sort_by(|x, y| x.secs.total_cmp(&y.secs));
                (*reader, runs[runs.len() / 2].clone())
            })
            .collect();
        let floor_rate = results
            .iter()
            .find(|(r, _)| *r == "floor")
            .map(|(_, r)| r.rows_per_sec());
        for (reader, r) in results {
            table.push(format!(
                "| {n} | {reader} | {} | {} | {} | {:.2} | {:.0} | {:.1} | {} | {} | {} |",
                r.rows,
                r.requests,
                r.syspro_requests,
                r.secs,
                r.rows_per_sec(),
                r.bytes as f64 / r.secs / 1e6,
                floor_rate
                    .map(|f| format!("{:.2}", r.rows_per_sec() / f))
                    .unwrap_or_else(|| "—".into()),
                r.peak_rss
                    .map(|b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)))
                    .unwrap_or_else(|| "—".into()),
                r.cpu_secs
                    .map(|c| format!("{:.2}", c * 1e6 / r.rows as f64))
                    .unwrap_or_else(|| "—".into()),
            ));
        }
        rt.block_on(server.stop());
        drop(sim);
    }
    println!(
        "| N | reader | rows | calls | SYSPRO requests | seconds | rows/s | MB/s | × floor | peak RSS MiB | CPU µs/row |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for line in table {
        println!("{line}");
    }
}

fn http(gzip: bool) -> reqwest::Client {
    let b = reqwest::Client::builder().timeout(Duration::from_secs(300));
    let b = if gzip { b } else { b.no_gzip() };
    b.build().expect("HTTP client")
}

/// Only the order columns of a row; every other column is skipped unparsed.
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct OrderKey {
    JournalDate: String,
    Supplier: String,
    Invoice: String,
}

#[derive(Deserialize)]
struct ODataPage {
    value: Vec<OrderKey>,
}

/// The raw floor: SYSPRO's pages, nothing else.
async fn floor(server: &SimServer, sim: &Simulator, a: &Args) -> Run {
    let page_rows = a.page_rows;
    let client = http(false);
    let base = format!("{}/{TABLE}", server.odata_url());
    let o = sim.options();
    let mut run = Run::default();
    let mut after: Option<OrderKey> = None;
    let started = Instant::now();
    loop {
        let mut query = vec![
            ("$orderby", ORDER.join(",")),
            ("$top", page_rows.to_string()),
        ];
        if let Some(k) = &after {
            let ts = NaiveDateTime::parse_from_str(
                k.JournalDate.trim_end_matches('Z'),
                "%Y-%m-%dT%H:%M:%S",
            )
            .expect("JournalDate is a timestamp");
            let lits = [
                Literal::DateTimeOffset(ts),
                Literal::Text(k.Supplier.trim_end().to_string()),
                Literal::Text(k.Invoice.trim_end().to_string()),
            ];
            query.insert(0, ("$filter", strictly_after(&ORDER, &lits)));
        }
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect();
        let body = client
            .get(format!("{base}?{}", q.join("&")))
            .basic_auth(&o.user, Some(&o.password))
            .header("accept", "application/json")
            .send()
            .await
            .expect("simulator answers")
            .error_for_status()
            .expect("page 200")
            .bytes()
            .await
            .expect("page body");
        run.requests += 1;
        run.bytes += body.len() as u64;
        let page: ODataPage = serde_json::from_slice(&body).expect("OData page");
        let fetched = page.value.len();
        run.rows += fetched;
        if fetched < page_rows {
            break;
        }
        after = page.value.into_iter().last();
    }
    run.secs = started.elapsed().as_secs_f64();
    run
}

fn service_env(server: &SimServer, sim: &Simulator, a: &Args) -> Vec<(String, String)> {
    let o = sim.options();
    let page_rows = a.page_rows;
    let mut env: Vec<(String, String)> = [
        ("MLC_SERVER__LISTEN", "127.0.0.1:0".to_string()),
        ("MLC_SERVER__SECRET", SECRET.to_string()),
        ("MLC_SYSPRO__ODATA_URL", server.odata_url()),
        ("MLC_SYSPRO__USER", o.user.clone()),
        ("MLC_SYSPRO__PASSWORD", o.password.clone()),
        ("MLC_SYSPRO__PAGE_ROWS", page_rows.to_string()),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS", "120".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(a.env.iter().cloned());
    env
}

fn command(bin: &str, args: &[&str], env: Vec<(String, String)>) -> Command {
    let mut c = Command::new(bin);
    c.args(args);
    // Only what the benchmark sets: no stray MLC_* from the shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("MLC_") {
            c.env_remove(k);
        }
    }
    c.envs(env);
    c
}

/// The service answering Snowflake: one-row batches following `next_cursor`.
/// Which external function `serve` is called as.
#[derive(Clone, Copy)]
enum Function {
    Pull,
    Digests,
    Open,
}

impl Function {
    fn path(self) -> &'static str {
        match self {
            Function::Pull => "/v1/pull",
            Function::Digests => "/v1/digests",
            Function::Open => "/v1/pull_open",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Function::Pull => "SYSPRO_PULL",
            Function::Digests => "SYSPRO_DIGESTS",
            Function::Open => "SYSPRO_PULL_OPEN",
        }
    }
    fn signature(self) -> &'static str {
        match self {
            Function::Pull => "(TABLE VARCHAR, SINCE VARCHAR, CURSOR VARCHAR)",
            _ => "(TABLE VARCHAR, CURSOR VARCHAR)",
        }
    }
    fn row(self, cursor: &serde_json::Value) -> serde_json::Value {
        match self {
            Function::Pull => serde_json::json!([0, TABLE, null, cursor]),
            _ => serde_json::json!([0, TABLE, cursor]),
        }
    }
}

async fn serve(server: &SimServer, sim: &Simulator, a: &Args, function: Function) -> Run {
    let mut child = command(&a.bin, &["serve"], service_env(server, sim, a))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ml-connector serve starts");
    let pid = child.id() as i32;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("serve prints its address");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let client = http(a.gzip);
    let query_id = "01b2c3d4-0000-beef-0000-000000000001";
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut run = Run::default();
    let cpu_before = cpu_secs(pid);
    let started = Instant::now();
    let mut cursor = serde_json::Value::Null;
    loop {
        let body = serde_json::to_vec(&serde_json::json!({ "data": [function.row(&cursor)] }))
            .expect("request body");
        let answer = client
            .post(format!("{base}{}", function.path()))
            .header("user-agent", "snowflake/1.0")
            .header("content-type", "application/json")
            .header("sf-external-function-format", "json")
            .header("sf-external-function-format-version", "1.0")
            .header("sf-external-function-current-query-id", query_id)
            .header(
                "sf-external-function-query-batch-id",
                format!("{query_id}:1:1:0:{}", run.requests),
            )
            .header("sf-external-function-name", function.name())
            .header("sf-external-function-name-base64", b64(function.name()))
            .header("sf-external-function-signature", function.signature())
            .header("sf-external-function-return-type", "VARIANT")
            .header("sf-custom-mlc-secret", SECRET)
            .body(body)
            .send()
            .await
            .expect("service answers");
        assert_eq!(answer.status().as_u16(), 200, "service status");
        let bytes = answer.bytes().await.expect("answer body");
        run.requests += 1;
        run.bytes += bytes.len() as u64;
        let a: Answer = serde_json::from_slice(&bytes).expect("external-function answer");
        let (_, value) = a.data.into_iter().next().expect("one result row");
        assert!(value.error.is_none(), "pull failed: {:?}", value.error);
        run.rows += value.keys.map_or(value.row_count, |k| k.len());
        match value.next_cursor {
            Some(c) => cursor = serde_json::Value::String(c),
            None => break,
        }
    }
    run.secs = started.elapsed().as_secs_f64();
    run.cpu_secs = Some(cpu_secs(pid) - cpu_before);
    run.peak_rss = vm_hwm(pid);
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = child.wait();
    run
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<(IgnoredAny, PullValue)>,
}

#[derive(Deserialize)]
struct PullValue {
    #[serde(default)]
    row_count: usize,
    /// `SYSPRO_DIGESTS` answers keys (and digests), not rows.
    keys: Option<Vec<IgnoredAny>>,
    next_cursor: Option<String>,
    error: Option<serde_json::Value>,
}

/// `ml-connector pull` to NDJSON, counted as it streams.
// The child is reaped by `wait_with_rusage` (wait4), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn cli(server: &SimServer, sim: &Simulator, a: &Args) -> Run {
    let started = Instant::now();
    let mut child: Child = command(
        &a.bin,
        &["pull", "--table", TABLE],
        service_env(server, sim, a),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("ml-connector pull starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let progress = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut run = Run::default();
    let mut buf = vec![0u8; 1 << 16];
    // The peak RSS is read from /proc while the pull runs: wait4's ru_maxrss would count the
    // benchmark's own memory (the simulator's table), which the child shares until it execs.
    let pid = child.id() as i32;
    let mut peak = 0u64;
    let mut sampled = Instant::now();
    loop {
        let n = stdout.read(&mut buf).expect("read NDJSON");
        if n == 0 {
            break;
        }
        run.bytes += n as u64;
        run.rows += buf[..n].iter().filter(|&&b| b == b'\n').count();
        if sampled.elapsed() > Duration::from_millis(20) {
            peak = peak.max(vm_hwm(pid).unwrap_or(0));
            sampled = Instant::now();
        }
    }
    peak = peak.max(vm_hwm(pid).unwrap_or(0));
    let (status, usage) = wait_with_rusage(&child);
    run.secs = started.elapsed().as_secs_f64();
    let progress = progress.join().unwrap_or_default();
    assert!(status == 0, "ml-connector pull failed: {progress}");
    run.requests = progress.lines().filter(|l| l.contains(": page ")).count();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    run.cpu_secs = Some(tv(usage.ru_utime) + tv(usage.ru_stime));
    run.peak_rss = Some(peak);
    run
}

/// Waits for the child and returns its exit status and resource usage (peak RSS, CPU).
fn wait_with_rusage(child: &Child) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own child and has not been waited for.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32, "wait4");
    (
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        usage,
    )
}

/// utime + stime of a process, seconds.
fn cpu_secs(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Peak resident set (VmHWM), bytes; none once the process has exited.
fn vm_hwm(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}
