"""Every SQL text users or procedures run parses with sqlfluff's Snowflake dialect.

sqlfluff keeps a procedure's `$$` body as one opaque string, so the bodies are also parsed
on their own from their `begin` (sqlfluff cannot parse a `declare` section; the declarations
are checked against the statements' binds instead).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import snowside

HERE = Path(__file__).resolve().parent
SQL = snowside.ROOT / "sql"
CONFIG = HERE / ".sqlfluff"
SQLFLUFF = Path(sys.executable).parent / "sqlfluff"


def sqlfluff_parse(path: Path, templater: str = "jinja") -> None:
    """Parses a file or a directory of .sql files; fails the test with sqlfluff's complaints."""
    result = subprocess.run(
        [str(SQLFLUFF), "parse", "--config", str(CONFIG), "--templater", templater, str(path)],
        capture_output=True,
        text=True,
    )
    problems = [line for line in result.stdout.splitlines() if "PRS" in line or "TMP" in line or "unparsable" in line]
    skipped = [line for line in (result.stdout + result.stderr).splitlines() if "Skipping" in line]
    assert not skipped, "sqlfluff skipped files instead of parsing them:\n" + "\n".join(skipped)
    assert result.returncode == 0 and not problems, (
        f"sqlfluff could not parse {path} (exit {result.returncode}):\n" + "\n".join(problems[:40]) + result.stderr[-2000:]
    )


def sql_files() -> list[Path]:
    return sorted(SQL.rglob("*.sql"))


# sqlfluff 4.5.0's Snowflake dialect has no CREATE STREAMLIT (sql/95_dashboard/): that statement
# is blanked before parsing and checked by test_dashboard.py instead
NO_GRAMMAR = re.compile(r"^create or replace streamlit .*?;$", re.S | re.M)


def parsable(text: str) -> str:
    return NO_GRAMMAR.sub(lambda m: "\n" * m.group(0).count("\n"), text)


# parts of a procedure's DECLARE section: sqlfluff has no grammar for a declaration outside a
# procedure body; test_declaration_parts_only_declare checks them instead
DECLARATION_PARTS = ("run_declarations.sql", "page_declarations.sql", "entry_declarations.sql")
DECLARATION = re.compile(
    r"^\w+ (?:varchar|integer|boolean|variant|array)(?: default (?:'[^']*'|-?\d+|true|false|uuid_string\(\)))?;$"
    r"|^\w+ exception \(-20\d{3}, '[^']*'\);$"
)


def parsable_sql(tmp_path: Path) -> Path:
    """A copy of sql/ with the statements sqlfluff has no grammar for blanked."""
    copy = tmp_path / "sql"
    shutil.copytree(SQL, copy)
    for path in copy.rglob("*.sql"):
        if path.name in DECLARATION_PARTS:
            path.write_text("\n" * path.read_text().count("\n"))
            continue
        path.write_text(parsable(path.read_text()))
    return copy


def test_declaration_parts_only_declare():
    for name in DECLARATION_PARTS:
        (path,) = SQL.rglob(name)
        code = [line for line in snowside.strip_comments(path.read_text()).splitlines() if line.strip()]
        assert code, name
        for line in code:
            assert DECLARATION.match(re.sub(r"\{\{\w+\}\}", "x", line)), f"{name}: not a declaration: {line}"


def test_every_placeholder_in_sql_has_a_parse_context_value():
    context = CONFIG.read_text().split("[sqlfluff:templater:jinja:context]", 1)[1]
    known = set(re.findall(r"^(\w+) =", context, re.M))
    used = {name for path in sql_files() for name in re.findall(r"\{\{(\w+)\}\}", path.read_text())}
    assert used - known == set(), f"placeholders with no value in {CONFIG.name}: {sorted(used - known)}"


def test_every_template_in_sql_parses(tmp_path: Path):
    # one sqlfluff run over the folder (about 2 s per run); its output names the failing file
    assert len(sql_files()) > 40
    sqlfluff_parse(parsable_sql(tmp_path))


