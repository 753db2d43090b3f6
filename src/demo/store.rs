//! The demo's stand-in for the Snowflake side: an in-memory SQLite database with the same tables
//! and the same rules as `sql/` — landing log, per-table current state with soft deletes, page and
//! run audit, and a watermark that moves only after the MERGE, in the MERGE's transaction.
//!
//! Every table it keys carries `company_id` as `sql/` does (`''` for a single company): control and
//! state rows are per company × table, target rows are keyed on (company_id, record_key), and
//! every landing, MERGE, delete flag and audit row names its company — SYSPRO companies reuse the
//! same codes for different things, so a key alone never identifies a row.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::NaiveDateTime;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::sync::cycle;
use crate::sync::cycle::{
    FailureKind, KeyBatch, Merged, PageIn, Pull, Run, RunStatus, Started, StepError, SyncTable,
    Totals, Warehouse,
};
use crate::watermark::{parse_record_timestamp, since_for_next_run};

/// One table the demo syncs, as the control table (`syspro_sync_control`) describes it.
#[derive(Debug, Clone)]
pub struct Control {
    pub table_name: String,
    pub key_columns: Vec<String>,
    pub watermark_column: Option<String>,
    pub overlap_days: u32,
}

impl Control {
    /// `syspro__ap_invoice` for `ApInvoice`, as `sql/` names target tables.
    pub fn target(&self) -> String {
        format!("syspro__{}", slug(&self.table_name))
    }
}

/// `ApInvoice` → `ap_invoice`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// What `record_key_expression` computes in Snowflake: the key values as text, joined with `|`.
pub fn record_key(record: &Map<String, Value>, keys: &[String]) -> String {
    keys.iter()
        .map(|k| match record.get(k) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// A change-detection hash of a record's JSON (Snowflake uses `md5(to_json(record))`).
fn record_hash(json: &str) -> String {
    let digest = Sha256::digest(json.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// UTC now, fixed width so that text order is time order.
pub fn now_text() -> String {
    chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

fn later_of(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if ts(&x) >= ts(&y) { x } else { y }),
        (x, y) => x.or(y),
    }
}

fn earlier_of(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if ts(&x) <= ts(&y) { x } else { y }),
        (x, y) => x.or(y),
    }
}

fn ts(text: &str) -> Option<NaiveDateTime> {
    parse_record_timestamp(text)
}

/// One external-function answer, as `audit_syspro__pages` records it.
#[derive(Debug, Clone, Default)]
pub struct PageAudit {
    pub poll_id: Option<String>,
    pub page_number: u32,
    pub requested_since: Option<String>,
    pub requested_cursor: bool,
    pub row_count: usize,
    pub high_water: Option<String>,
    pub next_cursor: bool,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub error_attempts: Option<u64>,
    pub fetched_at: Option<String>,
}

/// One row of `audit_syspro__runs`.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub cycle: u32,
    pub run_kind: String,
    pub company_id: String,
    pub table_name: String,
    pub since: Option<String>,
    pub stored_high_water: Option<String>,
    pub new_high_water: Option<String>,
    pub pages: u32,
    pub rows_pulled: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_deleted: u64,
    pub status: String,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub faults: u64,
    pub seconds: f64,
}

/// A target row's digest, whether it is flagged deleted, and when it was loaded.
pub type StoredDigest = (Option<String>, bool, String);

pub struct Store {
    conn: Connection,
    controls: Vec<Control>,
}

