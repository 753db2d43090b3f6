//! The OData v4 service (syspro.md §1): service document, `$metadata`, entity
//! sets with `$filter $orderby $select $top $skip $count $skiptoken`, server
//! driven paging with `@odata.nextLink`.

use std::io::Write as _;
use std::sync::Arc;

use crate::Simulator;
use crate::filter;
use crate::http::{Request, Response};
use crate::schema::{self, ColType, TableDef};
use crate::store::{NULL, Table, fmt_datetime, write_decimal};

/// syspro.md §1.2 [EVANG]: `https://[server]/SYSPRO8Odata/SYSPROOData/[company]/[table]` (UNCONFIRMED).
pub(crate) const PREFIX: &str = "/SYSPRO8Odata/SYSPROOData";

const JSON_CT: &str = "application/json; odata.metadata=minimal; odata.streaming=true";

/// Sorted matching row indices of recent queries, so that paging through a
/// large table with `$skip`/nextLink does not re-sort per page (a server cursor).
#[derive(Default)]
pub(crate) struct Cache {
    entries: Vec<(u64, usize, String, Arc<Vec<u32>>)>,
}

impl Cache {
    fn get(&self, version: u64, t: usize, key: &str) -> Option<Arc<Vec<u32>>> {
        self.entries
            .iter()
            .find(|e| e.0 == version && e.1 == t && e.2 == key)
            .map(|e| e.3.clone())
    }
    fn put(&mut self, version: u64, t: usize, key: String, v: Arc<Vec<u32>>) {
        self.entries.retain(|e| e.0 == version);
        if self.entries.len() >= 6 {
            self.entries.remove(0);
        }
        self.entries.push((version, t, key, v));
    }
}

pub(crate) fn error(status: u16, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": "", "message": message}});
    Response::new(status)
        .header("Content-Type", "application/json; odata.metadata=minimal")
        .header("OData-Version", "4.0")
        .body(serde_json::to_vec(&body).expect("json"))
}

/// The company segment of an OData path (the path after `{PREFIX}/`).
pub(crate) fn company_segment(rest: &str) -> &str {
    rest.split_once('/').map_or(rest, |(c, _)| c)
}

/// The company an OData request addresses: its segment names a configured company. Only the
/// OData company id matches (the default company's e.net CompanyId may differ).
pub(crate) fn company_of(sim: &Simulator, rest: &str) -> Option<usize> {
    let seg = company_segment(rest);
    sim.inner
        .companies
        .iter()
        .position(|c| c.id.eq_ignore_ascii_case(seg))
}

/// `rest` is the path after `{PREFIX}/`; `company` what [`company_of`] found.
pub(crate) fn handle(
    sim: &Simulator,
    req: &Request,
    rest: &str,
    company: Option<usize>,
) -> Response {
    let (segment, rest) = match rest.split_once('/') {
        Some((c, r)) => (c, Some(r)),
        None => (rest, None),
    };
    let Some(company) = company else {
        // Assumed answer: syspro.md says nothing of an unknown company segment (§1.2).
        return error(
            404,
            &format!("Company '{segment}' is not configured for OData access."),
        );
    };
    if req.method != "GET" && req.method != "HEAD" {
        return error(405, "The OData service is read-only.");
    }
    let co = sim.co(company);
    let base = format!("http://{}{}/{}", req.host(), PREFIX, co.id);
    match rest {
        None | Some("") => service_document(&base),
        Some("$metadata") => metadata(&co.site()),
        Some(path) => {
            let (set, count_only) = match path.strip_suffix("/$count") {
                Some(s) => (s, true),
                None => (path.trim_end_matches('/'), false),
            };
            let Some(t) = schema::table_index(set) else {
                return error(404, &format!("Resource not found for the segment '{set}'."));
            };
            match entity_set(sim, co, req, t, &base, count_only) {
                Ok(r) => r,
                Err(m) => error(400, &m),
            }
        }
    }
}

