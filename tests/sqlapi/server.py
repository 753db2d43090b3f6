"""A local stand-in for Snowflake's SQL API v2, for ml-connector's push-mode tests.

It speaks the public REST protocol (snowflake.md §3–4) and runs the statements on fakesnow
(DuckDB):

- `POST /api/v2/statements[?requestId=..&retry=true]`, `GET /api/v2/statements/{handle}[?partition=N]`
- key-pair JWT: RS256 signature checked against the registered public key(s); `iss` must be
  `ACCOUNT.USER.SHA256:<fp of the signing key>`, `sub` `ACCOUNT.USER`; `exp - iat` at most 1 h;
  401 `390144` "JWT token is invalid" for anything malformed or wrong, 401 `390198` "Keypair
  access token expired" once `exp` has passed (bodies shaped like Snowflake's).
- `Authorization: Bearer`, `Accept`, `Content-Type`, `User-Agent` required; the token-type
  header, when sent, must be `KEYPAIR_JWT`.
- bindings (1-based keys, typed string values) on single statements; multi-statement requests
  need `MULTI_STATEMENT_COUNT` (a mismatch fails like Snowflake) and refuse bindings.
- results as `jsonv2` with every value a string; partitions of `--partition-rows` rows,
  partition >= 1 served gzip-compressed as `{"data": [...]}` without metadata.
- `requestId` + `retry=true` answers from the first execution instead of running it again.
- 202 + handle for "slow" statements (`/_ctl/async`), 429/5xx injected on demand (`/_ctl/faults`).

Control API (no auth) under `/_ctl/`: `faults`, `async`, `query`, `stats`, `reset-stats`,
`warehouse`, `keys`.

What it does not reproduce: see tests/sqlapi/README.md.

Prints one JSON line `{"url": ..., "pid": ...}` on stdout when ready.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import gzip
import hashlib
import json
import logging
import re
import sys
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

warnings.filterwarnings("ignore")
logging.getLogger("sqlglot").setLevel(logging.ERROR)  # fakesnow's transpiler notes, not errors

import jwt  # PyJWT  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402


def fingerprint(public_key_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def split_sql(text: str) -> list[str]:
    """Splits on `;` outside quotes, `$$` bodies and `--` comments; drops empty pieces."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            j = i + 1
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            cur.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            cur.append(text[i:j])
            i = j
        elif text.startswith("$$", i):
            j = text.find("$$", i + 2)
            j = n if j < 0 else j + 2
            cur.append(text[i:j])
            i = j
        elif c == ";":
            out.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur))
    return [s for s in out if strip_comments(s).strip()]


def strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def to_pyformat(sql: str) -> str:
    """`?` binds (outside quotes/comments) -> `%s` for the Python connector; `%` escaped."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'":
            j = i + 1
            while j < n and not (sql[j] == "'" and (j + 1 >= n or sql[j + 1] != "'")):
                j += 2 if sql[j] == "'" else 1
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class SfError(Exception):
    def __init__(self, status: int, code: str, message: str, sql_state: str = "42000"):
        super().__init__(message)
        self.status, self.code, self.message, self.sql_state = status, code, message, sql_state


def bind_value(b: dict):
    kind = str(b.get("type", "TEXT")).upper()
    v = b.get("value")
    if v is None:
        return None
    if not isinstance(v, str):
        raise SfError(400, "100037", f"{kind} binding values must be strings", "22018")
    try:
        if kind == "FIXED":
            return int(v) if re.fullmatch(r"-?\d+", v) else decimal.Decimal(v)
        if kind == "REAL":
            return float(v)
        if kind == "BOOLEAN":
            return v.lower() in ("true", "1")
    except (ValueError, decimal.InvalidOperation):
        raise SfError(400, "100037", f"{kind} value '{v}' is not recognized", "22018") from None
    return v


def cell(v):
    """Every value as a string, as the SQL API sends it; NULL as null."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        epoch = dt.datetime(1970, 1, 1, tzinfo=v.tzinfo)
        delta = v - epoch
        return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}000"
    if isinstance(v, dt.date):
        return str((v - dt.date(1970, 1, 1)).days)
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def sf_type(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, decimal.Decimal)):
        return "fixed"
    if isinstance(v, float):
        return "real"
    if isinstance(v, dt.datetime):
        return "timestamp_ntz"
    if isinstance(v, dt.date):
        return "date"
    return "text"