impl Store {
    /// The store with control rows for each of `companies` × `controls` (`[""]`: one company).
    pub fn open(companies: &[String], controls: Vec<Control>) -> rusqlite::Result<Store> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "
            create table syspro_sync_control (
                company_id text not null default '',
                table_name text not null,
                key_columns text not null,
                watermark_column text,
                overlap_days integer not null,
                is_enabled integer not null,
                primary key (company_id, table_name)
            );
            create table syspro_sync_state (
                company_id text not null default '',
                table_name text not null,
                last_run_id text,
                last_poll_id text,
                high_water text,
                updated_at text not null,
                primary key (company_id, table_name)
            );
            create table raw_syspro__records (
                poll_id text not null,
                run_id text not null,
                company_id text not null default '',
                table_name text not null,
                page_number integer not null,
                row_index integer not null,
                record_key text not null,
                record text not null,
                record_hash text not null,
                record_digest text,
                watermark_value text,
                fetched_at text not null,
                landed_at text not null
            );
            create index raw_by_poll on raw_syspro__records (poll_id, company_id, table_name);
            create table audit_syspro__pages (
                run_id text not null,
                poll_id text,
                company_id text not null default '',
                table_name text not null,
                page_number integer not null,
                requested_since text,
                requested_cursor integer not null,
                row_count integer not null,
                high_water text,
                next_cursor integer not null,
                error_kind text,
                error_message text,
                error_attempts integer,
                fetched_at text,
                received_at text not null
            );
            create table audit_syspro__runs (
                run_id text primary key,
                cycle integer not null,
                run_kind text not null,
                company_id text not null default '',
                table_name text not null,
                poll_id text,
                since text,
                stored_high_water text,
                pulled_high_water text,
                new_high_water text,
                pages integer,
                rows_pulled integer,
                rows_inserted integer,
                rows_updated integer,
                rows_deleted integer,
                status text not null,
                error_kind text,
                error_message text,
                faults integer,
                started_at text not null,
                finished_at text,
                seconds real
            );
            ",
        )?;
        for c in &controls {
            for company in companies {
                conn.execute(
                    "insert into syspro_sync_control values (?1, ?2, ?3, ?4, ?5, 1)",
                    params![
                        company,
                        c.table_name,
                        serde_json::to_string(&c.key_columns).unwrap_or_default(),
                        c.watermark_column,
                        c.overlap_days
                    ],
                )?;
            }
            // one target table for every company, as in sql/40_targets: the same record key
            // may exist once per company
            conn.execute_batch(&format!(
                "create table {target} (
                    company_id text not null default '',
                    record_key text not null,
                    record text not null,
                    record_hash text not null,
                    record_digest text,
                    watermark_value text,
                    poll_id text not null,
                    first_poll_id text not null,
                    fetched_at text not null,
                    loaded_at text not null,
                    first_loaded_at text not null,
                    is_deleted integer not null,
                    deleted_at text,
                    deleted_by_run_id text,
                    primary key (company_id, record_key)
                );",
                target = c.target()
            ))?;
        }
        Ok(Store { conn, controls })
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn control(&self, table: &str) -> &Control {
        self.controls
            .iter()
            .find(|c| c.table_name == table)
            .expect("table in the control table")
    }

    pub fn high_water(&self, company: &str, table: &str) -> rusqlite::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "select high_water from syspro_sync_state where company_id = ?1 and table_name = ?2",
                [company, table],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// `start_run`: opens the audit row and decides `since` with the product's rule — the stored
    /// high water minus the overlap, at day granularity; snapshot tables and key scans read all.
    pub fn start_run(
        &self,
        run_id: &str,
        cycle: u32,
        run_kind: &str,
        company: &str,
        table: &str,
    ) -> rusqlite::Result<(Option<String>, Option<String>)> {
        let control = self.control(table);
        let stored = self.high_water(company, table)?;
        let since = if run_kind == "sync" && control.watermark_column.is_some() {
            since_for_next_run(stored.as_deref().and_then(ts), control.overlap_days)
                .map(|s| s.0.format("%Y-%m-%d").to_string())
        } else {
            None
        };
        self.conn.execute(
            "insert into audit_syspro__runs (run_id, cycle, run_kind, company_id, table_name, since, stored_high_water, status, started_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
            params![run_id, cycle, run_kind, company, table, since, stored, now_text()],
        )?;
        Ok((since, stored))
    }

    pub fn audit_page(
        &self,
        run_id: &str,
        company: &str,
        table: &str,
        p: &PageAudit,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "insert into audit_syspro__pages values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                run_id,
                p.poll_id,
                company,
                table,
                p.page_number,
                p.requested_since,
                p.requested_cursor,
                p.row_count as i64,
                p.high_water,
                p.next_cursor,
                p.error_kind,
                p.error_message,
                p.error_attempts.map(|a| a as i64),
                p.fetched_at,
                now_text()
            ],
        )?;
        Ok(())
    }

    /// `land_page`: appends a page's records to the landing log with key, hash, the service's
    /// digest and watermark.
    #[allow(clippy::too_many_arguments)]
    pub fn land_page(
        &mut self,
        run_id: &str,
        company: &str,
        table: &str,
        poll_id: &str,
        page_number: u32,
        fetched_at: &str,
        rows: &[Value],
        digests: &[Value],
    ) -> rusqlite::Result<()> {
        let control = self.control(table).clone();
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "insert into raw_syspro__records values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let landed = now_text();
            for (i, row) in rows.iter().enumerate() {
                let Some(record) = row.as_object() else {
                    continue;
                };
                let json = serde_json::to_string(record).unwrap_or_default();
                let key = record_key(record, &control.key_columns);
                let watermark = control
                    .watermark_column
                    .as_deref()
                    .and_then(|w| record.get(w))
                    .and_then(Value::as_str)
                    .filter(|v| ts(v).is_some());
                insert.execute(params![
                    poll_id,
                    run_id,
                    company,
                    table,
                    page_number,
                    i as i64,
                    key,
                    json,
                    record_hash(&json),
                    digests.get(i).and_then(Value::as_str),
                    watermark,
                    fetched_at,
                    landed
                ])?;
            }
        }
        tx.commit()
    }

    /// `merge_poll` alone: an open-items or by-key poll, which never moves the watermark.
    pub fn merge(
        &mut self,
        company: &str,
        table: &str,
        poll_id: &str,
    ) -> rusqlite::Result<(u64, u64)> {
        let target = self.control(table).target();
        let tx = self.conn.transaction()?;
        let counts = merge_poll(&tx, &target, company, table, poll_id)?;
        tx.commit()?;
        Ok(counts)
    }

    /// `merge_poll` + `advance_watermark` + `finish_run`, in one transaction: the watermark never
    /// gets ahead of the rows merged. Returns (inserted, updated, new high water).
    pub fn merge_and_advance(
        &mut self,
        run_id: &str,
        company: &str,
        table: &str,
        poll_id: &str,
    ) -> rusqlite::Result<(u64, u64, Option<String>)> {
        let target = self.control(table).target();
        let tx = self.conn.transaction()?;
        let now = now_text();
        let (inserted, updated) = merge_poll(&tx, &target, company, table, poll_id)?;

        // advance_watermark: least(max high water, max fetched_at) of this run's pages, never back.
        let (pulled_hw, max_fetched): (Option<String>, Option<String>) = {
            let mut stmt = tx.prepare(
                "select high_water, fetched_at from audit_syspro__pages where run_id = ?1",
            )?;
            let rows = stmt.query_map([run_id], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })?;
            let mut hw = None;
            let mut fetched = None;
            for row in rows {
                let (h, f) = row?;
                hw = later_of(hw, h);
                fetched = later_of(fetched, f);
            }
            (hw, fetched)
        };
        let pulled = earlier_of(
            pulled_hw.clone(),
            max_fetched.filter(|_| pulled_hw.is_some()),
        );
        let stored: Option<String> = tx
            .query_row(
                "select high_water from syspro_sync_state where company_id = ?1 and table_name = ?2",
                [company, table],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let new_hw = later_of(pulled.clone(), stored);
        tx.execute(
            "insert into syspro_sync_state (company_id, table_name, last_run_id, last_poll_id, high_water, updated_at)
             values (?1, ?2, ?3, ?4, ?5, ?6)
             on conflict (company_id, table_name) do update set
                last_run_id = excluded.last_run_id, last_poll_id = excluded.last_poll_id,
                high_water = excluded.high_water, updated_at = excluded.updated_at",
            params![company, table, run_id, poll_id, new_hw, now],
        )?;
        tx.execute(
            "update audit_syspro__runs set pulled_high_water = ?2 where run_id = ?1",
            params![run_id, pulled],
        )?;
        tx.commit()?;
        Ok((inserted, updated, new_hw))
    }

    /// `finish_run`: counts from the page audit, the outcome, and the watermark now stored.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_run(
        &self,
        run_id: &str,
        company: &str,
        table: &str,
        counts: (u64, u64, u64),
        status: &str,
        error: Option<(&str, &str)>,
        faults: u64,
        seconds: f64,
    ) -> rusqlite::Result<()> {
        let hw = self.high_water(company, table)?;
        self.conn.execute(
            "update audit_syspro__runs set
                poll_id = (select max(poll_id) from audit_syspro__pages where run_id = ?1),
                pages = (select count(*) from audit_syspro__pages where run_id = ?1),
                rows_pulled = (select coalesce(sum(row_count), 0) from audit_syspro__pages where run_id = ?1),
                new_high_water = ?2,
                rows_inserted = ?3, rows_updated = ?4, rows_deleted = ?5,
                status = ?6, error_kind = ?7, error_message = ?8, faults = ?9,
                finished_at = ?10, seconds = ?11
             where run_id = ?1",
            params![
                run_id,
                hw,
                counts.0 as i64,
                counts.1 as i64,
                counts.2 as i64,
                status,
                error.map(|e| e.0),
                error.map(|e| e.1),
                faults as i64,
                now_text(),
                seconds
            ],
        )?;
        Ok(())
    }

    /// The demo's own columns of a run's audit row: the faults the simulator injected during
    /// it and its seconds.
    pub fn note_run(&self, run_id: &str, faults: u64, seconds: f64) -> rusqlite::Result<()> {
        self.conn.execute(
            "update audit_syspro__runs set faults = ?2, seconds = ?3 where run_id = ?1",
            params![run_id, faults as i64, seconds],
        )?;
        Ok(())
    }

    pub fn runs(&self) -> rusqlite::Result<Vec<RunRow>> {
        let mut stmt = self.conn.prepare(
            "select cycle, run_kind, company_id, table_name, since, stored_high_water, new_high_water,
                    pages, rows_pulled, rows_inserted, rows_updated, rows_deleted, status,
                    error_kind, error_message, faults, seconds
             from audit_syspro__runs order by started_at, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RunRow {
                cycle: r.get(0)?,
                run_kind: r.get(1)?,
                company_id: r.get(2)?,
                table_name: r.get(3)?,
                since: r.get(4)?,
                stored_high_water: r.get(5)?,
                new_high_water: r.get(6)?,
                pages: r.get::<_, Option<u32>>(7)?.unwrap_or(0),
                rows_pulled: r.get::<_, Option<i64>>(8)?.unwrap_or(0) as u64,
                rows_inserted: r.get::<_, Option<i64>>(9)?.unwrap_or(0) as u64,
                rows_updated: r.get::<_, Option<i64>>(10)?.unwrap_or(0) as u64,
                rows_deleted: r.get::<_, Option<i64>>(11)?.unwrap_or(0) as u64,
                status: r.get(12)?,
                error_kind: r.get(13)?,
                error_message: r.get(14)?,
                faults: r.get::<_, Option<i64>>(15)?.unwrap_or(0) as u64,
                seconds: r.get::<_, Option<f64>>(16)?.unwrap_or(0.0),
            })
        })?;
        rows.collect()
    }

    /// A company's current (not deleted) records of a table, by record key.
    pub fn current_records(
        &self,
        company: &str,
        table: &str,
    ) -> rusqlite::Result<Vec<(String, Map<String, Value>)>> {
        let target = self.control(table).target();
        let mut stmt = self.conn.prepare(&format!(
            "select record_key, record from {target}
             where company_id = ?1 and not is_deleted order by record_key"
        ))?;
        let rows = stmt.query_map([company], |r| {
            let key: String = r.get(0)?;
            let json: String = r.get(1)?;
            Ok((key, json))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json) = row?;
            let record = serde_json::from_str(&json).unwrap_or_default();
            out.push((key, record));
        }
        Ok(out)
    }

    /// A company's rows in a target table: (current, soft-deleted).
    #[cfg(test)]
    pub fn target_counts(&self, company: &str, table: &str) -> rusqlite::Result<(u64, u64)> {
        let target = self.control(table).target();
        self.conn.query_row(
            &format!(
                "select coalesce(sum(not is_deleted), 0), coalesce(sum(is_deleted), 0) from {target}
                 where company_id = ?1"
            ),
            [company],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
    }

    pub fn landed_count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("select count(*) from raw_syspro__records", [], |r| {
                r.get::<_, i64>(0).map(|n| n as u64)
            })
    }
}

