//! Renders the Snowflake side (`sql/`) for a configuration: the setup script a user pastes into a
//! worksheet, and the named data-plane statements the procedures embed, for tests and push mode.
//!
//! The `sql/` files are templates with `{{name}}` placeholders and are compiled into the binary.
//! Every data-plane statement lives once, in `sql/60_statements/`; the procedures embed the same
//! rendered text, so what the tests run on a local stand-in is what runs inside Snowflake.

use std::collections::BTreeMap;
use std::fmt;

// The `:name` syntax is read where the SQL API needs it; `bind_names`/`inline_binds` share it.
use crate::snowflake::binds::scan_binds;

/// Which cloud gateway fronts `ml-connector serve`; picks the API integration template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiProvider {
    /// AWS API Gateway, regional REST API (`aws_api_gateway`).
    #[default]
    Aws,
    /// AWS API Gateway, private REST API reached over PrivateLink (`aws_private_api_gateway`).
    AwsPrivate,
    /// AWS GovCloud, regional REST API (`aws_gov_api_gateway`).
    AwsGov,
    /// AWS GovCloud, private REST API (`aws_gov_private_api_gateway`).
    AwsGovPrivate,
    /// Azure API Management.
    Azure,
    /// Google Cloud API Gateway.
    Gcp,
}

impl ApiProvider {
    fn integration_template(self) -> &'static str {
        match self {
            ApiProvider::Aws
            | ApiProvider::AwsPrivate
            | ApiProvider::AwsGov
            | ApiProvider::AwsGovPrivate => "10_integration/api_integration__aws.sql",
            ApiProvider::Azure => "10_integration/api_integration__azure.sql",
            ApiProvider::Gcp => "10_integration/api_integration__gcp.sql",
        }
    }
}

impl ApiProvider {
    /// The `API_PROVIDER` value of CREATE API INTEGRATION for this gateway
    /// (https://docs.snowflake.com/en/sql-reference/sql/create-api-integration).
    pub fn snowflake_name(self) -> &'static str {
        match self {
            ApiProvider::Aws => "aws_api_gateway",
            ApiProvider::AwsPrivate => "aws_private_api_gateway",
            ApiProvider::AwsGov => "aws_gov_api_gateway",
            ApiProvider::AwsGovPrivate => "aws_gov_private_api_gateway",
            ApiProvider::Azure => "azure_api_management",
            ApiProvider::Gcp => "google_api_gateway",
        }
    }
}

impl fmt::Display for ApiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiProvider::Aws => "aws",
            ApiProvider::AwsPrivate => "aws-private",
            ApiProvider::AwsGov => "aws-gov",
            ApiProvider::AwsGovPrivate => "aws-gov-private",
            ApiProvider::Azure => "azure",
            ApiProvider::Gcp => "gcp",
        })
    }
}

impl std::str::FromStr for ApiProvider {
    type Err = String;

    /// Accepts `aws`, `aws-private`, `aws-gov`, `aws-gov-private`, `azure`, `gcp` (and the
    /// Snowflake provider names), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "aws" | "aws-api-gateway" => Ok(ApiProvider::Aws),
            "aws-private" | "aws-private-api-gateway" => Ok(ApiProvider::AwsPrivate),
            "aws-gov" | "aws-gov-api-gateway" => Ok(ApiProvider::AwsGov),
            "aws-gov-private" | "aws-gov-private-api-gateway" => Ok(ApiProvider::AwsGovPrivate),
            "azure" | "azure-api-management" => Ok(ApiProvider::Azure),
            "gcp" | "google" | "google-api-gateway" => Ok(ApiProvider::Gcp),
            other => Err(format!(
                "unknown API provider {other:?}; expected aws, aws-private, aws-gov, aws-gov-private, azure or gcp"
            )),
        }
    }
}

/// Everything the setup SQL is rendered with. Identifiers are used unquoted, so they must be
/// plain Snowflake identifiers (see [`validate`]); string values are escaped when rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSettings {
    /// Database that holds everything.
    pub database: String,
    /// Schema that holds everything.
    pub schema: String,
    /// Name of the API integration.
    pub integration: String,
    /// Which gateway fronts the service.
    pub provider: ApiProvider,
    /// Gateway base URL, without the `/v1/...` paths (a trailing `/` is ignored).
    pub gateway_url: String,
    /// What goes into `HEADERS = ('mlc-secret' = '...')`: the service's `MLC_SERVER__SECRET`.
    /// Defaults to a placeholder so printed SQL never carries a real secret by accident.
    pub secret_placeholder: String,
    /// Warehouse the tasks run on.
    pub warehouse: String,
    /// Role that owns the objects and runs the tasks.
    pub owner_role: String,
    /// Role that may read the synced tables, history, audit and reports.
    pub reader_role: String,
    /// AWS: the IAM role Snowflake assumes to call the gateway.
    pub aws_role_arn: String,
    /// Azure: the Entra ID tenant.
    pub azure_tenant_id: String,
    /// Azure: the application (client) id the APIM policy expects as audience.
    pub azure_app_id: String,
    /// GCP: the gateway's managed service name (the JWT audience).
    pub gcp_audience: String,
    /// Task schedule for tables with a watermark column (`SCHEDULE = '...'`).
    pub financial_schedule: String,
    /// Task schedule for snapshot (master) tables, read whole every run.
    pub masters_schedule: String,
    /// Task schedule of the `nightly` verify group (every key and record digest compared).
    pub verify_nightly_schedule: String,
    /// Task schedule of the `weekly` verify group (large append-only tables).
    pub verify_weekly_schedule: String,
    /// Default overlap window seeded into the control table, in days.
    pub overlap_days: u32,
    /// `USER_TASK_TIMEOUT_MS` of every task.
    pub task_timeout_ms: u64,
    /// `SUSPEND_TASK_AFTER_NUM_FAILURES` of every task.
    pub suspend_task_after_failures: u32,
    /// The site's IANA time zone (SYSPRO's wall clock, e.g. `Africa/Johannesburg`): what
    /// "today" means for reconciliation windows, backfill plans and AP aging, whatever the
    /// session's or account's `TIMEZONE` is.
    pub site_timezone: String,
    /// Pages a sync pulls, lands and merges in one run before it stops and leaves the rest to
    /// the next run (each page commits with its watermark). Keeps a first load inside
    /// `USER_TASK_TIMEOUT_MS`.
    pub pages_per_run: u32,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            database: "ml_connector".into(),
            schema: "syspro".into(),
            integration: "ml_connector_api".into(),
            provider: ApiProvider::Aws,
            gateway_url: "https://<api-id>.execute-api.<region>.amazonaws.com/<stage>".into(),
            secret_placeholder: "<MLC_SERVER__SECRET>".into(),
            warehouse: "ml_connector_wh".into(),
            owner_role: "ml_connector_owner".into(),
            reader_role: "ml_connector_reader".into(),
            aws_role_arn: "arn:aws:iam::<account-id>:role/<snowflake-role>".into(),
            azure_tenant_id: "<azure-tenant-id>".into(),
            azure_app_id: "<azure-app-client-id>".into(),
            gcp_audience: "<gateway-managed-service-name>".into(),
            financial_schedule: "15 MINUTE".into(),
            masters_schedule: "360 MINUTE".into(),
            verify_nightly_schedule: "USING CRON 0 3 * * * UTC".into(),
            verify_weekly_schedule: "USING CRON 0 5 * * 0 UTC".into(),
            overlap_days: 3,
            task_timeout_ms: 3_600_000,
            suspend_task_after_failures: 3,
            site_timezone: "UTC".into(),
            pages_per_run: 200,
        }
    }
}

/// One SYSPRO table as the SQL needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTable {
    /// SYSPRO's spelling, e.g. `ApInvoice`.
    pub name: String,
    /// Key columns in key order; `record_key` joins their values with `|`.
    pub key_columns: Vec<String>,
    /// The column incremental pulls filter on; `None` for snapshot tables read whole.
    pub watermark_column: Option<String>,
    /// What the table holds.
    pub description: String,
    /// Rows SYSPRO still changes without moving the watermark: re-read whole every sync cycle
    /// (`syspro_pull_open`), and target rows that leave the set are refreshed by key.
    pub open_items: Option<crate::catalog::OpenItems>,
    /// Child tables whose new rows name parent rows of this table to refresh by key.
    pub refreshed_by: Vec<crate::catalog::Dependent>,
}

impl SqlTable {
    /// `ApInvoice` -> `ap_invoice`: the suffix of every per-table object name.
    pub fn slug(&self) -> String {
        snake_case(&self.name)
    }

    /// The schedule group its task belongs to: `financial` (incremental) or `masters` (snapshot).
    pub fn schedule_group(&self) -> &'static str {
        if self.watermark_column.is_some() {
            GROUP_FINANCIAL
        } else {
            GROUP_MASTERS
        }
    }

    /// The verify task it is seeded into: `weekly` for large append-only tables whose rows
    /// SYSPRO does not change once posted, `nightly` for the rest.
    pub fn verify_group(&self) -> &'static str {
        if WEEKLY_VERIFY_TABLES.contains(&self.name.as_str()) {
            GROUP_WEEKLY
        } else {
            GROUP_NIGHTLY
        }
    }

    /// The dependents whose child table is rendered too (a child outside the catalog has no
    /// target to read), with that child.
    fn dependents<'a>(
        &'a self,
        tables: &'a [SqlTable],
    ) -> Vec<(&'a crate::catalog::Dependent, &'a SqlTable)> {
        self.refreshed_by
            .iter()
            .filter_map(|d| tables.iter().find(|t| t.name == d.child).map(|c| (d, c)))
            .collect()
    }

    /// Whether a sync of it has steps after the watermark pull: an open-items pull and/or a
    /// key refresh.
    fn has_key_refresh(&self, tables: &[SqlTable]) -> bool {
        self.open_items.is_some() || !self.dependents(tables).is_empty()
    }
}

impl From<&crate::catalog::TableDef> for SqlTable {
    /// The service's catalog entry as the SQL needs it (its `$select` list does not matter here).
    fn from(def: &crate::catalog::TableDef) -> Self {
        SqlTable {
            name: def.name.clone(),
            key_columns: def.key_columns.clone(),
            watermark_column: def.watermark_column.clone(),
            description: def.description.clone(),
            open_items: def.open_items.clone(),
            refreshed_by: def.refreshed_by.clone(),
        }
    }
}

const GROUP_FINANCIAL: &str = "financial";
const GROUP_MASTERS: &str = "masters";
const GROUP_NIGHTLY: &str = "nightly";
const GROUP_WEEKLY: &str = "weekly";
/// Large append-only tables: verified weekly, not nightly (a site can move any table).
const WEEKLY_VERIFY_TABLES: &[&str] = &["InvMovements", "ApInvoicePay"];

/// The service's built-in catalog as the SQL needs it, in the catalog's order, for defaults and
/// tests; `ml-connector sql` renders the configured catalog instead (built-ins plus overrides).
pub fn builtin_tables() -> Vec<SqlTable> {
    crate::catalog::Catalog::built_in()
        .tables()
        .map(SqlTable::from)
        .collect()
}

/// Why settings or tables cannot be rendered safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlGenError(pub String);

impl fmt::Display for SqlGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlGenError {}

