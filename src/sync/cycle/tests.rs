//! The cycle against a fake warehouse and a fake SYSPRO: the rules the procedures and push mode
//! share, without Snowflake.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;

/// SYSPRO's side: rows `(key, day)` in watermark order, `page_rows` a page, from `since`.
struct FakeSource {
    rows: Vec<(String, u32)>,
    page_rows: usize,
    /// Answer an error row instead of this page (1-based, counted across runs).
    error_at: Option<u32>,
    /// Ask for shutdown when this page is read.
    stop_at: Option<(u32, watch::Sender<bool>)>,
    /// Keys the open-items pull answers.
    open: Vec<String>,
    served: Mutex<u32>,
}

impl FakeSource {
    fn new(rows: usize, page_rows: usize) -> FakeSource {
        FakeSource {
            rows: (0..rows)
                .map(|i| (format!("k{i:03}"), i as u32 / 2))
                .collect(),
            page_rows,
            error_at: None,
            stop_at: None,
            open: Vec::new(),
            served: Mutex::new(0),
        }
    }
}

fn page_value(rows: &[(String, u32)], next: Option<String>, poll: &str) -> SourcePage {
    SourcePage {
        value: serde_json::json!({
            "poll_id": poll,
            "rows": rows.iter().map(|(k, d)| serde_json::json!({"key": k, "day": d})).collect::<Vec<_>>(),
            "next_cursor": next,
        })
        .to_string(),
        rows: rows.len() as u64,
        poll_id: Some(poll.to_string()),
        next_cursor: next,
        error: None,
    }
}

impl PageSource for FakeSource {
    async fn page(
        &self,
        _table: &str,
        pull: &Pull<'_>,
        cursor: Option<&str>,
    ) -> Result<SourcePage, StepError> {
        let served = {
            let mut s = self.served.lock().unwrap();
            *s += 1;
            *s
        };
        if let Some((at, tx)) = &self.stop_at
            && *at == served
        {
            tx.send_replace(true);
        }
        if self.error_at == Some(served) {
            return Ok(SourcePage {
                value:
                    r#"{"error":{"kind":"upstream_unavailable","message":"SYSPRO answered 500"}}"#
                        .into(),
                poll_id: Some("p-err".into()),
                error: Some(("upstream_unavailable".into(), "SYSPRO answered 500".into())),
                ..SourcePage::default()
            });
        }
        let start: usize = cursor.map_or(0, |c| c.parse().unwrap());
        let selected: Vec<(String, u32)> = match pull {
            Pull::Watermark { since } => {
                let since: u32 = since.map_or(0, |s| s.parse().unwrap());
                self.rows.iter().filter(|r| r.1 >= since).cloned().collect()
            }
            Pull::Open => self
                .rows
                .iter()
                .filter(|r| self.open.contains(&r.0))
                .cloned()
                .collect(),
            Pull::Keys { keys, .. } => {
                let wanted: Vec<&str> = keys
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap())
                    .collect();
                self.rows
                    .iter()
                    .filter(|r| wanted.contains(&r.0.as_str()))
                    .cloned()
                    .collect()
            }
            Pull::Digests => self.rows.clone(),
        };
        let end = (start + self.page_rows).min(selected.len());
        let next = (end < selected.len()).then(|| end.to_string());
        Ok(page_value(
            &selected[start..end],
            next,
            &format!("poll-{}", pull.name()),
        ))
    }
}

#[derive(Default)]
struct State {
    control: Option<Control>,
    /// run id → (status, error kind)
    runs: BTreeMap<String, (String, Option<String>)>,
    /// Pages audited: (run, page number, error kind)
    pages: Vec<(String, u32, Option<String>)>,
    /// Landed rows not yet merged, by poll: (key, day)
    landed: BTreeMap<String, Vec<(String, u32)>>,
    /// The target table: key → (day, times written)
    target: BTreeMap<String, (u32, u32)>,
    deleted: Vec<String>,
    high_water: Option<u32>,
    committed: Merged,
    /// Fail the commit of this page number (the whole commit is undone).
    fail_commit_at: Option<u32>,
    refresh_keys: Vec<String>,
    steps: Vec<String>,
}

#[derive(Default)]
struct FakeWarehouse(Mutex<State>);

