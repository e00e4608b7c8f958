#!/usr/bin/env bash
# Install the OpenSSH server (and nss_wrapper) used by the VM set-up tests
# (tests/integration/test_vm_setup_ssh.py): the test starts its own sshd on 127.0.0.1 (a free port, a throwaway host key, run as a
# non-daemon child and killed by PID); nothing here starts or enables a system service.
# nss_wrapper lets that sshd know the images' default users (ubuntu, rocky) as the account
# running the test, without adding users to this machine.
#
# Idempotent: does nothing when sshd and nss_wrapper are already there.
# Needs root (or passwordless sudo) when something must be installed.
set -euo pipefail

nss_wrapper_library() {
    ls /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so 2>/dev/null | head -n 1
}

have_all() {
    [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 \
        && command -v ssh-keygen >/dev/null 2>&1 && [ -n "$(nss_wrapper_library)" ]
}

if have_all; then
    echo "ssh server present: /usr/sbin/sshd, $(nss_wrapper_library)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_ssh_server: need root or sudo to install openssh-server" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_ssh_server: apt-get not found; install openssh-server by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the package's scripts must not start (or restart) the system's sshd.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends openssh-server openssh-client libnss-wrapper >/dev/null

if ! have_all; then
    echo "install_ssh_server: installation finished but sshd or nss_wrapper is missing" >&2
    exit 1
fi
echo "ssh server installed: /usr/sbin/sshd (not started), $(nss_wrapper_library)"
