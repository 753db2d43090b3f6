"""The rig of the end-to-end tests: the SYSPRO simulator, the SQL API stand-in
(tests/sqlapi/server.py) run in this process on a thread, and push mode (`ml-connector sync
--once [--verify]`) loading the stand-in's fakesnow database through the SQL API, with a key
pair made for the test. The tests then query that same database to compare it with SYSPRO.

The sync cycle itself lives in Rust (push mode) and in the procedures; nothing here replays it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import snowside
from snowside import TARGET, loads_exact

SIMULATOR = TARGET / "mlc-simulator"
SERVICE = TARGET / "ml-connector"
SQLAPI = snowside.ROOT / "tests" / "sqlapi"

ACCOUNT = "myorg-e2e_test"  # as a user writes it; the JWT names it upper-cased
USER = "svc_sync"


def binaries_missing() -> str | None:
    missing = [p.name for p in (SIMULATOR, SERVICE) if not p.exists()]
    return f"needs {', '.join(missing)} in {TARGET}: run `cargo build --workspace` first" if missing else None


def catalog_tables() -> list[str]:
    """Every catalog table, in catalog order, as the service lists them (`tables --json`), so a
    table added to the catalog is synced and compared here without editing the tests. Empty
    when the binaries are missing: the tests are skipped then (`binaries_missing`)."""
    if binaries_missing():
        return []
    listed = subprocess.run([str(SERVICE), "tables", "--json"], capture_output=True, text=True, timeout=120, check=True)
    return [table["name"] for table in json.loads(listed.stdout)]


TABLES = catalog_tables()


class Process:
    """A child process whose stdout lines are read on a thread, so waits can time out."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line.rstrip("\n"))

    def wait_line(self, predicate, timeout=30.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{self.proc.args[0]} printed nothing usable in {timeout}s; stderr: {self.stderr[-20:]}")
            if predicate(line):
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def http(method: str, url: str, body=None, headers=None) -> str:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


class Simulator:
    """`mlc-simulator` on a free port; `info` is the JSON line it prints (base_url, odata_url,
    user, password)."""

    def __init__(self, seed: int, page_cap: int | None = None):
        args = [str(SIMULATOR), "--listen", "127.0.0.1:0", "--seed", str(seed)]
        if page_cap:
            args += ["--page-cap", str(page_cap)]
        self.process = Process(args)
        try:
            self.info = json.loads(self.process.wait_line(lambda line: line.startswith("{")))
        except BaseException:
            self.process.stop()
            raise
        self.base_url = self.info["base_url"]

    def __getitem__(self, key):  # the tests' `simulator["base_url"]`
        return self.info[key]

    def post(self, path: str, body=None) -> dict:
        return json.loads(http("POST", f"{self.base_url}{path}", body if body is not None else {}))

    def faults(self, rate: float, kinds: list[dict]) -> None:
        self.post("/_sim/faults", {"rate": rate, "kinds": kinds})

    def clear_faults(self) -> None:
        self.post("/_sim/faults", {"clear": True, "rate": 0.0, "kinds": []})

    def stop(self) -> None:
        self.process.stop()


def expected(simulator, table) -> list[dict]:
    """SYSPRO's truth: every record of `table` in the simulator, decimals exact."""
    return loads_exact(http("GET", f"{simulator['base_url']}/_sim/tables/{table}"))


def by_key(records, key_columns) -> dict:
    return {tuple(str(r[k]) for k in key_columns): r for r in records}


class KeyPair:
    """A throw-away RSA key pair (never a real key): the private key as the PKCS#8 PEM file
    push mode reads, the public key as the PEM the stand-in registers for the user."""

    def __init__(self, folder: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_path = folder / "rsa_key.p8"
        self.private_path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        self.private_path.chmod(0o600)
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _server_module():
    if str(SQLAPI) not in sys.path:
        sys.path.insert(0, str(SQLAPI))
    import server  # tests/sqlapi/server.py

    return server


class StandIn:
    """The SQL API stand-in serving on a thread of this process: push mode reaches it over
    HTTP (JWT checked strictly, as for tests/push), the tests reach the same fakesnow database
    through `backend` (under its lock: neither fakesnow nor DuckDB is thread-safe)."""

    def __init__(self, key: KeyPair, database: str, schema: str, db_path: Path | None = None):
        server = _server_module()
        args = server.arguments(["--account", ACCOUNT.upper(), "--user", USER, "--database", database, "--schema", schema]
                                + (["--db-path", str(db_path)] if db_path else []))
        self.httpd, self.state = server.serve(args)
        self.state.add_key(key.public_pem)
        host, port = self.httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.backend = self.state.backend
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sqlapi-standin", daemon=True)
        self.thread.start()

    def fault(self, **fault) -> None:
        """Queues a fault as `POST /_ctl/faults` does (status, when, match, count, retry_after)."""
        with self.state.faults.lock:
            self.state.faults.queue.append(dict(fault))

    def clear_faults(self) -> None:
        with self.state.faults.lock:
            self.state.faults.queue.clear()

    def stats(self) -> dict:
        return dict(self.state.stats)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.backend.close()


class PushSide:
    """Snowflake as push mode leaves it: `sync()` runs `ml-connector sync --once` against the
    stand-in and the simulator; the rest reads (and, for a test's setup, writes) the stand-in's
    database directly."""

    def __init__(self, standin: StandIn, key: KeyPair, statements: dict[str, str]):
        self.standin = standin
        self.key = key
        self.statements = statements
        self.simulator = None
        self.syspro_env: dict[str, str] = {}
        self.rowcount = 0

    # -- push mode ----------------------------------------------------------------------------

    def use(self, simulator, **syspro) -> "PushSide":
        """Points push mode at `simulator`; `syspro` are `[syspro]` settings on top (lower-case
        keys, e.g. max_attempts=2)."""
        self.simulator = simulator
        self.syspro_env = {f"MLC_SYSPRO__{k.upper()}": str(v) for k, v in syspro.items()}
        return self

    def env(self, tables, extra: dict | None = None) -> dict[str, str]:
        sim = self.simulator
        assert sim is not None, "call .use(simulator) first"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLC_")}
        env.update(
            MLC_SYSPRO__ODATA_URL=sim["odata_url"],
            MLC_SYSPRO__USER=sim["user"],
            MLC_SYSPRO__PASSWORD=sim["password"],
            # a dead SYSPRO should fail fast in tests; the audited error is the same
            MLC_SYSPRO__MAX_ATTEMPTS="3",
            MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS="20",
            MLC_SYSPRO__RETRY_MAX_BACKOFF_MS="50",
            MLC_SNOWFLAKE__ACCOUNT=ACCOUNT,
            MLC_SNOWFLAKE__USER=USER,
            MLC_SNOWFLAKE__PRIVATE_KEY_PATH=str(self.key.private_path),
            MLC_SNOWFLAKE__URL=self.standin.url,
            MLC_SNOWFLAKE__WAREHOUSE="SYNC_WH",
            MLC_SNOWFLAKE__DATABASE=self.standin.state.args.database,
            MLC_SNOWFLAKE__SCHEMA=self.standin.state.args.schema,
            MLC_SNOWFLAKE__ROLE="ML_CONNECTOR_OWNER",
            # one run per table and cycle: a failure is audited once and seen by the test
            MLC_SYNC__CYCLE_MAX_ATTEMPTS="1",
            MLC_SYNC__CYCLE_RETRY_INITIAL_BACKOFF_SECS="0",
            MLC_SYNC__TABLES=",".join([tables] if isinstance(tables, str) else tables),
            RUST_LOG=os.environ.get("RUST_LOG", "warn"),
        )
        env.update(self.syspro_env)
        env.update(extra or {})
        return env

    def sync(self, tables, verify: bool = False, expect_ok: bool = True, extra_env: dict | None = None) -> "Cycle":
        """One `ml-connector sync --once [--verify]` of `tables` (a name or a list). Fails the
        test if the process fails and `expect_ok`; returns the runs it started."""
        before = {r for (r,) in self.query("select run_id from audit_syspro__runs")}
        args = [str(SERVICE), "sync", "--once"] + (["--verify"] if verify else [])
        done = subprocess.run(args, env=self.env(tables, extra_env), capture_output=True, text=True, timeout=900)
        runs = [r for r in self.rows("select * from audit_syspro__runs order by started_at") if r["run_id"] not in before]
        cycle = Cycle(done.returncode, done.stdout, done.stderr, runs)
        if expect_ok:
            assert done.returncode == 0, f"sync --once failed ({done.returncode}): {cycle.failures()}\n{done.stderr[-3000:]}"
        return cycle

    # -- the database -------------------------------------------------------------------------

    def query(self, sql: str, params=None) -> list[tuple]:
        with self.standin.backend.lock:
            cur = self.standin.backend.cur
            cur.execute(sql, params)
            self.rowcount = cur.rowcount
            try:
                return cur.fetchall()
            except Exception:  # DML without a result set
                return []

    def rows(self, sql: str, params=None) -> list[dict]:
        with self.standin.backend.lock:
            cur = self.standin.backend.cur
            cur.execute(sql, params)
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def run(self, name: str, **binds):
        """One rendered statement (`ml-connector sql --statements-json`) with its binds; the
        company is the single company '' (push mode here syncs no [companies.*]) unless named."""
        sql, names = snowside.pyformat(self.statements[name])
        binds.setdefault("company_id", "")
        missing = sorted(set(names) - set(binds))
        assert not missing, f"statement {name} needs binds {missing}"
        return self.query(sql, {n: binds[n] for n in set(names)})

    def run_row(self, run_id: str) -> dict:
        rows = self.rows("select * from audit_syspro__runs where run_id = %(r)s", {"r": run_id})
        assert len(rows) == 1, rows
        return rows[0]

    def high_water(self, table: str):
        rows = self.query("select high_water from syspro_sync_state where table_name = %(t)s", {"t": table})
        return rows[0][0] if rows else None

    def current_records(self, table: str) -> dict[str, dict]:
        """record_key -> record of the target's non-deleted rows."""
        rows = self.query(f"select record_key, record from syspro__{snowside.slug(table)} where not is_deleted")
        return {key: loads_exact(record) for key, record in rows}

    def key_columns(self, table: str) -> list[str]:
        return json.loads(self.query("select key_columns from syspro_sync_control where table_name = %(t)s", {"t": table})[0][0])


class Cycle:
    """What one `sync --once` did: its exit status, output and the audit rows of its runs."""

    def __init__(self, returncode: int, stdout: str, stderr: str, runs: list[dict]):
        self.returncode, self.stdout, self.stderr, self.runs = returncode, stdout, stderr, runs

    def run(self, table: str, kind: str = "sync") -> dict:
        found = [r for r in self.runs if r["table_name"] == table and r["run_kind"] == kind]
        assert len(found) == 1, f"{len(found)} {kind} runs of {table}: {self.runs}"
        return found[0]

    def failures(self) -> list[tuple]:
        return [(r["table_name"], r["run_kind"], r["error_kind"], r["error_message"]) for r in self.runs if r["status"] != "succeeded"]


def location(setup_sql: str) -> tuple[str, str]:
    """Where the renderer put things (defaults: ml_connector.syspro)."""
    return re.search(r"^create schema if not exists (\w+)\.(\w+)", setup_sql, re.M).groups()


def push_side(folder: Path, setup_sql: str, statements: dict[str, str], db_path: Path | None = None) -> PushSide:
    """A stand-in with the runnable part of the rendered setup applied, and push mode's key."""
    key = KeyPair(folder)
    database, schema = location(setup_sql)
    standin = StandIn(key, database, schema, db_path)
    side = PushSide(standin, key, statements)
    for statement in snowside.runnable_setup(setup_sql):
        side.query(statement)
    return side


# -- the service's external functions (what only the procedures call: reconcile, re-pull) ------


def start_service(simulator, **syspro) -> tuple[Process, "ExternalFunctions"]:
    """`ml-connector serve` on the simulator, called as Snowflake calls an external function."""
    secret = secrets.token_hex(16)
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("MLC_")},
        MLC_SERVER__LISTEN="127.0.0.1:0",
        MLC_SERVER__SECRET=secret,
        MLC_SYSPRO__ODATA_URL=simulator["odata_url"],
        MLC_SYSPRO__USER=simulator["user"],
        MLC_SYSPRO__PASSWORD=simulator["password"],
        MLC_SYSPRO__MAX_ATTEMPTS="3",
        MLC_SYSPRO__RETRY_INITIAL_BACKOFF_MS="20",
        MLC_SYSPRO__RETRY_MAX_BACKOFF_MS="50",
    )
    env.update({f"MLC_SYSPRO__{k.upper()}": str(v) for k, v in syspro.items()})
    svc = Process([str(SERVICE), "serve"], env=env)
    try:
        line = svc.wait_line(lambda line: "listening on http://" in line)
    except BaseException:
        svc.stop()
        raise
    return svc, ExternalFunctions(line.split("listening on ", 1)[1].strip(), secret)


class ExternalFunctions:
    """Calls the service exactly as Snowflake calls SYSPRO_RECONCILE / SYSPRO_PULL_RANGE."""

    def __init__(self, base_url: str, secret: str):
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.query_id = str(uuid.uuid4())

    def call(self, path: str, *args) -> str:
        """Returns the row's value as raw JSON text, so decimals reach SQL with every digit."""
        text = http(
            "POST",
            f"{self.base_url}{path}",
            {"data": [[0, *args]]},
            {
                "sf-external-function-format": "json",
                "sf-external-function-format-version": "1.0",
                "sf-external-function-query-batch-id": f"{self.query_id}:{uuid.uuid4()}",
                "sf-external-function-current-query-id": self.query_id,
                "sf-custom-mlc-secret": self.secret,
            },
        )
        envelope = json.loads(text)
        assert [row[0] for row in envelope["data"]] == [0], envelope
        start = text.index("[[") + 2
        start = text.index(",", start) + 1
        while text[start].isspace():
            start += 1
        _, end = json.JSONDecoder().raw_decode(text, start)
        return text[start:end]