/// Checks what the renderer splices into SQL unquoted: identifiers must be plain
/// (`[A-Za-z_][A-Za-z0-9_$]*`), table and column names plain too, tables unique and keyed.
/// Call it before [`render_setup`]; the renderers themselves do not fail.
pub fn validate(settings: &SqlSettings, tables: &[SqlTable]) -> Result<(), SqlGenError> {
    let idents = [
        ("database", &settings.database),
        ("schema", &settings.schema),
        ("integration", &settings.integration),
        ("warehouse", &settings.warehouse),
        ("owner_role", &settings.owner_role),
        ("reader_role", &settings.reader_role),
    ];
    for (what, value) in idents {
        if !is_identifier(value) {
            return Err(SqlGenError(format!(
                "{what} {value:?} is not a plain Snowflake identifier"
            )));
        }
    }
    if !(settings.gateway_url.starts_with("https://")
        || settings.gateway_url.starts_with("http://"))
    {
        return Err(SqlGenError(format!(
            "gateway_url {:?} must be an http(s) URL",
            settings.gateway_url
        )));
    }
    if settings
        .secret_placeholder
        .chars()
        .any(|c| c.is_control() || c == '\'' || c == '\\')
        || settings.secret_placeholder.contains("  ")
    {
        // HEADERS values: constant strings, at most one whitespace in a row
        // (https://docs.snowflake.com/en/sql-reference/sql/create-external-function)
        return Err(SqlGenError(
            "the secret must not contain quotes, backslashes, control characters or runs of spaces"
                .into(),
        ));
    }
    if settings.site_timezone.is_empty()
        || !settings
            .site_timezone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
    {
        return Err(SqlGenError(format!(
            "site_timezone {:?} is not an IANA time zone name",
            settings.site_timezone
        )));
    }
    if tables.is_empty() {
        return Err(SqlGenError("no tables to render".into()));
    }
    let mut slugs = BTreeMap::new();
    for table in tables {
        if !is_identifier(&table.name) {
            return Err(SqlGenError(format!(
                "table name {:?} is not a plain identifier",
                table.name
            )));
        }
        if table.key_columns.is_empty() {
            return Err(SqlGenError(format!(
                "table {} has no key columns",
                table.name
            )));
        }
        for column in table.key_columns.iter().chain(&table.watermark_column) {
            if !is_identifier(column) {
                return Err(SqlGenError(format!(
                    "column {column:?} of {} is not a plain identifier",
                    table.name
                )));
            }
        }
        for dependent in &table.refreshed_by {
            for (parent, child) in &dependent.keys {
                if !is_identifier(parent)
                    || !is_identifier(child)
                    || !is_identifier(&dependent.child)
                {
                    return Err(SqlGenError(format!(
                        "dependent {} of {} names a column that is not a plain identifier",
                        dependent.child, table.name
                    )));
                }
            }
            if table
                .key_columns
                .iter()
                .any(|k| !dependent.keys.iter().any(|(parent, _)| parent == k))
            {
                return Err(SqlGenError(format!(
                    "dependent {} of {} must map every key column of {} ({})",
                    dependent.child,
                    table.name,
                    table.name,
                    table.key_columns.join(", ")
                )));
            }
        }
        if let Some(other) = slugs.insert(table.slug(), &table.name) {
            return Err(SqlGenError(format!(
                "tables {other} and {} map to the same object names",
                table.name
            )));
        }
    }
    Ok(())
}

