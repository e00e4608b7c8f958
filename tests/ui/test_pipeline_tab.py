"""The Pipeline tab driven by keys on the real sandbox: IDs → files → batch → outcome → resubmit.

The sandbox bundle is the real one (the sandbox cloud, the local HTCondor-like executor, the
loopback VOSpace service, the sandbox archive of synthetic MegaCam exposures): the jobs really
run ``python -m canfar_tui get/detect/put`` and the catalogues really land in VOSpace. The
seed's four IDs arrive; 9999999p is not in the sandbox archive and fails at "fetch".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.widgets import DirectoryTree, Input, Select, Static, TextArea

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.batch.pipeline import PipelineError, PipelineSpec
from canfar_tui.batch.pipeline_inputs import (
    format_overrides,
    job_settings,
    overrides_from_detect,
    parse_overrides_text,
    snapshot_warning,
)
from canfar_tui.batch.pipeline_run import Arrived, Failed, PipelineOutcome
from canfar_tui.batch.run_state import PipelineRun, run_from_json, run_to_json
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Settings
from canfar_tui.models import Image, ImageKind, Instance
from canfar_tui.screens.details import DetailsScreen
from canfar_tui.screens.file_picker import FilePickerScreen
from canfar_tui.widgets.detect.view import DetectView
from canfar_tui.widgets.pipeline.outcome import outcome_rows
from canfar_tui.widgets.pipeline.view import PipelineView
from canfar_tui.widgets.queue.rows import BatchRow
from canfar_tui.widgets.queue.view import QueueView
from canfar_tui.widgets.resource_table import ResourceTable

SIZE = (120, 36)
SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
BROKEN = "9999999p"


def sandbox_clients(settings: Settings) -> Clients:
    """The sandbox's own services, with a two-slot executor that stops its jobs on close."""
    from canfar_tui.clients.bundle import start_sandbox_storage
    from canfar_tui.clients.cloud.sandbox import SandboxCloud
    from canfar_tui.clients.credentials import CadcCredentials
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    sandbox = settings.paths.data_dir / "sandbox"
    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(sandbox / "cloud.sqlite"),
        queue=lambda: SandboxQueue(sandbox / "queue", slots=2),
        storage=lambda: start_sandbox_storage(sandbox),
        credentials=lambda: CadcCredentials.for_sandbox(
            sandbox / "credentials", initial_validity=timedelta(days=10)
        ),
        mode_label="SANDBOX",
    )


async def wait_for(
    pilot: Any, condition: Callable[[], object], what: str, seconds: float = 30
) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def pipeline_view(app: CanfarApp) -> PipelineView:
    view = app.view("pipeline")
    assert isinstance(view, PipelineView)
    return view


