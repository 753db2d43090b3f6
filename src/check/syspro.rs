//! SYSPRO checks of `check`: the configuration, `$metadata` (reachable and parsed), then a one-row
//! read (`$top=1`) of every catalog table, through the same client and engine `serve` uses. Each
//! failure says what to change. Secrets never appear: the client's messages carry no credentials
//! and URLs are shown without user info or query.

use std::time::Instant;

use super::CheckItem;
use crate::config::{Settings, Transport};
use crate::metrics::Metrics;
use crate::retry::{ErrorKind, UpstreamError};
use crate::startup::build_puller;
use crate::syspro::Source;

/// `check` is a diagnosis, not a sync: a dead SYSPRO should be reported in seconds, not after
/// the full retry budget, so reads here are retried once at most and bounded in time.
const CHECK_MAX_ATTEMPTS: u32 = 2;
const CHECK_DEADLINE_SECS: u64 = 30;

pub async fn check(settings: &Settings) -> Vec<CheckItem> {
    match settings.syspro.transport {
        Transport::Odata => check_odata(settings).await,
        Transport::Enet => check_enet(settings).await,
    }
}

fn item(name: &str, ok: bool, detail: impl Into<String>, fix: Option<String>) -> CheckItem {
    CheckItem {
        name: name.to_string(),
        ok,
        detail: detail.into(),
        fix,
    }
}

/// The variables a transport needs that are not set.
fn missing_settings(settings: &Settings) -> Vec<&'static str> {
    let s = &settings.syspro;
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
    let mut missing = Vec::new();
    match s.transport {
        Transport::Odata => {
            if blank(&s.odata_url) {
                missing.push("MLC_SYSPRO__ODATA_URL");
            }
            if blank(&s.user) {
                missing.push("MLC_SYSPRO__USER");
            }
            if s.password.is_none() {
                missing.push("MLC_SYSPRO__PASSWORD");
            }
        }
        Transport::Enet => {
            if blank(&s.enet_url) {
                missing.push("MLC_SYSPRO__ENET_URL");
            }
            if blank(&s.operator) {
                missing.push("MLC_SYSPRO__OPERATOR");
            }
            if blank(&s.company_id) {
                missing.push("MLC_SYSPRO__COMPANY_ID");
            }
        }
    }
    missing
}

/// Configuration problems as one failed item, or `None` when SYSPRO is configured.
fn configuration_problem(settings: &Settings) -> Option<CheckItem> {
    let missing = missing_settings(settings);
    if !missing.is_empty() {
        let example = match settings.syspro.transport {
            Transport::Odata => {
                "e.g. MLC_SYSPRO__ODATA_URL=https://erp.example.com/SYSPRO8Odata/SYSPROOData/EDU1"
            }
            Transport::Enet => "e.g. MLC_SYSPRO__ENET_URL=http://erp:20001/SYSPROWCFService/Rest",
        };
        return Some(item(
            "SYSPRO configuration",
            false,
            format!("SYSPRO is not configured: {} not set", missing.join(", ")),
            Some(format!(
                "set {} in the environment or in the [syspro] section of the --config file ({example}); every key: deploy/config.example.toml",
                missing.join(", ")
            )),
        ));
    }
    if let Err(e) = settings.validate_for_syspro() {
        return Some(item(
            "SYSPRO configuration",
            false,
            e.0.clone(),
            Some("correct the setting the message names".into()),
        ));
    }
    None
}

/// A URL as it may be printed: scheme, host, port and path only.
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => crate::syspro::odata::redact_url(&u),
        Err(_) => "(not a URL)".into(),
    }
}

