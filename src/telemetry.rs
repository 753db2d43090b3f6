//! Logging: `tracing` to stderr, human text or JSON, filtered by `MLC_LOG` (or `RUST_LOG`).
//! Nothing secret is ever passed to a log macro: URLs are logged without query strings, and
//! credentials live in `SecretString`s whose `Debug` is redacted.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = std::env::var("MLC_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .map(EnvFilter::new)
        .unwrap_or_else(|| {
            EnvFilter::new("info,actix_server=warn,h2=warn,hyper=warn,reqwest=warn")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
