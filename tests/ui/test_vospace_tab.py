"""The VOSpace tab driven by keys on the real sandbox: the project's VOSpace service through the
real ``vos`` client, the sandbox archive, and the transfers panel.

The bundle is the sandbox's own (``build_clients``) except that the storage backend is pointed
at a service this module starts, so the tests can reach its FaultPlan (stalls, cut-offs,
corruption) and retry without waiting.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from canfar_tui.app import CanfarApp, CanfarCommands, create_app
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.clients.storage.loopback import RunningVOSpace, start_server
from canfar_tui.clients.storage.vospace import RetryPolicy, VOSpaceStorage
from canfar_tui.config import Settings
from canfar_tui.models import TransferState
from canfar_tui.screens.confirm import ConfirmScreen
from canfar_tui.screens.details import DetailsScreen
from canfar_tui.screens.vospace_dialogs import (
    ArchiveFetchScreen,
    PromptScreen,
    UploadPickerScreen,
)
from canfar_tui.widgets.transfers import TransferJob
from canfar_tui.widgets.vospace.view import VOSpaceView

SIZE = (120, 36)


@dataclass
class Sandbox:
    """The app under test and the VOSpace service behind it."""

    app: CanfarApp
    server: RunningVOSpace
    storage: VOSpaceStorage

    @property
    def home(self) -> Path:
        """The service's folder for the user's home (what the user's VOSpace holds)."""
        return self.server.root / self.server.username


@pytest.fixture
async def sandbox(settings: Settings, tmp_path: Path) -> AsyncIterator[Callable[..., Sandbox]]:
    made: list[Sandbox] = []

    def make(*, read_only: bool = False) -> Sandbox:
        chosen = replace(settings, read_only=read_only)
        base = build_clients(chosen)  # the sandbox's own cloud, queue and credentials
        server = start_server(tmp_path / "vospace-root")
        storage = VOSpaceStorage.for_sandbox(
            server,
            tmp_path / "vos-client",
            owns_server=True,
            retry=RetryPolicy(attempts=2, first_delay=0.0),
        )
        clients = Clients(
            base.profile_name,
            cloud=lambda: base.cloud,  # type: ignore[arg-type,return-value]
            queue=lambda: base.queue,  # type: ignore[arg-type,return-value]
            storage=storage,
            credentials=lambda: base.credentials,  # type: ignore[arg-type,return-value]
            archive=lambda: base.archive,  # type: ignore[arg-type,return-value]
            mode_label=base.mode_label,
        )
        made.append(Sandbox(create_app(chosen, clients), server, storage))
        return made[-1]

    yield make
    for box in made:
        box.server.faults.clear()  # let stalled requests finish
        box.server.stop()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def random_file(path: Path, size: int) -> str:
    path.write_bytes(os.urandom(size))
    return md5_of(path)


async def until(pilot: Any, condition: Callable[[], object], *, steps: int = 400) -> None:
    """Poll ``condition`` (bounded): 400 × 50 ms at most."""
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def open_vospace(pilot: Any) -> VOSpaceView:
    await pilot.press("6")
    await until(pilot, lambda: pilot.app.view("vospace") is not None)
    view = pilot.app.view("vospace")
    assert isinstance(view, VOSpaceView)
    await until(pilot, lambda: view.state not in ("loading",))
    return view


def names(view: VOSpaceView) -> list[str]:
    return [str(view.table.get_row(key)[0]) for key in view.table.visible_keys()]  # type: ignore[index]


def cell(view: VOSpaceView, name: str, column: int) -> object:
    row = view.table.get_row(name)
    assert row is not None, f"{name} is not listed: {names(view)}"
    return row[column]


def breadcrumbs(view: VOSpaceView) -> str:
    return str(view.query_one(".vospace-breadcrumbs", Static).render())


def jobs(view: VOSpaceView) -> list[TransferJob]:
    return list(view.transfers.jobs.values())


async def finished(pilot: Any, view: VOSpaceView, count: int) -> list[TransferJob]:
    await until(
        pilot, lambda: len(jobs(view)) >= count and all(j.finished_state for j in jobs(view))
    )
    return jobs(view)


async def new_folder(pilot: Any, view: VOSpaceView, name: str) -> None:
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
    await pilot.press(*name, "enter")
    await until(pilot, lambda: f"{name}/" in names(view))


async def select(pilot: Any, view: VOSpaceView, name: str) -> None:
    await until(pilot, lambda: view.table.get_row(name) is not None)
    view.table.focus()
    await pilot.press("home")
    for _ in range(len(names(view))):
        if view.table.cursor_key == name:
            return
        await pilot.press("down")
    assert view.table.cursor_key == name


# --------------------------------------------------------------------------- browsing


async def test_browse_make_folders_open_them_and_go_back_up(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox()
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        assert view.state == "empty"
        assert breadcrumbs(view).startswith("vos:sandbox-user")

        await new_folder(pilot, view, "data")
        assert (box.home / "data").is_dir()
        await select(pilot, view, "data")
        await pilot.press("enter")
        await until(pilot, lambda: view.cwd == "vos:sandbox-user/data" and view.state == "empty")
        assert "vos:sandbox-user › data" in breadcrumbs(view)

        await new_folder(pilot, view, "run1")
        assert (box.home / "data" / "run1").is_dir()

        await pilot.press("backspace")
        await until(pilot, lambda: view.cwd == "vos:sandbox-user" and view.state == "ready")
        assert view.table.cursor_key == "data", "back up, the cursor is on the folder we left"
        await pilot.press("backspace")  # already home: a message, nothing breaks
        await pilot.pause(0.1)
        assert view.cwd == "vos:sandbox-user"

        await pilot.press("enter")
        await until(pilot, lambda: view.cwd == "vos:sandbox-user/data" and view.state == "ready")
        await select(pilot, view, "run1")
        await pilot.press("enter")
        await until(pilot, lambda: view.cwd.endswith("/run1"))
        await pilot.press("tilde")  # straight home
        await until(pilot, lambda: view.cwd == "vos:sandbox-user" and view.state == "ready")

        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
        await pilot.press(*"data", "enter")  # a name that exists: refused in the dialog
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, PromptScreen)
        assert "Already exists" in str(pilot.app.screen.query_one("#prompt-error").render())
        await pilot.press("escape")
        assert box.app.unexpected_errors == 0


async def test_a_folder_deleted_elsewhere_falls_back_to_its_parent(
    sandbox: Callable[..., Sandbox],
) -> None:
    box = sandbox()
    (box.home / "gone" / "deeper").mkdir(parents=True)
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await select(pilot, view, "gone")
        await pilot.press("enter")
        await until(pilot, lambda: view.cwd.endswith("/gone") and view.state == "ready")
        shutil.rmtree(box.home / "gone")  # e.g. vrm -R from a batch job
        await pilot.press("r")
        await until(pilot, lambda: view.cwd == "vos:sandbox-user" and view.state == "empty")
        assert "gone" not in breadcrumbs(view)
        assert box.app.unexpected_errors == 0


async def test_a_large_folder_is_loaded_a_page_at_a_time(
    sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(VOSpaceView, "PAGE_SIZE", 20)
    box = sandbox()
    for index in range(65):
        (box.home / f"exp{index:03d}.cat").write_bytes(b"x" * (index + 1))
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        # The first page; a screen taller than what is loaded asks for the next ones at once,
        # so wait for the loading to settle rather than for exactly one page.
        await until(pilot, lambda: view.table.row_count >= 20 and not view._want_more)
        assert view.table.row_count in {20, 40, 60}
        assert "more as you scroll" in str(view.query_one(".view-status", Static).render())
        # Going to the end of what is loaded brings the next page (and, when the screen is
        # tall enough to be near the end again, the one after): whole pages only.
        seen = {view.table.row_count}
        for _ in range(10):
            if view.table.row_count == 65:
                break
            before = view.table.row_count
            await pilot.press("G")

            def grew(before: int = before) -> bool:
                return view.table.row_count > before

            await until(pilot, grew)
            seen.add(view.table.row_count)
        assert view.table.row_count == 65
        assert seen <= {20, 40, 60, 65}
        assert names(view)[-1] == "exp064.cat"
        await pilot.pause(1.2)  # a refresh or two re-lists the loaded window only
        assert view.table.row_count == 65
        assert "more as you scroll" not in str(view.query_one(".view-status", Static).render())


# --------------------------------------------------------------------------- transfers


async def test_upload_two_files_and_see_them_with_matching_md5(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "scratch"
    source.mkdir()
    md5s = {
        "1056213p.cat": random_file(source / "1056213p.cat", 400_000),
        "1056215p.cat": random_file(source / "1056215p.cat", 70_000),
    }
    monkeypatch.chdir(source)  # the picker starts in the current folder
    box = sandbox()
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(pilot.app.screen, UploadPickerScreen))
        picker = pilot.app.screen
        assert isinstance(picker, UploadPickerScreen)
        await until(pilot, lambda: len(picker.picker_tree.root.children) == 2)
        await pilot.press("down", "space", "down", "space")
        assert "2 marked" in str(picker.query_one("#upload-picker-marked").render())
        await pilot.press("u")

        done = await finished(pilot, view, 2)
        assert [job.state for job in done] == [TransferState.DONE, TransferState.DONE]
        await until(pilot, lambda: len(names(view)) == 2 and all(cell(view, n, 3) for n in md5s))
        for name, md5 in md5s.items():
            assert cell(view, name, 3) == md5  # the MD5 the service computed
            assert md5[:12] in next(j.message for j in done if j.name == name)
            assert md5_of(box.home / name) == md5

        await select(pilot, view, "1056213p.cat")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen))
        screen = pilot.app.screen
        assert isinstance(screen, DetailsScreen)
        details = dict(screen.rows)
        assert details["MD5"] == md5s["1056213p.cat"]
        assert details["size"].endswith("(400,000 bytes)")
        assert details["type"] == "file"
        assert "readable by" in details
        await pilot.press("escape")
        assert box.app.unexpected_errors == 0


