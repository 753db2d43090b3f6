//! API BOUNDARY: Snowflake's external-function protocol. The only module with HTTP handlers;
//! it turns batches into calls of the pull engine and results back into batches.

pub mod envelope;
pub mod handlers;
