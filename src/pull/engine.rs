//! The [`Puller`]: the catalog, the SYSPRO source and the cursor signer every call shares, and
//! the one limit on SYSPRO requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cursor::CursorSigner;
use super::readahead::ReadAhead;
use super::request::BadRequest;
use crate::catalog::{Catalog, TableDef};
use crate::retry::UpstreamError;
use crate::syspro::{FetchRequest, Observer, Paging, Source, SourcePage};

/// The engine, shared by every caller.
pub struct Puller {
    pub(super) catalog: Arc<Catalog>,
    pub(super) source: Arc<Source>,
    pub(super) signer: CursorSigner,
    pub(super) page_rows: usize,
    pub(super) paging: Paging,
    /// Bounds SYSPRO requests in flight across every caller: SYSPRO is a production ERP.
    limiter: Arc<tokio::sync::Semaphore>,
    pub(super) ahead: Option<Arc<ReadAhead>>,
    pub(super) max_query_bytes: usize,
    /// The most rows SYSPRO was seen to answer without a next link when more followed (its
    /// silent page cap); `usize::MAX` until one is seen. Pages ask for no more than this.
    pub(super) server_cap: AtomicUsize,
}

impl Puller {
    pub fn new(
        catalog: Arc<Catalog>,
        source: Arc<Source>,
        signer: CursorSigner,
        page_rows: usize,
        paging: Paging,
        max_concurrency: usize,
    ) -> Self {
        Puller {
            catalog,
            source,
            signer,
            page_rows,
            paging,
            limiter: Arc::new(tokio::sync::Semaphore::new(max_concurrency.max(1))),
            ahead: None,
            max_query_bytes: 2048,
            server_cap: AtomicUsize::new(usize::MAX),
        }
    }

    /// The longest query string a SYSPRO request may carry (`syspro.max_query_bytes`).
    pub fn with_max_query_bytes(mut self, bytes: usize) -> Self {
        self.max_query_bytes = bytes;
        self
    }

    /// Reads pulls' next pages ahead of their callers (see [`super::readahead`]).
    pub fn with_read_ahead(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.ahead = Some(ReadAhead::new(
            self.source.clone(),
            self.limiter.clone(),
            metrics,
        ));
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn page_rows(&self) -> usize {
        self.page_rows
    }

    /// Rows a page asks for: `page_rows`, or the server's silent page cap once one was seen.
    pub fn effective_page_rows(&self) -> usize {
        self.page_rows
            .min(self.server_cap.load(Ordering::Relaxed).max(1))
    }

    /// The silent page cap learned from SYSPRO's answers, if any.
    pub fn learned_page_cap(&self) -> Option<usize> {
        Some(self.server_cap.load(Ordering::Relaxed)).filter(|&c| c != usize::MAX)
    }

    /// One SYSPRO read under the engine's concurrency limit.
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

    /// The catalog's table, or a 400 that lists the known ones.
    pub fn table(&self, name: &str) -> Result<TableDef, BadRequest> {
        Ok(self.catalog.get(name)?.clone())
    }
}