async def test_download_a_file_back_identical(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = tmp_path / "1056213p.cat"
    md5 = random_file(original, 700_000)
    target = tmp_path / "downloads"
    target.mkdir()
    monkeypatch.chdir(target)  # the download folder defaults to the current folder
    box = sandbox()
    await box.storage.upload(original, f"{box.storage.home_uri}/1056213p.cat")
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await select(pilot, view, "1056213p.cat")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
        assert pilot.app.screen.query_one("#prompt-input", Input).value == str(target)
        await pilot.press("enter")
        (job,) = await finished(pilot, view, 1)
        assert job.state is TransferState.DONE, job.message
        copy = target / "1056213p.cat"
        assert copy.read_bytes() == original.read_bytes()
        assert md5_of(copy) == md5
        assert sorted(p.name for p in target.iterdir()) == ["1056213p.cat"]
        row = view.transfers.table.get_row(job.id)
        assert row is not None and "100%" in str(row[2])


async def test_rename_then_delete_with_confirmation(
    sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    box = sandbox()
    random_file(tmp_path / "old.cat", 1000)
    await box.storage.upload(tmp_path / "old.cat", f"{box.storage.home_uri}/old.cat")
    await box.storage.mkdir(f"{box.storage.home_uri}/results")
    await box.storage.upload(tmp_path / "old.cat", f"{box.storage.home_uri}/results/keep.cat")
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await select(pilot, view, "old.cat")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
        await pilot.press("ctrl+u", *"new.cat", "enter")
        await until(pilot, lambda: "new.cat" in names(view) and "old.cat" not in names(view))
        assert (box.home / "new.cat").is_file() and not (box.home / "old.cat").exists()

        await select(pilot, view, "new.cat")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("n")  # changed my mind
        await pilot.pause(0.6)
        assert (box.home / "new.cat").is_file()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: "new.cat" not in names(view))
        assert not (box.home / "new.cat").exists()

        await select(pilot, view, "results")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press(*"result", "enter")  # a folder needs its exact name typed
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, ConfirmScreen)
        assert (box.home / "results").is_dir()
        await pilot.press("s", "enter")
        await until(pilot, lambda: "results/" not in names(view))
        assert not (box.home / "results").exists()
        assert box.app.unexpected_errors == 0


