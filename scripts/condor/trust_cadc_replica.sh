#!/usr/bin/env bash
# Let the jobs of the test pool (scripts/condor) reach the CADC replica (scripts/cadc), as the
# seed's snapshot reaches CADC: run as root after both are started; `--undo` puts everything back.
#
# Usage: scripts/condor/trust_cadc_replica.sh [--certificate FILE]
#        scripts/condor/trust_cadc_replica.sh --undo
#
# The seed's VM ran `cadc-get-cert -n` (and cadcget, vcp) before it was snapshotted, so every
# batch job on it finds the user's proxy certificate and the CADC clients' caches in its HOME.
# In the pool's chroot this script gives the jobs' owner ($CANFAR_TUI_CONDOR_USER) the same:
#   - ~/.config/cadc-registry (the replica's registry cache, dated ten years ahead so cadcutils
#     never asks CADC's real registry) and ~/.config/{vos,cadcutils,cadcdata} (version caches),
#     copied from the replica's client HOME ($CANFAR_TUI_CADC_CLIENT_HOME);
#   - with --certificate, ~/.ssl/cadcproxy.pem (0600, the jobs' owner's): the proxy
#     certificate of a replica user (e.g. made by `cadc-get-cert -n`);
#   - the services' capabilities cached once, as that user, by `cadcinfo` and (with a
#     certificate) `vls`, then dated ahead too: four jobs starting together would otherwise
#     each fetch and rewrite the same cache files while the others read them;
#   - the replica's test CA appended to the certifi bundle of every venv under /opt
#     (/opt/canfar-tools: cadcget, vcp; /opt/canfar-tui): cadcutils turns requests'
#     trust_env off and verifies servers against certifi.where() only.
# Whatever was there before is kept in $RUN/cadc-trust (root, 0700) and put back by --undo.
#
# Where: $RUN is $CANFAR_TUI_CONDOR_RUN or .services/condor (its env file names the jobs'
# owner); the replica's CANFAR_TUI_CADC_* variables come from the environment or, when
# CANFAR_TUI_CADC_CA_CERT is unset, from $CANFAR_TUI_CADC_RUN/env (default .services/cadc/env).
# No secret is read, printed or put on a command line (the certificate is copied as a file).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CONDOR_RUN:-$REPO/.services/condor}
ROOT=$RUN/root
STATE=$RUN/cadc-trust
ORIGINAL_SUFFIX=.canfar-tui-orig
# What is installed in the jobs' owner's home (relative to it); saved first when present.
ITEMS=(.config/cadc-registry .config/vos .config/cadcutils .config/cadcdata .ssl/cadcproxy.pem)

die() { echo "trust_cadc_replica.sh: $*" >&2; exit 1; }
say() { echo "trust_cadc_replica.sh: $*"; }

