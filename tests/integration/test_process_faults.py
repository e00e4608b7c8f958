"""Processes killed and restarted while the dashboard watches: the batch executor and VOSpace.

These are app-level tests (the real app, driven by Pilot) over the real sandbox backends:

* **the sandbox batch executor.** A second process (another dashboard, a pipeline script)
  holds the queue directory's executor lock and runs the jobs; it is killed with SIGKILL while
  two of them run. The dashboard's own ``SandboxQueue`` takes the lock over by itself (the kernel
  releases a dead process's ``flock``), adopts the orphaned job processes, and every job
  finishes. The Queue tab keeps its rows the whole time: the queue's state is a database the
  dead process does not own, so there is nothing to go stale.
* **the VOSpace service as a separate process** (``python -m …vospace_server``, what scripts and
  batch jobs use), killed with SIGKILL in the middle of a listing and of an upload, then
  started again on the same port and folder: the VOSpace tab goes stale, keeps its rows and
  cursor, and recovers by itself; the interrupted upload is reported failed in one line, leaves
  no node and no temp file (the restarted service removes the partial one), and the same
  upload afterwards arrives with the right MD5.
* **the dashboard's own VOSpace service** (``bundle.start_sandbox_storage``) dying: the client
  starts it again on the same port and folder on its next call.

Waiting is polling with a bound; the kill points are made deterministic with the service's
``stall_requests`` fault, armed in the child process by SIGUSR1.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FixedCloud

from canfar_tui.clients.bundle import Clients, start_sandbox_storage
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.clients.storage.loopback import TEMP_DIR_NAME, prepare_client_home
from canfar_tui.clients.storage.vospace import RetryPolicy, VOSpaceStorage
from canfar_tui.models import JobStatus, TransferState
from canfar_tui.widgets.queue.rows import BatchRow
from canfar_tui.widgets.queue.view import QueueView
from canfar_tui.widgets.vospace.view import VOSpaceView

SIZE = (120, 36)
TIMEOUT = 30.0
FAST_RETRY = RetryPolicy(attempts=2, first_delay=0.05, max_delay=0.1)


async def until(
    pilot: Any, condition: Callable[[], object], what: str, seconds: float = 30
) -> None:
    """Poll ``condition`` every 50 ms for at most ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def read_line(process: subprocess.Popen[str]) -> str:
    """The child's next line of stdout (bounded)."""
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), TIMEOUT)
    return line.strip()


def kill_hard(process: subprocess.Popen[str]) -> None:
    """SIGKILL the child (by its pid) and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=TIMEOUT)


# --------------------------------------------------------------------------- the batch executor

JOB_SCRIPT = """#!/bin/bash
echo $$ > "{job_dir}/pid-$1"
while [ ! -e "{gate}" ]; do sleep 0.02; done
echo "catalogue of $1"
"""

SUBMIT = """\
executable = job.sh
arguments = $(Process)
output = out-$(Process).txt
error = err-$(Process).txt
log = job.log
batch_name = do_catalogue
queue 3
"""

#: Another process running the sandbox executor: submits, says "running" once two jobs run.
EXECUTOR = """
import asyncio, sys
from pathlib import Path
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.models import JobStatus

