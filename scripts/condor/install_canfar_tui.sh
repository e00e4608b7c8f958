#!/usr/bin/env bash
# Install this checkout of canfar-tui into the HTCondor test chroot, as on a CANFAR snapshot:
# jobs of the real pool run `canfar-tui get/detect/put` there (tests/integration/
# test_condor_pipeline.py). Run by scripts/condor/install.sh at its end; idempotent.
#
# Usage: scripts/condor/install_canfar_tui.sh     (as root, after install.sh built the chroot)
#
# What it does, inside $RUN/root ($RUN: .services/condor or $CANFAR_TUI_CONDOR_RUN):
#   - a venv, /opt/canfar-tui, made by the chroot's own python3 (Debian trixie: 3.13);
#   - a wheel of this checkout built on the host (`pip wheel --no-deps` with the host venv's
#     pip, $CANFAR_TUI_HOST_PYTHON or .venv/bin/python), copied in and pip-installed by the
#     chroot's pip, so that the dependencies are the ones for the chroot's Python;
#   - /usr/local/bin/canfar-tui -> /opt/canfar-tui/bin/canfar-tui: on a job's default PATH;
#   - the CADC tools a snapshot of the seed has (`pip install cadcdata vos`), in a venv of
#     their own, /opt/canfar-tools, from the package index: cadcget, cadcinfo, cadc-get-cert,
#     vcp, vls, … linked into /usr/local/bin (a job's default PATH), so that the seed's
#     do_catalogue.bash finds them as on CANFAR.
# pip inside reaches its package index the way the host's pip does: the host's pip
# configuration (/etc/pip.conf, /etc/xdg/pip, ~/.config/pip/pip.conf, ~/.pip/pip.conf,
# $PIP_CONFIG_FILE), the regular files it names (CA bundle, constraints) and /etc/resolv.conf
# are copied to the same paths inside while pip runs (the chroot's own files are put back
# afterwards), and the PIP_* and proxy variables are passed on (in the environment, never on a
# command line). Local folders it names (find-links, file:// indexes) are not visible inside;
# pip skips them.
#
# The stamp /opt/canfar-tui/.canfar-tui-stamp holds a hash of pyproject.toml, the chroot's
# Python version and a hash of the package's files: when all match, this takes milliseconds;
# when only the package's files changed, the wheel is reinstalled without its dependencies
# (seconds); otherwise the venv is made again (about a minute: the downloads).
# /opt/canfar-tools/.canfar-tools-stamp holds the tools' list and the Python version: made once.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CONDOR_RUN:-$REPO/.services/condor}
ROOT=$RUN/root
VENV=/opt/canfar-tui
STAMP=$ROOT$VENV/.canfar-tui-stamp
TOOLS_VENV=/opt/canfar-tools
TOOLS_STAMP=$ROOT$TOOLS_VENV/.canfar-tools-stamp
# What the seed's snapshot gets from the package index, and the commands linked onto PATH.
TOOLS_PACKAGES=(cadcdata vos)
TOOLS_COMMANDS=(cadcget cadcinfo cadcput cadcremove cadc-get-cert vcp vls vmkdir vrm vcat vln vmv vchmod vsync)
HOST_PYTHON=${CANFAR_TUI_HOST_PYTHON:-$REPO/.venv/bin/python}

T0=$(date +%s%N)
lap() { awk -v now="$(date +%s%N)" -v t0="$T0" -v msg="$*" \
          'BEGIN { printf "[%6.1fs] canfar-tui in the chroot: %s\n", (now - t0) / 1e9, msg }'; }
