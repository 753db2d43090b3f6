//! A small HTTP/1.1 server on tokio. It is hand-rolled (on `httparse`) so that
//! faults can misbehave at the transport level: reset a connection with no
//! answer, or send fewer body bytes than `Content-Length` promises.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::faults::{FaultKind, FaultsControl};
use crate::{BusinessDayPlan, MutationPlan, RequestRecord, SimServer, Simulator, enet, odata};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) struct Request {
    pub method: String,
    /// percent-decoded path
    pub path: String,
    /// raw query string without `?`
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub local: std::net::SocketAddr,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn host(&self) -> String {
        self.header("host")
            .map(str::to_string)
            .unwrap_or_else(|| self.local.to_string())
    }
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, b: Vec<u8>) -> Self {
        self.body = b;
        self
    }
    pub fn json<T: serde::Serialize>(status: u16, v: &T) -> Self {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(v).expect("json"))
    }
    fn head_bytes(&self, len: usize, keep_alive: bool, server: &str) -> Vec<u8> {
        let mut h = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {len}\r\nServer: {server}\r\n",
            self.status,
            reason(self.status)
        );
        for (k, v) in &self.headers {
            h.push_str(k);
            h.push_str(": ");
            h.push_str(v);
            h.push_str("\r\n");
        }
        if !keep_alive {
            h.push_str("Connection: close\r\n");
        }
        h.push_str("\r\n");
        h.into_bytes()
    }
}

fn reason(s: u16) -> &'static str {
    match s {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

enum Reply {
    Normal(Response),
    Reset,
    Truncated(Response),
}

pub(crate) async fn start(sim: Simulator, listen: &str) -> io::Result<SimServer> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let company = sim.inner.opts.company.clone();
    let task = tokio::spawn(async move {
        let mut stop = rx.clone();
        loop {
            tokio::select! {
                r = listener.accept() => {
                    if let Ok((s, _)) = r {
                        let _ = s.set_nodelay(true);
                        tokio::spawn(connection(s, sim.clone(), rx.clone(), addr));
                    }
                }
                _ = stop.changed() => break,
            }
        }
    });
    Ok(SimServer {
        addr,
        company,
        shutdown: tx,
        task,
    })
}

async fn connection(
    mut s: TcpStream,
    sim: Simulator,
    mut stop: watch::Receiver<bool>,
    local: std::net::SocketAddr,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let req = tokio::select! {
            r = read_request(&mut s, &mut buf, local) => r,
            _ = stop.changed() => return,
        };
        let (req, keep_alive) = match req {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(resp) => {
                let head = resp.head_bytes(resp.body.len(), false, "Microsoft-HTTPAPI/2.0");
                let _ = s.write_all(&head).await;
                let _ = s.write_all(&resp.body).await;
                return;
            }
        };
        let server = if req.path.starts_with(enet::PREFIX_MATCH) {
            "Microsoft-HTTPAPI/2.0"
        } else {
            "Microsoft-IIS/10.0"
        };
        let head_only = req.method == "HEAD";
        match route(&sim, req).await {
            Reply::Normal(resp) => {
                let head = resp.head_bytes(resp.body.len(), keep_alive, server);
                let mut all = head;
                if !head_only {
                    all.extend_from_slice(&resp.body);
                }
                if s.write_all(&all).await.is_err() {
                    return;
                }
                if !keep_alive {
                    let _ = s.shutdown().await;
                    return;
                }
            }
            Reply::Reset => {
                // RST instead of FIN: the client sees a transport error, not a response.
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                drop(s);
                return;
            }
            Reply::Truncated(resp) => {
                let head = resp.head_bytes(resp.body.len(), true, server);
                let cut = (resp.body.len() / 2).max(1).min(resp.body.len());
                let _ = s.write_all(&head).await;
                let _ = s.write_all(&resp.body[..cut]).await;
                let _ = s.flush().await;
                let _ = s.shutdown().await;
                return;
            }
        }
    }
}

