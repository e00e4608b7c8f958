"""What the OpenStack and HTCondor test helpers share: "are real services required?" and the
``KEY=value`` env files the start scripts write under ``.services/``."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "CANFAR_TUI_REQUIRE_SERVICES"
REPO = Path(__file__).resolve().parents[1]


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def require_or_skip(reason: str) -> NoReturn:
    """Skip, or fail when the real services are required."""
    if services_required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def read_env_file(path: Path, keys: Sequence[str]) -> dict[str, str]:
    """The ``keys`` found in a ``KEY=value`` file (shell-quoted values)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, raw = line.partition("=")
        if sep and key in keys:
            values[key] = " ".join(shlex.split(raw))
    return values


def service_settings(keys: Sequence[str], marker: str, env_file: Path) -> dict[str, str]:
    """``keys`` from the environment, or from ``env_file`` when ``marker`` is not set there."""
    values = {key: os.environ[key] for key in keys if os.environ.get(key)}
    if marker not in values and env_file.is_file():
        values = read_env_file(env_file, keys)
    return values