def test_rendered_setup_parses(setup_sql: str, tmp_path: Path):
    setup = tmp_path / "setup.sql"
    setup.write_text(parsable(setup_sql))
    sqlfluff_parse(setup, templater="raw")


def procedure_bodies(setup_sql: str) -> dict[str, str]:
    bodies = re.findall(r"^create or replace procedure ([\w.]+)\(.*?^\$\$\n(.*?)^\$\$;", setup_sql, re.S | re.M)
    return dict(bodies)


def test_every_procedure_body_parses_from_its_begin(setup_sql: str, tmp_path: Path):
    bodies = procedure_bodies(setup_sql)
    assert len(bodies) >= 3 * 13 + 7, sorted(bodies)
    for name, body in bodies.items():
        begin = re.search(r"^begin$", body, re.M)
        assert begin, f"{name}: no top-level begin"
        (tmp_path / f"{name}.sql").write_text(body[begin.start():])
    sqlfluff_parse(tmp_path, templater="raw")


def test_every_data_plane_statement_parses(statements: dict[str, str], tmp_path: Path):
    for name, text in statements.items():
        (tmp_path / f"{name}.sql").write_text(text + ";\n")
    sqlfluff_parse(tmp_path, templater="raw")


def test_procedures_declare_every_bind_of_the_statements_they_embed(setup_sql: str):
    """A `:name` in an embedded statement must be a declared variable or an argument."""
    heads = re.findall(r"^create or replace procedure ([\w.]+)\((.*?)\)\n.*?^\$\$\n(.*?)^\$\$;", setup_sql, re.S | re.M)
    for name, args, body in heads:
        declared = set(re.findall(r"(\w+) varchar", args))
        declared |= set(re.findall(r"^    (\w+) (?:varchar|integer|variant|array|resultset|exception)", body, re.M))
        declared |= set(re.findall(r"\blet (\w+) ", body))
        for bind in set(snowside.BIND.findall(snowside.strip_comments(body))):
            assert bind in declared, f"{name} binds :{bind} but never declares it"


def test_external_functions_follow_the_contract(setup_sql: str):
    paged = ("syspro_pull", "syspro_keys", "syspro_pull_open", "syspro_digests", "syspro_pull_keys")
    for function, path in [
        ("syspro_pull", "/v1/pull"),
        ("syspro_keys", "/v1/keys"),
        ("syspro_schema", "/v1/schema"),
        ("syspro_tables", "/v1/tables"),
        ("syspro_pull_open", "/v1/pull_open"),
        ("syspro_digests", "/v1/digests"),
        ("syspro_pull_keys", "/v1/pull_keys"),
    ]:
        ddl = re.search(rf"create or replace secure external function \S+\.{function}\(.*?\n    as '[^']*';", setup_sql, re.S).group(0)
        assert "returns variant" in ddl and "volatile" in ddl
        assert re.search(r"headers = \('mlc-secret' = '[^']+'\)", ddl)
        assert ddl.rstrip(";").rstrip().endswith(f"{path}'")
        assert ("max_batch_rows = 1" in ddl) == (function in paged)
    keys_ddl = re.search(r"function \S+\.syspro_pull_keys\((.*?)\)\n", setup_sql, re.S).group(1)
    assert " ".join(keys_ddl.split()) == "table_name varchar, keys array, page_cursor varchar"


def test_tasks_never_overlap_and_suspend_on_failures(setup_sql: str):
    tasks = re.findall(r"create or replace task .*?;", setup_sql, re.S)
    # sync financial / masters, verify nightly / weekly, reconcile
    assert len(tasks) == 5
    for task in tasks:
        for option in ("overlap_policy = no_overlap", "suspend_task_after_num_failures", "user_task_timeout_ms", "schedule = '"):
            assert option in task, f"{option} missing in {task[:80]}"
    assert "schedule = '15 MINUTE'" in setup_sql
    # verify replaces the daily key scan: an upgrade drops the old task, and nothing creates it
    assert not any("task_syspro_detect_deletes" in task for task in tasks)
    assert re.search(r"^drop task if exists \S+\.task_syspro_detect_deletes;$", setup_sql, re.M)


