#!/usr/bin/env bash
# Start the local replica of CADC's web services (tests/cadc_replica) on 127.0.0.1 over HTTPS:
# registry, credential service (cadc-get-cert), login, storage inventory (raven, minoc: cadcget)
# and vault (VOSpace: vcp, vls), with a test CA made at the first start. Needs no root, no
# internet, and nothing outside the repository and its virtualenv.
#
# Usage: scripts/cadc/start.sh
#        set -a; . .services/cadc/env; set +a
#        ... tests ...
#        scripts/cadc/stop.sh
#
# The server runs as the leader of its own process group; its PID and start time are in
# $RUN/pid and stop.sh stops exactly that process. $RUN is .services/cadc in the repository
# unless $CANFAR_TUI_CADC_RUN says otherwise; the port is any free one unless
# $CANFAR_TUI_CADC_PORT says otherwise; users are "tuitester colleague" unless
# $CANFAR_TUI_CADC_USERS says otherwise. Python: $CANFAR_TUI_CADC_PYTHON, else
# .venv/bin/python (it needs canfar-tui's dependencies: cryptography, astropy).
#
# Outputs (kept across restarts: the CA, the passwords, the archive and vault contents):
#   $RUN/env                         KEY=value lines (source with `set -a; . FILE; set +a`):
#       CANFAR_TUI_CADC_URL              https://127.0.0.1:PORT (every service is below it)
#       CANFAR_TUI_CADC_REGISTRY_URL     $URL/reg/resource-caps
#       CANFAR_TUI_CADC_HOST             127.0.0.1: the host cadcutils looks up in ~/.netrc
#       CANFAR_TUI_CADC_CA_CERT          the test CA alone (PEM)
#       CANFAR_TUI_CADC_CA_BUNDLE        certifi's CAs + the test CA (for REQUESTS_CA_BUNDLE)
#       CANFAR_TUI_CADC_PYTHONPATH       a folder with a certifi whose where() is that bundle
#                                        (cadcutils ignores REQUESTS_CA_BUNDLE: see README)
#       CANFAR_TUI_CADC_CLIENT_HOME      template HOME: registry + version caches, no secret
#       CANFAR_TUI_CADC_USER             the test user
#       CANFAR_TUI_CADC_PASSWORD_FILE    its password (0600 file; never in argv or env)
#       CANFAR_TUI_CADC_OTHER_USER / _OTHER_PASSWORD_FILE   a second user
#       CANFAR_TUI_CADC_ARCHIVE_ROOT     the archive's files (CFHT/1056213p.fits.fz, ...)
#       CANFAR_TUI_CADC_VAULT_ROOT       vault's files (<user>/...)
#   $RUN/log/server.log              the server's request log
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CADC_RUN:-$REPO/.services/cadc}
PORT=${CANFAR_TUI_CADC_PORT:-0}
USERS=${CANFAR_TUI_CADC_USERS:-tuitester colleague}
PY=${CANFAR_TUI_CADC_PYTHON:-$REPO/.venv/bin/python}

die() { echo "cadc/start.sh: $*" >&2; exit 1; }
[ -x "$PY" ] || die "no Python at $PY (set CANFAR_TUI_CADC_PYTHON)"

alive() {  # the recorded server is still the process start.sh started
    local pid start fields
    [ -f "$RUN/pid" ] || return 1
    read -r pid start < "$RUN/pid" || return 1
    fields=$(awk '{print $3, $22}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "${fields#* }" = "$start" ] && [ "${fields%% *}" != Z ]
}
answering() {  # the registry answers over TLS, verified with the test CA
    "$PY" - "$1" "$RUN/pki/ca.pem" <<'PYEOF' >/dev/null 2>&1
import ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1] + "/reg/resource-caps", context=context, timeout=5) as r:
    sys.exit(0 if b"ivo://cadc.nrc.ca/cred" in r.read() else 1)
PYEOF
}

if [ -f "$RUN/env" ] && alive && [ -f "$RUN/url" ] && answering "$(cat "$RUN/url")"; then
    echo "cadc/start.sh: already running at $(cat "$RUN/url"); environment in $RUN/env"
    exit 0
fi
"$HERE/stop.sh" >/dev/null 2>&1 || true

ready=0
cleanup() { [ "$ready" -eq 1 ] || "$HERE/stop.sh" >&2 || true; }
trap cleanup EXIT

umask 022
mkdir -p "$RUN/log"
rm -f "$RUN/url"
PYTHONPATH="$REPO:$REPO/tests" setsid "$PY" -m cadc_replica.server \
    --run "$RUN" --port "$PORT" --users "$USERS" >> "$RUN/log/server.log" 2>&1 < /dev/null &
pid=$!
start=""
for _ in $(seq 40); do
    start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || true)
    [ -n "$start" ] && break
    sleep 0.05
done
echo "$pid $start" > "$RUN/pid"

# The first start makes the CA and the five exposures (a few seconds each on a slow machine).
for _ in $(seq 1200); do
    [ -f "$RUN/url" ] && break
    alive || die "the replica exited (see $RUN/log/server.log)"
    sleep 0.25
done
[ -f "$RUN/url" ] || die "timed out waiting for the replica (see $RUN/log/server.log)"
URL=$(cat "$RUN/url")
answering "$URL" || die "the replica at $URL does not answer over TLS (see $RUN/log/server.log)"

read -r -a users <<< "$USERS"
{
    printf 'CANFAR_TUI_CADC_URL=%q\n' "$URL"
    printf 'CANFAR_TUI_CADC_REGISTRY_URL=%q\n' "$URL/reg/resource-caps"
    printf 'CANFAR_TUI_CADC_HOST=%q\n' "127.0.0.1"
    printf 'CANFAR_TUI_CADC_CA_CERT=%q\n' "$RUN/pki/ca.pem"
    printf 'CANFAR_TUI_CADC_CA_BUNDLE=%q\n' "$RUN/pki/bundle.pem"
    printf 'CANFAR_TUI_CADC_PYTHONPATH=%q\n' "$RUN/python"
    printf 'CANFAR_TUI_CADC_CLIENT_HOME=%q\n' "$RUN/client-home"
    printf 'CANFAR_TUI_CADC_USER=%q\n' "${users[0]}"
    printf 'CANFAR_TUI_CADC_PASSWORD_FILE=%q\n' "$RUN/secrets/${users[0]}.password"
    if [ "${#users[@]}" -gt 1 ]; then
        printf 'CANFAR_TUI_CADC_OTHER_USER=%q\n' "${users[1]}"
        printf 'CANFAR_TUI_CADC_OTHER_PASSWORD_FILE=%q\n' "$RUN/secrets/${users[1]}.password"
    fi
    printf 'CANFAR_TUI_CADC_ARCHIVE_ROOT=%q\n' "$RUN/archive"
    printf 'CANFAR_TUI_CADC_VAULT_ROOT=%q\n' "$RUN/vault"
} > "$RUN/env.tmp"
mv "$RUN/env.tmp" "$RUN/env"
ready=1
echo "cadc/start.sh: READY at $URL (users: $USERS); environment in $RUN/env"