/// Read one request. `Ok(None)` on a clean close; `Err(response)` on a bad request.
async fn read_request(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    local: std::net::SocketAddr,
) -> Result<Option<(Request, bool)>, Response> {
    let mut tmp = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let parsed = req.parse(buf);
        match parsed {
            Ok(httparse::Status::Complete(n)) => {
                let method = req.method.unwrap_or("GET").to_string();
                let target = req.path.unwrap_or("/").to_string();
                let version = req.version.unwrap_or(1);
                let hs: Vec<(String, String)> = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let get = |name: &str| {
                    hs.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                if get("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
                {
                    return Err(Response::new(411)
                        .body(b"chunked request bodies are not supported".to_vec()));
                }
                let len: usize = get("content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if len > MAX_BODY {
                    return Err(Response::new(413));
                }
                let conn = get("connection").unwrap_or_default().to_ascii_lowercase();
                let keep_alive = if version == 0 {
                    conn.contains("keep-alive")
                } else {
                    !conn.contains("close")
                };
                if len > 0
                    && buf.len() < n + len
                    && get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
                {
                    let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
                }
                while buf.len() < n + len {
                    let k = s.read(&mut tmp).await.map_err(|_| Response::new(400))?;
                    if k == 0 {
                        return Ok(None);
                    }
                    buf.extend_from_slice(&tmp[..k]);
                }
                let body = buf[n..n + len].to_vec();
                buf.drain(..n + len);
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_string(), q.to_string()),
                    None => (target, String::new()),
                };
                return Ok(Some((
                    Request {
                        method,
                        path: percent_decode(&path),
                        query,
                        headers: hs,
                        body,
                        local,
                    },
                    keep_alive,
                )));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(Response::new(400));
                }
                let k = match s.read(&mut tmp).await {
                    Ok(k) => k,
                    Err(_) => return Ok(None),
                };
                if k == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&tmp[..k]);
            }
            Err(_) => return Err(Response::new(400).body(b"Bad Request".to_vec())),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(sim: &Simulator, req: Request) -> Reply {
    if let Some(rest) = req.path.strip_prefix("/_sim/") {
        return Reply::Normal(control(sim, &req, rest));
    }
    let api = if req.path == odata::PREFIX || req.path.starts_with(&format!("{}/", odata::PREFIX)) {
        "odata"
    } else if req
        .path
        .to_ascii_lowercase()
        .starts_with(&enet::PREFIX_MATCH.to_ascii_lowercase())
    {
        "enet"
    } else {
        return Reply::Normal(iis_html(
            404,
            "404 - File or directory not found.",
            "The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.",
        ));
    };
    let odata_rest = (api == "odata").then(|| {
        req.path[odata::PREFIX.len()..]
            .trim_start_matches('/')
            .to_string()
    });
    let company = match &odata_rest {
        Some(rest) => odata::company_of(sim, rest),
        None => enet::request_company(sim, &req),
    };
    // The faults of every request first, then those of the company it addresses.
    let fault = sim
        .inner
        .faults
        .next()
        .or_else(|| company.and_then(|c| sim.co(c).faults.next()));
    let mut record = RequestRecord {
        api: api.to_string(),
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        authorized: api == "odata" && authorized(sim, company.unwrap_or(0), &req),
        fault: fault.as_ref().map(|f| f.label()),
        company: company.map(|c| sim.co(c).id.clone()),
        status: 0,
    };
    if let Some(FaultKind::Slow { millis }) = &fault {
        tokio::time::sleep(Duration::from_millis(*millis)).await;
    }
    let delay = company.map_or(0, |c| sim.co(c).site().page_delay_ms);
    if delay > 0 && is_data_read(api, &req.path) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let reply = match &fault {
        Some(FaultKind::Reset) => Reply::Reset,
        Some(FaultKind::Status(code)) => Reply::Normal(fault_status(api, *code)),
        Some(FaultKind::TooManyRequests { retry_after_secs }) => Reply::Normal(
            fault_status(api, 429).header("Retry-After", &retry_after_secs.to_string()),
        ),
        _ => {
            let resp = if api == "odata" {
                if !record.authorized {
                    unauthorized(&req)
                } else {
                    odata::handle(sim, &req, odata_rest.as_deref().unwrap_or(""), company)
                }
            } else {
                let (resp, ok) = enet::handle(sim, &req);
                record.authorized = ok;
                resp
            };
            if matches!(fault, Some(FaultKind::Truncated)) {
                Reply::Truncated(resp)
            } else {
                Reply::Normal(resp)
            }
        }
    };
    record.status = match &reply {
        Reply::Normal(r) | Reply::Truncated(r) => r.status,
        Reply::Reset => 0,
    };
    sim.record(record);
    reply
}