/// The whole setup, top to bottom, pasteable into a worksheet: roles, warehouse, database and
/// grants (as ACCOUNTADMIN), the API integration for the configured provider, then, as the owner
/// role, the external functions, tables, procedures, views and tasks.
pub fn render_setup(settings: &SqlSettings, tables: &[SqlTable]) -> String {
    let globals = global_vars(settings);
    let mut out = String::new();
    out.push_str(&format!(
        "-- ml-connector: Snowflake setup for {} SYSPRO table(s), gateway {} ({}).\n\
         -- Rendered by `ml-connector sql` from the templates in sql/; see sql/README.md.\n\
         -- Run top to bottom. The first part needs ACCOUNTADMIN; the rest runs as {}.\n\n",
        tables.len(),
        settings.gateway_url.trim_end_matches('/'),
        settings.provider,
        settings.owner_role,
    ));
    out.push_str("use role accountadmin;\n\n");
    for path in [
        "00_setup/role__owner.sql",
        "00_setup/role__reader.sql",
        "00_setup/warehouse.sql",
        "00_setup/database.sql",
        "00_setup/schema.sql",
        "00_setup/grants.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    push_file(
        &mut out,
        settings.provider.integration_template(),
        None,
        &globals,
    );

    out.push_str(&fill(
        "use role {{owner_role}};\nuse warehouse {{warehouse}};\nuse schema {{database}}.{{schema}};\n\n",
        &globals,
    ));
    for path in [
        "10_integration/syspro_pull.sql",
        "10_integration/syspro_keys.sql",
        "10_integration/syspro_schema.sql",
        "10_integration/syspro_tables.sql",
        "10_integration/syspro_reconcile.sql",
        "10_integration/syspro_pull_range.sql",
        "10_integration/syspro_pull_open.sql",
        "10_integration/syspro_digests.sql",
        "10_integration/syspro_pull_keys.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }

    let mut control = globals.clone();
    control.insert("control_rows", control_rows(settings, tables));
    for path in [
        "20_control/syspro_sync_control.sql",
        "20_control/syspro_sync_state.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    push_file(
        &mut out,
        "20_control/syspro_sync_control__seed.sql",
        None,
        &control,
    );
    for path in [
        "30_raw/raw_syspro__records.sql",
        "30_raw/raw_syspro__page_buffer.sql",
        "30_raw/raw_syspro__seen_keys.sql",
        "30_raw/raw_syspro__backfill_ranges.sql",
        "30_raw/raw_syspro__refresh_keys.sql",
        "30_raw/raw_syspro__verify_digests.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }
    for table in tables {
        push_file(
            &mut out,
            "40_targets/syspro__table.sql",
            Some(&table.name),
            &table_vars(&globals, table),
        );
    }
    for path in [
        "50_audit/audit_syspro__runs.sql",
        "50_audit/audit_syspro__pages.sql",
        "50_audit/audit_syspro__reconciliation.sql",
    ] {
        push_file(&mut out, path, None, &globals);
    }

    let procedures = procedure_vars(settings, tables);
    for table in tables {
        let vars = procedure_table_vars(settings, &procedures, table, tables);
        for path in [
            "70_procedures/sync_syspro__table.sql",
            "70_procedures/replay_syspro_poll__table.sql",
            "70_procedures/detect_syspro_deletes__table.sql",
            "70_procedures/repull_syspro_range__table.sql",
            "70_procedures/reconcile_syspro__table.sql",
            "70_procedures/backfill_syspro__table.sql",
            "70_procedures/verify_syspro__table.sql",
        ] {
            push_file(&mut out, path, Some(&table.name), &vars);
        }
    }
    for path in [
        "70_procedures/sync_syspro_table.sql",
        "70_procedures/sync_syspro_group.sql",
        "70_procedures/replay_syspro_poll.sql",
        "70_procedures/detect_syspro_deletes.sql",
        "70_procedures/detect_syspro_deletes_group.sql",
        "70_procedures/refresh_syspro_typed_views.sql",
        "70_procedures/syspro_read.sql",
        "70_procedures/reconcile_syspro_table.sql",
        "70_procedures/reconcile_syspro_group.sql",
        "70_procedures/backfill_syspro_table.sql",
        "70_procedures/verify_syspro_table.sql",
        "70_procedures/verify_syspro_group.sql",
    ] {
        push_file(&mut out, path, None, &procedures);
    }

    for table in tables {
        push_file(
            &mut out,
            "80_views/hist_syspro__table.sql",
            Some(&table.name),
            &table_vars(&globals, table),
        );
    }
    let has = |name: &str| tables.iter().any(|t| t.name == name);
    if has("ApInvoice") && has("ApSupplier") {
        push_file(
            &mut out,
            "80_views/report_syspro__ap_aging.sql",
            None,
            &globals,
        );
        push_file(
            &mut out,
            "80_views/report_syspro__spend_by_supplier.sql",
            None,
            &globals,
        );
    }
    push_file(
        &mut out,
        "80_views/report_syspro__reconciliation_drift.sql",
        None,
        &globals,
    );
    if has("InvWarehouse") {
        push_file(
            &mut out,
            "80_views/report_syspro__stock_by_warehouse.sql",
            None,
            &globals,
        );
    }

    // every task is created suspended; syspro_start() resumes these
    let mut tasks: Vec<String> = Vec::new();
    for (group, schedule) in [
        (GROUP_FINANCIAL, &settings.financial_schedule),
        (GROUP_MASTERS, &settings.masters_schedule),
    ] {
        if tables.iter().any(|t| t.schedule_group() == group) {
            let mut vars = globals.clone();
            vars.insert("group_name", group.to_string());
            vars.insert("group_schedule", escape_literal(schedule));
            push_file(
                &mut out,
                "90_tasks/task_syspro_sync__group.sql",
                Some(group),
                &vars,
            );
            tasks.push(format!("task_syspro_sync__{group}"));
        }
    }
    push_file(&mut out, "90_tasks/retired_tasks.sql", None, &globals);
    for (group, schedule) in [
        (GROUP_NIGHTLY, &settings.verify_nightly_schedule),
        (GROUP_WEEKLY, &settings.verify_weekly_schedule),
    ] {
        if tables.iter().any(|t| t.verify_group() == group) {
            let mut vars = globals.clone();
            vars.insert("group_name", group.to_string());
            vars.insert("group_schedule", escape_literal(schedule));
            push_file(
                &mut out,
                "90_tasks/task_syspro_verify__group.sql",
                Some(group),
                &vars,
            );
            tasks.push(format!("task_syspro_verify__{group}"));
        }
    }
    push_file(
        &mut out,
        "90_tasks/task_syspro_reconcile.sql",
        None,
        &globals,
    );
    tasks.push("task_syspro_reconcile".to_string());
    let mut start = globals.clone();
    start.insert(
        "resume_tasks",
        tasks
            .iter()
            .map(|task| {
                format!(
                    "    alter task {}.{}.{task} resume;\n    tasks_resumed := array_append(tasks_resumed, '{task}');",
                    settings.database, settings.schema
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    push_file(&mut out, "90_tasks/syspro_start.sql", None, &start);
    push_file(
        &mut out,
        "95_dashboard/streamlit_syspro_dashboard.sql",
        None,
        &globals,
    );
    out.push_str(&fill(
        "-- Done. Every task is SUSPENDED until you start the schedule:\n\
         --   1. describe integration {{integration}};  -- then finish the gateway's trust (deploy/)\n\
         --   2. call {{database}}.{{schema}}.syspro_start();  -- checks syspro_tables() answers, then resumes the tasks\n\
         --      {\"ok\": false, ...} says what is wrong; fix it and call it again. Re-running this\n\
         --      setup leaves the tasks suspended: call syspro_start() again afterwards.\n\
         --   3. call {{database}}.{{schema}}.refresh_syspro_typed_views();\n",
        &globals,
    ));
    out
}

/// The data-plane statements, by name, with `:name` bind placeholders: the text the procedures
/// embed, except that the external-function calls are replaced by `parse_json(:page)` (the page
/// the caller got from the service). Per-table statements are named `<statement>__<slug>`.
/// Use [`bind_names`] / [`crate::snowflake::binds::to_positional`] to bind them.
pub fn render_statements(settings: &SqlSettings, tables: &[SqlTable]) -> BTreeMap<String, String> {
    let mut vars = global_vars(settings);
    for source in [
        "pull_source",
        "keys_source",
        "schema_source",
        "pull_range_source",
        "reconcile_source",
        "pull_open_source",
        "digests_source",
        "pull_keys_source",
    ] {
        vars.insert(source, "parse_json(:page)".into());
    }
    // the fan-out pulls one page per open range: bound as {"<range_number>": page, ...}
    vars.insert("pull_ranges_source", PULL_RANGES_TEST_SOURCE.into());
    let mut out = BTreeMap::new();
    for (name, _) in GENERIC_STATEMENTS {
        out.insert(name.to_string(), statement(name, &vars));
    }
    for table in tables {
        let table_vars = table_vars(&vars, table);
        for (name, _) in TABLE_STATEMENTS {
            out.insert(
                format!("{name}__{}", table.slug()),
                statement(name, &table_vars),
            );
        }
        if table.has_key_refresh(tables) {
            let mut refresh_vars = table_vars.clone();
            refresh_vars.insert(
                "refresh_candidates",
                refresh_candidates(settings, table, tables),
            );
            out.insert(
                format!("{REFRESH_STATEMENT}__{}", table.slug()),
                statement(REFRESH_STATEMENT, &refresh_vars),
            );
        }
    }
    out
}

/// The distinct `:name` binds of a statement, in order of first use.
pub fn bind_names(statement: &str) -> Vec<String> {
    let mut names = Vec::new();
    for name in scan_binds(statement).into_iter().map(|(_, _, n)| n) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Replaces every `:name` bind with a SQL literal: `None` becomes `null`, a value a quoted,
/// escaped string (Snowflake casts it where a number or timestamp is expected). For the SQL API,
/// whose multi-statement requests (the only way to send `begin; ...; commit`) take no bindings.
pub fn inline_binds(
    statement: &str,
    values: &BTreeMap<String, Option<String>>,
) -> Result<String, SqlGenError> {
    let mut sql = String::with_capacity(statement.len());
    let mut last = 0;
    for (start, end, name) in scan_binds(statement) {
        let value = values
            .get(&name)
            .ok_or_else(|| SqlGenError(format!("no value for bind :{name}")))?;
        sql.push_str(&statement[last..start]);
        match value {
            Some(text) => sql.push_str(&format!("'{}'", escape_literal(text))),
            None => sql.push_str("null"),
        }
        last = end;
    }
    sql.push_str(&statement[last..]);
    Ok(sql)
}

// ---------------------------------------------------------------------------------------------
// templates

/// Every file under `sql/`, compiled in so the binary can print the setup anywhere.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "95_dashboard/streamlit_syspro_dashboard.sql",
        include_str!("../../sql/95_dashboard/streamlit_syspro_dashboard.sql"),
    ),
    (
        "00_setup/role__owner.sql",
        include_str!("../../sql/00_setup/role__owner.sql"),
    ),
    (
        "00_setup/role__reader.sql",
        include_str!("../../sql/00_setup/role__reader.sql"),
    ),
    (
        "00_setup/warehouse.sql",
        include_str!("../../sql/00_setup/warehouse.sql"),
    ),
    (
        "00_setup/database.sql",
        include_str!("../../sql/00_setup/database.sql"),
    ),
    (
        "00_setup/schema.sql",
        include_str!("../../sql/00_setup/schema.sql"),
    ),
    (
        "00_setup/grants.sql",
        include_str!("../../sql/00_setup/grants.sql"),
    ),
    (
        "10_integration/api_integration__aws.sql",
        include_str!("../../sql/10_integration/api_integration__aws.sql"),
    ),
    (
        "10_integration/api_integration__azure.sql",
        include_str!("../../sql/10_integration/api_integration__azure.sql"),
    ),
    (
        "10_integration/api_integration__gcp.sql",
        include_str!("../../sql/10_integration/api_integration__gcp.sql"),
    ),
    (
        "10_integration/syspro_pull.sql",
        include_str!("../../sql/10_integration/syspro_pull.sql"),
    ),
    (
        "10_integration/syspro_keys.sql",
        include_str!("../../sql/10_integration/syspro_keys.sql"),
    ),
    (
        "10_integration/syspro_schema.sql",
        include_str!("../../sql/10_integration/syspro_schema.sql"),
    ),
    (
        "10_integration/syspro_tables.sql",
        include_str!("../../sql/10_integration/syspro_tables.sql"),
    ),
    (
        "10_integration/syspro_reconcile.sql",
        include_str!("../../sql/10_integration/syspro_reconcile.sql"),
    ),
    (
        "10_integration/syspro_pull_range.sql",
        include_str!("../../sql/10_integration/syspro_pull_range.sql"),
    ),
    (
        "20_control/syspro_sync_control.sql",
        include_str!("../../sql/20_control/syspro_sync_control.sql"),
    ),
    (
        "20_control/syspro_sync_control__seed.sql",
        include_str!("../../sql/20_control/syspro_sync_control__seed.sql"),
    ),
    (
        "20_control/syspro_sync_state.sql",
        include_str!("../../sql/20_control/syspro_sync_state.sql"),
    ),
    (
        "30_raw/raw_syspro__records.sql",
        include_str!("../../sql/30_raw/raw_syspro__records.sql"),
    ),
    (
        "30_raw/raw_syspro__page_buffer.sql",
        include_str!("../../sql/30_raw/raw_syspro__page_buffer.sql"),
    ),
    (
        "30_raw/raw_syspro__seen_keys.sql",
        include_str!("../../sql/30_raw/raw_syspro__seen_keys.sql"),
    ),
    (
        "30_raw/raw_syspro__backfill_ranges.sql",
        include_str!("../../sql/30_raw/raw_syspro__backfill_ranges.sql"),
    ),
    (
        "40_targets/syspro__table.sql",
        include_str!("../../sql/40_targets/syspro__table.sql"),
    ),
    (
        "50_audit/audit_syspro__runs.sql",
        include_str!("../../sql/50_audit/audit_syspro__runs.sql"),
    ),
    (
        "50_audit/audit_syspro__pages.sql",
        include_str!("../../sql/50_audit/audit_syspro__pages.sql"),
    ),
    (
        "50_audit/audit_syspro__reconciliation.sql",
        include_str!("../../sql/50_audit/audit_syspro__reconciliation.sql"),
    ),
    (
        "60_statements/start_run.sql",
        include_str!("../../sql/60_statements/start_run.sql"),
    ),
    (
        "60_statements/read_run.sql",
        include_str!("../../sql/60_statements/read_run.sql"),
    ),
    (
        "60_statements/pull_page.sql",
        include_str!("../../sql/60_statements/pull_page.sql"),
    ),
    (
        "60_statements/pull_keys_page.sql",
        include_str!("../../sql/60_statements/pull_keys_page.sql"),
    ),
    (
        "60_statements/pull_schema.sql",
        include_str!("../../sql/60_statements/pull_schema.sql"),
    ),
    (
        "60_statements/audit_page.sql",
        include_str!("../../sql/60_statements/audit_page.sql"),
    ),
    (
        "60_statements/read_page.sql",
        include_str!("../../sql/60_statements/read_page.sql"),
    ),
    (
        "60_statements/land_page.sql",
        include_str!("../../sql/60_statements/land_page.sql"),
    ),
    (
        "60_statements/clear_page_buffer.sql",
        include_str!("../../sql/60_statements/clear_page_buffer.sql"),
    ),
    (
        "60_statements/merge_poll.sql",
        include_str!("../../sql/60_statements/merge_poll.sql"),
    ),
    (
        "60_statements/advance_watermark.sql",
        include_str!("../../sql/60_statements/advance_watermark.sql"),
    ),
    (
        "60_statements/finish_run.sql",
        include_str!("../../sql/60_statements/finish_run.sql"),
    ),
    (
        "60_statements/land_keys.sql",
        include_str!("../../sql/60_statements/land_keys.sql"),
    ),
    (
        "60_statements/mark_deleted.sql",
        include_str!("../../sql/60_statements/mark_deleted.sql"),
    ),
    (
        "60_statements/clear_seen_keys.sql",
        include_str!("../../sql/60_statements/clear_seen_keys.sql"),
    ),
    (
        "60_statements/typed_view_ddl.sql",
        include_str!("../../sql/60_statements/typed_view_ddl.sql"),
    ),
    (
        "60_statements/pull_range_page.sql",
        include_str!("../../sql/60_statements/pull_range_page.sql"),
    ),
    (
        "60_statements/pull_reconcile.sql",
        include_str!("../../sql/60_statements/pull_reconcile.sql"),
    ),
    (
        "60_statements/reconcile_compare.sql",
        include_str!("../../sql/60_statements/reconcile_compare.sql"),
    ),
    (
        "60_statements/read_drift.sql",
        include_str!("../../sql/60_statements/read_drift.sql"),
    ),
    (
        "60_statements/record_repull.sql",
        include_str!("../../sql/60_statements/record_repull.sql"),
    ),
    (
        "60_statements/mark_deleted_range.sql",
        include_str!("../../sql/60_statements/mark_deleted_range.sql"),
    ),
    (
        "60_statements/plan_backfill_ranges.sql",
        include_str!("../../sql/60_statements/plan_backfill_ranges.sql"),
    ),
    (
        "60_statements/pull_backfill_pages.sql",
        include_str!("../../sql/60_statements/pull_backfill_pages.sql"),
    ),
    (
        "60_statements/advance_backfill_ranges.sql",
        include_str!("../../sql/60_statements/advance_backfill_ranges.sql"),
    ),
    (
        "60_statements/read_run_polls.sql",
        include_str!("../../sql/60_statements/read_run_polls.sql"),
    ),
    (
        "60_statements/clear_backfill_ranges.sql",
        include_str!("../../sql/60_statements/clear_backfill_ranges.sql"),
    ),
    (
        "10_integration/syspro_pull_open.sql",
        include_str!("../../sql/10_integration/syspro_pull_open.sql"),
    ),
    (
        "10_integration/syspro_digests.sql",
        include_str!("../../sql/10_integration/syspro_digests.sql"),
    ),
    (
        "10_integration/syspro_pull_keys.sql",
        include_str!("../../sql/10_integration/syspro_pull_keys.sql"),
    ),
    (
        "30_raw/raw_syspro__refresh_keys.sql",
        include_str!("../../sql/30_raw/raw_syspro__refresh_keys.sql"),
    ),
    (
        "30_raw/raw_syspro__verify_digests.sql",
        include_str!("../../sql/30_raw/raw_syspro__verify_digests.sql"),
    ),
    (
        "60_statements/pull_open_page.sql",
        include_str!("../../sql/60_statements/pull_open_page.sql"),
    ),
    (
        "60_statements/pull_digests_page.sql",
        include_str!("../../sql/60_statements/pull_digests_page.sql"),
    ),
    (
        "60_statements/pull_keys_batch_page.sql",
        include_str!("../../sql/60_statements/pull_keys_batch_page.sql"),
    ),
    (
        "60_statements/read_refresh_batches.sql",
        include_str!("../../sql/60_statements/read_refresh_batches.sql"),
    ),
    (
        "60_statements/land_missing.sql",
        include_str!("../../sql/60_statements/land_missing.sql"),
    ),
    (
        "60_statements/mark_missing_deleted.sql",
        include_str!("../../sql/60_statements/mark_missing_deleted.sql"),
    ),
    (
        "60_statements/collect_refresh_keys.sql",
        include_str!("../../sql/60_statements/collect_refresh_keys.sql"),
    ),
    (
        "60_statements/advance_dependents_checked.sql",
        include_str!("../../sql/60_statements/advance_dependents_checked.sql"),
    ),
    (
        "60_statements/clear_refresh_keys.sql",
        include_str!("../../sql/60_statements/clear_refresh_keys.sql"),
    ),
    (
        "60_statements/clear_verify_digests.sql",
        include_str!("../../sql/60_statements/clear_verify_digests.sql"),
    ),
    (
        "60_statements/land_digests.sql",
        include_str!("../../sql/60_statements/land_digests.sql"),
    ),
    (
        "60_statements/verify_mark_deleted.sql",
        include_str!("../../sql/60_statements/verify_mark_deleted.sql"),
    ),
    (
        "60_statements/collect_verify_keys.sql",
        include_str!("../../sql/60_statements/collect_verify_keys.sql"),
    ),
    (
        "60_statements/close_abandoned_runs.sql",
        include_str!("../../sql/60_statements/close_abandoned_runs.sql"),
    ),
    (
        "60_statements/clear_abandoned_runs.sql",
        include_str!("../../sql/60_statements/clear_abandoned_runs.sql"),
    ),
    (
        "60_statements/finish_key_refresh.sql",
        include_str!("../../sql/60_statements/finish_key_refresh.sql"),
    ),
    (
        "70_procedures/verify_syspro__table.sql",
        include_str!("../../sql/70_procedures/verify_syspro__table.sql"),
    ),
    (
        "70_procedures/verify_syspro_table.sql",
        include_str!("../../sql/70_procedures/verify_syspro_table.sql"),
    ),
    (
        "70_procedures/verify_syspro_group.sql",
        include_str!("../../sql/70_procedures/verify_syspro_group.sql"),
    ),
    (
        "70_procedures/parts/open_items_pull.sql",
        include_str!("../../sql/70_procedures/parts/open_items_pull.sql"),
    ),
    (
        "70_procedures/parts/refresh_by_key.sql",
        include_str!("../../sql/70_procedures/parts/refresh_by_key.sql"),
    ),
    (
        "70_procedures/parts/key_refresh.sql",
        include_str!("../../sql/70_procedures/parts/key_refresh.sql"),
    ),
    (
        "90_tasks/task_syspro_verify__group.sql",
        include_str!("../../sql/90_tasks/task_syspro_verify__group.sql"),
    ),
    (
        "90_tasks/retired_tasks.sql",
        include_str!("../../sql/90_tasks/retired_tasks.sql"),
    ),
    (
        "70_procedures/sync_syspro__table.sql",
        include_str!("../../sql/70_procedures/sync_syspro__table.sql"),
    ),
    (
        "70_procedures/replay_syspro_poll__table.sql",
        include_str!("../../sql/70_procedures/replay_syspro_poll__table.sql"),
    ),
    (
        "70_procedures/detect_syspro_deletes__table.sql",
        include_str!("../../sql/70_procedures/detect_syspro_deletes__table.sql"),
    ),
    (
        "70_procedures/sync_syspro_table.sql",
        include_str!("../../sql/70_procedures/sync_syspro_table.sql"),
    ),
    (
        "70_procedures/sync_syspro_group.sql",
        include_str!("../../sql/70_procedures/sync_syspro_group.sql"),
    ),
    (
        "70_procedures/replay_syspro_poll.sql",
        include_str!("../../sql/70_procedures/replay_syspro_poll.sql"),
    ),
    (
        "70_procedures/detect_syspro_deletes.sql",
        include_str!("../../sql/70_procedures/detect_syspro_deletes.sql"),
    ),
    (
        "70_procedures/detect_syspro_deletes_group.sql",
        include_str!("../../sql/70_procedures/detect_syspro_deletes_group.sql"),
    ),
    (
        "70_procedures/refresh_syspro_typed_views.sql",
        include_str!("../../sql/70_procedures/refresh_syspro_typed_views.sql"),
    ),
    (
        "70_procedures/syspro_read.sql",
        include_str!("../../sql/70_procedures/syspro_read.sql"),
    ),
    (
        "70_procedures/repull_syspro_range__table.sql",
        include_str!("../../sql/70_procedures/repull_syspro_range__table.sql"),
    ),
    (
        "70_procedures/reconcile_syspro__table.sql",
        include_str!("../../sql/70_procedures/reconcile_syspro__table.sql"),
    ),
    (
        "70_procedures/backfill_syspro__table.sql",
        include_str!("../../sql/70_procedures/backfill_syspro__table.sql"),
    ),
    (
        "70_procedures/reconcile_syspro_table.sql",
        include_str!("../../sql/70_procedures/reconcile_syspro_table.sql"),
    ),
    (
        "70_procedures/reconcile_syspro_group.sql",
        include_str!("../../sql/70_procedures/reconcile_syspro_group.sql"),
    ),
    (
        "70_procedures/backfill_syspro_table.sql",
        include_str!("../../sql/70_procedures/backfill_syspro_table.sql"),
    ),
    (
        "70_procedures/parts/read_page_or_raise.sql",
        include_str!("../../sql/70_procedures/parts/read_page_or_raise.sql"),
    ),
    (
        "70_procedures/parts/page_loop.sql",
        include_str!("../../sql/70_procedures/parts/page_loop.sql"),
    ),
    (
        "70_procedures/parts/enabled_tables.sql",
        include_str!("../../sql/70_procedures/parts/enabled_tables.sql"),
    ),
    (
        "80_views/hist_syspro__table.sql",
        include_str!("../../sql/80_views/hist_syspro__table.sql"),
    ),
    (
        "80_views/report_syspro__ap_aging.sql",
        include_str!("../../sql/80_views/report_syspro__ap_aging.sql"),
    ),
    (
        "80_views/report_syspro__spend_by_supplier.sql",
        include_str!("../../sql/80_views/report_syspro__spend_by_supplier.sql"),
    ),
    (
        "80_views/report_syspro__stock_by_warehouse.sql",
        include_str!("../../sql/80_views/report_syspro__stock_by_warehouse.sql"),
    ),
    (
        "80_views/report_syspro__reconciliation_drift.sql",
        include_str!("../../sql/80_views/report_syspro__reconciliation_drift.sql"),
    ),
    (
        "90_tasks/task_syspro_sync__group.sql",
        include_str!("../../sql/90_tasks/task_syspro_sync__group.sql"),
    ),
    (
        "90_tasks/syspro_start.sql",
        include_str!("../../sql/90_tasks/syspro_start.sql"),
    ),
    (
        "90_tasks/task_syspro_reconcile.sql",
        include_str!("../../sql/90_tasks/task_syspro_reconcile.sql"),
    ),
];

/// Statements that are the same for every table (the table is a bind).
/// Each with the placeholder the procedure templates embed it by.
const GENERIC_STATEMENTS: &[(&str, &str)] = &[
    ("start_run", "stmt_start_run"),
    ("read_run", "stmt_read_run"),
    ("pull_page", "stmt_pull_page"),
    ("pull_keys_page", "stmt_pull_keys_page"),
    ("pull_schema", "stmt_pull_schema"),
    ("audit_page", "stmt_audit_page"),
    ("read_page", "stmt_read_page"),
    ("clear_page_buffer", "stmt_clear_page_buffer"),
    ("advance_watermark", "stmt_advance_watermark"),
    ("finish_run", "stmt_finish_run"),
    ("clear_seen_keys", "stmt_clear_seen_keys"),
    ("typed_view_ddl", "stmt_typed_view_ddl"),
    ("pull_range_page", "stmt_pull_range_page"),
    ("pull_reconcile", "stmt_pull_reconcile"),
    ("read_drift", "stmt_read_drift"),
    ("record_repull", "stmt_record_repull"),
    ("plan_backfill_ranges", "stmt_plan_backfill_ranges"),
    ("pull_backfill_pages", "stmt_pull_backfill_pages"),
    ("advance_backfill_ranges", "stmt_advance_backfill_ranges"),
    ("read_run_polls", "stmt_read_run_polls"),
    ("clear_backfill_ranges", "stmt_clear_backfill_ranges"),
    ("pull_open_page", "stmt_pull_open_page"),
    ("pull_digests_page", "stmt_pull_digests_page"),
    ("pull_keys_batch_page", "stmt_pull_keys_batch_page"),
    ("read_refresh_batches", "stmt_read_refresh_batches"),
    (
        "advance_dependents_checked",
        "stmt_advance_dependents_checked",
    ),
    ("clear_refresh_keys", "stmt_clear_refresh_keys"),
    ("clear_verify_digests", "stmt_clear_verify_digests"),
    ("close_abandoned_runs", "stmt_close_abandoned_runs"),
    ("clear_abandoned_runs", "stmt_clear_abandoned_runs"),
];

/// Statements rendered once per table (key expression, target table).
const TABLE_STATEMENTS: &[(&str, &str)] = &[
    ("land_page", "stmt_land_page"),
    ("merge_poll", "stmt_merge_poll"),
    ("land_keys", "stmt_land_keys"),
    ("mark_deleted", "stmt_mark_deleted"),
    ("reconcile_compare", "stmt_reconcile_compare"),
    ("mark_deleted_range", "stmt_mark_deleted_range"),
    ("land_missing", "stmt_land_missing"),
    ("mark_missing_deleted", "stmt_mark_missing_deleted"),
    ("land_digests", "stmt_land_digests"),
    ("verify_mark_deleted", "stmt_verify_mark_deleted"),
    ("collect_verify_keys", "stmt_collect_verify_keys"),
    ("finish_key_refresh", "stmt_finish_key_refresh"),
];

/// Rendered (as `collect_refresh_keys__<slug>`) only for tables with open items or dependents:
/// what a sync's key refresh re-reads, from the table's catalog entry.
const REFRESH_STATEMENT: &str = "collect_refresh_keys";

/// The page loops a procedure embeds as `{{page_loop_<pull statement>}}`: one
/// `70_procedures/parts/page_loop.sql` filled with a pull statement and the statement that lands
/// its page.
const PAGE_LOOPS: &[(&str, &str, &[&str])] = &[
    ("page_loop_pull_page", "stmt_pull_page", &["stmt_land_page"]),
    (
        "page_loop_pull_keys_page",
        "stmt_pull_keys_page",
        &["stmt_land_keys"],
    ),
    (
        "page_loop_pull_range_page",
        "stmt_pull_range_page",
        &["stmt_land_page"],
    ),
    (
        "page_loop_pull_open_page",
        "stmt_pull_open_page",
        &["stmt_land_page"],
    ),
    (
        "page_loop_pull_digests_page",
        "stmt_pull_digests_page",
        &["stmt_land_digests"],
    ),
    // a pull by key lands its rows and notes the keys SYSPRO answered it does not have
    (
        "page_loop_pull_keys_batch_page",
        "stmt_pull_keys_batch_page",
        &["stmt_land_page", "stmt_land_missing"],
    ),
];

/// What `pull_backfill_pages` calls `syspro_pull_range` with in the procedures, and what the
/// statements JSON binds instead: one page per open range, `:pages` = `{"<range_number>": page}`.
const PULL_RANGES_CALL_ARGS: &str =
    "(ranges.table_name, ranges.range_since, ranges.range_until, ranges.page_cursor)";
const PULL_RANGES_TEST_SOURCE: &str = "get(parse_json(:pages), to_varchar(ranges.range_number))";
/// What `pull_keys_batch_page` calls `syspro_pull_keys` with: the batch's key array.
const PULL_KEYS_CALL_ARGS: &str = "(:table_name, batch.key_array, :page_cursor)";

fn template(path: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("sqlgen: no template {path}"))
}

type Vars = BTreeMap<&'static str, String>;

fn push_file(out: &mut String, path: &str, instance: Option<&str>, vars: &Vars) {
    match instance {
        Some(which) => out.push_str(&format!("-- ---- sql/{path} ({which}) ----\n")),
        None => out.push_str(&format!("-- ---- sql/{path} ----\n")),
    }
    out.push_str(fill(template(path), vars).trim_end());
    out.push_str("\n\n");
}

/// A statement's rendered text, without a trailing semicolon.
fn statement(name: &str, vars: &Vars) -> String {
    let text = fill(template(&format!("60_statements/{name}.sql")), vars);
    text.trim_end().trim_end_matches(';').trim_end().to_string()
}

/// A statement as a procedure embeds it: its leading comment (the why, written once in the
/// template) becomes a pointer to the template, so 13 copies of each procedure stay short.
fn embedded_statement(name: &str, vars: &Vars) -> String {
    format!(
        "-- sql/60_statements/{name}.sql\n{}",
        strip_leading_comments(&statement(name, vars))
    )
}

/// A part of `70_procedures/parts/` as a procedure embeds it. Its leading comment is for readers
/// of the template and is dropped, so the rendered procedure reads as if written out in place.
fn embedded_part(name: &str, vars: &Vars) -> String {
    let text = fill(template(&format!("70_procedures/parts/{name}.sql")), vars);
    strip_leading_comments(&text).trim_end().to_string()
}

fn strip_leading_comments(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with("--") {
        rest = rest.split_once('\n').map_or("", |(_, tail)| tail);
    }
    rest
}

/// Substitutes `{{name}}` placeholders. A multi-line value continues at the indentation of the
/// line its placeholder is on, so embedded statements stay readable. Unknown names are a bug in
/// the templates and panic (the unit tests render every template).
fn fill(text: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .map(|e| start + e)
                .unwrap_or_else(|| panic!("sqlgen: unclosed placeholder in {line:?}"));
            let name = &rest[start + 2..end];
            let value = vars
                .get(name)
                .unwrap_or_else(|| panic!("sqlgen: no value for placeholder {{{{{name}}}}}"));
            out.push_str(&rest[..start]);
            out.push_str(&value.replace('\n', &format!("\n{indent}")));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
    }
    // blank lines inside embedded statements must not carry the indentation
    out.split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn global_vars(settings: &SqlSettings) -> Vars {
    let mut vars = Vars::new();
    vars.insert("database", settings.database.clone());
    vars.insert("schema", settings.schema.clone());
    vars.insert("integration", settings.integration.clone());
    vars.insert("warehouse", settings.warehouse.clone());
    vars.insert("owner_role", settings.owner_role.clone());
    vars.insert("reader_role", settings.reader_role.clone());
    vars.insert(
        "gateway_url",
        escape_literal(settings.gateway_url.trim_end_matches('/')),
    );
    vars.insert("secret", escape_header_value(&settings.secret_placeholder));
    vars.insert("api_provider", settings.provider.snowflake_name().into());
    vars.insert("site_timezone", escape_literal(&settings.site_timezone));
    // "today" at the site, whatever the session's or the account's TIMEZONE: an owner's-rights
    // procedure runs with its caller's session, a task with the account default
    // (https://docs.snowflake.com/en/sql-reference/functions/convert_timezone)
    vars.insert(
        "site_today",
        format!(
            "to_date(convert_timezone('{}', current_timestamp()))",
            escape_literal(&settings.site_timezone)
        ),
    );
    vars.insert("pages_per_run", settings.pages_per_run.max(1).to_string());
    vars.insert("aws_role_arn", escape_literal(&settings.aws_role_arn));
    vars.insert("azure_tenant_id", escape_literal(&settings.azure_tenant_id));
    vars.insert("azure_app_id", escape_literal(&settings.azure_app_id));
    vars.insert("gcp_audience", escape_literal(&settings.gcp_audience));
    vars.insert("overlap_days", settings.overlap_days.to_string());
    vars.insert("task_timeout_ms", settings.task_timeout_ms.to_string());
    vars.insert(
        "suspend_after_failures",
        settings.suspend_task_after_failures.to_string(),
    );
    vars
}

fn table_vars(globals: &Vars, table: &SqlTable) -> Vars {
    let mut vars = globals.clone();
    vars.insert("table_name", escape_literal(&table.name));
    vars.insert("table_slug", table.slug());
    vars.insert("key_columns_list", table.key_columns.join(", "));
    vars.insert(
        "watermark_column_or_none",
        match &table.watermark_column {
            Some(column) => format!("from {column}"),
            None => "none: snapshot table".into(),
        },
    );
    vars.insert("record_key_expression", record_key_expression(table));
    vars.insert(
        "watermark_expression",
        match &table.watermark_column {
            // try_: a malformed date must not fail the whole page's landing; the formats are
            // named so the session's TIMESTAMP_INPUT_FORMAT cannot change what is read
            Some(column) => {
                iso_timestamp(&format!("item.value:{}::varchar", json_path_key(column)))
            }
            None => "cast(null as timestamp_ntz)".into(),
        },
    );
    vars
}

/// A `varchar` holding an ISO date or timestamp as the service writes them (`2026-11-03`,
/// `2026-11-03T10:00:00`, `2026-11-03T10:00:00.123`) as `timestamp_ntz`, with every format named
/// (AUTO detection follows the session's `TIMESTAMP_INPUT_FORMAT`); null when none fits.
fn iso_timestamp(text: &str) -> String {
    format!(
        "coalesce(try_to_timestamp_ntz({text}, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF'), \
         try_to_timestamp_ntz({text}, 'YYYY-MM-DD\"T\"HH24:MI:SS'), \
         try_to_timestamp_ntz({text}, 'YYYY-MM-DD'))"
    )
}

/// The key columns' values joined with `|`, read from a flattened record or key object `item`.
fn record_key_expression(table: &SqlTable) -> String {
    table
        .key_columns
        .iter()
        .map(|column| {
            format!(
                "coalesce(item.value:{}::varchar, '')",
                json_path_key(column)
            )
        })
        .collect::<Vec<_>>()
        .join("\n    || '|' || ")
}

/// Variables for the procedures: the external-function calls as statement sources, the generic
/// statements embedded, and the dispatch chains over the catalog.
fn procedure_vars(settings: &SqlSettings, tables: &[SqlTable]) -> Vars {
    let mut vars = global_vars(settings);
    let qualified = |name: &str| format!("{}.{}.{name}", settings.database, settings.schema);
    vars.insert(
        "pull_source",
        format!(
            "{}(:table_name, :since, :page_cursor)",
            qualified("syspro_pull")
        ),
    );
    vars.insert(
        "keys_source",
        format!("{}(:table_name, :page_cursor)", qualified("syspro_keys")),
    );
    vars.insert(
        "schema_source",
        format!("{}(:table_name)", qualified("syspro_schema")),
    );
    vars.insert(
        "pull_range_source",
        format!(
            "{}(:table_name, :since, :until_day, :page_cursor)",
            qualified("syspro_pull_range")
        ),
    );
    vars.insert(
        "pull_ranges_source",
        format!("{}{PULL_RANGES_CALL_ARGS}", qualified("syspro_pull_range")),
    );
    vars.insert(
        "reconcile_source",
        format!(
            "{}(:table_name, :period_from, :period_to)",
            qualified("syspro_reconcile")
        ),
    );
    vars.insert(
        "pull_open_source",
        format!(
            "{}(:table_name, :page_cursor)",
            qualified("syspro_pull_open")
        ),
    );
    vars.insert(
        "digests_source",
        format!("{}(:table_name, :page_cursor)", qualified("syspro_digests")),
    );
    vars.insert(
        "pull_keys_source",
        format!("{}{PULL_KEYS_CALL_ARGS}", qualified("syspro_pull_keys")),
    );
    let embedded: Vec<(&'static str, String)> = GENERIC_STATEMENTS
        .iter()
        .map(|(name, placeholder)| (*placeholder, embedded_statement(name, &vars)))
        .collect();
    vars.extend(embedded);
    let read_page_or_raise = embedded_part("read_page_or_raise", &vars);
    vars.insert("read_page_or_raise", read_page_or_raise);
    let enabled_tables = embedded_part("enabled_tables", &vars);
    vars.insert("enabled_tables", enabled_tables);
    vars.insert(
        "dispatch_sync",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id);",
                qualified(&format!("sync_syspro__{}", t.slug()))
            )
        }),
    );
    vars.insert(
        "dispatch_replay",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id, :poll_id);",
                qualified(&format!("replay_syspro_poll__{}", t.slug()))
            )
        }),
    );
    vars.insert(
        "dispatch_reconcile",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id, :period_from, :period_to);",
                qualified(&format!("reconcile_syspro__{}", t.slug()))
            )
        }),
    );
    vars.insert(
        "dispatch_backfill",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id, :first_day, :range_months);",
                qualified(&format!("backfill_syspro__{}", t.slug()))
            )
        }),
    );
    vars.insert(
        "dispatch_verify",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id);",
                qualified(&format!("verify_syspro__{}", t.slug()))
            )
        }),
    );
    vars.insert(
        "dispatch_detect_deletes",
        dispatch(tables, |t| {
            format!(
                "call {}(:run_id);",
                qualified(&format!("detect_syspro_deletes__{}", t.slug()))
            )
        }),
    );
    vars
}

