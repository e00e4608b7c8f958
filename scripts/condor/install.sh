#!/usr/bin/env bash
# Build (idempotently) the real HTCondor the integration tests run against: a Debian trixie
# chroot made with debootstrap, with trixie's `minicondor` package (a one-machine pool:
# collector, negotiator, schedd and startd) installed in it. Nothing is started here;
# scripts/condor/start.sh runs condor_master itself, on 127.0.0.1.
#
# Usage: scripts/condor/install.sh        (as root; needs the machine's apt sources)
#
# The chroot is $RUN/root ($RUN: .services/condor in the repository, or $CANFAR_TUI_CONDOR_RUN);
# it is built in $RUN/root.new and renamed when complete, and $RUN/root/.canfar-tui-installed
# records what it was built with, so a rerun with nothing to do takes well under a second.
# Delete $RUN/root (after stop.sh) to rebuild it.
#
# canfar-tui itself goes into the chroot as on a CANFAR snapshot (jobs run `canfar-tui detect`
# there): python3 and python3-venv are installed here, and install_canfar_tui.sh (run at the
# end, also when the chroot was already built) puts this checkout in a venv, /opt/canfar-tui.
#
# Users: the test user ($CANFAR_TUI_CONDOR_USER, default "astro") exists with the SAME uid in
# the chroot and on this machine (jobs run as that uid inside the chroot and write into a folder
# bind-mounted at the same path inside and out); "jdoe" and "asmith" exist only in the chroot
# (start.sh queues a few jobs of theirs so that "all users" shows something).
#
# The Debian mirror is the one this machine's apt already uses (read from
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), or $CANFAR_TUI_DEBIAN_MIRROR.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_CONDOR_RUN:-$REPO/.services/condor}
ROOT=$RUN/root
NEW=$RUN/root.new
SUITE=${CANFAR_TUI_CONDOR_SUITE:-trixie}
TEST_USER=${CANFAR_TUI_CONDOR_USER:-astro}
OTHER_USERS=(jdoe asmith)
STAMP_NAME=.canfar-tui-installed
# Bump when what the chroot must contain changes (forces a rebuild).
# 2: python3 for canfar-tui; 3: source-extractor and libcfitsio-bin (funpack), as on the seed's
# snapshot after `apt install -y source-extractor libcfitsio-bin`.
RECIPE=3

T0=$(date +%s%N)
lap() { awk -v now="$(date +%s%N)" -v t0="$T0" -v msg="$*" \
          'BEGIN { printf "[%6.1fs] %s\n", (now - t0) / 1e9, msg }'; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot, useradd)"

# --------------------------------------------------------------------------- the test user's uid
# The host's user of that name if there is one, else the first uid from 2001 free on the host.
if host_uid=$(id -u "$TEST_USER" 2>/dev/null); then
    TEST_UID=$host_uid
else
    TEST_UID=${CANFAR_TUI_CONDOR_UID:-2001}
    while getent passwd "$TEST_UID" >/dev/null || getent group "$TEST_UID" >/dev/null; do
        TEST_UID=$((TEST_UID + 1))
    done
fi
WANT="recipe=$RECIPE suite=$SUITE user=$TEST_USER uid=$TEST_UID"

ensure_host_user() {
    if ! id -u "$TEST_USER" >/dev/null 2>&1; then
        groupadd -g "$TEST_UID" "$TEST_USER" 2>/dev/null || groupadd "$TEST_USER"
        useradd -M -d /nonexistent -s /usr/sbin/nologin -u "$TEST_UID" -g "$TEST_USER" \
            -c "canfar-tui HTCondor test user" "$TEST_USER"
    fi
}

if [ -f "$ROOT/$STAMP_NAME" ] && [ "$(cat "$ROOT/$STAMP_NAME")" = "$WANT" ] \
        && [ -x "$ROOT/usr/sbin/condor_master" ]; then
    ensure_host_user
    lap "already installed: $ROOT ($WANT)"
    "$HERE/install_canfar_tui.sh"
    exit 0
fi

# --------------------------------------------------------------------------- safety
# Never delete a tree with something mounted inside it (a bind of /dev would take the host's
# /dev with it).
mounted_under() { findmnt -rn -o TARGET | awk -v p="$1/" 'index($0 "/", p) == 1 { found = 1 } END { exit !found }'; }
safe_rm() {
    local dir=$1
    [ -e "$dir" ] || return 0
    if mounted_under "$dir"; then
        die "something is still mounted under $dir; run scripts/condor/stop.sh first"
    fi
    rm -rf --one-file-system "$dir"
}
if [ -d "$ROOT" ] && mounted_under "$ROOT"; then
    die "the old chroot is in use (mounts under $ROOT); run scripts/condor/stop.sh first"
