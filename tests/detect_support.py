"""Shared helpers for the detection tests (imported by name: no conftest import tricks)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from canfar_tui.detection.synthetic import SyntheticConfig, SyntheticSource

# 4 CCDs of 512 × 1024, MegaCam-like (uint16, BZERO 32768, Rice-compressed).
SMALL = SyntheticConfig(n_ccds=4, width=512, height=1024, seed=7).for_area()


@dataclass(frozen=True)
class SyntheticImage:
    path: Path
    config: SyntheticConfig
    truth: tuple[SyntheticSource, ...]


def tools_required() -> bool:
    return os.environ.get("CANFAR_TUI_REQUIRE_TOOLS", "") not in ("", "0", "false", "no")


def require_tools(*names: str) -> dict[str, str]:
    """Paths of the reference executables; skip (or fail when required) if missing."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = (
            f"{', '.join(missing)} not installed (scripts/install_detection_tools.sh installs "
            "source-extractor and libcfitsio-bin)"
        )
        if tools_required():
            pytest.fail(f"CANFAR_TUI_REQUIRE_TOOLS is set but {message}")
        pytest.skip(message)
    return {name: str(path) for name, path in found.items()}
