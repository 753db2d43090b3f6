//! Running a checked call: one page within a byte budget, its high water, where the next page
//! starts (by the rule of [`super::page`]) and the signed cursor for it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use tracing::Instrument;

use super::cursor::{CursorFunction, CursorState};
use super::engine::{Company, Puller};
use super::keyset::{KeySet, match_text, record_match_text};
use super::page::{Follows, Page, PullFailure, follows, position_after};
use super::readahead::PullContext;
use super::request::{Mode, PreparedPull, range_binding};
use crate::retry::{ErrorKind, UpstreamError};
use crate::syspro::{FetchRequest, NextLink, Paging, Position, Rows};
use crate::watermark::{format_naive, parse_record_timestamp};

/// Bytes kept free in each answer for the envelope around the rows (ids, cursor, names).
const ENVELOPE_RESERVE: usize = 8 * 1024;

/// A short page followed by more rows teaches the server's silent page cap only from this size
/// on: smaller short pages are more likely rows inserted while the pull ran.
const MIN_LEARNED_CAP: usize = 50;

impl Puller {
    /// Fetches one page and builds the function's value. `budget` bounds the value's JSON size.
    pub async fn run(&self, p: &PreparedPull, budget: usize) -> Result<Page, PullFailure> {
        let poll_id = p.poll_id();
        let span = tracing::info_span!(
            "page",
            table = %p.name,
            function = p.mode.sql_name(),
            poll_id = %poll_id,
            page = p.page(),
            position = p.state.as_ref().map_or("start", |s| s.position.kind()),
        );
        async {
            if let Mode::ByKeys(set) = &p.mode {
                self.run_keys(p, set, poll_id, budget).await
            } else {
                self.run_page(p, poll_id, budget).await
            }
        }
        .instrument(span)
        .await
    }