def notifications(app: CanfarApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def text_of(view: PipelineView, selector: str) -> str:
    return str(view.query_one(selector, Static).content)


def table_rows(table: ResourceTable) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for key in table.visible_keys():
        cells = table.get_row(key) or ()
        rows[str(key)] = [
            c.plain if isinstance(c, Text) else ("" if c is None else str(c)) for c in cells
        ]
    return rows


async def type_text(pilot: Any, text: str) -> None:
    keys = {" ": "space", "\n": "enter", "=": "equals_sign", ".": "full_stop"}
    await pilot.press(*(keys.get(char, char) for char in text))


async def paste(pilot: Any, text: str) -> None:
    """Paste ``text`` into the focused widget, as the terminal driver does."""
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def open_pipeline(pilot: Any) -> PipelineView:
    await pilot.press("8")
    app = pilot.app
    await wait_for(pilot, lambda: app.view("pipeline") is not None, "the Pipeline tab")
    view = pipeline_view(app)
    await wait_for(pilot, lambda: view.choices_loaded, "the snapshots and flavors")
    await wait_for(
        pilot, lambda: view.query_one("#pipeline-ids", TextArea).has_focus, "focus on the IDs"
    )
    return view


def queued_batch(view: QueueView, cluster: int) -> BatchRow | None:
    if view.poller is None:
        return None
    for row in view.poller.rows.values():
        if isinstance(row, BatchRow) and any(j.cluster == cluster for j in row.batch.job_ids):
            return row
    return None


# --------------------------------------------------------------------------- end to end


def failure_report(rows: dict[str, list[str]], submit_dir: Path) -> str:
    """The outcome rows, then the error and output files of every job not marked ✓ (a rare
    failure of one seed ID under load is otherwise not diagnosable once the run is gone)."""
    lines = [" | ".join(cells) for cells in rows.values()]
    for obs_id, cells in rows.items():
        if cells and cells[0] == "✓":
            continue
        for suffix in ("err", "out"):
            path = submit_dir / f"do_catalogue-{obs_id}.{suffix}"
            text = path.read_text(errors="replace")[-3000:] if path.exists() else "(none)"
            lines.append(f"--- {path.name}:\n{text}")
    return "\n".join(lines)


async def test_seed_ids_and_a_broken_one_through_the_pipeline_then_resubmit_the_broken_one(
    settings: Settings,
) -> None:
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        view = await open_pipeline(pilot)
        assert view.query_one("#pipeline-folder", Input).value == "vos:sandbox-user/catalogues/"
        await paste(pilot, "\n".join((*SEED_IDS, BROKEN)))
        await pilot.press("tab", "tab")  # the folder, then the detection parameters
        assert view.query_one("#pipeline-overrides", Input).has_focus
        await type_text(pilot, "DETECT_THRESH=3")
        status = text_of(view, "#pipeline-status")
        assert "5 IDs → vos:sandbox-user/catalogues/" in status
        assert "detect: DETECT_THRESH=3" in status

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: view.preview_current, "the lint of the generated files")
        script = view.query_one("#pipeline-script", TextArea).text
        submit = view.query_one("#pipeline-submit", TextArea).text
        assert "-m canfar_tui" in script  # the sandbox jobs run this Python
        assert f"canfar-tui --profile {settings.profile.name} get -q" in script
        assert text_of(view, "#pipeline-kind") == (
            "canfar-tui on the worker: the sandbox runs jobs on this machine"
        )
        assert "--workers 1 --set DETECT_THRESH=3" in script
        assert "put ${id}.cat vos:sandbox-user/catalogues/" in script
        assert "queue arguments from (\n  1056215p\n" in submit and f"  {BROKEN}\n)" in submit
        lint = text_of(view, "#pipeline-lint")
        assert lint.startswith("Lint: no problem found · dry run: 5 jobs: 1056215p")

        # The snapshot: canfar-rocky-8 instead of the default, chosen by keys.
        await pilot.press("tab")
        image_select = view.query_one("#pipeline-image", Select)
        assert image_select.has_focus
        assert view.selected_image is not None
        assert view.selected_image.name == "canfar-ubuntu-20.04"
        await pilot.press("enter")
        await pilot.pause(0.1)
        await pilot.press("down", "enter")
        await wait_for(
            pilot,
            lambda: (
                view.selected_image is not None and view.selected_image.name == "canfar-rocky-8"
            ),
            "canfar-rocky-8",
        )
        assert view.selected_flavor is not None
        assert view.selected_flavor.name == "c2-7.5gb-30"
        await wait_for(pilot, lambda: view.preview_current, "the lint with the new snapshot")

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.active_tab_id == "queue", "the jump to the Queue tab")
        run = view.run
        assert run is not None and run.num_jobs == 5 and run.image == "canfar-rocky-8"
        assert run.submit_dir.parent == settings.paths.data_dir / "pipeline" / "runs"
        assert (run.submit_dir / "do_catalogue.bash").read_text(encoding="utf-8") == script
        assert (run.submit_dir / "do_catalogue.sub").read_text(encoding="utf-8") == submit
        queue = app.view("queue")
        assert isinstance(queue, QueueView)
        await wait_for(pilot, lambda: queued_batch(queue, run.cluster) is not None, "the batch")
        batch = queued_batch(queue, run.cluster)
        assert batch is not None
        await wait_for(pilot, lambda: queue.table.cursor_key == batch.key, "the cursor on it")
        ad = await app.clients.queue.job_ad(batch.batch.job_ids[0])  # type: ignore[union-attr]
        assert "canfar-rocky-8" in str(ad.get("VMImage"))  # canfar_submit's rewrite applied

        await wait_for(pilot, lambda: run.finished, "the batch to finish", seconds=90)
        await pilot.press("8")
        table = view.query_one("#pipeline-outcome", ResourceTable)
        await wait_for(pilot, lambda: table.has_focus, "focus on the outcome")
        rows = table_rows(table)
        assert list(rows) == [*SEED_IDS, BROKEN], failure_report(rows, run.submit_dir)
        storage = app.clients.storage
        assert storage is not None
        for obs_id in SEED_IDS:
            mark, shown_id, uri, size, md5 = rows[obs_id]
            assert (mark, shown_id, uri) == (
                "✓",
                obs_id,
                f"vos:sandbox-user/catalogues/{obs_id}.cat",
            )
            local = run.submit_dir / f"{obs_id}.copy"
            await storage.download(uri, local)
            data = local.read_bytes()
            assert md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
            assert int(size) == len(data)
            assert data.startswith(b"#   1 NUMBER")
        mark, shown_id, reason, size, md5 = rows[BROKEN]
        assert (mark, shown_id, size, md5) == ("✗", BROKEN, "", "")
        assert reason.startswith(f"do_catalogue {BROKEN}: fetch failed (exit 1): ")
        assert "Not in the sandbox archive" in reason
        status = text_of(view, "#pipeline-run-status")
        assert "4 catalogues in vos:sandbox-user/catalogues/, 1 failed" in status
        assert any("4 catalogues in VOSpace, 1 failed" in n for n in notifications(app))

        # The highlighted line in full under the table; enter: all of it in a dialog.
        assert text_of(view, "#pipeline-row-detail").startswith(f"✓ {rows[SEED_IDS[0]][2]}  md5=")
        await pilot.press("end")
        assert table.cursor_key == BROKEN
        assert text_of(view, "#pipeline-row-detail") == f"✗ {BROKEN}: {reason}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), "the details")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen), "closed")

        # r: the broken ID alone, as a new one-job batch.
        first_cluster = run.cluster
        await pilot.press("r")
        await wait_for(pilot, lambda: view.run is not run, "the resubmission")
        retry = view.run
        assert retry is not None
        assert (retry.ids, retry.num_jobs) == ((BROKEN,), 1)
        assert retry.cluster != first_cluster
        assert retry.submit_dir != run.submit_dir
        assert "queue arguments from (\n  9999999p\n)\n" in (
            retry.submit_dir / "do_catalogue.sub"
        ).read_text(encoding="utf-8")
        await wait_for(pilot, lambda: app.active_tab_id == "queue", "the Queue tab again")
        await wait_for(
            pilot, lambda: queued_batch(queue, retry.cluster) is not None, "the new batch"
        )
        new_batch = queued_batch(queue, retry.cluster)
        assert new_batch is not None and new_batch.batch.total == 1
        await wait_for(pilot, lambda: retry.finished, "the retry to finish", seconds=60)
        # It fails again for the same reason; the four catalogues stay listed.
        rows = table_rows(table)
        assert list(rows) == [*SEED_IDS, BROKEN]
        assert [rows[obs_id][0] for obs_id in SEED_IDS] == ["✓"] * 4
        assert rows[BROKEN][2] == reason

        # The last run survives a restart of the view (kept on disk).
        saved = json.loads((settings.paths.data_dir / "pipeline" / "last-run.json").read_text())
        assert run_from_json(saved).cluster == retry.cluster
        assert app.unexpected_errors == 0


