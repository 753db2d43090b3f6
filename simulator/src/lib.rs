//! mlc-simulator: a stand-in for SYSPRO 8 for ml-connector's tests, benchmarks
//! and demo. It serves
//! - the SYSPRO OData v4 service (syspro.md §1) at
//!   `/SYSPRO8Odata/SYSPROOData/{company}` (path UNCONFIRMED, syspro.md §1.2),
//! - e.net REST (syspro.md §2) at `/SYSPROWCFService/Rest/`,
//! - a control API at `/_sim/` (no auth, no faults).
//!
//! It serves one company or several (`SimOptions::companies`, [`Simulator::company`]): each its
//! own data set, currency, faults and site variants, addressed by the OData company segment and
//! by e.net Logon's `CompanyId` (see README "Companies").
//!
//! Data are deterministic under `SimOptions::seed`. Quirks reproduced are
//! cited to syspro.md where they occur.

mod data;
mod enet;
mod faults;
mod filter;
mod http;
mod odata;
pub mod schema;
mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use data::{BusinessDayPlan, CompanyProfile, MutationPlan, MutationReport, TableMutations};
pub use enet::{EnetCounters, EnetWrapping};
pub use faults::{FaultCounters, FaultKind, Faults, FaultsControl};

/// Options of the e.net REST simulator (phase 2).
#[derive(Debug, Clone)]
pub struct EnetOptions {
    pub operator: String,
    pub operator_password: String,
    pub company_id: String,
    pub company_password: String,
    /// Sessions idle longer than this are expired (syspro.md §2.5: UNCONFIRMED value).
    pub idle_timeout: Duration,
    /// How plain-text answers (session id, `ERROR: ...`, `0`) and XML are wrapped
    /// (syspro.md §2.3: bare, JSON-quoted, or a serialized `<string>`).
    pub wrapping: EnetWrapping,
    /// Which earlier session a logon ends (syspro.md §2.5: "one session per operator",
    /// UNCONFIRMED).
    pub session_scope: SessionScope,
    /// Further operators next to `operator` (operators are system-wide: each may log on to
    /// any company), so that a client can hold one session per company under
    /// [`SessionScope::Operator`].
    pub extra_operators: Vec<EnetOperator>,
}

/// An e.net operator and its password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnetOperator {
    pub operator: String,
    pub password: String,
}

/// Which session a new logon ends. syspro.md §2.5 records the practitioner claim "SYSPRO
/// allows only one session per operator — a second logon kills the first" ([GO]), UNCONFIRMED
/// and silent about companies; the default is that claim taken literally, across companies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// A logon ends every other session of the operator, in whichever company.
    #[default]
    Operator,
    /// A logon ends only the operator's session in the same company.
    OperatorAndCompany,
}

