//! Talking to SYSPRO. Knows nothing about Snowflake: it answers "the rows of table T ordered by
//! (watermark, key), starting at position P" and "the columns of table T".

pub mod enet;
pub mod filter;
pub mod http;
pub mod metadata;
pub mod normalize;
pub mod odata;
pub mod position;
pub mod rows;
pub mod schema;

use std::time::Instant;

use crate::catalog::TableDef;
use crate::retry::{ErrorKind, UpstreamError};
use crate::watermark::{Since, Until};
use filter::Literal;
use odata::{ODataClient, PageQuery};
pub use position::{NextLink, Paging, Position};
pub use rows::Rows;
use schema::TableSchema;

/// Which rows a page asks for.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub table: &'a TableDef,
    pub schema: &'a TableSchema,
    pub since: Option<Since>,
    /// Exclusive upper bound on the watermark (backfill ranges).
    pub until: Option<Until>,
    /// `None` starts at the beginning.
    pub position: Option<&'a Position>,
    pub limit: usize,
    pub paging: Paging,
    /// Only these columns (keys-only reads); `None` uses the table's `select`.
    pub columns: Option<&'a [String]>,
    /// Order by the key alone (keys-only reads of watermarked tables).
    pub key_order_only: bool,
    /// Only the rows the table's open-items filter names.
    pub open_items: bool,
    /// Only the rows with these keys (values in `key_columns` order, as [`KeySet`] checked them).
    pub keys: Option<&'a [Vec<serde_json::Value>]>,
}

impl FetchRequest<'_> {
    /// The column whose values the page's rows mark: the high water is taken from it.
    pub fn watermark_column(&self) -> Option<&str> {
        if self.key_order_only {
            None
        } else {
            self.table.watermark_column.as_deref()
        }
    }

    pub fn order_columns(&self) -> Vec<&str> {
        if self.key_order_only {
            self.table.key_columns.iter().map(String::as_str).collect()
        } else {
            self.table.order_columns()
        }
    }
}

/// Sees a SYSPRO answer's bytes before they are normalised.
pub type Observer = dyn Fn(&[u8]) + Send + Sync;

/// Rows of one SYSPRO answer, normalised.
#[derive(Debug)]
pub struct SourcePage {
    /// Watermark values marked (`Rows::watermark`) unless the read orders by key only.
    pub rows: Rows,
    /// SYSPRO paged the answer itself: the rest is behind this link.
    pub next_link: Option<NextLink>,
    pub attempts: u32,
}

/// The configured SYSPRO transport.
#[derive(Debug)]
pub enum Source {
    OData(ODataClient),
    Enet(enet::EnetClient),
}

impl Source {
    pub async fn schema(&self, table: &TableDef) -> Result<TableSchema, UpstreamError> {
        let schema = match self {
            Source::OData(c) => c.schema(&table.name).await?,
            Source::Enet(c) => c.schema(table).await?,
        };
        let needed = table
            .key_columns
            .iter()
            .map(|c| (c, "key_columns"))
            .chain(
                table
                    .watermark_column
                    .iter()
                    .map(|c| (c, "watermark_column")),
            )
            .chain(table.select.iter().flatten().map(|c| (c, "select")));
        for (col, setting) in needed {
            if schema.column(col).is_none() {
                return Err(missing_column(table, &schema, col, setting));
            }
        }
        Ok(schema)
    }

    /// One read of a page, with the retry policy. `observer` sees SYSPRO's answer before it is
    /// normalised (OData only): the read-ahead learns where the next page starts as early as
    /// possible. The span names the transport and table, never the query (it may carry key values).
    pub async fn fetch(
        &self,
        req: &FetchRequest<'_>,
        observer: Option<&Observer>,
    ) -> Result<SourcePage, UpstreamError> {
        let span = tracing::info_span!(
            "syspro_request",
            transport = self.transport(),
            table = %req.table.name,
            elapsed_ms = tracing::field::Empty,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = tracing::Instrument::instrument(
            async {
                match self {
                    Source::OData(c) => fetch_odata(c, req, observer).await,
                    Source::Enet(c) => fetch_enet(c, req).await,
                }
            },
            span.clone(),
        )
        .await;
        span.record("elapsed_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(page) => {
                span.record("status", "ok");
                span.record("attempts", page.attempts);
            }
            Err(e) => {
                span.record("status", e.kind.as_str());
                span.record("attempts", e.attempts);
            }
        }
        result
    }

