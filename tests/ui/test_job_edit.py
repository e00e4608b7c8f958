"""Edit a held job and release it, driven by keys on the real sandbox executor.

A job submitted on hold (``hold = true``) prints its arguments; the test opens its details,
presses ``e``, fixes the arguments and the memory in the form and saves: the job is released,
really runs with the new arguments and completes. A wrong value is refused with one line and
nothing is sent; read-only mode never opens the form and the form itself refuses to save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.screen import Screen
from textual.widgets import Checkbox, Static, TabbedContent

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.clients.base import QueueClient
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Settings
from canfar_tui.models import Job, JobId, JobStatus
from canfar_tui.screens.job_detail import JobDetailScreen
from canfar_tui.screens.job_edit import (
    JobEditScreen,
    edit_expressions,
    form_values,
    open_job_edit,
)

SIZE = (100, 32)

HELD_SUB = """\
executable = show_args.sh
arguments = wrong-exposure
output = show.out
error = show.err
log = show.log
request_memory = 64000
hold = true
queue
"""


def sandbox_clients(settings: Settings) -> Clients:
    from canfar_tui.clients.cloud.sandbox import SandboxCloud
    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(sandbox / "cloud.sqlite"),
        queue=lambda: SandboxQueue(sandbox / "queue", slots=1, poll_interval=0.02),
        credentials=lambda: CadcCredentials.for_sandbox(
            sandbox / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


def job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    script = folder / "show_args.sh"
    script.write_text('#!/bin/bash\nfor arg in "$@"; do echo "arg: $arg"; done\n')
    script.chmod(0o755)
    return folder


async def wait_for(pilot: Any, condition: Callable[[], object], what: str) -> None:
    for _ in range(600):  # 30 s at most, under load
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def top_screen(app: CanfarApp) -> Screen[object]:
    """The screen on top now (read by a call, which no earlier assert narrows)."""
    return app.screen


def notifications(app: CanfarApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def held_job(pilot: Any, app: CanfarApp, folder: Path) -> tuple[QueueClient, JobId]:
    """Once the dashboard is up (screens pushed before it may compose too early), a job
    submitted on hold."""
    await wait_for(pilot, lambda: app.dashboard_up, "the dashboard")
    queue = app.clients.queue
    assert queue is not None
    result = await queue.submit(HELD_SUB, submit_dir=folder)
    return queue, JobId(result.cluster, 0)


async def test_edit_a_held_job_from_its_details_and_it_runs_with_the_new_arguments(
    settings: Settings, tmp_path: Path
) -> None:
    folder = job_folder(tmp_path)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        queue, job_id = await held_job(pilot, app, folder)
        detail = JobDetailScreen(queue, job_id)
        await app.push_screen(detail)
        await wait_for(pilot, detail.can_edit, "the held job's ad")
        assert "e edit & release" in str(detail.query_one("#job-hint", Static).content)
        assert "e" in app.screen.active_bindings
        assert app.screen.active_bindings["e"].binding.action == "edit"

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, JobEditScreen), "the edit form")
        form = app.screen
        assert isinstance(form, JobEditScreen)
        await wait_for(pilot, lambda: form.ad is not None, "the form filled")
        assert not form.field("Arguments").disabled
        why = str(form.query_one("#job-edit-why", Static).content)
        assert why == "Held: submitted on hold at user's request"
        assert form.field("Arguments").value == "wrong-exposure"
        assert form.field("RequestMemory").value == "64000"
        assert form.query_one("#job-edit-release", Checkbox).value is True

        # A wrong memory size: one line under the form, the field focused, nothing sent.
        await pilot.press("end", "ctrl+u", *"1056215p 'a b'")
        await pilot.press("tab", "tab", "tab", "end", "ctrl+u", *"lots")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.problem, "the complaint")
        assert form.problem == "Memory: 'lots' is not a size like 4096 (MB) or 4G."
        assert form.focused is form.field("RequestMemory")
        assert app.screen is form
        ad = await queue.job_ad(job_id)
        assert ad["Args"] == "wrong-exposure" and ad["JobStatus"] == int(JobStatus.HELD)

        await pilot.press("ctrl+u", *"2G", "ctrl+s")
        await wait_for(pilot, lambda: app.screen is detail, "back on the details")
        assert f"Job {job_id}: changed arguments, memory; released." in notifications(app), (
            notifications(app)
        )

        output = folder / "show.out"
        await wait_for(
            pilot,
            lambda: "status: C completed" in detail.text_of("summary"),
            "the edited job to complete",
        )
        assert output.read_text().splitlines() == ["arg: 1056215p", "arg: a b"]
        ad = await queue.job_ad(job_id)
        assert ad["Arguments"] == "1056215p 'a b'"
        assert ad["RequestMemory"] == 2048
        assert ad["ExitCode"] == 0
        # Not held any more: e is the error file again.
        await wait_for(pilot, lambda: not detail.can_edit(), "the job no longer held")
        await pilot.press("e")
        await pilot.pause(0.1)
        assert top_screen(app) is detail
        assert detail.query_one("#job-tabs", TabbedContent).active == "job-pane-error"
        assert app.unexpected_errors == 0


async def test_open_job_edit_refuses_jobs_that_cannot_be_edited(
    settings: Settings, tmp_path: Path
) -> None:
    folder = job_folder(tmp_path)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        queue, job_id = await held_job(pilot, app, folder)
        running = Job(job_id, "me", JobStatus.RUNNING)
        open_job_edit(app, running)
        await pilot.pause(0.1)
        assert not isinstance(app.screen, JobEditScreen)
        assert f"Job {job_id} is running; only held or idle jobs can be edited." in (
            notifications(app)
        )

        # The Queue tab's entry point: a held job opens the form; escape changes nothing.
        saved: list[bool] = []
        [job] = [job for job in await queue.list_jobs() if job.id == job_id]
        open_job_edit(app, job, on_done=saved.append)
        await wait_for(pilot, lambda: isinstance(app.screen, JobEditScreen), "the form")
        form = app.screen
        assert isinstance(form, JobEditScreen)
        await wait_for(pilot, lambda: form.ad is not None, "the form filled")
        assert not form.field("Arguments").disabled
        # Saving with nothing changed and release unticked says so and sends nothing.
        form.query_one("#job-edit-release", Checkbox).value = False
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form.problem == "Nothing changed.", "nothing changed")
        await pilot.press("escape")
        await wait_for(pilot, lambda: saved == [False], "the form closed")
        assert (await queue.job_ad(job_id))["JobStatus"] == int(JobStatus.HELD)
        assert app.unexpected_errors == 0


async def test_a_queue_that_cannot_edit_says_so(make_app: Callable[..., CanfarApp]) -> None:
    app = make_app()  # FixedQueue: no edit_job
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.dashboard_up, "the dashboard")
        queue = app.clients.queue
        assert queue is not None
        idle = next(job for job in await queue.list_jobs() if job.status == JobStatus.IDLE)
        open_job_edit(app, idle)
        await pilot.pause(0.1)
        assert not isinstance(app.screen, JobEditScreen)
        assert "The SANDBOX queue cannot edit jobs." in notifications(app)
        assert app.unexpected_errors == 0


async def test_read_only_never_edits(settings: Settings, tmp_path: Path) -> None:
    folder = job_folder(tmp_path)
    app = create_app(replace(settings, read_only=True), sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        queue, job_id = await held_job(pilot, app, folder)
        [job] = [job for job in await queue.list_jobs() if job.id == job_id]

        open_job_edit(app, job)
        await pilot.pause(0.1)
        assert not isinstance(app.screen, JobEditScreen)
        assert "Read-only mode: jobs cannot be edited." in notifications(app)

        # In the details, e is the error file: the edit binding is not there.
        detail = JobDetailScreen(queue, job_id)
        await app.push_screen(detail)
        await wait_for(pilot, lambda: detail.ad is not None, "the ad")
        assert not detail.can_edit()
        assert app.screen.active_bindings["e"].binding.action == "show('error')"
        await pilot.press("e")
        await pilot.pause(0.1)
        assert app.screen is detail
        assert detail.query_one("#job-tabs", TabbedContent).active == "job-pane-error"
        await pilot.press("escape")

        # The form itself, opened anyway, shows the job but refuses to save.
        form = JobEditScreen(queue, job_id, read_only=True)
        await app.push_screen(form)
        await wait_for(pilot, lambda: form.ad is not None, "the form's ad")
        assert form.field("Arguments").value == "wrong-exposure"
        assert form.field("Arguments").disabled
        assert form.problem == "Read-only mode: nothing can be changed."
        form.field("Arguments").value = "changed anyway"
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert top_screen(app) is form
        ad = await queue.job_ad(job_id)
        assert ad["Args"] == "wrong-exposure" and ad["JobStatus"] == int(JobStatus.HELD)
        assert app.unexpected_errors == 0


def test_form_values_and_expressions() -> None:
    ad: dict[str, object] = {
        "Args": 'a \\"b\\" c',
        "Environment": "A=1 B='x y'",
        "RequestCpus": 1,
        "RequestMemory": 2048,
        "RequestDisk": "MAX({1024, 2}) * 1024",
        "VMImage": "canfar-rocky-8",
        "Requirements": "TARGET.Memory >= 4000",
        "HoldReason": "memory",
    }
    original = form_values(ad)
    assert original["Arguments"] == "a '\"b\"' c"  # old syntax shown in the new one
    assert original["RequestDisk"] == "MAX({1024, 2}) * 1024"
    assert original["Requirements"] == "TARGET.Memory >= 4000"
    assert original["VMInstanceType"] == "" and original["Environment"] == "A=1 B='x y'"
    assert edit_expressions(original, original) == {}
    changed = dict(original)
    changed.update(
        Arguments="x 'y z'",
        RequestCpus="2",
        RequestMemory="7.5G",
        RequestDisk="20G",
        Requirements="TARGET.Memory >= 8000",
        VMImage='my "best" image',
    )
    assert edit_expressions(original, changed) == {
        "Arguments": "\"x 'y z'\"",
        "RequestCpus": "2",
        "RequestMemory": "7680",
        "RequestDisk": str(20 * 1024 * 1024),
        "Requirements": "TARGET.Memory >= 8000",
        "VMImage": '"my \\"best\\" image"',
    }
    for field, value, message in [
        ("Arguments", "'open", "Arguments: an unterminated single quote."),
        ("Environment", "A=1 B", "Environment: 'B' is not NAME=value."),
        ("RequestCpus", "0", "CPUs: at least 1."),
        ("RequestCpus", "two", "CPUs: 'two' is not a whole number."),
        ("VMImage", " ", "VM image: cannot be empty."),
        ("Requirements", "", "Requirements: empty; write true to require nothing."),
    ]:
        bad = dict(original)
        bad[field] = value
        try:
            edit_expressions(original, bad)
        except ValueError as error:
            assert str(error) == message
        else:
            raise AssertionError(f"{field}={value!r} was accepted")