/// `merge_poll`: the poll's records, deduped per key (latest watermark, then last landed), rewrite
/// a row when it changed (hash or digest) or comes back after a delete; new keys are inserted.
/// Matched on (company_id, record_key), as sql/'s MERGE: another company's row with the same key
/// is another row.
fn merge_poll(
    tx: &rusqlite::Transaction<'_>,
    target: &str,
    company: &str,
    table: &str,
    poll_id: &str,
) -> rusqlite::Result<(u64, u64)> {
    let now = now_text();
    let source = "
        select company_id, record_key, record, record_hash, record_digest, watermark_value,
               poll_id, fetched_at
        from (
            select *, row_number() over (
                partition by company_id, record_key
                order by watermark_value desc nulls last, page_number desc, row_index desc
            ) as rn
            from raw_syspro__records
            where poll_id = ?1 and table_name = ?2 and company_id = ?4
        ) where rn = 1";
    let updated = tx.execute(
        &format!(
            "update {target} as t set
                record = s.record, record_hash = s.record_hash, record_digest = s.record_digest,
                watermark_value = s.watermark_value,
                poll_id = s.poll_id, fetched_at = s.fetched_at, loaded_at = ?3,
                is_deleted = 0, deleted_at = null, deleted_by_run_id = null
             from ({source}) as s
             where t.company_id = s.company_id and t.record_key = s.record_key
               and s.fetched_at >= t.fetched_at
               and (t.is_deleted or s.record_hash <> t.record_hash
                    or t.record_digest is not s.record_digest)"
        ),
        params![poll_id, table, now, company],
    )? as u64;
    let inserted = tx.execute(
        &format!(
            "insert into {target}
                (company_id, record_key, record, record_hash, record_digest, watermark_value,
                 poll_id, first_poll_id, fetched_at, loaded_at, first_loaded_at, is_deleted)
             select s.company_id, s.record_key, s.record, s.record_hash, s.record_digest,
                    s.watermark_value, s.poll_id, s.poll_id, s.fetched_at, ?3, ?3, 0
             from ({source}) as s
             where not exists (
                 select 1 from {target} as t
                 where t.company_id = s.company_id and t.record_key = s.record_key
             )"
        ),
        params![poll_id, table, now, company],
    )? as u64;
    Ok((inserted, updated))
}

