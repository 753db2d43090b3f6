//! e.net Business Objects over REST (syspro.md §2): `Logon`, `Logoff`,
//! `Query/Query` with COMFND, `GetLogonProfile`, `GetVersion`, over the same
//! data as the OData service.
//!
//! Choices where syspro.md says UNCONFIRMED (documented here, kept stable):
//! - invalid or expired session: HTTP 200, body `ERROR: Invalid UserId` (§2.5: expect an `ERROR…` body);
//! - unknown operator: `ERROR: Invalid operator code`; wrong company: `ERROR: Invalid company`;
//!   wrong company password: `ERROR: Invalid company password` (only the operator-password text
//!   is recorded, §2.3 [PYREST]);
//! - COMFND answer: root element named after the table with single-quoted attributes including
//!   `Version='8.0.105'` (§2.3 [GO]), `HeaderDetails`, `Row` per row, right-aligned `RowsReturned`
//!   (§2.4 [RUBY]); dates as `2026-11-03` (time dropped); decimals with the column scale; CHAR
//!   values space-padded; NULL as an empty element (`<Reference/>`), so nulls and empty strings
//!   look alike, as in flat XML;
//! - unknown table/column or bad XmlIn: 200 with an XML document carrying `ErrorNumber` and
//!   `ErrorDescription` (§2.3: logical errors inside XML while HTTP is 200).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::http::{Request, Response};
use crate::schema::{self, ColType};
use crate::store::{NULL, Table, fmt_datetime, write_decimal};
use crate::{Company, EnetOptions, SessionScope, Simulator, filter};

/// syspro.md §2.1: `http(s)://{host}:{restPort}/SYSPROWCFService/Rest`.
pub(crate) const PREFIX: &str = "/SYSPROWCFService/Rest";
/// Path case varies (`/rest` and `/Rest`, syspro.md §2.1); matched case-insensitively.
pub(crate) const PREFIX_MATCH: &str = "/SYSPROWCFService/";

/// How answers are wrapped (syspro.md §2.3: "bare text, a JSON-quoted string, or wrapped in a
/// serialized `<string>` element, depending on version").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnetWrapping {
    /// The text itself, `application/octet-stream`, XML encoded Windows-1252 (§2.1 [PYREST]).
    #[default]
    Bare,
    /// `"ERROR: Invalid operator password"`: a JSON string (UTF-8), `application/json`.
    JsonQuoted,
    /// `<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">ERROR: ...</string>`
    /// (UTF-8, the text XML-escaped), `application/xml`.
    XmlString,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnetCounters {
    /// Successful logons.
    pub logons: u64,
    pub failed_logons: u64,
    pub logoffs: u64,
    /// Business-object calls (`Query/Query`) on a valid session.
    pub queries: u64,
    /// Calls with an unknown, ended or expired UserId.
    pub invalid_session_calls: u64,
    /// Sessions that expired after `idle_timeout`.
    pub expired_sessions: u64,
    /// Sessions ended because the same operator logged on again.
    pub replaced_sessions: u64,
    pub active_sessions: usize,
}

struct Session {
    operator: String,
    /// The company logged on to: every call of the session reads that company only.
    company: usize,
    last_used: Instant,
}

pub(crate) struct EnetState {
    rng: StdRng,
    sessions: HashMap<String, Session>,
    counters: EnetCounters,
}

impl EnetState {
    pub fn new(seed: u64) -> Self {
        EnetState {
            rng: StdRng::seed_from_u64(seed ^ 0xE7E7_0001),
            sessions: HashMap::new(),
            counters: EnetCounters::default(),
        }
    }

    fn expire(&mut self, opts: &EnetOptions) {
        let now = Instant::now();
        let before = self.sessions.len();
        self.sessions
            .retain(|_, s| now.duration_since(s.last_used) <= opts.idle_timeout);
        self.counters.expired_sessions += (before - self.sessions.len()) as u64;
    }

    pub fn counters(&mut self, opts: &EnetOptions) -> EnetCounters {
        self.expire(opts);
        let mut c = self.counters.clone();
        c.active_sessions = self.sessions.len();
        c
    }

