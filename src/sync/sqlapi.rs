//! The cycle's warehouse in production: Snowflake through its SQL API, running the very
//! statements `sqlgen::render_statements` renders (sql/60_statements), the ones the procedures
//! embed. Two reads are push mode's own text, because no procedure step has them: the control
//! row's switches (`is_enabled`, `verify_group`) the group procedures read in their loop, and the
//! age of the last successful verify (for scheduling).
//!
//! A page is two requests: the page bound into the page buffer (`buffer_page` & co. with `:page`; the
//! SQL API takes bindings only in single-statement requests), then one multi-statement request,
//! values inlined (escaped by [`inlined`]), that audits and lands it and, for the watermark pull,
//! merges the poll, adds the MERGE's counts to the run (`count_merge`), advances the watermark
//! and records the run's progress in one `begin transaction … commit`, as the procedure's page
//! loop does. The run's MERGE counts are read back once, when its pages are done (`read_run`).
//! Nothing push mode already holds (the next cursor, an error answer, the poll id) is read back.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::cycle::{
    Control, FailureKind, KeyBatch, Merged, PageIn, Pull, Run, RunKind, RunStatus, Started,
    StepError, SyncTable, Totals, Warehouse,
};
use crate::snowflake::client::{Bind, inlined};
use crate::snowflake::{ResultSet, SqlApiClient, SqlApiError, SqlErrorKind};
use crate::sqlgen::SqlSettings;

pub struct SqlApiWarehouse {
    sql: Arc<SqlApiClient>,
    statements: BTreeMap<String, String>,
    /// `<database>.<schema>.syspro_sync_control`.
    control_table: String,
    /// `<database>.<schema>.audit_syspro__runs`.
    runs_table: String,
}

/// The statements a table's cycle runs, by stem (`<stem>__<slug>`).
const TABLE_STATEMENTS: &[&str] = &[
    "land_page",
    "merge_poll",
    "land_missing",
    "mark_missing_deleted",
    "finish_key_refresh",
    "land_digests",
    "verify_mark_deleted",
    "collect_verify_keys",
];

/// The statements every cycle runs.
const STATEMENTS: &[&str] = &[
    "start_run",
    "read_run",
    "buffer_page",
    "buffer_open_page",
    "buffer_keys_batch_page",
    "buffer_digests_page",
    "audit_page",
    "read_refresh_batches",
    "clear_page_buffer",
    "clear_refresh_keys",
    "clear_verify_digests",
    "close_abandoned_runs",
    "clear_abandoned_runs",
    "count_merge",
    "advance_watermark",
    "advance_dependents_checked",
    "finish_run",
];

fn sql_error(what: &str, e: SqlApiError) -> StepError {
    let kind = match e.kind {
        SqlErrorKind::Auth => FailureKind::SnowflakeAuth,
        SqlErrorKind::Config => FailureKind::SnowflakeConfig,
        _ => FailureKind::SnowflakeError,
    };
    StepError::new(kind, format!("{what}: {e}"))
}

fn internal(message: impl Into<String>) -> StepError {
    StepError::new(FailureKind::PushError, message)
}

