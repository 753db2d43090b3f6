//! The [`Puller`]: the catalog and the cursor signer every call shares, and one [`Company`] per
//! SYSPRO company the deployment reads — each with its own source (its own e.net session), its
//! own limit on SYSPRO requests in flight, its own learned page cap and its own read-ahead, so
//! that one slow or failing company never takes another's slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cursor::CursorSigner;
use super::readahead::ReadAhead;
use crate::catalog::Catalog;
use crate::retry::UpstreamError;
use crate::syspro::{FetchRequest, Observer, Paging, Source, SourcePage};

/// A company's SYSPRO source as the engine is built with it.
pub struct CompanySource {
    /// SYSPRO's company id, upper-cased; `""` for a single-company deployment.
    pub id: String,
    pub source: Arc<Source>,
    /// SYSPRO requests in flight at once for this company.
    pub max_concurrency: usize,
}

/// One SYSPRO company as the engine reads it.
pub struct Company {
    id: String,
    source: Arc<Source>,
    /// Bounds this company's SYSPRO requests in flight across every caller: SYSPRO is a
    /// production ERP. Per company, so a company that answers slowly holds only its own slots.
    limiter: Arc<tokio::sync::Semaphore>,
    pub(super) ahead: Option<Arc<ReadAhead>>,
    page_rows: usize,
    /// The most rows this company's SYSPRO was seen to answer without a next link when more
    /// followed (its silent page cap); `usize::MAX` until one is seen. Pages ask for no more.
    server_cap: AtomicUsize,
}

impl Company {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Rows a page asks for: `page_rows`, or the server's silent page cap once one was seen.
    pub fn effective_page_rows(&self) -> usize {
        self.page_rows
            .min(self.server_cap.load(Ordering::Relaxed).max(1))
    }

    /// The silent page cap learned from this company's answers, if any.
    pub fn learned_page_cap(&self) -> Option<usize> {
        Some(self.server_cap.load(Ordering::Relaxed)).filter(|&c| c != usize::MAX)
    }

    /// Lowers the page cap to `answered`; true when that is news.
    pub(super) fn lower_page_cap(&self, answered: usize) -> bool {
        answered < self.server_cap.fetch_min(answered, Ordering::Relaxed)
    }

    /// One SYSPRO read under this company's concurrency limit.
    pub async fn fetch_limited(
        &self,
        request: &FetchRequest<'_>,
    ) -> Result<SourcePage, UpstreamError> {
        self.fetch_limited_observed(request, None).await
    }

    pub(super) async fn fetch_limited_observed(
        &self,
        request: &FetchRequest<'_>,
        observer: Option<&Observer>,
    ) -> Result<SourcePage, UpstreamError> {
        let _permit = self
            .limiter
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.source.fetch(request, observer).await
    }
}

/// The engine, shared by every caller.
pub struct Puller {
    pub(super) catalog: Arc<Catalog>,
    pub(super) signer: CursorSigner,
    pub(super) page_rows: usize,
    pub(super) paging: Paging,
    pub(super) max_query_bytes: usize,
    /// In id order; exactly one, with id `""`, in a single-company deployment.
    companies: Vec<Company>,
}

impl Puller {
    /// The engine over `companies` (at least one; ids unique — `Settings::companies` checks both).
    pub fn new(
        catalog: Arc<Catalog>,
        signer: CursorSigner,
        page_rows: usize,
        paging: Paging,
        companies: Vec<CompanySource>,
    ) -> Self {
        assert!(!companies.is_empty(), "a puller reads at least one company");
        Puller {
            catalog,
            signer,
            page_rows,
            paging,
            max_query_bytes: 2048,
            companies: companies
                .into_iter()
                .map(|c| Company {
                    id: c.id,
                    source: c.source,
                    limiter: Arc::new(tokio::sync::Semaphore::new(c.max_concurrency.max(1))),
                    ahead: None,
                    page_rows,
                    server_cap: AtomicUsize::new(usize::MAX),
                })
                .collect(),
        }
    }

    /// The longest query string a SYSPRO request may carry (`syspro.max_query_bytes`).
    pub fn with_max_query_bytes(mut self, bytes: usize) -> Self {
        self.max_query_bytes = bytes;
        self
    }

    /// Reads pulls' next pages ahead of their callers (see [`super::readahead`]), each company
    /// within its own concurrency limit.
    pub fn with_read_ahead(mut self, metrics: crate::metrics::Metrics) -> Self {
        for c in &mut self.companies {
            c.ahead = Some(ReadAhead::new(
                c.source.clone(),
                c.limiter.clone(),
                metrics.clone(),
            ));
        }
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn page_rows(&self) -> usize {
        self.page_rows
    }

    /// Every company, in id order.
    pub fn companies(&self) -> &[Company] {
        &self.companies
    }

    /// The company with this id (exactly, as [`Puller::resolve`] gives it).
    pub fn company(&self, id: &str) -> Option<&Company> {
        self.companies.iter().find(|c| c.id == id)
    }

    /// The company a prepared call was resolved to: it came from this engine's companies.
    pub(super) fn company_of(&self, id: &str) -> &Company {
        self.company(id)
            .expect("calls are prepared against this engine's companies")
    }

    /// Several companies are configured: table names must be qualified.
    pub fn has_companies(&self) -> bool {
        !(self.companies.len() == 1 && self.companies[0].id.is_empty())
    }

    /// Logs every company's SYSPRO session off (e.net), so no licence is held after exit.
    pub async fn shutdown(&self) {
        futures_util::future::join_all(self.companies.iter().map(|c| c.source.shutdown())).await;
    }
}
