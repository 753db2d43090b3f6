//! Test rig for push mode: RSA keys made with the `openssl` CLI at test time (never a real key),
//! the SQL API stand-in (tests/sqlapi/server.py, run with the repository's .venv) as a
//! subprocess, the SYSPRO simulator in-process, and settings that point the engine at both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ml_connector::config::Settings;
use ml_connector::snowflake::jwt::system_clock;
use ml_connector::sync::{SyncEngine, build_engine};
use mlc_simulator::{SimOptions, SimServer, Simulator};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

pub const ACCOUNT: &str = "myorg-push_test";
pub const ACCOUNT_IN_JWT: &str = "MYORG-PUSH_TEST";
pub const USER: &str = "svc_sync";
pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program` in `dir` and returns its stdout; a failure fails the test with its stderr.
fn run(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    run("openssl", args, dir)
}

pub fn sh(script: &str, dir: &Path) -> Vec<u8> {
    run("sh", &["-c", script], dir)
}

/// A throw-away RSA key pair in every form the tests need.
pub struct TestKey {
    pub dir: tempfile::TempDir,
    /// `-----BEGIN PRIVATE KEY-----`
    pub plain: PathBuf,
    /// `-----BEGIN ENCRYPTED PRIVATE KEY-----`, AES-256-CBC (Snowflake's docs' recipe).
    pub encrypted: PathBuf,
    /// Encrypted with 3DES (`-v2 des3`).
    pub encrypted_3des: PathBuf,
    /// `-----BEGIN PUBLIC KEY-----`
    pub public: PathBuf,
    /// What `openssl rsa -pubout -outform DER | openssl dgst -sha256 -binary | base64` prints.
    pub openssl_fingerprint: String,
}

impl TestKey {
    pub fn generate() -> TestKey {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(&["genrsa", "-out", "rsa.pem", "2048"], d);
        openssl(
            &[
                "pkcs8", "-topk8", "-inform", "PEM", "-in", "rsa.pem", "-out", "plain.p8",
                "-nocrypt",
            ],
            d,
        );
        let pass = format!("pass:{PASSPHRASE}");
        openssl(
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-inform",
                "PEM",
                "-in",
                "rsa.pem",
                "-out",
                "enc.p8",
                "-passout",
                &pass,
            ],
            d,
        );
        openssl(
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "des3",
                "-inform",
                "PEM",
                "-in",
                "rsa.pem",
                "-out",
                "enc3des.p8",
                "-passout",
                &pass,
            ],
            d,
        );
        openssl(&["rsa", "-in", "plain.p8", "-pubout", "-out", "pub.pem"], d);
        let fp = sh(
            "openssl rsa -in plain.p8 -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | base64",
            d,
        );
        TestKey {
            plain: d.join("plain.p8"),
            encrypted: d.join("enc.p8"),
            encrypted_3des: d.join("enc3des.p8"),
            public: d.join("pub.pem"),
            openssl_fingerprint: String::from_utf8(fp).unwrap().trim().to_string(),
            dir,
        }
    }

    /// Verifies an RS256 signature over `input` with `openssl dgst -verify`.
    pub fn openssl_verifies(&self, input: &[u8], signature: &[u8]) -> bool {
        let d = self.dir.path();
        std::fs::write(d.join("input.bin"), input).unwrap();
        std::fs::write(d.join("sig.bin"), signature).unwrap();
        Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.bin",
                "input.bin",
            ])
            .current_dir(d)
            .output()
            .unwrap()
            .status
            .success()
    }
}

/// Options of the stand-in.
pub struct StandInOptions<'a> {
    pub keys: Vec<&'a Path>,
    pub account: &'a str,
    pub partition_rows: usize,
    pub suspended_warehouse: Option<&'a str>,
}

impl Default for StandInOptions<'_> {
    fn default() -> Self {
        StandInOptions {
            keys: Vec::new(),
            account: ACCOUNT_IN_JWT,
            partition_rows: 1000,
            suspended_warehouse: None,
        }
    }
}

/// The SQL API stand-in, killed on drop.
pub struct StandIn {
    pub url: String,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl StandIn {
    pub async fn start(o: StandInOptions<'_>) -> StandIn {
        // The venv tests/sqlapi/setup.sh fills: MLC_TEST_VENV, as for tests/snowflake, or .venv.
        let venv = std::env::var_os("MLC_TEST_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root().join(".venv"));
        let python = venv.join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run tests/sqlapi/setup.sh first",
            python.display()
        );
        let mut cmd = tokio::process::Command::new(python);
        cmd.arg(root().join("tests/sqlapi/server.py"))
            .args(["--account", o.account, "--user", USER])
            .args(["--partition-rows", &o.partition_rows.to_string()]);
        for k in &o.keys {
            cmd.arg("--public-key").arg(k);
        }
        if let Some(w) = o.suspended_warehouse {
            cmd.args(["--suspended-warehouse", w]);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("the stand-in starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the stand-in prints its URL within 60 s")
            .unwrap()
            .expect("the stand-in printed a line");
        let v: Value = serde_json::from_str(&first).expect("a JSON line");
        ml_connector::http::install_crypto_provider();
        StandIn {
            url: v["url"].as_str().unwrap().to_string(),
            _child: child,
            http: reqwest::Client::new(),
        }
    }

    pub async fn ctl(&self, what: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_ctl/{what}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "_ctl/{what}: {v}");
        v
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_ctl/stats", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Rows of a query run directly on the stand-in's fakesnow (no auth: for assertions).
    pub async fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let v = self.ctl("query", json!({ "sql": sql })).await;
        serde_json::from_value(v["rows"].clone()).unwrap()
    }

    /// Started trusting `key`, with the setup applied: where the tests that sync start.
    pub async fn set_up(key: &TestKey) -> StandIn {
        let standin = StandIn::start(StandInOptions {
            keys: vec![&key.public],
            ..StandInOptions::default()
        })
        .await;
        standin.apply_setup().await;
        standin
    }

    /// The runnable part of the rendered setup (databases, tables, the control seed), as
    /// tests/snowflake does it: fakesnow cannot create procedures, tasks or integrations.
    pub async fn apply_setup(&self) {
        self.apply_setup_for(&[""]).await;
    }

    /// [`StandIn::apply_setup`] with the control table seeded for these companies (`""`: the
    /// single company).
    pub async fn apply_setup_for(&self, companies: &[&str]) {
        let sql = ml_connector::sqlgen::render_setup(
            &ml_connector::sqlgen::SqlSettings {
                companies: companies.iter().map(|c| c.to_string()).collect(),
                ..ml_connector::sqlgen::SqlSettings::default()
            },
            &ml_connector::sqlgen::builtin_tables(),
        );
        for statement in runnable_setup(&sql) {
            self.ctl("query", json!({ "sql": statement })).await;
        }
    }
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn runnable_setup(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = Vec::new();
    let mut in_body = false;
    for line in script.split('\n') {
        current.push(line);
        if line.matches("$$").count() % 2 == 1 {
            in_body = !in_body;
        }
        if !in_body && line.trim_end().ends_with(';') {
            let text = strip_comments(&current.join("\n")).trim().to_string();
            current.clear();
            let keep = [
                "create database if not exists",
                "create schema if not exists",
                "create table if not exists",
                "create transient table if not exists",
            ]
            .iter()
            .any(|p| text.starts_with(p))
                || (text.starts_with("merge into")
                    && text.contains("syspro_sync_control as control"));
            if keep {
                statements.push(text.trim_end_matches(';').to_string());
            }
        }
    }
    statements
}

/// The SYSPRO simulator, served on a free port.
pub struct Syspro {
    pub sim: Simulator,
    pub server: SimServer,
}

pub async fn start_syspro(seed: u64) -> Syspro {
    let sim = Simulator::new(SimOptions {
        seed,
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    Syspro { sim, server }
}

/// A fresh key, the stand-in set up for it, and the simulator: what a sync starts from.
pub struct Rig {
    pub key: TestKey,
    pub standin: StandIn,
    pub syspro: Syspro,
}

impl Rig {
    pub async fn start(seed: u64) -> Rig {
        let key = TestKey::generate();
        let standin = StandIn::set_up(&key).await;
        let syspro = start_syspro(seed).await;
        Rig {
            key,
            standin,
            syspro,
        }
    }

    /// A sync engine on [`env`] with the plain key, syncing only `tables` (comma-separated),
    /// with `extra` variables on top.
    pub fn engine(&self, tables: &str, extra: &[(&str, &str)]) -> SyncEngine {
        let mut e = env(&self.syspro, &self.standin.url, &self.key.plain, None);
        e.push(("MLC_SYNC__TABLES".into(), tables.into()));
        e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        build_engine(&settings(e), system_clock()).expect("engine builds")
    }
}

/// Environment that points push mode at the simulator and the stand-in.
pub fn env(
    syspro: &Syspro,
    standin_url: &str,
    key: &Path,
    passphrase: Option<&str>,
) -> Vec<(String, String)> {
    let mut e: Vec<(String, String)> = [
        ("MLC_SYSPRO__ODATA_URL", syspro.server.odata_url()),
        ("MLC_SYSPRO__USER", syspro.sim.options().user.clone()),
        (
            "MLC_SYSPRO__PASSWORD",
            syspro.sim.options().password.clone(),
        ),
        ("MLC_SYSPRO__PAGE_ROWS", "400".into()),
        ("MLC_SYSPRO__RETRY_DEADLINE_SECS", "10".into()),
        ("MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS", "10".into()),
        ("MLC_SYSPRO__RETRY_MAX_BACKOFF_MS", "100".into()),
        ("MLC_SYSPRO__MAX_ATTEMPTS", "4".into()),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS", "5".into()),
        ("MLC_SNOWFLAKE__ACCOUNT", ACCOUNT.into()),
        ("MLC_SNOWFLAKE__USER", USER.into()),
        ("MLC_SNOWFLAKE__PRIVATE_KEY_PATH", key.display().to_string()),
        ("MLC_SNOWFLAKE__URL", standin_url.into()),
        ("MLC_SNOWFLAKE__WAREHOUSE", "SYNC_WH".into()),
        ("MLC_SNOWFLAKE__DATABASE", "ml_connector".into()),
        ("MLC_SNOWFLAKE__SCHEMA", "syspro".into()),
        ("MLC_SNOWFLAKE__ROLE", "ML_CONNECTOR_OWNER".into()),
        ("MLC_SYNC__CYCLE_MAX_ATTEMPTS", "3".into()),
        ("MLC_SYNC__CYCLE_RETRY_INITIAL_BACKOFF_SECS", "0".into()),
        ("MLC_SYNC__CYCLE_RETRY_MAX_BACKOFF_SECS", "1".into()),
        ("MLC_SYNC__SQL_RETRY_DEADLINE_SECS", "30".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(p) = passphrase {
        e.push(("MLC_SNOWFLAKE__PRIVATE_KEY_PASSPHRASE".into(), p.into()));
    }
    e
}

pub fn settings(env: Vec<(String, String)>) -> Settings {
    Settings::load_from(None, env).expect("settings load")
}

/// `Supplier|Invoice` from a record, as the SQL's record_key expression builds it.
pub fn record_key(record: &serde_json::Map<String, Value>, keys: &[String]) -> String {
    keys.iter()
        .map(|k| match record.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}