def json_value(v):
    """For the control API's query: JSON-native values, VARIANT text parsed."""
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    return v


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.queue: list[dict] = []

    def take(self, where: str, statement: str | None = None) -> dict | None:
        with self.lock:
            for i, f in enumerate(self.queue):
                if "match" in f and not (statement and re.search(f["match"], statement, re.I | re.S)):
                    continue
                if f.get("path", "statements") in (where, "any"):
                    f["count"] = f.get("count", 1) - 1
                    if f["count"] <= 0:
                        self.queue.pop(i)
                    return dict(f)
        return None


class Backend:
    """fakesnow behind one lock (neither fakesnow nor DuckDB connections are thread-safe)."""

    def __init__(self, database: str, schema: str, db_path: str | None = None):
        import fakesnow
        import snowflake.connector

        self.lock = threading.RLock()
        # db_path: the database kept in DuckDB files there (one per database), as the
        # dashboard's local engine reads it; None: in memory
        self._patch = fakesnow.patch(db_path=db_path) if db_path else fakesnow.patch()
        self._patch.__enter__()
        self.conn = snowflake.connector.connect(database=database, schema=schema)
        self.cur = self.conn.cursor()
        for sql in (f"create database if not exists {database}", f"create schema if not exists {database}.{schema}"):
            self.cur.execute(sql)
        self.cur.execute(f"use schema {database}.{schema}")

    def run(self, sql: str, params: list | None = None):
        """Returns (columns, rows). fakesnow errors become Snowflake 422s."""
        text = strip_comments(sql).strip()
        try:
            if params:
                self.cur.execute(to_pyformat(text), params)
            else:
                self.cur.execute(text)
            cols = [d[0] for d in (self.cur.description or [])]
            try:
                rows = self.cur.fetchall()
            except Exception:
                rows = []
            return cols, [list(r) for r in rows]
        except SfError:
            raise
        except Exception as e:  # noqa: BLE001 - every engine error is a statement failure
            code = getattr(e, "errno", None)
            code = f"{int(code):06d}" if isinstance(code, int) and code > 0 else "002003"
            sqlstate = getattr(e, "sqlstate", None) or "42000"
            raise SfError(422, code, f"SQL compilation error: {e}", sqlstate) from None

    def close(self):
        with self.lock:
            self.conn.close()
            self._patch.__exit__(None, None, None)

    def transaction(self, statements: list[str]):
        """`begin; ...; commit` emulated: fakesnow cannot MERGE inside a DuckDB transaction
        (it writes to its own catalog database), so the tables the block writes are copied
        first and put back if a statement fails."""
        duck = self.conn._duck_conn  # fakesnow's DuckDB connection
        targets = set()
        for s in statements:
            m = re.search(r"^\s*(?:merge\s+into|insert\s+into|update|delete\s+from)\s+([\w.$]+)", strip_comments(s), re.I)
            if m:
                targets.add(m.group(1).upper())
        saved = {}
        for t in sorted(targets):
            undo = f"{t}_undo_{uuid.uuid4().hex[:8]}".upper()
            duck.execute(f"create table {undo} as select * from {t}")
            saved[t] = undo
        return saved

    def restore(self, saved: dict):
        duck = self.conn._duck_conn
        for t, undo in saved.items():
            duck.execute(f"delete from {t}")
            duck.execute(f"insert into {t} select * from {undo}")
            duck.execute(f"drop table {undo}")

    def drop(self, saved: dict):
        duck = self.conn._duck_conn
        for undo in saved.values():
            duck.execute(f"drop table {undo}")


class State:
    def __init__(self, args):
        self.args = args
        self.account = args.account.upper()
        self.user = args.user.upper()
        self.keys: dict[str, object] = {}
        for path in args.public_key or []:
            self.add_key(open(path, "rb").read())
        self.backend = Backend(args.database, args.schema, getattr(args, "db_path", None))
        self.faults = Faults()
        self.results: dict[str, dict] = {}  # handle -> {"ready_at", "columns", "rows", "types", "error", "children"}
        self.by_request: dict[str, str] = {}  # requestId -> handle
        self.async_next = {"count": 0, "delay_ms": 0}
        self.suspended_warehouses: set[str] = set(w.upper() for w in (args.suspended_warehouse or []))
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "statements": 0, "executions": 0, "retries_answered_from_cache": 0,
                      "accepted_202": 0, "polls": 0, "partitions_served": 0, "faults": 0,
                      "tokens_seen": 0, "auth_failures": 0, "multi_statement_requests": 0}
        self.tokens: set[str] = set()
        self.fault_log: list[str] = []
        self.clock_skew = args.clock_skew_secs

    def add_key(self, pem: bytes):
        self.keys[fingerprint(pem)] = serialization.load_pem_public_key(pem)

    def now(self) -> float:
        return time.time() + self.clock_skew


