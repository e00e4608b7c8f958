#!/usr/bin/env bash
# Install the reference tools used by the detection parity tests and the benchmark:
# source-extractor (SExtractor) and funpack (from libcfitsio-bin), and psfex and scamp (which read
# our FITS_LDAC catalogues in tests/unit/detection/test_detect_ldac_consumers.py), from the
# Debian/Ubuntu archive.
#
# Idempotent: does nothing when all the executables are already on PATH.
# Needs root (or passwordless sudo) when something must be installed.
set -euo pipefail

have_all() {
    command -v source-extractor >/dev/null 2>&1 && command -v funpack >/dev/null 2>&1 &&
        command -v psfex >/dev/null 2>&1 && command -v scamp >/dev/null 2>&1
}

if have_all; then
    echo "detection tools present: $(command -v source-extractor), $(command -v funpack)," \
        "$(command -v psfex), $(command -v scamp)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_detection_tools: need root or sudo to install source-extractor, libcfitsio-bin, psfex and scamp" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_detection_tools: apt-get not found; install source-extractor, funpack, psfex and scamp by hand" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends source-extractor libcfitsio-bin psfex scamp >/dev/null

if ! have_all; then
    echo "install_detection_tools: installation finished but the tools are not on PATH" >&2
    exit 1
fi
echo "detection tools installed: $(command -v source-extractor), $(command -v funpack)," \
    "$(command -v psfex), $(command -v scamp)"