fn procedure_table_vars(
    settings: &SqlSettings,
    procedures: &Vars,
    table: &SqlTable,
    tables: &[SqlTable],
) -> Vars {
    let mut vars = table_vars(procedures, table);
    let mut statement_vars = table_vars(&global_vars(settings), table);
    for (name, placeholder) in TABLE_STATEMENTS {
        vars.insert(placeholder, embedded_statement(name, &statement_vars));
    }
    for (placeholder, pull, lands) in PAGE_LOOPS {
        let mut loop_vars = vars.clone();
        loop_vars.insert("stmt_pull_next_page", vars[pull].clone());
        let land = lands
            .iter()
            .map(|land| vars[land].clone())
            .collect::<Vec<_>>()
            .join(";\n");
        loop_vars.insert("stmt_land_next_page", land);
        vars.insert(placeholder, embedded_part("page_loop", &loop_vars));
    }
    let refresh_by_key = embedded_part("refresh_by_key", &vars);
    vars.insert("refresh_by_key", refresh_by_key);
    if table.has_key_refresh(tables) {
        statement_vars.insert(
            "refresh_candidates",
            refresh_candidates(settings, table, tables),
        );
        vars.insert(
            "stmt_collect_refresh_keys",
            embedded_statement(REFRESH_STATEMENT, &statement_vars),
        );
        let open_items_pull = if table.open_items.is_some() {
            embedded_part("open_items_pull", &vars)
        } else {
            "-- no open-items filter: (b) has nothing to re-read whole".to_string()
        };
        vars.insert("open_items_pull", open_items_pull);
        let key_refresh = embedded_part("key_refresh", &vars);
        vars.insert("key_refresh", key_refresh);
        vars.insert("status_after_watermark", "running".into());
        vars.insert(
            "key_refresh_failed",
            format!(
                "{};\n{};",
                vars["stmt_finish_key_refresh"], vars["stmt_clear_refresh_keys"]
            ),
        );
    } else {
        vars.insert(
            "key_refresh",
            "-- no open items or dependents: nothing changes behind the watermark".into(),
        );
        vars.insert("status_after_watermark", "succeeded".into());
        vars.insert("key_refresh_failed", String::new());
    }
    vars
}