async def test_parallel_transfers_are_bounded_and_one_can_be_cancelled(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox()
    for name in ("a.fits", "b.fits", "c.fits"):
        random_file(tmp_path / name, 600_000)
        await box.storage.upload(tmp_path / name, f"{box.storage.home_uri}/{name}")
    target = tmp_path / "downloads"
    target.mkdir()
    monkeypatch.chdir(target)
    box.server.faults.stall_downloads(3, after_bytes=1024)
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        for name in ("a.fits", "b.fits", "c.fits"):
            await select(pilot, view, name)
            await pilot.press("w")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
            await pilot.press("enter")
            await until(pilot, lambda: not isinstance(pilot.app.screen, PromptScreen))
        states = {job.name: job.state for job in jobs(view)}
        assert states == {
            "a.fits": TransferState.RUNNING,
            "b.fits": TransferState.RUNNING,
            "c.fits": TransferState.QUEUED,
        }, "two at once, the third waits"

        await pilot.press("t")  # into the transfers panel; the cursor is on a.fits
        assert view.transfers.table.has_focus
        assert view.transfers.selected is not None
        assert view.transfers.selected.name == "a.fits"
        await pilot.press("x")
        job_a = view.transfers.jobs["1"]
        assert job_a.cancelling
        await pilot.pause(0.3)
        assert "cancelling" in str(view.transfers.table.get_row("1")[3])  # type: ignore[index]
        box.server.faults.release()  # the stalled reads go on; the cancelled one stops

        done = {job.name: job for job in await finished(pilot, view, 3)}
        assert done["a.fits"].state is TransferState.CANCELLED
        assert done["b.fits"].state is TransferState.DONE, done["b.fits"].message
        assert done["c.fits"].state is TransferState.DONE, done["c.fits"].message
        first_free = min(done["a.fits"].finished or 0, done["b.fits"].finished or 0)
        assert (done["c.fits"].started or 0) >= first_free, "c waited for a free slot"
        await until(pilot, lambda: sorted(p.name for p in target.iterdir()) == ["b.fits", "c.fits"])
        assert md5_of(target / "c.fits") == md5_of(tmp_path / "c.fits")

        await pilot.press("X")  # clear the finished ones: the panel goes away
        await until(pilot, lambda: not view.transfers.display)
        assert box.app.unexpected_errors == 0


async def test_a_failed_transfer_is_one_line_and_leaves_no_partial_file(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox()
    random_file(tmp_path / "big.fits", 900_000)
    await box.storage.upload(tmp_path / "big.fits", f"{box.storage.home_uri}/big.fits")
    target = tmp_path / "downloads"
    target.mkdir()
    monkeypatch.chdir(target)
    box.server.faults.cut_downloads(100, after_bytes=2000)  # the link keeps dropping
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await select(pilot, view, "big.fits")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen))
        await pilot.press("enter")
        (job,) = await finished(pilot, view, 1)
        assert job.state is TransferState.FAILED
        assert job.message and "\n" not in job.message and "Traceback" not in job.message
        row = view.transfers.table.get_row(job.id)
        assert row is not None and str(row[3]).startswith("failed: ")
        assert list(target.iterdir()) == [], "no partial file, no temp file"

        # an upload that keeps arriving corrupted fails the same way and keeps nothing
        box.server.faults.clear()
        box.server.faults.corrupt_uploads(100)
        view.upload_files([tmp_path / "big.fits"], "vos:sandbox-user/data-missing")
        random_file(tmp_path / "fresh.cat", 50_000)
        view.upload_files([tmp_path / "fresh.cat"], view.cwd)
        failed = await finished(pilot, view, 3)
        upload = next(j for j in failed if j.name == "fresh.cat")
        assert upload.state is TransferState.FAILED
        assert "MD5" in upload.message and "\n" not in upload.message
        await pilot.pause(0.6)
        assert "fresh.cat" not in names(view)
        assert not (box.home / "fresh.cat").exists()
        assert box.app.unexpected_errors == 0