    /// Refresh and validate a session (the timestamp is refreshed on each call, [TYE] p.138);
    /// its company.
    fn touch(&mut self, opts: &EnetOptions, sid: &str) -> Option<usize> {
        self.expire(opts);
        match self.sessions.get_mut(sid) {
            Some(s) => {
                s.last_used = Instant::now();
                Some(s.company)
            }
            None => {
                self.counters.invalid_session_calls += 1;
                None
            }
        }
    }

    /// The company of a live session, without refreshing it (to route faults).
    pub fn session_company(&self, sid: &str) -> Option<usize> {
        self.sessions.get(sid).map(|s| s.company)
    }

    /// 34 upper-case hex characters, not a GUID (syspro.md §2.3 [PYREST] recorded
    /// `90C1386560F2A345961C2153151C050200`).
    fn new_session_id(&mut self) -> String {
        let mut s = String::with_capacity(34);
        for _ in 0..17 {
            let b: u8 = self.rng.r#gen();
            let _ = write!(s, "{b:02X}");
        }
        s
    }
}

fn wrap(w: EnetWrapping, text: &str) -> Response {
    match w {
        EnetWrapping::Bare => {
            // syspro.md §2.3: XML declares Windows-1252 and is encoded so.
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
            Response::new(200)
                .header("Content-Type", "application/octet-stream")
                .body(bytes.into_owned())
        }
        EnetWrapping::JsonQuoted => Response::new(200)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(serde_json::to_vec(text).expect("json")),
        EnetWrapping::XmlString => {
            let mut b = String::from(
                r#"<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">"#,
            );
            xml_escape(&mut b, text);
            b.push_str("</string>");
            Response::new(200)
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(b.into_bytes())
        }
    }
}

