#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, from nothing:
#   1. a virtualenv in .venv with canfar-tui and its test extras,
#   2. the Debian tools the parity tests compare against (source-extractor, funpack) and the
#      OpenSSH server the VM set-up tests start on 127.0.0.1 (openssh-server, libnss-wrapper),
#   3. the quality gates (ruff, mypy),
#   4. a local replica of CADC's web services over HTTPS on 127.0.0.1 (scripts/cadc, no root
#      needed), and as root: a real OpenStack and a real HTCondor pool (in a Debian trixie
#      chroot) on 127.0.0.1 (scripts/openstack, scripts/condor), all stopped by PID on exit,
#   5. pytest over tests/ (unit, contract, ui snapshots, integration).
# CANFAR_TUI_NO_SERVICES=1 skips step 4 (the tests that need it then skip instead of fail).
# Extra arguments go to pytest. Exit status is pytest's; "no tests collected" is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

if [ -f scripts/install_detection_tools.sh ]; then
    bash scripts/install_detection_tools.sh
    # The sshd (and nss_wrapper) the VM set-up tests start on 127.0.0.1 themselves.
    bash scripts/install_ssh_server.sh
    export CANFAR_TUI_REQUIRE_TOOLS=1
fi

echo "== ruff"
.venv/bin/ruff check canfar_tui tests bench
.venv/bin/ruff format --check canfar_tui tests bench
echo "== mypy"
.venv/bin/mypy

# Services started here are stopped (by PID, in reverse order) when this script exits.
stop_scripts=()
stop_services() {
    local script
    for script in "${stop_scripts[@]}"; do bash "$script" || true; done
}
trap stop_services EXIT

if [ -z "${CANFAR_TUI_NO_SERVICES:-}" ]; then
    # Needs no root: started for every run.
    echo "== CADC replica"
    stop_scripts=(scripts/cadc/stop.sh "${stop_scripts[@]}")
    bash scripts/cadc/start.sh
    set -a
    . .services/cadc/env
    set +a
fi

if [ "$(id -u)" = 0 ] && [ -z "${CANFAR_TUI_NO_SERVICES:-}" ]; then
    echo "== real services"
    bash scripts/openstack/install.sh
    bash scripts/condor/install.sh
    stop_scripts=(scripts/condor/stop.sh scripts/openstack/stop.sh "${stop_scripts[@]}")
    bash scripts/openstack/start.sh
    bash scripts/condor/start.sh
    set -a
    . .services/openstack/env
    . .services/condor/env
    set +a
    export CANFAR_TUI_REQUIRE_SERVICES=1
fi

echo "== pytest"
status=0
.venv/bin/pytest -p no:cacheprovider -rs "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
