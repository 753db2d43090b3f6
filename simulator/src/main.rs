//! `mlc-simulator --listen 127.0.0.1:0 [--seed N] [--page-cap N] [--ap-invoice-rows N]
//!  [--companies-json '[{"id":"UK1","profile":"uk"}]']`
//!
//! Starts the SYSPRO simulator and prints one JSON line to stdout:
//! `{"base_url":..,"odata_url":..,"enet_url":..,"user":..,"password":..,...}`,
//! then serves until killed.

use std::io::Write as _;
use std::time::Duration;

use clap::Parser;
use mlc_simulator::{
    CompanyOptions, EnetOptions, EnetWrapping, SessionScope, SimOptions, Simulator, SiteOptions,
};

#[derive(Parser, Debug)]
#[command(
    name = "mlc-simulator",
    about = "SYSPRO OData and e.net REST simulator"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Seed of data and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server-driven paging: rows per OData answer.
    #[arg(long)]
    page_cap: Option<usize>,
    /// ApInvoice row count (default 1500).
    #[arg(long)]
    ap_invoice_rows: Option<usize>,
    /// OData Basic-auth user.
    #[arg(long, default_value = "odata")]
    user: String,
    /// OData Basic-auth password.
    #[arg(long, default_value = "odata-secret")]
    password: String,
    /// Company (OData URL segment, e.net CompanyId).
    #[arg(long, default_value = "EDU1")]
    company: String,
    /// e.net operator.
    #[arg(long, default_value = "ADMIN")]
    enet_operator: String,
    /// e.net operator password.
    #[arg(long, default_value = "enet-secret")]
    enet_password: String,
    /// e.net session idle timeout in seconds.
    #[arg(long, default_value_t = 600)]
    enet_idle_timeout_secs: u64,
    /// e.net answer wrapping: bare, json_quoted or xml_string.
    #[arg(long, default_value = "bare")]
    enet_wrapping: String,
    /// Site variant: OData answers stop at N rows without a next link.
    #[arg(long)]
    silent_page_cap: Option<usize>,
    /// Site variant: DateTimeOffset values carry this offset (minutes east of UTC, 120 = +02:00).
    #[arg(long, allow_hyphen_values = true)]
    datetime_offset_minutes: Option<i32>,
    /// Site variant: e.net COMFND refuses queries without <Columns>.
    #[arg(long)]
    enet_require_columns: bool,
    /// Site variant: every data read answers this many milliseconds later.
    #[arg(long, default_value_t = 0)]
    page_delay_ms: u64,
    /// Site variants as JSON (the body of POST /_sim/site), e.g. extra_columns, metadata_types,
    /// metadata_keys; the flags above are applied on top.
    #[arg(long)]
    site_json: Option<String>,
    /// Further companies as a JSON list of CompanyOptions, e.g.
    /// `[{"id":"UK1","profile":"uk"}]` (fields: id, profile za|uk, seed, ap_invoice_rows,
    /// company_password, user, password, site).
    #[arg(long)]
    companies_json: Option<String>,
    /// Which session an e.net logon ends: operator (any company) or operator_and_company.
    #[arg(long, default_value = "operator")]
    enet_session_scope: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let wrapping = match a.enet_wrapping.as_str() {
        "bare" => EnetWrapping::Bare,
        "json_quoted" | "json" => EnetWrapping::JsonQuoted,
        "xml_string" | "xml" => EnetWrapping::XmlString,
        other => {
            eprintln!("unknown --enet-wrapping {other}");
            std::process::exit(2);
        }
    };
    let mut site: SiteOptions = match &a.site_json {
        Some(j) => match serde_json::from_str(j) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bad --site-json: {e}");
                std::process::exit(2);
            }
        },
        None => SiteOptions::default(),
    };
    if a.silent_page_cap.is_some() {
        site.silent_page_cap = a.silent_page_cap;
    }
    if a.datetime_offset_minutes.is_some() {
        site.datetime_offset_minutes = a.datetime_offset_minutes;
    }
    site.enet_require_columns |= a.enet_require_columns;
    if a.page_delay_ms > 0 {
        site.page_delay_ms = a.page_delay_ms;
    }
    let companies: Vec<CompanyOptions> = match &a.companies_json {
        Some(j) => match serde_json::from_str(j) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "bad --companies-json: {e} (expected a list like [{{\"id\":\"UK1\",\"profile\":\"uk\"}}]; profile is za or uk)"
                );
                std::process::exit(2);
            }
        },
        None => Vec::new(),
    };
    let session_scope = match a.enet_session_scope.as_str() {
        "operator" => SessionScope::Operator,
        "operator_and_company" => SessionScope::OperatorAndCompany,
        other => {
            eprintln!("unknown --enet-session-scope {other} (operator or operator_and_company)");
            std::process::exit(2);
        }
    };
    let opts = SimOptions {
        user: a.user.clone(),
        password: a.password.clone(),
        company: a.company.clone(),
        page_cap: a.page_cap,
        seed: a.seed,
        ap_invoice_rows: a.ap_invoice_rows,
        enet: EnetOptions {
            operator: a.enet_operator.clone(),
            operator_password: a.enet_password.clone(),
            company_id: a.company.clone(),
            company_password: String::new(),
            idle_timeout: Duration::from_secs(a.enet_idle_timeout_secs),
            wrapping,
            session_scope,
            extra_operators: Vec::new(),
        },
        site,
        companies,
    };
    let sim = Simulator::new(opts);
    let server = sim.start(&a.listen).await?;
    let line = serde_json::json!({
        "base_url": server.base_url(),
        "odata_url": server.odata_url(),
        "enet_url": server.enet_url(),
        "user": a.user,
        "password": a.password,
        "company": a.company,
        "enet_operator": a.enet_operator,
        "enet_password": a.enet_password,
        "business_date": sim.business_date(),
        "companies": sim.companies().iter().map(|c| serde_json::json!({
            "id": c.id(),
            "odata_url": server.odata_url_for(c.id()),
            "enet_company_id": c.enet_company_id(),
            "currency": c.currency(),
        })).collect::<Vec<_>>(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    Ok(())
}