impl Default for EnetOptions {
    fn default() -> Self {
        EnetOptions {
            operator: "ADMIN".into(),
            operator_password: "enet-secret".into(),
            company_id: "EDU1".into(),
            company_password: String::new(),
            idle_timeout: Duration::from_secs(600),
            wrapping: EnetWrapping::Bare,
            session_scope: SessionScope::Operator,
            extra_operators: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// OData Basic-auth user (syspro.md §1.1 [H-ODATA]: basic authentication).
    pub user: String,
    pub password: String,
    /// Company segment of the OData URL and GL `Company` column.
    pub company: String,
    /// Server-driven paging: at most this many rows per answer, then `@odata.nextLink`.
    pub page_cap: Option<usize>,
    /// Seed of data and faults.
    pub seed: u64,
    /// Number of ApInvoice rows (default 1,500; benchmarks use 100,000 and 1,000,000).
    pub ap_invoice_rows: Option<usize>,
    pub enet: EnetOptions,
    /// How this site's SYSPRO differs from the catalog and from a plain OData service
    /// (changeable at run time: [`Simulator::set_site`], `POST /_sim/site`).
    pub site: SiteOptions,
    /// Further companies served next to `company` (the first, default one), each with its own
    /// database: the same 13 tables, its own data and currency (issue #16).
    pub companies: Vec<CompanyOptions>,
}

/// A further company: reachable as `{odata}/{id}` and by e.net Logon `CompanyId={id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyOptions {
    /// OData company segment, e.net CompanyId and the GL `Company` column.
    pub id: String,
    /// Its names, warehouses and currency.
    pub profile: CompanyProfile,
    /// Seed of its data and faults; `None`: derived from [`SimOptions::seed`] and `id`.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Number of ApInvoice rows (default 1,500).
    #[serde(default)]
    pub ap_invoice_rows: Option<usize>,
    /// e.net `CompanyPassword` (empty by default).
    #[serde(default)]
    pub company_password: String,
    /// OData Basic-auth user and password of this company; `None`: [`SimOptions::user`] and
    /// [`SimOptions::password`].
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Its site variants.
    #[serde(default)]
    pub site: SiteOptions,
}

impl CompanyOptions {
    pub fn new(id: &str, profile: CompanyProfile) -> Self {
        CompanyOptions {
            id: id.to_string(),
            profile,
            seed: None,
            ap_invoice_rows: None,
            company_password: String::new(),
            user: None,
            password: None,
            site: SiteOptions::default(),
        }
    }
}

/// Site variants: behaviours a real SYSPRO may show that the catalog and client must survive
/// (CONTRACT.md §3.2). All off by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SiteOptions {
    /// Silent page cap: OData answers stop at this many rows WITHOUT an `@odata.nextLink`
    /// (syspro.md §5.6: a 5000-row cap is reported; whether it is announced is UNCONFIRMED).
    pub silent_page_cap: Option<usize>,
    /// `Edm.DateTimeOffset` values are written with this offset (minutes east of UTC; 120 is
    /// `+02:00`) after the stored wall clock, which is then the site's local time: `$filter`
    /// date-time literals are compared as instants (`…T00:00:00Z` is 02:00 local).
    pub datetime_offset_minutes: Option<i32>,
    /// e.net COMFND refuses a query without `<Columns>` (every public example sends them).
    pub enet_require_columns: bool,
    /// Every data read (an OData entity-set page, an e.net query) answers this much later.
    pub page_delay_ms: u64,
    /// Site-specific columns on a table: in `$metadata`, OData rows, COMFND answers without
    /// `<Columns>` and `expected_records`; not filterable, orderable or selectable.
    pub extra_columns: Vec<ExtraColumn>,
    /// `$metadata` declares this SQL type for a column (values are served as before):
    /// e.g. `InvMaster.LeadTime` as `decimal(10,0)`.
    pub metadata_types: Vec<ColumnTypeOverride>,
    /// `$metadata` declares this key for a table instead of the catalog's.
    pub metadata_keys: Vec<KeyOverride>,
}

