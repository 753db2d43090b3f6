//! Builds the application from settings: clients, engine, HTTP server. Tests use the same path
//! with port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};

use crate::catalog::Catalog;
use crate::config::{Company, ConfigError, Settings, SysproEndpoint};
use crate::extfn::handlers::{self, AppState, BatchSettings};
use crate::http::ClientError;
use crate::metrics::Metrics;
use crate::pull::CursorSigner;
use crate::pull::{CompanySource, Puller};
use crate::retry::RetryPolicy;
use crate::sqlgen::SqlSettings;
use crate::syspro::Source;
use crate::syspro::enet::{EnetClient, EnetCredentials};
use crate::syspro::odata::ODataClient;

/// Builds the SYSPRO source of one company (its own HTTP client and, for e.net, its own session).
pub fn build_source(
    settings: &Settings,
    company: &Company,
    metrics: &Metrics,
) -> Result<Source, ConfigError> {
    let endpoint = company.endpoint.clone();
    let key = |name: &str| format!("{}.{name}", company.section);
    let s = &settings.syspro;
    let http = crate::http::build_client(s.request_timeout(), s.ca_cert_path.as_deref())
        .map_err(ca_problem)?;
    let policy = RetryPolicy {
        initial_backoff: Duration::from_millis(s.retry_initial_backoff_ms),
        max_backoff: Duration::from_millis(s.retry_max_backoff_ms),
        max_attempts: s.max_attempts,
        deadline: s.retry_deadline(),
    };
    match endpoint {
        SysproEndpoint::OData {
            url,
            user,
            password,
        } => {
            let client = ODataClient::new(http, &url, user, password, policy, metrics.clone())
                .map_err(|e| {
                    ConfigError::unusable(
                        &key("odata_url"),
                        e,
                        "give the OData base up to and including the company segment",
                    )
                })?;
            Ok(Source::OData(client))
        }
        SysproEndpoint::Enet {
            url,
            operator,
            operator_password,
            company_id,
            company_password,
        } => {
            let creds = EnetCredentials {
                operator,
                operator_password,
                company_id,
                company_password,
            };
            let client = EnetClient::new(
                http,
                &url,
                creds,
                policy,
                metrics.clone(),
                Duration::from_secs(s.enet_session_idle_secs.max(1)),
            )
            .map_err(|e| {
                ConfigError::unusable(
                    &key("enet_url"),
                    e,
                    "give the e.net REST base, e.g. http://erp:20001/SYSPROWCFService/Rest",
                )
            })?;
            Ok(Source::Enet(client))
        }
    }
}

/// A client that could not be built names the CA file, the only setting it reads.
fn ca_problem(e: ClientError) -> ConfigError {
    ConfigError::unusable(
        "syspro.ca_cert_path",
        e.to_string(),
        "give a PEM file with the CA certificate(s) that issued SYSPRO's certificate",
    )
}

/// The SQL the settings describe: the configured database, schema and warehouse
/// (`MLC_SNOWFLAKE__DATABASE`, `__SCHEMA`, `__WAREHOUSE`), else the defaults. The one place
/// `SqlSettings` are made from settings: `ml-connector sql` adds its flags on top, push mode and
/// `check` use them as they are.
pub fn sql_settings(settings: &Settings) -> SqlSettings {
    let mut sql = SqlSettings::default();
    let sf = &settings.snowflake;
    for (configured, field) in [
        (&sf.database, &mut sql.database),
        (&sf.schema, &mut sql.schema),
        (&sf.warehouse, &mut sql.warehouse),
    ] {
        if let Some(value) = configured {
            field.clone_from(value);
        }
    }
    // a configuration error here is reported by whatever reads SYSPRO (and by `sql`, which
    // asks sql_companies itself); the statements do not depend on the companies
    if let Ok(companies) = sql_companies(settings) {
        sql.companies = companies;
    }
    sql
}

/// The companies the Snowflake side is rendered for (one control row per company × table):
/// `[companies.*]`'s ids, or the single company `""` without them.
pub fn sql_companies(settings: &Settings) -> Result<Vec<String>, ConfigError> {
    if settings.companies.is_empty() {
        return Ok(vec![String::new()]);
    }
    Ok(settings.companies()?.into_iter().map(|c| c.id).collect())
}