/// Escape element text (quotes need no escaping outside attributes).
fn xml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Returns the answer and whether the call was authorized (valid logon or session).
pub(crate) fn handle(sim: &Simulator, req: &Request) -> (Response, bool) {
    let opts = &sim.inner.opts.enet;
    let w = opts.wrapping;
    // after "/SYSPROWCFService/": "Rest/<method>" in any case (syspro.md §2.1)
    let tail = &req.path[PREFIX_MATCH.len()..];
    let Some(method) = tail
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("rest/"))
        .map(|_| &tail[5..])
    else {
        return (not_found(), false);
    };
    let params: HashMap<String, String> = req.query_pairs().into_iter().collect();
    // parameter names are matched case-insensitively, as WCF UriTemplate does
    let p = |name: &str| -> Option<&str> {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut st = sim.inner.enet.lock().unwrap_or_else(|e| e.into_inner());
    match method.to_ascii_lowercase().trim_end_matches('/') {
        "logon" => {
            let op = p("Operator").unwrap_or("");
            let operator = std::iter::once((&opts.operator, &opts.operator_password))
                .chain(
                    opts.extra_operators
                        .iter()
                        .map(|o| (&o.operator, &o.password)),
                )
                .find(|(name, _)| name.eq_ignore_ascii_case(op));
            let company = company_of(sim, p("CompanyId").unwrap_or(""));
            let err = match (operator, company) {
                (None, _) => Some("ERROR: Invalid operator code"),
                (Some((_, pw)), _) if p("OperatorPassword").unwrap_or("") != pw.as_str() => {
                    // syspro.md §2.3 [PYREST] login-failure.yml: HTTP 200 "ERROR: Invalid operator password"
                    Some("ERROR: Invalid operator password")
                }
                (_, None) => Some("ERROR: Invalid company"),
                (_, Some(c)) if p("CompanyPassword").unwrap_or("") != sim.co(c).enet_password => {
                    Some("ERROR: Invalid company password")
                }
                _ => None,
            };
            let (Some((operator, _)), Some(company), None) = (operator, company, err) else {
                st.counters.failed_logons += 1;
                return (
                    wrap(w, err.unwrap_or("ERROR: Invalid operator code")),
                    false,
                );
            };
            st.expire(opts);
            // syspro.md §2.5 [GO]: one session per operator, a second logon kills the first
            // (in any company, unless the scope says per company: UNCONFIRMED).
            let before = st.sessions.len();
            let scope = opts.session_scope;
            st.sessions.retain(|_, s| {
                !(s.operator.eq_ignore_ascii_case(operator)
                    && (scope == SessionScope::Operator || s.company == company))
            });
            st.counters.replaced_sessions += (before - st.sessions.len()) as u64;
            let sid = st.new_session_id();
            st.sessions.insert(
                sid.clone(),
                Session {
                    operator: operator.clone(),
                    company,
                    last_used: Instant::now(),
                },
            );
            st.counters.logons += 1;
            (wrap(w, &sid), true)
        }
        "logoff" => {
            let sid = p("UserId").unwrap_or("");
            st.expire(opts);
            if st.sessions.remove(sid).is_some() {
                st.counters.logoffs += 1;
                // syspro.md §2.5 [RUBY] logoff.rb treats body "0" as success
                (wrap(w, "0"), true)
            } else {
                st.counters.invalid_session_calls += 1;
                (wrap(w, "ERROR: Invalid UserId"), false)
            }
        }
        "getversion" => (wrap(w, "8.0.105"), true),
        "getlogonprofile" => {
            let sid = p("UserId").unwrap_or("");
            let Some(company) = st.touch(opts, sid) else {
                return (wrap(w, "ERROR: Invalid UserId"), false);
            };
            let operator = st.sessions.get(sid).map(|s| s.operator.clone());
            drop(st);
            let co = sim.co(company);
            let date = co.read().date;
            let mut x =
                String::from("<?xml version=\"1.0\" encoding=\"Windows-1252\"?>\n<UserInfo>\n");
            let _ = write!(
                x,
                " <CompanyId>{}</CompanyId>\n <CompanyName>{}</CompanyName>\n <OperatorCode>{}</OperatorCode>\n <SysproVersion>8.0.105</SysproVersion>\n <EnetVersion>8.0.105</EnetVersion>\n <DateFormat>CCYY-MM-DD</DateFormat>\n <AccountingDate>{}</AccountingDate>\n <SystemDate>{}</SystemDate>\n</UserInfo>\n",
                co.enet_id,
                co.profile.company_name(),
                operator.unwrap_or_default(),
                date,
                date
            );
            (wrap(w, &x), true)
        }
        "query/query" => {
            let sid = p("UserId").unwrap_or("");
            let Some(company) = st.touch(opts, sid) else {
                return (wrap(w, "ERROR: Invalid UserId"), false);
            };
            st.counters.queries += 1;
            drop(st);
            let bo = p("BusinessObject").unwrap_or("");
            if !bo.eq_ignore_ascii_case("COMFND") {
                return (
                    wrap(
                        w,
                        &format!(
                            "ERROR: Business object '{bo}' is not supported by this simulator"
                        ),
                    ),
                    true,
                );
            }
            let xml = comfnd(sim.co(company), p("XmlIn").unwrap_or(""));
            (wrap(w, &xml), true)
        }
        _ => (not_found(), false),
    }
}

/// The company an e.net Logon `CompanyId` names (its e.net id, case-insensitive).
pub(crate) fn company_of(sim: &Simulator, company_id: &str) -> Option<usize> {
    sim.inner
        .companies
        .iter()
        .position(|c| c.enet_id.eq_ignore_ascii_case(company_id))
}

/// The company an e.net request addresses, without side effects (for fault routing and the
/// request log): Logon's `CompanyId`, else the company of the `UserId` session.
pub(crate) fn request_company(sim: &Simulator, req: &Request) -> Option<usize> {
    let pairs = req.query_pairs();
    let p = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if req
        .path
        .to_ascii_lowercase()
        .trim_end_matches('/')
        .ends_with("/logon")
    {
        return company_of(sim, p("CompanyId")?);
    }
    let sid = p("UserId")?;
    sim.inner
        .enet
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .session_company(sid)
}

fn not_found() -> Response {
    // a self-hosted WCF service answers unknown operations with its own HTML page
    Response::new(404)
        .header("Content-Type", "text/html; charset=UTF-8")
        .body(b"<HTML><HEAD><TITLE>Service</TITLE></HEAD><BODY><P class=\"heading1\">Service</P><P>Endpoint not found.</P></BODY></HTML>".to_vec())
}

