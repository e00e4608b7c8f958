"""The dashboard on the real sandbox profile (no test doubles): every tab shows real data."""

from __future__ import annotations

from textual.pilot import Pilot

from canfar_tui.app import create_app
from canfar_tui.clients.bundle import build_clients
from canfar_tui.config import Settings
from canfar_tui.widgets.resource_view import ResourceView


async def wait_state(pilot: Pilot[None], view: ResourceView) -> None:
    for _ in range(400):
        if view.state not in ("loading",):
            return
        await pilot.pause(0.05)


async def test_sandbox_tabs_show_the_simulated_canfar(settings: Settings) -> None:
    app = create_app(settings, build_clients(settings))
    async with app.run_test(size=(120, 30)) as pilot:
        projects = app.view("projects")
        assert isinstance(projects, ResourceView)
        await wait_state(pilot, projects)
        names = {projects.table.get_row(key)[1] for key in projects.table.visible_keys()}  # type: ignore[index]
        assert names == {"canfar-batch-demo", "canfar-survey"}
        assert app.header.project == "canfar-batch-demo"
        assert app.header.mode == "SANDBOX"

        await pilot.press("4")
        snapshots = app.view("snapshots")
        assert isinstance(snapshots, ResourceView)
        await wait_state(pilot, snapshots)
        images = {snapshots.table.get_row(key)[0] for key in snapshots.table.visible_keys()}  # type: ignore[index]
        assert {"canfar-ubuntu-20.04", "canfar-rocky-8"} <= images

        await pilot.press("5")
        queue = app.view("queue")
        assert isinstance(queue, ResourceView)
        await wait_state(pilot, queue)
        assert queue.state == "empty", "a new sandbox has no job of mine"
        await pilot.press("a")
        for _ in range(200):
            if queue.table.row_count:
                break
            await pilot.pause(0.05)
        owners = {queue.table.get_row(key)[1] for key in queue.table.visible_keys()}  # type: ignore[index]
        assert {"jdoe", "asmith"} <= owners

        await pilot.press("6")
        vospace = app.view("vospace")
        assert isinstance(vospace, ResourceView)
        await wait_state(pilot, vospace)
        assert vospace.state == "empty"
        for _ in range(200):
            if app.header.certificate != "—":
                break
            await pilot.pause(0.05)
        assert app.header.certificate.startswith("9d")
        assert app.unexpected_errors == 0
