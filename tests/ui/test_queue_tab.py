"""The Queue tab on the real sandbox executor, driven by keys: submit, watch, act, read output.

The jobs really run: ``do_catalogue.bash`` is a tiny bash script in tmp that waits for a gate
file and then prints "catalogue of <id>". With one executor slot the seed's four jobs are
deterministically one running and three idle until the test opens the gate, so each state
is observed instead of timed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DirectoryTree, Static

from canfar_tui.app import CanfarApp, CanfarCommands, create_app
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.config import Settings
from canfar_tui.models import JobId
from canfar_tui.screens.confirm import ConfirmScreen
from canfar_tui.screens.file_picker import FilePickerScreen
from canfar_tui.screens.job_detail import JobDetailScreen, JobReasonScreen
from canfar_tui.screens.submit import SubmitScreen
from canfar_tui.widgets.queue.rows import BatchRow
from canfar_tui.widgets.queue.view import BATCH_COLUMNS, JOB_COLUMNS, QueueView

ST_COLUMN = next(column for column in JOB_COLUMNS if column.key == "st")

SIZE = (120, 36)

FAKE_CANFAR_SUBMIT_04 = """#!/bin/bash
usage() { echo "Usage: canfar_submit [OPTION] JOB_FILE VM_IMAGE"; exit; }
case "$1" in
    -h | --help) usage ;;
    -V | --version) echo 0.4.0; exit ;;
