"""The rendered SQL on fakesnow, for the statement-level tests: the setup and the data-plane
statements of `ml-connector sql [--statements-json]`, their `:name` binds, and `SnowSide`, which
runs one statement at a time on a fakesnow cursor and reads the tables back.

Nothing here replays the sync cycle: that is written once in Rust (src/sync/cycle.rs) and
rendered for Snowflake by the procedures; the end-to-end tests drive it through push mode and
the SQL API stand-in (pushrig.py). `SnowSide` only runs statements, so a test can check what
each one does with hand-made answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "target" / "debug"


def renderer() -> Path:
    """The binary that prints the setup (`sql`) and the statements (`sql --statements-json`)."""
    return Path(os.environ.get("MLC_SQL_RENDERER", TARGET / "ml-connector"))


def render(*args: str) -> str:
    binary = renderer()
    result = subprocess.run([str(binary), "sql", *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{binary} sql {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def rendered_setup() -> str:
    return render()


def rendered_statements() -> dict[str, str]:
    return json.loads(render("--statements-json"))


def slug(table: str) -> str:
    """ApInvoice -> ap_invoice, the same rule as sqlgen's snake_case."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", table)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def split_statements(script: str) -> list[str]:
    """Splits a rendered setup on `;` at line ends, keeping `$$ ... $$` bodies whole."""
    statements, current, in_body = [], [], False
    for line in script.split("\n"):
        current.append(line)
        if line.count("$$") % 2 == 1:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            text = "\n".join(current).strip()
            if strip_comments(text).strip():
                statements.append(text)
            current = []
    return statements


def strip_comments(sql: str) -> str:
    # our statements never put `--` inside a string literal
    return "\n".join(line.split("--", 1)[0] if "--" in line else line for line in sql.split("\n"))


BIND = re.compile(r"(?<![\w\"\]\):]):([a-z_][a-z0-9_]*)")


def pyformat(sql: str) -> tuple[str, list[str]]:
    """`:name` binds -> `%(name)s` for the Python connector; returns the names used."""
    sql = strip_comments(sql).replace("%", "%%")
    names = BIND.findall(sql)
    return BIND.sub(lambda m: f"%({m.group(1)})s", sql), names


# what fakesnow can create from the rendered setup; the rest (roles, grants, integration,
# external functions, procedures, tasks, `use`) is Snowflake-only and checked by sqlfluff
RUNNABLE_DDL = re.compile(
    r"^(create (database|schema|table|transient table) if not exists|alter table \S+ add column if not exists "
    r"|drop table if exists "
    # the company column an upgraded account gets: filled, then made NOT NULL
    r"|update \S+ set company_id = '' where company_id is null|alter table \S+ alter column company_id set not null"
    r"|create or replace view|merge into \S+syspro_sync_control |update \S+syspro_sync_control as control\s)"
)


def runnable_setup(script: str) -> list[str]:
    out = []
    for statement in split_statements(script):
        code = strip_comments(statement).strip()
        if RUNNABLE_DDL.match(code):
            out.append(code.rstrip(";"))
    return out


def loads_exact(text: str):
    """JSON with decimals kept exact (SYSPRO amounts must not round-trip through float)."""
    return json.loads(text, parse_float=Decimal)



@contextlib.contextmanager
def fresh_account(setup_sql: str, statements: dict):
    """A fresh fakesnow account with the runnable part of `setup_sql` applied, wherever the
    renderer put things (defaults: ml_connector.syspro)."""
    import fakesnow
    import snowflake.connector

    database, schema = re.search(r"^create schema if not exists (\w+)\.(\w+)", setup_sql, re.M).groups()
    with fakesnow.patch():
        conn = snowflake.connector.connect(database=database, schema=schema)
        try:
            side = SnowSide(conn.cursor(), statements)
            side.setup(setup_sql)
            yield side
        finally:
            conn.close()


