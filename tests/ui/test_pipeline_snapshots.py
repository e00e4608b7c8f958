"""SVG snapshots of the Pipeline tab at 80×24 and 160×50: the filled-in form before submitting.

Deterministic: the fixed cloud (its snapshot taken from a running instance, so the warning
shows) and queue of ``tests/fakes.py`` with a fixed clock, the sandbox VOSpace for the default
folder, and the focus on the snapshot list (no blinking cursor on screen). The queue is not the
sandbox executor, so the job script runs the seed's own steps (and the line above the files
says why): no path of this machine shows.

Update after an intended visual change with ``pytest tests/ui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakes import FixedCloud, FixedQueue
from textual import events
from textual.widgets import Select

from canfar_tui.app import CanfarApp
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Settings
from canfar_tui.widgets.pipeline.view import PipelineView

IDS = ("1056215p", "1056216p", "1056217p", "1056218p", "9999999p")


def fixed_clients(settings: Settings) -> Clients:
    from canfar_tui.clients.bundle import start_sandbox_storage

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        "sandbox",
        cloud=FixedCloud(),
        queue=FixedQueue(),
        storage=lambda: start_sandbox_storage(sandbox),
        missing={"credentials": "This test profile has no certificate."},
        mode_label="SANDBOX",
    )


async def fill_in_the_form(pilot: Any) -> None:
    app = pilot.app
    for _ in range(200):
        if app.dashboard_up:
            break
        await pilot.pause(0.02)
    await pilot.press("8")
    view: PipelineView | None = None
    for _ in range(400):
        found = app.view("pipeline")
        if isinstance(found, PipelineView) and found.choices_loaded:
            view = found
            break
        await pilot.pause(0.02)
    assert view is not None
    app.post_message(events.Paste(" ".join(IDS)))  # pasted, as from a terminal
    await pilot.pause()
    keys = {"=": "equals_sign"}
    await pilot.press("tab", "tab", *(keys.get(char, char) for char in "DETECT_THRESH=3"))
    await pilot.press("ctrl+g")
    for _ in range(400):
        if view.preview_current:
            break
        await pilot.pause(0.02)
    assert view.preview_current
    await pilot.press("tab")  # the snapshot list: no blinking cursor in the picture
    assert view.query_one("#pipeline-image", Select).has_focus
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_pipeline_snapshot(
    snap_compare: Callable[..., bool],
    make_app: Callable[..., CanfarApp],
    settings: Settings,
    size: tuple[int, int],
) -> None:
    app = make_app(clients=fixed_clients(settings))
    assert snap_compare(app, terminal_size=size, run_before=fill_in_the_form)