async def test_ids_from_a_file_and_bad_input_are_one_line_messages(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "exposures.txt").write_text("# the seed\n1056215p, 1056216p\n1056217p\n")
    monkeypatch.chdir(folder)
    app = create_app(settings, sandbox_clients(settings))
    async with app.run_test(size=SIZE) as pilot:
        view = await open_pipeline(pilot)
        await pilot.press("ctrl+g")  # nothing typed yet
        await pilot.pause(0.1)
        assert "no observation IDs given" in notifications(app)
        assert view.generated is None
        await type_text(pilot, "1056215p ../etc")
        assert "! invalid observation ID: '../etc' → vos:sandbox-user/catalogues/" in text_of(
            view, "#pipeline-status"
        )
        await pilot.press("ctrl+g")
        await pilot.pause(0.1)
        assert any("invalid observation ID: '../etc'" in n for n in notifications(app))

        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePickerScreen), "the picker")
        tree = app.screen.query_one("#picker-tree", DirectoryTree)
        await wait_for(pilot, lambda: len(tree.root.children) == 1, "exposures.txt listed")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, FilePickerScreen), "closed")
        ids = view.query_one("#pipeline-ids", TextArea)
        assert ids.text == "1056215p\n1056216p\n1056217p\n"
        assert "3 IDs read from exposures.txt" in notifications(app)

        await pilot.press("tab", "tab")
        await paste(pilot, "DETECT_THRESH=-1")
        await pilot.press("ctrl+g")
        await pilot.pause(0.1)
        assert view.generated is None
        message = notifications(app)[-1]
        assert "DETECT_THRESH" in message and "\n" not in message

        # A good form; then an edit of the submit file that the lint refuses.
        overrides = view.query_one("#pipeline-overrides", Input)
        overrides.value = ""
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: view.preview_current, "the lint")
        editor = view.query_one("#pipeline-submit", TextArea)
        editor.focus()
        await pilot.press(*["up"] * 15, "home")
        await paste(pilot, "requirements = true\n")
        await wait_for(
            pilot,
            lambda: view.preview_current and "(edited)" in str(editor.border_title),
            "the lint of the edit",
        )
        lint = text_of(view, "#pipeline-lint")
        assert "✗ submit file line 1: error:" in lint
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.active_tab_id == "pipeline" and view.run is None
        assert any("Fix the files first" in (n.title or "") for n in app._notifications)
        queue = app.clients.queue
        assert queue is not None
        assert list(await queue.list_jobs()) == []
        assert not (settings.paths.data_dir / "pipeline" / "runs").exists() or not any(
            (settings.paths.data_dir / "pipeline" / "runs").iterdir()
        )
        assert app.unexpected_errors == 0


