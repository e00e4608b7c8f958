"""Shared fixtures: isolated XDG dirs for every test, settings and an app factory."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cadc_services import is_cadc_test
from condor_services import is_condor_test
from fakes import FIXED_TIME, FixedCloud, FixedQueue
from openstack_services import is_openstack_test
from real_services import REQUIRE_ENV, services_required

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import DEFAULT_REFRESH, Settings, load_settings


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    """With the real services required, a test that needs one and skipped has failed."""
    report = yield
    if (
        report.skipped
        and services_required()
        and not hasattr(report, "wasxfail")
        and (is_openstack_test(item) or is_condor_test(item) or is_cadc_test(item))
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=1 but this test of a real service skipped: {reason}"
    return report


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real user's config, data or state."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(variable, str(home / sub))
    return home


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    loaded = load_settings()
    return replace(loaded, refresh={area: 0.5 for area in DEFAULT_REFRESH})


AppFactory = Callable[..., CanfarApp]


@pytest.fixture
def make_app(settings: Settings) -> AppFactory:
    """Build the real app with a FixedCloud (or the given clients) and a fixed clock."""

    def factory(
        *,
        cloud: Any | None = None,
        clients: Clients | None = None,
        read_only: bool = False,
        keymap: dict[str, str] | None = None,
    ) -> CanfarApp:
        chosen = replace(settings, read_only=read_only, keymap=keymap or {})
        if clients is None:
            clients = Clients(
                "sandbox",
                cloud=cloud if cloud is not None else FixedCloud(),
                queue=FixedQueue(),
                missing={"storage": "This test profile has no VOSpace."},
                mode_label="SANDBOX",
            )
        return create_app(chosen, clients, now=lambda: FIXED_TIME)

    return factory
