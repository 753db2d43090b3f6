//! SYSPRO's HTTP helpers shared by the OData and e.net clients (the client itself is built by
//! [`crate::http`]).

use std::time::Duration;

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
