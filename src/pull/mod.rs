//! The pull engine: one call returns one page of a table's rows (or keys, digests, the open
//! items, the rows of given keys), plus a signed cursor for the next. Shared by the external
//! function, the `pull` command and push mode.
//!
//! - [`company`]: which company and table a `table` argument names (`UK1.ApInvoice`);
//! - [`request`]: what a call asked for once checked ([`PreparedPull`]), or the [`BadRequest`];
//! - [`prepare`]: the checks, before any I/O; [`run`]: one page within a byte budget;
//! - [`page`]: the page contract — [`Page`], and the one rule for where the next page starts
//!   and whether there is one, which pulls, key runs, [`readahead`] and [`reconcile`] page by;
//! - [`values`]: every value Snowflake receives, the error row included;
//! - [`cursor`]: signed cursors carrying a SYSPRO [`Position`]; [`keyset`]: `SYSPRO_PULL_KEYS`'s keys.

pub mod company;
pub mod cursor;
mod engine;
pub mod keyset;
pub mod page;
mod prepare;
pub mod readahead;
pub mod reconcile;
pub mod request;
mod run;
pub mod values;

pub use crate::syspro::{Paging, Position, Rows};
pub use company::{Resolved, qualified_name};
pub use cursor::{CursorError, CursorFunction, CursorSigner, CursorState};
pub use engine::{Company, CompanySource, Puller};
pub use keyset::KeySet;
pub use page::{Follows, Page, PullFailure, follows, position_after};
pub use reconcile::{Figures, PreparedReconcile};
pub use request::{BadRequest, Mode, PreparedPull};