/// The values of a step's `:name` binds.
#[derive(Default, Clone)]
struct Binds(BTreeMap<&'static str, Bind>);

impl Binds {
    fn of(run: &Run<'_>) -> Binds {
        let mut b = Binds::default();
        b.set("run_id", Bind::text(run.id));
        b.set("run_kind", Bind::text(run.kind.as_str()));
        b.set("company_id", Bind::text(&run.table.company));
        b.set("table_name", Bind::text(&run.table.name));
        b.set("poll_id", Bind::Null);
        b
    }
    fn set(&mut self, name: &'static str, value: Bind) -> &mut Self {
        self.0.insert(name, value);
        self
    }
    fn get(&self, name: &str) -> Option<Bind> {
        self.0.get(name).cloned()
    }
    fn page(&mut self, page: &PageIn<'_>) -> &mut Self {
        self.set("page_number", Bind::Int(i64::from(page.number)))
            .set("page_cursor", Bind::opt_text(page.cursor))
            .set("since", Bind::opt_text(page.since))
            .set("poll_id", Bind::opt_text(page.page.poll_id.clone()))
    }
    fn finish(
        &mut self,
        status: &str,
        totals: Option<&Totals>,
        deleted: Option<u64>,
        error: Option<(&str, &str)>,
    ) -> &mut Self {
        let count = |n: Option<u64>| n.map_or(Bind::Null, |n| Bind::Int(n as i64));
        self.set("rows_inserted", count(totals.map(|t| t.inserted)))
            .set("rows_updated", count(totals.map(|t| t.updated)))
            .set("rows_deleted", count(deleted))
            .set("run_status", Bind::text(status))
            .set("error_kind", Bind::opt_text(error.map(|e| e.0)))
            .set("error_message", Bind::opt_text(error.map(|e| e.1)))
    }
}

fn merged(r: &ResultSet) -> Merged {
    Merged {
        inserted: r
            .count(|s| s.num_rows_inserted, "number of rows inserted")
            .unwrap_or(0),
        updated: r
            .count(|s| s.num_rows_updated, "number of rows updated")
            .unwrap_or(0),
    }
}

impl SqlApiWarehouse {
    /// Renders the statements for `tables`; refuses tables whose statements sqlgen did not render.
    pub fn new(
        sql: Arc<SqlApiClient>,
        sql_settings: &SqlSettings,
        statements: BTreeMap<String, String>,
        tables: &[SyncTable],
    ) -> Result<Self, String> {
        let wh = SqlApiWarehouse {
            sql,
            statements,
            control_table: format!(
                "{}.{}.syspro_sync_control",
                sql_settings.database, sql_settings.schema
            ),
            runs_table: format!(
                "{}.{}.audit_syspro__runs",
                sql_settings.database, sql_settings.schema
            ),
        };
        for t in tables {
            for stem in TABLE_STATEMENTS {
                wh.statement(&format!("{stem}__{}", t.slug))?;
            }
        }
        for name in STATEMENTS {
            wh.statement(name)?;
        }
        Ok(wh)
    }

    pub fn sql(&self) -> &SqlApiClient {
        &self.sql
    }

    fn statement(&self, name: &str) -> Result<&str, String> {
        self.statements
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("sqlgen rendered no statement {name}"))
    }

    async fn exec(&self, name: &str, binds: &Binds) -> Result<ResultSet, StepError> {
        let text = self.statement(name).map_err(internal)?;
        self.sql
            .execute_named(text, &|n| binds.get(n))
            .await
            .map_err(|e| sql_error(name, e))
    }

    /// `name` with its binds written in as literals, for a multi-statement request.
    fn inline(&self, name: &str, binds: &Binds) -> Result<String, StepError> {
        inlined(self.statement(name).map_err(internal)?, &|n| binds.get(n)).map_err(internal)
    }

    /// The page's pull statement, the page bound as `:page`: request 1 of a page.
    async fn buffer_page(
        &self,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
        binds: &mut Binds,
    ) -> Result<(), StepError> {
        let statement = match pull {
            Pull::Watermark { .. } => "buffer_page",
            Pull::Open => "buffer_open_page",
            Pull::Keys { batch, .. } => {
                binds.set("batch_number", Bind::Int(*batch));
                "buffer_keys_batch_page"
            }
            Pull::Digests => "buffer_digests_page",
        };
        binds
            .page(page)
            .set("page", Bind::Text(page.page.value.clone()));
        let r = self.exec(statement, binds).await;
        binds.set("page", Bind::Null);
        r.map(|_| ())
    }

    /// When the table's next verify is due: its `verify_group` and the seconds since its last
    /// successful verify.
    pub async fn verify_schedule(
        &self,
        table: &SyncTable,
    ) -> Result<(Option<String>, Option<f64>), SqlApiError> {
        let answer = self
            .sql
            .execute(
                &format!(
                    "select coalesce(control.verify_group, 'nightly'), \
                     (select datediff(second, max(runs.started_at), sysdate()) from {runs} as runs \
                      where runs.company_id = control.company_id and runs.table_name = control.table_name \
                      and runs.run_kind = 'verify' and runs.status = 'succeeded') \
                     from {control} as control where control.company_id = ? and control.table_name = ?",
                    runs = self.runs_table,
                    control = self.control_table,
                ),
                &[Bind::text(&table.company), Bind::text(&table.name)],
            )
            .await?;
        let row = answer.rows.into_iter().next().unwrap_or_default();
        Ok((
            row.first().cloned().flatten(),
            row.get(1)
                .cloned()
                .flatten()
                .and_then(|s| s.trim().parse::<f64>().ok()),
        ))
    }
}

impl Warehouse for SqlApiWarehouse {
    async fn control(&self, table: &SyncTable) -> Result<Option<Control>, StepError> {
        let answer = self
            .sql
            .execute(
                &format!(
                    "select control.is_enabled, coalesce(control.verify_group, 'nightly') from {} as control \
                     where control.company_id = ? and control.table_name = ?",
                    self.control_table
                ),
                &[Bind::text(&table.company), Bind::text(&table.name)],
            )
            .await
            .map_err(|e| sql_error("syspro_sync_control", e))?;
        Ok(answer.rows.first().map(|row| {
            let column = |i: usize| row.get(i).cloned().flatten();
            Control {
                enabled: !matches!(column(0).as_deref(), Some("false" | "0")),
                verify_group: column(1).unwrap_or_else(|| "nightly".into()),
            }
        }))
    }

