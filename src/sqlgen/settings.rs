//! What the SQL is rendered for: the settings, the catalog's tables as the SQL needs them, and
//! the check that both are safe to splice into SQL.

use std::collections::BTreeMap;
use std::fmt;

use super::text::{is_identifier, snake_case};

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
    pub(super) fn integration_template(self) -> &'static str {
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
    /// The SYSPRO companies the service reads, by id (upper case, as the service stores them);
    /// `[""]`, the single company, for a deployment without `[companies.*]`. The control table
    /// gets one row per company × table, and the group procedures run each as its own run.
    pub companies: Vec<String>,
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
            companies: vec![String::new()],
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
    pub(super) fn dependents<'a>(
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
    pub(super) fn has_key_refresh(&self, tables: &[SqlTable]) -> bool {
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

pub(super) const GROUP_FINANCIAL: &str = "financial";
pub(super) const GROUP_MASTERS: &str = "masters";
pub(super) const GROUP_NIGHTLY: &str = "nightly";
pub(super) const GROUP_WEEKLY: &str = "weekly";
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

/// A company id as the service stores it: SYSPRO's 1–20 characters of `[A-Za-z0-9_]`, upper
/// case (qualified names resolve with `upper()`), or `""`, the single company. It is spliced
/// into SQL literals and into the qualified names the external functions are called with.
pub(super) fn is_company_id(id: &str) -> bool {
    id.is_empty() || (crate::catalog::is_company_id(id) && id == id.to_ascii_uppercase())
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
    if settings.companies.is_empty() {
        return Err(SqlGenError(
            "no companies to render (the single company is \"\")".into(),
        ));
    }
    for (i, company) in settings.companies.iter().enumerate() {
        if !is_company_id(company) {
            return Err(SqlGenError(format!(
                "company id {company:?} is not SYSPRO's: 1 to 20 upper-case letters, digits or _ \
                 (\"\" for the single company)"
            )));
        }
        if settings.companies[..i].contains(company) {
            return Err(SqlGenError(format!(
                "company id {company:?} is listed twice"
            )));
        }
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