def auth_error(code: str, message: str) -> SfError:
    return SfError(401, code, f"{message} [{uuid.uuid4()}]", "08001")


def check_jwt(state: State, headers) -> None:
    auth = headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        raise SfError(401, "390101", "Authorization header not found in the request data.", "08001")
    kind = headers.get("X-Snowflake-Authorization-Token-Type")
    if kind is not None and kind.upper() != "KEYPAIR_JWT":
        raise auth_error("390144", "JWT token is invalid.")
    token = auth[len("Bearer "):].strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise auth_error("390144", "JWT token is invalid.") from None
    if header.get("alg") not in ("RS256", "RS384", "RS512"):
        raise auth_error("390144", "JWT token is invalid.")
    iss, sub = str(claims.get("iss", "")), str(claims.get("sub", ""))
    expected_sub = f"{state.account}.{state.user}"
    fp = iss.rsplit(".", 1)[-1] if iss.count(".") >= 2 else ""
    key = state.keys.get(fp)
    if sub != expected_sub or iss != f"{expected_sub}.{fp}" or key is None:
        raise auth_error("390144", "JWT token is invalid.")
    try:
        jwt.decode(token, key, algorithms=[header["alg"]],
                   options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                            "require": ["iss", "sub", "iat", "exp"]})
    except jwt.PyJWTError:
        raise auth_error("390144", "JWT token is invalid.") from None
    try:
        iat, exp = float(claims["iat"]), float(claims["exp"])
    except (TypeError, ValueError):
        raise auth_error("390144", "JWT token is invalid.") from None
    if iat > 1e11:  # milliseconds are accepted too
        iat, exp = iat / 1000, exp / 1000
    now = state.now()
    if iat > now + 60 or exp - iat > 3600 + 1 or exp <= iat:
        # Snowflake reports a bad issue time as JWT_TOKEN_INVALID_ISSUE_TIME under 390144
        raise auth_error("390144", "JWT token is invalid.")
    if exp <= now:
        raise auth_error("390198", "Keypair access token expired.")
    with state.lock:
        if token not in state.tokens:
            state.tokens.add(token)
            state.stats["tokens_seen"] += 1