fn rows_of(page: &SourcePage) -> Vec<(String, u32)> {
    let v: serde_json::Value = serde_json::from_str(&page.value).unwrap();
    v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["key"].as_str().unwrap().to_string(),
                        r["day"].as_u64().unwrap() as u32,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl State {
    fn merge(&mut self, poll: &str) -> Merged {
        let mut m = Merged::default();
        for (key, day) in self.landed.remove(poll).unwrap_or_default() {
            match self.target.get_mut(&key) {
                Some((d, _)) if *d == day => {}
                Some((d, n)) => {
                    *d = day;
                    *n += 1;
                    m.updated += 1;
                }
                None => {
                    self.target.insert(key, (day, 1));
                    m.inserted += 1;
                }
            }
        }
        m
    }
}

impl Warehouse for FakeWarehouse {
    async fn control(&self, _table: &SyncTable) -> Result<Option<Control>, StepError> {
        Ok(self.0.lock().unwrap().control.clone())
    }

    async fn start_run(&self, run: &Run<'_>) -> Result<Option<Started>, StepError> {
        let mut s = self.0.lock().unwrap();
        s.runs.insert(run.id.to_string(), ("running".into(), None));
        Ok(Some(Started {
            since: s.high_water.map(|d| d.to_string()),
        }))
    }

    async fn commit_page(&self, run: &Run<'_>, page: &PageIn<'_>) -> Result<(), StepError> {
        let mut s = self.0.lock().unwrap();
        if s.fail_commit_at == Some(page.number) {
            return Err(StepError::new(
                FailureKind::SnowflakeError,
                "merge_poll: Duplicate row detected",
            ));
        }
        s.pages.push((run.id.to_string(), page.number, None));
        let rows = rows_of(page.page);
        let hw = rows.iter().map(|r| r.1).max();
        let poll = page.page.poll_id.clone().unwrap();
        s.landed.entry(poll.clone()).or_default().extend(rows);
        let m = s.merge(&poll);
        s.committed.inserted += m.inserted;
        s.committed.updated += m.updated;
        s.high_water = s.high_water.max(hw);
        s.steps.push(format!("commit {}", page.number));
        Ok(())
    }

    async fn committed(&self, _run: &Run<'_>) -> Result<Merged, StepError> {
        Ok(std::mem::take(&mut self.0.lock().unwrap().committed))
    }

    async fn land_page(
        &self,
        run: &Run<'_>,
        pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        let mut s = self.0.lock().unwrap();
        s.pages.push((run.id.to_string(), page.number, None));
        s.steps
            .push(format!("land {} {}", pull.name(), page.number));
        let poll = page.page.poll_id.clone().unwrap();
        let rows = rows_of(page.page);
        s.landed.entry(poll).or_default().extend(rows);
        Ok(())
    }

    async fn audit_failed_page(
        &self,
        run: &Run<'_>,
        _pull: &Pull<'_>,
        page: &PageIn<'_>,
    ) -> Result<(), StepError> {
        let kind = page.page.error.as_ref().map(|e| e.0.clone());
        self.0
            .lock()
            .unwrap()
            .pages
            .push((run.id.to_string(), page.number, kind));
        Ok(())
    }

    async fn merge_poll(&self, _run: &Run<'_>, poll_id: Option<&str>) -> Result<Merged, StepError> {
        let mut s = self.0.lock().unwrap();
        s.steps.push(format!("merge {}", poll_id.unwrap_or("-")));
        Ok(s.merge(poll_id.unwrap_or_default()))
    }

    async fn collect_refresh_keys(
        &self,
        _run: &Run<'_>,
        open_poll: Option<&str>,
    ) -> Result<(), StepError> {
        let mut s = self.0.lock().unwrap();
        s.steps
            .push(format!("collect_refresh_keys {}", open_poll.unwrap_or("-")));
        // what the target holds as open that the open-items pull no longer returned
        s.refresh_keys = vec!["k000".into(), "gone".into()];
        Ok(())
    }

    async fn verify_mark_deleted(&self, _run: &Run<'_>) -> Result<u64, StepError> {
        Ok(0)
    }

    async fn collect_verify_keys(&self, _run: &Run<'_>) -> Result<(), StepError> {
        Ok(())
    }

    async fn refresh_batches(&self, _run: &Run<'_>) -> Result<Vec<KeyBatch>, StepError> {
        let s = self.0.lock().unwrap();
        Ok(if s.refresh_keys.is_empty() {
            Vec::new()
        } else {
            vec![KeyBatch {
                number: 1,
                keys: serde_json::json!(s.refresh_keys),
            }]
        })
    }

    async fn mark_missing_deleted(&self, _run: &Run<'_>, batch: i64) -> Result<u64, StepError> {
        let mut s = self.0.lock().unwrap();
        s.steps.push(format!("mark_missing_deleted {batch}"));
        s.deleted.push("gone".into());
        Ok(1)
    }

    async fn advance_dependents_checked(&self, _run: &Run<'_>) -> Result<(), StepError> {
        self.0
            .lock()
            .unwrap()
            .steps
            .push("advance_dependents_checked".into());
        Ok(())
    }

    async fn finish_run(
        &self,
        run: &Run<'_>,
        status: RunStatus,
        _poll_id: Option<&str>,
        _totals: &Totals,
    ) -> Result<(), StepError> {
        let mut s = self.0.lock().unwrap();
        s.steps.push(format!("finish {}", status.as_str()));
        s.runs
            .insert(run.id.to_string(), (status.as_str().into(), None));
        Ok(())
    }

    async fn fail_run(
        &self,
        run: &Run<'_>,
        _poll_id: Option<&str>,
        kind: &FailureKind,
        _message: &str,
    ) -> bool {
        let mut s = self.0.lock().unwrap();
        s.landed.clear();
        s.committed = Merged::default();
        s.runs.insert(
            run.id.to_string(),
            ("failed".into(), Some(kind.as_str().into())),
        );
        true
    }
}

fn table(key_refresh: bool) -> SyncTable {
    SyncTable {
        company: String::new(),
        name: "ApInvoice".into(),
        slug: "ap_invoice".into(),
        has_watermark: true,
        interval: std::time::Duration::from_secs(60),
        open_items: key_refresh,
        key_refresh,
    }
}

fn cycle(source: FakeSource, pages_per_run: u32) -> Cycle<FakeWarehouse, FakeSource> {
    Cycle::new(FakeWarehouse::default(), source, pages_per_run)
}

fn state<S>(c: &Cycle<FakeWarehouse, S>) -> std::sync::MutexGuard<'_, State> {
    c.warehouse.0.lock().unwrap()
}

