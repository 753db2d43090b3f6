//! The command line (CONTRACT.md §1).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::startup::{Application, build_puller};

#[derive(Parser, Debug)]
#[command(
    name = "ml-connector",
    version,
    about = "Keeps Snowflake in sync with SYSPRO ERP."
)]
pub struct Cli {
    /// TOML configuration file; every key can also be set as MLC_<SECTION>__<KEY>.
    #[arg(long, global = true, env = "MLC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve Snowflake's external functions (pull mode).
    Serve,
    /// Push mode: poll SYSPRO on a schedule and load Snowflake through its SQL API.
    Sync {
        /// Run one cycle of every table, then exit (non-zero if any failed).
        #[arg(long)]
        once: bool,
        /// With --once: then verify every table (every key and record digest compared with
        /// SYSPRO's; differences re-pulled, rows SYSPRO no longer has flagged deleted).
        #[arg(long, requires = "once")]
        verify: bool,
    },
    /// Pull one table once; rows as NDJSON on stdout, progress on stderr.
    Pull {
        /// SYSPRO table, e.g. ApInvoice (see `tables`); with [companies.*] configured, qualified
        /// by its company (UK1.ApInvoice) or given with --company.
        #[arg(long)]
        table: String,
        /// The company to read, when [companies.*] are configured (same as --table UK1.ApInvoice).
        #[arg(long)]
        company: Option<String>,
        /// Inclusive lower bound on the table's watermark column: YYYY-MM-DD or a timestamp.
        #[arg(long)]
        since: Option<String>,
    },
    /// Ping the configured SYSPRO (every company) and Snowflake and say what works.
    Check {
        /// Check only this company's SYSPRO (with [companies.*] configured).
        #[arg(long)]
        company: Option<String>,
    },
    /// Compare the catalog with the configured SYSPRO (every company) and print the overrides
    /// this site needs.
    Discover {
        /// Ask only this company's SYSPRO (with [companies.*] configured).
        #[arg(long)]
        company: Option<String>,
    },
    /// Print the Snowflake setup SQL for this configuration.
    Sql(SqlArgs),
    /// Run the whole flow locally with an embedded SYSPRO simulator.
    Demo,
    /// List the table catalog.
    Tables {
        /// As JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo = cli.command {
        // The demo needs no configuration, and its output is its own: the service it embeds
        // logs only when MLC_LOG (or RUST_LOG) asks for it.
        crate::demo::init_logging();
        return crate::demo::run().await.map(|_| ());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    crate::telemetry::init(settings.server.log_format);
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Pull {
            table,
            company,
            since,
        } => {
            let table = match company {
                Some(c) => crate::pull::qualified_name(&c, &table),
                None => table,
            };
            pull(settings, &table, since.as_deref()).await
        }
        Command::Tables { json } => tables(&settings, json),
        Command::Sync { once, verify } => crate::sync::run_command(&settings, once, verify).await,
        Command::Check { company } => check(&settings, company.as_deref()).await,
        Command::Discover { company } => {
            let found = crate::check::discover::discover_companies(&settings, company.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            write_stdout(&crate::check::discover::render_companies(&found))
        }
        Command::Sql(args) => sql(&settings, &args),
        Command::Demo => unreachable!("handled before the settings are loaded"),
    }
}

async fn check(settings: &Settings, company: Option<&str>) -> anyhow::Result<()> {
    let items = crate::check::run(settings, company).await;
    print!("{}", crate::check::render(&items));
    std::io::stdout().flush().ok();
    let failed = items.iter().filter(|i| !i.ok).count();
    if failed > 0 {
        bail!(
            "{failed} of {} checks failed (see the fixes above)",
            items.len()
        );
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(&settings)?;
    let host = settings
        .server
        .listen
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("127.0.0.1");
    // Printed on stdout so scripts and tests that listen on port 0 learn the port.
    println!("listening on http://{host}:{}", app.port());
    std::io::stdout().flush().ok();
    tracing::info!(message = "Serving external functions.", port = app.port());
    app.run_until_stopped()
        .await
        .context("the HTTP server stopped with an error")
}

async fn pull(settings: Settings, table: &str, since: Option<&str>) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let puller = build_puller(&settings, &metrics)?;
    // A wrong name fails here, before the writer starts, with the names to use.
    puller
        .resolve(table)
        .map_err(|e| anyhow::anyhow!("--table: {e}"))?;
    // Rows are written on their own thread while the next page is fetched; at most one page
    // waits for it, so memory stays bounded by a few pages whatever the table's size.
    let (pages, mut to_write) = tokio::sync::mpsc::channel::<crate::pull::Rows>(1);
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        while let Some(rows) = to_write.blocking_recv() {
            for row in rows.iter() {
                out.write_all(row)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()
    });
    let pulled = pull_pages(&puller, table, since, pages).await;
    // The rows already pulled are written even when a later page failed.
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the NDJSON writer panicked")));
    // Log off (e.net) whatever happened, so a failed pull does not hold a licence.
    puller.shutdown().await;
    let total = pulled?;
    match written {
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    eprintln!(
        "{}: done, {total} rows",
        puller.resolve(table).map(|r| r.name).unwrap_or_default()
    );
    Ok(())
}

/// Follows the cursor to the end, handing each page's rows to the writer. Returns the row count.
async fn pull_pages(
    puller: &crate::pull::Puller,
    table: &str,
    since: Option<&str>,
    pages: tokio::sync::mpsc::Sender<crate::pull::Rows>,
) -> anyhow::Result<usize> {
    let mut cursor: Option<String> = None;
    let mut total = 0usize;
    let started = std::time::Instant::now();
    loop {
        let prepared = puller
            .prepare_pull(
                table,
                since,
                cursor.as_deref(),
                chrono::Utc::now().timestamp(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let page = puller.run(&prepared, usize::MAX / 2).await.map_err(|f| {
            anyhow::anyhow!(
                "SYSPRO read failed after {} attempt(s) ({}): {}",
                f.error.attempts,
                f.error.kind.as_str(),
                f.error.message
            )
        })?;
        let rows = page.rows.len();
        total += rows;
        if pages.send(page.rows).await.is_err() {
            // The writer stopped (stdout closed); its error is the one to report.
            return Ok(total);
        }
        eprintln!(
            "{}: page {} — {} rows ({} so far, {:.1} s){}",
            page.table,
            page.page,
            rows,
            total,
            started.elapsed().as_secs_f32(),
            page.high_water
                .as_deref()
                .map(|h| format!(", high water {h}"))
                .unwrap_or_default()
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(total)
}

/// Options of `ml-connector sql`: what the setup is rendered for. The database, schema and
/// warehouse default to `[snowflake]` settings, then to ml-connector's own names.
#[derive(clap::Args, Debug)]
pub struct SqlArgs {
    /// Cloud gateway in front of the service: aws, aws-private, aws-gov, aws-gov-private, azure
    /// or gcp (the API integration's API_PROVIDER).
    #[arg(long, default_value = "aws")]
    pub provider: String,
    /// URL of the gateway stage the external functions call, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod
    #[arg(long)]
    pub gateway_url: Option<String>,
    #[arg(long)]
    pub database: Option<String>,
    #[arg(long)]
    pub schema: Option<String>,
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Name of the API integration.
    #[arg(long)]
    pub integration: Option<String>,
    /// AWS: the IAM role Snowflake assumes (the stack output SnowflakeRoleArn).
    #[arg(long)]
    pub aws_role_arn: Option<String>,
    /// Azure: tenant id and the app registration's client id.
    #[arg(long)]
    pub azure_tenant_id: Option<String>,
    #[arg(long)]
    pub azure_app_id: Option<String>,
    /// Google: the gateway's managed service name (GOOGLE_AUDIENCE).
    #[arg(long)]
    pub gcp_audience: Option<String>,
    /// Days re-read before the stored high water on every run.
    #[arg(long)]
    pub overlap_days: Option<u32>,
    /// The site's IANA time zone (SYSPRO's wall clock): what "today" is for reconciliation
    /// windows, backfill plans and AP aging, whatever the session or account time zone.
    #[arg(long)]
    pub site_timezone: Option<String>,
    /// Pages a sync run pulls, lands and merges (each committed with its watermark) before it
    /// leaves the rest to the next run; keeps a first load inside the task timeout.
    #[arg(long)]
    pub pages_per_run: Option<u32>,
    /// A SYSPRO company to render for (repeat for each); the control table gets a row per
    /// company × table. Default: the configuration's companies (the single company "" when
    /// there are none).
    #[arg(long = "company", value_name = "ID")]
    pub companies: Vec<String>,
    /// Print the named data-plane statements as JSON instead (tests and push mode use them).
    #[arg(long)]
    pub statements_json: bool,
}

fn sql(settings: &Settings, args: &SqlArgs) -> anyhow::Result<()> {
    use crate::sqlgen::SqlTable;
    let mut s = crate::startup::sql_settings(settings);
    s.provider = args
        .provider
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    // the flags win over the configuration
    let pick = |arg: &Option<String>, field: &mut String| {
        if let Some(v) = arg {
            field.clone_from(v);
        }
    };
    pick(&args.database, &mut s.database);
    pick(&args.schema, &mut s.schema);
    pick(&args.warehouse, &mut s.warehouse);
    pick(&args.integration, &mut s.integration);
    pick(&args.gateway_url, &mut s.gateway_url);
    pick(&args.aws_role_arn, &mut s.aws_role_arn);
    pick(&args.azure_tenant_id, &mut s.azure_tenant_id);
    pick(&args.azure_app_id, &mut s.azure_app_id);
    pick(&args.gcp_audience, &mut s.gcp_audience);
    if let Some(d) = args.overlap_days {
        s.overlap_days = d;
    }
    pick(&args.site_timezone, &mut s.site_timezone);
    if let Some(n) = args.pages_per_run {
        s.pages_per_run = n;
    }
    s.companies = if args.companies.is_empty() {
        crate::startup::sql_companies(settings)?
    } else {
        // company ids are stored upper case, as the service stores them
        args.companies
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect()
    };
    let catalog = crate::catalog::Catalog::built_in()
        .with_overrides(&settings.tables)
        .map_err(|e| anyhow::anyhow!(e))?;
    let tables: Vec<SqlTable> = catalog.tables().map(SqlTable::from).collect();
    crate::sqlgen::validate(&s, &tables).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = if args.statements_json {
        serde_json::to_string_pretty(&crate::sqlgen::render_statements(&s, &tables))? + "\n"
    } else {
        crate::sqlgen::render_setup(&s, &tables)
    };
    write_stdout(&text)
}

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn tables(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let catalog = crate::catalog::Catalog::built_in()
        .with_overrides(&settings.tables)
        .map_err(|e| anyhow::anyhow!(e))?;
    if json {
        let list: Vec<_> = catalog.tables().collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<18} {:<58} {:<16} DESCRIPTION",
        "TABLE", "KEY", "WATERMARK"
    );
    for t in catalog.tables() {
        println!(
            "{:<18} {:<58} {:<16} {}",
            t.name,
            t.key_columns.join(", "),
            t.watermark_column.as_deref().unwrap_or("(snapshot)"),
            t.description
        );
        if let Some(open) = &t.open_items {
            println!(
                "{:<18} open items, re-read every cycle: {} ({})",
                "",
                open.text(),
                open.evidence
            );
        }
        for d in &t.refreshed_by {
            println!(
                "{:<18} refreshed by key when {} gets new rows ({})",
                "", d.child, d.evidence
            );
        }
    }
    Ok(())
}
