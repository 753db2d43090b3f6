//! Push mode end to end: the SQL API client and the sync engine against the SQL API stand-in
//! (tests/sqlapi/server.py on fakesnow; run tests/sqlapi/setup.sh first) and the SYSPRO
//! simulator; key-pair JWT with keys made by OpenSSL at test time.

// the sync cycle's futures, nested in the tests', are deeper than the default allows
#![recursion_limit = "256"]

mod check;
mod cli;
mod client;
mod companies;
mod harness;
mod jwt;
mod sync;