/// A column a site added to a table, with one value in every row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtraColumn {
    pub table: String,
    pub name: String,
    /// `varchar(n)`, `decimal(p,s)` or `int`.
    pub sql_type: String,
    /// The value of every row, as SYSPRO's text (`12.50`, `X`).
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnTypeOverride {
    pub table: String,
    pub column: String,
    /// `decimal(p,s)`, `int`, `varchar(n)`, `char(n)` or `datetime`.
    pub sql_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyOverride {
    pub table: String,
    pub columns: Vec<String>,
}

impl SiteOptions {
    pub(crate) fn extras(&self, table: &str) -> Vec<&ExtraColumn> {
        self.extra_columns
            .iter()
            .filter(|e| e.table.eq_ignore_ascii_case(table))
            .collect()
    }

    /// The `$metadata` attributes (`Type=".." Precision=..`) of an SQL type.
    pub(crate) fn edm_attributes(sql_type: &str) -> String {
        let t = sql_type.trim().to_ascii_lowercase();
        let inner = |prefix: &str| {
            t.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string)
        };
        if let Some(ps) = inner("decimal(") {
            let (p, s) = ps.split_once(',').unwrap_or((&ps, "0"));
            format!(
                r#"Type="Edm.Decimal" Precision="{}" Scale="{}""#,
                p.trim(),
                s.trim()
            )
        } else if let Some(n) = inner("varchar(").or_else(|| inner("char(")) {
            format!(r#"Type="Edm.String" MaxLength="{}""#, n.trim())
        } else if t == "int" {
            r#"Type="Edm.Int32""#.into()
        } else if t == "datetime" {
            r#"Type="Edm.DateTimeOffset" Precision="0""#.into()
        } else {
            r#"Type="Edm.String""#.into()
        }
    }

    /// The JSON of an extra column's value: a number for numeric types, else a string.
    pub(crate) fn extra_json(e: &ExtraColumn) -> serde_json::Value {
        let t = e.sql_type.trim().to_ascii_lowercase();
        if (t.starts_with("decimal") || t == "int")
            && let Ok(n) = e.value.trim().parse::<serde_json::Number>()
        {
            return serde_json::Value::Number(n);
        }
        serde_json::Value::String(e.value.trim_end_matches(' ').to_string())
    }

    /// `+02:00`, or `Z` without an offset.
    pub(crate) fn datetime_suffix(&self) -> String {
        match self.datetime_offset_minutes {
            None | Some(0) => "Z".into(),
            Some(m) => format!(
                "{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
        }
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            user: "odata".into(),
            password: "odata-secret".into(),
            company: "EDU1".into(),
            page_cap: None,
            seed: 1,
            ap_invoice_rows: None,
            enet: EnetOptions::default(),
            site: SiteOptions::default(),
            companies: Vec::new(),
        }
    }
}

/// One HTTP request received on a SYSPRO endpoint (OData or e.net).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    /// `odata` or `enet`.
    pub api: String,
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    pub authorized: bool,
    /// Label of the injected fault (`status_503`, `too_many_requests`, `reset`, `truncated`, `slow`).
    pub fault: Option<String>,
    /// The company the request was addressed to (OData company segment, e.net Logon
    /// `CompanyId` or the session's company), as configured; `None` when it names none.
    #[serde(default)]
    pub company: Option<String>,
    /// HTTP status sent (0 when the connection was reset).
    pub status: u16,
}

pub(crate) struct Inner {
    pub opts: SimOptions,
    /// The default company first, then `opts.companies` in order.
    pub companies: Vec<Company>,
    /// Faults of every SYSPRO request, whichever company it addresses.
    pub faults: Faults,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub enet: Mutex<enet::EnetState>,
    /// Current page cap (starts as `opts.page_cap`; see [`Simulator::set_page_cap`]).
    pub page_cap: Mutex<Option<usize>>,
}

/// One company: its own database (syspro.md §3: one `SysproCompany{ID}` database per
/// company), faults and site variants.
pub(crate) struct Company {
    /// OData company segment and GL `Company` column.
    pub id: String,
    /// e.net Logon `CompanyId` (the default company's is `EnetOptions::company_id`).
    pub enet_id: String,
    pub enet_password: String,
    pub user: String,
    pub password: String,
    pub profile: CompanyProfile,
    seed: u64,
    initial_site: SiteOptions,
    pub state: RwLock<data::State>,
    /// Bumped on every data change; keys the sorted-result cache.
    pub version: AtomicU64,
    pub cache: Mutex<odata::Cache>,
    /// Faults of the requests addressed to this company only.
    pub faults: Faults,
    /// Current site variants (starts as the options').
    pub site: RwLock<SiteOptions>,
}

