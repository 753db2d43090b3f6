//! SYSPRO checks of `check`: the configuration, `$metadata` (reachable and parsed), then a one-row
//! read (`$top=1`) of every catalog table, through the same client and engine `serve` uses. Each
//! failure says what to change. Secrets never appear: the client's messages carry no credentials
//! and URLs are shown without user info or query.

use std::sync::Arc;
use std::time::Instant;

use super::{CheckItem, quick_settings};
use crate::config::{ConfigError, Key, Settings, Transport};
use crate::metrics::Metrics;
use crate::pull::Puller;
use crate::retry::{Cause, ErrorKind, UpstreamError};
use crate::startup::build_puller;
use crate::syspro::Source;

/// `check`'s SYSPRO half for every company, or only `only`. A single-company configuration is
/// checked as it always was. With `[companies.*]` each company is checked on its own, through
/// its view of the settings ([`Settings::company_view`]), so one company's failure never hides
/// another's verdicts; its items are named after it (`SYSPRO UK1 $metadata`,
/// `SYSPRO UK1.ApInvoice`) and name its own variables for the keys it never inherits.
pub async fn check_companies(settings: &Settings, only: Option<&str>) -> Vec<CheckItem> {
    let ids = settings.company_ids();
    if settings.companies.is_empty() {
        if let Some(c) = only {
            return vec![item(
                "SYSPRO configuration",
                false,
                format!("--company {c}: no [companies.*] are configured, this service reads one company"),
                Some("leave out --company, or configure a [companies.<ID>] section per company (deploy/config.example.toml)".into()),
            )];
        }
        return check(settings).await;
    }
    // What concerns several companies at once (two naming the same SYSPRO company, a key of
    // [syspro] that no company may inherit, the CA file) is reported once, before any company
    // is asked; what concerns one company is that company's verdict below.
    if let Err(e) = settings.companies()
        && (matches!(e, ConfigError::Duplicate { .. })
            || !e.keys().iter().all(|k| k.section() == "companies"))
    {
        return vec![configuration_problem(&e, settings)];
    }
    let chosen: Vec<&String> = ids
        .iter()
        .filter(|id| only.is_none_or(|o| o.eq_ignore_ascii_case(id)))
        .collect();
    if chosen.is_empty() {
        return vec![item(
            "SYSPRO configuration",
            false,
            format!(
                "--company {}: not configured; the companies are {}",
                only.unwrap_or_default(),
                ids.join(", ")
            ),
            Some("name one of them, or configure it as [companies.<ID>]".into()),
        )];
    }
    let catalog = crate::catalog::Catalog::built_in()
        .with_overrides(&settings.tables)
        .ok();
    let mut items = Vec::new();
    for id in &chosen {
        let view = settings.company_view(id);
        for mut i in check(&view).await {
            i.name = company_item_name(&i.name, id, catalog.as_ref());
            i.detail = company_variables(&i.detail, id);
            i.fix = i.fix.map(|f| company_variables(&f, id));
            items.push(i);
        }
    }
    if chosen.len() > 1 {
        items.extend(shared_operators(settings).await);
    }
    items
}