def needs_warehouse(sql: str) -> bool:
    code = strip_comments(sql).strip().lower()
    return not re.fullmatch(r"select\s+(current_\w+\(\)\s*(,\s*)?)+", code) and not code.startswith(("begin", "commit", "rollback", "create", "use"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sqlapi-standin/1.0"
    state: State

    def log_message(self, fmt, *args):  # quiet
        if self.state.args.verbose:
            sys.stderr.write("sqlapi: " + fmt % args + "\n")

    # -- plumbing -------------------------------------------------------------------------

    def send_json(self, status: int, body, gzip_it: bool = False, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if gzip_it:
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_body(self, e: SfError, handle: str | None = None):
        body = {"code": e.code, "message": e.message, "sqlState": e.sql_state}
        if handle:
            body["statementHandle"] = handle
        self.send_json(e.status, body)

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer_fault(self, f: dict):
        status = int(f.get("status", 503))
        self.state.fault_log.append(f"{self.command} {status} {f.get('when', 'before')} {f.get('match', '')}".strip())
        if status == 422:
            body = {"code": f.get("code", "100090"), "message": f.get("message", "injected statement failure"),
                    "sqlState": f.get("sqlState", "42000"), "statementHandle": str(uuid.uuid4())}
            return self.send_json(422, body)
        headers = {"Retry-After": str(f["retry_after"])} if "retry_after" in f else None
        if status == 429:
            self.send_json(429, {"code": "390505", "message": "Too many requests."}, headers=headers)
        else:
            self.send_json(status, {"code": "000000", "message": f"injected HTTP {status}"}, headers=headers)

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self):
        url = urlparse(self.path)
        st = self.state
        with st.lock:
            st.stats["requests"] += 1
        if url.path == "/_ctl/stats":
            return self.send_json(200, dict(st.stats, fault_log=st.fault_log))
        m = re.fullmatch(r"/api/v2/statements/([\w-]+)", url.path)
        if not m:
            return self.send_json(404, {"code": "000404", "message": "not found"})
        try:
            check_jwt(st, self.headers)
        except SfError as e:
            st.stats["auth_failures"] += 1
            return self.send_error_body(e)
        pending_fault = self.state.faults.take("status")
        if pending_fault is not None:
            st.stats["faults"] += 1
            return self.answer_fault(pending_fault)
        handle = m.group(1)
        r = st.results.get(handle)
        if r is None:
            return self.send_json(404, {"code": "000709", "message": f"Statement {handle} not found", "sqlState": "02000"})
        q = parse_qs(url.query)
        if "partition" in q:
            n = int(q["partition"][0])
            parts = r.get("partitions") or [[]]
            if n < 1 or n >= len(parts):
                return self.send_json(422, {"code": "000605", "message": f"partition {n} does not exist"})
            st.stats["partitions_served"] += 1
            return self.send_json(200, {"data": parts[n]}, gzip_it=True)
        st.stats["polls"] += 1
        if time.time() < r["ready_at"]:
            return self.send_json(202, status_body(handle, "333334", "Asynchronous execution in progress. Use provided query id to perform query monitoring and management."))
        if r.get("error"):
            return self.send_error_body(r["error"], handle)
        return self.send_json(200, result_body(handle, r))

    def do_POST(self):
        url = urlparse(self.path)
        st = self.state
        with st.lock:
            st.stats["requests"] += 1
        raw = self.read_body()
        if url.path.startswith("/_ctl/"):
            return self.control(url.path[len("/_ctl/"):], json.loads(raw or b"{}"))
        if url.path != "/api/v2/statements":
            return self.send_json(404, {"code": "000404", "message": "not found"})
        for h in ("User-Agent", "Accept", "Content-Type"):
            if not self.headers.get(h):
                return self.send_json(400, {"code": "390000", "message": f"missing required header {h}"})
        try:
            check_jwt(st, self.headers)
        except SfError as e:
            st.stats["auth_failures"] += 1
            return self.send_error_body(e)
        q = parse_qs(url.query)
        request_id = q.get("requestId", [None])[0]
        retry = q.get("retry", ["false"])[0].lower() == "true"
        fault_after = None
        try:
            text = json.loads(raw).get("statement") or ""
        except (ValueError, AttributeError):
            text = ""
        f = st.faults.take("statements", text)
        if f is not None:
            if f.get("when", "before") == "before":
                st.stats["faults"] += 1
                return self.answer_fault(f)
            fault_after = f  # run the statement, then lose the answer
        with st.backend.lock:
            if retry and request_id and request_id in st.by_request:
                handle = st.by_request[request_id]
                st.stats["retries_answered_from_cache"] += 1
                if fault_after:
                    st.stats["faults"] += 1
                    return self.answer_fault(fault_after)
                return self.answer_handle(handle)
            try:
                body = json.loads(raw)
            except ValueError:
                return self.send_json(400, {"code": "390000", "message": "request body is not JSON"})
            handle = self.execute(body)
            if request_id:
                st.by_request[request_id] = handle
        if fault_after:
            st.stats["faults"] += 1
            return self.answer_fault(fault_after)
        return self.answer_handle(handle, first=True)

    def answer_handle(self, handle: str, first: bool = False):
        r = self.state.results[handle]
        if time.time() < r["ready_at"]:
            if first:
                self.state.stats["accepted_202"] += 1
            return self.send_json(202, status_body(handle, "333334", "Asynchronous execution in progress. Use provided query id to perform query monitoring and management."))
        if r.get("error"):
            return self.send_error_body(r["error"], handle)
        return self.send_json(200, result_body(handle, r))

    def execute(self, body: dict) -> str:
        st = self.state
        statement = body.get("statement")
        handle = str(uuid.uuid4())
        ready_at = 0.0
        wanted = st.async_next.get("match")
        if st.async_next["count"] > 0 and (not wanted or re.search(wanted, str(statement), re.I | re.S)):
            st.async_next["count"] -= 1
            ready_at = time.time() + st.async_next["delay_ms"] / 1000
        elif st.args.async_ms > 0:
            ready_at = time.time() + st.args.async_ms / 1000
        record = {"ready_at": ready_at, "columns": [], "types": [], "rows": [], "partitions": [[]]}
        st.results[handle] = record
        try:
            if not isinstance(statement, str) or not statement.strip():
                raise SfError(422, "002001", "SQL statement is empty", "42601")
            params = body.get("parameters") or {}
            count = {k.upper(): v for k, v in params.items()}.get("MULTI_STATEMENT_COUNT", "1")
            pieces = split_sql(statement)
            wanted = int(count)
            if wanted != 0 and wanted != len(pieces):
                raise SfError(422, "000008", f"Actual statement count {len(pieces)} did not match the desired statement count {wanted}.", "0A000")
            warehouse = (body.get("warehouse") or "").upper()
            if warehouse in st.suspended_warehouses and any(needs_warehouse(p) for p in pieces):
                raise SfError(422, "000606", "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command.", "57P03")
            bindings = body.get("bindings") or {}
            if len(pieces) == 1 and wanted in (0, 1) and "MULTI_STATEMENT_COUNT" not in {k.upper() for k in params}:
                params_list = [bind_value(bindings[str(i)]) for i in range(1, len(bindings) + 1)] if bindings else None
                st.stats["statements"] += 1
                st.stats["executions"] += 1
                cols, rows = st.backend.run(pieces[0], params_list)
                fill(record, cols, rows, st.args.partition_rows)
            else:
                if bindings:
                    raise SfError(422, "002240", "Bind variables not supported in multi-statement requests.", "0A000")
                st.stats["multi_statement_requests"] += 1
                record["children"] = self.run_multi(pieces, ready_at)
                fill(record, ["multiple statement execution"], [["Multiple statements executed successfully."]], st.args.partition_rows)
        except SfError as e:
            record["error"] = e
        return handle

    def run_multi(self, pieces: list[str], ready_at: float) -> list[str]:
        st = self.state
        handles: list[str] = []
        saved = None
        last: tuple[list, list] = ([], [])  # the previous child's result, for RESULT_SCAN
        for i, sql in enumerate(pieces):
            code = strip_comments(sql).strip().lower()
            h = str(uuid.uuid4())
            child = {"ready_at": ready_at, "columns": [], "types": [], "rows": [], "partitions": [[]]}
            st.results[h] = child
            handles.append(h)
            st.stats["statements"] += 1
            if re.fullmatch(r"begin(\s+(transaction|work))?", code):
                saved = st.backend.transaction(pieces[i + 1:])
                fill(child, ["status"], [["Statement executed successfully."]], st.args.partition_rows)
                last = (["status"], [["Statement executed successfully."]])
                continue
            if re.fullmatch(r"(commit|rollback)(\s+work)?", code):
                if saved is not None:
                    if code.startswith("rollback"):
                        st.backend.restore(saved)
                    else:
                        st.backend.drop(saved)
                    saved = None
                fill(child, ["status"], [["Statement executed successfully."]], st.args.partition_rows)
                last = (["status"], [["Statement executed successfully."]])
                continue
            try:
                st.stats["executions"] += 1
                cols, rows = st.backend.run(with_last_result(sql, last))
                fill(child, cols, rows, st.args.partition_rows)
                last = (cols, rows)
            except SfError as e:
                if saved is not None:
                    # the request ends with the transaction open: Snowflake rolls it back
                    st.backend.restore(saved)
                raise SfError(e.status, e.code, f"{e.message} (statement {i + 1} of {len(pieces)})", e.sql_state) from None
        if saved is not None:
            st.backend.restore(saved)
        return handles

    def control(self, what: str, body: dict):
        st = self.state
        if what == "faults":
            with st.faults.lock:
                if body.get("clear"):
                    st.faults.queue.clear()
                else:
                    st.faults.queue.append(body)
            return self.send_json(200, {"queued": len(st.faults.queue)})
        if what == "async":
            st.async_next = {"count": int(body.get("count", 1)), "delay_ms": int(body.get("delay_ms", 500)),
                             "match": body.get("match")}
            return self.send_json(200, st.async_next)
        if what == "warehouse":
            name = str(body["name"]).upper()
            if body.get("suspended", True):
                st.suspended_warehouses.add(name)
            else:
                st.suspended_warehouses.discard(name)
            return self.send_json(200, {"suspended": sorted(st.suspended_warehouses)})
        if what == "keys":
            st.add_key(body["pem"].encode())
            return self.send_json(200, {"fingerprints": sorted(st.keys)})
        if what == "reset-stats":
            for k in st.stats:
                st.stats[k] = 0
            st.fault_log.clear()
            return self.send_json(200, st.stats)
        if what == "query":
            with st.backend.lock:
                try:
                    cols, rows = st.backend.run(body["sql"], body.get("params"))
                except SfError as e:
                    return self.send_json(422, {"code": e.code, "message": e.message})
            return self.send_json(200, {"columns": cols, "rows": [[json_value(v) for v in r] for r in rows]})
        return self.send_json(404, {"message": f"unknown control {what}"})


LAST_RESULT = re.compile(r"table\s*\(\s*result_scan\s*\(\s*last_query_id\s*\(\s*\)\s*\)\s*\)", re.I)


def with_last_result(sql: str, last: tuple[list, list]) -> str:
    """`TABLE(RESULT_SCAN(LAST_QUERY_ID()))` — the previous statement's result, which Snowflake
    keeps per session — written as that result's rows inline: fakesnow has neither function
    (local-snowflake-testing.md). Only the multi-statement path needs it: push mode reads a
    MERGE's counts in the statement after it (sql/60_statements/count_merge.sql)."""
    if not LAST_RESULT.search(sql):
        return sql
    cols, rows = last
    if not cols:
        raise SfError(422, "000709", "Statement not found for RESULT_SCAN(LAST_QUERY_ID()).", "02000")

    def literal(v) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float, decimal.Decimal)):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    names = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
    if rows:
        values = ", ".join("(" + ", ".join(literal(v) for v in r) + ")" for r in rows)
    else:  # no rows: the columns, typed as nothing
        values = "(" + ", ".join("null" for _ in cols) + ")"
    inline = f"(select * from (values {values}) as last_result({names})" + ("" if rows else " where false") + ")"
    return LAST_RESULT.sub(lambda _: inline, sql)


