#!/usr/bin/env bash
# Container health probe for ml-connector: GET /healthz on the local listener, healthy on 200.
# Uses only bash (/dev/tcp) so the runtime image needs no curl.
# Port: $MLC_HEALTHCHECK_PORT, else the port of $MLC_SERVER__LISTEN, else 8080.
set -euo pipefail

listen="${MLC_SERVER__LISTEN:-0.0.0.0:8080}"
port="${MLC_HEALTHCHECK_PORT:-${listen##*:}}"
case "$port" in
  '' | *[!0-9]*) port=8080 ;;
esac
host="${MLC_HEALTHCHECK_HOST:-127.0.0.1}"

exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status_line <&3 || exit 1
exec 3<&-
case "$status_line" in
  HTTP/1.[01]\ 200*) exit 0 ;;
  *)
    printf 'unhealthy: %s\n' "${status_line%$'\r'}" >&2
    exit 1
    ;;
esac
