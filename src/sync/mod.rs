//! Push mode (`ml-connector sync`): polls SYSPRO through the pull engine on a schedule and
//! loads Snowflake through its SQL API with the statements the procedures run. The steps of a
//! run are written once, in [`cycle`], over a [`Warehouse`] ([`sqlapi`] in production, the demo's
//! embedded store locally) and a [`PageSource`]; [`engine`] schedules them. Watermarks stay in
//! the warehouse (`syspro_sync_state`); this process keeps none.

pub mod cycle;
pub mod engine;
pub mod sqlapi;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;

pub use crate::config::SyncSettings;
pub use cycle::{
    CycleError, CycleReport, FailureKind, PageSource, RunKind, Stop, SyncTable, Warehouse,
};
pub use engine::SyncEngine;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::retry::RetryPolicy;
use crate::snowflake::{self, ClientTuning};

/// The SQL API client's knobs from `[sync]`.
pub fn client_tuning(sync: &SyncSettings) -> ClientTuning {
    let defaults = ClientTuning::default();
    ClientTuning {
        token_lifetime_secs: sync.token_lifetime_secs as i64,
        statement_timeout_secs: sync.statement_timeout_secs,
        retry: RetryPolicy {
            max_attempts: sync.sql_max_attempts,
            deadline: Duration::from_secs(sync.sql_retry_deadline_secs.max(1)),
            ..defaults.retry
        },
        ..defaults
    }
}

/// Builds the engine from settings: the key is read and decrypted here, once.
pub fn build_engine(settings: &Settings, clock: snowflake::Clock) -> anyhow::Result<SyncEngine> {
    settings.companies()?;
    settings.snowflake_login()?;
    let key = snowflake::load_key(settings)?;
    let client = snowflake::build_client(settings, key, &client_tuning(&settings.sync), clock)?;
    let metrics = Metrics::new();
    let puller = crate::startup::build_puller(settings, &metrics)?;
    SyncEngine::new(
        puller,
        Arc::new(client),
        &crate::startup::sql_settings(settings),
        settings.sync.clone(),
    )
    .map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

/// `ml-connector sync [--once [--verify]]`.
pub async fn run_command(settings: &Settings, once: bool, verify: bool) -> anyhow::Result<()> {
    let engine = build_engine(settings, snowflake::jwt::system_clock())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            message = "Shutdown asked: the running cycle stops at its next step (audited as cancelled); a second signal exits at once."
        );
        let _ = tx.send(true);
        shutdown_signal().await;
        std::process::exit(130);
    });
    if once {
        let results = engine.run_once(&rx, verify).await;
        let mut failed = 0;
        for r in &results {
            let line = match r {
                Ok(report) if report.skipped => {
                    serde_json::json!({"status": "skipped", "report": report})
                }
                Ok(report) => serde_json::json!({"status": "succeeded", "report": report}),
                Err(e) => {
                    failed += 1;
                    serde_json::json!({"status": "failed", "error": e})
                }
            };
            println!("{line}");
        }
        if failed > 0 {
            bail!(
                "{failed} of {} table(s) failed; see audit_syspro__runs",
                results.len()
            );
        }
        let expected = engine.tables().len() * if verify { 2 } else { 1 };
        if results.len() < expected {
            bail!("stopped before every table had its cycle");
        }
        return Ok(());
    }
    tracing::info!(
        message = "Push mode started.",
        tables = engine.tables().len()
    );
    engine.run_forever(&rx).await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.context("ctrl-c handler").ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
