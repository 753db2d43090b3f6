//! `spawn_app` and a caller that speaks Snowflake's external-function protocol exactly
//! (snowflake.md §1.1–1.2) — its headers, batch ids and bodies are the demo's
//! (`ml_connector::demo::caller`) — and checks the answers: status, row numbers, order.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use ml_connector::config::Settings;
use ml_connector::demo::caller::{batch_body, batch_id, protocol_headers};
use ml_connector::startup::Application;
use mlc_simulator::{SimOptions, SimServer, Simulator};
use serde_json::{Map, Value, json};

pub const SECRET: &str = "test-secret-0123456789abcdef";

/// Knobs a test may turn; everything else is the product's default.
#[derive(Clone)]
pub struct AppOptions {
    pub page_cap: Option<usize>,
    pub page_rows: usize,
    pub paging: &'static str,
    pub response_budget_bytes: usize,
    pub retry_deadline_secs: u64,
    pub max_attempts: u32,
    pub seed: u64,
    pub extra_env: Vec<(String, String)>,
    /// `odata` or `enet`.
    pub transport: &'static str,
    pub enet: mlc_simulator::EnetOptions,
    /// The simulator's site variants.
    pub site: mlc_simulator::SiteOptions,
    /// Companies besides the simulator's default (EDU1). When any are given the service is
    /// configured with `[companies.*]`: EDU1 and each of these, every one on its own URL.
    pub companies: Vec<mlc_simulator::CompanyOptions>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            page_cap: None,
            page_rows: 500,
            paging: "keyset",
            response_budget_bytes: 8 * 1024 * 1024,
            retry_deadline_secs: 10,
            max_attempts: 6,
            seed: 7,
            extra_env: Vec::new(),
            transport: "odata",
            enet: mlc_simulator::EnetOptions::default(),
            site: mlc_simulator::SiteOptions::default(),
            companies: Vec::new(),
        }
    }
}

pub struct TestApp {
    pub base: String,
    /// Stops the service (graceful: in-flight batches finish, the e.net session is logged off).
    pub server: actix_web::dev::ServerHandle,
    pub stopped: tokio::task::JoinHandle<std::io::Result<()>>,
    pub sim: Simulator,
    pub _sim_server: SimServer,
    pub caller: SnowflakeCaller,
}

impl TestApp {
    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.caller
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// [`TestApp::page_requests`] less the one-row reads that prove a short page was the last
    /// (CONTRACT.md §3.2): the reads that return a page's rows.
    pub fn data_reads(&self, table: &str) -> Vec<mlc_simulator::RequestRecord> {
        self.page_requests(table)
            .into_iter()
            .filter(|r| !r.query.split('&').any(|p| p == "$top=1"))
            .collect()
    }

    /// The simulator's record of requests for `table`'s rows (not `$metadata`, not other tables).
    pub fn page_requests(&self, table: &str) -> Vec<mlc_simulator::RequestRecord> {
        let suffix = format!("/{table}");
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with(&suffix))
            .collect()
    }
}

/// How long a test waits for something before it calls it a failure: long, because the machine
/// may be busy; a test that passes never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, checking it every few milliseconds, and fails the test with
/// `what` if it still does not hold after `within`. Tests wait on what they wait for, never on a
/// fixed sleep.
pub async fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    wait_until_async(within, what, || std::future::ready(condition())).await
}