# --------------------------------------------------------------------------- archive


async def test_archive_fetch_of_the_seed_exposure(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    box = sandbox()
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ArchiveFetchScreen))
        screen = pilot.app.screen
        assert screen.query_one("#archive-destination", Input).value == str(scratch)
        await pilot.press(*"cadc:CFHT/nope.fits.fz", "enter")
        await until(pilot, lambda: not isinstance(pilot.app.screen, ArchiveFetchScreen))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ArchiveFetchScreen))
        await pilot.press(*"cadc:CFHT/..", "enter")  # not an archive file: stays open
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, ArchiveFetchScreen)
        await pilot.press("ctrl+u", *"cadc:CFHT/1056213p.fits.fz", "enter")
        done = await finished(pilot, view, 2)
        missing, fetched = done
        assert missing.state is TransferState.FAILED
        assert "Not in the sandbox archive" in missing.message
        assert fetched.state is TransferState.DONE, fetched.message
        assert fetched.kind == "archive"
        path = scratch / "1056213p.fits.fz"
        assert sorted(p.name for p in scratch.iterdir()) == ["1056213p.fits.fz"]
        served = box.app.settings.paths.data_dir / "sandbox" / "archive" / "CFHT" / path.name
        assert md5_of(path) == md5_of(served)
        assert md5_of(path)[:12] in fetched.message

        from astropy.io import fits

        with fits.open(path) as hdus:
            assert len(hdus) == 5  # primary + 4 CCDs
            assert hdus[1].data.shape == (1024, 512)
        assert box.app.unexpected_errors == 0