    async fn run_page(
        &self,
        p: &PreparedPull,
        poll_id: String,
        budget: usize,
    ) -> Result<Page, PullFailure> {
        let fail = |error| PullFailure::of(p, &poll_id, error);
        let company = self.company_of(&p.company);
        let schema = company.source().schema(&p.table).await.map_err(fail)?;
        let limit = company.effective_page_rows();
        let ctx = Arc::new(PullContext::new(p.clone(), schema, limit, self.paging));
        let position = p.state.as_ref().map(|s| s.position.clone());
        let request = ctx.request(position.as_ref());
        // Only pulls whose caller follows cursors are read ahead.
        let ahead = company.ahead.as_ref().zip(p.state.as_ref());
        if let Some((ahead, state)) = ahead {
            ahead.caller_at(&ctx, &state.poll_id, state.page);
        }
        let read_ahead = match (ahead, &position) {
            (Some((ahead, _)), Some(pos)) => ahead.take(&ctx, pos).await,
            _ => None,
        };
        let page = match read_ahead {
            Some(page) => page,
            None => {
                let observer = ahead
                    .and_then(|(ahead, state)| ahead.observer(&ctx, &state.poll_id, state.page));
                company
                    .fetch_limited_observed(&request, observer.as_deref())
                    .await
                    .map_err(fail)?
            }
        };
        let fetched_at = Utc::now().naive_utc();

        let already = match &position {
            Some(Position::Link { skip, .. }) => *skip,
            _ => 0,
        };
        let fetched = page.rows.len();
        let mut rows = page.rows;
        rows.remove_front(already);
        // One row always goes out, or a huge row would stall the pull forever.
        let mut budget_left = budget.saturating_sub(ENVELOPE_RESERVE);
        let mut kept = 0;
        for row in rows.iter() {
            let size = row.len() + 1;
            if kept > 0 && size > budget_left {
                break;
            }
            budget_left = budget_left.saturating_sub(size);
            kept += 1;
        }
        let cut = kept < rows.len();
        rows.truncate(kept);

        let mut high_water = p.state.as_ref().and_then(|s| s.high_water.clone());
        if p.table.watermark_column.is_some() && p.mode == Mode::Rows {
            for i in 0..rows.len() {
                if let Some(v) = rows.watermark(i) {
                    // Rows come in watermark order, so most equal the high water: skip parsing those.
                    if high_water.as_deref().is_none_or(|h| v != h && later(&v, h)) {
                        high_water = Some(v.into_owned());
                    }
                }
            }
        }

        let delivered_before = p.state.as_ref().map(|s| s.rows_delivered).unwrap_or(0);
        let after_last = |rows: &Rows| -> Option<Position> {
            let n = rows.len();
            (n > 0).then(|| {
                position_after(
                    self.paging,
                    &ctx.order,
                    &rows.record(n - 1),
                    delivered_before + n as u64,
                )
            })
        };
        let read_by_link = matches!(position, Some(Position::Link { .. }));
        let next = if cut {
            match &position {
                // The rest of the page SYSPRO's link gave: the same link, more of it skipped.
                Some(Position::Link { relative, .. }) => Some(Position::Link {
                    relative: relative.clone(),
                    skip: already + rows.len(),
                }),
                _ => after_last(&rows),
            }
        } else {
            match follows(fetched, limit, page.next_link.is_some(), read_by_link) {
                Follows::Nothing => None,
                Follows::More => match (&page.next_link, self.paging) {
                    // `$skip` paging follows SYSPRO's link. Keyset paging resumes after the last
                    // row instead: the link encodes a position we cannot inspect (offset-based
                    // links skip or repeat rows when data changes between pages, syspro.md §5.7);
                    // the same number of requests, and exactly-once whatever the link means.
                    (Some(link), Paging::Skip) => Some(link_position(link).map_err(fail)?),
                    _ => after_last(&rows),
                },
                // One row asked for after the last row settles it.
                Follows::Unproven => match after_last(&rows) {
                    None => None,
                    Some(pos) => {
                        let mut probe = ctx.request(Some(&pos));
                        probe.limit = 1;
                        let after = company.fetch_limited(&probe).await.map_err(fail)?;
                        if after.rows.is_empty() {
                            None
                        } else {
                            learn_page_cap(company, &p.name, limit, fetched);
                            Some(pos)
                        }
                    }
                },
            }
        };
        if let Some((ahead, state)) = ahead {
            if cut {
                ahead.page_was_cut(&state.poll_id);
            }
            if let Some(pos) = &next {
                // Usually started already, from SYSPRO's bytes; not when the budget cut the
                // page, or for positions only a normalised page gives.
                ahead.offer(&ctx, &state.poll_id, state.page + 1, pos.clone());
            }
        }
        let page_no = p.page();
        let next_cursor = next.map(|pos| {
            let mut state = CursorState::new(
                p.mode.cursor_function(),
                &p.name,
                range_binding(p.since, p.until),
                &poll_id,
                page_no + 1,
                pos,
                Utc::now().timestamp(),
            );
            state.high_water = high_water.clone();
            state.rows_delivered = delivered_before + rows.len() as u64;
            self.signer.sign(&state)
        });
        Ok(Page {
            table: p.name.clone(),
            company: p.company.clone(),
            poll_id,
            page: page_no,
            fetched_at: format_naive(fetched_at),
            since: p.since.map(|s| s.canonical()),
            rows,
            next_cursor,
            high_water,
            key_columns: p.table.key_columns.clone(),
            watermark_column: p.table.watermark_column.clone(),
            attempts: page.attempts,
            missing: None,
            open_items: match p.mode {
                Mode::Open => p.table.open_items.as_ref().map(|o| o.text()),
                _ => None,
            },
        })
    }

