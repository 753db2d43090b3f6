//! Renders the Snowflake side (`sql/`) for a configuration: the setup script a user pastes into a
//! worksheet, and the named data-plane statements the procedures embed, for tests and push mode.
//!
//! The `sql/` files are templates with `{{name}}` placeholders and are compiled into the binary
//! (`text`). Every data-plane statement lives once, in `sql/60_statements/` (`statements`; the
//! statements that keep an external function's answer share one template); the procedures
//! (`procedures`) embed the same rendered text, so what the tests run on a local stand-in is what
//! runs inside Snowflake. `setup` orders the whole script; `views` and `tasks` render their
//! folders; `settings` is what it is all rendered for. The `:name` binds are read by
//! `crate::snowflake::binds`, where the SQL API needs them.

mod procedures;
mod settings;
mod setup;
mod statements;
mod tasks;
mod text;
mod vars;
mod views;

pub use settings::{ApiProvider, SqlGenError, SqlSettings, SqlTable, builtin_tables, validate};
pub use setup::render_setup;
pub use statements::render_statements;

#[cfg(test)]
mod guardrails;
#[cfg(test)]
mod tests;
