//! Checking a call before any I/O: the table resolved to its company ([`super::company`]), every
//! argument against the catalog, the cursor against its signature, table (with its company),
//! binding, function and age.

use std::sync::Arc;

use serde_json::Value;

use super::company::Resolved;
use super::cursor::{CursorFunction, CursorState};
use super::engine::Puller;
use super::keyset::KeySet;
use super::request::{BadRequest, Mode, PreparedPull, range_binding};
use crate::watermark::{Since, Until};

/// A text argument SQL passed as NULL or blank.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|s| !s.is_empty())
}

impl Puller {
    /// Checks a `SYSPRO_PULL(table, since, cursor)` call.
    pub fn prepare_pull(
        &self,
        table: &str,
        since: Option<&str>,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let r = self.resolve(table)?;
        let since = match given(since) {
            None => None,
            Some(_) if r.table.watermark_column.is_none() => {
                return Err(BadRequest::SinceOnWholeTable { table: r.name });
            }
            Some(text) => Some(Since::parse(text)?),
        };
        let state = self.verify_cursor(
            cursor,
            &r.name,
            since.map(|s| s.canonical()).as_deref(),
            CursorFunction::Pull,
            now,
        )?;
        Ok(PreparedPull {
            company: r.company.id().to_string(),
            name: r.name,
            table: r.table,
            since,
            until: None,
            keys_only: false,
            mode: Mode::Rows,
            state,
        })
    }

    /// Checks a `SYSPRO_PULL_OPEN(table, cursor)` call.
    pub fn prepare_open(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let r = self.resolve(table)?;
        if r.table.open_items.is_none() {
            return Err(BadRequest::NoOpenItems {
                table: r.table.name,
            });
        }
        self.whole_table(r, Mode::Open, None, cursor, now)
    }

    /// Checks a `SYSPRO_DIGESTS(table, cursor)` call.
    pub fn prepare_digests(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.resolve(table)?, Mode::Digests, None, cursor, now)
    }

    /// Checks a `SYSPRO_PULL_KEYS(table, keys, cursor)` call: every key, before any SYSPRO read.
    pub fn prepare_pull_keys(
        &self,
        table: &str,
        keys: &Value,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let r = self.resolve(table)?;
        let set = KeySet::parse(&r.table, keys).map_err(BadRequest::Keys)?;
        let binding = set.binding.clone();
        self.whole_table(r, Mode::ByKeys(Arc::new(set)), Some(&binding), cursor, now)
    }

    /// Checks a `SYSPRO_KEYS(table, cursor)` call.
    pub fn prepare_keys(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.resolve(table)?, Mode::Keys, None, cursor, now)
    }

    /// A read with no watermark bounds, its cursor checked against `mode`'s function and
    /// `binding`. Everything but the open items is read in key order.
    fn whole_table(
        &self,
        r: Resolved<'_>,
        mode: Mode,
        binding: Option<&str>,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let state = self.verify_cursor(cursor, &r.name, binding, mode.cursor_function(), now)?;
        Ok(PreparedPull {
            company: r.company.id().to_string(),
            name: r.name,
            table: r.table,
            since: None,
            until: None,
            keys_only: !matches!(mode, Mode::Open | Mode::Rows),
            mode,
            state,
        })
    }

    /// Checks a `SYSPRO_PULL_RANGE(table, since, until, cursor)` call: rows with
    /// `since <= watermark < until`, so that disjoint ranges can be pulled concurrently.
    pub fn prepare_pull_range(
        &self,
        table: &str,
        since: Option<&str>,
        until: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let r = self.resolve(table)?;
        if r.table.watermark_column.is_none() {
            return Err(BadRequest::RangeOnWholeTable { table: r.name });
        }
        let since = given(since).map(Since::parse).transpose()?;
        let until = Until::parse(until)?;
        if let Some(since) = since.filter(|s| until.is_not_after(*s)) {
            return Err(BadRequest::EmptyRange {
                since: since.canonical(),
                until: until.canonical(),
            });
        }
        let binding = range_binding(since, Some(until));
        let state = self.verify_cursor(
            cursor,
            &r.name,
            binding.as_deref(),
            CursorFunction::Pull,
            now,
        )?;
        Ok(PreparedPull {
            company: r.company.id().to_string(),
            name: r.name,
            table: r.table,
            since,
            until: Some(until),
            keys_only: false,
            mode: Mode::Rows,
            state,
        })
    }

    /// A cursor is bound to the canonical qualified name, so to its company too.
    fn verify_cursor(
        &self,
        cursor: Option<&str>,
        name: &str,
        binding: Option<&str>,
        function: CursorFunction,
        now: i64,
    ) -> Result<Option<CursorState>, BadRequest> {
        match given(cursor) {
            None => Ok(None),
            Some(c) => Ok(Some(self.signer.verify(c, name, binding, function, now)?)),
        }
    }
}