async def main():
    queue = SandboxQueue(Path(sys.argv[1]), slots=2, poll_interval=0.02, keep_running=True)
    await queue.submit(sys.stdin.read(), submit_dir=Path(sys.argv[2]))
    while sum(j.status == JobStatus.RUNNING for j in await queue.list_jobs()) < 2:
        await asyncio.sleep(0.02)
    print("running", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def only_batch(view: QueueView) -> BatchRow | None:
    if view.poller is None or len(view.poller.rows) != 1:
        return None
    (row,) = view.poller.rows.values()
    return row if isinstance(row, BatchRow) else None


def counts(view: QueueView) -> tuple[int, int, int] | None:
    """(running, idle, done) of the one batch on screen."""
    row = only_batch(view)
    if row is None:
        return None
    return row.batch.running, row.batch.idle, row.batch.done


async def test_killing_the_executor_process_loses_no_job_and_the_queue_tab_follows(
    make_app: Any, tmp_path: Path
) -> None:
    state_dir = tmp_path / "sandbox" / "queue"
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    gate = tmp_path / "gate"
    script = job_dir / "job.sh"
    script.write_text(JOB_SCRIPT.format(job_dir=job_dir, gate=gate))
    script.chmod(0o755)

    executor = subprocess.Popen(
        [sys.executable, "-c", EXECUTOR, str(state_dir), str(job_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    queue: SandboxQueue | None = None
    try:
        assert executor.stdin is not None
        executor.stdin.write(SUBMIT)
        executor.stdin.close()
        assert await read_line(executor) == "running"
        # The dashboard's queue client: the other process holds the executor lock.
        queue = SandboxQueue(state_dir, slots=2, poll_interval=0.02, kill_grace=0.5)
        clients = Clients(
            "sandbox",
            cloud=FixedCloud(),
            queue=queue,
            missing={"storage": "no VOSpace in this test"},
            mode_label="SANDBOX",
        )
        app = make_app(clients=clients)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await until(pilot, lambda: isinstance(app.view("queue"), QueueView), "the Queue tab")
            view = app.view("queue")
            assert isinstance(view, QueueView)
            await until(pilot, lambda: counts(view) == (2, 1, 0), "two running, one idle")
            assert not queue.is_executor, "the other process runs the jobs"
            running_pids = [int((job_dir / f"pid-{n}").read_text()) for n in (0, 1)]

            kill_hard(executor)  # the executor dies with two jobs running
            states: set[str] = set()

            def taken_over() -> bool:
                states.add(view.state)
                return queue is not None and queue.is_executor

            await until(pilot, taken_over, "the dashboard's client to take the executor over")
            # The orphaned job processes were adopted, not restarted.
            await until(pilot, lambda: counts(view) == (2, 1, 0), "the adopted jobs")
            for pid in running_pids:
                os.kill(pid, 0)  # still the same processes
            gate.touch()

            def all_done() -> bool:
                states.add(view.state)
                return counts(view) == (0, 0, 3)

            await until(pilot, all_done, "every job to finish")
            assert states <= {"ready"}, f"the Queue tab never lost its rows: {states}"
            assert view.table.row_count == 1 and not app.header.stale
            assert app.unexpected_errors == 0

            finished = {job.id.proc: job for job in await queue.history(limit=10)}
            assert sorted(finished) == [0, 1, 2]
            assert all(job.status is JobStatus.COMPLETED for job in finished.values())
            assert all(job.exit_code == 0 for job in finished.values())
            starts = [(await queue.job_ad(job.id))["NumJobStarts"] for job in finished.values()]
            assert starts == [1, 1, 1], "adopted, not run twice"
        for proc in range(3):
            assert (job_dir / f"out-{proc}.txt").read_text() == f"catalogue of {proc}\n"
    finally:
        gate.touch()
        kill_hard(executor)
        if queue is not None:
            await queue.aclose()


# --------------------------------------------------------------------------- VOSpace, a process

#: The loopback service as its own process; SIGUSR1 arms one stall of a matching request,
#: and every stall that begins is announced with a line "stalled".
SERVER = """
import signal, sys, time
from pathlib import Path
from canfar_tui.clients.storage.loopback import start_server

root, port, endpoint, method, after, secret = sys.argv[1:7]
server = start_server(Path(root), port=int(port), secret=secret)

def arm(signum, frame):
    server.faults.stall_requests(1, endpoint=endpoint, method=method, after_bytes=int(after))
    print("armed", flush=True)

signal.signal(signal.SIGUSR1, arm)
print(server.port, flush=True)
seen = 0
while True:
    time.sleep(0.02)
    if server.faults.requests_stalled != seen:
        seen = server.faults.requests_stalled
        print("stalled", flush=True)
"""


class ServerProcess:
    """The VOSpace service in a child process: start, arm a stall, kill -9, start again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.secret = secrets.token_urlsafe(24)  # the same on every start, as for a restart
        self.process: subprocess.Popen[str] | None = None

    async def start(self, stall: tuple[str, str, int] = ("-", "-", 0)) -> None:
        endpoint, method, after = stall
        arguments = [str(self.root), str(self.port), endpoint, method, str(after), self.secret]
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, *arguments],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(await read_line(self.process))

    async def arm(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGUSR1)
        assert await read_line(self.process) == "armed"

    async def stalled(self) -> None:
        assert self.process is not None
        assert await read_line(self.process) == "stalled"

    def kill(self) -> None:
        if self.process is not None:
            kill_hard(self.process)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "vospace-root")
    try:
        yield server
    finally:
        server.kill()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def names(view: VOSpaceView) -> list[str]:
    return [str(view.table.get_row(key)[0]) for key in view.table.visible_keys()]  # type: ignore[index]


def server_temp_files(root: Path) -> list[str]:
    folder = root / TEMP_DIR_NAME
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def open_vospace(app: Any, pilot: Any) -> VOSpaceView:
    await pilot.press("6")
    await until(pilot, lambda: isinstance(app.view("vospace"), VOSpaceView), "the VOSpace tab")
    view = app.view("vospace")
    assert isinstance(view, VOSpaceView)
    return view


async def test_vospace_service_killed_mid_listing_and_mid_upload_then_restarted(
    make_app: Any, tmp_path: Path, server_process: ServerProcess
) -> None:
    await server_process.start(("nodes", "GET", 0))
    home = server_process.root / "sandbox-user"
    for name in ("1056213p.cat", "1056214p.cat", "1056215p.cat"):
        (home / name).write_bytes(os.urandom(2000))
    config_home = prepare_client_home(
        tmp_path / "vos-client",
        f"http://127.0.0.1:{server_process.port}/{server_process.secret}/vault",
    )
    storage = VOSpaceStorage(
        "vos:sandbox-user", config_home=config_home, sandbox=True, retry=FAST_RETRY, timeout=10
    )
    local = tmp_path / "local"
    local.mkdir()
    big = local / "big.fits"
    big.write_bytes(os.urandom(4 * 1024 * 1024))
    app = make_app(clients=Clients("sandbox", cloud=FixedCloud(), storage=storage))
    async with app.run_test(size=SIZE) as pilot:
        view = await open_vospace(app, pilot)
        await until(pilot, lambda: view.state == "ready" and len(names(view)) == 3, "the listing")
        view.table.focus()
        view.table.move_cursor_to_key("1056214p.cat")
        assert view.table.cursor_key == "1056214p.cat"

        # ---- killed in the middle of a listing
        await server_process.arm()
        view.action_refresh()
        await server_process.stalled()  # a listing is on its way and the service holds it
        server_process.kill()
        await until(pilot, lambda: view.state == "stale" and app.header.stale, "a stale view")
        assert names(view) == ["1056213p.cat", "1056214p.cat", "1056215p.cat"]
        assert view.table.cursor_key == "1056214p.cat"
        assert any("VOSpace" in n.message for n in app._notifications)
        await server_process.start(("data", "PUT", 1024 * 1024))  # same port, same folder
        await until(
            pilot, lambda: view.state == "ready" and not app.header.stale, "recovery by itself"
        )
        assert view.table.cursor_key == "1056214p.cat", "the user's place is kept"

        # ---- killed in the middle of an upload
        await server_process.arm()
        view.upload_files([big], view.cwd)
        await server_process.stalled()  # 1 MiB of 4 MiB received
        assert len(server_temp_files(server_process.root)) == 1, "the upload is under way"
        server_process.kill()
        await until(
            pilot,
            lambda: (
                len(view.transfers.jobs) == 1
                and all(job.finished_state for job in view.transfers.jobs.values())
            ),
            "the upload to end",
        )
        (job,) = view.transfers.jobs.values()
        assert job.state is TransferState.FAILED
        assert job.message and "\n" not in job.message and "Traceback" not in job.message
        assert not (home / "big.fits").exists(), "no partial node"
        await server_process.start()
        assert server_temp_files(server_process.root) == [], "the partial upload was removed"
        await until(pilot, lambda: view.state == "ready" and not app.header.stale, "recovery")
        assert "big.fits" not in names(view)
        assert sorted(p.name for p in local.iterdir()) == ["big.fits"], "no local temp file"

        # ---- the same upload, now that the service is back: complete and verified
        view.upload_files([big], view.cwd)
        await until(
            pilot,
            lambda: (
                len(view.transfers.jobs) == 2
                and all(job.finished_state for job in view.transfers.jobs.values())
            ),
            "the second upload",
        )
        second = list(view.transfers.jobs.values())[-1]
        assert second.state is TransferState.DONE, second.message
        assert md5_of(home / "big.fits") == md5_of(big)
        await until(pilot, lambda: view.table.get_row("big.fits") is not None, "the new node")
        assert view.table.get_row("big.fits")[3] == md5_of(big)  # type: ignore[index]
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- VOSpace, owned


async def test_the_dashboards_own_vospace_service_is_restarted_on_next_use(
    make_app: Any, tmp_path: Path
) -> None:
    storage = start_sandbox_storage(tmp_path / "sandbox", retry=FAST_RETRY)
    first = storage.sandbox_server
    assert first is not None and first.alive
    port, root = first.port, first.root
    (root / first.username / "1056213p.cat").write_bytes(b"x" * 1000)
    app = make_app(clients=Clients("sandbox", cloud=FixedCloud(), storage=storage))
    async with app.run_test(size=SIZE) as pilot:
        view = await open_vospace(app, pilot)
        await until(pilot, lambda: view.state == "ready" and len(names(view)) == 1, "the listing")
        # The service dies in the middle of a listing (its thread stops, sockets close).
        first.faults.stall_requests(1, endpoint="nodes", method="GET")
        view.action_refresh()
        await until(pilot, lambda: first.faults.requests_stalled == 1, "a stalled listing")
        first.stop()
        assert not first.alive
        await until(
            pilot,
            lambda: storage.sandbox_server is not first and view.state == "ready",
            "the client to restart its service",
        )
        again = storage.sandbox_server
        assert again is not None and again.alive
        assert (again.port, again.root) == (port, root), "same port, same folder"
        view.action_refresh()
        await pilot.pause(0.3)
        assert view.state == "ready" and names(view) == ["1056213p.cat"]
        assert app.unexpected_errors == 0
    assert storage.sandbox_server is None or not storage.sandbox_server.alive  # closed with app