/// The pull engine for the settings: one source per company ([`Settings::companies`]).
pub fn build_puller(settings: &Settings, metrics: &Metrics) -> Result<Arc<Puller>, ConfigError> {
    let catalog = Catalog::built_in()
        .with_overrides(&settings.tables)
        .map_err(|e| ConfigError::BadValue {
            key: crate::config::Key::new("tables"),
            problem: format!("is not usable: {e}"),
            fix: "correct the [tables.*] section the message names".into(),
        })?;
    let configured = settings.companies()?;
    warn_of_shared_operators(&configured);
    let companies = configured
        .iter()
        .map(|c| {
            Ok(CompanySource {
                id: c.id.clone(),
                source: Arc::new(build_source(settings, c, &metrics.for_company(&c.id))?),
                max_concurrency: c.max_concurrency,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    // `pull` may run without a service secret; its cursors never leave the process.
    let key = settings
        .secret_bytes()
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_bytes().to_vec());
    let signer = CursorSigner::new(&key, settings.server.cursor_ttl_secs);
    let puller = Puller::new(
        Arc::new(catalog),
        signer,
        settings.syspro.page_rows,
        settings.syspro.paging,
        companies,
    )
    .with_max_query_bytes(settings.syspro.max_query_bytes);
    Ok(Arc::new(if settings.syspro.prefetch_pages > 0 {
        puller.with_read_ahead(metrics.clone())
    } else {
        puller
    }))
}

/// e.net companies that log on as the same operator: where SYSPRO keeps one session per
/// operator (syspro.md §2.5, UNCONFIRMED) each logon ends the other company's session, so every
/// switch of company costs a logon. Reads stay correct (a session found ended is renewed);
/// only the cost is the site's to avoid, with an operator per company.
fn warn_of_shared_operators(companies: &[Company]) {
    let operator_of = |c: &Company| match &c.endpoint {
        SysproEndpoint::Enet { url, operator, .. } => Some((
            url.trim_end_matches('/').to_ascii_lowercase(),
            operator.to_ascii_uppercase(),
        )),
        SysproEndpoint::OData { .. } => None,
    };
    let mut by_operator: std::collections::BTreeMap<(String, String), Vec<&str>> =
        std::collections::BTreeMap::new();
    for c in companies {
        if let Some(key) = operator_of(c) {
            by_operator.entry(key).or_default().push(&c.id);
        }
    }
    for ((_, operator), ids) in by_operator.into_iter().filter(|(_, ids)| ids.len() > 1) {
        tracing::warn!(
            message = "Several companies log on to e.net as one operator: if SYSPRO keeps one session per operator, each logon ends the other companies' sessions and every switch of company costs a logon. Give each company its own operator ([companies.<ID>] operator, operator_password) if `check` or the logs show sessions renewed often.",
            operator = %operator,
            companies = %ids.join(", ")
        );
    }
}

/// The running service: its bound port and the server future.
pub struct Application {
    port: u16,
    server: Server,
    puller: Arc<Puller>,
}

impl Application {
    pub fn build(settings: &Settings) -> Result<Self, ConfigError> {
        settings.validate_for_serve()?;
        let metrics = Metrics::new();
        let puller = build_puller(settings, &metrics)?;
        let engine = puller.clone();
        let secret = settings.secret_bytes().expect("validated");
        let state = web::Data::new(AppState::new(
            puller,
            metrics,
            secret,
            BatchSettings {
                response_budget_bytes: settings.server.response_budget_bytes,
                cache_ttl: Duration::from_secs(settings.server.batch_cache_ttl_secs),
                cache_max_bytes: settings.server.batch_cache_max_bytes,
                async_after: Duration::from_millis(settings.server.async_after_ms),
                max_running_batches: settings.server.max_running_batches,
            },
        ));
        let cannot_listen = |e: std::io::Error| {
            ConfigError::unusable(
                "server.listen",
                format!("cannot listen on {}: {e}", settings.server.listen),
                "give a free port on an address of this machine",
            )
        };
        let listener = TcpListener::bind(&settings.server.listen).map_err(cannot_listen)?;
        let port = listener.local_addr().map_err(cannot_listen)?.port();
        let max_body = settings.server.max_body_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(middleware::Compress::default())
                .configure(handlers::configure)
        })
        .listen(listener)
        .map_err(cannot_listen)?
        .shutdown_timeout(30)
        // Longer than HTTP clients' pooled-connection idle timeouts (reqwest: 90 s), so a client
        // never reuses a connection the service is closing at that moment.
        .keep_alive(Duration::from_secs(120))
        .run();
        Ok(Application {
            port,
            server,
            puller: engine,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests; signals are handled by actix itself).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM; in-flight requests get `shutdown_timeout` to finish, then
    /// every company's SYSPRO session (e.net) is logged off.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.puller.shutdown().await;
        result
    }
}