    async fn start_run(&self, run: &Run<'_>) -> Result<Option<Started>, StepError> {
        let binds = Binds::of(run);
        let started = self.exec("start_run", &binds).await?;
        if started.count(|s| s.num_rows_inserted, "number of rows inserted") == Some(0) {
            return Ok(None);
        }
        // runs of this table cut off earlier (a killed process, a lost session) are closed as
        // abandoned and their work rows removed, as the procedures do; then what start_run
        // decided
        let handles = self
            .sql
            .submit_multi(&[
                self.inline("close_abandoned_runs", &binds)?,
                self.inline("clear_abandoned_runs", &binds)?,
                self.inline("read_run", &binds)?,
            ])
            .await
            .map_err(|e| sql_error("close_abandoned_runs + read_run", e))?;
        let read = self
            .sql
            .result(&handles[2])
            .await
            .map_err(|e| sql_error("read_run", e))?;
        let since = read
            .first("since")
            .or_else(|| {
                read.rows
                    .first()
                    .and_then(|r| r.first())
                    .and_then(|c| c.as_deref())
            })
            .map(str::to_string);
        Ok(Some(Started {
            since: if run.kind == RunKind::Sync {
                since
            } else {
                None
            },
        }))
    }

    async fn commit_page(&self, run: &Run<'_>, page: &PageIn<'_>) -> Result<(), StepError> {
        let mut binds = Binds::of(run);
        self.buffer_page(&Pull::Watermark { since: page.since }, page, &mut binds)
            .await?;
        binds.finish(RunStatus::Running.as_str(), None, None, None);
        let slug = &run.table.slug;
        let statements = [
            self.inline("audit_page", &binds)?,
            self.inline(&format!("land_page__{slug}"), &binds)?,
            self.inline("clear_page_buffer", &binds)?,
            "begin transaction".to_string(),
            self.inline(&format!("merge_poll__{slug}"), &binds)?,
            self.inline("count_merge", &binds)?,
            self.inline("advance_watermark", &binds)?,
            self.inline("finish_run", &binds)?,
            "commit".to_string(),
        ];
        self.sql.submit_multi(&statements).await.map_err(|e| {
            sql_error(
                "page commit (land, merge_poll, count_merge, advance_watermark)",
                e,
            )
        })?;
        Ok(())
    }

    async fn committed(&self, run: &Run<'_>) -> Result<Merged, StepError> {
        let read = self.exec("read_run", &Binds::of(run)).await?;
        let count = |column: &str| {
            read.first(column)
                .and_then(|n| n.trim().parse::<f64>().ok())
                .map_or(0, |n| n as u64)
        };
        Ok(Merged {
            inserted: count("rows_inserted"),
            updated: count("rows_updated"),
        })
    }

