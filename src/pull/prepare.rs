//! Checking a call before any I/O: every argument against the catalog, the cursor against its
//! signature, table, binding, function and age.

use std::sync::Arc;

use serde_json::Value;

use super::cursor::{CursorFunction, CursorState};
use super::engine::Puller;
use super::keyset::KeySet;
use super::request::{BadRequest, Mode, PreparedPull, range_binding};
use crate::catalog::TableDef;
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
        let table = self.table(table)?;
        let since = match given(since) {
            None => None,
            Some(_) if table.watermark_column.is_none() => {
                return Err(BadRequest::SinceOnWholeTable { table: table.name });
            }
            Some(text) => Some(Since::parse(text)?),
        };
        let state = self.verify_cursor(
            cursor,
            &table,
            since.map(|s| s.canonical()).as_deref(),
            CursorFunction::Pull,
            now,
        )?;
        Ok(PreparedPull {
            table,
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
        let table = self.table(table)?;
        if table.open_items.is_none() {
            return Err(BadRequest::NoOpenItems { table: table.name });
        }
        self.whole_table(table, Mode::Open, None, cursor, now)
    }

    /// Checks a `SYSPRO_DIGESTS(table, cursor)` call.
    pub fn prepare_digests(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.table(table)?, Mode::Digests, None, cursor, now)
    }

    /// Checks a `SYSPRO_PULL_KEYS(table, keys, cursor)` call: every key, before any SYSPRO read.
    pub fn prepare_pull_keys(
        &self,
        table: &str,
        keys: &Value,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let table = self.table(table)?;
        let set = KeySet::parse(&table, keys).map_err(BadRequest::Keys)?;
        let binding = set.binding.clone();
        self.whole_table(
            table,
            Mode::ByKeys(Arc::new(set)),
            Some(&binding),
            cursor,
            now,
        )
    }

    /// Checks a `SYSPRO_KEYS(table, cursor)` call.
    pub fn prepare_keys(
        &self,
        table: &str,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        self.whole_table(self.table(table)?, Mode::Keys, None, cursor, now)
    }

    /// A read with no watermark bounds, its cursor checked against `mode`'s function and
    /// `binding`. Everything but the open items is read in key order.
    fn whole_table(
        &self,
        table: TableDef,
        mode: Mode,
        binding: Option<&str>,
        cursor: Option<&str>,
        now: i64,
    ) -> Result<PreparedPull, BadRequest> {
        let state = self.verify_cursor(cursor, &table, binding, mode.cursor_function(), now)?;
        Ok(PreparedPull {
            table,
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
        let def = self.table(table)?;
        if def.watermark_column.is_none() {
            return Err(BadRequest::RangeOnWholeTable { table: def.name });
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
        let state =
            self.verify_cursor(cursor, &def, binding.as_deref(), CursorFunction::Pull, now)?;
        Ok(PreparedPull {
            table: def,
            since,
            until: Some(until),
            keys_only: false,
            mode: Mode::Rows,
            state,
        })
    }

    fn verify_cursor(
        &self,
        cursor: Option<&str>,
        table: &TableDef,
        binding: Option<&str>,
        function: CursorFunction,
        now: i64,
    ) -> Result<Option<CursorState>, BadRequest> {
        match given(cursor) {
            None => Ok(None),
            Some(c) => Ok(Some(self.signer.verify(
                c,
                &table.name,
                binding,
                function,
                now,
            )?)),
        }
    }
}