async def test_detect_params_come_to_the_pipeline_with_p(
    make_app: Callable[..., CanfarApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.view("detect"), DetectView), "Detect")
        detect = app.view("detect")
        assert isinstance(detect, DetectView)
        await wait_for(pilot, lambda: detect.query_one("#detect-image", Input).has_focus, "focus")
        await pilot.press("tab", "tab")
        assert detect.query_one("#detect-thresh", Input).has_focus
        await type_text(pilot, "3.0")
        await pilot.press("tab", *"5")  # DETECT_MINAREA
        await pilot.press("ctrl+b")  # p types into the form; ctrl+b works everywhere on it
        await wait_for(pilot, lambda: app.active_tab_id == "pipeline", "the Pipeline tab")
        view = pipeline_view(app)
        overrides = view.query_one("#pipeline-overrides", Input)
        assert overrides.value == "DETECT_THRESH=3 DETECT_MINAREA=5"
        assert "detect: DETECT_THRESH=3 DETECT_MINAREA=5" in text_of(view, "#pipeline-status")

        # Changed on the Detect tab: taken again when the Pipeline tab is shown (not edited here).
        assert view.query_one("#pipeline-ids", TextArea).has_focus
        await pilot.press("escape", "7")  # leave the IDs field: 7 is the Detect tab again
        await wait_for(pilot, lambda: app.active_tab_id == "detect", "Detect again")
        await wait_for(pilot, lambda: detect.query_one("#detect-image", Input).has_focus, "focus")
        await pilot.press("tab", "tab", "tab", "backspace")  # DETECT_MINAREA back to default
        assert detect.query_one("#detect-minarea", Input).value == ""
        await pilot.press("tab", "tab", "tab", "tab")
        assert detect.query_one("#detect-format").has_focus
        await pilot.press("p")  # outside a text field, p is the key
        await wait_for(pilot, lambda: app.active_tab_id == "pipeline", "the Pipeline tab")
        assert overrides.value == "DETECT_THRESH=3"
        # A profile without VOSpace says so in one line; the folder is left to the user.
        assert "catalogues not checked: This test profile has no VOSpace." in text_of(
            view, "#pipeline-status"
        )
        assert view.query_one("#pipeline-folder", Input).value == ""
        assert app.unexpected_errors == 0


async def test_read_only_hides_submit_and_resubmit(make_app: Callable[..., CanfarApp]) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_pipeline(pilot)
        assert view.check_action("submit", ()) is False
        assert view.check_action("resubmit", ()) is False
        assert view.check_action("generate", ()) is True
        active = app.screen.active_bindings
        assert "ctrl+s" not in active and "r" not in active
        assert "ctrl+g" in active
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert view.run is None and view.generated is None
        help_ids = {row[2] for _, section in app.help_sections() for row in section}
        assert "pipeline.generate" in help_ids
        assert not help_ids & {"pipeline.submit", "pipeline.resubmit"}
        assert app.unexpected_errors == 0


