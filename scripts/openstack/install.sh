#!/usr/bin/env bash
# Install (idempotently) the Debian 12 packages of the minimal real OpenStack that the
# integration tests run against: keystone, glance, placement, nova (fake compute driver),
# neutron (ml2), on MariaDB and RabbitMQ. Nothing is started or configured here: apt is told to
# start no service (policy-rc.d exits 101) and scripts/openstack/start.sh runs every daemon
# itself, on 127.0.0.1, from a private run directory.
#
# Usage: sudo scripts/openstack/install.sh        (root; needs the machine's apt sources)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (apt-get install)" >&2
    exit 1
fi

# keystone goes first on its own (its postinst sets up what the others' postinsts expect).
FIRST=(keystone)
REST=(nova-api nova-conductor nova-scheduler nova-compute placement-api glance-api
      neutron-server rabbitmq-server mariadb-server python3-pymysql curl)

missing=()
for package in "${FIRST[@]}" "${REST[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install.sh: every package is already installed"
    exit 0
fi

# apt must start nothing: there is no init system to talk to, and start.sh owns the daemons.
created_policy=0
if [ ! -x /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
    if [ -e /usr/sbin/policy-rc.d ]; then
        cp -p /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.canfar-tui-saved
    fi
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy=1
fi
restore_policy() {
    if [ "$created_policy" -eq 1 ]; then
        if [ -e /usr/sbin/policy-rc.d.canfar-tui-saved ]; then
            mv /usr/sbin/policy-rc.d.canfar-tui-saved /usr/sbin/policy-rc.d
        else
            rm -f /usr/sbin/policy-rc.d
        fi
    fi
}
trap restore_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# Refresh the package lists only when they do not know the packages (a fresh machine).
if ! apt-cache show keystone >/dev/null 2>&1 || ! apt-cache show nova-compute >/dev/null 2>&1; then
    # A third-party source that cannot be reached must not stop us: the Debian lists matter.
    apt-get update -q || echo "install.sh: apt-get update reported errors; trying anyway" >&2
fi

start=$(date +%s)
apt_install "${FIRST[@]}"
apt_install "${REST[@]}"
echo "install.sh: installed in $(( $(date +%s) - start ))s"
