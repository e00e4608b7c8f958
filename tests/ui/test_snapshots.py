"""SVG snapshots of the shell at 80×24 and 160×50 (pytest-textual-snapshot).

Update after an intended visual change with ``pytest tests/ui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from canfar_tui.app import CanfarApp
from canfar_tui.widgets.resource_view import ResourceView


async def _settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CanfarApp)
    for _ in range(100):
        if app.dashboard_up:
            break
        await pilot.pause(0.02)
    for _ in range(100):
        view = app.active_view
        if not isinstance(view, ResourceView) or view.state != "loading":
            break
        await pilot.pause(0.02)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
@pytest.mark.parametrize("keys", ["1", "2", "5"])
def test_shell_snapshot(
    snap_compare: Callable[..., bool],
    make_app: Callable[..., CanfarApp],
    size: tuple[int, int],
    keys: str,
) -> None:
    tab = {"1": "projects", "2": "instances", "5": "queue"}[keys]

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, CanfarApp)
        await _settle(pilot)  # the dashboard is up before the key is pressed
        await pilot.press(keys)
        for _ in range(200):
            if app.active_tab_id == tab:
                break
            await pilot.pause(0.02)
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def test_help_snapshot(
    snap_compare: Callable[..., bool], make_app: Callable[..., CanfarApp]
) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