async def test_a_profile_without_a_queue_says_so_in_one_line(settings: Settings) -> None:
    from fakes import FixedCloud

    clients = Clients(
        "sandbox",
        cloud=FixedCloud(),
        missing={"queue": "This profile has no batch queue."},
        mode_label="SANDBOX",
    )
    app = create_app(settings, clients)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_pipeline(pilot)
        assert text_of(view, "#pipeline-status") == (
            "Pipeline · no batch queue: This profile has no batch queue."
        )
        assert view.check_action("submit", ()) is None
        await type_text(pilot, "1056215p")
        await pilot.press("ctrl+s")  # disabled: nothing happens
        await pilot.pause(0.1)
        assert view.run is None and view.generated is None
        assert app.unexpected_errors == 0


async def test_the_last_run_is_shown_again_after_a_restart(
    make_app: Callable[..., CanfarApp], settings: Settings
) -> None:
    arrived = tuple(Arrived(i, f"vos:me/cats/{i}.cat", "0" * 32, 10) for i in SEED_IDS)
    run = make_run(outcome=PipelineOutcome(arrived, (Failed(BROKEN, "fetch failed"),)))
    path = settings.paths.data_dir / "pipeline" / "last-run.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(run_to_json(run)))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        view = await open_pipeline(pilot)
        await wait_for(pilot, lambda: view.run is not None, "the last run")
        assert view.run == run
        assert view.check_action("resubmit", ()) is True
        await pilot.press("ctrl+l")
        table = view.query_one("#pipeline-outcome", ResourceTable)
        assert table.has_focus
        assert [row[0] for row in table_rows(table).values()] == ["✓"] * 4 + ["✗"]
        assert "4 catalogues in vos:me/cats/, 1 failed" in text_of(view, "#pipeline-run-status")
        await pilot.press("ctrl+l")  # back to the form
        assert view.query_one("#pipeline-ids", TextArea).has_focus
    path.write_text("{not json")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:  # a damaged file is ignored (and logged)
        view = await open_pipeline(pilot)
        await pilot.pause(0.2)
        assert view.run is None and view.check_action("toggle_run", ()) is False
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- pure helpers


def test_overrides_text_round_trips_and_detect_values_are_normalised() -> None:
    assert parse_overrides_text("detect_thresh=3  BACK_SIZE=128,128") == {
        "DETECT_THRESH": "3",
        "BACK_SIZE": "128,128",
    }
    assert format_overrides({"DETECT_THRESH": "3", "BACK_SIZE": "128,128"}) == (
        "DETECT_THRESH=3 BACK_SIZE=128,128"
    )
    assert parse_overrides_text("") == {}
    with pytest.raises(PipelineError):
        parse_overrides_text("DETECT_THRESH")
    # Defaults drop out; "3.0" reads as 3; a bad value is kept as typed (generate names it).
    assert overrides_from_detect({"DETECT_THRESH": "3.0", "DETECT_MINAREA": "3"}) == {
        "DETECT_THRESH": "3"
    }
    assert overrides_from_detect({"BACK_SIZE": "128, 128"}) == {"BACK_SIZE": "128,128"}
    assert overrides_from_detect({"DETECT_THRESH": "-1"}) == {"DETECT_THRESH": "-1"}
    assert overrides_from_detect({}) == {}


def test_job_settings_use_this_python_only_for_the_sandbox_executor(tmp_path: Path) -> None:
    import sys

    from fakes import FixedQueue

    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    assert job_settings(None) == (("canfar-tui",), None)
    assert job_settings(FixedQueue()) == (("canfar-tui",), None)
    queue = SandboxQueue(tmp_path / "queue", slots=1)
    try:
        assert job_settings(queue) == ((sys.executable, "-m", "canfar_tui"), 1)
    finally:
        import asyncio

        asyncio.run(queue.aclose())


def test_snapshot_warning_names_a_running_source_or_an_inactive_image() -> None:
    running = Instance(id="i-1", name="catalogue-vm", status="ACTIVE")
    stopped = Instance(id="i-2", name="old-vm", status="SHUTOFF")
    snapshot = Image("s-1", "reduction", "active", ImageKind.SNAPSHOT, source_instance_id="i-1")
    instances = {"i-1": running, "i-2": stopped}
    warning = snapshot_warning(snapshot, instances)
    assert warning == (
        "reduction was taken from catalogue-vm, which is still running: "
        "changes made there since are not in the snapshot."
    )
    assert snapshot_warning(replace(snapshot, source_instance_id="i-2"), instances) == ""
    assert snapshot_warning(replace(snapshot, source_instance_id="gone"), instances) == ""
    saving = replace(snapshot, status="queued")
    assert snapshot_warning(saving, instances) == (
        "reduction is queued, not active: batch VMs cannot boot it."
    )
    assert snapshot_warning(None, instances) == ""
    assert snapshot_warning(Image("i", "canfar-ubuntu-20.04", "active"), instances) == ""