die() { echo "install_canfar_tui.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (chroot)"
chroot "$ROOT" /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 \
    || die "no python3 with venv in $ROOT: run install.sh (it rebuilds an older chroot)"
[ -x "$HOST_PYTHON" ] || die "no host Python at $HOST_PYTHON (make .venv or set CANFAR_TUI_HOST_PYTHON)"

# One install at a time.
exec 9> "$RUN/.install-canfar-tui.lock"
flock 9

# --------------------------------------------------------------------------- up to date?
deps_hash=$(sha256sum < "$REPO/pyproject.toml" | cut -c1-16)
source_hash=$(cd "$REPO" \
    && find canfar_tui -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
python_version=$(chroot "$ROOT" /usr/bin/python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
WANT_BASE="pyproject=$deps_hash python=$python_version"
WANT="$WANT_BASE package=$source_hash"
TOOLS_WANT="tools=${TOOLS_PACKAGES[*]} python=$python_version"
tools_ready() {
    [ "$(cat "$TOOLS_STAMP" 2>/dev/null || true)" = "$TOOLS_WANT" ] \
        && [ -L "$ROOT/usr/local/bin/cadcget" ] && [ -L "$ROOT/usr/local/bin/vcp" ]
}
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$have" = "$WANT" ] && [ -x "$ROOT$VENV/bin/canfar-tui" ] \
        && [ -L "$ROOT/usr/local/bin/canfar-tui" ]; then
    mode=none
elif [ "${have% package=*}" = "$WANT_BASE" ] && [ -x "$ROOT$VENV/bin/python" ]; then
    mode=package   # same dependencies: reinstall the package alone
else
    mode=full
fi
if [ "$mode" = none ] && tools_ready; then
    lap "up to date ($WANT; $TOOLS_WANT)"
    exit 0
fi

# --------------------------------------------------------------------------- mounts, cleanup
umask 022
WORK=""
mounted=()
copied=()  # "TARGET" (made here) or "TARGET SAVED" (the chroot's own file, put aside)
cleanup() {
    local index entry target saved
    # The host's configuration leaves the chroot with pip (it may hold index credentials).
    for (( index = ${#copied[@]} - 1; index >= 0; index-- )); do
        entry=${copied[index]}
        target=${entry%% *}
        saved=${entry#"$target"}
        rm -f "$target"
        [ -n "$saved" ] && mv -f "${saved# }" "$target"
    done
    [ -n "$WORK" ] && rm -rf --one-file-system "$WORK"
    for target in "${mounted[@]}"; do
        umount "$target" 2>/dev/null || umount -l "$target" || true
    done
}
trap cleanup EXIT
# pip needs /dev/null, /dev/urandom and /proc; start.sh's mounts are used when the pool runs.
if ! mountpoint -q "$ROOT/proc"; then mount -t proc proc "$ROOT/proc"; mounted+=("$ROOT/proc"); fi
if ! mountpoint -q "$ROOT/dev"; then mount --bind /dev "$ROOT/dev"; mounted+=("$ROOT/dev"); fi

# --------------------------------------------------------------------------- the wheel
WORK=$(mktemp -d "$ROOT/tmp/canfar-tui-install.XXXXXX")
chmod 0755 "$WORK"
mkdir -m 0700 "$WORK/saved"
if [ "$mode" != none ]; then
"$HOST_PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps \
        --wheel-dir "$WORK" "$REPO" > "$RUN/install-canfar-tui-wheel.log" 2>&1 \
    || die "building the wheel failed (see $RUN/install-canfar-tui-wheel.log)"
wheels=("$WORK"/canfar_tui-*.whl)
[ -f "${wheels[0]}" ] || die "pip wheel made no canfar_tui wheel (see $RUN/install-canfar-tui-wheel.log)"
WHEEL=${wheels[0]#"$ROOT"}
lap "wheel built: ${WHEEL##*/}"
fi

# --------------------------------------------------------------------------- pip's configuration
copy_in() {  # copy_in FILE [PATH]: the host's FILE at PATH (default: the same) in the chroot
    local source=$1 target=$ROOT${2:-$1} saved
    [ -f "$source" ] || return 0
    case " ${copied[*]} " in *" $target "*) return 0 ;; esac  # already there
    mkdir -p "$(dirname "$target")"
    if [ -e "$target" ] || [ -L "$target" ]; then
        saved=$WORK/saved/${#copied[@]}
        mv "$target" "$saved"
        copied+=("$target $saved")
    else
        copied+=("$target")
    fi
    # Mode and owner kept: a 0600 configuration stays 0600 (the test user cannot read it).
    cp -L --preserve=mode,ownership "$source" "$target"
}
user_home=${HOME:-/root}
configs=(/etc/pip.conf "$user_home/.config/pip/pip.conf" "$user_home/.pip/pip.conf")
[ -n "${PIP_CONFIG_FILE:-}" ] && configs+=("$PIP_CONFIG_FILE")
for file in /etc/xdg/pip/*; do configs+=("$file"); done
for file in "${configs[@]}"; do
    case $file in
        "$user_home"/*) copy_in "$file" "/root${file#"$user_home"}" ;;  # pip runs as root inside
        *) copy_in "$file" ;;
    esac
done
copy_in /etc/resolv.conf
# Regular files the configuration names by absolute path (a CA bundle, a constraints file).
pip_variables=$(compgen -e | grep -E '^(PIP_[A-Z0-9_]+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE)$' || true)
while read -r path; do
    copy_in "$path"
done < <(
    {
        for file in "${configs[@]}"; do [ -f "$file" ] && cat "$file"; done
        for name in $pip_variables; do printf '%s\n' "${!name}"; done
    } | grep -oE "(file://)?/[^[:space:]'\"]+" | sed 's|^file://||' | sort -u
)

in_chroot() {  # in_chroot COMMAND…: as root inside, with only pip's variables from here
    (
        for name in $(compgen -e); do
            case " $pip_variables " in
                *" $name "*) ;;
                *) unset "$name" 2>/dev/null || true ;;
            esac
        done
        export HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        exec chroot "$ROOT" "$@"
    )
}

# --------------------------------------------------------------------------- install
LOG=$RUN/install-canfar-tui.log
# One pip cache for both venvs during this run (canfar-tui depends on cadcdata and vos too, so
# the tools' venv reuses its downloads and built wheels); it goes with $WORK at the end.
PIP_CACHE=${WORK#"$ROOT"}/pip-cache
if [ "$mode" = none ]; then
    lap "up to date ($WANT)"
elif [ "$mode" = full ]; then
    rm -rf --one-file-system "${ROOT:?}$VENV"
    in_chroot /usr/bin/python3 -m venv "$VENV" > "$LOG" 2>&1 \
        || die "making the venv $VENV failed (see $LOG)"
    lap "venv made ($python_version)"
    in_chroot "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
            --progress-bar off --cache-dir "$PIP_CACHE" "$WHEEL" >> "$LOG" 2>&1 \
        || die "pip install in the chroot failed (see $LOG)"
    lap "installed with its dependencies"
else
    in_chroot "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
            --progress-bar off --cache-dir "$PIP_CACHE" --no-deps --force-reinstall "$WHEEL" > "$LOG" 2>&1 \
        || die "pip install in the chroot failed (see $LOG)"
    lap "package reinstalled (dependencies unchanged)"
fi
ln -sfn "$VENV/bin/canfar-tui" "$ROOT/usr/local/bin/canfar-tui"

# --------------------------------------------------------------------------- the seed's CADC tools
TOOLS_LOG=$RUN/install-canfar-tools.log
if ! tools_ready; then
    rm -rf --one-file-system "${ROOT:?}$TOOLS_VENV"
    in_chroot /usr/bin/python3 -m venv "$TOOLS_VENV" > "$TOOLS_LOG" 2>&1 \
        || die "making the venv $TOOLS_VENV failed (see $TOOLS_LOG)"
    in_chroot "$TOOLS_VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
            --progress-bar off --cache-dir "$PIP_CACHE" "${TOOLS_PACKAGES[@]}" >> "$TOOLS_LOG" 2>&1 \
        || die "pip install ${TOOLS_PACKAGES[*]} in the chroot failed (see $TOOLS_LOG)"
    for command in "${TOOLS_COMMANDS[@]}"; do
        if [ -x "$ROOT$TOOLS_VENV/bin/$command" ]; then
            ln -sfn "$TOOLS_VENV/bin/$command" "$ROOT/usr/local/bin/$command"
        fi
    done
    [ -L "$ROOT/usr/local/bin/cadcget" ] && [ -L "$ROOT/usr/local/bin/vcp" ] \
        || die "cadcdata/vos installed no cadcget or vcp (see $TOOLS_LOG)"
    echo "$TOOLS_WANT" > "$TOOLS_STAMP"
    lap "the seed's CADC tools (${TOOLS_PACKAGES[*]}): $(du -sm --one-file-system "$ROOT$TOOLS_VENV" | cut -f1) MB in $TOOLS_VENV"
fi

# A job's view: the test user, the default PATH, the heavy imports a pipeline job makes.
user=$(sed -n 's/.* user=\([^ ]*\).*/\1/p' "$ROOT/.canfar-tui-installed" 2>/dev/null || true)
as_job() {
    chroot ${user:+--userspec="$user:$user"} "$ROOT" \
        env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 "$@"
}
version=$(as_job canfar-tui --version 2>> "$LOG") \
    || die "canfar-tui does not run in the chroot (see $LOG)"
as_job "$VENV/bin/python" -c 'import astropy.io.fits, numpy, sep, vos, cadcutils' >> "$LOG" 2>&1 \
    || die "canfar-tui's dependencies do not import in the chroot (see $LOG)"
for command in cadcget cadc-get-cert vcp vls source-extractor funpack; do
    as_job sh -c 'command -v "$1"' sh "$command" >/dev/null \
        || die "$command is not on a job's default PATH in the chroot"
done
as_job vcp --help >> "$TOOLS_LOG" 2>&1 || die "vcp does not run in the chroot (see $TOOLS_LOG)"
as_job cadcget --help >> "$TOOLS_LOG" 2>&1 || die "cadcget does not run in the chroot (see $TOOLS_LOG)"
echo "$WANT" > "$STAMP"
lap "ready: $version, $(du -sm --one-file-system "$ROOT$VENV" | cut -f1) MB in $VENV"