impl Company {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, data::State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, data::State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn site(&self) -> SiteOptions {
        self.site.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A further company's seed when none is given: the simulator's, mixed with the id (FNV-1a).
fn derived_seed(seed: u64, id: &str) -> u64 {
    id.to_ascii_uppercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
        ^ seed
}

/// The data of every company, in order. Further companies reuse some (Supplier, Invoice)
/// keys of the first (see `data::State::shareable_invoice_keys`).
fn generate_all(opts: &SimOptions) -> Vec<data::State> {
    let first = data::State::generate(
        opts.seed,
        &opts.company,
        CompanyProfile::Za,
        opts.ap_invoice_rows,
        Vec::new(),
    );
    let mut all = Vec::with_capacity(1 + opts.companies.len());
    for c in &opts.companies {
        let rows = c.ap_invoice_rows.unwrap_or(1_500);
        let shared = first.shareable_invoice_keys(rows / 10 + 1);
        all.push(data::State::generate(
            c.seed.unwrap_or_else(|| derived_seed(opts.seed, &c.id)),
            &c.id,
            c.profile,
            c.ap_invoice_rows,
            shared,
        ));
    }
    all.insert(0, first);
    all
}

/// Refuses options two companies could not be told apart by: a clear panic, as for any
/// other impossible test set-up.
fn check_companies(opts: &SimOptions) {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut add = |id: &str, what: &'static str| {
        assert!(
            !id.is_empty() && !id.contains('/') && id.trim() == id,
            "SimOptions: {what} '{id}' must be non-empty, without '/' or surrounding spaces"
        );
        if let Some((_, first)) = seen.iter().find(|(s, _)| s.eq_ignore_ascii_case(id)) {
            panic!(
                "SimOptions: company '{id}' is given twice (as {first} and as {what}); give each company its own id"
            );
        }
        seen.push((id.to_string(), what));
    };
    add(&opts.company, "SimOptions::company");
    if !opts.enet.company_id.eq_ignore_ascii_case(&opts.company) {
        add(&opts.enet.company_id, "EnetOptions::company_id");
    }
    for c in &opts.companies {
        add(&c.id, "CompanyOptions::id");
    }
}

/// The simulator: data, faults and request log. Cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

/// One company of a [`Simulator`] (see [`Simulator::company`]). Cheap to clone.
#[derive(Clone)]
pub struct SimCompany {
    sim: Simulator,
    idx: usize,
}

impl Simulator {
    pub fn new(opts: SimOptions) -> Self {
        check_companies(&opts);
        let mut states = generate_all(&opts).into_iter();
        let mut companies = Vec::with_capacity(1 + opts.companies.len());
        companies.push(Company {
            id: opts.company.clone(),
            enet_id: opts.enet.company_id.clone(),
            enet_password: opts.enet.company_password.clone(),
            user: opts.user.clone(),
            password: opts.password.clone(),
            profile: CompanyProfile::Za,
            seed: opts.seed,
            initial_site: opts.site.clone(),
            state: RwLock::new(states.next().expect("first company")),
            version: AtomicU64::new(1),
            cache: Mutex::new(odata::Cache::default()),
            faults: Faults::new(opts.seed ^ 0xC0),
            site: RwLock::new(opts.site.clone()),
        });
        for c in &opts.companies {
            let seed = c.seed.unwrap_or_else(|| derived_seed(opts.seed, &c.id));
            companies.push(Company {
                id: c.id.clone(),
                enet_id: c.id.clone(),
                enet_password: c.company_password.clone(),
                user: c.user.clone().unwrap_or_else(|| opts.user.clone()),
                password: c.password.clone().unwrap_or_else(|| opts.password.clone()),
                profile: c.profile,
                seed,
                initial_site: c.site.clone(),
                state: RwLock::new(states.next().expect("company")),
                version: AtomicU64::new(1),
                cache: Mutex::new(odata::Cache::default()),
                faults: Faults::new(seed ^ 0xC0),
                site: RwLock::new(c.site.clone()),
            });
        }
        let faults = Faults::new(opts.seed);
        let enet = enet::EnetState::new(opts.seed);
        let opts_page_cap = opts.page_cap;
        Simulator {
            inner: Arc::new(Inner {
                opts,
                companies,
                faults,
                requests: Mutex::new(Vec::new()),
                enet: Mutex::new(enet),
                page_cap: Mutex::new(opts_page_cap),
            }),
        }
    }

    pub fn options(&self) -> &SimOptions {
        &self.inner.opts
    }

    /// Serve OData, e.net and `/_sim/` on `listen` (e.g. `127.0.0.1:0`).
    pub async fn start(&self, listen: &str) -> std::io::Result<SimServer> {
        http::start(self.clone(), listen).await
    }

    /// The 13 tables, in a fixed order.
    pub fn table_names() -> &'static [&'static str] {
        schema::TABLE_NAMES
    }

    /// Every company, the default one first.
    pub fn companies(&self) -> Vec<SimCompany> {
        (0..self.inner.companies.len())
            .map(|idx| SimCompany {
                sim: self.clone(),
                idx,
            })
            .collect()
    }

    /// The company with this OData id or e.net CompanyId (case-insensitive).
    pub fn company(&self, id: &str) -> Option<SimCompany> {
        self.company_index(id).map(|idx| SimCompany {
            sim: self.clone(),
            idx,
        })
    }