def make_run(**changes: object) -> PipelineRun:
    spec = PipelineSpec(
        (*SEED_IDS, BROKEN), "vos:me/cats", {"DETECT_THRESH": "3"}, ("canfar-tui",), 1
    )
    run = PipelineRun(
        spec=spec,
        submit_dir=Path("/data/pipeline/runs/1"),
        cluster=12,
        num_jobs=5,
        batch_name="ID: 12",
        image="canfar-ubuntu-20.04",
        flavor="c2-7.5gb-30",
        ids=spec.ids,
        order=spec.ids,
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def test_a_resubmission_keeps_the_catalogues_that_arrived_before_in_order() -> None:
    first = make_run()
    assert first.combined() is None and not first.finished
    arrived = tuple(Arrived(i, f"vos:me/cats/{i}.cat", "0" * 32, 10) for i in SEED_IDS)
    retry = make_run(
        ids=(BROKEN,),
        kept=arrived[1:],
        outcome=PipelineOutcome(
            (Arrived(BROKEN, f"vos:me/cats/{BROKEN}.cat", "1" * 32, 11),),
            (Failed(SEED_IDS[0], "do_catalogue 1056215p: upload failed"),),
        ),
    )
    combined = retry.combined()
    assert combined is not None
    assert [a.obs_id for a in combined.arrived] == [*SEED_IDS[1:], BROKEN]
    assert combined.to_resubmit() == (SEED_IDS[0],)
    rows = outcome_rows(combined)
    assert list(rows) == [*SEED_IDS[1:], BROKEN, SEED_IDS[0]]
    assert rows[BROKEN][1:] == (BROKEN, f"vos:me/cats/{BROKEN}.cat", 11, "1" * 32)
    assert rows[SEED_IDS[0]][2] == "do_catalogue 1056215p: upload failed"


def test_the_run_file_round_trips_and_refuses_anything_else() -> None:
    run = make_run(
        kept=(Arrived("1056215p", "vos:me/cats/1056215p.cat", None, None),),
        outcome=PipelineOutcome((), (Failed(BROKEN, "fetch failed"),)),
    )
    again = run_from_json(json.loads(json.dumps(run_to_json(run))))
    assert again == run
    assert run_from_json(run_to_json(make_run())).outcome is None
    for bad in ({}, {"version": 99}, {**run_to_json(run), "ids": ["../x"]}, {"version": 1}):
        with pytest.raises(ValueError, match=r"pipeline run|version"):
            run_from_json(bad)


async def test_in_a_text_field_the_footer_shows_f1_help_and_f1_opens_it(
    make_app: Callable[..., CanfarApp],
) -> None:
    """Issue 15: at 80×24, with the IDs field focused, the footer had no help key (``?`` is
    typed there). Now it shows ``f1 Help`` and how to leave the field, and f1 opens help."""
    from canfar_tui.screens.help import HelpScreen
    from canfar_tui.widgets.footer import DashboardFooter

    def footer() -> dict[str, str]:
        spans = pilot.app.screen.query_one(DashboardFooter).shown
        return {span.label: span.key_display for span in spans}

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_pipeline(pilot)
        ids = view.query_one("#pipeline-ids", TextArea)
        for field in ("#pipeline-ids", "#pipeline-folder", "#pipeline-overrides"):
            view.query_one(field).focus()
            await pilot.pause(0.2)
            shown = footer()
            assert shown.get("Help") == "f1", (field, shown)
            assert shown.get("Leave field") == "esc", (field, shown)
        ids.focus()
        await pilot.press("question_mark")  # typed: it is a text field
        await pilot.pause(0.1)
        assert ids.text == "?"
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")
        assert ids.text == "?"
        await pilot.press("escape")  # leave the field: ? is the help key again
        await pilot.pause(0.2)
        assert not ids.has_focus
        assert footer().get("Help") == "?"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help by ?")
        assert app.unexpected_errors == 0
