#!/usr/bin/env python3
"""Semantic checks of deploy/ that the generic linters cannot make.

cfn-lint, openapi-spec-validator, hadolint and friends check that each file is valid for its
format; this script checks that the files say what ml-connector needs: the four external-function
paths with POST and GET behind each gateway's Snowflake authentication, the config example's keys,
the Dockerfile's dependency stubs, the container health probe, and no secrets.

Usage: check_deploy.py [--only NAME ...] [--list]
Prints one PASS/FAIL/SKIP line per check; exits 1 if any failed, 77 if every check was skipped.
Run it with the .venv-deploy interpreter (needs PyYAML and lxml); tests/deploy/lint.sh does.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import yaml
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

PATHS = ["/v1/pull", "/v1/keys", "/v1/schema", "/v1/tables"]
METHODS = ["POST", "GET"]

# The configuration keys of the contract (CONTRACT.md §2 and the deploy brief).
CONFIG_KEYS = {
    "server": {
        "listen": "127.0.0.1:8080",
        "secret": None,
        "response_budget_bytes": 8388608,
        "max_body_bytes": 1048576,
        "cursor_ttl_secs": 86400,
        "batch_cache_ttl_secs": 900,
        "batch_cache_max_bytes": 268435456,
        "async_after_ms": 20000,
        "max_running_batches": 32,
        "log_format": "text",
    },
    "syspro": {
        "transport": "odata",
        "odata_url": None,
        "user": None,
        "password": None,
        "enet_url": None,
        "operator": None,
        "operator_password": None,
        "company_id": None,
        "company_password": None,
        "page_rows": 5000,
        "paging": "keyset",
        "request_timeout_secs": 300,
        "retry_deadline_secs": 540,
        "retry_initial_backoff_ms": 200,
        "retry_max_backoff_ms": 5000,
        "max_attempts": 6,
        "max_concurrency": 4,
        "prefetch_pages": 1,
        "enet_session_idle_secs": 300,
        "ca_cert_path": None,
        "max_query_bytes": 2048,
    },
    "sync": {
        "tables": [],
        "financial_interval_secs": 900,
        "masters_interval_secs": 21600,
        "intervals": {},
        "page_budget_bytes": 4194304,
        "cycle_max_attempts": 3,
        "cycle_retry_initial_backoff_secs": 5,
        "cycle_retry_max_backoff_secs": 300,
        "statement_timeout_secs": 600,
        "sql_retry_deadline_secs": 120,
        "sql_max_attempts": 6,
        "token_lifetime_secs": 3600,
        "shutdown_grace_secs": 20,
        "verify_nightly_interval_secs": 86400,
        "verify_weekly_interval_secs": 604800,
    },
    "snowflake": {
        k: None
        for k in [
            "account",
            "user",
            "private_key_path",
            "private_key_passphrase",
            "url",
            "warehouse",
            "database",
            "schema",
            "role",
        ]
    },
}
TABLE_KEYS = {"key_columns", "watermark_column", "select", "description", "column_types", "reconcile_measures", "open_items"}


class Findings(list):
    def need(self, cond: bool, msg: str) -> None:
        if not cond:
            self.append(msg)


# --------------------------------------------------------------------------- helpers
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref x) into {'Ref': x}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)


def render_gcp(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        ["bash", str(DEPLOY / "gcp" / "render.sh")],
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
    )


GCP_EXAMPLE = {
    "MLC_BACKEND_URL": "https://ml-connector-abc123-ew.a.run.app",
    "SNOWFLAKE_SERVICE_ACCOUNT": "sfc-example@gcpuscentral1-1dfa.iam.gserviceaccount.com",
    "MANAGED_SERVICE": "ml-connector-0abc123def.apigateway.example-project.cloud.goog",
    "BACKEND_DEADLINE": "60",
}


# --------------------------------------------------------------------------- checks
def check_aws() -> Findings:
    f = Findings()
    t = load_cfn(DEPLOY / "aws" / "ml-connector-api.yaml")
    res = t["Resources"]
    params = t["Parameters"]
    for p in ["BackendUrl", "IntegrationTimeoutMs", "SnowflakeIamUserArn", "SnowflakeExternalId",
              "ConnectionType", "VpcLinkId", "StageName"]:
        f.need(p in params, f"parameter {p} missing")
    f.need(params.get("IntegrationTimeoutMs", {}).get("Default") == 29000,
           "IntegrationTimeoutMs must default to 29000")

    apis = [r for r in res.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    f.need(len(apis) == 1, "exactly one REST API (AWS::ApiGateway::RestApi, not an HTTP API)")
    f.need(not any(r["Type"].startswith("AWS::ApiGatewayV2::") for r in res.values()),
           "no API Gateway v2 (HTTP API) resources")
    api = apis[0]["Properties"] if apis else {}
    f.need(api.get("EndpointConfiguration", {}).get("Types") == ["REGIONAL"], "endpoint must be REGIONAL")
    f.need("*/*" in api.get("BinaryMediaTypes", []), "BinaryMediaTypes */* (gzip bodies pass intact)")

    policy = json.dumps(api.get("Policy", {}))
    f.need("execute-api:Invoke" in policy, "resource policy must grant execute-api:Invoke")
    f.need("assumed-role/${SnowflakeRoleName}/snowflake" in policy,
           "resource policy principal must be the Snowflake role's assumed-role ARN")
    allow = [s for s in api.get("Policy", {}).get("Statement", []) if s.get("Effect") == "Allow"]
    f.need(all(s.get("Principal") != "*" and s.get("Principal") != {"AWS": "*"} for s in allow),
           "no Allow statement for every principal")

    # Resource tree -> paths
    paths: dict[str, str] = {}

    def path_of(logical: str) -> str:
        if logical in paths:
            return paths[logical]
        props = res[logical]["Properties"]
        parent = props["ParentId"]
        prefix = "" if isinstance(parent, dict) and "Fn::GetAtt" in parent else path_of(parent["Ref"])
        paths[logical] = f"{prefix}/{props['PathPart']}"
        return paths[logical]

    methods = {}
    for name, r in res.items():
        if r["Type"] != "AWS::ApiGateway::Method":
            continue
        p = r["Properties"]
        path = path_of(p["ResourceId"]["Ref"])
        key = (path, p["HttpMethod"])
        f.need(key not in methods, f"duplicate method {key}")
        methods[key] = name
        f.need(p.get("AuthorizationType") == "AWS_IAM", f"{name}: AuthorizationType must be AWS_IAM")
        integ = p.get("Integration", {})
        f.need(integ.get("Type") == "HTTP_PROXY", f"{name}: integration must be HTTP_PROXY")
        f.need(integ.get("IntegrationHttpMethod") == p["HttpMethod"], f"{name}: integration method must match")
        f.need(integ.get("Uri") == {"Fn::Sub": "${BackendUrl}" + path}, f"{name}: Uri must be ${{BackendUrl}}{path}")
        f.need(integ.get("TimeoutInMillis") == {"Ref": "IntegrationTimeoutMs"},
               f"{name}: TimeoutInMillis must be the IntegrationTimeoutMs parameter")
        f.need(integ.get("ConnectionType") == {"Ref": "ConnectionType"}, f"{name}: ConnectionType parameter")
    want = {(p, m) for p in PATHS for m in METHODS}
    f.need(set(methods) == want, f"methods {sorted(methods)} != {sorted(want)}")

    # every method in the policy's Allow list
    for p in PATHS:
        for m in METHODS:
            f.need(f"${{StageName}}/{m}{p}" in policy, f"resource policy lacks {m} {p}")

    deps = [r for r in res.values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    f.need(len(deps) == 1 and set(deps[0].get("DependsOn", [])) >= set(methods.values()),
           "the Deployment must DependsOn every method")
    f.need(any(r["Type"] == "AWS::ApiGateway::Stage" for r in res.values()), "a Stage resource")

    roles = [r for r in res.values() if r["Type"] == "AWS::IAM::Role"]
    f.need(len(roles) == 1, "one IAM role for Snowflake")
    if roles:
        trust = json.dumps(roles[0]["Properties"]["AssumeRolePolicyDocument"])
        f.need("sts:ExternalId" in trust and "SnowflakeExternalId" in trust,
               "trust policy must require sts:ExternalId = SnowflakeExternalId")
        f.need('"Ref": "SnowflakeIamUserArn"' in trust, "trust principal must be SnowflakeIamUserArn")
        f.need(not roles[0]["Properties"].get("Policies") and not roles[0]["Properties"].get("ManagedPolicyArns"),
               "the Snowflake role needs no permission policies")
    for out in ["ApiUrlPrefix", "SnowflakeRoleArn"]:
        f.need(out in t.get("Outputs", {}), f"output {out} missing")
    prefix = json.dumps(t.get("Outputs", {}).get("ApiUrlPrefix", {}))
    f.need("${StageName}/" in prefix and "execute-api" in prefix, "ApiUrlPrefix must be the stage URL with a slash")
    return f


def check_gcp() -> Findings:
    f = Findings()
    proc = render_gcp(GCP_EXAMPLE)
    f.need(proc.returncode == 0, f"render.sh failed: {proc.stderr.strip()}")
    if proc.returncode != 0:
        return f
    doc = yaml.safe_load(proc.stdout)
    f.need(doc.get("swagger") == "2.0", 'swagger: "2.0"')
    be = doc.get("x-google-backend", {})
    f.need(be.get("address") == GCP_EXAMPLE["MLC_BACKEND_URL"], "x-google-backend.address rendered")
    f.need(isinstance(be.get("deadline"), (int, float)) and 0 < be["deadline"] <= 3600,
           "x-google-backend.deadline must be a number of seconds (0, 3600]")
    f.need(be.get("path_translation") == "APPEND_PATH_TO_ADDRESS", "path_translation APPEND_PATH_TO_ADDRESS")
    sa = GCP_EXAMPLE["SNOWFLAKE_SERVICE_ACCOUNT"]
    defs = doc.get("securityDefinitions", {})
    good = [n for n, d in defs.items()
            if d.get("x-google-issuer") == sa
            and d.get("x-google-jwks_uri") == f"https://www.googleapis.com/robot/v1/metadata/x509/{sa}"
            and d.get("x-google-audiences") == GCP_EXAMPLE["MANAGED_SERVICE"]]
    f.need(len(good) == 1, "one securityDefinition with x-google-issuer, x-google-jwks_uri, x-google-audiences")
    f.need(set(doc.get("paths", {})) == set(PATHS), f"paths must be exactly {PATHS}")
    op_ids = []
    for p in PATHS:
        item = doc.get("paths", {}).get(p, {})
        for m in METHODS:
            op = item.get(m.lower())
            f.need(op is not None, f"{m} {p} missing")
            if op is None:
                continue
            op_ids.append(op.get("operationId"))
            f.need(op.get("security") == [{n: []} for n in good], f"{m} {p}: security must name the Snowflake definition")
    f.need(len(op_ids) == len(set(op_ids)) and None not in op_ids, "unique operationIds (API Gateway needs them)")
    f.need("${" not in proc.stdout, "no placeholder left after rendering")

    bad = dict(GCP_EXAMPLE, MLC_BACKEND_URL="https://ml-connector.example/")
    f.need(render_gcp(bad).returncode != 0, "render.sh must refuse a backend URL with a trailing slash")
    missing = {k: v for k, v in GCP_EXAMPLE.items() if k != "SNOWFLAKE_SERVICE_ACCOUNT"}
    f.need(render_gcp(missing).returncode != 0, "render.sh must refuse a missing service account")
    return f


NAMED_VALUES = {"mlc-tenant-id", "mlc-azure-ad-application-id", "mlc-snowflake-app-id", "mlc-backend-url"}


def check_azure() -> Findings:
    f = Findings()
    xml_path = DEPLOY / "azure" / "apim-policy.xml"
    text = xml_path.read_text()
    root = etree.fromstring(text.encode())
    f.need(root.tag == "policies", "root element <policies>")
    sections = [c.tag for c in root if isinstance(c.tag, str)]
    f.need(sections == ["inbound", "backend", "outbound", "on-error"], f"sections in order, got {sections}")
    inbound = root.find("inbound")
    f.need(inbound is not None and inbound.find("base") is not None, "<base /> in inbound")
    jwt = root.find("inbound/validate-jwt")
    f.need(jwt is not None, "validate-jwt in inbound")
    if jwt is not None:
        f.need(jwt.get("header-name") == "Authorization", "validate-jwt header-name=Authorization")
        f.need(jwt.get("failed-validation-httpcode") == "401", "validate-jwt fails with 401")
        oc = jwt.find("openid-config")
        f.need(oc is not None and oc.get("url") ==
               "https://login.microsoftonline.com/{{mlc-tenant-id}}/.well-known/openid-configuration",
               "openid-config url with the tenant")
        auds = [a.text for a in jwt.findall("audiences/audience")]
        f.need("{{mlc-azure-ad-application-id}}" in auds, "audience = AZURE_AD_APPLICATION_ID")
        claims = jwt.findall("required-claims/claim")
        f.need(any(c.get("name") == "appid" and [v.text for v in c.findall("value")] == ["{{mlc-snowflake-app-id}}"]
                   for c in claims), "required claim appid = Snowflake's application id")
        order = [c.tag for c in jwt if isinstance(c.tag, str)]
        known = ["openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims"]
        f.need(order == [t for t in known if t in order], f"validate-jwt children in schema order, got {order}")
        kids = [c.tag for c in inbound if isinstance(c.tag, str)]
        f.need(kids.index("validate-jwt") < kids.index("set-backend-service"), "validate-jwt before set-backend-service")
    sbs = root.find("inbound/set-backend-service")
    f.need(sbs is not None and sbs.get("base-url") == "{{mlc-backend-url}}", "set-backend-service base-url")
    fr = root.find("backend/forward-request")
    f.need(fr is not None and fr.get("timeout", "").isdigit() and 1 <= int(fr.get("timeout")) <= 240,
           "forward-request timeout in seconds, at most 240")
    used = set(re.findall(r"\{\{([A-Za-z0-9._-]+)\}\}", text))
    f.need(used == NAMED_VALUES, f"named values used {sorted(used)} != {sorted(NAMED_VALUES)}")
    comments = "".join(c.text or "" for c in root.iter(etree.Comment))
    f.need("{{" not in comments, "no {{named value}} inside XML comments")

    arm = json.loads((DEPLOY / "azure" / "azuredeploy.json").read_text())
    f.need(arm["variables"]["policyXml"] == text,
           "azuredeploy.json variables.policyXml must equal apim-policy.xml "
           "(regenerate: python3 tests/deploy/check_deploy.py --sync-azure)")
    ops = arm["variables"]["operations"]
    f.need({(o["urlTemplate"], o["method"]) for o in ops} == {(p, m) for p in PATHS for m in METHODS},
           "ARM operations must be POST and GET on the four paths")
    created = set()
    for r in arm["resources"]:
        if r["type"] == "Microsoft.ApiManagement/service/namedValues":
            created.add(r["properties"]["displayName"])
    f.need(created == NAMED_VALUES, f"ARM named values {sorted(created)} != {sorted(NAMED_VALUES)}")
    blob = json.dumps(arm)
    referenced = set(re.findall(r"parameters\('([A-Za-z0-9_]+)'\)", blob))
    declared = set(arm["parameters"])
    f.need(referenced <= declared, f"undeclared parameters {sorted(referenced - declared)}")
    f.need(declared <= referenced, f"unused parameters {sorted(declared - referenced)}")
    vref = set(re.findall(r"variables\('([A-Za-z0-9_]+)'\)", blob))
    f.need(vref <= set(arm["variables"]), f"undeclared variables {sorted(vref - set(arm['variables']))}")
    return f


def sync_azure() -> None:
    path = DEPLOY / "azure" / "azuredeploy.json"
    arm = json.loads(path.read_text())
    arm["variables"]["policyXml"] = (DEPLOY / "azure" / "apim-policy.xml").read_text()
    path.write_text(json.dumps(arm, indent=2) + "\n")


def check_config() -> Findings:
    f = Findings()
    path = DEPLOY / "config.example.toml"
    text = path.read_text()
    as_is = tomllib.loads(text)  # the file must parse as shipped
    # Uncomment the commented-out keys and table sections so that every documented key is checked.
    opened = re.sub(r"(?m)^# ?(\[tables\.[A-Za-z0-9_]+\]|[a-z_]+ = .*)$", r"\1", text)
    full = tomllib.loads(opened)
    for section, keys in CONFIG_KEYS.items():
        got = set(full.get(section, {}))
        f.need(got == set(keys), f"[{section}] keys: missing {sorted(set(keys) - got)}, unknown {sorted(got - set(keys))}")
        for k, default in keys.items():
            if default is not None and k in full.get(section, {}):
                f.need(full[section][k] == default, f"[{section}] {k} = {full[section][k]!r}, contract default {default!r}")
    tables = full.get("tables", {})
    f.need(bool(tables), "at least one [tables.<Name>] example")
    for name, t in tables.items():
        f.need(set(t) <= TABLE_KEYS, f"[tables.{name}] unknown keys {sorted(set(t) - TABLE_KEYS)}")
    f.need(set(as_is) - {"tables"} <= set(CONFIG_KEYS), f"unknown sections {sorted(set(as_is) - set(CONFIG_KEYS))}")
    f.need("secret" not in as_is.get("server", {}), "no live secret value in the example (keep it commented)")
    # Each key is documented: above it (past blank lines and the other keys of its group) is a comment.
    lines = text.splitlines()
    is_key = re.compile(r"^(# ?)?[a-z_]+ = ")
    for i, line in enumerate(lines):
        if is_key.match(line):
            j = i - 1
            while j >= 0 and (not lines[j].strip() or is_key.match(lines[j])):
                j -= 1
            f.need(j >= 0 and lines[j].startswith("#") and not lines[j].startswith("#####"),
                   f"line {i + 1}: key without a comment above: {line}")

    env = (DEPLOY / "systemd" / "env.example").read_text()
    for m in re.finditer(r"(?m)^#?(MLC_([A-Z]+)__([A-Z_]+))=", env):
        section, key = m.group(2).lower(), m.group(3).lower()
        f.need(key in CONFIG_KEYS.get(section, {}), f"env.example: {m.group(1)} is not a config key")
    return f


def check_dockerfile() -> Findings:
    f = Findings()
    df = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"(?m)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", df)
    f.need(len(stages) >= 2, "multi-stage build")
    f.need(any("bookworm-slim" in s[0] or "SUITE}-slim" in s[0] for s in stages), "runtime on debian slim")
    f.need(re.search(r"(?m)^USER\s+(?!0\b|root\b)\S+", df) is not None, "non-root USER")
    f.need(re.search(r"(?m)^HEALTHCHECK\s", df) is not None, "HEALTHCHECK")
    f.need(re.search(r"(?m)^EXPOSE\s+8080\b", df) is not None, "EXPOSE 8080")
    f.need("MLC_SERVER__LISTEN=0.0.0.0:8080" in df, "MLC_SERVER__LISTEN=0.0.0.0:8080")
    f.need(re.search(r'(?m)^ENTRYPOINT \["/usr/local/bin/ml-connector"\]', df) is not None, "ENTRYPOINT ml-connector")
    f.need(re.search(r'(?m)^CMD \["serve"\]', df) is not None, 'CMD ["serve"]')
    f.need("ca-certificates" in df, "ca-certificates in the runtime")

    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    rv = re.search(r"ARG RUST_VERSION=(\d+)\.(\d+)", df)
    need_rv = cargo.get("package", {}).get("rust-version")
    if rv and need_rv:
        have = tuple(int(x) for x in rv.groups())
        want = tuple(int(x) for x in need_rv.split(".")[:2])
        f.need(have >= want, f"builder Rust {have} older than rust-version {need_rv}")
    # Every workspace member's manifest is copied, and every explicit target path has a stub.
    members = cargo.get("workspace", {}).get("members", ["."])
    for member in members:
        mdir = ROOT / member
        rel = "" if member == "." else member.rstrip("/") + "/"
        f.need(f"COPY {rel}Cargo.toml" in df or (rel == "" and "COPY Cargo.toml" in df),
               f"Dockerfile must COPY {rel}Cargo.toml for the dependency layer")
        manifest = tomllib.loads((mdir / "Cargo.toml").read_text())
        targets = []
        if "lib" in manifest:
            targets.append(manifest["lib"].get("path", "src/lib.rs"))
        elif (mdir / "src" / "lib.rs").exists():
            targets.append("src/lib.rs")
        for kind in ["bin", "example", "bench", "test"]:
            for t in manifest.get(kind, []):
                if "path" in t and kind == "bin":
                    targets.append(t["path"])
                elif "path" in t:
                    f.append(f"{rel}Cargo.toml: explicit [[{kind}]] path {t['path']}: add a stub to deploy/Dockerfile")
        if not manifest.get("bin") and (mdir / "src" / "main.rs").exists():
            targets.append("src/main.rs")
        build = manifest.get("package", {}).get("build")
        if isinstance(build, str):
            f.append(f"{rel}Cargo.toml: build = {build!r}: copy it into the dependency layer of deploy/Dockerfile")
        for t in targets:
            stub = f"{rel}{t}"
            f.need(re.search(rf"> {re.escape(stub)}\b", df) is not None,
                   f"no dependency-layer stub for {stub} in deploy/Dockerfile")
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for must in [".git", "**/target"]:
        f.need(must in ignore, f"Dockerfile.dockerignore must exclude {must}")
    for needed in ["src", "simulator", "Cargo.toml", "Cargo.lock", "deploy/healthcheck.sh"]:
        f.need(needed not in ignore, f"Dockerfile.dockerignore must not exclude {needed}")
    return f


class Skip(Exception):
    """A check that cannot run here (say so, do not count it as passed)."""


def _binary() -> Path | None:
    given = os.environ.get("MLC_BIN")
    if given:
        return Path(given) if Path(given).is_file() else None
    # the newest build: a release binary left by an earlier `cargo bench` may predate the source
    built = [
        ROOT / "target" / profile / "ml-connector"
        for profile in ["release", "debug"]
        if (ROOT / "target" / profile / "ml-connector").is_file()
        and os.access(ROOT / "target" / profile / "ml-connector", os.X_OK)
    ]
    return max(built, key=lambda b: b.stat().st_mtime, default=None)


def check_config_loads() -> Findings:
    """The program itself accepts the example (as shipped and with every key uncommented)."""
    f = Findings()
    binary = _binary()
    if binary is None:
        raise Skip("no built ml-connector (set MLC_BIN or run cargo build) to load the example with")
    text = (DEPLOY / "config.example.toml").read_text()
    opened = re.sub(r"(?m)^# ?(\[tables\.[A-Za-z0-9_]+\]|[a-z_]+ = .*)$", r"\1", text)
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "ca.pem"
        ca.write_text("")
        opened = re.sub(r'(?m)^ca_cert_path = .*$', f'ca_cert_path = "{ca}"', opened)
        full = Path(tmp) / "full.toml"
        full.write_text(opened)
        for name, cfg in [("as shipped", DEPLOY / "config.example.toml"), ("every key uncommented", full)]:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
            proc = subprocess.run([str(binary), "--config", str(cfg), "tables"], env=env,
                                  capture_output=True, text=True, timeout=60)
            f.need(proc.returncode == 0,
                   f"{binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary} rejects the example "
                   f"({name}): {proc.stderr.strip()[-300:]}")
    return f


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = self.server.status if self.path == "/healthz" else 404  # type: ignore[attr-defined]
        body = b"ok\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _probe(port: int) -> int:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MLC_SERVER__LISTEN": f"0.0.0.0:{port}"}
    return subprocess.run(["bash", str(DEPLOY / "healthcheck.sh")], env=env, capture_output=True,
                          timeout=20).returncode


def check_healthcheck() -> Findings:
    f = Findings()
    for status, want_ok in [(200, True), (503, False)]:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        srv.status = status  # type: ignore[attr-defined]
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            rc = _probe(srv.server_address[1])
        finally:
            srv.shutdown()
            srv.server_close()
        f.need((rc == 0) == want_ok, f"healthcheck.sh with /healthz answering {status}: exit {rc}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    f.need(_probe(free) != 0, "healthcheck.sh must fail when nothing listens")
    return f


SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])"), "a long hex string"),
    # a value after secret=/password=/..., unless it is a placeholder (<...>) or a secret-store
    # reference such as GCP's name:version
    (re.compile(r"(?i)(secret|password|passphrase|token)\s*[=:]\s*[\"']?(?!<)[A-Za-z0-9+/_.-]{12,}+(?!:)"),
     "a literal secret value"),
]


def check_no_secrets() -> Findings:
    f = Findings()
    for path in sorted(list(DEPLOY.rglob("*")) + list((ROOT / "tests" / "deploy").rglob("*"))):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        text = path.read_text(errors="replace")
        rel = path.relative_to(ROOT)
        if path.name == "check_deploy.py":  # holds the patterns themselves
            continue
        if "/work/" + "shared" in text or "shared/" + "docs" in text:
            f.append(f"{rel}: references the shared docs folder")
        for rx, what in SECRET_PATTERNS:
            for m in rx.finditer(text):
                f.append(f"{rel}: looks like {what}: {m.group(0)[:40]}")
    return f


CHECKS = {
    "aws-cloudformation": check_aws,
    "gcp-openapi": check_gcp,
    "azure-apim": check_azure,
    "config-example": check_config,
    "config-example-loads": check_config_loads,
    "dockerfile": check_dockerfile,
    "healthcheck-probe": check_healthcheck,
    "no-secrets": check_no_secrets,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=sorted(CHECKS))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--sync-azure", action="store_true",
                    help="copy apim-policy.xml into azuredeploy.json and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CHECKS))
        return 0
    if args.sync_azure:
        sync_azure()
        return 0
    failed = 0
    ran = 0
    for name in args.only or CHECKS:
        try:
            findings = CHECKS[name]()
        except Skip as e:
            print(f"SKIP {name}: {e}")
            continue
        except Exception as e:  # a crash is a finding, not a pass
            findings = Findings([f"check crashed: {type(e).__name__}: {e}"])
        ran += 1
        if findings:
            failed += 1
            print(f"FAIL {name}")
            for msg in findings:
                print(f"     - {msg}")
        else:
            print(f"PASS {name}")
    if failed:
        return 1
    return 0 if ran else 77  # 77: everything asked for was skipped


if __name__ == "__main__":
    sys.exit(main())
