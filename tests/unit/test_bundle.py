"""The Clients bundle: services built on first use, failures turned into a reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import FixedCloud

from canfar_tui.clients.base import Unavailable
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.config import Profile, Settings


def test_factories_run_on_first_access_only() -> None:
    built: list[str] = []

    def make_cloud() -> FixedCloud:
        built.append("cloud")
        return FixedCloud()

    clients = Clients("test", cloud=make_cloud, mode_label="SANDBOX")
    assert clients.mode_label == "SANDBOX" and built == []
    first = clients.cloud
    assert built == ["cloud"] and clients.cloud is first


def test_failing_factory_leaves_a_reason() -> None:
    def broken() -> FixedCloud:
        raise Unavailable("state file is damaged")

    clients = Clients("test", cloud=broken)
    assert clients.cloud is None
    assert (
        clients.why_missing("cloud") == "The cloud service could not start: state file is damaged"
    )


async def test_sandbox_bundle_builds_each_service_and_closes(settings: Settings) -> None:
    clients = build_clients(settings)
    assert clients.mode_label == "SANDBOX"
    assert not (settings.paths.data_dir / "sandbox" / "queue").exists(), "queue not built yet"
    assert clients.queue is not None and clients.storage is not None
    assert clients.credentials is not None and clients.cloud is not None
    assert (settings.paths.data_dir / "sandbox" / "queue").exists()
    assert clients.storage.home_uri == "vos:sandbox-user"
    await clients.aclose()


def test_a_real_profile_without_cloud_uses_a_sourced_openrc(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = replace(settings, profile=Profile(name="batch", kind="canfar"))
    for name in ("OS_AUTH_URL", "OS_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    clients = build_clients(real)
    assert clients.cloud is None
    assert "source your project's openrc file" in clients.why_missing("cloud")
    # `. rrg-astro-openrc.sh` in the shell before starting canfar-tui:
    monkeypatch.setenv("OS_AUTH_URL", "https://arbutus-canfar.cloud.computecanada.ca:5000")
    monkeypatch.setenv("OS_USERNAME", "jdoe")
    monkeypatch.setenv("OS_PROJECT_NAME", "rrg-astro")
    clients = build_clients(real)
    assert clients.cloud is not None
    assert clients.cloud.backend_label == "arbutus-canfar"