    /// `odata` or `enet`, as `syspro.transport` spells it.
    pub fn transport(&self) -> &'static str {
        match self {
            Source::OData(_) => "odata",
            Source::Enet(_) => "enet",
        }
    }

    /// Releases what the transport holds upstream (the e.net session) before the process exits.
    pub async fn shutdown(&self) {
        if let Source::Enet(c) = self {
            c.shutdown().await;
        }
    }
}

/// A key, watermark or selected column SYSPRO does not have: reading on would lose rows (a
/// keyset over a missing column) or fail later, so the read stops here and says what to set.
fn missing_column(
    table: &TableDef,
    schema: &TableSchema,
    column: &str,
    setting: &str,
) -> UpstreamError {
    let declared = if schema.declared_keys.is_empty() || setting != "key_columns" {
        String::new()
    } else {
        format!(" (SYSPRO declares the key {:?})", schema.declared_keys)
    };
    UpstreamError {
        kind: ErrorKind::Rejected,
        cause: crate::retry::Cause::NoSuchColumn,
        message: format!(
            "SYSPRO's {t} has no column {column:?}, which [tables.{t}] {setting} names{declared}; set [tables.{t}] {setting} to SYSPRO's columns (`ml-connector discover` prints the block to paste)",
            t = table.name
        ),
        attempts: 1,
    }
}

