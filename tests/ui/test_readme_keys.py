"""The README's "footer at 80×24" table against the footer the sandbox app shows at 80×24.

Each row of the table is opened with keys like a person would (the tab's number, ``escape``
to leave a text field) and the footer's keys are compared, in order, with the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.clients.bundle import Clients, start_sandbox_storage
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.clients.credentials import CadcCredentials
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.config import Settings
from canfar_tui.widgets.footer import DashboardFooter
from canfar_tui.widgets.tabs import TABS

README = Path(__file__).resolve().parents[2] / "README.md"

#: README row title -> (tab id, leave the text field first).
ROWS: dict[str, tuple[str, bool]] = {
    "Projects": ("projects", False),
    "Instances": ("instances", False),
    "Floating IPs": ("floating_ips", False),
    "Snapshots": ("snapshots", False),
    "Queue": ("queue", False),
    "VOSpace": ("vospace", False),
    "Detect, in the image field": ("detect", False),
    "Detect, out of the fields": ("detect", True),
    "Pipeline, in a text field": ("pipeline", False),
    "Pipeline, out of the fields": ("pipeline", True),
}


def readme_footers() -> dict[str, list[tuple[str, str]]]:
    """The README's footer table: row title -> [(key, label), …]."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| tab | footer at 80×24 |", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in table.splitlines()[2:]:
        title, keys = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows[title] = [
            (key, label.strip()) for key, label in re.findall(r"`([^`]+)` ([^·]+)", keys)
        ]
    return rows


def sandbox_clients(settings: Settings) -> Clients:
    folder = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(folder / "cloud.sqlite", build_seconds=0.0),
        queue=lambda: SandboxQueue(folder / "queue", slots=1, owner="sandbox-user"),
        storage=lambda: start_sandbox_storage(folder),
        credentials=lambda: CadcCredentials.for_sandbox(
            folder / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


async def until(pilot: Pilot[Any], check: Callable[[], object], what: str) -> None:
    for _ in range(300):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def footer(app: CanfarApp) -> list[tuple[str, str]]:
    """The footer's keys as shown, left to right, without the palette's."""
    spans = app.screen.query_one(DashboardFooter).shown
    return [(span.key_display, span.label) for span in spans if not span.palette]


async def test_the_readme_footer_table_is_what_80x24_shows(settings: Settings) -> None:
    rows = readme_footers()
    assert set(rows) == set(ROWS), "the README's footer table has other rows than this test"
    numbers = {tab_id: str(index) for index, (tab_id, _, _) in enumerate(TABS, start=1)}
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        for title, (tab_id, leave_field) in ROWS.items():
            await pilot.press("escape")  # out of any text field: the number keys work
            await pilot.press(numbers[tab_id])
            await until(pilot, partial(app.view, tab_id), tab_id)
            await pilot.pause(0.5)
            if leave_field:
                await pilot.press("escape")
                await pilot.pause(0.3)
            assert footer(app) == rows[title], title
        assert app.unexpected_errors == 0