/// e.net companies that log on as one operator: whether SYSPRO keeps their sessions apart.
/// Each company reads one row in turn, then the first again; a session SYSPRO ended meanwhile
/// (renewed by a new logon) shows that a logon ends the operator's other sessions — then the
/// companies log each other off at every switch, and concurrent reads can fail.
async fn shared_operators(settings: &Settings) -> Vec<CheckItem> {
    let Ok(puller) = build_puller(&quick_settings(settings), &Metrics::new()) else {
        return Vec::new();
    };
    let Some(table) = puller.catalog().tables().next().map(|t| t.name.clone()) else {
        return Vec::new();
    };
    let mut groups: std::collections::BTreeMap<
        String,
        Vec<(&str, &crate::syspro::enet::EnetClient)>,
    > = Default::default();
    for c in puller.companies() {
        if let Source::Enet(client) = c.source() {
            groups
                .entry(client.operator().to_ascii_uppercase())
                .or_default()
                .push((c.id(), client));
        }
    }
    let mut items = Vec::new();
    for (operator, group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
        let ids: Vec<&str> = group.iter().map(|(id, _)| *id).collect();
        let mut read = true;
        for (_, client) in group.iter().chain(group.first()) {
            // A company that cannot be read has its own verdict above.
            read &= client.sample_names(&table, None).await.is_ok();
        }
        let renewed: u64 = group.iter().map(|(_, c)| c.sessions_renewed()).sum();
        let name = format!("SYSPRO e.net operator {operator}");
        if !read {
            continue;
        }
        items.push(if renewed == 0 {
            item(
                &name,
                true,
                format!("companies {} each keep their own session", ids.join(", ")),
                None,
            )
        } else {
            let other = ids.get(1).copied().unwrap_or_default();
            item(
                &name,
                false,
                format!(
                    "companies {} share it, and SYSPRO ended a session when another company logged on: it keeps one session per operator, so they log each other off at every switch and concurrent reads can fail",
                    ids.join(", ")
                ),
                Some(format!(
                    "give each company its own e.net operator, e.g. [companies.{other}] operator and operator_password (MLC_COMPANIES__{other}__OPERATOR, MLC_COMPANIES__{other}__OPERATOR_PASSWORD)"
                )),
            )
        });
    }
    puller.shutdown().await;
    items
}

/// `SYSPRO ApInvoice` → `SYSPRO UK1.ApInvoice` (a table: its qualified name), `SYSPRO $metadata`
/// → `SYSPRO UK1 $metadata`.
fn company_item_name(name: &str, id: &str, catalog: Option<&crate::catalog::Catalog>) -> String {
    let Some(rest) = name.strip_prefix("SYSPRO ") else {
        return format!("{id}: {name}");
    };
    let first = rest.split(' ').next().unwrap_or_default();
    if catalog.is_some_and(|c| c.get(first).is_ok()) {
        format!("SYSPRO {id}.{rest}")
    } else {
        format!("SYSPRO {id} {rest}")
    }
}

/// A company's view carries its own `odata_url` and `company_id` in `[syspro]`; the user sets
/// them as `[companies.<ID>]` keys, so the advice names those variables. (Every other key may be
/// set either way: the shared `MLC_SYSPRO__*` name stays right.)
fn company_variables(text: &str, id: &str) -> String {
    text.replace(
        "MLC_SYSPRO__ODATA_URL",
        &format!("MLC_COMPANIES__{id}__ODATA_URL"),
    )
    .replace(
        "MLC_SYSPRO__COMPANY_ID",
        &format!("MLC_COMPANIES__{id}__COMPANY_ID"),
    )
    .replace(
        "the [syspro] section",
        &format!("the [companies.{id}] section (or, for what the companies share, [syspro])"),
    )
    .replace("SYSPROOData/EDU1", &format!("SYSPROOData/{id}"))
}

/// `check`'s SYSPRO half for a single-company configuration (or one company's view).
pub async fn check(settings: &Settings) -> Vec<CheckItem> {
    let metrics = Metrics::new();
    let puller = match build_puller(&quick_settings(settings), &metrics) {
        Ok(p) => p,
        Err(e) => return vec![configuration_problem(&e, settings)],
    };
    let mut items = vec![item(
        "SYSPRO configuration",
        true,
        configured_as(settings),
        None,
    )];
    let reachable = match puller.companies()[0].source() {
        Source::OData(client) => {
            let (item, ok) = check_metadata(client, &puller, settings).await;
            items.push(item);
            ok
        }
        Source::Enet(client) => {
            let (item, ok) = check_logon(client, settings).await;
            items.push(item);
            ok
        }
    };
    if reachable {
        items.extend(read_tables(&puller, settings).await);
    }
    puller.shutdown().await;
    if reachable {
        match super::discover::discover(settings).await {
            Ok(d) => items.extend(super::discover::check_items(&d)),
            Err(e) => items.push(item(
                "SYSPRO vs catalog",
                false,
                e,
                Some("run `ml-connector discover` for details".into()),
            )),
        }
    }
    items
}