#[derive(Debug, Default)]
struct ComFndQuery {
    root: String,
    table: String,
    return_rows: Option<usize>,
    columns: Vec<String>,
    wheres: Vec<Expr>,
    order_by: Vec<String>,
}

#[derive(Debug, Default, Clone)]
struct Expr {
    open: String,
    and_or: String,
    column: String,
    condition: String,
    value: String,
    close: String,
}

fn parse_comfnd(xml: &str) -> Result<ComFndQuery, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut q = ComFndQuery::default();
    let mut cur = Expr::default();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("XmlIn is not well-formed: {e}"))?;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if path.is_empty() {
                    q.root = name.clone();
                }
                if name == "Expression" {
                    cur = Expr::default();
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                path.push(name);
                text.clear();
                leaf(&path, "", &mut q, &mut cur);
                path.pop();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(g) => {
                if let Ok(Some(c)) = g.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = g.xml10_content();
                    text.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => return Err(format!("XmlIn uses an unknown entity '&{other};'")),
                    });
                }
            }
            Event::End(_) => {
                let name = path.last().cloned().unwrap_or_default();
                if name == "Expression" {
                    q.wheres.push(std::mem::take(&mut cur));
                } else {
                    let t = std::mem::take(&mut text);
                    leaf(&path, &t, &mut q, &mut cur);
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        return Err("XmlIn is not well-formed: unclosed elements".into());
    }
    Ok(q)
}

fn leaf(path: &[String], text: &str, q: &mut ComFndQuery, cur: &mut Expr) {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        [_, "TableName"] => q.table = text.trim().to_string(),
        [_, "ReturnRows"] => q.return_rows = text.trim().parse().ok(),
        [_, "Columns", "Column"] => q.columns.push(text.trim().to_string()),
        [_, "OrderBy", "Column"] => q.order_by.push(text.trim().to_string()),
        [_, "Where", "Expression", f] => {
            let v = text.to_string();
            match *f {
                "OpenBracket" => cur.open = v.trim().to_string(),
                "AndOr" => cur.and_or = v.trim().to_string(),
                "Column" => cur.column = v.trim().to_string(),
                "Condition" => cur.condition = v.trim().to_string(),
                "Value" => cur.value = v,
                "CloseBracket" => cur.close = v.trim().to_string(),
                _ => {}
            }
        }
        _ => {}
    }
}

/// A business-object error inside a 200 XML answer (syspro.md §2.3).
fn bo_error(number: u32, msg: &str) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"Windows-1252\"?>\n<ErrorMessage Version='8.0.105'>\n <ErrorNumber>",
    );
    let _ = write!(x, "{number}</ErrorNumber>\n <ErrorDescription>");
    xml_escape(&mut x, msg);
    x.push_str("</ErrorDescription>\n</ErrorMessage>\n");
    x
}