fi

# --------------------------------------------------------------------------- host tools
mkdir -p "$RUN"
export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null; then
    apt-cache show debootstrap >/dev/null 2>&1 || apt-get update -q > "$RUN/install-apt.log" 2>&1
    apt-get install -y -q --no-install-recommends debootstrap >> "$RUN/install-apt.log" 2>&1 \
        || die "installing debootstrap failed (see $RUN/install-apt.log)"
    lap "debootstrap installed"
fi

mirror() {
    if [ -n "${CANFAR_TUI_DEBIAN_MIRROR:-}" ]; then
        echo "$CANFAR_TUI_DEBIAN_MIRROR"; return
    fi
    local file uri
    # deb822 sources: the first URIs of a stanza for the main archive (not -security).
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        uri=$(awk '
            /^[[:space:]]*$/ { if (uris != "" && suites !~ /-security/) { print uris; exit } uris = ""; suites = ""; next }
            /^URIs:/ { uris = $2 }
            /^Suites:/ { $1 = ""; suites = $0 }
            END { if (uris != "" && suites !~ /-security/) print uris }' "$file" | head -n1)
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    # one-line sources
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        uri=$(awk '$1 == "deb" && $0 !~ /-security/ {
                   for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' "$file")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    return 1
}
MIRROR=$(mirror) || die "no Debian mirror in the apt sources; set CANFAR_TUI_DEBIAN_MIRROR"

# --------------------------------------------------------------------------- build
umask 022
mkdir -p "$RUN"
chmod 755 "$RUN"
safe_rm "$NEW"
cleanup() {
    local target
    for target in "$NEW/dev" "$NEW/proc"; do
        if mountpoint -q "$target" 2>/dev/null; then umount "$target" || umount -l "$target"; fi
    done
}
trap cleanup EXIT

lap "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$NEW" "$MIRROR" > "$RUN/install-debootstrap.log" 2>&1 \
    || die "debootstrap failed (see $RUN/install-debootstrap.log)"
lap "base system ready"

# apt inside the chroot starts no service and keeps no downloaded package.
printf '#!/bin/sh\nexit 101\n' > "$NEW/usr/sbin/policy-rc.d"
chmod 0755 "$NEW/usr/sbin/policy-rc.d"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$NEW/etc/apt/apt.conf.d/90canfar-tui"
mount -t proc proc "$NEW/proc"
mount --bind /dev "$NEW/dev"
# python3 and python3-venv: for install_canfar_tui.sh (canfar-tui, cadcdata and vos in venvs,
# like a snapshot); source-extractor and libcfitsio-bin (funpack): the seed's
# `apt install -y source-extractor libcfitsio-bin` on its VM before the snapshot.
chroot "$NEW" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    minicondor python3 python3-venv source-extractor libcfitsio-bin \
    > "$RUN/install-minicondor.log" 2>&1 \
    || die "installing minicondor, python3 and the seed's tools failed (see $RUN/install-minicondor.log)"
chroot "$NEW" apt-get clean
cleanup
lap "minicondor installed: $(chroot "$NEW" condor_version | head -n1)"
lap "python installed: $(chroot "$NEW" python3 --version)"
lap "seed tools installed: $(chroot "$NEW" source-extractor --version 2>&1 | head -n1), funpack $(chroot "$NEW" funpack -V 2>&1 | head -n1)"

# Users: the test user with the host's uid, the other users only inside.
chroot "$NEW" groupadd -g "$TEST_UID" "$TEST_USER"
chroot "$NEW" useradd -m -u "$TEST_UID" -g "$TEST_USER" -s /bin/bash "$TEST_USER"
for other in "${OTHER_USERS[@]}"; do
    chroot "$NEW" useradd -m -s /bin/bash "$other"
done
ensure_host_user

# The daemons' state starts empty; start.sh writes the configuration on every start.
echo "$WANT" > "$NEW/$STAMP_NAME"
if [ -d "$ROOT" ]; then
    safe_rm "$ROOT"
fi
mv "$NEW" "$ROOT"
trap - EXIT
lap "installed: $ROOT ($(du -sm --one-file-system "$ROOT" | cut -f1) MB on disk)"
"$HERE/install_canfar_tui.sh"
