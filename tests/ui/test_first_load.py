"""The first tab's rows load while the dashboard is being built, and only once.

The Projects view starts its first load when the dashboard composes it (before it is
mounted), so the rows can be in the first painted frame; the poller takes that load as its
first tick instead of fetching again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from test_narrow_screen import SIZE, sandbox_clients, until

from canfar_tui.app import create_app
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.config import Settings
from canfar_tui.widgets.cloud.projects import ProjectsView


async def test_the_first_tab_loads_before_it_is_mounted_and_only_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    mounted: list[bool] = []
    real_list_projects = SandboxCloud.list_projects

    async def list_projects(self: SandboxCloud) -> Any:
        view = app.active_view if app.is_running else None
        mounted.append(bool(view is not None and view.is_mounted))
        calls.append("list_projects")
        return await real_list_projects(self)

    monkeypatch.setattr(SandboxCloud, "list_projects", list_projects)
    settings = replace(settings, refresh={**settings.refresh, "projects": 30.0})
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        view = app.active_view
        assert isinstance(view, ProjectsView)
        await until(pilot, lambda: view.state == "ready", "the projects")
        assert view.table.row_count > 0
        await asyncio.sleep(0.3)  # well within the refresh interval
        await pilot.pause()
    assert calls == ["list_projects"], f"the poller took the first load, not a new fetch: {calls}"
    assert mounted == [False], "the first load started before the view was mounted"
    assert app.unexpected_errors == 0