    /// The default company (the one the methods below without a company act on).
    pub fn default_company(&self) -> SimCompany {
        SimCompany {
            sim: self.clone(),
            idx: 0,
        }
    }

    pub(crate) fn company_index(&self, id: &str) -> Option<usize> {
        self.inner
            .companies
            .iter()
            .position(|c| c.id.eq_ignore_ascii_case(id) || c.enet_id.eq_ignore_ascii_case(id))
    }

    pub(crate) fn co(&self, idx: usize) -> &Company {
        &self.inner.companies[idx]
    }

    /// Current truth for `table` of the default company, normalised as ml-connector must
    /// output it: keys in `$metadata` column order; strings right-trimmed; decimals as JSON
    /// numbers with the exact text SYSPRO sends (`1234.50`); date-times as
    /// `2026-11-03T00:00:00` (zone suffix removed, not shifted); nulls as null.
    /// Ordered by key. Unknown table: empty.
    pub fn expected_records(&self, table: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.default_company().expected_records(table)
    }

    /// A slice (in key order) of [`Simulator::expected_records`]; cheaper for
    /// 1,000,000-row tables, where the full list of JSON maps is large (~2 KB a row).
    pub fn expected_records_range(
        &self,
        table: &str,
        offset: usize,
        limit: usize,
    ) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.default_company()
            .expected_records_range(table, offset, limit)
    }

    /// Number of rows currently in `table` of the default company.
    pub fn row_count(&self, table: &str) -> usize {
        self.default_company().row_count(table)
    }

    /// Change server-driven paging at run time (`None`: no cap), for every company.
    pub fn set_page_cap(&self, cap: Option<usize>) {
        *self
            .inner
            .page_cap
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = cap;
    }

    /// The site variants in force in the default company.
    pub fn site(&self) -> SiteOptions {
        self.co(0).site()
    }

    /// Changes the default company's site variants at run time (see [`SiteOptions`]).
    pub fn set_site(&self, site: SiteOptions) {
        self.default_company().set_site(site);
    }

    pub fn page_cap(&self) -> Option<usize> {
        *self
            .inner
            .page_cap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the initial state: data of every company regenerated from the seed, business
    /// date 2026-11-20, faults cleared (counters reset), request log and e.net sessions
    /// emptied, page cap and site variants as in the options.
    pub fn reset(&self) {
        let o = &self.inner.opts;
        for (c, fresh) in self.inner.companies.iter().zip(generate_all(o)) {
            {
                let mut st = c.write();
                *st = fresh;
                c.bump();
            }
            c.faults.clear();
            c.faults.reset_counters();
            c.faults.reseed(c.seed ^ 0xC0);
            *c.site.write().unwrap_or_else(|e| e.into_inner()) = c.initial_site.clone();
            c.bump();
        }
        self.inner.faults.clear();
        self.inner.faults.reset_counters();
        self.inner.faults.reseed(o.seed);
        self.clear_requests();
        *self.inner.enet.lock().unwrap_or_else(|e| e.into_inner()) = enet::EnetState::new(o.seed);
        self.set_page_cap(o.page_cap);
    }

    /// Moves the business date of every company (one calendar for the group).
    pub fn advance_days(&self, days: u32) {
        for c in &self.inner.companies {
            let mut st = c.write();
            st.advance(days);
            // bump under the write lock: readers never pair new data with an old cursor
            c.bump();
        }
    }

    pub fn business_date(&self) -> chrono::NaiveDate {
        self.co(0).read().date
    }

    /// [`MutationPlan`] on the default company.
    pub fn mutate(&self, plan: &MutationPlan) -> MutationReport {
        self.default_company().mutate(plan)
    }

    /// One business day of SYSPRO activity in the default company at the current business
    /// date (see [`BusinessDayPlan`]): rows of any age change without their watermark date
    /// moving, rows are inserted today and back-dated beyond any overlap window, rows are
    /// hard-deleted. Does not advance the date ([`Simulator::advance_days`] does).
    /// Deterministic under the seed.
    pub fn business_day(&self, plan: &BusinessDayPlan) -> MutationReport {
        self.default_company().business_day(plan)
    }

    /// Faults of every SYSPRO request, whichever company it addresses (a company's own:
    /// [`SimCompany::faults`]).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear_requests(&self) {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// e.net session counters (phase 2).
    pub fn enet_counters(&self) -> EnetCounters {
        self.inner
            .enet
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counters(&self.inner.opts.enet)
    }

    pub(crate) fn record(&self, r: RequestRecord) {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }
}