    async fn land_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        let mut binds = Binds::of(run);
        self.buffer_page(pull, page, &mut binds).await?;
        let slug = &run.table.slug;
        let land: Vec<String> = match pull {
            Pull::Watermark { .. } | Pull::Open => vec![format!("land_page__{slug}")],
            Pull::Keys { .. } => vec![
                format!("land_page__{slug}"),
                format!("land_missing__{slug}"),
            ],
            Pull::Digests => vec![format!("land_digests__{slug}")],
        };
        let mut statements = vec![self.inline("audit_page", &binds)?];
        for l in &land {
            statements.push(self.inline(l, &binds)?);
        }
        statements.push(self.inline("clear_page_buffer", &binds)?);
        self.sql
            .submit_multi(&statements)
            .await
            .map_err(|e| sql_error(&format!("audit_page + {}", land.join(" + ")), e))?;
        Ok(())
    }

    async fn audit_failed_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        let mut binds = Binds::of(run);
        self.buffer_page(pull, page, &mut binds).await?;
        self.exec("audit_page", &binds).await.map(|_| ())
    }

    async fn merge_poll(&self, run: &Run<'_>, poll_id: Option<&str>) -> Result<Merged, StepError> {
        let mut binds = Binds::of(run);
        binds.set("poll_id", Bind::opt_text(poll_id));
        let r = self
            .exec(&format!("merge_poll__{}", run.table.slug), &binds)
            .await?;
        Ok(merged(&r))
    }

    async fn collect_refresh_keys(
        &self,
        run: &Run<'_>,
        open_poll: Option<&str>,
    ) -> Result<(), StepError> {
        let mut binds = Binds::of(run);
        binds.set("poll_id", Bind::opt_text(open_poll));
        self.exec(&format!("collect_refresh_keys__{}", run.table.slug), &binds)
            .await
            .map(|_| ())
    }

    async fn verify_mark_deleted(&self, run: &Run<'_>) -> Result<u64, StepError> {
        let r = self
            .exec(
                &format!("verify_mark_deleted__{}", run.table.slug),
                &Binds::of(run),
            )
            .await?;
        Ok(r.count(|s| s.num_rows_updated, "number of rows updated")
            .unwrap_or(0))
    }

    async fn collect_verify_keys(&self, run: &Run<'_>) -> Result<(), StepError> {
        self.exec(
            &format!("collect_verify_keys__{}", run.table.slug),
            &Binds::of(run),
        )
        .await
        .map(|_| ())
    }

    async fn refresh_batches(&self, run: &Run<'_>) -> Result<Vec<KeyBatch>, StepError> {
        let batches = self.exec("read_refresh_batches", &Binds::of(run)).await?;
        batches
            .rows
            .iter()
            .map(|batch| {
                let number = batch
                    .first()
                    .cloned()
                    .flatten()
                    .ok_or_else(|| internal("read_refresh_batches answered no batch number"))?;
                let number = number
                    .trim()
                    .parse::<f64>()
                    .map(|n| n as i64)
                    .map_err(|e| internal(format!("batch number {number:?}: {e}")))?;
                let keys_json = batch
                    .get(2)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "[]".into());
                let keys = serde_json::from_str(&keys_json).map_err(|e| {
                    internal(format!(
                        "read_refresh_batches answered keys that are not JSON: {e}"
                    ))
                })?;
                Ok(KeyBatch { number, keys })
            })
            .collect()
    }

    async fn mark_missing_deleted(&self, run: &Run<'_>, batch: i64) -> Result<u64, StepError> {
        let mut binds = Binds::of(run);
        binds.set("batch_number", Bind::Int(batch));
        let r = self
            .exec(&format!("mark_missing_deleted__{}", run.table.slug), &binds)
            .await?;
        Ok(r.count(|s| s.num_rows_updated, "number of rows updated")
            .unwrap_or(0))
    }

    async fn advance_dependents_checked(&self, run: &Run<'_>) -> Result<(), StepError> {
        self.exec("advance_dependents_checked", &Binds::of(run))
            .await
            .map(|_| ())
    }

    async fn finish_run(
        &self,
        run: &Run<'_>,
        status: RunStatus,
        poll_id: Option<&str>,
        totals: &Totals,
    ) -> Result<(), StepError> {
        let mut binds = Binds::of(run);
        binds.set("poll_id", Bind::opt_text(poll_id));
        // a key refresh or verify closes its key work first, and counts what it deleted
        let refresh_done = status == RunStatus::Succeeded
            && (run.table.key_refresh || run.kind == RunKind::Verify);
        if refresh_done {
            self.exec(&format!("finish_key_refresh__{}", run.table.slug), &binds)
                .await?;
        }
        binds.finish(
            status.as_str(),
            Some(totals),
            refresh_done.then_some(totals.deleted),
            None,
        );
        self.exec("finish_run", &binds).await?;
        if refresh_done {
            self.exec("clear_refresh_keys", &binds).await?;
            if run.kind == RunKind::Verify {
                self.exec("clear_verify_digests", &binds).await?;
            }
        }
        Ok(())
    }

    async fn fail_run(
        &self,
        run: &Run<'_>,
        poll_id: Option<&str>,
        kind: &FailureKind,
        message: &str,
    ) -> bool {
        let table = &run.table.name;
        let mut binds = Binds::of(run);
        binds.set("poll_id", Bind::opt_text(poll_id));
        let message: String = message
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .take(4000)
            .collect();
        binds.finish("failed", None, None, Some((kind.as_str(), &message)));
        if let Err(e) = self.exec("clear_page_buffer", &binds).await {
            tracing::warn!(table = %table, run_id = run.id, error = %e, "could not clear the page buffer of a failed run");
        }
        // what a key refresh or verify got done is counted; its work rows go
        for statement in [
            format!("finish_key_refresh__{}", run.table.slug),
            "clear_refresh_keys".to_string(),
            "clear_verify_digests".to_string(),
        ] {
            if let Err(e) = self.exec(&statement, &binds).await {
                tracing::warn!(table = %table, run_id = run.id, error = %e, "could not clean up after a failed run");
            }
        }
        match self.exec("finish_run", &binds).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(table = %table, run_id = run.id, error = %e, "could not audit a failed run; its row stays 'running'");
                false
            }
        }
    }
}
