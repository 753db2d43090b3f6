//! mlc-simulator: a stand-in for SYSPRO 8 for ml-connector's tests, benchmarks
//! and demo. It serves
//! - the SYSPRO OData v4 service (syspro.md §1) at
//!   `/SYSPRO8Odata/SYSPROOData/{company}` (path UNCONFIRMED, syspro.md §1.2),
//! - e.net REST (syspro.md §2) at `/SYSPROWCFService/Rest/`,
//! - a control API at `/_sim/` (no auth, no faults).
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

pub use data::{BusinessDayPlan, MutationPlan, MutationReport, TableMutations};
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
    /// HTTP status sent (0 when the connection was reset).
    pub status: u16,
}

pub(crate) struct Inner {
    pub opts: SimOptions,
    pub state: RwLock<data::State>,
    pub faults: Faults,
    pub requests: Mutex<Vec<RequestRecord>>,
    /// Bumped on every data change; keys the sorted-result cache.
    pub version: AtomicU64,
    pub cache: Mutex<odata::Cache>,
    pub enet: Mutex<enet::EnetState>,
    /// Current page cap (starts as `opts.page_cap`; see [`Simulator::set_page_cap`]).
    pub page_cap: Mutex<Option<usize>>,
}

/// The simulator: data, faults and request log. Cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

impl Simulator {
    pub fn new(opts: SimOptions) -> Self {
        let state = data::State::generate(opts.seed, &opts.company, opts.ap_invoice_rows);
        let faults = Faults::new(opts.seed);
        let enet = enet::EnetState::new(opts.seed);
        let opts_page_cap = opts.page_cap;
        Simulator {
            inner: Arc::new(Inner {
                opts,
                state: RwLock::new(state),
                faults,
                requests: Mutex::new(Vec::new()),
                version: AtomicU64::new(1),
                cache: Mutex::new(odata::Cache::default()),
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

    /// Current truth for `table`, normalised as ml-connector must output it:
    /// keys in `$metadata` column order; strings right-trimmed; decimals as JSON
    /// numbers with the exact text SYSPRO sends (`1234.50`); date-times as
    /// `2026-11-03T00:00:00` (zone suffix removed, not shifted); nulls as null.
    /// Ordered by key. Unknown table: empty.
    pub fn expected_records(&self, table: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let Some(t) = schema::table_index(table) else {
            return Vec::new();
        };
        let st = self.read();
        let tb = &st.tables[t];
        tb.key_order()
            .into_iter()
            .map(|r| tb.expected_row(r))
            .collect()
    }

    /// A slice (in key order) of [`Simulator::expected_records`]; cheaper for
    /// 1,000,000-row tables, where the full list of JSON maps is large (~2 KB a row).
    pub fn expected_records_range(
        &self,
        table: &str,
        offset: usize,
        limit: usize,
    ) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let Some(t) = schema::table_index(table) else {
            return Vec::new();
        };
        let st = self.read();
        let tb = &st.tables[t];
        tb.key_order()
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| tb.expected_row(r))
            .collect()
    }

    /// Number of rows currently in `table`.
    pub fn row_count(&self, table: &str) -> usize {
        schema::table_index(table)
            .map(|t| self.read().tables[t].len())
            .unwrap_or(0)
    }

    /// Change server-driven paging at run time (`None`: no cap).
    pub fn set_page_cap(&self, cap: Option<usize>) {
        *self
            .inner
            .page_cap
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = cap;
    }

    pub fn page_cap(&self) -> Option<usize> {
        *self
            .inner
            .page_cap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the initial state: data regenerated from the seed, business date
    /// 2026-11-20, faults cleared (counters reset), request log and e.net sessions
    /// emptied, page cap as in the options.
    pub fn reset(&self) {
        let o = &self.inner.opts;
        let fresh = data::State::generate(o.seed, &o.company, o.ap_invoice_rows);
        {
            let mut st = self.write();
            *st = fresh;
            self.bump();
        }
        self.inner.faults.clear();
        self.inner.faults.reset_counters();
        self.inner.faults.reseed(o.seed);
        self.clear_requests();
        *self.inner.enet.lock().unwrap_or_else(|e| e.into_inner()) = enet::EnetState::new(o.seed);
        self.set_page_cap(o.page_cap);
    }

    pub fn advance_days(&self, days: u32) {
        let mut st = self.write();
        st.advance(days);
        // bump under the write lock: readers never pair new data with an old cursor
        self.bump();
    }

    pub fn business_date(&self) -> chrono::NaiveDate {
        self.read().date
    }

    pub fn mutate(&self, plan: &MutationPlan) -> MutationReport {
        let mut st = self.write();
        let r = st.mutate(plan);
        self.bump();
        r
    }

    /// One business day of SYSPRO activity at the current business date (see
    /// [`BusinessDayPlan`]): rows of any age change without their watermark date moving,
    /// rows are inserted today and back-dated beyond any overlap window, rows are hard-deleted.
    /// Does not advance the date ([`Simulator::advance_days`] does). Deterministic under the seed.
    pub fn business_day(&self, plan: &BusinessDayPlan) -> MutationReport {
        let mut st = self.write();
        let r = st.business_day(plan);
        self.bump();
        r
    }

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

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, data::State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, data::State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.inner.version.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn record(&self, r: RequestRecord) {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
    }
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
    /// `{base}/SYSPRO8Odata/SYSPROOData/{company}` (syspro.md §1.2, UNCONFIRMED path).
    pub fn odata_url(&self) -> String {
        format!("{}{}/{}", self.base_url(), odata::PREFIX, self.company)
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
