//! Running the binary with a clean environment, and a simulator to point it at.

use std::time::Duration;

use mlc_simulator::{SimOptions, SimServer, Simulator};

pub const BIN: &str = env!("CARGO_BIN_EXE_ml-connector");

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for "is it mentioned anywhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn explain(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `ml-connector ARGS` with only `env` as its configuration: every inherited `MLC_*`,
/// `RUST_LOG` and config variable is removed first.
pub async fn run(args: &[&str], env: &[(String, String)], timeout: Duration) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("MLC_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("ml-connector {args:?} did not finish within {timeout:?}"))
        .expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub async fn simulator() -> (Simulator, SimServer) {
    let sim = Simulator::new(SimOptions {
        seed: 11,
        ap_invoice_rows: Some(300),
        ..SimOptions::default()
    });
    let server = sim.start("127.0.0.1:0").await.expect("simulator starts");
    (sim, server)
}

/// The OData settings for `url` with the simulator's credentials (or the password given).
pub fn odata_env(url: &str, sim: &Simulator, password: Option<&str>) -> Vec<(String, String)> {
    vec![
        ("MLC_SYSPRO__ODATA_URL".into(), url.to_string()),
        ("MLC_SYSPRO__USER".into(), sim.options().user.clone()),
        (
            "MLC_SYSPRO__PASSWORD".into(),
            password.unwrap_or(&sim.options().password).to_string(),
        ),
        ("MLC_SYSPRO__REQUEST_TIMEOUT_SECS".into(), "10".into()),
        ("MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS".into(), "10".into()),
        ("MLC_SYSPRO__RETRY_MAX_BACKOFF_MS".into(), "50".into()),
    ]
}

/// The verdict line of the item named `name` (✔ or ✘ first).
pub fn verdict<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout.lines().find(|l| {
        l.get(4..)
            .is_some_and(|rest| rest.starts_with(name) && rest[name.len()..].starts_with(' '))
    })
}

/// The line after the verdict of `name`, when it is its fix.
pub fn fix_of<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = stdout.lines();
    lines.by_ref().find(|l| verdict(l, name).is_some())?;
    lines.next().filter(|l| l.trim_start().starts_with("fix:"))
}