/// Pages through COMFND by keyset: `Where` is "strictly after the last row" spelled as a
/// disjunction of bracketed AND-groups (one bracket level, the form COMFND's OpenBracket /
/// CloseBracket / AndOr elements express), `OrderBy` the watermark then the key.
async fn fetch_enet(
    client: &enet::EnetClient,
    req: &FetchRequest<'_>,
) -> Result<SourcePage, UpstreamError> {
    let rejected = |message: String| UpstreamError {
        kind: ErrorKind::Rejected,
        cause: crate::retry::Cause::Unclassified,
        message,
        attempts: 0,
    };
    let order = req.order_columns();
    let wm = req.table.watermark_column.as_deref();
    let bound = |ts: chrono::NaiveDateTime| {
        if ts.time() == chrono::NaiveTime::MIN {
            ts.format("%Y-%m-%d").to_string()
        } else {
            ts.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    };
    let until: Vec<enet::Condition> = match (req.until, wm) {
        (Some(u), Some(wm)) => vec![enet::Condition {
            column: wm.to_string(),
            op: "LT",
            value: bound(u.0),
        }],
        _ => Vec::new(),
    };
    let mut where_any = Vec::new();
    match req.position {
        Some(Position::After { values }) => {
            if values.len() != order.len() {
                return Err(rejected(
                    "cursor does not match the table's key; start the pull again".into(),
                ));
            }
            let texts = values
                .iter()
                .zip(&order)
                .map(|(value, column)| {
                    enet::value_text(value).ok_or_else(|| {
                        rejected(format!(
                            "column {column} holds {value}, which cannot be compared"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            // (c1 > v1) or (c1 = v1 and c2 > v2) or ...: the rows after (v1, v2, ...).
            for i in 0..order.len() {
                let mut group: Vec<enet::Condition> = (0..i)
                    .map(|j| enet::Condition {
                        column: order[j].to_string(),
                        op: "EQ",
                        value: texts[j].clone(),
                    })
                    .collect();
                group.push(enet::Condition {
                    column: order[i].to_string(),
                    op: "GT",
                    value: texts[i].clone(),
                });
                group.extend(until.iter().cloned());
                where_any.push(group);
            }
        }
        None => {
            let mut group = Vec::new();
            if let (Some(since), Some(wm)) = (req.since, wm) {
                group.push(enet::Condition {
                    column: wm.to_string(),
                    op: "GE",
                    value: bound(since.0),
                });
            }
            group.extend(until.iter().cloned());
            if !group.is_empty() {
                where_any.push(group);
            }
        }
        Some(_) => {
            return Err(rejected(
                "e.net pages by key only (MLC_SYSPRO__PAGING = \"keyset\"); start the pull again"
                    .into(),
            ));
        }
    }
    let mut fixed: Vec<enet::Condition> = Vec::new();
    if req.open_items
        && let Some(open) = &req.table.open_items
    {
        fixed.extend(enet_open_conditions(open));
    }
    if let Some(keys) = req.keys {
        // COMFND's Where is one level of bracketed AND-groups joined by OR, so "these keys" is
        // one group per key; a key chunk never needs a position as well (see `key_chunks`).
        if req.position.is_some() {
            return Err(rejected(
                "e.net reads keys one chunk per request; start the pull again".into(),
            ));
        }
        where_any = enet_key_groups(req, keys).map_err(rejected)?;
    }
    if !fixed.is_empty() {
        if where_any.is_empty() {
            where_any.push(Vec::new());
        }
        for group in &mut where_any {
            group.extend(fixed.iter().cloned());
        }
    }
    // Always named: every public COMFND example sends <Columns> (CONTRACT.md §3.2).
    let all: Vec<String>;
    let columns = match req.columns.or(req.table.select.as_deref()) {
        Some(c) => Some(c),
        None => {
            all = req.schema.columns.iter().map(|c| c.name.clone()).collect();
            Some(all.as_slice()).filter(|c| !c.is_empty())
        }
    };
    let query = enet::ComFnd {
        table: &req.table.name,
        columns,
        where_any,
        order_by: order.iter().map(|c| c.to_string()).collect(),
        return_rows: req.limit,
    };
    let (raw, attempts) = client.query(&query).await?;
    let mut rows = Rows::new();
    for record in raw {
        rows.push_map(
            &enet::normalize_row(req.table, record),
            req.watermark_column(),
        );
    }
    Ok(SourcePage {
        rows,
        next_link: None,
        attempts,
    })
}

fn enet_open_conditions(open: &crate::catalog::OpenItems) -> Vec<enet::Condition> {
    open.all
        .iter()
        .map(|c| enet::Condition {
            column: c.column.clone(),
            op: c.op.enet(),
            value: match &c.value {
                crate::catalog::open_items::OpenValue::Text(t) => t.clone(),
                crate::catalog::open_items::OpenValue::Number(n) => n.clone(),
            },
        })
        .collect()
}

fn enet_key_groups(
    req: &FetchRequest<'_>,
    keys: &[Vec<serde_json::Value>],
) -> Result<Vec<Vec<enet::Condition>>, String> {
    keys.iter()
        .map(|key| {
            req.table
                .key_columns
                .iter()
                .zip(key)
                .map(|(column, value)| {
                    Ok(enet::Condition {
                        column: column.clone(),
                        op: "EQ",
                        value: enet::value_text(value)
                            .ok_or_else(|| format!("key column {column} holds {value}"))?,
                    })
                })
                .collect()
        })
        .collect()
}

/// `(k1 eq v1 and k2 eq v2) or (...)`: the rows with these keys; date-times in `zone`'s form.
fn odata_keys_clause(
    req: &FetchRequest<'_>,
    keys: &[Vec<serde_json::Value>],
    zone: Option<&str>,
) -> Result<String, String> {
    let columns = req
        .table
        .key_columns
        .iter()
        .map(|c| {
            req.schema
                .column(c)
                .ok_or_else(|| format!("SYSPRO's {} has no column {c:?}", req.table.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let groups = keys
        .iter()
        .map(|key| {
            let parts = columns
                .iter()
                .zip(key)
                .map(|(column, value)| {
                    Literal::from_record_value(column, value)
                        .map(|lit| format!("{} eq {}", column.name, lit.in_zone(zone).render()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", parts.join(" and ")))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(groups.join(" or "))
}

impl Source {
    /// Splits `keys` into runs that each fit one SYSPRO request: the query string stays within
    /// `max_query_bytes` (IIS's `maxQueryString`, CONTRACT.md §3.1) even when a continuation
    /// adds "after the last row" to it, and (e.net, which has no server paging) a run never holds
    /// more keys than one request returns rows. A key too long for any request is an error.
    pub fn key_chunks(
        &self,
        table: &TableDef,
        schema: &TableSchema,
        keys: &[Vec<serde_json::Value>],
        limit: usize,
        max_query_bytes: usize,
    ) -> Result<Vec<std::ops::Range<usize>>, UpstreamError> {
        let rejected = |message: String| UpstreamError {
            kind: ErrorKind::Rejected,
            cause: crate::retry::Cause::Unclassified,
            message,
            attempts: 0,
        };
        let order: Vec<&str> = table.key_columns.iter().map(String::as_str).collect();
        fn request<'a>(
            table: &'a TableDef,
            schema: &'a TableSchema,
            chunk: &'a [Vec<serde_json::Value>],
            limit: usize,
        ) -> FetchRequest<'a> {
            FetchRequest {
                table,
                schema,
                since: None,
                until: None,
                position: None,
                limit,
                paging: Paging::Keyset,
                columns: None,
                key_order_only: true,
                open_items: false,
                keys: Some(chunk),
            }
        }
        let size = |range: std::ops::Range<usize>,
                    after: Option<&Vec<serde_json::Value>>|
         -> Result<usize, UpstreamError> {
            let chunk = &keys[range];
            let req = request(table, schema, chunk, limit);
            match self {
                Source::OData(_) => {
                    // the longest zone form, so that the request fits whatever SYSPRO writes
                    let zone = Some("+00:00");
                    let mut clauses = vec![odata_keys_clause(&req, chunk, zone).map_err(rejected)?];
                    if let Some(after) = after {
                        let lits = order
                            .iter()
                            .zip(after)
                            .map(|(c, v)| {
                                Literal::from_record_value(
                                    schema.column(c).expect("checked by key_chunks' caller"),
                                    v,
                                )
                                .map(|l| l.in_zone(zone))
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(rejected)?;
                        clauses.push(filter::strictly_after(&order, &lits));
                    }
                    Ok(odata::query_string(
                        &filter::all_of(&clauses),
                        &order.join(","),
                        limit,
                        None,
                        &table.select.as_ref().map(|s| s.join(",")),
                    )
                    .len())
                }
                Source::Enet(_) => {
                    let all: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
                    let query = enet::ComFnd {
                        table: &table.name,
                        columns: table.select.as_deref().or(Some(all.as_slice())),
                        where_any: enet_key_groups(&req, chunk).map_err(rejected)?,
                        order_by: order.iter().map(|c| c.to_string()).collect(),
                        return_rows: limit,
                    };
                    // UserId (34 characters) and BusinessObject come with every query
                    let xml: usize =
                        url::form_urlencoded::byte_serialize(enet::comfnd_xml(&query).as_bytes())
                            .map(str::len)
                            .sum();
                    Ok(xml + 80)
                }
            }
        };
        // the key whose "after" clause is longest stands for any continuation of its run
        let key_len: Vec<usize> = keys
            .iter()
            .map(|k| serde_json::to_string(k).map_or(0, |s| s.len()))
            .collect();
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < keys.len() {
            let mut end = start + 1;
            let mut longest = start;
            let fits = |end: usize, longest: usize| -> Result<bool, UpstreamError> {
                let after = matches!(self, Source::OData(_)).then(|| &keys[longest]);
                Ok(size(start..end, after)? <= max_query_bytes)
            };
            if !fits(end, longest)? {
                return Err(rejected(format!(
                    "one key of {} does not fit a SYSPRO request of syspro.max_query_bytes = {max_query_bytes} bytes; raise it (and IIS's maxQueryString)",
                    table.name
                )));
            }
            while end < keys.len() && end - start < limit {
                let candidate = if key_len[end] > key_len[longest] {
                    end
                } else {
                    longest
                };
                if !fits(end + 1, candidate)? {
                    break;
                }
                longest = candidate;
                end += 1;
            }
            chunks.push(start..end);
            start = end;
        }
        Ok(chunks)
    }
}

/// The zone form date-time literals of this request take: learned from SYSPRO's answers (one
/// `$top=1` read of the column the first time), only when the request compares a date-time.
async fn literal_zone(
    client: &ODataClient,
    req: &FetchRequest<'_>,
) -> Result<Option<String>, UpstreamError> {
    let compares = req.since.is_some()
        || req.until.is_some()
        || req.keys.is_some()
        || matches!(req.position, Some(Position::After { .. }));
    if !compares {
        return Ok(None);
    }
    let mut columns: Vec<&str> = req.order_columns();
    columns.extend(req.table.watermark_column.as_deref());
    let temporal = columns.into_iter().find_map(|c| {
        req.schema
            .column(c)
            .filter(|col| col.edm_type == "Edm.DateTimeOffset")
    });
    match temporal {
        None => Ok(None),
        Some(col) => client.learn_zone(req.schema, &col.name).await,
    }
}

async fn fetch_odata(
    client: &ODataClient,
    req: &FetchRequest<'_>,
    observer: Option<&Observer>,
) -> Result<SourcePage, UpstreamError> {
    let rejected = |message: String| UpstreamError {
        kind: ErrorKind::Rejected,
        cause: crate::retry::Cause::Unclassified,
        message,
        attempts: 0,
    };
    let zone = literal_zone(client, req).await?;
    let zone = zone.as_deref();
    let query = match req.position {
        Some(Position::Link { relative, .. }) => PageQuery::Link(relative.clone()),
        position => {
            let order = req.order_columns();
            let mut clauses = Vec::new();
            if let (Some(since), Some(wm)) = (req.since, req.table.watermark_column.as_deref()) {
                let column = req.schema.column(wm).expect("checked by Source::schema");
                clauses.push(filter::at_least(
                    &column.name,
                    &Literal::for_timestamp(column, since.0)
                        .map_err(rejected)?
                        .in_zone(zone),
                ));
            }
            if let (Some(until), Some(wm)) = (req.until, req.table.watermark_column.as_deref()) {
                let column = req.schema.column(wm).expect("checked by Source::schema");
                clauses.push(filter::before(
                    &column.name,
                    &Literal::for_timestamp(column, until.0)
                        .map_err(rejected)?
                        .in_zone(zone),
                ));
            }
            if req.open_items
                && let Some(open) = &req.table.open_items
            {
                clauses.push(open.text());
            }
            if let Some(keys) = req.keys {
                clauses.push(odata_keys_clause(req, keys, zone).map_err(rejected)?);
            }
            let mut skip = None;
            match position {
                Some(Position::After { values }) => {
                    if values.len() != order.len() {
                        return Err(rejected(
                            "cursor does not match the table's key; start the pull again".into(),
                        ));
                    }
                    let lits = order
                        .iter()
                        .zip(values)
                        .map(|(c, value)| {
                            Literal::from_record_value(
                                req.schema.column(c).expect("checked"),
                                value,
                            )
                            .map(|l| l.in_zone(zone))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(rejected)?;
                    let names: Vec<&str> = order
                        .iter()
                        .map(|c| req.schema.column(c).expect("checked").name.as_str())
                        .collect();
                    clauses.push(filter::strictly_after(&names, &lits));
                }
                Some(Position::Offset { rows }) => skip = Some(*rows),
                _ => {}
            }
            let select = req
                .columns
                .map(|c| c.join(","))
                .or_else(|| req.table.select.as_ref().map(|s| s.join(",")));
            PageQuery::Options {
                filter: filter::all_of(&clauses),
                orderby: order.join(","),
                top: req.limit,
                skip: if req.paging == Paging::Skip {
                    skip.or(Some(0)).filter(|s| *s > 0)
                } else {
                    None
                },
                select,
            }
        }
    };
    let (page, attempts) = client
        .fetch_page(req.schema, &query, req.watermark_column(), observer)
        .await?;
    Ok(SourcePage {
        rows: page.rows,
        next_link: page.next_link.map(|link| client.next_link(&link)),
        attempts,
    })
}