def test_procedures_embed_the_tested_statements_verbatim(setup_sql: str, statements: dict[str, str]):
    """The statements the data-plane tests run are, word for word, what the procedures run."""
    # the table name the functions are called with: qualified by the company unless it is ''
    table = r"iff\(:company_id = '', :table_name, :company_id \|\| '\.' \|\| :table_name\)"
    range_table = r"iff\(ranges\.company_id = '', ranges\.table_name, ranges\.company_id \|\| '\.' \|\| ranges\.table_name\)"
    calls = {
        "buffer_page": rf"\S+\.syspro_pull\({table}, :since, :page_cursor\)",
        "buffer_schema": rf"\S+\.syspro_schema\({table}\)",
        "buffer_range_page": rf"\S+\.syspro_pull_range\({table}, :since, :until_day, :page_cursor\)",
        "buffer_reconcile": rf"\S+\.syspro_reconcile\({table}, :period_from, :period_to\)",
        "buffer_backfill_pages": rf"\S+\.syspro_pull_range\({range_table}, ranges\.range_since, ranges\.range_until, ranges\.page_cursor\)",
        "buffer_open_page": rf"\S+\.syspro_pull_open\({table}, :page_cursor\)",
        "buffer_digests_page": rf"\S+\.syspro_digests\({table}, :page_cursor\)",
        "buffer_keys_batch_page": rf"\S+\.syspro_pull_keys\({table}, batch\.key_array, :page_cursor\)",
    }
    # every statement that keeps an external function's answer is listed above
    assert {name for name in statements if name.startswith("buffer_")} == set(calls)
    # the fan-out binds one page per range instead of one page
    bound = {"buffer_backfill_pages": "get(parse_json(:pages), to_varchar(ranges.range_number))"}
    words = " ".join(snowside.strip_comments(setup_sql).split())
    for name, text in statements.items():
        code = " ".join(snowside.strip_comments(text).split())
        if name in calls:
            before, after = code.split(bound.get(name, "parse_json(:page)"))
            assert re.search(re.escape(before) + calls[name] + re.escape(after), words), f"{name} is not embedded verbatim"
        else:
            assert code in words, f"{name} is not embedded verbatim in any procedure"


def test_sql_is_lowercase_keywords_functions_and_types(tmp_path: Path):
    result = subprocess.run(
        [str(SQLFLUFF), "lint", "--config", str(CONFIG), "--rules", "CP01,CP03,CP05", str(parsable_sql(tmp_path))],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_statement_a_procedure_embeds_exists(setup_sql: str, statements: dict[str, str]):
    """Each `-- sql/60_statements/<name>.sql` marker in a procedure (`…/buffer_answer.sql: <name>`
    for the statements rendered from that one template) names a statement that
    --statements-json prints (per table: `<name>__<slug>`), so the tests can run it."""
    procedures = re.findall(r"^create or replace procedure ([\w.]+)\((.*?)^\$\$;", setup_sql, re.S | re.M)
    assert procedures
    generic = set(statements)
    for name, body in procedures:
        slug = re.search(r"__(\w+)$", name.split(".")[-1])
        # `-- sql/60_statements/buffer_answer.sql: buffer_page`: one template, named statements
        for template, named in set(re.findall(r"-- sql/60_statements/(\w+)\.sql(?:: (\w+))?", body)):
            embedded = named or template
            candidates = {embedded} | ({f"{embedded}__{slug.group(1)}"} if slug else set())
            assert candidates & generic, f"{name} embeds {embedded}, which --statements-json does not print"
