"""Shared helpers for the detection tests (imported by name: no conftest import tricks)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from canfar_tui.detection.synthetic import SyntheticConfig, SyntheticSource

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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


def match_sources(ours: Any, theirs: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """For each row of ``theirs``: the index of the nearest row of ``ours`` and its distance.

    Rows are structured arrays with ``X_IMAGE``/``Y_IMAGE``; when both have an ``EXT``
    (or ``EXT_NUMBER``) field, only rows of the same extension are paired.
    """
    import numpy as np

    key = next((k for k in ("EXT", "EXT_NUMBER") if k in (theirs.dtype.names or ())), None)
    if key is not None and key not in (ours.dtype.names or ()):
        key = None
    index = np.full(len(theirs), -1, dtype=np.int64)
    distance = np.full(len(theirs), np.inf)
    groups = np.unique(theirs[key]) if key is not None else [None]
    for group in groups:
        t = np.flatnonzero(theirs[key] == group) if key is not None else np.arange(len(theirs))
        o = np.flatnonzero(ours[key] == group) if key is not None else np.arange(len(ours))
        if len(o) == 0 or len(t) == 0:
            continue
        d = np.hypot(
            theirs["X_IMAGE"][t, None] - ours["X_IMAGE"][None, o],
            theirs["Y_IMAGE"][t, None] - ours["Y_IMAGE"][None, o],
        )
        index[t] = o[d.argmin(axis=1)]
        distance[t] = d.min(axis=1)
    return index, distance
