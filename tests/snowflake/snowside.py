"""The rendered SQL on fakesnow, for the statement-level tests: the setup and the data-plane
statements of `ml-connector sql [--statements-json]`, their `:name` binds, and `SnowSide`, which
runs one statement at a time on a fakesnow cursor and reads the tables back.

The end-to-end tests do not use `SnowSide`'s cycle methods (`sync`, `verify`,
`replay`, ...): they drive push mode through the SQL API stand-in (pushrig.py). Those methods
replay sql/70_procedures/*__table.sql in Python for test_data_plane.py's hand-made pages only,
and go once those tests run single statements (#18).
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


class ServiceError(Exception):
    pass


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

    # -- the procedures ---------------------------------------------------------------------

    def has_key_refresh(self, table: str) -> bool:
        """Whether sync_syspro__<table> has steps (b)/(c): open items and/or dependents."""
        return f"collect_refresh_keys__{slug(table)}" in self.statements

    def has_open_items(self, table: str) -> bool:
        # the open-items candidates compare with the open-items poll, bound as :poll_id
        return self.has_key_refresh(table) and ":poll_id" in self.statements[f"collect_refresh_keys__{slug(table)}"]

    def sync(self, table: str, fetch_page, run_id: str | None = None, refresh=None,
             pages_per_run: int | None = None, cut_after_pages: int | None = None) -> str:
        """sync_syspro__<table>(run_id): `fetch_page(table, since, cursor) -> page JSON text`.

        `refresh` is what answers the calls of steps (b) and (c) for a table with open items or
        dependents: `.pull_open(table, cursor)` and `.pull_keys(table, keys, cursor)`, each the
        page's JSON text. Without it only step (a) runs (the watermark pull, as before).

        Each page is landed, then merged with the watermark and the audit row in one
        transaction (in Snowflake; fakesnow cannot MERGE inside one). After `pages_per_run`
        pages the run stops as 'partial'. `cut_after_pages` simulates a run cut off (task
        timeout, cancel) after that many pages were committed: nothing after runs, not even
        the handler, and the audit row stays 'running'."""
        run_id = run_id or str(uuid.uuid4())
        common = dict(run_id=run_id, table_name=table)
        state = dict(poll_id=None, error_kind=None, error_message=None, page_number=0)
        totals = dict(inserted=0, updated=0, deleted=None)
        with_refresh = refresh is not None and self.has_key_refresh(table)
        self.run("start_run", **common, run_kind="sync", poll_id=None)
        self.run("close_abandoned_runs", **common)
        self.run("clear_abandoned_runs", **common)
        since = self.run("read_run", run_id=run_id)[0][0]
        try:
            cursor = None
            status = None
            while True:
                if pages_per_run is not None and state["page_number"] + 1 > pages_per_run:
                    status = "partial"
                    break
                if cut_after_pages is not None and state["page_number"] == cut_after_pages:
                    # the half-done next page: pulled into the buffer, never landed
                    state["page_number"] += 1
                    binds = dict(common, page_number=state["page_number"], since=since, page_cursor=cursor)
                    self.run("buffer_page", **binds, page=fetch_page(table, since, cursor))
                    return run_id
                cursor = self.page_loop_once(table, run_id, lambda c: fetch_page(table, since, c),
                                             "buffer_page", ("land_page",), state, cursor, since=since)
                inserted, updated = self.run(f"merge_poll__{slug(table)}", poll_id=state["poll_id"])[0]
                totals["inserted"] += int(inserted)
                totals["updated"] += int(updated)
                self.run("advance_watermark", **common)
                self.finish(run_id, table, state["poll_id"], "running", totals["inserted"], totals["updated"], None, None, None)
                if cursor is None:
                    break
            if status == "partial":
                self.finish(run_id, table, state["poll_id"], "partial", totals["inserted"], totals["updated"], None, None, None)
                return run_id
            status = "running" if with_refresh else "succeeded"
            self.finish(run_id, table, state["poll_id"], status, totals["inserted"], totals["updated"], None, None, None)
            if with_refresh:
                self.key_refresh(table, run_id, refresh, state, totals)
        except Exception as error:
            kind = state["error_kind"] or "snowflake_error"
            message = state["error_message"] or str(error)
            self.run("clear_page_buffer", run_id=run_id)
            if with_refresh:
                self.run(f"finish_key_refresh__{slug(table)}", run_id=run_id)
                self.run("clear_refresh_keys", run_id=run_id)
            self.finish(run_id, table, state["poll_id"], "failed", totals["inserted"], totals["updated"], totals["deleted"], kind, message)
            raise
        return run_id

    def page_loop_once(self, table, run_id, fetch, pull_statement, land_statements, state, cursor, since=None, **extra):
        """One turn of the page loop: pull, audit, read back (raise on an error answer), land,
        clear the buffer; returns the next cursor."""
        common = dict(run_id=run_id, table_name=table)
        state["page_number"] = state.get("page_number", 0) + 1
        page = fetch(cursor)
        binds = dict(common, page_number=state["page_number"], since=since, page_cursor=cursor, **extra)
        self.run(pull_statement, **binds, page=page)
        self.run("audit_page", **binds)
        poll_id, cursor, error_kind, error_message = self.run("read_page", **binds)[0]
        state.update(poll_id=poll_id, error_kind=error_kind, error_message=error_message)
        if error_kind is not None:
            raise ServiceError(f"{error_kind}: {error_message}")
        for land in land_statements:
            self.run(f"{land}__{slug(table)}", **binds)
        self.run("clear_page_buffer", run_id=run_id)
        return cursor

    def key_refresh(self, table, run_id, refresh, state, totals) -> None:
        """Steps (b) and (c) of sync_syspro__<table> (sql/70_procedures/parts/key_refresh.sql)."""
        common = dict(run_id=run_id, table_name=table)
        totals["deleted"] = 0
        if self.has_open_items(table):
            # (b) open_items_pull.sql
            self.page_loop(table, run_id, lambda cursor: refresh.pull_open(table, cursor), "buffer_open_page", "land_page", state)
            self.merge_into(table, state["poll_id"], totals)
        # (c)
        self.run(f"collect_refresh_keys__{slug(table)}", run_id=run_id, poll_id=state["poll_id"])
        self.refresh_by_key(table, run_id, refresh, state, totals)
        self.run("advance_dependents_checked", **common)
        self.run(f"finish_key_refresh__{slug(table)}", run_id=run_id)
        self.finish(run_id, table, state["poll_id"], "succeeded", totals["inserted"], totals["updated"], totals["deleted"], None, None)
        self.run("clear_refresh_keys", run_id=run_id)

    def merge_into(self, table, poll_id, totals) -> None:
        inserted, updated = self.run(f"merge_poll__{slug(table)}", poll_id=poll_id)[0]
        totals["inserted"] += int(inserted)
        totals["updated"] += int(updated)

    def refresh_by_key(self, table, run_id, service, state, totals) -> None:
        """sql/70_procedures/parts/refresh_by_key.sql: one syspro_pull_keys pull per batch."""
        for batch_number, _key_count, keys_json in self.run("read_refresh_batches", run_id=run_id):
            keys = json.loads(keys_json)  # key values: strings and integers
            self.page_loop(
                table, run_id, lambda cursor: service.pull_keys(table, keys, cursor),
                "buffer_keys_batch_page", ("land_page", "land_missing"), state, batch_number=batch_number,
            )
            self.merge_into(table, state["poll_id"], totals)
            self.run(f"mark_missing_deleted__{slug(table)}", run_id=run_id, batch_number=batch_number)
            totals["deleted"] += max(self.cur.rowcount or 0, 0)

    def verify(self, table: str, service, run_id: str | None = None) -> str:
        """verify_syspro__<table>(run_id): `service.digests(table, cursor)` and
        `service.pull_keys(table, keys, cursor)` give the pages' JSON text."""
        run_id = run_id or str(uuid.uuid4())
        s = slug(table)
        state = dict(poll_id=None, error_kind=None, error_message=None, page_number=0)
        totals = dict(inserted=0, updated=0, deleted=0)
        self.run("start_run", run_id=run_id, table_name=table, run_kind="verify", poll_id=None)
        try:
            self.page_loop(table, run_id, lambda cursor: service.digests(table, cursor), "buffer_digests_page", "land_digests", state)
            self.run(f"verify_mark_deleted__{s}", run_id=run_id)
            totals["deleted"] = max(self.cur.rowcount or 0, 0)
            self.run(f"collect_verify_keys__{s}", run_id=run_id)
            self.refresh_by_key(table, run_id, service, state, totals)
            self.run(f"finish_key_refresh__{s}", run_id=run_id)
            self.finish(run_id, table, None, "succeeded", totals["inserted"], totals["updated"], totals["deleted"], None, None)
            self.run("clear_refresh_keys", run_id=run_id)
            self.run("clear_verify_digests", run_id=run_id)
        except Exception as error:
            self.run("clear_page_buffer", run_id=run_id)
            self.run(f"finish_key_refresh__{s}", run_id=run_id)
            kind = state["error_kind"] or "snowflake_error"
            message = state["error_message"] or str(error)
            self.finish(run_id, table, None, "failed", totals["inserted"], totals["updated"], totals["deleted"], kind, message)
            self.run("clear_refresh_keys", run_id=run_id)
            self.run("clear_verify_digests", run_id=run_id)
            raise
        return run_id

    def page_loop(self, table, run_id, fetch, pull_statement, land_statements, state, since=None, **extra) -> None:
        """The procedures' page loop (sql/70_procedures/parts/page_loop.sql): call the function,
        buffer, audit, read back, land, until the cursor ends. `fetch(cursor)` gives a page's
        JSON text; `state` gets the poll id and the service's error, raised as ServiceError, and
        carries the run's page number across loops (page numbers are unique within a run)."""
        common = dict(run_id=run_id, table_name=table)
        if isinstance(land_statements, str):
            land_statements = (land_statements,)
        cursor = None
        while True:
            state["page_number"] = state.get("page_number", 0) + 1
            page = fetch(cursor)
            binds = dict(common, page_number=state["page_number"], since=since, page_cursor=cursor, **extra)
            self.run(pull_statement, **binds, page=page)
            self.run("audit_page", **binds)
            poll_id, cursor, error_kind, error_message = self.run("read_page", **binds)[0]
            state.update(poll_id=poll_id, error_kind=error_kind, error_message=error_message)
            if error_kind is not None:
                raise ServiceError(f"{error_kind}: {error_message}")
            for land in land_statements:
                self.run(f"{land}__{slug(table)}", **binds)
            self.run("clear_page_buffer", run_id=run_id)
            if cursor is None:
                return

    def replay(self, poll_id: str) -> str:
        """replay_syspro_poll(poll_id): re-merge a landed poll."""
        run_id = str(uuid.uuid4())
        # the poll's company too, as replay_syspro_poll reads it from the landing log
        table, company = self.query(
            "select max(table_name), max(company_id) from raw_syspro__records where poll_id = %(p)s", {"p": poll_id}
        )[0]
        assert table is not None, f"nothing landed for poll {poll_id}"
        self.run("start_run", run_id=run_id, run_kind="replay", table_name=table, poll_id=poll_id, company_id=company)
        inserted, updated = self.run(f"merge_poll__{slug(table)}", poll_id=poll_id, company_id=company)[0]
        self.run(
            "finish_run", run_id=run_id, table_name=table, poll_id=poll_id, run_status="succeeded",
            rows_inserted=int(inserted), rows_updated=int(updated), rows_deleted=None, error_kind=None,
            error_message=None, company_id=company,
        )
        return run_id

    def refresh_typed_view(self, table: str, schema_page: str) -> str:
        """One iteration of refresh_syspro_typed_views(): returns the view DDL it executed."""
        run_id = str(uuid.uuid4())
        binds = dict(run_id=run_id, table_name=table, page_number=1)
        self.run("buffer_schema", **binds, page=schema_page)
        view_ddl, unsafe_columns = self.run("typed_view_ddl", **binds)[0]
        assert view_ddl is not None and int(unsafe_columns) == 0, (view_ddl, unsafe_columns)
        self.cur.execute(view_ddl)
        self.run("clear_page_buffer", run_id=run_id)
        return view_ddl

    def finish(self, run_id, table, poll_id, status, inserted, updated, deleted, kind, message):
        self.run(
            "finish_run",
            run_id=run_id,
            table_name=table,
            poll_id=poll_id,
            run_status=status,
            rows_inserted=inserted,
            rows_updated=updated,
            rows_deleted=deleted,
            error_kind=kind,
            error_message=message,
        )

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