class SnowSide:
    """The data plane on a fakesnow cursor, statement by statement as the procedures run it."""

    def __init__(self, cursor, statements: dict[str, str], company: str = ""):
        self.cur = cursor
        self.statements = statements
        # the company every statement binds as :company_id unless a call names another
        self.company = company

    # -- plumbing ---------------------------------------------------------------------------

    def run(self, name: str, **binds):
        sql, names = pyformat(self.statements[name])
        binds.setdefault("company_id", self.company)
        missing = sorted(set(names) - set(binds))
        assert not missing, f"statement {name} needs binds {missing}"
        self.cur.execute(sql, {n: binds[n] for n in set(names)})
        try:
            return self.cur.fetchall()
        except Exception:  # DML without a result set
            return []

    def setup(self, script: str) -> None:
        for statement in runnable_setup(script):
            self.cur.execute(statement)

    def query(self, sql: str, params=None):
        self.cur.execute(sql, params)
        return self.cur.fetchall()

    # -- statements, one step at a time ----------------------------------------------------
    #
    # The sync cycle is not replayed here: it is written once, in Rust (src/sync/cycle.rs), run
    # for real by push mode against the SQL API stand-in (pushrig.py, test_e2e*.py,
    # tests/push) and rendered for Snowflake by the procedures. These helpers only chain the
    # statements a test needs to put rows where a statement under test reads them.

    def has_key_refresh(self, table: str) -> bool:
        """Whether the table's cycle has a key refresh (open items and/or dependents)."""
        return f"collect_refresh_keys__{slug(table)}" in self.statements

    def start(self, table: str, kind: str = "sync", run_id: str | None = None) -> tuple[str, str | None]:
        """`start_run` then `read_run`: the run's id and the `since` the watermark rule chose."""
        run_id = run_id or str(uuid.uuid4())
        self.run("start_run", run_id=run_id, table_name=table, run_kind=kind, poll_id=None)
        return run_id, self.run("read_run", run_id=run_id)[0][0]

    def land(self, table: str, page: str, *, run_id: str, page_number: int = 1, since=None, cursor=None,
             buffer: str = "buffer_page", lands=("land_page",), **extra) -> tuple:
        """One answer through the statements that take it in: `buffer` (buffer_page,
        buffer_open_page, buffer_keys_batch_page, buffer_digests_page), `audit_page`, each
        `<land>__<table>` of `lands`, `clear_page_buffer`. Returns what `read_page` says of it:
        (poll_id, next_cursor, error_kind, error_message); an error answer is audited, not landed."""
        binds = dict(run_id=run_id, table_name=table, page_number=page_number, since=since, page_cursor=cursor, **extra)
        self.run(buffer, **binds, page=page)
        self.run("audit_page", **binds)
        read = self.run("read_page", **binds)[0]
        if read[2] is None:
            for land in (lands,) if isinstance(lands, str) else lands:
                self.run(f"{land}__{slug(table)}", **binds)
        self.run("clear_page_buffer", run_id=run_id)
        return tuple(read)

    def merge(self, table: str, poll_id: str, **binds) -> tuple[int, int]:
        """`merge_poll__<table>`: (inserted, updated)."""
        inserted, updated = self.run(f"merge_poll__{slug(table)}", poll_id=poll_id, **binds)[0]
        return int(inserted), int(updated)

    def finish(self, run_id, table, status="succeeded", *, poll_id=None, inserted=None, updated=None, deleted=None,
               kind=None, message=None, **binds) -> None:
        self.run("finish_run", run_id=run_id, table_name=table, poll_id=poll_id, run_status=status,
                 rows_inserted=inserted, rows_updated=updated, rows_deleted=deleted, error_kind=kind,
                 error_message=message, **binds)

    def load(self, table: str, *pages: str, run_id: str | None = None) -> str:
        """Puts whole answers (one poll's pages) into the target as a sync's statements do:
        start_run, each page landed, merge_poll, advance_watermark, finish_run. A fixture for the
        statements under test, not the cycle: no paging, no error handling, no key refresh."""
        run_id, since = self.start(table, run_id=run_id)
        inserted = updated = 0
        polls = []
        for number, page in enumerate(pages, start=1):
            poll_id, _, error_kind, error_message = self.land(table, page, run_id=run_id, page_number=number, since=since)
            assert error_kind is None, f"load() takes answers, not errors: {error_kind}: {error_message}"
            polls.append(poll_id)
        for poll_id in dict.fromkeys(polls):
            i, u = self.merge(table, poll_id)
            inserted, updated = inserted + i, updated + u
        self.run("advance_watermark", run_id=run_id, table_name=table)
        self.finish(run_id, table, poll_id=polls[-1] if polls else None, inserted=inserted, updated=updated)
        return run_id

    def refresh_typed_view(self, table: str, schema_page: str) -> str:
        """The statements of one table in refresh_syspro_typed_views(): returns the view DDL,
        executed."""
        run_id = str(uuid.uuid4())
        binds = dict(run_id=run_id, table_name=table, page_number=1)
        self.run("buffer_schema", **binds, page=schema_page)
        view_ddl, unsafe_columns = self.run("typed_view_ddl", **binds)[0]
        assert view_ddl is not None and int(unsafe_columns) == 0, (view_ddl, unsafe_columns)
        self.cur.execute(view_ddl)
        self.run("clear_page_buffer", run_id=run_id)
        return view_ddl

    # -- reading it back --------------------------------------------------------------------

    def current_records(self, table: str) -> dict[str, dict]:
        """record_key -> record of the target's non-deleted rows."""
        rows = self.query(f"select record_key, record from syspro__{slug(table)} where not is_deleted")
        return {key: loads_exact(record) for key, record in rows}

    def run_row(self, run_id: str) -> dict:
        self.cur.execute("select * from audit_syspro__runs where run_id = %(r)s", {"r": run_id})
        names = [d[0].lower() for d in self.cur.description]
        rows = self.cur.fetchall()
        assert len(rows) == 1, rows
        return dict(zip(names, rows[0]))

    def high_water(self, table: str):
        rows = self.query("select high_water from syspro_sync_state where table_name = %(t)s", {"t": table})
        return rows[0][0] if rows else None
