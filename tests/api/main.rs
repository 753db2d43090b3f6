//! Drives the real service, on port 0, against the SYSPRO simulator, calling it as Snowflake does.

mod batches;
mod changes;
mod companies;
mod enet;
mod errors;
mod faults;
mod helpers;
mod prefetch;
mod pull;
mod reconcile;
mod secrets;
mod site;
