#!/usr/bin/env bash
# Lints the deployment kit in deploy/ with pinned, real linters, then runs the semantic checks.
#
#   bash tests/deploy/lint.sh
#
# Installs the linters of tests/deploy/requirements.txt (exact pins; constraints.txt pins their
# dependencies) into a virtualenv, by default .venv-deploy at the repository root (override with
# MLC_DEPLOY_VENV); reinstalls only when those files change. Needs python3 (3.11+) and PyPI.
# Uses systemd-analyze and xmllint when the machine has them (Debian: systemd, libxml2-utils).
# Exits non-zero on any finding; the last line is "deploy-lint: N passed, N failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/deploy"
VENV="${MLC_DEPLOY_VENV:-$ROOT/.venv-deploy}"
PY="${PYTHON:-python3}"
cd "$ROOT" || exit 2

passed=0
failed=0
skipped=0
failures=()

step() { # step NAME COMMAND...: run one check, show its output only when it fails
  local name="$1" out rc
  shift
  out="$("$@" 2>&1)"
  rc=$?
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    printf 'PASS %s\n' "$name"
  elif [[ $rc -eq 77 ]]; then
    skip "$name" "$(printf '%s' "$out" | tail -n 1)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL %s (exit %d)\n' "$name" "$rc"
    printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

skip() {
  skipped=$((skipped + 1))
  printf 'SKIP %s: %s\n' "$1" "$2"
}

silent() { # silent COMMAND...: succeed only if the command succeeds and prints nothing
  local out
  out="$("$@" 2>&1)" || { printf '%s\n' "$out"; return 1; }
  [[ -z "$out" ]] || { printf '%s\n' "$out"; return 1; }
}

# ------------------------------------------------------------------ the linters' virtualenv
stamp_want="$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1)-$("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$VENV/.mlc-stamp" 2>/dev/null)" != "$stamp_want" ]]; then
  echo "Installing pinned linters into $VENV ..."
  "$PY" -m venv "$VENV" || { echo "cannot create $VENV"; exit 2; }
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" || { echo "pip install failed"; exit 2; }
  printf '%s\n' "$stamp_want" > "$VENV/.mlc-stamp"
fi
BIN="$VENV/bin"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# ------------------------------------------------------------------ Dockerfile
step "hadolint deploy/Dockerfile" "$BIN/hadolint" --failure-threshold info deploy/Dockerfile

# ------------------------------------------------------------------ shell scripts
step "shellcheck" "$BIN/shellcheck" --severity=style \
  deploy/healthcheck.sh deploy/gcp/render.sh tests/deploy/lint.sh

# ------------------------------------------------------------------ AWS
step "cfn-lint deploy/aws" "$BIN/cfn-lint" --non-zero-exit-code informational -- deploy/aws/*.yaml

# ------------------------------------------------------------------ GCP
render_example() {
  MLC_BACKEND_URL=https://ml-connector-abc123-ew.a.run.app \
  SNOWFLAKE_SERVICE_ACCOUNT=sfc-example@gcpuscentral1-1dfa.iam.gserviceaccount.com \
  MANAGED_SERVICE=ml-connector-0abc123def.apigateway.example-project.cloud.goog \
  BACKEND_DEADLINE=60 \
    bash deploy/gcp/render.sh > "$TMP/openapi.rendered.yaml"
}
step "render deploy/gcp/openapi.yaml" render_example
step "openapi-spec-validator (template)" "$BIN/openapi-spec-validator" deploy/gcp/openapi.yaml
step "openapi-spec-validator (rendered)" "$BIN/openapi-spec-validator" "$TMP/openapi.rendered.yaml"

# ------------------------------------------------------------------ YAML style
step "yamllint" "$BIN/yamllint" --strict -c "$HERE/yamllint.yml" \
  deploy/aws/ deploy/gcp/openapi.yaml "$TMP/openapi.rendered.yaml"

# ------------------------------------------------------------------ Azure
xml_wellformed() {
  "$BIN/python" - "$@" <<'PY'
import sys
from lxml import etree
for path in sys.argv[1:]:
    etree.parse(path, etree.XMLParser(resolve_entities=False, no_network=True))
PY
}
step "XML well-formed (lxml)" xml_wellformed deploy/azure/apim-policy.xml
if command -v xmllint > /dev/null; then
  step "xmllint --noout" silent xmllint --noout deploy/azure/apim-policy.xml
else
  skip "xmllint" "not installed (Debian package libxml2-utils); lxml checked well-formedness"
fi
step "ARM template is JSON" "$BIN/python" -m json.tool deploy/azure/azuredeploy.json /dev/null

# ------------------------------------------------------------------ systemd
if command -v systemd-analyze > /dev/null; then
  # verify checks that ExecStart= exists: point it at a stand-in executable.
  printf '#!/bin/sh\nexit 0\n' > "$TMP/ml-connector"
  chmod +x "$TMP/ml-connector"
  for unit in deploy/systemd/*.service; do
    name="$(basename "$unit")"
    sed "s#/usr/local/bin/ml-connector#$TMP/ml-connector#g" "$unit" > "$TMP/$name"
    step "systemd-analyze verify $name" silent systemd-analyze verify "$TMP/$name"
    # Exposure 0.0 (locked down) .. 10.0 (unsafe); fail above 2.0.
    step "systemd-analyze security $name (exposure <= 2.0)" \
      systemd-analyze security --offline=true --threshold=20 --no-pager "$TMP/$name"
  done
else
  skip "systemd-analyze" "not installed (Debian package systemd)"
fi

# ------------------------------------------------------------------ semantic checks
checks="$("$BIN/python" "$HERE/check_deploy.py" --list 2>&1)"
if [[ $? -ne 0 || -z "$checks" ]]; then
  step "check_deploy.py --list" false
  printf '%s\n' "$checks" | sed 's/^/     /'
fi
while IFS= read -r check; do
  [[ -n "$check" ]] || continue
  step "check_deploy.py $check" "$BIN/python" "$HERE/check_deploy.py" --only "$check"
done <<<"$checks"

echo
if [[ $failed -gt 0 ]]; then
  printf 'failed: %s\n' "${failures[*]}"
fi
if [[ $skipped -gt 0 ]]; then
  printf '%d skipped\n' "$skipped"
fi
printf 'deploy-lint: %d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
