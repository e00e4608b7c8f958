"""A profile that turns TLS verification off is called out on screen; errors are redacted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fakes import FIXED_TIME, FixedCloud

from canfar_tui.app import create_app
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Settings


async def test_insecure_profile_warns(settings: Settings) -> None:
    insecure = replace(settings, profile=replace(settings.profile, verify_tls=False))
    app = create_app(insecure, Clients("sandbox", cloud=FixedCloud()), now=lambda: FIXED_TIME)
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        warnings = [
            n for n in app._notifications if "TLS certificate verification is OFF" in n.message
        ]
        assert len(warnings) == 1
        await pilot.press("2", "3", "1")
        await pilot.pause(0.1)
        again = [
            n for n in app._notifications if "TLS certificate verification is OFF" in n.message
        ]
        assert len(again) == 1, "said once, not on every tab switch"


async def test_secure_profile_does_not_warn(settings: Settings) -> None:
    app = create_app(settings, Clients("sandbox", cloud=FixedCloud()), now=lambda: FIXED_TIME)
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        assert not any("TLS" in n.message for n in app._notifications)
        app.report_error(RuntimeError("login failed: password=hunter2"))
        assert "hunter2" not in app.errors[-1].message
        assert not any("hunter2" in n.message for n in app._notifications)


async def test_an_openrc_with_os_insecure_warns_too(settings: Settings, tmp_path: Path) -> None:
    openrc = tmp_path / "canfar-openrc.sh"
    openrc.write_text(
        "export OS_AUTH_URL=https://keystone.example:5000/v3\n"
        "export OS_USERNAME=astro\n"
        "export OS_INSECURE=true\n"
    )
    profile = replace(settings.profile, openrc=openrc)
    app = create_app(
        replace(settings, profile=profile),
        Clients("sandbox", cloud=FixedCloud()),
        now=lambda: FIXED_TIME,
    )
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        (warning,) = [n for n in app._notifications if "TLS" in n.message]
        assert f"(OS_INSECURE in {openrc})" in warning.message
    openrc.write_text("export OS_AUTH_URL=https://keystone.example:5000/v3\nexport OS_INSECURE=0\n")
    app = create_app(
        replace(settings, profile=profile),
        Clients("sandbox", cloud=FixedCloud()),
        now=lambda: FIXED_TIME,
    )
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        assert not any("TLS" in n.message for n in app._notifications)
