"""A profile that turns TLS verification off is called out on screen; errors are redacted."""

from __future__ import annotations

from dataclasses import replace

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