fn no_stop() -> Stop {
    watch::channel(false).1
}

#[tokio::test]
async fn every_row_lands_exactly_once_across_pages() {
    let c = cycle(FakeSource::new(10, 3), 100);
    let report = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert_eq!((report.pages, report.rows_pulled), (4, 10));
    assert_eq!((report.rows_inserted, report.rows_updated), (10, 0));
    assert!(!report.partial);
    {
        let s = state(&c);
        assert_eq!(s.target.len(), 10);
        assert!(s.target.values().all(|(_, writes)| *writes == 1));
        assert_eq!(s.high_water, Some(4));
        assert_eq!(s.runs[&report.run_id].0, "succeeded");
    }

    // the next run re-reads from the watermark: nothing is doubled or rewritten
    let again = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert_eq!(again.since.as_deref(), Some("4"));
    assert_eq!((again.rows_inserted, again.rows_updated), (0, 0));
    assert_eq!(state(&c).target.len(), 10);
}

#[tokio::test]
async fn the_watermark_moves_only_with_its_merge() {
    let c = cycle(FakeSource::new(10, 3), 100);
    state(&c).fail_commit_at = Some(2);
    let err = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::SnowflakeError);
    assert!(err.audited && err.retriable());
    let s = state(&c);
    // page 1 committed with its watermark; page 2's commit did not happen, nor its watermark
    assert_eq!(s.target.len(), 3);
    assert_eq!(s.high_water, Some(1));
    assert_eq!(
        s.runs[err.run_id.as_ref().unwrap()],
        ("failed".to_string(), Some("snowflake_error".to_string()))
    );
    assert_eq!(s.steps, ["commit 1"]);
}

#[tokio::test]
async fn an_error_answer_is_audited_and_the_watermark_stays() {
    let mut source = FakeSource::new(10, 3);
    source.error_at = Some(1);
    let c = cycle(source, 100);
    let err = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        FailureKind::Service("upstream_unavailable".into())
    );
    assert_eq!(err.kind, "upstream_unavailable");
    assert_eq!(err.message, "SYSPRO answered 500");
    let s = state(&c);
    assert_eq!(s.high_water, None);
    assert!(s.target.is_empty());
    let run = err.run_id.as_ref().unwrap();
    assert_eq!(
        s.pages,
        [(run.clone(), 1, Some("upstream_unavailable".into()))]
    );
    assert_eq!(s.runs[run].1.as_deref(), Some("upstream_unavailable"));
}

