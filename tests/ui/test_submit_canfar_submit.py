"""The Submit screen of a real profile submits through the installed canfar_submit.

On the batch host ``canfar_submit`` is on PATH; the screen must hand it the user's file (not
submit its own rewrite to the schedd), and an edited text goes in a file beside the original,
which stays as the user wrote it. The ``canfar_submit`` here records what it was given (a
submission that bypassed it leaves no record and fails the test).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from canfar_submit_fakes import read_record, write_fake
from test_submit_dry_run import SIZE, open_submit, sandbox_clients, show_text, wait_for
from textual.widgets import Static, TextArea

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.config import Settings
from canfar_tui.models import SubmitResult


@pytest.fixture
def batch_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A canfar_submit (current form) first on PATH; returns the file it records into."""
    write_fake(tmp_path / "bin", series="0.4")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "record"
    monkeypatch.setenv("RECORD", str(record))
    return record


def job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    script = folder / "do_catalogue.bash"
    script.write_text('#!/bin/bash\necho "catalogue of $1"\n')
    script.chmod(0o755)
    (folder / "do_catalogue.sub").write_text(DO_CATALOGUE_SUB)
    return folder


async def open_real_submit(pilot: Any, app: CanfarApp, folder: Path) -> Any:
    """The Submit screen of a real profile, once it knows whether canfar_submit is there."""
    screen = await open_submit(pilot, app, folder, sandbox=False)
    await wait_for(pilot, lambda: screen.canfar_submit_checked, "the canfar_submit probe")
    return screen


async def test_a_real_profile_hands_the_file_to_canfar_submit(
    settings: Settings, tmp_path: Path, batch_host: Path
) -> None:
    folder = job_folder(tmp_path)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_real_submit(pilot, app, folder)
        await wait_for(
            pilot, lambda: screen.preview is not None and screen.preview.report.ok, "the lint"
        )
        form = str(screen.query_one("#submit-form", Static).content)
        assert "Submitting with" in form and "0.4.x form" in form
        results: list[SubmitResult | None] = []
        screen.dismiss = results.append
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: results, "the submission")
    assert results == [SubmitResult(cluster=42, num_jobs=4, batch_name="ID: 42")]
    seen = read_record(batch_host)
    assert seen["argv"].startswith("do_catalogue.sub ")
    assert seen["cwd"] == str(folder)


async def test_an_edited_file_goes_to_canfar_submit_beside_the_original(
    settings: Settings, tmp_path: Path, batch_host: Path
) -> None:
    folder = job_folder(tmp_path)
    edited = DO_CATALOGUE_SUB.replace("1056218p\n", "")
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_real_submit(pilot, app, folder)
        await show_text(pilot, screen, edited)
        results: list[SubmitResult | None] = []
        screen.dismiss = results.append
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: results, "the submission")
    assert read_record(batch_host)["argv"].startswith("do_catalogue.canfar-tui.sub ")
    assert (folder / "do_catalogue.canfar-tui.sub").read_text() == edited
    assert (folder / "do_catalogue.sub").read_text() == DO_CATALOGUE_SUB


async def test_ctrl_s_during_the_check_submits_when_the_check_passes(
    settings: Settings, tmp_path: Path, batch_host: Path
) -> None:
    """ctrl+s pressed while the lint of a new text is still running is not lost: the file
    goes as soon as the check passes (and only once)."""
    folder = job_folder(tmp_path)
    edited = DO_CATALOGUE_SUB.replace("1056218p\n", "")
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_real_submit(pilot, app, folder)
        screen.query_one("#submit-editor", TextArea).load_text(edited)
        results: list[SubmitResult | None] = []
        screen.dismiss = results.append
        await pilot.press("ctrl+s")
        assert not results and screen.submit_pending  # the check of the new text is running
        await wait_for(pilot, lambda: results, "the submission after the check")
        await pilot.pause(0.3)
    assert len(results) == 1 and results[0] is not None
    assert read_record(batch_host)["argv"].startswith("do_catalogue.canfar-tui.sub ")
    assert (folder / "do_catalogue.canfar-tui.sub").read_text() == edited


async def test_ctrl_s_before_the_snapshots_load_submits_once_they_are_there(
    settings: Settings, tmp_path: Path, batch_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lint can pass before the snapshot and flavor lists arrive (a slow cloud): ctrl+s
    then waits for them instead of saying "choose a snapshot" while the lists are loading
    (the CI failure: the submission never came)."""
    from canfar_tui.clients.cloud.sandbox import SandboxCloud

    lists_released = asyncio.Event()
    real_list_images = SandboxCloud.list_images

    async def slow_list_images(self: SandboxCloud) -> Any:
        await lists_released.wait()
        return await real_list_images(self)

    monkeypatch.setattr(SandboxCloud, "list_images", slow_list_images)
    folder = job_folder(tmp_path)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_real_submit(pilot, app, folder)
        await wait_for(
            pilot,
            lambda: screen.preview is not None and screen.preview.report.ok,
            "the lint without a snapshot",
        )
        assert screen.preview is not None and screen.preview.rewrite is None
        results: list[SubmitResult | None] = []
        screen.dismiss = results.append
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert not results and screen.submit_pending  # waiting for the lists
        lists_released.set()
        await wait_for(pilot, lambda: results, "the submission once the lists are there")
    assert results == [SubmitResult(cluster=42, num_jobs=4, batch_name="ID: 42")]
    assert read_record(batch_host)["argv"].startswith("do_catalogue.sub ")