/// Translate the COMFND Where list into an OData `$filter` text and reuse that parser.
fn where_to_filter(def: &schema::TableDef, wheres: &[Expr]) -> Result<Option<String>, String> {
    if wheres.is_empty() {
        return Ok(None);
    }
    let mut f = String::new();
    for (i, e) in wheres.iter().enumerate() {
        if i > 0 {
            match e.and_or.to_ascii_lowercase().as_str() {
                "or" => f.push_str(" or "),
                "and" | "" => f.push_str(" and "),
                o => return Err(format!("Invalid AndOr '{o}'")),
            }
        }
        if e.open.chars().any(|c| c != '(') || e.close.chars().any(|c| c != ')') {
            return Err("Invalid OpenBracket/CloseBracket".into());
        }
        f.push_str(&e.open);
        let c = def
            .col(&e.column)
            .ok_or_else(|| format!("Column '{}' not found in table '{}'", e.column, def.name))?;
        let ty = def.cols[c].ty;
        let lit = match ty {
            ColType::Char(_) | ColType::VarChar(_) => format!("'{}'", e.value.replace('\'', "''")),
            ColType::Dec(..) | ColType::Int => {
                let v = e.value.trim();
                if filter::parse_decimal(v).is_none() {
                    return Err(format!(
                        "Value '{v}' is not numeric for column '{}'",
                        e.column
                    ));
                }
                v.to_string()
            }
            ColType::DateTime => {
                let v = e.value.trim();
                let d = v.get(..10).unwrap_or(v);
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    return Err(format!(
                        "Value '{v}' is not a date (CCYY-MM-DD) for column '{}'",
                        e.column
                    ));
                }
                d.to_string()
            }
        };
        let cond = e.condition.to_ascii_uppercase();
        if cond == "LIKE" {
            if !ty.is_str() {
                return Err(format!("LIKE needs a character column, not '{}'", e.column));
            }
            let v = e.value.trim_end_matches(' ');
            let esc = |s: &str| s.replace('\'', "''");
            let inner = v.trim_matches('%');
            let expr = match (v.starts_with('%'), v.ends_with('%') && v.len() > 1) {
                (true, true) => format!("contains({},'{}')", e.column, esc(inner)),
                (false, true) => format!("startswith({},'{}')", e.column, esc(inner)),
                (true, false) => format!("endswith({},'{}')", e.column, esc(inner)),
                (false, false) => format!("{} eq '{}'", e.column, esc(v)),
            };
            f.push_str(&expr);
        } else {
            let op = match cond.as_str() {
                "EQ" => "eq",
                "NE" => "ne",
                "GT" => "gt",
                "GE" => "ge",
                "LT" => "lt",
                "LE" => "le",
                other => return Err(format!("Invalid Condition '{other}'")),
            };
            let _ = write!(f, "{} {op} {lit}", e.column);
        }
        f.push_str(&e.close);
    }
    Ok(Some(f))
}

fn comfnd(co: &Company, xml_in: &str) -> String {
    let q = match parse_comfnd(xml_in) {
        Ok(q) => q,
        Err(e) => return bo_error(100_001, &e),
    };
    if q.root != "Query" {
        return bo_error(
            100_002,
            &format!("XmlIn root element must be 'Query', not '{}'", q.root),
        );
    }
    let Some(t) = schema::table_index(&q.table) else {
        return bo_error(100_003, &format!("Table '{}' not found", q.table));
    };
    let def = &schema::tables()[t];
    let mut cols = Vec::new();
    for c in &q.columns {
        match def.col(c) {
            Some(i) => cols.push(i),
            None => {
                return bo_error(
                    100_004,
                    &format!("Column '{c}' not found in table '{}'", def.name),
                );
            }
        }
    }
    let site = co.site();
    let all_columns = cols.is_empty();
    if all_columns && site.enet_require_columns {
        return bo_error(
            100_006,
            &format!("Columns are required for table '{}'", def.name),
        );
    }
    if all_columns {
        cols = (0..def.cols.len()).collect();
    }
    let extras: Vec<crate::ExtraColumn> = if all_columns {
        site.extras(def.name).into_iter().cloned().collect()
    } else {
        Vec::new()
    };
    let mut order: Vec<(usize, bool)> = Vec::new();
    for c in &q.order_by {
        match def.col(c) {
            Some(i) => order.push((i, false)),
            None => {
                return bo_error(
                    100_004,
                    &format!("Column '{c}' not found in table '{}'", def.name),
                );
            }
        }
    }
    for &k in &def.key {
        if !order.iter().any(|o| o.0 == k) {
            order.push((k, false));
        }
    }
    let pred = match where_to_filter(def, &q.wheres) {
        Ok(None) => None,
        Ok(Some(f)) => match filter::parse(&f).and_then(|a| filter::compile(&a, def)) {
            Ok(p) => Some(p),
            Err(e) => return bo_error(100_005, &format!("Invalid Where: {e}")),
        },
        Err(e) => return bo_error(100_005, &e),
    };
    let st = co.read();
    let tb = &st.tables[t];
    let mut idx: Vec<u32> = match &pred {
        Some(p) => (0..tb.len())
            .filter(|&r| p.eval(tb, r))
            .map(|r| r as u32)
            .collect(),
        None => (0..tb.len() as u32).collect(),
    };
    let limit = q.return_rows.filter(|&n| n > 0);
    tb.sort_indices(&mut idx, &order, limit);
    if let Some(l) = limit {
        idx.truncate(l);
    }
    let mut x = String::with_capacity(256 + idx.len() * cols.len() * 32);
    x.push_str("<?xml version=\"1.0\" encoding=\"Windows-1252\"?>\n");
    // Root named after the table, single-quoted attributes with Version (syspro.md §2.3 [GO]).
    let _ = write!(
        x,
        "<{} Language='05' Language2='EN' CssStyle='' DecFormat='1' DateFormat='01' Role='01' Version='8.0.105' OperatorPrimaryRole='   '>\n<HeaderDetails>\n<TableName>{}</TableName>\n</HeaderDetails>\n",
        def.name, def.name
    );
    for &r in &idx {
        x.push_str("<Row>\n");
        for &c in &cols {
            let name = def.cols[c].name;
            let cell = tb.cell(r as usize, c);
            if cell == NULL {
                let _ = writeln!(x, "<{name}/>");
                continue;
            }
            let _ = write!(x, "<{name}>");
            cell_text(&mut x, tb, c, cell);
            let _ = writeln!(x, "</{name}>");
        }
        for e in &extras {
            let _ = write!(x, "<{}>", e.name);
            xml_escape(&mut x, &e.value);
            let _ = writeln!(x, "</{}>", e.name);
        }
        x.push_str("</Row>\n");
    }
    let _ = write!(
        x,
        "<RowsReturned>{:>8}</RowsReturned>\n</{}>\n",
        idx.len(),
        def.name
    );
    x
}

