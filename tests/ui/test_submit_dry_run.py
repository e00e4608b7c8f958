"""The Submit screen's dry-run table: the jobs a submit file expands to, nothing submitted.

The screen is opened on the sandbox (the real local executor and the sandbox cloud for the
snapshot and flavor lists); ``ctrl+r`` switches the right pane to the table. The seed's
``do_catalogue.sub`` gives four rows; a ``queue … from`` with two item variables gets a column
each; 1 500 jobs are capped at DRY_RUN_ROWS rows and "… 500 more"; a malformed file shows its
lint errors with their line numbers instead of a table; and the queue stays empty throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Group
from textual.widgets import DataTable, Static, TabbedContent, TextArea

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Settings
from canfar_tui.screens.submit import DRY_RUN_ROWS, SubmitScreen

SIZE = (120, 36)


def sandbox_clients(settings: Settings) -> Clients:
    from canfar_tui.clients.cloud.sandbox import SandboxCloud
    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(sandbox / "cloud.sqlite"),
        queue=lambda: SandboxQueue(sandbox / "queue", slots=1),
        credentials=lambda: CadcCredentials.for_sandbox(
            sandbox / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


async def wait_for(pilot: Any, condition: Callable[[], object], what: str) -> None:
    for _ in range(600):  # 30 s at most, under load
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def open_submit(
    pilot: Any, app: CanfarApp, folder: Path, *, sandbox: bool = True
) -> SubmitScreen:
    await wait_for(pilot, lambda: app.dashboard_up, "the dashboard")
    queue = app.clients.queue
    assert queue is not None
    screen = SubmitScreen(
        queue=queue,
        cloud=app.clients.cloud,
        credentials=None,
        data_dir=app.settings.paths.data_dir,
        start_dir=folder,
        path=folder / "do_catalogue.sub",
        sandbox=sandbox,
    )
    await app.push_screen(screen)
    return screen


async def show_text(pilot: Any, screen: SubmitScreen, text: str) -> None:
    """Put ``text`` in the editor and wait for its preview (lint and dry run)."""
    screen.query_one("#submit-editor", TextArea).load_text(text)

    def current() -> bool:
        preview = screen.preview
        return (
            preview is not None
            and preview.inputs.text == text
            and preview.inputs == screen.current_inputs()
        )

    await wait_for(pilot, current, "the preview of the new text")


def status(screen: SubmitScreen) -> str:
    return str(screen.query_one("#submit-dryrun-status", Static).content)


async def test_the_dry_run_table_shows_every_job_and_submits_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    script = folder / "do_catalogue.bash"
    script.write_text('#!/bin/bash\necho "catalogue of $1"\n')
    script.chmod(0o755)
    (folder / "do_catalogue.sub").write_text(DO_CATALOGUE_SUB)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_submit(pilot, app, folder)
        await wait_for(
            pilot,
            lambda: screen.preview is not None and screen.preview.dry_run.total == 4,
            "the seed's four jobs",
        )
        tabs = screen.query_one("#submit-right", TabbedContent)
        assert tabs.active == "submit-pane-preview"
        await pilot.press("ctrl+r")
        assert tabs.active == "submit-pane-dryrun"
        assert app.active_tab_id != "dryrun"  # the dashboard's tabs did not move
        table = screen.query_one("#submit-dryrun", DataTable)
        assert table.display
        assert [str(column.label) for column in table.columns.values()] == [
            "PROC",
            "ARGUMENTS",
            "OUTPUT",
            "ERROR",
            "LOG",
        ]
        assert screen.dry_run_rows() == [
            (str(proc), exposure, f"{stem}.out", f"{stem}.err", f"{stem}.log")
            for proc, exposure in enumerate(("1056215p", "1056216p", "1056217p", "1056218p"))
            for stem in [f"do_catalogue-{exposure}"]
        ]
        assert status(screen) == "4 jobs, nothing submitted."
        lint = screen.query_one("#submit-lint", Static).content
        assert isinstance(lint, Group)
        assert any("(ctrl+r: the table)" in str(line) for line in lint.renderables)

        # Item variables get a column each; $(Cluster) is 0 until the schedd assigns one.
        await show_text(
            pilot,
            screen,
            "executable = do_catalogue.bash\n"
            "arguments = $(exposure) $(ccd)\n"
            "output = $(exposure)-$(ccd).$(Cluster).out\n"
            "queue exposure, ccd from (\n  1056215p, 00\n  1056216p, 35\n)\n",
        )
        assert [str(column.label) for column in table.columns.values()][5:] == [
            "EXPOSURE",
            "CCD",
        ]
        assert screen.dry_run_rows() == [
            ("0", "1056215p 00", "1056215p-00.0.out", "", "", "1056215p", "00"),
            ("1", "1056216p 35", "1056216p-35.0.out", "", "", "1056216p", "35"),
        ]
        assert "$(Cluster) shows as 0" in status(screen)

        # Many jobs: DRY_RUN_ROWS rows, then one that says how many more.
        await show_text(
            pilot, screen, "executable = do_catalogue.bash\narguments = $(Process)\nqueue 1500\n"
        )
        rows = screen.dry_run_rows()
        assert len(rows) == DRY_RUN_ROWS + 1
        assert rows[DRY_RUN_ROWS - 1][:2] == (str(DRY_RUN_ROWS - 1), str(DRY_RUN_ROWS - 1))
        assert rows[-1][:2] == ("…", "500 more")
        assert status(screen) == "1500 jobs, nothing submitted."

        queue = app.clients.queue
        assert queue is not None
        assert await queue.list_jobs() == []
        assert app.unexpected_errors == 0


async def test_a_malformed_file_shows_its_errors_with_line_numbers_instead(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "do_catalogue.sub").write_text("executable = /bin/echo\nqueue 2\n")
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_submit(pilot, app, folder)
        await wait_for(
            pilot,
            lambda: screen.preview is not None and screen.preview.dry_run.total == 2,
            "two jobs",
        )
        await pilot.press("ctrl+r")
        table = screen.query_one("#submit-dryrun", DataTable)
        assert table.display and table.row_count == 2

        await show_text(
            pilot,
            screen,
            "executable = /bin/echo\narguments = $(name)\nthis is not a command\n"
            "queue name from (\n)\n",
        )
        assert not table.display
        lines = status(screen).splitlines()
        assert lines[0] == "No dry run: fix these first."
        assert any(
            line.startswith("  ✗ line 3: error: expected 'command = value'") for line in lines
        )
        assert all("line " in line for line in lines[1:])

        await show_text(pilot, screen, "executable = /bin/echo\narguments = $(nowhere)\nqueue\n")
        assert not table.display
        assert "line 2: error: $(nowhere) is not defined" in status(screen)

        # Fixed: the table is back.
        await show_text(pilot, screen, "executable = /bin/echo\narguments = ok\nqueue\n")
        assert table.display
        assert screen.dry_run_rows() == [("0", "ok", "", "", "")]
        await pilot.press("ctrl+r")
        assert screen.query_one("#submit-right", TabbedContent).active == "submit-pane-preview"
        queue = app.clients.queue
        assert queue is not None
        assert await queue.list_jobs() == []
        assert app.unexpected_errors == 0


async def test_the_template_says_where_its_script_comes_from_at_80x24(
    settings: Settings, tmp_path: Path, monkeypatch: Any
) -> None:
    """Issue 15 (5): 5 b ctrl+t ctrl+s said only "the executable do_catalogue.bash does not
    exist", and nothing said that the Pipeline tab's ctrl+g writes it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.dashboard_up, "the dashboard")
        await pilot.press("5")
        await wait_for(pilot, lambda: app.view("queue") is not None, "the queue tab")
        await pilot.pause(0.2)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen), "the submit screen")
        screen = app.screen
        assert isinstance(screen, SubmitScreen)
        await pilot.press("ctrl+t")
        hint = f"do_catalogue.bash is not in {empty}: the Pipeline tab (8) writes it"
        messages = [n.message for n in app._notifications]
        assert any(hint in message and "ctrl+g" in message for message in messages), messages
        await wait_for(
            pilot,
            lambda: screen.preview is not None and screen.preview.inputs == screen.current_inputs(),
            "the lint of the template",
        )
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is screen
        refusal = [n.message for n in app._notifications if n.title == "Fix the submit file first"]
        assert refusal and "does not exist" in refusal[-1] and hint in refusal[-1]
        assert "\n" not in refusal[-1]

        # with the script there, the template says where it runs it from, and nothing more
        (empty / "do_catalogue.bash").write_text("#!/bin/bash\necho $1\n")
        app.clear_notifications()
        await pilot.press("ctrl+t")
        messages = [n.message for n in app._notifications]
        assert messages == [
            f"The Quick Start's do_catalogue.sub; it runs do_catalogue.bash from {empty}."
        ]
        assert app.unexpected_errors == 0