async def test_archive_fetch_works_where_the_profile_has_no_vospace(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    base = build_clients(settings)
    clients = Clients(
        "arbutus",
        cloud=lambda: base.cloud,  # type: ignore[arg-type,return-value]
        archive=lambda: base.archive,  # type: ignore[arg-type,return-value]
        missing={"storage": "The VOSpace backend for real profiles is not part of this yet."},
        mode_label="SANDBOX",
    )
    app = create_app(settings, clients)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        assert view.state == "unavailable"
        for key in ("u", "w", "n", "d", "backspace"):
            await pilot.press(key)  # nothing to act on: no dialog, no error
        assert pilot.app.screen is pilot.app.screen_stack[0]
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ArchiveFetchScreen))
        await pilot.press(*"cadc:CFHT/1056218p.fits.fz", "enter")
        (job,) = await finished(pilot, view, 1)
        assert job.state is TransferState.DONE, job.message
        assert (scratch / "1056218p.fits.fz").is_file()
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- read-only


async def test_read_only_hides_upload_delete_rename_and_mkdir(
    sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    box = sandbox(read_only=True)
    random_file(tmp_path / "keep.cat", 1000)
    await box.storage.upload(tmp_path / "keep.cat", f"{box.storage.home_uri}/keep.cat")
    async with box.app.run_test(size=SIZE) as pilot:
        view = await open_vospace(pilot)
        await select(pilot, view, "keep.cat")
        for action in ("upload", "mkdir", "move", "delete"):
            assert view.check_action(action, ()) is False
        for action in ("download", "archive_fetch", "details"):
            assert view.check_action(action, ()) is not False
        for key in ("u", "n", "m", "d"):
            await pilot.press(key)
            await pilot.pause(0.05)
            assert pilot.app.screen is pilot.app.screen_stack[0], f"{key} opened a dialog"
        assert (box.home / "keep.cat").is_file()

        commands = [name for name, _, _ in CanfarCommands(pilot.app.screen)._commands()]
        vospace = {name for name in commands if name.startswith("vospace: ")}
        assert {"vospace: download", "vospace: archive fetch"} <= vospace
        assert (
            not {
                "vospace: upload",
                "vospace: new folder",
                "vospace: rename/move",
                "vospace: delete",
            }
            & vospace
        )
        help_rows = {row[2] for _, rows in box.app.help_sections() for row in rows}
        assert "vospace.download" in help_rows
        assert not {"vospace.upload", "vospace.delete", "vospace.mkdir", "vospace.move"} & help_rows


async def test_the_upload_picker_goes_up_and_marks_typed_paths(tmp_path: Path) -> None:
    from textual.app import App

    (tmp_path / "night1").mkdir()
    (tmp_path / "night1" / "1056216p.cat").write_text("a")
    (tmp_path / "1056217p.cat").write_text("b")
    results: list[list[Path] | None] = []

    class PickerApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(UploadPickerScreen("Upload", tmp_path / "night1"), results.append)

    app = PickerApp()
    async with app.run_test() as pilot:
        picker = app.screen
        assert isinstance(picker, UploadPickerScreen)
        await pilot.press("backspace")  # show the parent folder
        await until(pilot, lambda: Path(picker.picker_tree.path) == tmp_path)
        await pilot.press("ctrl+l", *str(tmp_path / "night1" / "1056216p.cat"), "enter")
        await pilot.press("ctrl+l", *"1056217p.cat", "enter")  # relative to the folder shown
        assert list(picker.picker_tree.marked) == [
            tmp_path / "night1" / "1056216p.cat",
            tmp_path / "1056217p.cat",
        ]
        picker.picker_tree.focus()
        await pilot.press("u")
        await until(pilot, lambda: bool(results))
    assert results == [[tmp_path / "night1" / "1056216p.cat", tmp_path / "1056217p.cat"]]


# --------------------------------------------------------------------------- keys at 80×24
# Issue 15 (7): in the upload dialog u typed "u" after a typed path (it uploaded only after
# tab u); the fetch dialog's URI was a placeholder, so enter said "Give an archive file URI".


async def test_u_uploads_after_a_typed_path_at_80x24(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "scratch"
    source.mkdir()
    md5 = random_file(source / "1056213p.cat", 5_000)
    monkeypatch.chdir(tmp_path)
    box = sandbox()
    async with box.app.run_test(size=(80, 24)) as pilot:
        view = await open_vospace(pilot)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(pilot.app.screen, UploadPickerScreen))
        picker = pilot.app.screen
        assert isinstance(picker, UploadPickerScreen)
        tree = picker.picker_tree
        path_field = picker.query_one("#upload-picker-path", Input)
        await pilot.press("ctrl+l", "escape")  # escape leaves the path field, not the dialog
        assert box.app.screen is picker and not path_field.has_focus
        await pilot.press("ctrl+l", *str(source / "1056213p.cat"), "enter")
        assert list(tree.marked) == [source / "1056213p.cat"]
        await pilot.press("u")
        assert path_field.value == "", "u was typed into the path"
        (job,) = await finished(pilot, view, 1)
        assert job.state is TransferState.DONE, job.message
        assert md5_of(box.home / "1056213p.cat") == md5
        assert box.app.unexpected_errors == 0


async def test_the_fetch_dialogs_suggested_uri_is_a_value_at_80x24(
    sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    box = sandbox()
    async with box.app.run_test(size=(80, 24)) as pilot:
        view = await open_vospace(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ArchiveFetchScreen))
        uri = pilot.app.screen.query_one("#archive-uri", Input)
        assert uri.value == "cadc:CFHT/1056213p.fits.fz"
        await pilot.press("enter")
        (job,) = await finished(pilot, view, 1)
        assert job.state is TransferState.DONE, job.message
        assert (scratch / "1056213p.fits.fz").is_file()
        assert box.app.unexpected_errors == 0