    /// One answer of `SYSPRO_PULL_KEYS`: the key runs of [`crate::syspro::Source::key_chunks`],
    /// one SYSPRO request each (more when SYSPRO pages a run), until the byte budget is used. A
    /// run's keys that no record answered are `missing` only once a request shows nothing
    /// follows the last row: a short page alone proves nothing (CONTRACT.md §3.2).
    async fn run_keys(
        &self,
        p: &PreparedPull,
        set: &KeySet,
        poll_id: String,
        budget: usize,
    ) -> Result<Page, PullFailure> {
        let fail = |error| PullFailure::of(p, &poll_id, error);
        let company = self.company_of(&p.company);
        let page_no = p.page();
        let mut rows = Rows::new();
        let mut missing = Vec::new();
        let mut attempts = 0;
        let mut next = None;
        if !set.keys.is_empty() {
            let schema = company.source().schema(&p.table).await.map_err(fail)?;
            let chunks = company
                .source()
                .key_chunks(
                    &p.table,
                    &schema,
                    &set.keys,
                    self.page_rows,
                    self.max_query_bytes,
                )
                .map_err(fail)?;
            let (mut run, mut pos, mut seen) = match &p.state {
                Some(s) => (s.key_run, Some(s.position.clone()), s.seen.clone()),
                None => (0, None, Vec::new()),
            };
            if matches!(pos, Some(Position::Offset { rows: 0 })) {
                pos = None;
            }
            let mut budget_left = budget.saturating_sub(ENVELOPE_RESERVE);
            while run < chunks.len() {
                let chunk = &set.keys[chunks[run].clone()];
                let wanted: HashMap<String, u32> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (match_text(k), i as u32))
                    .collect();
                let request = FetchRequest {
                    table: &p.table,
                    schema: &schema,
                    since: None,
                    until: None,
                    position: pos.as_ref(),
                    limit: self.page_rows,
                    paging: Paging::Keyset,
                    columns: None,
                    key_order_only: true,
                    open_items: false,
                    keys: Some(chunk),
                };
                let page = company.fetch_limited(&request).await.map_err(fail)?;
                attempts += page.attempts;
                let fetched = page.rows.len();
                let mut kept = 0;
                for row in page.rows.iter() {
                    // the row, its comma and its digest
                    let size = row.len() + 36;
                    if (kept > 0 || !rows.is_empty()) && size > budget_left {
                        break;
                    }
                    budget_left = budget_left.saturating_sub(size);
                    kept += 1;
                }
                for i in 0..kept {
                    let record = page.rows.record(i);
                    if let Some(&j) = wanted.get(&record_match_text(&p.table, &record))
                        && !seen.contains(&j)
                    {
                        seen.push(j);
                    }
                }
                rows.extend_from(&page.rows, 0..kept);
                let unseen = chunk.len() > seen.len();
                let cut = kept < fetched;
                // More of this run may follow when SYSPRO paged it or the budget cut it; after a
                // full or short page, only while keys are unanswered: each key matches one row,
                // so once all are answered nothing of the run can follow.
                let more = cut
                    || match follows(fetched, self.page_rows, page.next_link.is_some(), false) {
                        Follows::Nothing => false,
                        Follows::More if page.next_link.is_some() => true,
                        Follows::More | Follows::Unproven => unseen,
                    };
                if more {
                    if kept > 0 {
                        pos = Some(position_after(
                            Paging::Keyset,
                            &p.table.key_columns,
                            &page.rows.record(kept - 1),
                            0,
                        ));
                    }
                    if cut || kept == 0 {
                        next = Some((run, pos.clone(), seen.clone()));
                        break;
                    }
                    continue;
                }
                let seen_set: HashSet<u32> = seen.iter().copied().collect();
                let start = chunks[run].start;
                for j in 0..chunk.len() {
                    if !seen_set.contains(&(j as u32)) {
                        missing.push(set.object(&p.table, start + j));
                    }
                }
                run += 1;
                pos = None;
                seen.clear();
                if run < chunks.len() && budget_left < 64 * 1024 {
                    next = Some((run, None, Vec::new()));
                    break;
                }
            }
        }
        let next_cursor = next.map(|(run, pos, seen)| {
            let mut state = CursorState::new(
                CursorFunction::PullKeys,
                &p.name,
                Some(set.binding.clone()),
                &poll_id,
                page_no + 1,
                // the start of a run is "no position"; Offset 0 stands for it in the cursor
                pos.unwrap_or(Position::Offset { rows: 0 }),
                Utc::now().timestamp(),
            );
            state.key_run = run;
            state.seen = seen;
            self.signer.sign(&state)
        });
        Ok(Page {
            table: p.name.clone(),
            company: p.company.clone(),
            poll_id,
            page: page_no,
            fetched_at: format_naive(Utc::now().naive_utc()),
            since: None,
            rows,
            next_cursor,
            high_water: None,
            key_columns: p.table.key_columns.clone(),
            watermark_column: p.table.watermark_column.clone(),
            attempts,
            missing: Some(missing),
            open_items: None,
        })
    }
}

/// A short page without a next link had more rows behind it: that company's SYSPRO caps pages
/// silently, so its later pages ask for no more than it answered. Learned per company: each is
/// its own database, possibly behind its own OData configuration.
fn learn_page_cap(company: &Company, table: &str, asked: usize, answered: usize) {
    if answered < MIN_LEARNED_CAP {
        return;
    }
    if company.lower_page_cap(answered) {
        tracing::warn!(
            message = "SYSPRO answered fewer rows than asked, without a next link, and more followed: it caps pages silently; pages now ask for no more.",
            table = %table,
            asked,
            answered
        );
    }
}

/// The cursor position for SYSPRO's next link; a link off the configured service is refused
/// here, before any cursor carries it.
fn link_position(link: &NextLink) -> Result<Position, UpstreamError> {
    match link {
        NextLink::InService(relative) => Ok(Position::Link {
            relative: relative.clone(),
            skip: 0,
        }),
        NextLink::Refused(why) => Err(UpstreamError {
            kind: ErrorKind::Rejected,
            cause: crate::retry::Cause::Unclassified,
            message: why.clone(),
            attempts: 1,
        }),
    }
}

/// True when watermark text `a` is later than `b`, compared as timestamps when both parse.
fn later(a: &str, b: &str) -> bool {
    match (parse_record_timestamp(a), parse_record_timestamp(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}