#[tokio::test]
async fn a_stop_cancels_before_the_next_commit() {
    let (tx, stop) = watch::channel(false);
    let mut source = FakeSource::new(10, 3);
    // shutdown is asked while page 2 is being read
    source.stop_at = Some((2, tx));
    let c = cycle(source, 100);
    let err = c
        .run(&table(false), RunKind::Sync, &stop)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Cancelled);
    assert!(!err.retriable());
    assert!(err.audited);
    {
        let s = state(&c);
        assert_eq!(s.steps, ["commit 1"], "page 2 was read but not committed");
        assert_eq!(s.high_water, Some(1));
        assert_eq!(
            s.runs[err.run_id.as_ref().unwrap()].1.as_deref(),
            Some("cancelled")
        );
    }

    // asked before the run: nothing starts
    let err = c
        .run(&table(false), RunKind::Sync, &stop)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Cancelled);
    assert!(!err.audited);
}

#[tokio::test]
async fn a_first_load_goes_on_run_after_run_when_pages_per_run_ends_it() {
    let c = cycle(FakeSource::new(10, 3), 2);
    let first = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert!(first.partial);
    assert_eq!((first.pages, first.rows_inserted), (2, 6));
    {
        let s = state(&c);
        assert_eq!(s.runs[&first.run_id].0, "partial");
        assert_eq!(s.high_water, Some(2));
    }
    let second = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert!(!second.partial, "{second:?}");
    assert_eq!(second.since.as_deref(), Some("2"));
    // row k005 (day 2) is read again at the watermark and left alone by the MERGE
    assert_eq!((second.rows_inserted, second.rows_updated), (4, 0));
    let s = state(&c);
    assert_eq!(s.target.len(), 10);
    assert!(s.target.values().all(|(_, writes)| *writes == 1));
}

#[tokio::test]
async fn a_key_refresh_follows_the_watermark_and_never_moves_it() {
    let mut source = FakeSource::new(4, 10);
    source.open = vec!["k001".into(), "k002".into()];
    let c = cycle(source, 100);
    let report = c
        .run(&table(true), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert_eq!((report.rows_deleted, report.keys_refreshed), (1, 2));
    let s = state(&c);
    assert_eq!(
        s.steps,
        [
            "commit 1",
            "finish running",
            "land open_items 2",
            "merge poll-open_items",
            "collect_refresh_keys poll-open_items",
            "land keys 3",
            "merge poll-keys",
            "mark_missing_deleted 1",
            "advance_dependents_checked",
            "finish succeeded",
        ]
    );
    assert_eq!(s.high_water, Some(1));
    assert_eq!(s.target.len(), 4);
}

#[tokio::test]
async fn a_disabled_table_is_skipped() {
    let c = cycle(FakeSource::new(4, 10), 100);
    state(&c).control = Some(Control {
        enabled: false,
        verify_group: "nightly".into(),
    });
    let report = c
        .run(&table(false), RunKind::Sync, &no_stop())
        .await
        .unwrap();
    assert!(report.skipped);
    assert!(state(&c).runs.is_empty());
    state(&c).control = Some(Control {
        enabled: true,
        verify_group: "none".into(),
    });
    assert!(
        c.run(&table(false), RunKind::Verify, &no_stop())
            .await
            .unwrap()
            .skipped
    );
}

#[test]
fn failure_kinds_keep_their_audit_text() {
    for (kind, text) in [
        (FailureKind::Cancelled, "cancelled"),
        (FailureKind::Abandoned, "abandoned"),
        (FailureKind::NotInControl, "not_in_control"),
        (FailureKind::BadRequest, "bad_request"),
        (FailureKind::TooManyPages, "too_many_pages"),
        (FailureKind::SnowflakeAuth, "snowflake_auth"),
        (FailureKind::SnowflakeConfig, "snowflake_config"),
        (FailureKind::SnowflakeError, "snowflake_error"),
        (FailureKind::PushError, "push_error"),
        (
            FailureKind::Service("upstream_timeout".into()),
            "upstream_timeout",
        ),
    ] {
        assert_eq!(kind.as_str(), text);
        assert_eq!(serde_json::to_value(&kind).unwrap(), text);
    }
}