/// An OData entity-set read or an e.net query: what a slow SYSPRO is slow at.
fn is_data_read(api: &str, path: &str) -> bool {
    if api == "enet" {
        return path.to_ascii_lowercase().contains("/query");
    }
    let rest = path[odata::PREFIX.len()..].trim_matches('/');
    rest.contains('/') && !rest.ends_with("$metadata")
}

fn fault_status(api: &str, code: u16) -> Response {
    let msg = match code {
        429 => "Too many requests. Please retry later.",
        503 => "The service is unavailable.",
        _ => "An error has occurred.",
    };
    if api == "odata" {
        odata::error(code, msg)
    } else {
        Response::new(code)
            .header("Content-Type", "text/html")
            .body(
                format!("<HTML><HEAD><TITLE>{msg}</TITLE></HEAD><BODY>{msg}</BODY></HTML>")
                    .into_bytes(),
            )
    }
}

/// syspro.md §1.1 [H-ODATA]: basic authentication, with the credentials of the company
/// addressed (the default company's for an unknown one).
fn authorized(sim: &Simulator, company: usize, req: &Request) -> bool {
    let Some(h) = req.header("authorization") else {
        return false;
    };
    let Some(b64) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(raw) else {
        return false;
    };
    let Some((u, p)) = text.split_once(':') else {
        return false;
    };
    let co = sim.co(company);
    u == co.user && p == co.password
}

/// syspro.md §1.3: expect IIS HTML error pages for 401/403/500 (UNCONFIRMED for SYSPRO).
fn unauthorized(req: &Request) -> Response {
    let host = req.host();
    let host = host.split(':').next().unwrap_or("localhost").to_string();
    iis_html(
        401,
        "401 - Unauthorized: Access is denied due to invalid credentials.",
        "You do not have permission to view this directory or page using the credentials that you supplied.",
    )
    .header("WWW-Authenticate", &format!("Basic realm=\"{host}\""))
}

fn iis_html(status: u16, title: &str, detail: &str) -> Response {
    let body = format!(
        r#"<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>{title}</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>{title}</h2>
  <h3>{detail}</h3>
 </fieldset></div>
</div>
</body>
</html>
"#
    );
    Response::new(status)
        .header("Content-Type", "text/html")
        .header("X-Powered-By", "ASP.NET")
        .body(body.into_bytes())
}