/// The candidates of a table's key refresh (`collect_refresh_keys`), from its catalog entry:
/// target rows still open here that the open-items poll `:poll_id` did not return, and the
/// parent keys of child rows loaded since the last refresh. Each yields `record_key`,
/// `key_object` (as `syspro_pull_keys` takes it) and `reason`.
fn refresh_candidates(settings: &SqlSettings, table: &SqlTable, tables: &[SqlTable]) -> String {
    let qualified = |name: String| format!("{}.{}.{name}", settings.database, settings.schema);
    let key_object = |record: &str, columns: &[(&str, &str)]| {
        let members = columns
            .iter()
            .map(|(key, column)| {
                format!(
                    "'{}', {record}:{}",
                    escape_literal(key),
                    json_path_key(column)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("object_construct({members})")
    };
    let mut parts = Vec::new();
    if let Some(open) = &table.open_items {
        let own: Vec<(&str, &str)> = table
            .key_columns
            .iter()
            .map(|k| (k.as_str(), k.as_str()))
            .collect();
        parts.push(format!(
            "-- open here, not in the open-items poll: left the set in SYSPRO ({})\n\
             select\n    target.record_key,\n    {} as key_object,\n    'open_item' as reason\n\
             from {} as target\n\
             where\n    not target.is_deleted\n    and {}\n    and target.record_key not in (\n        \
             select records.record_key\n        from {} as records\n        where records.poll_id = :poll_id\n    )",
            open.text().replace('\n', " "),
            key_object("target.record", &own),
            qualified(format!("syspro__{}", table.slug())),
            open.sql("target.record"),
            qualified("raw_syspro__records".into()),
        ));
    }
    for (dependent, child) in table.dependents(tables) {
        let columns: Vec<(&str, &str)> = table
            .key_columns
            .iter()
            .map(|k| {
                let child_column = dependent
                    .keys
                    .iter()
                    .find(|(parent, _)| parent == k)
                    .map(|(_, c)| c.as_str())
                    .expect("validate: a dependent maps every key column");
                (k.as_str(), child_column)
            })
            .collect();
        let record_key = columns
            .iter()
            .map(|(_, c)| format!("coalesce(child.record:{}::varchar, '')", json_path_key(c)))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let present = columns
            .iter()
            .map(|(_, c)| format!("child.record:{}::varchar is not null", json_path_key(c)))
            .collect::<Vec<_>>()
            .join("\n    and ");
        parts.push(format!(
            "-- parents named by {child} rows loaded since the last key refresh\n\
             select\n    {record_key} as record_key,\n    {} as key_object,\n    'dependent' as reason\n\
             from {} as child\n\
             where\n    {present}\n    and child.loaded_at >= (\n        \
             select coalesce(state.dependents_checked_at, dateadd(day, -control.overlap_days, runs.started_at))\n        \
             from {} as runs\n        \
             inner join {} as control\n            on control.table_name = runs.table_name\n        \
             left join {} as state\n            on state.table_name = runs.table_name\n        \
             where runs.run_id = :run_id\n    )",
            key_object("child.record", &columns),
            qualified(format!("syspro__{}", child.slug())),
            qualified("audit_syspro__runs".into()),
            qualified("syspro_sync_control".into()),
            qualified("syspro_sync_state".into()),
            child = child.name,
        ));
    }
    if parts.is_empty() {
        // not rendered for such tables; a well-typed empty source keeps the statement valid
        parts.push(
            "select cast(null as varchar) as record_key, cast(null as variant) as key_object, \
             cast(null as varchar) as reason\nwhere false"
                .into(),
        );
    }
    parts.join("\n\nunion all\n\n")
}

fn dispatch(tables: &[SqlTable], call: impl Fn(&SqlTable) -> String) -> String {
    let mut out = String::new();
    for (i, table) in tables.iter().enumerate() {
        let keyword = if i == 0 { "if" } else { "elseif" };
        out.push_str(&format!(
            "{keyword} (known_name = '{}') then\n    {}\n",
            escape_literal(&table.name),
            call(table)
        ));
    }
    out.push_str("else\n    raise unknown_table;\nend if;");
    out
}

fn control_rows(settings: &SqlSettings, tables: &[SqlTable]) -> String {
    let qualified = |name: String| format!("{}.{}.{name}", settings.database, settings.schema);
    tables
        .iter()
        .map(|table| {
            let keys = format!("[{}]", table.key_columns.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(","));
            let watermark = match &table.watermark_column {
                Some(column) => format!("'{}'", escape_literal(column)),
                None => "cast(null as varchar)".into(),
            };
            format!(
                "        select\n            '{}' as table_name,\n            '{}' as key_columns_json,\n            {} as watermark_column,\n            '{}' as description,\n            '{}' as target_table,\n            '{}' as typed_view,\n            '{}' as schedule_group,\n            '{}' as verify_group",
                escape_literal(&table.name),
                escape_literal(&keys),
                watermark,
                escape_literal(&table.description),
                qualified(format!("syspro__{}", table.slug())),
                qualified(format!("stg_syspro__{}", table.slug())),
                table.schedule_group(),
                table.verify_group(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n        union all\n")
}

// ---------------------------------------------------------------------------------------------
// small helpers

fn escape_literal(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

/// A `HEADERS` value. CREATE EXTERNAL FUNCTION documents backslash escapes for quotes in header
/// values (https://docs.snowflake.com/en/sql-reference/sql/create-external-function); `\'` is
/// also a valid escape in any Snowflake string literal, so it reads the same either way.
fn escape_header_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `"Name"`: a JSON path key, quoted so Snowflake keeps SYSPRO's mixed case.
fn json_path_key(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

fn is_identifier(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `ApInvoice` -> `ap_invoice`, `PorMasterHdr` -> `por_master_hdr`, `MStockCode` -> `m_stock_code`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> String {
        render_setup(&SqlSettings::default(), &builtin_tables())
    }

    #[test]
    fn rendering_substitutes_every_placeholder() {
        for provider in [ApiProvider::Aws, ApiProvider::Azure, ApiProvider::Gcp] {
            let settings = SqlSettings {
                provider,
                ..SqlSettings::default()
            };
            let sql = render_setup(&settings, &builtin_tables());
            assert!(
                !sql.contains("{{") && !sql.contains("}}"),
                "placeholder left for {provider}"
            );
        }
        for (name, text) in render_statements(&SqlSettings::default(), &builtin_tables()) {
            assert!(!text.contains("{{"), "placeholder left in {name}");
            assert!(
                !text.trim_end().ends_with(';'),
                "{name} must not end with a semicolon"
            );
        }
    }

    #[test]
    fn every_template_is_used_by_the_setup_for_some_provider() {
        let mut rendered = String::new();
        for provider in [ApiProvider::Aws, ApiProvider::Azure, ApiProvider::Gcp] {
            rendered.push_str(&render_setup(
                &SqlSettings {
                    provider,
                    ..SqlSettings::default()
                },
                &builtin_tables(),
            ));
        }
        for (path, _) in TEMPLATES {
            if path.starts_with("60_statements/") || path.starts_with("70_procedures/parts/") {
                continue; // embedded in procedures, not printed on their own
            }
            assert!(
                rendered.contains(&format!("-- ---- sql/{path}")),
                "{path} is never rendered"
            );
        }
    }

    #[test]
    fn the_chosen_provider_alone_gets_its_integration() {
        let azure = render_setup(
            &SqlSettings {
                provider: ApiProvider::Azure,
                ..SqlSettings::default()
            },
            &builtin_tables(),
        );
        assert!(azure.contains("api_provider = azure_api_management"));
        assert!(!azure.contains("aws_api_gateway") && !azure.contains("google_api_gateway"));
        assert_eq!("GCP".parse::<ApiProvider>(), Ok(ApiProvider::Gcp));
        assert!("oracle".parse::<ApiProvider>().is_err());
    }

    #[test]
    fn every_table_gets_its_objects() {
        let sql = setup();
        let statements = render_statements(&SqlSettings::default(), &builtin_tables());
        for table in builtin_tables() {
            let slug = table.slug();
            for object in [
                format!("ml_connector.syspro.syspro__{slug} ("),
                format!("ml_connector.syspro.sync_syspro__{slug}(run_id varchar)"),
                format!("ml_connector.syspro.replay_syspro_poll__{slug}("),
                format!("ml_connector.syspro.detect_syspro_deletes__{slug}(run_id varchar)"),
                format!("ml_connector.syspro.verify_syspro__{slug}(run_id varchar)"),
                format!(
                    "alter table ml_connector.syspro.syspro__{slug} add column if not exists record_digest varchar;"
                ),
                format!("ml_connector.syspro.reconcile_syspro__{slug}("),
                format!("ml_connector.syspro.repull_syspro_range__{slug}("),
                format!("ml_connector.syspro.backfill_syspro__{slug}("),
                format!("ml_connector.syspro.hist_syspro__{slug} as"),
                format!("if (known_name = '{}') then", table.name),
                format!("'{}' as table_name", table.name),
            ] {
                assert!(sql.contains(&object), "{} lacks {object}", table.name);
            }
            for (name, _) in TABLE_STATEMENTS {
                assert!(
                    statements.contains_key(&format!("{name}__{slug}")),
                    "no {name} for {}",
                    table.name
                );
            }
        }
        assert!(
            sql.contains("task_syspro_sync__financial")
                && sql.contains("task_syspro_sync__masters")
                && sql.contains("task_syspro_verify__nightly")
                && sql.contains("task_syspro_verify__weekly")
        );
        // verify replaces the separate delete scan: an upgrade drops its task
        assert!(
            !sql.contains("create or replace task ml_connector.syspro.task_syspro_detect_deletes")
        );
        assert!(
            sql.contains("drop task if exists ml_connector.syspro.task_syspro_detect_deletes;")
        );
        assert!(
            sql.contains("report_syspro__ap_aging")
                && sql.contains("report_syspro__stock_by_warehouse")
        );
    }

    #[test]
    fn procedures_embed_the_statements_verbatim() {
        let settings = SqlSettings::default();
        let tables = builtin_tables();
        let sql = render_setup(&settings, &tables);
        let statements = render_statements(&settings, &tables);
        let compact = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let sql = compact(&sql);
        for (name, text) in &statements {
            let text = strip_leading_comments(text);
            // the procedures call the external functions where the statements bind the page
            let text = text.replace(
                "parse_json(:page)",
                "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
            );
            let text = match name.as_str() {
                "pull_keys_page" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_keys(:table_name, :page_cursor)",
                ),
                "pull_schema" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_schema(:table_name)",
                ),
                "pull_range_page" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_pull_range(:table_name, :since, :until_day, :page_cursor)",
                ),
                "pull_reconcile" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_reconcile(:table_name, :period_from, :period_to)",
                ),
                "pull_backfill_pages" => text.replace(
                    PULL_RANGES_TEST_SOURCE,
                    &format!("ml_connector.syspro.syspro_pull_range{PULL_RANGES_CALL_ARGS}"),
                ),
                "pull_open_page" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_pull_open(:table_name, :page_cursor)",
                ),
                "pull_digests_page" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    "ml_connector.syspro.syspro_digests(:table_name, :page_cursor)",
                ),
                "pull_keys_batch_page" => text.replace(
                    "ml_connector.syspro.syspro_pull(:table_name, :since, :page_cursor)",
                    &format!("ml_connector.syspro.syspro_pull_keys{PULL_KEYS_CALL_ARGS}"),
                ),
                _ => text,
            };
            assert!(
                sql.contains(&compact(&text)),
                "statement {name} is not embedded verbatim in a procedure"
            );
        }
    }

    #[test]
    fn secrets_and_literals_are_escaped() {
        let settings = SqlSettings {
            secret_placeholder: "it's".into(),
            ..SqlSettings::default()
        };
        let sql = render_setup(&settings, &builtin_tables());
        // backslash, as CREATE EXTERNAL FUNCTION documents for HEADERS values
        assert!(sql.contains("headers = ('mlc-secret' = 'it\\'s')"), "{sql}");
        assert!(validate(&settings, &builtin_tables()).is_err());
        assert!(!SqlSettings::default().secret_placeholder.is_empty());
    }

    #[test]
    fn external_functions_have_the_contract_shape() {
        let sql = setup();
        for (name, path, batch_of_one) in [
            ("syspro_pull(", "/v1/pull", true),
            ("syspro_keys(", "/v1/keys", true),
            ("syspro_schema(", "/v1/schema", false),
            ("syspro_tables()", "/v1/tables", false),
            ("syspro_reconcile(", "/v1/reconcile", true),
            ("syspro_pull_range(", "/v1/pull_range", true),
            ("syspro_pull_open(", "/v1/pull_open", true),
            ("syspro_digests(", "/v1/digests", true),
            ("syspro_pull_keys(", "/v1/pull_keys", true),
        ] {
            let start = sql
                .find(&format!(
                    "create or replace secure external function ml_connector.syspro.{name}"
                ))
                .expect(name);
            let ddl = &sql[start..start + sql[start..].find(";\n").unwrap()];
            assert!(
                ddl.contains("returns variant") && ddl.contains("volatile"),
                "{name}"
            );
            assert!(
                ddl.contains("headers = ('mlc-secret' = '<MLC_SERVER__SECRET>')"),
                "{name}"
            );
            assert!(
                ddl.contains(&format!(
                    "as 'https://<api-id>.execute-api.<region>.amazonaws.com/<stage>{path}'"
                )),
                "{name}"
            );
            assert_eq!(ddl.contains("max_batch_rows = 1"), batch_of_one, "{name}");
        }
    }

    #[test]
    fn record_keys_join_every_key_column_in_order() {
        let table = builtin_tables()
            .into_iter()
            .find(|t| t.name == "PorMasterDetail")
            .unwrap();
        assert_eq!(
            record_key_expression(&table),
            "coalesce(item.value:\"PurchaseOrder\"::varchar, '')\n    || '|' || coalesce(item.value:\"Line\"::varchar, '')"
        );
    }

    #[test]
    fn slugs_are_snake_case() {
        assert_eq!(snake_case("ApInvoice"), "ap_invoice");
        assert_eq!(snake_case("GenJournalDetail"), "gen_journal_detail");
        assert_eq!(snake_case("MStockCode"), "m_stock_code");
        assert_eq!(snake_case("MthInvBal1"), "mth_inv_bal1");
    }

    #[test]
    fn binds_are_found_outside_paths_casts_and_literals() {
        let sql = "select p.page:rows, x::varchar, ':no' from t -- :nor\nwhere a = :run_id and b = :page_number and c = :run_id";
        assert_eq!(bind_names(sql), vec!["run_id", "page_number"]);
        let (positional, names) = crate::snowflake::binds::to_positional(sql);
        assert!(positional.ends_with("where a = ? and b = ? and c = ?"));
        assert_eq!(names, vec!["run_id", "page_number", "run_id"]);
    }

    #[test]
    fn binds_inline_as_escaped_literals() {
        let values = BTreeMap::from([
            ("run_id".to_string(), Some("it's".to_string())),
            ("page".to_string(), Some(r#"{"a":"\\"}"#.to_string())),
            ("since".to_string(), None),
        ]);
        let sql = "select :run_id, parse_json(:page), x:y, :since";
        assert_eq!(
            inline_binds(sql, &values).unwrap(),
            r#"select 'it''s', parse_json('{"a":"\\\\"}'), x:y, null"#
        );
        assert!(inline_binds("select :missing", &values).is_err());
    }

    #[test]
    fn statements_bind_only_what_the_procedures_declare() {
        let known = [
            "run_id",
            "run_kind",
            "table_name",
            "poll_id",
            "since",
            "page_number",
            "page_cursor",
            "page",
            "rows_inserted",
            "rows_updated",
            "rows_deleted",
            "run_status",
            "error_kind",
            "error_message",
            "until_day",
            "period_from",
            "period_to",
            "period",
            "repull_run_id",
            "range_months",
            "pages",
            "batch_number",
        ];
        for (name, text) in render_statements(&SqlSettings::default(), &builtin_tables()) {
            for bind in bind_names(&text) {
                assert!(
                    known.contains(&bind.as_str()),
                    "{name} binds unknown :{bind}"
                );
            }
        }
    }

    #[test]
    fn tables_with_open_items_or_dependents_get_a_key_refresh() {
        let tables = builtin_tables();
        let statements = render_statements(&SqlSettings::default(), &tables);
        let with_refresh: Vec<&str> = tables
            .iter()
            .filter(|t| statements.contains_key(&format!("collect_refresh_keys__{}", t.slug())))
            .map(|t| t.name.as_str())
            .collect();
        for name in [
            "ApInvoice",
            "PorMasterHdr",
            "GenJournalDetail",
            "GrnDetails",
        ] {
            assert!(with_refresh.contains(&name), "{name} has open items");
        }
        assert_eq!(with_refresh.len(), 4);
        let ap = &statements["collect_refresh_keys__ap_invoice"];
        // open here but not in the open-items poll
        assert!(ap.contains("(target.record:\"MthInvBal1\"::number(38, 10) is null or target.record:\"MthInvBal1\"::number(38, 10) <> 0)"));
        assert!(ap.contains("where records.poll_id = :poll_id"));
        // parents of new payments
        assert!(ap.contains("from ml_connector.syspro.syspro__ap_invoice_pay as child"));
        assert!(ap.contains("object_construct('Supplier', child.record:\"Supplier\", 'Invoice', child.record:\"Invoice\")"));
        let gl = &statements["collect_refresh_keys__gen_journal_detail"];
        assert!(gl.contains("EntryPosted") && !gl.contains(" as child"));

        let sql = setup();
        let body = |name: &str| {
            let start = sql
                .find(&format!("procedure ml_connector.syspro.{name}("))
                .unwrap();
            sql[start..start + sql[start..].find("$$;").unwrap()].to_string()
        };
        let ap_sync = body("sync_syspro__ap_invoice");
        assert!(
            ap_sync.contains("ml_connector.syspro.syspro_pull_open(:table_name, :page_cursor)")
        );
        assert!(ap_sync.contains(
            "ml_connector.syspro.syspro_pull_keys(:table_name, batch.key_array, :page_cursor)"
        ));
        let supplier_sync = body("sync_syspro__ap_supplier");
        assert!(
            !supplier_sync.contains("syspro_pull_open")
                && !supplier_sync.contains("syspro_pull_keys")
        );
        for table in &tables {
            let verify = body(&format!("verify_syspro__{}", table.slug()));
            assert!(verify.contains("syspro_digests(:table_name, :page_cursor)"));
            assert!(
                verify.contains("syspro_pull_keys(:table_name, batch.key_array, :page_cursor)")
            );
        }
    }

    #[test]
    fn handlers_roll_back_only_a_transaction_their_procedure_opened() {
        let sql = setup();
        for (start, _) in sql.match_indices("create or replace procedure ") {
            let body = &sql[start..start + sql[start..].find("$$;").unwrap()];
            let name = body.split('(').next().unwrap();
            if !name.contains("sync_syspro__") {
                continue;
            }
            let handler = &body[body.find("\nexception\n").expect(name)..];
            assert!(
                handler.contains("if (in_transaction) then\n            rollback;"),
                "{name}: an unguarded rollback in its handler"
            );
            assert!(body.contains("in_transaction := true;"), "{name}");
            assert!(body.contains("in_transaction := false;"), "{name}");
        }
    }

    #[test]
    fn verify_groups_are_seeded_and_scheduled() {
        let sql = setup();
        assert!(sql.contains("'InvMovements' as table_name"));
        let seed_of = |table: &str| {
            let start = sql.find(&format!("'{table}' as table_name")).unwrap();
            let end = start + sql[start..].find(" as verify_group").unwrap();
            sql[start..end].rsplit('\'').nth(1).unwrap().to_string()
        };
        assert_eq!(seed_of("InvMovements"), "weekly");
        assert_eq!(seed_of("ApInvoicePay"), "weekly");
        assert_eq!(seed_of("ApInvoice"), "nightly");
        assert_eq!(seed_of("ApSupplier"), "nightly");
        assert!(sql.contains("schedule = 'USING CRON 0 3 * * * UTC'"));
        assert!(sql.contains("call ml_connector.syspro.verify_syspro_group('weekly');"));
    }

    #[test]
    fn a_dependent_must_map_every_parent_key() {
        let mut tables = builtin_tables();
        let ap = tables.iter_mut().find(|t| t.name == "ApInvoice").unwrap();
        ap.refreshed_by[0].keys.truncate(1);
        assert!(validate(&SqlSettings::default(), &tables).is_err());
    }

    #[test]
    fn validation_rejects_what_would_break_the_sql() {
        let tables = builtin_tables();
        assert_eq!(validate(&SqlSettings::default(), &tables), Ok(()));
        let bad = SqlSettings {
            database: "x; drop".into(),
            ..SqlSettings::default()
        };
        assert!(validate(&bad, &tables).is_err());
        let mut dup = tables.clone();
        dup.push(tables[0].clone());
        assert!(validate(&SqlSettings::default(), &dup).is_err());
        assert!(validate(&SqlSettings::default(), &[]).is_err());
    }
}

/// Guardrails over the rendered setup (issue #19): each check returns what breaks its rule, and
/// each test shows the check fails on the defect it guards by planting that defect.
#[cfg(test)]
mod guardrails {
    use super::*;

    fn setup() -> String {
        render_setup(&SqlSettings::default(), &builtin_tables())
    }

    /// `(name, body)` of every procedure, body between the `$$`.
    fn procedures(sql: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (start, _) in sql.match_indices("create or replace procedure ") {
            let rest = &sql[start..];
            let name = rest["create or replace procedure ".len()..]
                .split('(')
                .next()
                .unwrap()
                .to_string();
            let open = rest.find("$$\n").unwrap() + 3;
            let close = open + rest[open..].find("\n$$;").unwrap();
            out.push((name, rest[open..close].to_string()));
        }
        out
    }

    /// Splits on commas outside parentheses and string literals.
    fn split_top_level(text: &str) -> Vec<String> {
        let (mut parts, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
        for c in text.chars() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                ',' if !quoted && depth == 0 => {
                    parts.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        parts.push(current);
        parts
    }

    /// The arguments of every call `name(` in `sql` (word-bounded).
    fn calls(sql: &str, name: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let needle = format!("{name}(");
        for (at, _) in sql.match_indices(&needle) {
            let before = sql[..at].chars().last().unwrap_or(' ');
            if before.is_ascii_alphanumeric() || before == '_' || before == '.' {
                continue;
            }
            let open = at + needle.len();
            let mut depth = 1;
            let mut end = open;
            for (i, c) in sql[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = open + i;
                    break;
                }
            }
            out.push(split_top_level(&sql[open..end]));
        }
        out
    }

    /// Rule: tasks are created suspended (CREATE TASK's default) and nothing but
    /// `syspro_start()` resumes them; it resumes every task the setup creates.
    fn tasks_resumed_outside_start(sql: &str) -> Vec<String> {
        let start = procedures(sql)
            .into_iter()
            .find(|(name, _)| name.ends_with(".syspro_start"))
            .map(|(_, body)| body)
            .unwrap_or_default();
        let mut problems = Vec::new();
        let outside = sql.replace(&start, "");
        for line in outside.lines() {
            let code = line.split("--").next().unwrap().to_ascii_lowercase();
            if code.contains("alter task") && code.contains("resume") {
                problems.push(format!("resumed outside syspro_start: {line}"));
            }
        }
        for line in sql.lines() {
            if let Some(task) = line.strip_prefix("create or replace task ")
                && !start.contains(&format!("alter task {task} resume;"))
            {
                problems.push(format!("syspro_start does not resume {task}"));
            }
        }
        problems
    }

    /// Rule: a `select … into` returns exactly one row whatever it finds: every selected
    /// expression is an aggregate, or the select has no FROM.
    fn unguarded_select_into(sql: &str) -> Vec<String> {
        const AGGREGATES: &[&str] = &["max(", "min(", "count(", "count_if(", "sum(", "listagg("];
        let mut problems = Vec::new();
        for (name, body) in procedures(sql) {
            let lower = body.to_ascii_lowercase();
            for (into_at, _) in lower.match_indices("\n") {
                let line = lower[into_at + 1..].lines().next().unwrap_or("");
                if !line.trim_start().starts_with("into :") {
                    continue;
                }
                let select_at = lower[..into_at].rfind("select ").unwrap();
                let list = &lower[select_at + "select ".len()..into_at];
                let after = &lower[into_at..];
                let statement_end = after.find(';').unwrap_or(after.len());
                let has_from = after[..statement_end].contains("from ");
                for expression in split_top_level(list) {
                    if has_from && !AGGREGATES.iter().any(|a| expression.contains(a)) {
                        problems.push(format!("{name}: select … into of `{}`", expression.trim()));
                    }
                }
            }
        }
        problems
    }

    /// Rule: a handler rolls back only a transaction its procedure opened (a ROLLBACK of a
    /// caller's transaction fails inside a procedure's scope).
    fn unguarded_rollbacks(sql: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, body) in procedures(sql) {
            let lines: Vec<&str> = body.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = line.trim();
                if code == "rollback;" && !lines[i - 1].trim().starts_with("if (in_transaction)") {
                    problems.push(format!("{name}: rollback not guarded by in_transaction"));
                }
                if code == "begin transaction;" && lines[i + 1].trim() != "in_transaction := true;"
                {
                    problems.push(format!("{name}: begin transaction not recorded"));
                }
                if code == "commit;" && lines[i + 1].trim() != "in_transaction := false;" {
                    problems.push(format!("{name}: commit not recorded"));
                }
            }
        }
        problems
    }

    /// Rule: no conversion to a date or timestamp depends on the session (AUTO input formats,
    /// TIMEZONE, TIMESTAMP_TYPE_MAPPING): text is converted with a named format, "today" is
    /// taken in the site time zone, and one-argument conversions only read timestamp columns.
    fn session_dependent_time(sql: &str) -> Vec<String> {
        const TIMESTAMP_VALUES: &[&str] = &[
            "target.watermark_value",
            "state.high_water",
            "landed_at",
            "convert_timezone(",
        ];
        let code: String = sql
            .lines()
            .map(|line| line.split("--").next().unwrap())
            .collect::<Vec<_>>()
            .join("\n")
            .to_ascii_lowercase()
            // a typed null is no conversion
            .replace("cast(null as timestamp_ntz)", "");
        let mut problems = Vec::new();
        for banned in [
            "::timestamp",
            "::date",
            "as timestamp",
            "as date)",
            "current_date",
            "localtimestamp",
        ] {
            if code.contains(banned) {
                problems.push(format!("conversion without a format: {banned}"));
            }
        }
        for function in ["to_timestamp", "to_timestamp_ltz", "to_timestamp_tz"] {
            if !calls(&code, function).is_empty() {
                problems.push(format!("{function}() follows the session"));
            }
        }
        if code.matches("current_timestamp()").count() != code.matches("convert_timezone(").count()
        {
            problems.push("current_timestamp() outside convert_timezone".into());
        }
        for function in [
            "to_date",
            "try_to_date",
            "to_timestamp_ntz",
            "try_to_timestamp_ntz",
        ] {
            for args in calls(&code, function) {
                let first = args[0].trim();
                if args.len() < 2 && !TIMESTAMP_VALUES.iter().any(|v| first.starts_with(v)) {
                    problems.push(format!("{function}({first}) without a format"));
                }
            }
        }
        problems
    }

    /// Rule: identifiers built at run time are quoted: the typed views' column aliases, and the
    /// user name the setup grants the owner role to.
    fn unquoted_runtime_identifiers(
        sql: &str,
        statements: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let ddl = &statements["typed_view_ddl"];
        // an alias spliced from SYSPRO's answer: `… as ' || name` is unquoted
        if ddl.contains(" as ' ||") {
            problems.push("typed view alias spliced unquoted".into());
        }
        if !ddl.contains("as \"' || ") {
            problems.push("typed view aliases are not quoted".into());
        }
        for (at, _) in sql.match_indices("identifier($") {
            let var = sql[at + "identifier($".len()..].split(')').next().unwrap();
            if !sql.contains(&format!("set {var} = (select '\"' || replace(")) {
                problems.push(format!("${var} is not a quoted identifier"));
            }
        }
        problems
    }

    #[test]
    fn every_task_is_resumed_by_syspro_start_alone() {
        let sql = setup();
        assert_eq!(tasks_resumed_outside_start(&sql), Vec::<String>::new());
        let planted = sql.replace(
            "-- ---- sql/90_tasks/syspro_start.sql",
            "alter task ml_connector.syspro.task_syspro_reconcile resume;\n-- ---- sql/90_tasks/syspro_start.sql",
        );
        assert!(!tasks_resumed_outside_start(&planted).is_empty());
    }

    #[test]
    fn every_select_into_returns_one_row() {
        let sql = setup();
        assert_eq!(unguarded_select_into(&sql), Vec::<String>::new());
        let planted = sql.replacen("select max($1), max($2)", "select $1, $2", 1);
        assert!(!unguarded_select_into(&planted).is_empty());
        let planted = sql.replacen(
            "select max(ddl.view_ddl), max(ddl.unsafe_columns)",
            "select ddl.view_ddl, ddl.unsafe_columns",
            1,
        );
        assert!(!unguarded_select_into(&planted).is_empty());
    }

    #[test]
    fn no_handler_rolls_back_a_transaction_it_did_not_open() {
        let sql = setup();
        assert_eq!(unguarded_rollbacks(&sql), Vec::<String>::new());
        let guarded = "if (in_transaction) then\n            rollback;\n        end if;";
        assert!(sql.matches(guarded).count() >= 4 * builtin_tables().len());
        let planted = sql.replacen(guarded, "rollback;", 1);
        assert!(!unguarded_rollbacks(&planted).is_empty());
    }

    #[test]
    fn every_date_and_timestamp_conversion_names_its_format() {
        let sql = setup();
        assert_eq!(session_dependent_time(&sql), Vec::<String>::new());
        let statements = render_statements(&SqlSettings::default(), &builtin_tables());
        for (name, text) in &statements {
            assert_eq!(session_dependent_time(text), Vec::<String>::new(), "{name}");
        }
        for defect in [
            ("to_date(period, 'YYYY-MM-DD')", "to_date(period)"),
            (
                "to_date(convert_timezone('UTC', current_timestamp()))",
                "current_date()",
            ),
            (
                "try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD')",
                "buffer.page:fetched_at::timestamp_ntz",
            ),
        ] {
            assert!(sql.contains(defect.0), "{defect:?}");
            let planted = sql.replacen(defect.0, defect.1, 1);
            assert!(!session_dependent_time(&planted).is_empty(), "{defect:?}");
        }
    }

    #[test]
    fn every_identifier_built_at_run_time_is_quoted() {
        let sql = setup();
        let statements = render_statements(&SqlSettings::default(), &builtin_tables());
        assert_eq!(
            unquoted_runtime_identifiers(&sql, &statements),
            Vec::<String>::new()
        );
        let mut planted = statements.clone();
        let ddl = planted["typed_view_ddl"].replace(
            "' as \"' || named_columns.column_alias || '\"'",
            "' as ' || named_columns.column_alias",
        );
        planted.insert("typed_view_ddl".into(), ddl);
        assert!(!unquoted_runtime_identifiers(&sql, &planted).is_empty());
        let planted_sql = sql.replace(
            "(select '\"' || replace(current_user(), '\"', '\"\"') || '\"')",
            "current_user()",
        );
        assert!(!unquoted_runtime_identifiers(&planted_sql, &statements).is_empty());
    }

    #[test]
    fn the_site_time_zone_and_provider_are_rendered() {
        let settings = SqlSettings {
            site_timezone: "Africa/Johannesburg".into(),
            provider: ApiProvider::AwsPrivate,
            ..SqlSettings::default()
        };
        let sql = render_setup(&settings, &builtin_tables());
        assert!(sql.contains("convert_timezone('Africa/Johannesburg', current_timestamp())"));
        assert!(sql.contains("api_provider = aws_private_api_gateway"));
        assert!(sql.contains("alter api integration ml_connector_api set"));
        assert_eq!(
            "aws_gov_private_api_gateway".parse(),
            Ok(ApiProvider::AwsGovPrivate)
        );
        let bad = SqlSettings {
            site_timezone: "UTC'; drop".into(),
            ..SqlSettings::default()
        };
        assert!(validate(&bad, &builtin_tables()).is_err());
    }
}