fn cell_text(x: &mut String, tb: &Table, c: usize, cell: u64) {
    match tb.def.cols[c].ty {
        ColType::Char(w) => {
            // fixed-width CHAR, space-padded (syspro.md §5.8)
            let s = tb.get_str(cell);
            xml_escape(x, s);
            for _ in s.chars().count()..w as usize {
                x.push(' ');
            }
        }
        ColType::VarChar(_) => xml_escape(x, tb.get_str(cell)),
        ColType::Dec(_, s) => write_decimal(x, cell as i64, s as u32),
        ColType::Int => {
            let _ = write!(x, "{}", cell as i64);
        }
        ColType::DateTime => {
            let b = fmt_datetime(cell as i64);
            x.push_str(std::str::from_utf8(&b[..10]).expect("ascii"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_comfnd_example() {
        // syspro.md §2.4
        let xml = r#"<Query xmlns:xsd="http://www.w3.org/2001/XMLSchema-instance" xsd:noNamespaceSchemaLocation="COMFND.XSD">
  <TableName>ApInvoice</TableName><ReturnRows>1000</ReturnRows>
  <Columns><Column>Supplier</Column><Column>Invoice</Column><Column>OrigInvValue</Column></Columns>
  <Where><Expression><OpenBracket>(</OpenBracket><Column>Supplier</Column><Condition>EQ</Condition><Value>S&amp;001</Value><CloseBracket>)</CloseBracket></Expression>
         <Expression><OpenBracket>(</OpenBracket><AndOr>And</AndOr><Column>Invoice</Column><Condition>EQ</Condition><Value>INV1</Value><CloseBracket>)</CloseBracket></Expression></Where>
  <OrderBy><Column>Supplier</Column></OrderBy>
</Query>"#;
        let q = parse_comfnd(xml).unwrap();
        assert_eq!(q.root, "Query");
        assert_eq!(q.table, "ApInvoice");
        assert_eq!(q.return_rows, Some(1000));
        assert_eq!(q.columns, vec!["Supplier", "Invoice", "OrigInvValue"]);
        assert_eq!(q.wheres.len(), 2);
        assert_eq!(q.wheres[0].value, "S&001");
        assert_eq!(q.wheres[1].and_or, "And");
        assert_eq!(q.order_by, vec!["Supplier"]);
        let def = schema::def("ApInvoice");
        let f = where_to_filter(def, &q.wheres).unwrap().unwrap();
        assert_eq!(f, "(Supplier eq 'S&001') and (Invoice eq 'INV1')");
        assert!(parse_comfnd("<Query><TableName>x</Query>").is_err());
    }
}