async fn check_odata(settings: &Settings) -> Vec<CheckItem> {
    if let Some(problem) = configuration_problem(settings) {
        return vec![problem];
    }
    let mut quick = settings.clone();
    quick.syspro.page_rows = 1;
    quick.syspro.max_attempts = quick.syspro.max_attempts.min(CHECK_MAX_ATTEMPTS);
    quick.syspro.retry_deadline_secs = quick.syspro.retry_deadline_secs.min(CHECK_DEADLINE_SECS);
    quick.syspro.request_timeout_secs = quick.syspro.request_timeout_secs.min(CHECK_DEADLINE_SECS);
    quick.syspro.retry_initial_backoff_ms = quick.syspro.retry_initial_backoff_ms.min(200);
    quick.syspro.retry_max_backoff_ms = quick.syspro.retry_max_backoff_ms.min(1000);

    let url = shown_url(settings.syspro.odata_url.as_deref().unwrap_or_default());
    let metrics = Metrics::new();
    let puller = match build_puller(&quick, &metrics) {
        Ok(p) => p,
        Err(e) => {
            return vec![item(
                "SYSPRO configuration",
                false,
                e.0.clone(),
                Some(if e.0.contains("ca_cert_path") {
                    "MLC_SYSPRO__CA_CERT_PATH must be a PEM file with the CA certificate(s) that issued SYSPRO's certificate".into()
                } else if e.0.contains("tables.") {
                    "correct the [tables.*] section the message names".into()
                } else {
                    "correct the setting the message names".into()
                }),
            )];
        }
    };
    let mut items = vec![item(
        "SYSPRO configuration",
        true,
        format!(
            "OData at {url} as user {:?}; certificates: {}",
            settings.syspro.user.as_deref().unwrap_or(""),
            match &settings.syspro.ca_cert_path {
                Some(p) => format!("system roots + {}", p.display()),
                None => "system roots".into(),
            }
        ),
        None,
    )];

    // $metadata: reachable, authenticated, parsed.
    let started = Instant::now();
    #[allow(unreachable_patterns)]
    let metadata = match puller.source() {
        Source::OData(client) => client.metadata().await,
        _ => unreachable!("transport is odata"),
    };
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            items.push(item(
                "SYSPRO $metadata",
                false,
                format!("{e}; table reads skipped"),
                Some(fix_for(&e, settings)),
            ));
            return items;
        }
    };
    let mut sets: Vec<&str> = metadata.entity_sets().collect();
    sets.sort_unstable();
    let catalog = puller.catalog();
    let tables: Vec<_> = catalog.tables().cloned().collect();
    let present = tables
        .iter()
        .filter(|t| metadata.table(&t.name).is_some())
        .count();
    items.push(item(
        "SYSPRO $metadata",
        true,
        format!(
            "reachable and parsed: {} entity sets, {present} of the {} catalog tables among them ({:.2} s)",
            sets.len(),
            tables.len(),
            started.elapsed().as_secs_f64()
        ),
        None,
    ));

    // One row of each catalog table, a few at a time, reported in catalog order.
    use futures_util::StreamExt;
    let reads = futures_util::stream::iter(tables.iter())
        .map(|table| {
            let puller = puller.clone();
            async move {
                let started = Instant::now();
                let prepared = match puller.prepare_pull(
                    &table.name,
                    None,
                    None,
                    chrono::Utc::now().timestamp(),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        return item(&format!("SYSPRO {}", table.name), false, e.0, None);
                    }
                };
                match puller.run(&prepared, 1 << 20).await {
                    Ok(page) => {
                        let what = match page.rows.len() {
                            0 => "readable ($top=1), the table is empty".to_string(),
                            n => format!("{n} row read ($top=1)"),
                        };
                        let wm = table
                            .watermark_column
                            .as_deref()
                            .map(|w| format!("; polled by {w}"))
                            .unwrap_or_else(|| "; read whole (snapshot)".into());
                        item(
                            &format!("SYSPRO {}", table.name),
                            true,
                            format!("{what}{wm} ({:.2} s)", started.elapsed().as_secs_f64()),
                            None,
                        )
                    }
                    Err(f) => item(
                        &format!("SYSPRO {}", table.name),
                        false,
                        f.error.to_string(),
                        Some(table_fix(&f.error, &table.name, settings)),
                    ),
                }
            }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await;
    items.extend(reads);
    items
}

/// The fix for a failed table read.
fn table_fix(e: &UpstreamError, table: &str, settings: &Settings) -> String {
    let configured = settings
        .tables
        .keys()
        .any(|k| k.eq_ignore_ascii_case(table));
    if e.message.contains("has no entity set") {
        let own = if configured {
            format!(
                "; [tables.{table}] in your configuration names it: check the spelling or remove the section"
            )
        } else {
            String::new()
        };
        return format!(
            "SYSPRO's OData service does not expose {table} to this user: grant the OData operator access to {table} in SYSPRO (operator / role OData table access){own}"
        );
    }
    if e.message.contains("has no column") {
        return format!(
            "[tables.{table}] names a column SYSPRO's {table} does not have: correct key_columns / watermark_column / select"
        );
    }
    fix_for(e, settings)
}