impl Store {
    /// Rows Snowflake holds as open (not deleted, the open-items filter true), as
    /// (record key, key object).
    pub fn open_rows(
        &self,
        company: &str,
        table: &str,
        open: &crate::catalog::OpenItems,
    ) -> rusqlite::Result<Vec<(String, Value)>> {
        let keys = self.control(table).key_columns.clone();
        Ok(self
            .current_records(company, table)?
            .into_iter()
            .filter(|(_, r)| open.matches(r))
            .map(|(k, r)| {
                let object: Map<String, Value> = keys
                    .iter()
                    .map(|c| (c.clone(), r.get(c).cloned().unwrap_or(Value::Null)))
                    .collect();
                (k, Value::Object(object))
            })
            .collect())
    }

    /// Flags these rows of a company deleted (SYSPRO answered that it no longer has their keys).
    pub fn flag_deleted(
        &mut self,
        run_id: &str,
        company: &str,
        table: &str,
        keys: &[String],
    ) -> rusqlite::Result<u64> {
        let target = self.control(table).target();
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut update = tx.prepare_cached(&format!(
                "update {target} set is_deleted = 1, deleted_at = ?3, deleted_by_run_id = ?1
                 where company_id = ?4 and record_key = ?2 and not is_deleted"
            ))?;
            let now = now_text();
            for k in keys {
                n += update.execute(params![run_id, k, now, company])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Every target row's digest of a company, by record key.
    pub fn digests(
        &self,
        company: &str,
        table: &str,
    ) -> rusqlite::Result<std::collections::BTreeMap<String, StoredDigest>> {
        let target = self.control(table).target();
        let mut stmt = self.conn.prepare(&format!(
            "select record_key, record_digest, is_deleted, loaded_at from {target}
             where company_id = ?1"
        ))?;
        let rows = stmt.query_map([company], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get(1)?, r.get::<_, bool>(2)?, r.get(3)?),
            ))
        })?;
        rows.collect()
    }

    /// When a run started (Snowflake's clock in `sql/`).
    pub fn run_started(&self, run_id: &str) -> rusqlite::Result<String> {
        self.conn.query_row(
            "select started_at from audit_syspro__runs where run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
    }
}