esac
[[ $# -eq 2 ]] || usage
echo submitted > "$(dirname "$0")/SUBMITTED"
"""


def sandbox_clients(settings: Settings, *, slots: int = 1) -> Clients:
    """The sandbox bundle of ``build_clients``, with an executor of ``slots`` slots.

    One slot makes "one running, three idle" a state the test can wait for on any machine.
    """
    from canfar_tui.clients.cloud.sandbox import SandboxCloud
    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(sandbox / "cloud.sqlite"),
        queue=lambda: SandboxQueue(sandbox / "queue", slots=slots),
        credentials=lambda: CadcCredentials.for_sandbox(
            sandbox / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    """do_catalogue.sub and a do_catalogue.bash that waits for ``tmp_path/gate``."""
    folder = tmp_path / "job"
    folder.mkdir()
    script = folder / "do_catalogue.bash"
    script.write_text(
        "#!/bin/bash\n"
        f"while [ ! -e {tmp_path / 'gate'} ]; do sleep 0.05; done\n"
        'echo "catalogue of $1"\n'
    )
    script.chmod(0o755)
    (folder / "do_catalogue.sub").write_text(DO_CATALOGUE_SUB)
    return folder


def open_gate(job_dir: Path) -> None:
    (job_dir.parent / "gate").touch()


async def wait_for(pilot: Any, condition: Callable[[], object], what: str) -> None:
    for _ in range(600):  # 30 s at most, under load
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def queue_view(app: CanfarApp) -> QueueView:
    view = app.view("queue")
    assert isinstance(view, QueueView)
    return view


def rows(view: QueueView) -> list[tuple[object, ...]]:
    table = view.table
    return [tuple(table.get_row(key) or ()) for key in table.visible_keys()]


def notifications(app: CanfarApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def only_batch(view: QueueView) -> BatchRow | None:
    if view.mode != "batches" or view.poller is None or len(view.poller.rows) != 1:
        return None
    (row,) = view.poller.rows.values()
    return row if isinstance(row, BatchRow) else None


def status_of(view: QueueView, job: str) -> str | None:
    row = view.table.get_row(job)
    return None if row is None else str(row[JOB_COLUMNS.index(ST_COLUMN)])


async def test_submit_the_seed_batch_from_the_submit_screen_and_watch_it_complete(
    settings: Settings,
    job_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(job_dir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "canfar_submit"
    fake.write_text(FAKE_CANFAR_SUBMIT_04)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # The Snapshots tab remembered canfar-rocky-8 as "use for batch".
    from canfar_tui.preferences import BatchImage, PreferenceStore

    store = PreferenceStore.for_settings(settings)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        cloud = app.clients.cloud
        assert cloud is not None
        rocky = next(i for i in await cloud.list_images() if i.name == "canfar-rocky-8")
        store.set_batch_image(BatchImage(id=rocky.id, name=rocky.name))
        await pilot.press("5")
        view = queue_view(app)
        await wait_for(pilot, lambda: view.state == "empty", "an empty queue")

        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen), "the submit screen")
        submit = app.screen
        assert isinstance(submit, SubmitScreen)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePickerScreen), "the picker")
        tree = app.screen.query_one("#picker-tree", DirectoryTree)
        await wait_for(pilot, lambda: len(tree.root.children) == 1, "do_catalogue.sub listed")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen is submit, "back on the submit screen")
        assert submit.path == job_dir / "do_catalogue.sub"

        def previewed() -> bool:
            preview = submit.preview
            return (
                preview is not None
                and preview.rewrite is not None
                and preview.inputs == submit.current_inputs()
                and submit.canfar_submit_checked
            )

        await wait_for(pilot, previewed, "the preview and lint")
        preview = submit.preview
        assert preview is not None and preview.rewrite is not None
        assert preview.rewrite.image == "canfar-rocky-8"  # the remembered snapshot
        assert preview.rewrite.flavor.name == "c2-7.5gb-30"
        assert preview.report.ok and len(preview.report.jobs) == 4
        assert '+VMImage                = "canfar-rocky-8"' in preview.rewrite.text
        form = str(submit.query_one("#submit-form", Static).content)
        assert "canfar_submit 0.4.0" in form and "0.4.x form" in form
        assert "On the batch host: canfar_submit do_catalogue.sub canfar-rocky-8" in form
        assert not (bin_dir / "SUBMITTED").exists()  # probing never submits

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SubmitScreen), "submitted")
        await wait_for(pilot, lambda: only_batch(view) is not None, "the new batch")
        batch = only_batch(view)
        assert batch is not None
        assert view.table.cursor_key == batch.key  # jumped to the new batch
        cluster = batch.batch.job_ids[0].cluster

        def one_running_three_idle() -> bool:
            row = only_batch(view)
            return row is not None and (row.batch.running, row.batch.idle) == (1, 3)

        await wait_for(pilot, one_running_three_idle, "one job running, three idle")
        cells = view.table.get_row(batch.key)
        at = {column.key: index for index, column in enumerate(BATCH_COLUMNS)}
        assert cells is not None and cells[at["run"]] == 1 and cells[at["idle"]] == 3
        assert cells[at["total"]] == 4
        totals = str(view.query_one("#queue-totals", Static).content)
        assert totals.startswith("4 jobs; 0 completed, 0 removed, 3 idle, 1 running, 0 held")

        open_gate(job_dir)

        def complete() -> bool:
            row = only_batch(view)
            return row is not None and not row.in_queue and row.completed == 4

        await wait_for(pilot, complete, "the batch to complete")
        cells = view.table.get_row(batch.key)
        assert cells is not None and str(cells[at["progress"]]).endswith("complete")
        await wait_for(
            pilot,
            lambda: f"Batch ID: {cluster} is complete." in notifications(app),
            "the completion notice",
        )
        totals = str(view.query_one("#queue-totals", Static).content)
        assert totals.startswith("4 jobs; 4 completed, 0 removed, 0 idle, 0 running, 0 held")

        # The jobs, and the output of the first one.
        await pilot.press("n")
        await wait_for(pilot, lambda: len(rows(view)) == 4, "four finished jobs")
        assert {str(row[6]) for row in rows(view)} == {"C"}
        view.table.move_cursor_to_key(f"{cluster}.0")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "job details")
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        await wait_for(
            pilot, lambda: "catalogue of 1056215p" in detail.text_of("output"), "the output"
        )
        assert "status: C completed" in detail.text_of("summary")
        assert 'VMImage = "canfar-rocky-8"' in detail.text_of("classad")
        assert "ExitCode = 0" in detail.text_of("classad")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, JobDetailScreen), "closed")
        assert app.unexpected_errors == 0


async def test_hold_release_and_remove_jobs_and_batches_with_reasons_and_confirmation(
    settings: Settings, job_dir: Path
) -> None:
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        queue = app.clients.queue
        assert queue is not None
        result = await queue.submit(DO_CATALOGUE_SUB, submit_dir=job_dir)
        cluster = result.cluster
        await pilot.press("5")
        view = queue_view(app)
        await wait_for(pilot, lambda: only_batch(view) is not None, "the batch")

        # enter on the batch: its jobs.
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.mode == "jobs" and len(rows(view)) == 4, "its jobs")
        assert view.table.filter_text == f'batch="ID: {cluster}"'
        await wait_for(
            pilot, lambda: status_of(view, f"{cluster}.0") == "R", "the first job running"
        )

        # Hold an idle job with a reason; the held view shows it.
        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press(*"input missing", "enter")
        await wait_for(pilot, lambda: status_of(view, f"{cluster}.1") == "H", "held")
        await pilot.press("H")
        await wait_for(pilot, lambda: view.mode == "held" and len(rows(view)) == 1, "held view")
        assert str(rows(view)[0][1]) == f"{cluster}.1"  # after the mark column
        assert rows(view)[0][5] == "input missing"
        assert str(view.query_one("#queue-totals", Static).content).startswith("1 held job")

        # Release it from the held view.
        await pilot.press("u")
        await wait_for(pilot, lambda: view.state == "empty", "no held job left")

        # Remove another idle job: a reason, then the confirmation.
        await pilot.press("n")
        await wait_for(pilot, lambda: view.mode == "jobs" and len(rows(view)) == 4, "jobs")
        view.table.move_cursor_to_key(f"{cluster}.2")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press(*"not needed", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: status_of(view, f"{cluster}.2") == "X", "removed")
        ad = await queue.job_ad(JobId(cluster, 2))
        assert ad["RemoveReason"] == "not needed"

        # Saying no to the confirmation removes nothing.
        view.table.move_cursor_to_key(f"{cluster}.3")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "cancelled")
        assert status_of(view, f"{cluster}.3") == "I"

        # escape: first the filter goes, then back to the batches.
        await pilot.press("escape")
        assert view.table.filter_text == "" and view.mode == "jobs"
        await pilot.press("escape")
        await wait_for(pilot, lambda: only_batch(view) is not None, "the batch view")

        # Hold and release the whole batch.
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press("enter")

        def held(count: int) -> Callable[[], bool]:
            def check() -> bool:
                row = only_batch(view)
                return row is not None and row.batch.held == count

            return check

        await wait_for(pilot, held(3), "the batch held")
        await pilot.press("u")
        await wait_for(pilot, held(0), "the batch released")

        open_gate(job_dir)

        def complete() -> bool:
            row = only_batch(view)
            return row is not None and not row.in_queue

        await wait_for(pilot, complete, "the batch to complete")
        totals = str(view.query_one("#queue-totals", Static).content)
        assert totals.startswith("4 jobs; 3 completed, 1 removed, 0 idle, 0 running, 0 held")
        assert app.unexpected_errors == 0


async def test_mark_jobs_with_space_then_hold_release_and_remove_them_together(
    settings: Settings, job_dir: Path
) -> None:
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        queue = app.clients.queue
        assert queue is not None
        cluster = (await queue.submit(DO_CATALOGUE_SUB, submit_dir=job_dir)).cluster
        await pilot.press("5", "n")
        view = queue_view(app)
        await wait_for(pilot, lambda: view.mode == "jobs" and len(rows(view)) == 4, "the jobs")

        # space marks the row and moves down: mark .1 and .2, leave .3 alone.
        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("space", "space")
        assert view.marked == {f"{cluster}.1", f"{cluster}.2"}
        marks = {str(row[1]): row[0] for row in rows(view)}
        assert marks[f"{cluster}.1"] == marks[f"{cluster}.2"] == "✓"
        assert marks[f"{cluster}.3"] == ""
        assert "2 marked" in str(view.query_one(".view-status", Static).content)

        # h holds the marked jobs (not the one under the cursor) and clears the marks.
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press(*"bulk", "enter")
        await wait_for(
            pilot,
            lambda: status_of(view, f"{cluster}.1") == status_of(view, f"{cluster}.2") == "H",
            "both held",
        )
        assert status_of(view, f"{cluster}.3") == "I"
        assert view.marked == set()
        assert all(row[0] == "" for row in rows(view))
        assert any("Held 2 jobs of 2 marked rows" in text for text in notifications(app))

        # space twice on the same row unmarks it; then release both held jobs at once.
        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("space")
        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("space")
        assert view.marked == set()
        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("space", "space")
        await pilot.press("u")
        await wait_for(
            pilot,
            lambda: status_of(view, f"{cluster}.1") == status_of(view, f"{cluster}.2") == "I",
            "both released",
        )

        # Remove two marked jobs: one confirmation for both.
        view.table.move_cursor_to_key(f"{cluster}.2")
        await pilot.press("space", "space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, JobReasonScreen), "the reason")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "2 marked rows" in str(app.screen.query_one("#confirm-message", Static).content)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: status_of(view, f"{cluster}.2") == status_of(view, f"{cluster}.3") == "X",
            "both removed",
        )
        assert status_of(view, f"{cluster}.1") == "I"

        # t traces the job's batch (snapshot, flavor, instance, jobs, outputs).
        from canfar_tui.screens.trace import TraceScreen

        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace")
        trace = app.screen
        assert isinstance(trace, TraceScreen) and trace.cluster == cluster
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TraceScreen), "closed")

        # E edits an idle (or held) job: the condor_qedit form.
        from canfar_tui.screens.job_edit import JobEditScreen

        view.table.move_cursor_to_key(f"{cluster}.1")
        await pilot.press("E")
        await wait_for(pilot, lambda: isinstance(app.screen, JobEditScreen), "the edit form")
        await pilot.press("escape")
        open_gate(job_dir)
        assert app.unexpected_errors == 0


async def test_lint_errors_keep_the_submit_screen_from_submitting(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)  # no do_catalogue.bash here
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        view = queue_view(app)
        await wait_for(pilot, lambda: view.state == "empty", "an empty queue")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen), "the submit screen")
        submit = app.screen
        assert isinstance(submit, SubmitScreen)
        await pilot.press("ctrl+t")

        def checked() -> bool:
            preview = submit.preview
            return preview is not None and preview.inputs == submit.current_inputs()

        await wait_for(pilot, checked, "the lint of the template")
        assert submit.preview is not None
        (error,) = submit.preview.report.errors
        assert error.line == 1 and "do_catalogue.bash does not exist" in error.message
        assert submit.query_one("#submit-go").disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is submit
        assert any("Fix the submit file" in n or "does not exist" in n for n in notifications(app))
        queue = app.clients.queue
        assert queue is not None
        assert await queue.list_jobs() == []
        await pilot.press("escape")  # nothing edited: closes without asking
        await wait_for(pilot, lambda: app.screen is not submit, "closed")
        assert app.unexpected_errors == 0


async def test_read_only_hides_submit_hold_release_and_remove(settings: Settings) -> None:
    app = create_app(replace(settings, read_only=True), build_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        view = queue_view(app)
        await wait_for(pilot, lambda: view.state != "loading", "the queue")
        for action in ("submit", "hold", "release", "remove"):
            assert view.check_action(action, ()) is False
        assert view.check_action("jobs_view", ()) is True
        active = app.screen.active_bindings
        assert not {"b", "h", "u", "d"} & set(active)
        assert {"n", "a"} <= set(active)
        await pilot.press("b")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, SubmitScreen)
        help_ids = {row[2] for _, section in app.help_sections() for row in section}
        assert "queue.nobatch" in help_ids
        assert not help_ids & {"queue.submit", "queue.hold", "queue.release", "queue.remove"}
        commands = {name for name, _, _ in CanfarCommands(app.screen)._commands()}
        assert "queue: jobs" in commands
        assert not commands & {"queue: submit", "queue: hold", "queue: release", "queue: remove"}
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- pure helpers


def test_merge_batches_keeps_queue_counts_and_adds_complete_batches_from_history() -> None:
    from datetime import UTC, datetime

    from canfar_tui.models import Batch, Job, JobStatus
    from canfar_tui.widgets.queue.rows import merge_batches

    when = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    in_queue = Batch("me", "ID: 12", when, 2, 1, 1, 0, 4, (JobId(12, 2), JobId(12, 3)))
    history = [
        Job(JobId(12, 0), "me", JobStatus.COMPLETED, batch_name="ID: 12", submitted=when),
        Job(JobId(12, 1), "me", JobStatus.REMOVED, batch_name="ID: 12", submitted=when),
        Job(JobId(11, 1), "me", JobStatus.COMPLETED, batch_name="ID: 11", submitted=when),
        Job(JobId(11, 0), "me", JobStatus.REMOVED, batch_name="ID: 11", submitted=when),
    ]
    rows = {row.key: row for row in merge_batches([in_queue], history)}
    assert rows["me/ID: 12"].in_queue
    assert (rows["me/ID: 12"].completed, rows["me/ID: 12"].removed) == (1, 1)
    done = rows["me/ID: 11"]
    assert not done.in_queue
    assert (done.batch.done, done.batch.total, done.completed, done.removed) == (2, 2, 1, 1)
    assert done.batch.job_ids == (JobId(11, 0), JobId(11, 1))


def test_job_ids_progress_and_cells_read_like_condor_q() -> None:
    from datetime import timedelta

    from canfar_tui.models import Batch
    from canfar_tui.widgets.queue.rows import (
        JobIdCell,
        RunTime,
        job_ids_text,
        progress_bar,
    )

    assert job_ids_text([JobId(12, 0), JobId(12, 3)]) == "12.0-3"
    assert job_ids_text([JobId(12, 0)]) == "12.0"
    assert job_ids_text([JobId(12, 1), JobId(13, 0)]) == "12.1 ... 13.0"
    assert job_ids_text([]) == ""
    batch = Batch("me", "b", None, done=2, running=1, idle=0, held=1, total=4)
    bar = progress_bar(BatchRow(batch, 2, 0), width=8).plain
    assert bar == "████▓▓!!  50%"
    assert progress_bar(BatchRow(batch, 4, 0, in_queue=False), width=4).plain.endswith(" complete")
    cells = sorted([JobIdCell(JobId(12, 10)), JobIdCell(JobId(12, 9)), JobIdCell(JobId(3, 0))])
    assert [str(cell) for cell in cells] == ["3.0", "12.9", "12.10"]
    assert str(RunTime(seconds=3723)) == "0+01:02:03"
    assert RunTime(seconds=5) < timedelta(seconds=6)


async def test_a_burst_of_holds_is_one_notification_a_few_are_one_each(make_app: Any) -> None:
    from datetime import UTC, datetime

    from canfar_tui.models import JobEvent, JobEventKind

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        view = queue_view(app)
        now = datetime.now(UTC)

        def held(count: int, cluster: int) -> list[JobEvent]:
            reasons = ["memory exceeded"] * (count - 1) + ["disk exceeded"]
            return [
                JobEvent(JobId(cluster, proc), JobEventKind.HELD, now, text=reason)
                for proc, reason in enumerate(reasons)
            ]

        view._on_events(held(2, 7))
        await pilot.pause()
        assert [t for t in notifications(app) if "hold" in t] == [
            "Job 7.0 is on hold: memory exceeded",
            "Job 7.1 is on hold: disk exceeded",
        ]
        view._on_events(held(500, 8))
        await pilot.pause()
        burst = [t for t in notifications(app) if "hold" in t][2:]
        assert burst == [
            "500 jobs went on hold; 499 of them: memory exceeded (and 1 other reason). "
            "H lists them with their reasons."
        ]