fn service_document(base: &str) -> Response {
    let sets: Vec<serde_json::Value> = schema::TABLE_NAMES
        .iter()
        .map(|n| serde_json::json!({"name": n, "kind": "EntitySet", "url": n}))
        .collect();
    let body = serde_json::json!({"@odata.context": format!("{base}/$metadata"), "value": sets});
    Response::new(200)
        .header("Content-Type", JSON_CT)
        .header("OData-Version", "4.0")
        .body(serde_json::to_vec(&body).expect("json"))
}

/// CSDL for all tables (OData 4.0). Precision/Scale of decimals and MaxLength of
/// strings come from the SQL types of syspro.md §3.
pub(crate) fn metadata(site: &crate::SiteOptions) -> Response {
    let mut x = String::with_capacity(32 * 1024);
    x.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    x.push_str(
        r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
    );
    x.push_str(r#"<edmx:DataServices><Schema Namespace="SYSPRO" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#);
    for t in schema::tables() {
        x.push_str(&format!(r#"<EntityType Name="{}"><Key>"#, t.name));
        let site_key = site
            .metadata_keys
            .iter()
            .find(|k| k.table.eq_ignore_ascii_case(t.name));
        match site_key {
            Some(k) => {
                for name in &k.columns {
                    x.push_str(&format!(r#"<PropertyRef Name="{name}"/>"#));
                }
            }
            None => {
                for &k in &t.key {
                    x.push_str(&format!(r#"<PropertyRef Name="{}"/>"#, t.cols[k].name));
                }
            }
        }
        x.push_str("</Key>");
        for c in &t.cols {
            let site_type = site.metadata_types.iter().find(|o| {
                o.table.eq_ignore_ascii_case(t.name) && o.column.eq_ignore_ascii_case(c.name)
            });
            if let Some(o) = site_type {
                x.push_str(&format!(
                    r#"<Property Name="{}" {}"#,
                    c.name,
                    crate::SiteOptions::edm_attributes(&o.sql_type)
                ));
                if !c.nullable {
                    x.push_str(r#" Nullable="false""#);
                }
                x.push_str("/>");
                continue;
            }
            x.push_str(&format!(
                r#"<Property Name="{}" Type="{}""#,
                c.name,
                c.ty.edm()
            ));
            if !c.nullable {
                x.push_str(r#" Nullable="false""#);
            }
            match c.ty {
                ColType::Char(w) | ColType::VarChar(w) => {
                    x.push_str(&format!(r#" MaxLength="{w}""#))
                }
                ColType::Dec(p, s) => x.push_str(&format!(r#" Precision="{p}" Scale="{s}""#)),
                ColType::DateTime => x.push_str(r#" Precision="0""#),
                ColType::Int => {}
            }
            x.push_str("/>");
        }
        for e in site.extras(t.name) {
            x.push_str(&format!(
                r#"<Property Name="{}" {}/>"#,
                e.name,
                crate::SiteOptions::edm_attributes(&e.sql_type)
            ));
        }
        x.push_str("</EntityType>");
    }
    x.push_str(r#"<EntityContainer Name="SYSPROContainer">"#);
    for t in schema::tables() {
        x.push_str(&format!(
            r#"<EntitySet Name="{0}" EntityType="SYSPRO.{0}"/>"#,
            t.name
        ));
    }
    x.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    Response::new(200)
        .header("Content-Type", "application/xml")
        .header("OData-Version", "4.0")
        .body(x.into_bytes())
}

struct Query {
    filter_text: Option<String>,
    filter: Option<filter::Pred>,
    orderby_text: String,
    order: Vec<(usize, bool)>,
    select: Option<Vec<usize>>,
    top: Option<usize>,
    skip: usize,
    skiptoken: usize,
    count: bool,
    /// pairs without `$skiptoken`, to rebuild the next link
    pairs: Vec<(String, String)>,
}

fn parse_usize(name: &str, v: &str) -> Result<usize, String> {
    v.trim()
        .parse::<usize>()
        .map_err(|_| format!("Invalid value '{v}' for {name}: a non-negative integer is required."))
}

fn parse_query(def: &TableDef, raw: &str, offset_secs: i64) -> Result<Query, String> {
    let mut q = Query {
        filter_text: None,
        filter: None,
        orderby_text: String::new(),
        order: Vec::new(),
        select: None,
        top: None,
        skip: 0,
        skiptoken: 0,
        count: false,
        pairs: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        if k.starts_with('$') {
            if seen.contains(&k) {
                return Err(format!("Query option '{k}' was specified more than once."));
            }
            seen.push(k.clone());
        }
        match k.as_str() {
            "$filter" => {
                let ast = filter::parse_at_offset(&v, offset_secs)?;
                q.filter = Some(filter::compile(&ast, def)?);
                q.filter_text = Some(v.clone());
            }
            "$orderby" => {
                for item in v.split(',') {
                    let mut it = item.split_whitespace();
                    let Some(prop) = it.next() else {
                        return Err(format!("Invalid $orderby '{v}'."));
                    };
                    let desc = match it.next() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(o) => {
                            return Err(format!("Invalid sort direction '{o}' in $orderby."));
                        }
                    };
                    if it.next().is_some() {
                        return Err(format!("Invalid $orderby '{v}'."));
                    }
                    let c = def.col(prop).ok_or_else(|| {
                        format!(
                            "Could not find a property named '{prop}' on type 'SYSPRO.{}'.",
                            def.name
                        )
                    })?;
                    q.order.push((c, desc));
                }
                q.orderby_text = v.clone();
            }
            "$select" => {
                if v.trim() == "*" {
                    q.select = None;
                } else {
                    let mut cols = Vec::new();
                    for p in v.split(',') {
                        let p = p.trim();
                        let c = def.col(p).ok_or_else(|| {
                            format!(
                                "Could not find a property named '{p}' on type 'SYSPRO.{}'.",
                                def.name
                            )
                        })?;
                        if !cols.contains(&c) {
                            cols.push(c);
                        }
                    }
                    cols.sort_unstable();
                    q.select = Some(cols);
                }
            }
            "$top" => q.top = Some(parse_usize("$top", &v)?),
            "$skip" => q.skip = parse_usize("$skip", &v)?,
            "$skiptoken" => {
                q.skiptoken = parse_usize("$skiptoken", &v)
                    .map_err(|_| format!("Invalid $skiptoken '{v}'."))?;
                continue;
            }
            "$count" => {
                q.count = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "Invalid value '{v}' for $count: true or false is required."
                        ));
                    }
                }
            }
            "$format" if !v.starts_with("json") && !v.starts_with("application/json") => {
                return Err(format!("Unsupported $format '{v}'."));
            }
            "$format" => {}
            "$expand" | "$search" | "$apply" | "$compute" | "$levels" => {
                return Err(format!("The query option '{k}' is not supported."));
            }
            other if other.starts_with('$') => {
                return Err(format!("The query parameter '{other}' is not supported."));
            }
            _ => {}
        }
        q.pairs.push((k, v));
    }
    Ok(q)
}

fn ieee754(req: &Request, raw_query: &str) -> bool {
    let hit = |s: &str| {
        s.to_ascii_lowercase()
            .replace(' ', "")
            .contains("ieee754compatible=true")
    };
    req.header("accept").is_some_and(hit)
        || req.header("content-type").is_some_and(hit)
        || url::form_urlencoded::parse(raw_query.as_bytes()).any(|(k, v)| k == "$format" && hit(&v))
}

fn max_page_size(req: &Request) -> Option<usize> {
    let pref = req.header("prefer")?;
    pref.split(',').find_map(|p| {
        let p = p.trim();
        p.strip_prefix("odata.maxpagesize=")
            .and_then(|v| v.trim().parse().ok())
    })
}

fn entity_set(
    sim: &Simulator,
    co: &crate::Company,
    req: &Request,
    t: usize,
    base: &str,
    count_only: bool,
) -> Result<Response, String> {
    let def = &schema::tables()[t];
    let site = co.site();
    let offset_secs = site.datetime_offset_minutes.unwrap_or(0) as i64 * 60;
    let q = parse_query(def, &req.query, offset_secs)?;
    let ieee = ieee754(req, &req.query);
    let suffix = site.datetime_suffix();
    let extras = site.extras(def.name);
    let st = co.read();
    let tb = &st.tables[t];

    // order = $orderby then the key (a stable, total order)
    let mut order = q.order.clone();
    for &k in &def.key {
        if !order.iter().any(|o| o.0 == k) {
            order.push((k, false));
        }
    }
    let version = co.version.load(std::sync::atomic::Ordering::SeqCst);
    let cache_key = format!(
        "{}\u{1}{}",
        q.filter_text.as_deref().unwrap_or(""),
        q.orderby_text
    );
    let cached = co
        .cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(version, t, &cache_key);

    let start = q.skip.saturating_add(q.skiptoken);
    let prefs_cap = max_page_size(req);
    let announced = match (sim.page_cap(), prefs_cap) {
        (Some(a), Some(b)) => Some(a.min(b).max(1)),
        (a, b) => a.or(b).map(|x| x.max(1)),
    };
    let silent = site.silent_page_cap.map(|s| s.max(1));
    let cap = match (announced, silent) {
        (Some(a), Some(s)) => Some(a.min(s)),
        (a, s) => a.or(s),
    };
    // The silent cap cuts the answer without a next link when it is the tighter one.
    let silently_cut = silent.is_some_and(|s| announced.is_none_or(|a| s < a));

    let (total, page): (usize, Vec<u32>) = if let Some(sorted) = cached {
        let total = sorted.len();
        let end = end_of(total, &q, start, cap);
        (
            total,
            sorted.get(start.min(end)..end).unwrap_or(&[]).to_vec(),
        )
    } else {
        let mut idx: Vec<u32> = match &q.filter {
            Some(p) => (0..tb.len())
                .filter(|&r| p.eval(tb, r))
                .map(|r| r as u32)
                .collect(),
            None => (0..tb.len() as u32).collect(),
        };
        let total = idx.len();
        let end = end_of(total, &q, start, cap);
        if count_only {
            (total, Vec::new())
        } else {
            // Paging (nextLink cuts the answer, or $skip/$skiptoken used): sort all and
            // keep the cursor. A single bounded page (e.g. keyset paging with $top):
            // select the first `end` rows only.
            let paging = end < requested_end_of(total, &q) || start > 0;
            let cursor = paging && end < total && total > 10_000;
            tb.sort_indices(&mut idx, &order, if cursor { None } else { Some(end) });
            let page = idx.get(start.min(end)..end).unwrap_or(&[]).to_vec();
            if cursor {
                // more pages will follow: keep the sorted cursor (like a server-side cursor)
                co.cache.lock().unwrap_or_else(|e| e.into_inner()).put(
                    version,
                    t,
                    cache_key,
                    Arc::new(idx),
                );
            }
            (total, page)
        }
    };

    if count_only {
        return Ok(Response::new(200)
            .header("Content-Type", "text/plain")
            .header("OData-Version", "4.0")
            .body(total.to_string().into_bytes()));
    }

    let requested_end = q
        .top
        .map(|t| q.skip.saturating_add(t))
        .unwrap_or(usize::MAX)
        .min(total);
    let served_end = start + page.len();
    let next = if served_end < requested_end && !silently_cut {
        Some(next_link(base, def.name, &q, served_end - q.skip))
    } else {
        None
    };

    let cols: Vec<usize> = match &q.select {
        Some(c) => c.clone(),
        None => (0..def.cols.len()).collect(),
    };
    let mut out: Vec<u8> = Vec::with_capacity(64 + page.len() * 40 * cols.len());
    out.extend_from_slice(b"{\"@odata.context\":");
    let ctx = match &q.select {
        Some(c) => format!(
            "{base}/$metadata#{}({})",
            def.name,
            c.iter()
                .map(|&i| def.cols[i].name)
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => format!("{base}/$metadata#{}", def.name),
    };
    write_json_str(&mut out, &ctx);
    if q.count {
        let _ = write!(out, ",\"@odata.count\":{total}");
    }
    out.extend_from_slice(b",\"value\":[");
    let prefixes: Vec<Vec<u8>> = cols
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            format!("{}\"{}\":", if i == 0 { "" } else { "," }, def.cols[c].name).into_bytes()
        })
        .collect();
    for (n, &r) in page.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (i, &c) in cols.iter().enumerate() {
            out.extend_from_slice(&prefixes[i]);
            write_cell(&mut out, tb, c, tb.cell(r as usize, c), ieee, &suffix);
        }
        if q.select.is_none() {
            for e in &extras {
                out.push(b',');
                write_json_str(&mut out, &e.name);
                out.push(b':');
                match crate::SiteOptions::extra_json(e) {
                    serde_json::Value::String(v) => write_json_str(&mut out, &v),
                    other => out.extend_from_slice(other.to_string().as_bytes()),
                }
            }
        }
        out.push(b'}');
    }
    out.push(b']');
    if let Some(link) = next {
        out.extend_from_slice(b",\"@odata.nextLink\":");
        write_json_str(&mut out, &link);
    }
    out.push(b'}');
    let mut ct = JSON_CT.to_string();
    if ieee {
        ct.push_str(";IEEE754Compatible=true");
    }
    let mut resp = Response::new(200)
        .header("Content-Type", &ct)
        .header("OData-Version", "4.0")
        .body(out);
    if let Some(n) = prefs_cap {
        resp = resp.header("Preference-Applied", &format!("odata.maxpagesize={n}"));
    }
    Ok(resp)
}

fn requested_end_of(total: usize, q: &Query) -> usize {
    q.top
        .map(|t| q.skip.saturating_add(t))
        .unwrap_or(usize::MAX)
        .min(total)
}

fn end_of(total: usize, q: &Query, start: usize, cap: Option<usize>) -> usize {
    let requested_end = requested_end_of(total, q);
    let end = match cap {
        Some(c) => requested_end.min(start.saturating_add(c)),
        None => requested_end,
    };
    end.max(start.min(total))
}

/// An absolute URL with the same options plus `$skiptoken` = rows already served
/// after `$skip`. Clients must follow it as an opaque URL (syspro.md §1.3).
fn next_link(base: &str, set: &str, q: &Query, served: usize) -> String {
    let mut s = format!("{base}/{set}?");
    for (k, v) in &q.pairs {
        s.push_str(k);
        s.push('=');
        s.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        s.push('&');
    }
    s.push_str(&format!("$skiptoken={served}"));
    s
}

pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut last = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: Option<&[u8]> = match c {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&b[last..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c);
            }
        }
        last = i + 1;
    }
    out.extend_from_slice(&b[last..]);
    out.push(b'"');
}

fn write_cell(out: &mut Vec<u8>, tb: &Table, c: usize, cell: u64, ieee: bool, suffix: &str) {
    if cell == NULL {
        out.extend_from_slice(b"null");
        return;
    }
    match tb.def.cols[c].ty {
        // syspro.md §3 notes / §5.8: CHAR columns are fixed-width and space-padded.
        ColType::Char(w) => {
            let s = tb.get_str(cell);
            out.push(b'"');
            let start = out.len();
            write_json_str(out, s);
            // drop the quotes write_json_str added, keep the escaped text
            out.remove(start);
            out.pop();
            let pad = (w as usize).saturating_sub(s.chars().count());
            out.extend(std::iter::repeat_n(b' ', pad));
            out.push(b'"');
        }
        ColType::VarChar(_) => write_json_str(out, tb.get_str(cell)),
        ColType::Dec(_, s) => {
            // Exact text with `scale` decimals; a JSON string under IEEE754Compatible=true
            // (OData JSON Format v4 §3.2).
            let mut t = String::with_capacity(24);
            write_decimal(&mut t, cell as i64, s as u32);
            if ieee {
                out.push(b'"');
                out.extend_from_slice(t.as_bytes());
                out.push(b'"');
            } else {
                out.extend_from_slice(t.as_bytes());
            }
        }
        ColType::Int => {
            let _ = write!(out, "{}", cell as i64);
        }
        ColType::DateTime => {
            // syspro.md §5.4: datetime without offset; served as DateTimeOffset with `Z`
            // (UNCONFIRMED form), business dates at midnight (§5.1).
            out.push(b'"');
            out.extend_from_slice(&fmt_datetime(cell as i64));
            out.extend_from_slice(suffix.as_bytes());
            out.push(b'"');
        }
    }
}
