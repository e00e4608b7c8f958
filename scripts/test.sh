#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, from nothing:
#   1. a virtualenv in .venv with canfar-tui and its test extras,
#   2. the Debian tools the parity tests compare against (source-extractor, funpack),
#   3. the quality gates (ruff, mypy),
#   4. pytest over tests/ (unit, contract, ui snapshots, integration).
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
    export CANFAR_TUI_REQUIRE_TOOLS=1
fi

echo "== ruff"
.venv/bin/ruff check canfar_tui tests bench
.venv/bin/ruff format --check canfar_tui tests bench
echo "== mypy"
.venv/bin/mypy

echo "== pytest"
status=0
.venv/bin/pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$status"