/// [`wait_until`] with a condition that must itself wait (an HTTP request, say).
pub async fn wait_until_async<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn settings_env(
    sim_server: &SimServer,
    sim: &Simulator,
    o: &AppOptions,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("MLC_SERVER__LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ("MLC_SERVER__SECRET".into(), SECRET.into()),
        (
            "MLC_SERVER__RESPONSE_BUDGET_BYTES".into(),
            o.response_budget_bytes.to_string(),
        ),
        ("MLC_SYSPRO__ODATA_URL".into(), sim_server.odata_url()),
        ("MLC_SYSPRO__USER".into(), sim.options().user.clone()),
        (
            "MLC_SYSPRO__PASSWORD".into(),
            sim.options().password.clone(),
        ),
        ("MLC_SYSPRO__PAGE_ROWS".into(), o.page_rows.to_string()),
        ("MLC_SYSPRO__PAGING".into(), o.paging.to_string()),
        (
            "MLC_SYSPRO__RETRY_DEADLINE_SECS".into(),
            o.retry_deadline_secs.to_string(),
        ),
        ("MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS".into(), "20".into()),
        ("MLC_SYSPRO__RETRY_MAX_BACKOFF_MS".into(), "200".into()),
        (
            "MLC_SYSPRO__MAX_ATTEMPTS".into(),
            o.max_attempts.to_string(),
        ),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS".into(), "5".into()),
        ("MLC_SYSPRO__TRANSPORT".into(), o.transport.into()),
        ("MLC_SYSPRO__ENET_URL".into(), sim_server.enet_url()),
        (
            "MLC_SYSPRO__OPERATOR".into(),
            sim.options().enet.operator.clone(),
        ),
        (
            "MLC_SYSPRO__OPERATOR_PASSWORD".into(),
            sim.options().enet.operator_password.clone(),
        ),
        (
            "MLC_SYSPRO__COMPANY_ID".into(),
            sim.options().enet.company_id.clone(),
        ),
        (
            "MLC_SYSPRO__COMPANY_PASSWORD".into(),
            sim.options().enet.company_password.clone(),
        ),
    ];
    if !o.companies.is_empty() {
        // With companies, [syspro] holds only what they share: each company has its own URL
        // (company segment) and e.net company id.
        env.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "MLC_SYSPRO__ODATA_URL" | "MLC_SYSPRO__COMPANY_ID" | "MLC_SYSPRO__COMPANY_PASSWORD"
            )
        });
        let default = sim.options().company.clone();
        let mut companies = vec![(default, sim.options().enet.company_password.clone())];
        companies.extend(
            o.companies
                .iter()
                .map(|c| (c.id.clone(), c.company_password.clone())),
        );
        for (id, company_password) in companies {
            let var = |key: &str| format!("MLC_COMPANIES__{}__{key}", id.to_uppercase());
            env.push((var("ODATA_URL"), sim_server.odata_url_for(&id)));
            if !company_password.is_empty() {
                env.push((var("COMPANY_PASSWORD"), company_password));
            }
        }
    }
    for (k, v) in &o.extra_env {
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

pub async fn spawn_app(o: AppOptions) -> TestApp {
    let sim = Simulator::new(SimOptions {
        page_cap: o.page_cap,
        seed: o.seed,
        enet: o.enet.clone(),
        site: o.site.clone(),
        companies: o.companies.clone(),
        ..SimOptions::default()
    });
    let sim_server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    let settings =
        Settings::load_from(None, settings_env(&sim_server, &sim, &o)).expect("settings load");
    let app = Application::build(&settings).expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = app.handle();
    let stopped = tokio::spawn(app.run_until_stopped());
    TestApp {
        base: base.clone(),
        server,
        stopped,
        sim,
        _sim_server: sim_server,
        caller: SnowflakeCaller::new(&base, SECRET),
    }
}

/// Calls the service as Snowflake's external-function runtime does.
pub struct SnowflakeCaller {
    pub http: reqwest::Client,
    pub base: String,
    pub secret: String,
    query_id: String,
    next_batch: std::sync::atomic::AtomicU64,
}

/// One HTTP answer.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl SnowflakeCaller {
    pub fn new(base: &str, secret: &str) -> Self {
        ml_connector::http::install_crypto_provider();
        SnowflakeCaller {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .unwrap(),
            base: base.to_string(),
            secret: secret.to_string(),
            query_id: format!("01b2c3d4-0000-{:04x}-0000-000000000001", rand_u16()),
            next_batch: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A fresh batch id of this caller's query.
    pub fn new_batch_id(&self) -> String {
        let n = self
            .next_batch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        batch_id(&self.query_id, n)
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        batch_id: &str,
        secret: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .headers(protocol_headers(path, &self.query_id, batch_id));
        match secret {
            Some(s) => r.header("sf-custom-mlc-secret", s),
            None => r,
        }
    }

    /// Polls a batch answered 202 (a GET with the same batch id), as Snowflake does.
    pub async fn get_batch(&self, path: &str, batch_id: &str) -> Answer {
        let resp = self
            .request(reqwest::Method::GET, path, batch_id, Some(&self.secret))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// POSTs a raw body with a given batch id.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        batch_id: &str,
        secret: Option<&str>,
    ) -> Answer {
        // Snowflake resends a batch, with the same batch id, after a transport error
        // (snowflake.md §1.3); a kept-alive connection the server just closed is one.
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let sent = self
                .request(reqwest::Method::POST, path, batch_id, secret)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) => break r,
                Err(e) if attempt < 3 && !e.is_timeout() => continue,
                Err(e) => panic!("the service does not answer: {e}"),
            }
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// POSTs rows (`args` per row) as one batch and checks the protocol of a 200 answer:
    /// one result per row, the same row numbers, in order.
    pub async fn post_batch(&self, path: &str, rows: &[Vec<Value>], batch_id: &str) -> Answer {
        let answer = self
            .post_raw(
                path,
                serde_json::to_vec(&batch_body(rows)).unwrap(),
                batch_id,
                Some(&self.secret),
            )
            .await;
        if answer.status == 200 {
            let out = answer.body["data"]
                .as_array()
                .expect("answer has a data array");
            assert_eq!(
                out.len(),
                rows.len(),
                "Function received the wrong number of rows"
            );
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r[0], json!(i), "Row numbers out of order");
                assert_eq!(r.as_array().unwrap().len(), 2);
            }
        }
        answer
    }

    /// One function call (a one-row batch); returns the value.
    pub async fn call(&self, path: &str, args: Vec<Value>) -> Value {
        let a = self.post_batch(path, &[args], &self.new_batch_id()).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["data"][0][1].clone()
    }

    /// Calls a paged function until `next_cursor` is null, as the sync procedure does: the last
    /// argument is the cursor, NULL on the first call. Returns the page values.
    pub async fn follow(&self, path: &str, mut args: Vec<Value>) -> Vec<Value> {
        let mut pages = Vec::new();
        loop {
            let v = self.call(path, args.clone()).await;
            assert!(v.get("error").is_none(), "{path} failed: {v}");
            let cursor = v["next_cursor"].clone();
            pages.push(v);
            if cursor.is_null() {
                return pages;
            }
            *args.last_mut().expect("the cursor argument") = cursor;
            assert!(pages.len() < 10_000, "the pull does not end");
        }
    }

    /// A whole pull through `SYSPRO_PULL`. Returns rows and page values.
    pub async fn pull_all(
        &self,
        table: &str,
        since: Option<&str>,
    ) -> (Vec<Map<String, Value>>, Vec<Value>) {
        let since = since.map(|s| json!(s)).unwrap_or(Value::Null);
        let pages = self
            .follow("/v1/pull", vec![json!(table), since, Value::Null])
            .await;
        for v in &pages {
            assert_eq!(
                v["row_count"].as_u64().unwrap() as usize,
                v["rows"].as_array().unwrap().len()
            );
        }
        (items_of(&pages, "rows"), pages)
    }
}

/// The objects of one array field (`rows`, `keys`) over all pages.
pub fn items_of(pages: &[Value], field: &str) -> Vec<Map<String, Value>> {
    pages
        .iter()
        .flat_map(|p| {
            p[field]
                .as_array()
                .expect("an array")
                .iter()
                .map(|r| r.as_object().expect("an object").clone())
        })
        .collect()
}

fn rand_u16() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        & 0xffff) as u16
}

/// A record's key as text, for sorting and duplicate checks.
pub fn key_of(row: &Map<String, Value>, keys: &[String]) -> String {
    keys.iter()
        .map(|k| row.get(k).map(|v| v.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("|")
}

/// Rows by key; panics on a duplicate key, which would be a row repeated across pages.
pub fn by_key(
    rows: Vec<Map<String, Value>>,
    keys: &[String],
) -> BTreeMap<String, Map<String, Value>> {
    let mut out = BTreeMap::new();
    for r in rows {
        let k = key_of(&r, keys);
        assert!(out.insert(k.clone(), r).is_none(), "row {k} returned twice");
    }
    out
}

pub fn catalog_keys(table: &str) -> Vec<String> {
    ml_connector::catalog::Catalog::built_in()
        .get(table)
        .unwrap()
        .key_columns
        .clone()
}