def fill(record: dict, cols: list[str], rows: list[list], per_partition: int):
    record["columns"] = cols
    record["types"] = [sf_type(next((r[i] for r in rows if r[i] is not None), "")) for i in range(len(cols))]
    text_rows = [[cell(v) for v in r] for r in rows]
    record["rows"] = text_rows
    parts = [text_rows[i : i + per_partition] for i in range(0, len(text_rows), per_partition)] or [[]]
    record["partitions"] = parts
    stats = {}
    lowered = [c.lower() for c in cols]
    for name, key in (("number of rows inserted", "numRowsInserted"), ("number of rows updated", "numRowsUpdated"),
                      ("number of rows deleted", "numRowsDeleted")):
        if name in lowered and rows:
            stats[key] = int(rows[0][lowered.index(name)] or 0)
    record["stats"] = stats or None


def status_body(handle: str, code: str, message: str) -> dict:
    return {"code": code, "message": message, "statementHandle": handle,
            "statementStatusUrl": f"/api/v2/statements/{handle}"}


def result_body(handle: str, r: dict) -> dict:
    parts = r["partitions"]
    body = {
        "resultSetMetaData": {
            "numRows": len(r["rows"]),
            "format": "jsonv2",
            "rowType": [{"name": c, "type": t, "nullable": True} for c, t in zip(r["columns"], r["types"])],
            "partitionInfo": [{"rowCount": len(p), "uncompressedSize": len(json.dumps(p))} for p in parts],
        },
        "data": parts[0],
        "code": "090001",
        "statementStatusUrl": f"/api/v2/statements/{handle}",
        "requestId": None,
        "sqlState": "00000",
        "statementHandle": handle,
        "message": "Statement executed successfully.",
        "createdOn": int(time.time() * 1000),
    }
    if r.get("children"):
        body["statementHandles"] = r["children"]
    if r.get("stats"):
        body["stats"] = r["stats"]
    return body


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--account", required=True, help="ACCOUNT as the JWT must name it")
    p.add_argument("--user", required=True)
    p.add_argument("--public-key", action="append", help="PEM public key registered for the user (repeatable)")
    p.add_argument("--database", default="ml_connector")
    p.add_argument("--schema", default="syspro")
    p.add_argument("--db-path", help="keep the database in DuckDB files in this folder (default: in memory)")
    p.add_argument("--partition-rows", type=int, default=1000)
    p.add_argument("--suspended-warehouse", action="append")
    p.add_argument("--async-ms", type=int, default=0,
                   help="every statement answers 202 and is ready after this many ms (0: answer at once)")
    p.add_argument("--clock-skew-secs", type=float, default=0.0, help="the stand-in's clock runs this far ahead")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> tuple[ThreadingHTTPServer, State]:
    """The stand-in bound to its port, not yet serving: `server.serve_forever()` runs it. In
    process (tests/snowflake), `state.backend` is the very database the statements run on."""
    state = State(args)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    return server, state


def main() -> None:
    server, _ = serve(arguments())
    host, port = server.server_address[:2]
    print(json.dumps({"url": f"http://{host}:{port}", "pid": __import__("os").getpid()}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