/// The store as the cycle's warehouse (`sync::Warehouse`): each step what the statement of
/// sql/60_statements it stands for does, on SQLite. The work tables Snowflake keeps per run
/// (refresh keys, missing keys, verify digests) are this struct's memory.
pub struct StoreWarehouse {
    store: Mutex<Store>,
    catalog: Catalog,
    /// The demo's sync cycle number, written into each run's audit row.
    cycle: AtomicU32,
    work: Mutex<Work>,
}

/// One run's work rows, and what the demo prints about them.
#[derive(Default)]
struct Work {
    committed: Merged,
    merges: BTreeMap<String, Merged>,
    refresh_keys: Vec<Value>,
    missing: BTreeMap<i64, Vec<String>>,
    /// `SYSPRO_DIGESTS`: record key → (key object, digest).
    digests: BTreeMap<String, (Value, String)>,
    notes: RunNotes,
}

/// What a run did beyond its report, for the demo's lines.
#[derive(Debug, Clone, Default)]
pub struct RunNotes {
    /// The watermark pull: pages, rows, inserted, updated.
    pub watermark_pages: u32,
    pub watermark_rows: u64,
    pub watermark_merged: Merged,
    /// The watermark step finished (the run went on to its key refresh).
    pub watermark_done: bool,
    /// The open-items pull: rows SYSPRO returned as open, rows its MERGE changed, rows held
    /// as open here that it no longer returned.
    pub open_returned: u64,
    pub open_changed: u64,
    pub open_stale: u64,
    /// Verify: keys compared, digests that differed, keys missing here.
    pub compared: u64,
    pub differed: u64,
    pub lacking: u64,
}

fn store_error(e: rusqlite::Error) -> StepError {
    StepError::new(FailureKind::SnowflakeError, format!("the store: {e}"))
}

fn page_json(page: &PageIn<'_>) -> Result<Value, StepError> {
    serde_json::from_str(&page.page.value)
        .map_err(|e| StepError::new(FailureKind::PushError, format!("page JSON: {e}")))
}

impl StoreWarehouse {
    pub fn new(store: Store, catalog: Catalog) -> Self {
        StoreWarehouse {
            store: Mutex::new(store),
            catalog,
            cycle: AtomicU32::new(0),
            work: Mutex::new(Work::default()),
        }
    }