fn control(sim: &Simulator, req: &Request, rest: &str) -> Response {
    let bad = |m: String| Response::json(400, &serde_json::json!({"error": m}));
    let path = rest.trim_end_matches('/');
    // `?company=ID` scopes data, site and fault calls to one company; without it they act
    // on the default company (faults: on every request).
    let company_param = req
        .query_pairs()
        .into_iter()
        .find(|(k, _)| k == "company")
        .map(|(_, v)| v);
    let scoped = match &company_param {
        None => None,
        Some(id) => match sim.company(id) {
            Some(c) => Some(c),
            None => {
                let known: Vec<String> =
                    sim.companies().iter().map(|c| c.id().to_string()).collect();
                return Response::json(
                    404,
                    &serde_json::json!({"error": format!("no company '{id}' (companies: {})", known.join(", "))}),
                );
            }
        },
    };
    if scoped.is_some()
        && matches!(
            path,
            "advance" | "reset" | "page_cap" | "enet" | "companies"
        )
    {
        return bad(format!(
            "/_sim/{path} is the same for every company: drop ?company="
        ));
    }
    let co = scoped.clone().unwrap_or_else(|| sim.default_company());
    let company_info = |c: &crate::SimCompany| {
        serde_json::json!({
            "id": c.id(),
            "enet_company_id": c.enet_company_id(),
            "profile": c.profile(),
            "currency": c.currency(),
            "seed": c.seed(),
            "business_date": c.business_date(),
        })
    };
    match (req.method.as_str(), path) {
        ("GET", "info") | ("GET", "") => Response::json(
            200,
            &serde_json::json!({
                "business_date": co.business_date(),
                "company": co.id(),
                "enet_company_id": co.enet_company_id(),
                "currency": co.currency(),
                "companies": sim.companies().iter().map(|c| c.id().to_string()).collect::<Vec<_>>(),
                "page_cap": sim.page_cap(),
                "site": co.site(),
                "seed": co.seed(),
                "tables": crate::Simulator::table_names()
                    .iter()
                    .map(|t| (t.to_string(), serde_json::Value::from(co.row_count(t))))
                    .collect::<serde_json::Map<String, serde_json::Value>>(),
            }),
        ),
        ("GET", "companies") => Response::json(
            200,
            &sim.companies().iter().map(company_info).collect::<Vec<_>>(),
        ),
        ("GET", p) if p.starts_with("tables/") => {
            let t = &p["tables/".len()..];
            if crate::schema::table_index(t).is_none() {
                return Response::json(404, &serde_json::json!({"error": format!("no table {t}")}));
            }
            let qp = req.query_pairs();
            let num = |k: &str| {
                qp.iter()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.parse::<usize>().ok())
            };
            Response::json(
                200,
                &co.expected_records_range(
                    t,
                    num("offset").unwrap_or(0),
                    num("limit").unwrap_or(usize::MAX),
                ),
            )
        }
        ("POST", "mutate") => {
            let plan: MutationPlan = if req.body.is_empty() {
                MutationPlan::default()
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(p) => p,
                    Err(e) => return bad(format!("bad MutationPlan: {e}")),
                }
            };
            Response::json(200, &co.mutate(&plan))
        }
        ("POST", "business_day") => {
            let plan: BusinessDayPlan = if req.body.iter().all(u8::is_ascii_whitespace) {
                BusinessDayPlan::default()
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(p) => p,
                    Err(e) => return bad(format!("bad BusinessDayPlan: {e}")),
                }
            };
            Response::json(200, &co.business_day(&plan))
        }
        ("POST", "advance") => {
            let days = req
                .query_pairs()
                .into_iter()
                .find(|(k, _)| k == "days")
                .map(|(_, v)| v)
                .unwrap_or_else(|| "1".into());
            let Ok(days) = days.parse::<u32>() else {
                return bad(format!("bad days '{days}'"));
            };
            sim.advance_days(days);
            Response::json(
                200,
                &serde_json::json!({"business_date": sim.business_date()}),
            )
        }
        ("POST", "reset") => {
            sim.reset();
            Response::json(
                200,
                &serde_json::json!({"business_date": sim.business_date()}),
            )
        }
        ("POST", "page_cap") => {
            // ?n=500 sets the cap, no n (or n=0) removes it
            let n = req
                .query_pairs()
                .into_iter()
                .find(|(k, _)| k == "n")
                .map(|(_, v)| v);
            let cap = match n.as_deref().map(str::parse::<usize>) {
                None | Some(Ok(0)) => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => return bad(format!("bad n '{}'", n.unwrap_or_default())),
            };
            sim.set_page_cap(cap);
            Response::json(200, &serde_json::json!({"page_cap": cap}))
        }
        ("GET", "site") => Response::json(200, &co.site()),
        ("POST", "site") => {
            // The whole set of site variants; missing fields are off.
            let site: crate::SiteOptions = if req.body.is_empty() {
                crate::SiteOptions::default()
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(s) => s,
                    Err(e) => return bad(format!("bad site body: {e}")),
                }
            };
            co.set_site(site);
            Response::json(200, &co.site())
        }
        ("GET", "faults") => match &scoped {
            Some(c) => Response::json(200, &c.faults().counters()),
            None => Response::json(200, &sim.faults().counters()),
        },
        ("POST", "faults") => {
            let ctl: FaultsControl = match serde_json::from_slice(&req.body) {
                Ok(c) => c,
                Err(e) => return bad(format!("bad faults body: {e}")),
            };
            let faults = match &scoped {
                Some(c) => c.faults(),
                None => sim.faults(),
            };
            faults.apply(ctl);
            Response::json(200, &faults.counters())
        }
        ("GET", "requests") => {
            let mut log = sim.requests();
            if let Some(c) = &scoped {
                log.retain(|r| r.company.as_deref() == Some(c.id()));
            }
            Response::json(200, &log)
        }
        ("DELETE", "requests") => {
            match &scoped {
                Some(c) => sim
                    .inner
                    .requests
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|r| r.company.as_deref() != Some(c.id())),
                None => sim.clear_requests(),
            }
            Response::new(204)
        }
        ("GET", "enet") => Response::json(200, &sim.enet_counters()),
        _ => Response::json(
            404,
            &serde_json::json!({"error": format!("no control endpoint {} /_sim/{rest}", req.method)}),
        ),
    }
}