/// The variable that holds the transport's URL, and its value as it may be shown.
fn url_setting(settings: &Settings) -> (&'static str, String) {
    match settings.syspro.transport {
        Transport::Odata => (
            "MLC_SYSPRO__ODATA_URL",
            shown_url(settings.syspro.odata_url.as_deref().unwrap_or_default()),
        ),
        Transport::Enet => (
            "MLC_SYSPRO__ENET_URL",
            shown_url(settings.syspro.enet_url.as_deref().unwrap_or_default()),
        ),
    }
}

fn configured_as(settings: &Settings) -> String {
    let (_, url) = url_setting(settings);
    let s = &settings.syspro;
    let who = match s.transport {
        Transport::Odata => format!(
            "OData at {url} as user {:?}",
            s.user.as_deref().unwrap_or("")
        ),
        Transport::Enet => format!(
            "e.net at {url} as operator {:?} in company {:?}",
            s.operator.as_deref().unwrap_or(""),
            s.company_id.as_deref().unwrap_or("")
        ),
    };
    format!(
        "{who}; certificates: {}",
        match &s.ca_cert_path {
            Some(p) => format!("system roots + {}", p.display()),
            None => "system roots".into(),
        }
    )
}

fn item(name: &str, ok: bool, detail: impl Into<String>, fix: Option<String>) -> CheckItem {
    CheckItem {
        name: name.to_string(),
        ok,
        detail: detail.into(),
        fix,
    }
}

/// A configuration SYSPRO cannot be reached with, as one failed item whose fix depends on what
/// the error is about.
fn configuration_problem(e: &ConfigError, settings: &Settings) -> CheckItem {
    let keys = e.keys();
    let (detail, fix) = match e {
        ConfigError::Missing { keys, .. } => {
            let vars: Vec<String> = keys.iter().map(Key::env_var).collect();
            let example = match settings.syspro.transport {
                Transport::Odata => {
                    "e.g. MLC_SYSPRO__ODATA_URL=https://erp.example.com/SYSPRO8Odata/SYSPROOData/EDU1"
                }
                Transport::Enet => {
                    "e.g. MLC_SYSPRO__ENET_URL=http://erp:20001/SYSPROWCFService/Rest"
                }
            };
            (
                format!("SYSPRO is not configured: {} not set", vars.join(", ")),
                format!(
                    "set {} in the environment or in the [syspro] section of the --config file ({example}); every key: deploy/config.example.toml",
                    vars.join(", ")
                ),
            )
        }
        _ if keys.iter().any(|k| k.path() == "syspro.ca_cert_path") => (
            e.to_string(),
            "MLC_SYSPRO__CA_CERT_PATH must be a PEM file with the CA certificate(s) that issued SYSPRO's certificate".into(),
        ),
        _ if keys.iter().any(|k| k.section() == "tables") => (
            e.to_string(),
            "correct the [tables.*] section the message names".into(),
        ),
        _ => (e.to_string(), e.fix()),
    };
    item("SYSPRO configuration", false, detail, Some(fix))
}

/// A URL as it may be printed: scheme, host, port and path only.
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => crate::syspro::odata::redact_url(&u),
        Err(_) => "(not a URL)".into(),
    }
}

/// `$metadata`: reachable, authenticated, parsed. Returns the verdict and whether to go on.
async fn check_metadata(
    client: &crate::syspro::odata::ODataClient,
    puller: &Puller,
    settings: &Settings,
) -> (CheckItem, bool) {
    let started = Instant::now();
    match client.metadata().await {
        Err(e) => (
            item(
                "SYSPRO $metadata",
                false,
                format!("{e}; table reads skipped"),
                Some(fix_for(&e, settings)),
            ),
            false,
        ),
        Ok(metadata) => {
            let sets = metadata.entity_sets().count();
            let tables: Vec<_> = puller.catalog().tables().collect();
            let present = tables
                .iter()
                .filter(|t| metadata.table(&t.name).is_some())
                .count();
            (
                item(
                    "SYSPRO $metadata",
                    true,
                    format!(
                        "reachable and parsed: {sets} entity sets, {present} of the {} catalog tables among them ({:.2} s)",
                        tables.len(),
                        started.elapsed().as_secs_f64()
                    ),
                    None,
                ),
                true,
            )
        }
    }
}