impl SimCompany {
    fn co(&self) -> &Company {
        self.sim.co(self.idx)
    }

    /// The OData company segment (and GL `Company` column).
    pub fn id(&self) -> &str {
        &self.co().id
    }

    /// The e.net Logon `CompanyId`.
    pub fn enet_company_id(&self) -> &str {
        &self.co().enet_id
    }

    pub fn profile(&self) -> CompanyProfile {
        self.co().profile
    }

    /// The local currency (`ZAR`, `GBP`).
    pub fn currency(&self) -> &'static str {
        self.co().profile.currency()
    }

    /// The data seed.
    pub fn seed(&self) -> u64 {
        self.co().seed
    }

    /// Current truth for `table` of this company (see [`Simulator::expected_records`]).
    pub fn expected_records(&self, table: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        self.expected_records_range(table, 0, usize::MAX)
    }

    /// A slice (in key order) of [`SimCompany::expected_records`].
    pub fn expected_records_range(
        &self,
        table: &str,
        offset: usize,
        limit: usize,
    ) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let Some(t) = schema::table_index(table) else {
            return Vec::new();
        };
        let co = self.co();
        let extras: Vec<ExtraColumn> = co.site().extras(table).into_iter().cloned().collect();
        let st = co.read();
        let tb = &st.tables[t];
        tb.key_order()
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| with_extras(tb.expected_row(r), &extras))
            .collect()
    }

    /// Number of rows currently in `table`.
    pub fn row_count(&self, table: &str) -> usize {
        schema::table_index(table)
            .map(|t| self.co().read().tables[t].len())
            .unwrap_or(0)
    }

    pub fn business_date(&self) -> chrono::NaiveDate {
        self.co().read().date
    }

    /// [`MutationPlan`] on this company only.
    pub fn mutate(&self, plan: &MutationPlan) -> MutationReport {
        let co = self.co();
        let mut st = co.write();
        let r = st.mutate(plan);
        co.bump();
        r
    }

    /// One business day in this company only (see [`Simulator::business_day`]).
    pub fn business_day(&self, plan: &BusinessDayPlan) -> MutationReport {
        let co = self.co();
        let mut st = co.write();
        let r = st.business_day(plan);
        co.bump();
        r
    }

    /// Faults of the requests addressed to this company only (served after
    /// [`Simulator::faults`], which apply to every company).
    pub fn faults(&self) -> &Faults {
        &self.co().faults
    }

    /// Its site variants in force.
    pub fn site(&self) -> SiteOptions {
        self.co().site()
    }

    /// Changes its site variants at run time.
    pub fn set_site(&self, site: SiteOptions) {
        let co = self.co();
        *co.site.write().unwrap_or_else(|e| e.into_inner()) = site;
        co.bump();
    }
}

fn with_extras(
    mut row: serde_json::Map<String, serde_json::Value>,
    extras: &[ExtraColumn],
) -> serde_json::Map<String, serde_json::Value> {
    for e in extras {
        row.insert(e.name.clone(), SiteOptions::extra_json(e));
    }
    row
}

/// A running server. [`SimServer::stop`] shuts it down and waits; dropping the
/// handle also shuts it down (without waiting), so keep it alive while in use.
pub struct SimServer {
    pub addr: SocketAddr,
    company: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    /// `http://127.0.0.1:port`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `{base}/SYSPRO8Odata/SYSPROOData/{company}` of the default company (syspro.md §1.2,
    /// UNCONFIRMED path).
    pub fn odata_url(&self) -> String {
        self.odata_url_for(&self.company)
    }
    /// `{base}/SYSPRO8Odata/SYSPROOData/{company}` of any company.
    pub fn odata_url_for(&self, company: &str) -> String {
        format!("{}{}/{}", self.base_url(), odata::PREFIX, company)
    }
    /// `{base}/SYSPROWCFService/Rest` (syspro.md §2.1).
    pub fn enet_url(&self) -> String {
        format!("{}{}", self.base_url(), enet::PREFIX)
    }
    /// Stop accepting and close connections.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
