//! Prometheus metrics, recorded per batch and per SYSPRO request, never per row.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::retry::{AttemptError, RetryObserver};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
    /// The SYSPRO company (`""` for a single-company deployment).
    pub company: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
    /// The SYSPRO company (`""` for a single-company deployment).
    pub company: String,
}

/// All metrics of the process; cheap to clone. A company's SYSPRO client records through
/// [`Metrics::for_company`], so its latency and retries are told from another company's.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
    company: Arc<str>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rows: Family<TableLabels, Counter>,
    syspro_latency: Family<OperationLabels, Histogram>,
    retries: Family<ReasonLabels, Counter>,
    batch_cache_hits: Counter,
    prefetches: Family<OutcomeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mlc");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "extfn_requests",
            "External-function requests answered, by endpoint and HTTP status",
            requests.clone(),
        );
        let rows = Family::<TableLabels, Counter>::default();
        registry.register(
            "rows_returned",
            "SYSPRO rows returned to callers, by table",
            rows.clone(),
        );
        let syspro_latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register(
            "syspro_request_duration_seconds",
            "Latency of single SYSPRO HTTP requests, by operation and company",
            syspro_latency.clone(),
        );
        let retries = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "syspro_retries",
            "SYSPRO requests retried, by reason and company",
            retries.clone(),
        );
        let batch_cache_hits = Counter::default();
        registry.register(
            "batch_cache_hits",
            "Batches answered from the batch cache (Snowflake retries)",
            batch_cache_hits.clone(),
        );
        let prefetches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "syspro_prefetches",
            "Next pages read ahead of the call for them, by outcome: started, used, failed (read again by the call), skipped (SYSPRO's concurrency limit or the pages held were at their bound), deferred (too far ahead of the caller: started when the caller catches up)",
            prefetches.clone(),
        );
        Metrics {
            company: Arc::from(""),
            inner: Arc::new(Inner {
                registry,
                requests,
                rows,
                syspro_latency,
                retries,
                batch_cache_hits,
                prefetches,
            }),
        }
    }

    /// The same metrics, recording SYSPRO requests as company `id`'s.
    pub fn for_company(&self, id: &str) -> Metrics {
        Metrics {
            inner: self.inner.clone(),
            company: Arc::from(id),
        }
    }

    pub fn request(&self, endpoint: &str, status: u16) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                status,
            })
            .inc();
    }

    pub fn rows(&self, table: &str, n: u64) {
        self.inner
            .rows
            .get_or_create(&TableLabels {
                table: table.to_string(),
            })
            .inc_by(n);
    }

    pub fn syspro_latency(&self, operation: &str, d: Duration) {
        self.inner
            .syspro_latency
            .get_or_create(&OperationLabels {
                operation: operation.to_string(),
                company: self.company.to_string(),
            })
            .observe(d.as_secs_f64());
    }

    pub fn batch_cache_hit(&self) {
        self.inner.batch_cache_hits.inc();
    }

    pub fn prefetch(&self, outcome: &str) {
        self.inner
            .prefetches
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl RetryObserver for Metrics {
    fn on_retry(&self, what: &str, error: &AttemptError, attempt: u32, wait: Duration) {
        self.inner
            .retries
            .get_or_create(&ReasonLabels {
                reason: error.reason.to_string(),
                company: self.company.to_string(),
            })
            .inc();
        tracing::warn!(
            message = "Retrying SYSPRO request.",
            what,
            error = %error.message,
            reason = error.reason,
            attempt,
            wait_ms = wait.as_millis() as u64
        );
    }
}