/// e.net: one logon and its logoff. Returns the verdict and whether to go on.
async fn check_logon(
    client: &crate::syspro::enet::EnetClient,
    settings: &Settings,
) -> (CheckItem, bool) {
    let started = Instant::now();
    match client.check_logon().await {
        Ok(()) => (
            item(
                "SYSPRO e.net logon",
                true,
                format!(
                    "logged on and off again ({:.2} s)",
                    started.elapsed().as_secs_f64()
                ),
                None,
            ),
            true,
        ),
        Err(e) => (
            item(
                "SYSPRO e.net logon",
                false,
                format!("{e}; table reads skipped"),
                Some(fix_for(&e, settings)),
            ),
            false,
        ),
    }
}

/// One row of each catalog table (`$top=1` / `ReturnRows` 1) through the pull engine, a few at a
/// time, reported in catalog order.
async fn read_tables(puller: &Arc<Puller>, settings: &Settings) -> Vec<CheckItem> {
    use futures_util::StreamExt;
    let tables: Vec<_> = puller.catalog().tables().cloned().collect();
    let one = match settings.syspro.transport {
        Transport::Odata => "$top=1",
        Transport::Enet => "COMFND, 1 row",
    };
    futures_util::stream::iter(tables.iter())
        .map(|table| {
            let puller = puller.clone();
            async move {
                let name = format!("SYSPRO {}", table.name);
                let started = Instant::now();
                let prepared = match puller.prepare_pull(
                    &table.name,
                    None,
                    None,
                    chrono::Utc::now().timestamp(),
                ) {
                    Ok(p) => p,
                    Err(e) => return item(&name, false, e.to_string(), None),
                };
                match puller.run(&prepared, 1 << 20).await {
                    Ok(page) => {
                        let what = match page.rows.len() {
                            0 => format!("readable ({one}), the table is empty"),
                            n => format!("{n} row read ({one})"),
                        };
                        let how = table
                            .watermark_column
                            .as_deref()
                            .map(|w| format!("; polled by {w}"))
                            .unwrap_or_else(|| "; read whole (snapshot)".into());
                        item(
                            &name,
                            true,
                            format!("{what}{how} ({:.2} s)", started.elapsed().as_secs_f64()),
                            None,
                        )
                    }
                    Err(f) => item(
                        &name,
                        false,
                        f.error.to_string(),
                        Some(table_fix(&f.error, &table.name, settings)),
                    ),
                }
            }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await
}

/// The fix for a failed table read.
fn table_fix(e: &UpstreamError, table: &str, settings: &Settings) -> String {
    let configured = settings
        .tables
        .keys()
        .any(|k| k.eq_ignore_ascii_case(table));
    if e.cause == Cause::NoSuchTable {
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
    if settings.syspro.transport == Transport::Enet && e.kind == ErrorKind::Rejected {
        let own = if configured {
            format!("; [tables.{table}] in your configuration names it: check the spelling")
        } else {
            String::new()
        };
        return format!(
            "SYSPRO e.net could not query {table}: check the table name and the operator's access to it in SYSPRO{own}"
        );
    }
    if e.cause == Cause::NoSuchColumn {
        return format!(
            "[tables.{table}] names a column SYSPRO's {table} does not have: correct key_columns / watermark_column / select"
        );
    }
    fix_for(e, settings)
}

/// What to do about a SYSPRO failure, by its kind and cause.
fn fix_for(e: &UpstreamError, settings: &Settings) -> String {
    let (var, url) = url_setting(settings);
    let raw_url = match settings.syspro.transport {
        Transport::Odata => settings.syspro.odata_url.as_deref(),
        Transport::Enet => settings.syspro.enet_url.as_deref(),
    };
    let host = url::Url::parse(raw_url.unwrap_or_default())
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default();
    if e.kind == ErrorKind::Auth && settings.syspro.transport == Transport::Enet {
        return "SYSPRO e.net refused the logon: check MLC_SYSPRO__OPERATOR, MLC_SYSPRO__OPERATOR_PASSWORD, MLC_SYSPRO__COMPANY_ID and MLC_SYSPRO__COMPANY_PASSWORD".into();
    }
    if e.kind == ErrorKind::Auth {
        return if e.cause == Cause::Status(403) {
            "SYSPRO accepted the login but refuses this read (403): give the OData operator access to the table in SYSPRO".into()
        } else {
            "SYSPRO refused the login (401): check MLC_SYSPRO__USER and MLC_SYSPRO__PASSWORD — the operator's OData user and password".into()
        };
    }
    if e.cause == Cause::Certificate {
        return match &settings.syspro.ca_cert_path {
            Some(p) => format!(
                "SYSPRO's certificate does not verify against MLC_SYSPRO__CA_CERT_PATH ({}): use the PEM of the CA that issued it, and a URL whose host name the certificate names",
                p.display()
            ),
            None => "SYSPRO's certificate is not trusted (self-signed or from your site's own CA): set MLC_SYSPRO__CA_CERT_PATH to that CA's PEM file".into(),
        };
    }
    if e.cause == Cause::Unreachable {
        return format!(
            "no connection to {host}: the host name in {var} ({url}) does not resolve from this machine, or no route leads there: check the URL, DNS and firewalls"
        );
    }
    if e.cause == Cause::Refused {
        return format!(
            "nothing answers at {host}: check {var} (host, port, http or https) and that the SYSPRO service is running and reachable from here"
        );
    }
    if e.kind == ErrorKind::Timeout || e.cause == Cause::TimedOut {
        return format!(
            "SYSPRO did not answer in time at {host}: check the URL and firewalls, or raise MLC_SYSPRO__REQUEST_TIMEOUT_SECS"
        );
    }
    if e.cause == Cause::Status(404) && settings.syspro.transport == Transport::Enet {
        return format!(
            "nothing there: {var} must be the e.net REST base, e.g. http://erp:20001/SYSPROWCFService/Rest"
        );
    }
    if e.cause == Cause::Status(404) {
        return "nothing there: MLC_SYSPRO__ODATA_URL must be the OData base up to and including the company segment, e.g. https://erp.example.com/SYSPRO8Odata/SYSPROOData/EDU1".into();
    }
    if e.kind == ErrorKind::Protocol {
        return match settings.syspro.transport {
            Transport::Odata => format!(
                "{url} answered, but not as SYSPRO's OData service: check that {var} points at the OData base (…/SYSPROOData/<company>)"
            ),
            Transport::Enet => format!(
                "{url} answered, but not as SYSPRO's e.net REST service: check that {var} points at …/SYSPROWCFService/Rest"
            ),
        };
    }
    if e.kind == ErrorKind::Unavailable {
        return "SYSPRO answered with a server error: check its log (IIS, SYSPRO services) and try again".into();
    }
    "see the message; README.md Troubleshooting lists the common causes".into()
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
        let problem = |s: &Settings| {
            let e = build_puller(s, &Metrics::new())
                .err()
                .expect("not configured");
            configuration_problem(&e, s)
        };
        let s = settings(&[]);
        let p = problem(&s);
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
        let p = problem(&s);
        assert!(p.detail.contains("MLC_SYSPRO__OPERATOR"), "{}", p.detail);
        assert!(!p.detail.contains("ENET_URL"), "{}", p.detail);
    }

    #[test]
    fn fixes_name_the_setting_to_change() {
        let s = settings(&[(
            "MLC_SYSPRO__ODATA_URL",
            "https://user:pw@erp.example:8443/SYSPRO8Odata/SYSPROOData/EDU1?x=1",
        )]);
        // the messages say nothing: the fixes follow kinds and causes alone
        let e = |kind, cause| UpstreamError {
            kind,
            cause,
            message: "opaque".into(),
            attempts: 1,
        };
        let odata_login = fix_for(&e(ErrorKind::Auth, Cause::Status(401)), &s);
        assert!(
            odata_login.contains("MLC_SYSPRO__PASSWORD"),
            "{odata_login}"
        );
        let tls = fix_for(&e(ErrorKind::Unavailable, Cause::Certificate), &s);
        assert!(tls.contains("MLC_SYSPRO__CA_CERT_PATH"), "{tls}");
        let refused = fix_for(&e(ErrorKind::Unavailable, Cause::Refused), &s);
        assert!(
            refused.contains("nothing answers at erp.example:8443"),
            "{refused}"
        );
        assert!(!refused.contains("pw"), "{refused}");
        let dns = fix_for(&e(ErrorKind::Unavailable, Cause::Unreachable), &s);
        assert!(dns.contains("does not resolve"), "{dns}");
        assert!(!dns.contains("pw@") && !dns.contains("x=1"), "{dns}");
        let slow = fix_for(&e(ErrorKind::Unavailable, Cause::TimedOut), &s);
        assert!(slow.contains("MLC_SYSPRO__REQUEST_TIMEOUT_SECS"), "{slow}");
        let forbidden = fix_for(&e(ErrorKind::Auth, Cause::Status(403)), &s);
        assert!(forbidden.contains("OData operator access"), "{forbidden}");
        let nothing_there = fix_for(&e(ErrorKind::Rejected, Cause::Status(404)), &s);
        assert!(nothing_there.contains("company segment"), "{nothing_there}");
        let no_table = table_fix(&e(ErrorKind::Rejected, Cause::NoSuchTable), "ApInvoice", &s);
        assert!(no_table.contains("OData table access"), "{no_table}");
        let no_column = table_fix(
            &e(ErrorKind::Rejected, Cause::NoSuchColumn),
            "ApInvoice",
            &s,
        );
        assert!(no_column.contains("key_columns"), "{no_column}");
        let enet = settings(&[
            ("MLC_SYSPRO__TRANSPORT", "enet"),
            (
                "MLC_SYSPRO__ENET_URL",
                "http://erp:20001/SYSPROWCFService/Rest",
            ),
        ]);
        let logon = fix_for(&e(ErrorKind::Auth, Cause::Unclassified), &enet);
        assert!(logon.contains("MLC_SYSPRO__OPERATOR_PASSWORD"), "{logon}");
        let refused = fix_for(&e(ErrorKind::Unavailable, Cause::Refused), &enet);
        assert!(
            refused.contains("erp:20001") && refused.contains("MLC_SYSPRO__ENET_URL"),
            "{refused}"
        );
        assert_eq!(
            shown_url("https://user:pw@erp.example:8443/a/b?secret=1"),
            "https://erp.example:8443/a/b"
        );
    }

    #[test]
    fn configuration_fixes_follow_the_key() {
        let s = settings(&[
            ("MLC_SYSPRO__ODATA_URL", "https://erp/SYSPROOData/EDU1"),
            ("MLC_SYSPRO__USER", "u"),
            ("MLC_SYSPRO__PASSWORD", "p"),
            ("MLC_SYSPRO__CA_CERT_PATH", "/nonexistent/ca.pem"),
        ]);
        let e = build_puller(&s, &Metrics::new()).err().expect("no CA file");
        let p = configuration_problem(&e, &s);
        assert!(!p.ok && p.detail.contains("/nonexistent/ca.pem"), "{p:?}");
        assert!(p.fix.unwrap().contains("PEM file"));
        let mut s = s;
        s.syspro.ca_cert_path = None;
        s.tables.insert("NoSuchTable".into(), Default::default());
        let e = build_puller(&s, &Metrics::new())
            .err()
            .expect("an unknown table without keys");
        let p = configuration_problem(&e, &s);
        assert!(p.fix.unwrap().contains("[tables.*]"), "{}", p.detail);
    }
}