    pub fn into_store(self) -> Store {
        self.store.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn work(&self) -> MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_cycle(&self, cycle: u32) {
        self.cycle.store(cycle, Ordering::Relaxed);
    }

    /// The open-items filter of a table, from the catalog.
    pub fn open_items(&self, table: &str) -> Option<crate::catalog::OpenItems> {
        self.catalog.get(table).ok()?.open_items.clone()
    }

    /// What the last run did beyond its report.
    pub fn take_notes(&self) -> RunNotes {
        std::mem::take(&mut self.work().notes)
    }

    fn audit(
        &self,
        run: &Run<'_>,
        page: &PageIn<'_>,
        v: &Value,
        row_count: usize,
    ) -> Result<(), StepError> {
        let error = v.get("error");
        self.store()
            .audit_page(
                run.id,
                &run.table.company,
                &run.table.name,
                &PageAudit {
                    poll_id: page.page.poll_id.clone(),
                    page_number: page.number,
                    requested_since: page.since.map(str::to_string),
                    requested_cursor: page.cursor.is_some(),
                    row_count,
                    high_water: v["high_water"].as_str().map(str::to_string),
                    next_cursor: page.page.next_cursor.is_some(),
                    error_kind: error.and_then(|e| e["kind"].as_str()).map(str::to_string),
                    error_message: error
                        .and_then(|e| e["message"].as_str())
                        .map(str::to_string),
                    error_attempts: error.and_then(|e| e["attempts"].as_u64()),
                    fetched_at: v["fetched_at"].as_str().map(str::to_string),
                },
            )
            .map_err(store_error)
    }

    /// `audit_page` + `land_page`: returns the page's rows.
    fn audit_and_land(&self, run: &Run<'_>, page: &PageIn<'_>) -> Result<Vec<Value>, StepError> {
        let v = page_json(page)?;
        let rows = v["rows"].as_array().cloned().unwrap_or_default();
        let keys = v["keys"].as_array().map_or(0, Vec::len);
        self.audit(run, page, &v, rows.len().max(keys))?;
        if let (Some(poll), Some(fetched_at)) = (&page.page.poll_id, v["fetched_at"].as_str()) {
            let digests = v["digests"].as_array().cloned().unwrap_or_default();
            self.store()
                .land_page(
                    run.id,
                    &run.table.company,
                    &run.table.name,
                    poll,
                    page.number,
                    fetched_at,
                    &rows,
                    &digests,
                )
                .map_err(store_error)?;
        }
        Ok(rows)
    }
}

impl Warehouse for StoreWarehouse {
    async fn control(&self, table: &SyncTable) -> Result<Option<cycle::Control>, StepError> {
        let enabled: Option<bool> = self
            .store()
            .conn
            .query_row(
                "select is_enabled from syspro_sync_control where company_id = ?1 and table_name = ?2",
                [&table.company, &table.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_error)?;
        Ok(enabled.map(|enabled| cycle::Control {
            enabled,
            verify_group: "nightly".into(),
        }))
    }

    async fn start_run(&self, run: &Run<'_>) -> Result<Option<Started>, StepError> {
        *self.work() = Work::default();
        let (since, _stored) = self
            .store()
            .start_run(
                run.id,
                self.cycle.load(Ordering::Relaxed),
                run.kind.as_str(),
                &run.table.company,
                &run.table.name,
            )
            .map_err(store_error)?;
        Ok(Some(Started { since }))
    }

    async fn commit_page(&self, run: &Run<'_>, page: &PageIn<'_>) -> Result<(), StepError> {
        let rows = self.audit_and_land(run, page)?;
        let poll = page.page.poll_id.as_deref().unwrap_or_default();
        // merge_poll + advance_watermark in one transaction
        let (inserted, updated, _) = self
            .store()
            .merge_and_advance(run.id, &run.table.company, &run.table.name, poll)
            .map_err(store_error)?;
        let mut work = self.work();
        work.committed.inserted += inserted;
        work.committed.updated += updated;
        let notes = &mut work.notes;
        notes.watermark_pages += 1;
        notes.watermark_rows += rows.len() as u64;
        notes.watermark_merged.inserted += inserted;
        notes.watermark_merged.updated += updated;
        Ok(())
    }

    async fn committed(&self, _run: &Run<'_>) -> Result<Merged, StepError> {
        Ok(std::mem::take(&mut self.work().committed))
    }

    async fn land_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        self.audit_and_land(run, page)?;
        let v = page_json(page)?;
        let keys = &self.store().control(&run.table.name).key_columns.clone();
        let key_of = |k: &Value| k.as_object().map(|o| record_key(o, keys));
        match pull {
            Pull::Keys { batch, .. } => {
                let missing: Vec<String> = v["missing"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(key_of)
                    .collect();
                self.work()
                    .missing
                    .entry(*batch)
                    .or_default()
                    .extend(missing);
            }
            Pull::Digests => {
                let ks = v["keys"].as_array().cloned().unwrap_or_default();
                let ds = v["digests"].as_array().cloned().unwrap_or_default();
                let mut work = self.work();
                for (k, d) in ks.into_iter().zip(ds) {
                    if let Some(rk) = key_of(&k) {
                        let digest = d.as_str().unwrap_or_default().to_string();
                        work.digests.insert(rk, (k, digest));
                    }
                }
            }
            Pull::Watermark { .. } | Pull::Open => {}
        }
        Ok(())
    }

    async fn audit_failed_page(
        &self,
        run: &Run<'_>,
        _pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        let v = page_json(page)?;
        self.audit(run, page, &v, 0)
    }

    async fn merge_poll(&self, run: &Run<'_>, poll_id: Option<&str>) -> Result<Merged, StepError> {
        let Some(poll) = poll_id else {
            return Ok(Merged::default());
        };
        let (inserted, updated) = self
            .store()
            .merge(&run.table.company, &run.table.name, poll)
            .map_err(store_error)?;
        let m = Merged { inserted, updated };
        self.work().merges.insert(poll.to_string(), m);
        Ok(m)
    }

    async fn collect_refresh_keys(
        &self,
        run: &Run<'_>,
        open_poll: Option<&str>,
    ) -> Result<(), StepError> {
        let open = self
            .catalog
            .get(&run.table.name)
            .map_err(|e| StepError::new(FailureKind::BadRequest, e.to_string()))?
            .open_items
            .clone();
        let Some(open) = open else {
            return Ok(());
        };
        let store = self.store();
        let returned: std::collections::HashSet<String> = {
            let mut stmt = store
                .conn
                .prepare(
                    "select record_key from raw_syspro__records where poll_id = ?1 and company_id = ?2",
                )
                .map_err(store_error)?;
            let keys = stmt
                .query_map([open_poll.unwrap_or_default(), &run.table.company], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(store_error)?;
            keys.collect::<Result<_, _>>().map_err(store_error)?
        };
        let stale: Vec<Value> = store
            .open_rows(&run.table.company, &run.table.name, &open)
            .map_err(store_error)?
            .into_iter()
            .filter(|(k, _)| !returned.contains(k))
            .map(|(_, key)| key)
            .collect();
        drop(store);
        let mut work = self.work();
        let changed = open_poll
            .and_then(|p| work.merges.get(p))
            .map_or(0, |m| m.inserted + m.updated);
        work.notes.open_returned = returned.len() as u64;
        work.notes.open_changed = changed;
        work.notes.open_stale = stale.len() as u64;
        work.refresh_keys = stale;
        Ok(())
    }

    async fn verify_mark_deleted(&self, run: &Run<'_>) -> Result<u64, StepError> {
        let store = self.store();
        let scan_started = store.run_started(run.id).map_err(store_error)?;
        let ours = store
            .digests(&run.table.company, &run.table.name)
            .map_err(store_error)?;
        drop(store);
        let gone: Vec<String> = {
            let work = self.work();
            // judged only on a complete, non-empty scan, and only rows loaded before it began
            if work.digests.is_empty() {
                Vec::new()
            } else {
                ours.iter()
                    .filter(|(k, (_, deleted, loaded))| {
                        !deleted && *loaded < scan_started && !work.digests.contains_key(*k)
                    })
                    .map(|(k, _)| k.clone())
                    .collect()
            }
        };
        self.store()
            .flag_deleted(run.id, &run.table.company, &run.table.name, &gone)
            .map_err(store_error)
    }

    async fn collect_verify_keys(&self, run: &Run<'_>) -> Result<(), StepError> {
        let ours = self
            .store()
            .digests(&run.table.company, &run.table.name)
            .map_err(store_error)?;
        let mut work = self.work();
        let (mut differed, mut lacking) = (0, 0);
        let mut repull = Vec::new();
        for (k, (key, digest)) in &work.digests {
            match ours.get(k) {
                Some((Some(d), false, _)) if d == digest => {}
                Some((_, false, _)) => {
                    differed += 1;
                    repull.push(key.clone());
                }
                _ => {
                    lacking += 1;
                    repull.push(key.clone());
                }
            }
        }
        work.notes.compared = work.digests.len() as u64;
        work.notes.differed = differed;
        work.notes.lacking = lacking;
        work.refresh_keys = repull;
        Ok(())
    }

    async fn refresh_batches(&self, _run: &Run<'_>) -> Result<Vec<KeyBatch>, StepError> {
        Ok(self
            .work()
            .refresh_keys
            .chunks(crate::pull::keyset::MAX_KEYS)
            .enumerate()
            .map(|(i, keys)| KeyBatch {
                number: i as i64 + 1,
                keys: Value::Array(keys.to_vec()),
            })
            .collect())
    }

    async fn mark_missing_deleted(&self, run: &Run<'_>, batch: i64) -> Result<u64, StepError> {
        let missing = self.work().missing.remove(&batch).unwrap_or_default();
        self.store()
            .flag_deleted(run.id, &run.table.company, &run.table.name, &missing)
            .map_err(store_error)
    }

    async fn advance_dependents_checked(&self, _run: &Run<'_>) -> Result<(), StepError> {
        // the demo's tables refresh open items only; no dependents to check
        Ok(())
    }

    async fn finish_run(
        &self,
        run: &Run<'_>,
        status: RunStatus,
        _poll_id: Option<&str>,
        totals: &Totals,
    ) -> Result<(), StepError> {
        if status == RunStatus::Running {
            self.work().notes.watermark_done = true;
        }
        self.store()
            .finish_run(
                run.id,
                &run.table.company,
                &run.table.name,
                (totals.inserted, totals.updated, totals.deleted),
                status.as_str(),
                None,
                0,
                0.0,
            )
            .map_err(store_error)
    }

    async fn fail_run(
        &self,
        run: &Run<'_>,
        _poll_id: Option<&str>,
        kind: &FailureKind,
        message: &str,
    ) -> bool {
        let notes = std::mem::take(&mut self.work().notes);
        *self.work() = Work {
            notes,
            ..Work::default()
        };
        self.store()
            .finish_run(
                run.id,
                &run.table.company,
                &run.table.name,
                (0, 0, 0),
                "failed",
                Some((kind.as_str(), message)),
                0,
                0.0,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_and_keys_follow_the_sql_side() {
        assert_eq!(slug("ApInvoice"), "ap_invoice");
        assert_eq!(slug("GrnDetails"), "grn_details");
        let rec = json!({"Supplier": "ACME01", "Invoice": "000123", "TrnYear": 2026, "X": null});
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            record_key(rec.as_object().unwrap(), &keys(&["Supplier", "Invoice"])),
            "ACME01|000123"
        );
        assert_eq!(
            record_key(rec.as_object().unwrap(), &keys(&["TrnYear", "X"])),
            "2026|"
        );
    }

    /// ApInvoice's control row: keyed by supplier and invoice, watermarked by journal date.
    fn ap_invoice() -> Control {
        Control {
            table_name: "ApInvoice".into(),
            key_columns: vec!["Supplier".into(), "Invoice".into()],
            watermark_column: Some("JournalDate".into()),
            overlap_days: 3,
        }
    }

    #[test]
    fn merge_is_an_upsert_and_the_watermark_follows_the_rule() {
        let mut store = Store::open(&[String::new()], vec![ap_invoice()]).unwrap();
        let (since, _) = store.start_run("r1", 1, "sync", "", "ApInvoice").unwrap();
        assert_eq!(since, None);
        let rows = vec![
            json!({"Supplier": "A", "Invoice": "1", "JournalDate": "2026-11-18T00:00:00", "V": 1}),
            json!({"Supplier": "A", "Invoice": "2", "JournalDate": "2026-11-20T00:00:00", "V": 1}),
        ];
        let page = PageAudit {
            poll_id: Some("p1".into()),
            page_number: 1,
            row_count: 2,
            high_water: Some("2026-11-20T00:00:00".into()),
            fetched_at: Some("2026-11-30T10:00:00".into()),
            ..Default::default()
        };
        store.audit_page("r1", "", "ApInvoice", &page).unwrap();
        store
            .land_page(
                "r1",
                "",
                "ApInvoice",
                "p1",
                1,
                "2026-11-30T10:00:00",
                &rows,
                &[],
            )
            .unwrap();
        let (ins, upd, hw) = store
            .merge_and_advance("r1", "", "ApInvoice", "p1")
            .unwrap();
        assert_eq!(
            (ins, upd, hw.as_deref()),
            (2, 0, Some("2026-11-20T00:00:00"))
        );

        let (since, _) = store.start_run("r2", 2, "sync", "", "ApInvoice").unwrap();
        assert_eq!(since.as_deref(), Some("2026-11-17"));
        let rows = vec![
            json!({"Supplier": "A", "Invoice": "1", "JournalDate": "2026-11-18T00:00:00", "V": 2}),
            json!({"Supplier": "A", "Invoice": "2", "JournalDate": "2026-11-20T00:00:00", "V": 1}),
        ];
        let page = PageAudit {
            poll_id: Some("p2".into()),
            fetched_at: Some("2026-11-30T11:00:00".into()),
            high_water: Some("2026-11-20T00:00:00".into()),
            ..page
        };
        store.audit_page("r2", "", "ApInvoice", &page).unwrap();
        store
            .land_page(
                "r2",
                "",
                "ApInvoice",
                "p2",
                1,
                "2026-11-30T11:00:00",
                &rows,
                &[],
            )
            .unwrap();
        let (ins, upd, _) = store
            .merge_and_advance("r2", "", "ApInvoice", "p2")
            .unwrap();
        assert_eq!((ins, upd), (0, 1));
        let current = store.current_records("", "ApInvoice").unwrap();
        assert_eq!(current[0].1["V"], json!(2));

        // open rows: what the filter names; a flagged row leaves them
        let open = crate::catalog::OpenItems::parse("V ne 1", "test").unwrap();
        let keys: Vec<String> = store
            .open_rows("", "ApInvoice", &open)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["A|1"]);
        store.start_run("r3", 3, "verify", "", "ApInvoice").unwrap();
        assert_eq!(
            store
                .flag_deleted("r3", "", "ApInvoice", &["A|2".into(), "A|9".into()])
                .unwrap(),
            1
        );
        assert_eq!(store.target_counts("", "ApInvoice").unwrap(), (1, 1));
    }

    /// Two companies whose keys collide: each MERGE, watermark, delete flag and audit row stays
    /// with its company (the same supplier code is a different supplier in each).
    #[test]
    fn companies_with_colliding_keys_never_touch_each_other() {
        let companies = ["EDU1".to_string(), "UK1".to_string()];
        let mut store = Store::open(&companies, vec![ap_invoice()]).unwrap();
        let load = |store: &mut Store, run: &str, company: &str, day: &str, value: &str| {
            store
                .start_run(run, 1, "sync", company, "ApInvoice")
                .unwrap();
            let page = PageAudit {
                poll_id: Some(format!("p-{run}")),
                page_number: 1,
                row_count: 1,
                high_water: Some(format!("{day}T00:00:00")),
                fetched_at: Some("2026-11-30T10:00:00".into()),
                ..Default::default()
            };
            store.audit_page(run, company, "ApInvoice", &page).unwrap();
            let rows = [
                json!({"Supplier": "ACME", "Invoice": "1", "JournalDate": format!("{day}T00:00:00"), "V": value}),
            ];
            store
                .land_page(
                    run,
                    company,
                    "ApInvoice",
                    &format!("p-{run}"),
                    1,
                    "2026-11-30T10:00:00",
                    &rows,
                    &[],
                )
                .unwrap();
            store
                .merge_and_advance(run, company, "ApInvoice", &format!("p-{run}"))
                .unwrap()
        };
        assert_eq!(load(&mut store, "r1", "EDU1", "2026-11-20", "za").0, 1);
        // the same key in UK1 is a new row, not an update of EDU1's
        let (inserted, updated, hw) = load(&mut store, "r2", "UK1", "2026-10-01", "uk");
        assert_eq!(
            (inserted, updated, hw.as_deref()),
            (1, 0, Some("2026-10-01T00:00:00"))
        );
        assert_eq!(
            store.high_water("EDU1", "ApInvoice").unwrap().as_deref(),
            Some("2026-11-20T00:00:00")
        );
        let value = |store: &Store, company: &str| {
            store.current_records(company, "ApInvoice").unwrap()[0].1["V"].clone()
        };
        assert_eq!(
            (value(&store, "EDU1"), value(&store, "UK1")),
            (json!("za"), json!("uk"))
        );
        // a delete in UK1 leaves EDU1's row with the same key
        store
            .start_run("r3", 2, "verify", "UK1", "ApInvoice")
            .unwrap();
        assert_eq!(
            store
                .flag_deleted("r3", "UK1", "ApInvoice", &["ACME|1".into()])
                .unwrap(),
            1
        );
        assert_eq!(store.target_counts("UK1", "ApInvoice").unwrap(), (0, 1));
        assert_eq!(store.target_counts("EDU1", "ApInvoice").unwrap(), (1, 0));
        assert_eq!(store.digests("EDU1", "ApInvoice").unwrap().len(), 1);
        let runs = store.runs().unwrap();
        let companies: Vec<&str> = runs.iter().map(|r| r.company_id.as_str()).collect();
        assert_eq!(companies, ["EDU1", "UK1", "UK1"]);
    }
}
