//! The one HTTP client builder for SYSPRO: rustls with the ring provider, the system's roots plus
//! an optional site CA (on-prem SYSPRO often has a self-signed certificate). There is deliberately
//! no "accept any certificate" switch.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

static PROVIDER: Once = Once::new();

/// reqwest is built without a default crypto provider (build-notes.md), so one must be installed
/// before the first client exists.
pub fn install_crypto_provider() {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn build_client(
    request_timeout: Duration,
    ca_cert_path: Option<&Path>,
) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
        .timeout(request_timeout)
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(16);
    if let Some(path) = ca_cert_path {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read syspro.ca_cert_path {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            format!(
                "syspro.ca_cert_path {} is not a PEM certificate bundle: {e}",
                path.display()
            )
        })?;
        if certs.is_empty() {
            return Err(format!(
                "syspro.ca_cert_path {} holds no certificate",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A service base URL that `Url::join` extends instead of replacing its last segment (the
/// OData company segment, e.net's `Rest`).
pub fn service_base(url: &str, setting: &str) -> Result<url::Url, String> {
    let mut base = url::Url::parse(url.trim_end_matches('/'))
        .map_err(|e| format!("{setting} is not a URL: {e}"))?;
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    Ok(base)
}

/// The `Retry-After` of an answer, as seconds or an HTTP date.
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::retry::parse_retry_after(v, chrono::Utc::now()))
}

/// A bounded metrics label for a failed request.
pub fn transport_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}