/// What to do about a SYSPRO failure, by its kind and the client's message.
fn fix_for(e: &UpstreamError, settings: &Settings) -> String {
    let m = e.message.to_ascii_lowercase();
    let url = shown_url(settings.syspro.odata_url.as_deref().unwrap_or_default());
    let host = url::Url::parse(settings.syspro.odata_url.as_deref().unwrap_or_default())
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default();
    if e.kind == ErrorKind::Auth {
        return if m.contains("403") {
            "SYSPRO accepted the login but refuses this read (403): give the OData operator access to the table in SYSPRO".into()
        } else {
            "SYSPRO refused the login (401): check MLC_SYSPRO__USER and MLC_SYSPRO__PASSWORD — the operator's OData user and password".into()
        };
    }
    if m.contains("certificate")
        || m.contains("unknownissuer")
        || m.contains("tls")
        || m.contains("handshake")
    {
        return match &settings.syspro.ca_cert_path {
            Some(p) => format!(
                "SYSPRO's certificate does not verify against MLC_SYSPRO__CA_CERT_PATH ({}): use the PEM of the CA that issued it, and a URL whose host name the certificate names",
                p.display()
            ),
            None => "SYSPRO's certificate is not trusted (self-signed or from your site's own CA): set MLC_SYSPRO__CA_CERT_PATH to that CA's PEM file".into(),
        };
    }
    if m.contains("dns") || m.contains("lookup address") || m.contains("name or service not known")
    {
        return format!(
            "the host name in MLC_SYSPRO__ODATA_URL ({url}) does not resolve from this machine: check the URL"
        );
    }
    if m.contains("connection refused") || m.contains("tcp connect") {
        return format!(
            "nothing answers at {host}: check MLC_SYSPRO__ODATA_URL (host, port, http or https) and that SYSPRO's OData service is running and reachable from here"
        );
    }
    if e.kind == ErrorKind::Timeout || m.contains("timed out") || m.contains("timeout") {
        return format!(
            "SYSPRO did not answer in time at {host}: check the URL and firewalls, or raise MLC_SYSPRO__REQUEST_TIMEOUT_SECS"
        );
    }
    if m.contains("404") {
        return "nothing there: MLC_SYSPRO__ODATA_URL must be the OData base up to and including the company segment, e.g. https://erp.example.com/SYSPRO8Odata/SYSPROOData/EDU1".into();
    }
    if e.kind == ErrorKind::Protocol {
        return format!(
            "{url} answered, but not as SYSPRO's OData service: check that MLC_SYSPRO__ODATA_URL points at the OData base (…/SYSPROOData/<company>)"
        );
    }
    if e.kind == ErrorKind::Unavailable {
        return "SYSPRO's OData service answered with a server error: check its log (IIS, SYSPRO services) and try again".into();
    }
    "see the message; README.md Troubleshooting lists the common causes".into()
}

async fn check_enet(settings: &Settings) -> Vec<CheckItem> {
    if let Some(problem) = configuration_problem(settings) {
        return vec![problem];
    }
    vec![item(
        "SYSPRO e.net",
        false,
        format!(
            "e.net check not available in this build (e.net at {}; logon/logoff not attempted)",
            shown_url(settings.syspro.enet_url.as_deref().unwrap_or_default())
        ),
        Some(
            "this build reads SYSPRO through OData: set MLC_SYSPRO__TRANSPORT=odata with MLC_SYSPRO__ODATA_URL, MLC_SYSPRO__USER and MLC_SYSPRO__PASSWORD"
                .into(),
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        Settings::load_from(
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap()
    }

    #[test]
    fn unconfigured_names_every_missing_variable() {
        let s = settings(&[]);
        let p = configuration_problem(&s).unwrap();
        assert!(!p.ok);
        for var in [
            "MLC_SYSPRO__ODATA_URL",
            "MLC_SYSPRO__USER",
            "MLC_SYSPRO__PASSWORD",
        ] {
            assert!(p.detail.contains(var), "{}", p.detail);
        }
        let s = settings(&[
            ("MLC_SYSPRO__TRANSPORT", "enet"),
            (
                "MLC_SYSPRO__ENET_URL",
                "http://h:20001/SYSPROWCFService/Rest",
            ),
        ]);
        let p = configuration_problem(&s).unwrap();
        assert!(p.detail.contains("MLC_SYSPRO__OPERATOR"), "{}", p.detail);
        assert!(!p.detail.contains("ENET_URL"), "{}", p.detail);
    }

    #[test]
    fn fixes_name_the_setting_to_change() {
        let s = settings(&[(
            "MLC_SYSPRO__ODATA_URL",
            "https://user:pw@erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1?x=1",
        )]);
        let e = |kind, message: &str| UpstreamError {
            kind,
            message: message.into(),
            attempts: 1,
        };
        assert!(
            fix_for(&e(ErrorKind::Auth, "SYSPRO answered HTTP 401"), &s)
                .contains("MLC_SYSPRO__PASSWORD")
        );
        assert!(
            fix_for(
                &e(
                    ErrorKind::Unavailable,
                    "cannot reach SYSPRO: invalid peer certificate: UnknownIssuer"
                ),
                &s
            )
            .contains("MLC_SYSPRO__CA_CERT_PATH")
        );
        let refused = fix_for(
            &e(
                ErrorKind::Unavailable,
                "cannot reach SYSPRO at x: tcp connect error: Connection refused (os error 111)",
            ),
            &s,
        );
        assert!(refused.contains("erp.example:8443"), "{refused}");
        assert!(!refused.contains("pw"), "{refused}");
        assert_eq!(
            shown_url("https://user:pw@erp.example:8443/a/b?secret=1"),
            "https://erp.example:8443/a/b"
        );
    }
}