undo=0
certificate=""
while [ $# -gt 0 ]; do
    case "$1" in
        --undo) undo=1 ;;
        --certificate) [ $# -ge 2 ] || die "--certificate needs a file"; certificate=$2; shift ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "run as root (it writes into the pool's chroot)"
[ -d "$ROOT/etc/condor" ] || die "no pool chroot at $ROOT (run scripts/condor/install.sh)"
env_value() {  # env_value FILE KEY: the (shell-quoted) value of KEY in a KEY=value file
    local line
    line=$(grep -m1 "^$2=" "$1" 2>/dev/null) || return 1
    eval "printf '%s' ${line#*=}"
}
JOB_USER=${CANFAR_TUI_CONDOR_USER:-$(env_value "$RUN/env" CANFAR_TUI_CONDOR_USER || echo astro)}
JOB_HOME=$(awk -F: -v u="$JOB_USER" '$1 == u { print $6 }' "$ROOT/etc/passwd")
[ -n "$JOB_HOME" ] || die "no user $JOB_USER in the chroot"
HOME_DIR=$ROOT$JOB_HOME
BUNDLES=()
for bundle in "$ROOT"/opt/*/lib/python3*/site-packages/certifi/cacert.pem; do
    [ -f "$bundle" ] && BUNDLES+=("$bundle")
done

restore() {
    local bundle item
    for bundle in "${BUNDLES[@]}"; do
        if [ -f "$bundle$ORIGINAL_SUFFIX" ]; then
            mv -f "$bundle$ORIGINAL_SUFFIX" "$bundle"
        fi
    done
    [ -f "$STATE/installed" ] || { rm -rf "$STATE"; return 0; }
    for item in "${ITEMS[@]}"; do
        rm -rf "${HOME_DIR:?}/$item"
        if [ -e "$STATE/saved/$item" ]; then
            mkdir -p "$(dirname "$HOME_DIR/$item")"
            mv "$STATE/saved/$item" "$HOME_DIR/$item"
        fi
    done
    # The folders this script made (absent before it ran) go too, when empty.
    while read -r folder; do
        [ -n "$folder" ] && rmdir "$HOME_DIR/$folder" 2>/dev/null || true
    done < "$STATE/made-folders"
    rm -rf "$STATE"
}

if [ "$undo" -eq 1 ]; then
    restore
    say "undone: $JOB_HOME and the certifi bundles of $ROOT/opt are as they were"
    exit 0
fi

# --------------------------------------------------------------------------- the replica
CADC_ENV=${CANFAR_TUI_CADC_RUN:-$REPO/.services/cadc}/env
cadc() {  # cadc KEY: from the environment, else from the replica's env file
    local name="CANFAR_TUI_CADC_$1"
    if [ -n "${CANFAR_TUI_CADC_CA_CERT:-}" ]; then
        printf '%s' "${!name:-}"
    else
        env_value "$CADC_ENV" "$name" || true
    fi
}
CA=$(cadc CA_CERT)
CLIENT_HOME=$(cadc CLIENT_HOME)
CADC_USER=$(cadc USER)
[ -f "$CA" ] || die "no test CA (is the CADC replica started? see scripts/cadc/README.md)"
[ -d "$CLIENT_HOME/.config/cadc-registry" ] || die "no client HOME template at $CLIENT_HOME"
if [ -n "$certificate" ]; then
    [ -s "$certificate" ] || die "no certificate at $certificate"
fi
[ "${#BUNDLES[@]}" -gt 0 ] || die "no certifi bundle under $ROOT/opt (run scripts/condor/install.sh)"

# --------------------------------------------------------------------------- certifi
for bundle in "${BUNDLES[@]}"; do
    [ -f "$bundle$ORIGINAL_SUFFIX" ] || cp -p "$bundle" "$bundle$ORIGINAL_SUFFIX"
    cat "$bundle$ORIGINAL_SUFFIX" "$CA" > "$bundle.tmp"
    chmod --reference="$bundle$ORIGINAL_SUFFIX" "$bundle.tmp"
    mv -f "$bundle.tmp" "$bundle"
done

# --------------------------------------------------------------------------- the job's HOME
install -d -m 0700 "$STATE" "$STATE/saved"
if [ ! -f "$STATE/installed" ]; then
    : > "$STATE/made-folders"
    for folder in .config .ssl; do
        [ -e "$HOME_DIR/$folder" ] || echo "$folder" >> "$STATE/made-folders"
    done
    for item in "${ITEMS[@]}"; do
        if [ -e "$HOME_DIR/$item" ]; then
            mkdir -p "$(dirname "$STATE/saved/$item")"
            mv "$HOME_DIR/$item" "$STATE/saved/$item"
        fi
    done
    touch "$STATE/installed"
fi
for item in "${ITEMS[@]}"; do rm -rf "${HOME_DIR:?}/$item"; done
install -d -m 0755 -o "$JOB_USER" -g "$JOB_USER" "$HOME_DIR/.config"
for item in cadc-registry vos cadcutils cadcdata; do
    if [ -e "$CLIENT_HOME/.config/$item" ]; then
        cp -a "$CLIENT_HOME/.config/$item" "$HOME_DIR/.config/$item"
        chown -R "$JOB_USER:$JOB_USER" "$HOME_DIR/.config/$item"
    fi
done
if [ -n "$certificate" ]; then
    install -d -m 0700 -o "$JOB_USER" -g "$JOB_USER" "$HOME_DIR/.ssl"
    install -m 0600 -o "$JOB_USER" -g "$JOB_USER" "$certificate" "$HOME_DIR/.ssl/cadcproxy.pem"
fi

# --------------------------------------------------------------------------- warm the caches
as_job_user() {
    chroot --userspec="$JOB_USER:$JOB_USER" "$ROOT" env -i HOME="$JOB_HOME" USER="$JOB_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"
}
as_job_user cadcinfo cadc:CFHT/1056213p.fits.fz > "$STATE/warm.log" 2>&1 \
    || die "cadcinfo in the chroot failed (see $STATE/warm.log)"
if [ -n "$certificate" ]; then
    as_job_user vls "vos:$CADC_USER" >> "$STATE/warm.log" 2>&1 \
        || die "vls vos:$CADC_USER in the chroot failed (see $STATE/warm.log)"
fi
find "$HOME_DIR/.config/cadc-registry" -type f -exec touch -d '+10 years' {} +
say "jobs of $JOB_USER trust the replica's CA and find its registry${certificate:+ and the certificate of $CADC_USER} in $JOB_HOME (undo: $0 --undo)"
