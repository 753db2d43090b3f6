//! The one way this program builds an HTTP client, shared by the SYSPRO clients and Snowflake's
//! SQL API client, which know nothing of each other: rustls with the ring provider, the system's
//! roots plus an optional site CA (on-prem SYSPRO often has a self-signed certificate). There is
//! deliberately no "accept any certificate" switch.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crate::retry::Cause;

static PROVIDER: Once = Once::new();

const USER_AGENT: &str = concat!("ml-connector/", env!("CARGO_PKG_VERSION"));

/// reqwest is built without a default crypto provider (build-notes.md), so one must be installed
/// before the first client exists.
pub fn install_crypto_provider() {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Why a client could not be built; the caller knows which setting named the CA file.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {}: {reason}", path.display())]
    CaUnreadable { path: PathBuf, reason: String },
    #[error("{} is not a PEM certificate bundle: {reason}", path.display())]
    CaNotPem { path: PathBuf, reason: String },
    #[error("{} holds no certificate", path.display())]
    CaEmpty { path: PathBuf },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// A client with the given per-request timeout, trusting the system's roots and, when given, the
/// CA certificates in `extra_roots` (PEM).
pub fn build_client(
    request_timeout: Duration,
    extra_roots: Option<&Path>,
) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(request_timeout)
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(16);
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path).map_err(|e| ClientError::CaUnreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::CaNotPem {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ClientError::CaEmpty {
                path: path.to_path_buf(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(e.to_string()))
}

/// What a request that got no answer ran into, read from the error's types (never its text): a
/// certificate rustls refused, a refused connection, a timeout, or no connection at all (a name
/// that does not resolve, no route).
pub fn transport_cause(e: &reqwest::Error) -> Cause {
    if e.is_timeout() {
        return Cause::TimedOut;
    }
    let mut cause = if e.is_connect() {
        Cause::Unreachable
    } else {
        Cause::Unclassified
    };
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return Cause::Certificate;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                cause = Cause::Refused;
            }
            // io::Error's `source` skips the error it wraps: look inside it too.
            if let Some(inner) = io.get_ref() {
                if inner.downcast_ref::<rustls::Error>().is_some() {
                    return Cause::Certificate;
                }
                next = Some(inner);
                continue;
            }
        }
        next = err.source();
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_told_apart_from_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.pem");
        assert!(matches!(
            build_client(Duration::from_secs(1), Some(&none)),
            Err(ClientError::CaUnreadable { .. })
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        assert!(matches!(
            build_client(Duration::from_secs(1), Some(&empty)),
            Err(ClientError::CaEmpty { .. } | ClientError::CaNotPem { .. })
        ));
        build_client(Duration::from_secs(1), None).unwrap();
    }
}
