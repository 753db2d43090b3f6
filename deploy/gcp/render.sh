#!/usr/bin/env bash
# Render deploy/gcp/openapi.yaml into an API Gateway config file.
#
#   MLC_BACKEND_URL=https://ml-connector-abc123-ew.a.run.app \
#   SNOWFLAKE_SERVICE_ACCOUNT=<API_GCP_SERVICE_ACCOUNT from DESCRIBE INTEGRATION> \
#   MANAGED_SERVICE=<gcloud api-gateway apis describe API --format='value(managedService)'> \
#   BACKEND_DEADLINE=60 \
#   deploy/gcp/render.sh > openapi.rendered.yaml
#
# BACKEND_DEADLINE is optional (default 60 seconds). Fails if a value is missing or malformed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
template="${1:-$here/openapi.yaml}"

: "${MLC_BACKEND_URL:?set MLC_BACKEND_URL (base URL of the service, no trailing slash)}"
: "${SNOWFLAKE_SERVICE_ACCOUNT:?set SNOWFLAKE_SERVICE_ACCOUNT (API_GCP_SERVICE_ACCOUNT from DESCRIBE INTEGRATION)}"
: "${MANAGED_SERVICE:?set MANAGED_SERVICE (the API managed service name = GOOGLE_AUDIENCE)}"
BACKEND_DEADLINE="${BACKEND_DEADLINE:-60}"

fail() { printf 'render.sh: %s\n' "$*" >&2; exit 2; }
[[ "$MLC_BACKEND_URL" =~ ^https?://[^/[:space:]]+(/[^[:space:]]*[^/[:space:]])?$ ]] \
  || fail "MLC_BACKEND_URL must be an http(s) URL without a trailing slash: $MLC_BACKEND_URL"
[[ "$SNOWFLAKE_SERVICE_ACCOUNT" =~ ^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$ ]] \
  || fail "SNOWFLAKE_SERVICE_ACCOUNT does not look like a service account e-mail: $SNOWFLAKE_SERVICE_ACCOUNT"
[[ "$MANAGED_SERVICE" =~ ^[A-Za-z0-9.-]+$ ]] \
  || fail "MANAGED_SERVICE must be a managed service name: $MANAGED_SERVICE"
[[ "$BACKEND_DEADLINE" =~ ^[0-9]+(\.[0-9]+)?$ ]] \
  || fail "BACKEND_DEADLINE must be a number of seconds: $BACKEND_DEADLINE"

# None of the accepted values can contain '|', '&' or '\', so they are safe in sed replacements.
sed -e "s|\${MLC_BACKEND_URL}|${MLC_BACKEND_URL}|g" \
    -e "s|\${SNOWFLAKE_SERVICE_ACCOUNT}|${SNOWFLAKE_SERVICE_ACCOUNT}|g" \
    -e "s|\${MANAGED_SERVICE}|${MANAGED_SERVICE}|g" \
    -e "s|\${BACKEND_DEADLINE}|${BACKEND_DEADLINE}|g" \
    "$template" | grep -v '^#' | {
  out="$(cat)"
  # shellcheck disable=SC2016 # a literal "${", not an expansion
  if grep -qF '${' <<<"$out"; then fail "unreplaced placeholder left in the output"; fi
  printf '%s\n' "$out"
}
