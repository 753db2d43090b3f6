//! Fault injection for SYSPRO endpoints (never `/_sim/*`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A fault served instead of (or around) a normal answer.
///
/// JSON form (internally tagged): `{"kind":"status","code":503}`,
/// `{"kind":"too_many_requests","retry_after_secs":2}`, `{"kind":"reset"}`,
/// `{"kind":"truncated"}`, `{"kind":"slow","millis":1500}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FaultRepr", into = "FaultRepr")]
pub enum FaultKind {
    /// That HTTP status (e.g. 500, 503) with an OData error JSON body.
    Status(u16),
    /// 429 with `Retry-After: retry_after_secs`.
    TooManyRequests { retry_after_secs: u64 },
    /// The connection is closed (RST) after the request is read, with no response.
    Reset,
    /// 200 whose body is cut off: `Content-Length` is the full size, half is sent, then close.
    Truncated,
    /// The normal answer after a delay.
    Slow { millis: u64 },
}

impl FaultKind {
    pub fn label(&self) -> String {
        match self {
            FaultKind::Status(c) => format!("status_{c}"),
            FaultKind::TooManyRequests { .. } => "too_many_requests".into(),
            FaultKind::Reset => "reset".into(),
            FaultKind::Truncated => "truncated".into(),
            FaultKind::Slow { .. } => "slow".into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FaultRepr {
    Status {
        code: u16,
    },
    TooManyRequests {
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    Reset,
    Truncated,
    Slow {
        millis: u64,
    },
}

fn one() -> u64 {
    1
}

impl From<FaultRepr> for FaultKind {
    fn from(r: FaultRepr) -> Self {
        match r {
            FaultRepr::Status { code } => FaultKind::Status(code),
            FaultRepr::TooManyRequests { retry_after_secs } => {
                FaultKind::TooManyRequests { retry_after_secs }
            }
            FaultRepr::Reset => FaultKind::Reset,
            FaultRepr::Truncated => FaultKind::Truncated,
            FaultRepr::Slow { millis } => FaultKind::Slow { millis },
        }
    }
}

impl From<FaultKind> for FaultRepr {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::Status(code) => FaultRepr::Status { code },
            FaultKind::TooManyRequests { retry_after_secs } => {
                FaultRepr::TooManyRequests { retry_after_secs }
            }
            FaultKind::Reset => FaultRepr::Reset,
            FaultKind::Truncated => FaultRepr::Truncated,
            FaultKind::Slow { millis } => FaultRepr::Slow { millis },
        }
    }
}

/// Counters since start (not reset by `clear`; see [`Faults::reset_counters`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultCounters {
    /// SYSPRO requests that passed through fault selection.
    pub considered: u64,
    /// Faults served.
    pub injected: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub queued: usize,
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
}

/// The body of `POST /_sim/faults`: any combination of the fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultsControl {
    pub clear: bool,
    pub rate: Option<f64>,
    pub kinds: Option<Vec<FaultKind>>,
    pub push: Vec<FaultKind>,
}

pub struct Faults {
    inner: Mutex<Inner>,
}

struct Inner {
    rate: f64,
    kinds: Vec<FaultKind>,
    queue: VecDeque<FaultKind>,
    rng: StdRng,
    counters: FaultCounters,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Faults {
            inner: Mutex::new(Inner {
                rate: 0.0,
                kinds: Vec::new(),
                queue: VecDeque::new(),
                rng: StdRng::seed_from_u64(seed ^ 0xFA01_7000),
                counters: FaultCounters::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Random faults: each SYSPRO request gets a fault with probability `rate`,
    /// the kind chosen uniformly from `kinds` (deterministic under the seed).
    pub fn set_rate(&self, rate: f64, kinds: Vec<FaultKind>) {
        let mut g = self.lock();
        g.rate = rate.clamp(0.0, 1.0);
        g.kinds = kinds;
    }

    /// Queue a fault for the next SYSPRO request (served in order, before random ones).
    pub fn push(&self, kind: FaultKind) {
        self.lock().queue.push_back(kind);
    }

    /// Remove the random rate and the queue.
    pub fn clear(&self) {
        let mut g = self.lock();
        g.rate = 0.0;
        g.kinds.clear();
        g.queue.clear();
    }

    pub(crate) fn reseed(&self, seed: u64) {
        self.lock().rng = StdRng::seed_from_u64(seed ^ 0xFA01_7000);
    }

    pub fn reset_counters(&self) {
        self.lock().counters = FaultCounters::default();
    }

    pub fn counters(&self) -> FaultCounters {
        let g = self.lock();
        let mut c = g.counters.clone();
        c.queued = g.queue.len();
        c.rate = g.rate;
        c.kinds = g.kinds.clone();
        c
    }

    pub fn apply(&self, ctl: FaultsControl) {
        if ctl.clear {
            self.clear();
        }
        if ctl.rate.is_some() || ctl.kinds.is_some() {
            let cur = self.counters();
            self.set_rate(ctl.rate.unwrap_or(cur.rate), ctl.kinds.unwrap_or(cur.kinds));
        }
        for k in ctl.push {
            self.push(k);
        }
    }

    /// Choose the fault for one request.
    pub(crate) fn next(&self) -> Option<FaultKind> {
        let mut g = self.lock();
        g.counters.considered += 1;
        let f = if let Some(f) = g.queue.pop_front() {
            Some(f)
        } else if g.rate > 0.0 && !g.kinds.is_empty() {
            let rate = g.rate;
            if g.rng.gen_bool(rate) {
                let n = g.kinds.len();
                let i = g.rng.gen_range(0..n);
                Some(g.kinds[i].clone())
            } else {
                None
            }
        } else {
            None
        };
        if let Some(f) = &f {
            g.counters.injected += 1;
            *g.counters.by_kind.entry(f.label()).or_default() += 1;
        }
        f
    }
}
