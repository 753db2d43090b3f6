//! e.net REST (syspro.md §2). Phase 2.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::Simulator;
use crate::http::{Request, Response};

/// syspro.md §2.1: `http(s)://{host}:{restPort}/SYSPROWCFService/Rest`.
pub(crate) const PREFIX: &str = "/SYSPROWCFService/Rest";
/// Path case varies (`/rest` and `/Rest`, syspro.md §2.1); matched case-insensitively.
pub(crate) const PREFIX_MATCH: &str = "/SYSPROWCFService/";

/// How plain answers are wrapped (syspro.md §2.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnetWrapping {
    /// `ERROR: Invalid operator password`
    #[default]
    Bare,
    /// `"ERROR: Invalid operator password"`
    JsonQuoted,
    /// `<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">ERROR: ...</string>`
    XmlString,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnetCounters {
    pub logons: u64,
    pub failed_logons: u64,
    pub logoffs: u64,
    pub queries: u64,
    pub expired_sessions: u64,
    pub active_sessions: usize,
}

pub(crate) struct EnetState {
    #[allow(dead_code)]
    rng: StdRng,
    counters: EnetCounters,
}

impl EnetState {
    pub fn new(seed: u64) -> Self {
        EnetState {
            rng: StdRng::seed_from_u64(seed ^ 0xE7E7),
            counters: EnetCounters::default(),
        }
    }
    pub fn counters(&self, _opts: &crate::EnetOptions) -> EnetCounters {
        self.counters.clone()
    }
}

pub(crate) fn handle(_sim: &Simulator, _req: &Request) -> Response {
    Response::new(404).body(b"e.net simulator: not implemented yet".to_vec())
}
