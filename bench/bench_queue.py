"""Benchmark: the Queue tab at scale, event latency and terminal bandwidth, in one run.

Usage::

    .venv/bin/python bench/bench_queue.py            # full: 100 000 jobs, 60 s of pty
    .venv/bin/python bench/bench_queue.py --quick    # fewer repeats, 30 s of pty

Three parts, each measured in its own subprocess (so RSS figures are per process) and printed
in one table, each next to a peer measured in the same run:

1. **Scale** (headless, ``App.run_test(size=(160, 50))``): the real app from ``create_app``
   over a synthetic QueueClient holding 100 000 jobs in 1 000 batches, Queue tab in the
   batches view and in the jobs view (``n``). First paint: from the key that shows the view
   until the first frame that contains the view's first row. 1 % refresh: 1 % of the jobs
   change state (half idle → running, half running → held), ``poller.refresh_now()``; until
   the first frame whose totals line shows the new held count. Wall and process CPU time,
   medians. RSS from /proc/self/status (VmRSS / VmHWM). Frames are caught like
   bench_table.py does: ``App._display`` is wrapped to turn each frame into the escape
   sequences a terminal run writes (``CompositorUpdate.render_segments``) and search them.
   Peer: a plain Textual ``DataTable`` holding the same rows (``QueueView.row`` of every
   item), first paint with ``add_rows``, refresh by ``clear()`` + ``add_rows`` of all rows.
2. **Event latency** (headless): the sandbox QueueClient (``SandboxQueue(dir, slots=1,
   keep_running=False)``), Queue tab in the jobs view; a tiny job (``sleep``) is submitted;
   latency = wall time of the first frame whose text shows the job's row with ST ``R``
   (``C``) minus the time of the job's execute (terminated) event in the sandbox's user log.
3. **Bandwidth** (a real terminal): ``bench_queue.py --serve-app`` runs the app normally
   (``app.run()``) under a pseudo-terminal (TERM=xterm-256color, 120×40) over a synthetic
   10 000-job queue where one job changes per second; the parent presses ``5`` (and ``n``
   for the jobs view) and, after the first paint, counts every byte the app writes to the
   terminal for 60 s (30 s with ``--quick``). Peer, concurrently and the same size and
   duration: ``watch -n1 cat FILE`` where FILE is a ``condor_q -nobatch`` listing of the same
   synthetic queue rewritten every second (one job changes, RUN_TIME of running jobs ticks).

No timing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import fcntl
import gc
import json
import os
import platform
import random
import re
import selectors
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from canfar_tui.models import (  # noqa: E402
    Batch,
    Job,
    JobEvent,
    JobEventKind,
    JobFiles,
    JobId,
    JobStatus,
    SubmitResult,
)

SIZE = (160, 50)
PTY_SIZE = (120, 40)
EPOCH = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OWNER = "bench"
_CSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


# --------------------------------------------------------------------------- synthetic queue


class SynthQueue:
    """A QueueClient (and SupportsHistory) over ``jobs`` synthetic jobs in ``batches`` batches.

    The lowest ``running_share`` of the jobs run (a FIFO queue), the rest are idle. Batch
    counts are kept up to date as jobs change, as a schedd would; ``list_jobs`` returns a new
    list every call (a real backend builds new objects every query). With ``per_second``,
    one job changes per elapsed second (a seeded random idle job starts or a running job
    completes), applied when the client is next called.
    """

    backend_label = "SANDBOX"

    def __init__(
        self,
        jobs: int,
        batches: int,
        *,
        running_share: float = 0.02,
        per_second: bool = False,
        seed: int = 5,
    ) -> None:
        per = max(1, jobs // batches)
        now = datetime.now(UTC)
        running = int(jobs * running_share)
        self.jobs: dict[JobId, Job] = {}
        self.batch_of: dict[JobId, int] = {}
        for i in range(jobs):
            b = i // per
            job_id = JobId(1000 + b, i % per)
            is_running = i < running
            self.jobs[job_id] = Job(
                id=job_id,
                owner=OWNER,
                status=JobStatus.RUNNING if is_running else JobStatus.IDLE,
                command="/home/bench/do_catalogue.bash",
                arguments=f"exp-{i:07d}",
                batch_name=f"survey-{b:04d}",
                submitted=EPOCH + timedelta(minutes=b),
                started=now - timedelta(seconds=60 + 7 * (running - i)) if is_running else None,
            )
            self.batch_of[job_id] = b
        self.order = list(self.jobs)
        self.batch_names = {b: f"survey-{b:04d}" for b in set(self.batch_of.values())}
        self.batch_jobs: dict[int, list[JobId]] = {}
        for job_id, b in self.batch_of.items():
            self.batch_jobs.setdefault(b, []).append(job_id)
        self.counts: dict[int, list[int]] = {b: [0, 0, 0, 0, 0] for b in self.batch_jobs}
        for job_id, job in self.jobs.items():
            self._count(job_id, job.status, +1)
        self.done: list[Job] = []
        #: Per batch, its job ids still in the queue (None: to recompute after a completion).
        self.in_queue: dict[int, tuple[JobId, ...] | None] = {}
        self.events: list[JobEvent] = []
        #: False: changes are not written to the event log (part 1 triggers the refresh).
        self.log_events = True
        #: CPU seconds spent in list_jobs / list_batches (the synthetic backend, not the UI;
        #: a real backend answers from a thread or another process).
        self.busy = 0.0
        self.per_second = per_second
        self.t0 = time.time()
        self.applied = 0
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    # index: done, running, idle, held, total
    def _count(self, job_id: JobId, status: JobStatus, sign: int) -> None:
        counts = self.counts[self.batch_of[job_id]]
        slot = {
            JobStatus.COMPLETED: 0,
            JobStatus.REMOVED: 0,
            JobStatus.RUNNING: 1,
            JobStatus.IDLE: 2,
            JobStatus.HELD: 3,
        }.get(status, 2)
        counts[slot] += sign

    def set_status(self, job_id: JobId, status: JobStatus, when: datetime | None = None) -> None:
        when = when or datetime.now(UTC)
        job = self.jobs[job_id]
        self._count(job_id, job.status, -1)
        self._count(job_id, status, +1)
        kind = {
            JobStatus.RUNNING: JobEventKind.EXECUTE,
            JobStatus.HELD: JobEventKind.HELD,
            JobStatus.COMPLETED: JobEventKind.TERMINATED,
            JobStatus.IDLE: JobEventKind.RELEASED,
        }[status]
        if status is JobStatus.COMPLETED:
            job = replace(job, status=status, finished=when, exit_code=0)
            del self.jobs[job_id]
            self.done.append(job)
            self.in_queue[self.batch_of[job_id]] = None
        else:
            job = replace(
                job,
                status=status,
                started=when if status is JobStatus.RUNNING else job.started,
                hold_reason="bench" if status is JobStatus.HELD else None,
            )
            self.jobs[job_id] = job
        if self.log_events:
            self.events.append(JobEvent(job_id, kind, when))

    def tick(self) -> None:
        """Apply the one-change-per-second schedule up to now."""
        if not self.per_second:
            return
        with self.lock:
            due = int(time.time() - self.t0)
            while self.applied < due:
                self.applied += 1
                job_id = self.order[self.rng.randrange(len(self.order))]
                job = self.jobs.get(job_id)
                if job is None:
                    continue  # completed already: a quiet second
                if job.status is JobStatus.IDLE:
                    self.set_status(job_id, JobStatus.RUNNING)
                elif job.status is JobStatus.RUNNING:
                    self.set_status(job_id, JobStatus.COMPLETED)

    # -- QueueClient
    async def aclose(self) -> None:
        return None

    async def list_jobs(self, *, all_users: bool = False) -> Sequence[Job]:
        start = time.process_time()
        self.tick()
        out = list(self.jobs.values())
        self.busy += time.process_time() - start
        return out

    async def list_batches(self, *, all_users: bool = False) -> Sequence[Batch]:
        start = time.process_time()
        self.tick()
        out = []
        for b, ids in self.batch_jobs.items():
            done, running, idle, held, _ = self.counts[b]
            in_queue = self.in_queue.get(b)
            if in_queue is None:
                jobs = self.jobs
                in_queue = self.in_queue[b] = tuple(job_id for job_id in ids if job_id in jobs)
            if not in_queue:
                continue
            out.append(
                Batch(
                    owner=OWNER,
                    name=self.batch_names[b],
                    submitted=EPOCH + timedelta(minutes=b),
                    done=done,
                    running=running,
                    idle=idle,
                    held=held,
                    total=len(ids),
                    job_ids=in_queue,
                )
            )
        self.busy += time.process_time() - start
        return out

    async def history(self, *, limit: int = 100, all_users: bool = False) -> Sequence[Job]:
        return self.done[-limit:][::-1]

    async def job_ad(self, job_id: JobId) -> dict[str, object]:
        return {"ClusterId": job_id.cluster, "ProcId": job_id.proc}

    async def hold(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return 0

    async def release(self, job_ids: Sequence[JobId]) -> int:
        return 0

    async def remove(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return 0

    async def submit(self, description: str, **kwargs: object) -> SubmitResult:
        raise NotImplementedError

    async def job_files(self, job_id: JobId) -> JobFiles:
        return JobFiles()

    async def events_since(self, cursor: object | None) -> tuple[Sequence[JobEvent], object]:
        self.tick()
        start = len(self.events) if cursor is None else int(cursor)  # type: ignore[call-overload]
        return self.events[start:], len(self.events)

    # -- a condor_q -nobatch listing of the same state (for the watch peer)
    def condor_q_text(self) -> str:
        self.tick()
        now = datetime.now(UTC)
        lines = [
            "",
            "",
            f"-- Schedd: bench@canfar.example : <127.0.0.1:9618?... @ {now:%m/%d/%y %H:%M:%S}",
            " ID          OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD",
        ]
        counts = {status: 0 for status in JobStatus}
        for job in self.jobs.values():
            counts[job.status] += 1
            run = (now - job.started).total_seconds() if job.started else 0
            days, rest = divmod(int(run), 86400)
            hours, rest = divmod(rest, 3600)
            minutes, seconds = divmod(rest, 60)
            lines.append(
                f"{job.id!s:<11} {job.owner:<14} {job.submitted:%m/%d %H:%M} "
                f"{days}+{hours:02d}:{minutes:02d}:{seconds:02d} {job.status.letter}  0"
                f"    0.0 do_catalogue.bash {job.arguments}"
            )
        lines.append("")
        lines.append(
            f"Total for query: {len(self.jobs)} jobs; {len(self.done)} completed, 0 removed, "
            f"{counts[JobStatus.IDLE]} idle, {counts[JobStatus.RUNNING]} running, "
            f"{counts[JobStatus.HELD]} held, 0 suspended"
        )
        return "\n".join(lines) + "\n"


def one_percent(queue: SynthQueue, rep: int) -> int:
    """Change 1 % of the jobs (evenly spaced, the first row included): half idle → running,
    half running → held (running jobs stay ~constant). Returns the new number of held jobs."""
    step = 100
    order = [job_id for job_id in queue.order if job_id in queue.jobs]
    targets = order[rep % step :: step]
    running = [job_id for job_id in order if queue.jobs[job_id].status is JobStatus.RUNNING]
    now = datetime.now(UTC)
    half = len(targets) // 2
    for job_id in targets[:half]:
        if queue.jobs[job_id].status is JobStatus.IDLE:
            queue.set_status(job_id, JobStatus.RUNNING, now)
    for job_id in running[: len(targets) - half]:
        queue.set_status(job_id, JobStatus.HELD, now)
    return sum(1 for job in queue.jobs.values() if job.status is JobStatus.HELD)


# --------------------------------------------------------------------------- helpers


def rss_mb() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def plain(output: str) -> str:
    """Escape sequences → newlines (cursor moves split lines), so a regex sees screen text."""
    return _CSI.sub("\n", output)


def isolated_settings(home: Path) -> Any:
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["HOME"] = str(home)
    for variable, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        os.environ[variable] = str(home / sub)
    from canfar_tui.config import load_settings

    return load_settings()


class FrameWatch:
    """Wraps ``app._display``: renders every frame to terminal output, wakes regex waiters."""

    def __init__(self, app: Any, *, full_screen: bool = False) -> None:
        from textual._compositor import CompositorUpdate

        self.app = app
        #: Search the whole screen after each frame, not just what the frame sent (the app
        #: sends only the changed cells of a row, so a row's cells may come in two frames).
        self.full_screen = full_screen
        self.kind = CompositorUpdate
        self.waiters: list[
            tuple[re.Pattern[str], asyncio.Future[tuple[float, float, float, float]]]
        ] = []
        self.frames = 0
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if not isinstance(renderable, self.kind):
                return
            self.frames += 1
            if not self.waiters:
                return
            if self.full_screen:
                renderable = screen._compositor.render_full_update()
            text = plain(renderable.render_segments(app.console))
            # wall, process CPU (all threads), epoch, CPU of this (the screen's) thread
            stamp = (time.perf_counter(), time.process_time(), time.time(), time.thread_time())
            for pattern, future in list(self.waiters):
                if not future.done() and pattern.search(text):
                    future.set_result(stamp)
                    self.waiters.remove((pattern, future))

        app._display = display

    def wait(self, pattern: str) -> asyncio.Future[tuple[float, float, float, float]]:
        future: asyncio.Future[tuple[float, float, float, float]] = (
            asyncio.get_running_loop().create_future()
        )
        self.waiters.append((re.compile(pattern, re.M), future))
        return future


async def settle(pilot: Any, seconds: float = 0.05) -> None:
    await pilot.pause()
    await asyncio.sleep(seconds)
    await pilot.pause()


# --------------------------------------------------------------------------- part 1: scale


async def scale_app(jobs: int, batches: int, repeat: int) -> dict[str, Any]:
    from canfar_tui.app import create_app
    from canfar_tui.clients.bundle import Clients
    from canfar_tui.widgets.queue.view import QueueView

    home = Path(tempfile.mkdtemp(prefix="bench-queue-home-"))
    settings = isolated_settings(home)
    queue = SynthQueue(jobs, batches)
    # No events for the 1 % changes: the refresh is triggered directly, and 500 hold events
    # would each raise a notification (measured apart, see README).
    queue.log_events = False
    gc.collect()
    base = rss_mb()
    app = create_app(settings, Clients("bench", queue=queue, mode_label="SANDBOX"))
    result: dict[str, Any] = {"rss_base_mb": base["VmRSS"]}
    async with app.run_test(size=SIZE) as pilot:
        frames = FrameWatch(app)
        await settle(pilot, 0.3)
        for mode, key, first in (
            ("batches", "5", r"1000\.0-\d+"),  # JOB_IDS of the first batch
            ("jobs", "n", r"exp-0000000"),  # CMD of the first job
        ):
            gc.collect()
            frame = frames.wait(first)
            start = time.perf_counter()
            await pilot.press(key)
            end, _, _, _ = await asyncio.wait_for(frame, 300)
            result[f"{mode}_first_paint"] = end - start
            view = app.view("queue")
            assert isinstance(view, QueueView) and view.mode == mode
            await settle(pilot, 0.5)
            result[f"{mode}_rows"] = view.table.row_count
            walls, cpus, clients, mains = [], [], [], []
            for rep in range(repeat):
                await settle(pilot, 0.1)
                while view.poller is not None and view.poller.in_flight:
                    await asyncio.sleep(0.01)
                held = one_percent(queue, rep + (0 if mode == "batches" else 50))
                gc.collect()
                frame = frames.wait(rf"running, {held} held")
                start, cpu, busy = time.perf_counter(), time.process_time(), queue.busy
                main = time.thread_time()
                assert view.poller is not None
                view.poller.refresh_now()
                end, cpu_end, _, main_end = await asyncio.wait_for(frame, 120)
                walls.append(end - start)
                cpus.append(cpu_end - cpu)
                mains.append(main_end - main)
                clients.append(queue.busy - busy)
            result[f"{mode}_refresh_client"] = clients
            result[f"{mode}_refresh_main_cpu"] = mains
            result[f"{mode}_refresh_wall"] = walls
            result[f"{mode}_refresh_cpu"] = cpus
            rss = rss_mb()
            result[f"{mode}_rss_mb"] = rss["VmRSS"]
            result[f"{mode}_hwm_mb"] = rss["VmHWM"]
            # idle cost: the periodic full query with nothing changed, tab visible
            await settle(pilot, 0.2)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(4.0)
            result[f"{mode}_idle_cpu_share"] = (time.process_time() - cpu0) / (
                time.perf_counter() - wall0
            )
        result["frames"] = frames.frames
    return result


def peer_rows(items: Sequence[Any], mode: str) -> list[tuple[object, ...]]:
    from datetime import UTC, datetime

    from rich.text import Text

    from canfar_tui.widgets.queue.view import QueueView

    fake = SimpleNamespace(mode=mode, marked=set())
    make = QueueView._row_maker(fake, datetime.now(UTC))  # type: ignore[arg-type]
    out: list[tuple[object, ...]] = []
    for item in items:
        cells = make(item)
        out.append(
            tuple(
                cell if isinstance(cell, Text) else "" if cell is None else str(cell)
                for cell in cells
            )
        )
    return out


async def scale_datatable(jobs: int, batches: int, repeat: int) -> dict[str, Any]:
    from textual.widgets import DataTable

    from canfar_tui.widgets.queue.rows import merge_batches
    from canfar_tui.widgets.queue.view import BATCH_COLUMNS, JOB_COLUMNS

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_table import BenchApp

    result: dict[str, Any] = {}
    for mode, columns, sentinel in (
        ("batches", BATCH_COLUMNS, "1000.0-"),
        ("jobs", JOB_COLUMNS, "exp-0000000"),
    ):
        queue = SynthQueue(jobs, batches)

        async def fetch(queue: SynthQueue = queue, mode: str = mode) -> list[Any]:
            if mode == "batches":
                return merge_batches(await queue.list_batches(), await queue.history(limit=500))
            live = await queue.list_jobs()
            return [*live, *await queue.history(limit=500)]

        def make(columns: Any = columns) -> DataTable[Any]:
            table: DataTable[Any] = DataTable(cursor_type="row")
            for column in columns:
                table.add_column(column.label, key=column.key)
            return table

        gc.collect()
        base = rss_mb()["VmRSS"]
        app = BenchApp(make)
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(DataTable)
            table.focus()
            await settle(pilot)
            gc.collect()
            frame = app.frame_with(sentinel)
            start = time.perf_counter()
            table.add_rows(peer_rows(await fetch(), mode))
            end, _ = await asyncio.wait_for(frame, 600)
            result[f"{mode}_first_paint"] = end - start
            await settle(pilot, 0.2)
            result[f"{mode}_rss_mb"] = rss_mb()["VmRSS"]
            result[f"{mode}_rss_delta_mb"] = rss_mb()["VmRSS"] - base
            walls, cpus, clients = [], [], []
            for rep in range(repeat):
                one_percent(queue, rep + (0 if mode == "batches" else 50))
                gc.collect()
                frame = app.frame_with(sentinel)
                start, cpu, busy = time.perf_counter(), time.process_time(), queue.busy
                rows = peer_rows(await fetch(), mode)
                table.clear()
                table.add_rows(rows)
                end, cpu_end = await asyncio.wait_for(frame, 600)
                walls.append(end - start)
                cpus.append(cpu_end - cpu)
                clients.append(queue.busy - busy)
                await settle(pilot, 0.1)
                print(
                    f"    DataTable {mode}: rebuild {rep + 1}/{repeat} {walls[-1]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
            result[f"{mode}_refresh_wall"] = walls
            result[f"{mode}_refresh_cpu"] = cpus
            result[f"{mode}_refresh_client"] = clients
            result[f"{mode}_hwm_mb"] = rss_mb()["VmHWM"]
        del app, table
        gc.collect()
    return result


# --------------------------------------------------------------------------- part 2: latency


async def latency_app(jobs: int, sleep: float) -> dict[str, Any]:
    from canfar_tui.app import create_app
    from canfar_tui.clients.bundle import Clients
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
    from canfar_tui.widgets.queue.view import QueueView

    home = Path(tempfile.mkdtemp(prefix="bench-queue-home-"))
    settings = isolated_settings(home)
    work = home / "job"
    work.mkdir()
    script = work / "tiny.sh"
    script.write_text(f"#!/bin/sh\nsleep {sleep}\necho done\n")
    script.chmod(0o755)
    queue = SandboxQueue(home / "sandbox-queue", slots=1, keep_running=False)
    app = create_app(settings, Clients("bench", queue=queue, mode_label="SANDBOX"))
    samples: dict[str, list[float]] = {"R": [], "C": []}
    async with app.run_test(size=SIZE) as pilot:
        frames = FrameWatch(app, full_screen=True)
        await pilot.press("5")
        await settle(pilot, 0.5)
        await pilot.press("n")
        view = app.view("queue")
        assert isinstance(view, QueueView)
        for _ in range(200):
            if view.state in ("empty", "ready"):
                break
            await asyncio.sleep(0.05)
        for _ in range(jobs):
            await settle(pilot, 0.3)
            description = (
                "executable = tiny.sh\noutput = tiny-$(Cluster).out\n"
                "error = tiny-$(Cluster).err\nlog = tiny.log\nqueue\n"
            )
            # frames are only searched once the cluster id is known: a row showing R before
            # then would be missed (the latency would read high, not low)
            _, cursor = await queue.events_since(None)
            result = await queue.submit(description, submit_dir=work)
            cluster = result.cluster
            frame_r = frames.wait(rf"(?:^|\s){cluster}\.0\s.*\sR\s+tiny\.sh")
            frame_c = frames.wait(rf"(?:^|\s){cluster}\.0\s.*\sC\s+tiny\.sh")
            both = asyncio.gather(frame_r, frame_c)
            (_, _, t_r, _), (_, _, t_c, _) = await asyncio.wait_for(both, 60)
            events, _ = await queue.events_since(cursor)
            mine = {e.kind: e.time.timestamp() for e in events if e.job_id.cluster == cluster}
            samples["R"].append(t_r - mine[JobEventKind.EXECUTE])
            samples["C"].append(t_c - mine[JobEventKind.TERMINATED])
            print(
                f"    job {cluster}.0: running on screen {samples['R'][-1] * 1000:.0f} ms, "
                f"completed on screen {samples['C'][-1] * 1000:.0f} ms after its event",
                file=sys.stderr,
                flush=True,
            )
    await queue.aclose()
    return samples


# --------------------------------------------------------------------------- part 3: pty


def serve_app(jobs: int, batches: int) -> None:
    """Run the real app (not headless) over a synthetic queue: one job changes per second."""
    from canfar_tui.app import create_app
    from canfar_tui.clients.bundle import Clients

    home = Path(tempfile.mkdtemp(prefix="bench-queue-home-"))
    settings = isolated_settings(home)
    queue = SynthQueue(jobs, batches, per_second=True)
    app = create_app(settings, Clients("bench", queue=queue, mode_label="SANDBOX"))
    app.run()


class PtyRun:
    """A command in a pseudo-terminal of PTY_SIZE; counts what it writes, with timestamps."""

    def __init__(self, argv: list[str], label: str) -> None:
        self.label = label
        master, slave = os.openpty()
        cols, rows = PTY_SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self.chunks: list[tuple[float, int]] = []
        self.raw: list[tuple[float, bytes]] = []
        self.tail = b""

    def read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.chunks.append((time.monotonic(), len(data)))
            self.raw.append((time.monotonic(), data))
            self.tail = (self.tail + data)[-200_000:]

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def bytes_between(self, start: float, end: float) -> int:
        return sum(n for t, n in self.chunks if start <= t < end)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, b"\x11")  # ctrl+q
        deadline = time.monotonic() + 3
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read()
            time.sleep(0.05)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(3)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


def pump(runs: Sequence[PtyRun], seconds: float, also: Callable[[], None] | None = None) -> None:
    end = time.monotonic() + seconds
    selector = selectors.DefaultSelector()
    for run in runs:
        selector.register(run.master, selectors.EVENT_READ, run)
    while (left := end - time.monotonic()) > 0:
        for key, _ in selector.select(min(left, 0.1)):
            key.data.read()
        if also is not None:
            also()
    selector.close()


def bandwidth(jobs: int, batches: int, seconds: float) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-watch-"))
    listing = tmp / "condor_q.txt"
    model = SynthQueue(jobs, batches, per_second=True)
    last_write = [0.0]

    def rewrite() -> None:
        now = time.time()
        if now - last_write[0] >= 1.0:
            last_write[0] = now
            part = listing.with_suffix(".part")
            part.write_text(model.condor_q_text())
            part.replace(listing)

    rewrite()
    runs = {
        "app (batches view)": PtyRun(
            [*me, "--serve-app", "--jobs", str(jobs), "--batches", str(batches)], "batches"
        ),
        "app (jobs view, n)": PtyRun(
            [*me, "--serve-app", "--jobs", str(jobs), "--batches", str(batches)], "jobs"
        ),
        "watch -n1 cat condor_q": PtyRun(["watch", "-n1", "cat", str(listing)], "watch"),
    }
    all_runs = list(runs.values())
    # start-up: let each paint, then show the Queue tab (and the jobs view)
    pump(all_runs, 4.0, rewrite)
    for run in all_runs[:2]:
        run.write(b"5")
    pump(all_runs, 2.0, rewrite)
    all_runs[1].write(b"n")
    pump(all_runs, 4.0, rewrite)  # the first paint of the views (10 000 rows) and a refresh
    screens = {
        name: plain(run.tail[-20000:].decode("utf-8", "replace")) for name, run in runs.items()
    }
    start = time.monotonic()
    pump(all_runs, seconds, rewrite)
    end = time.monotonic()
    result: dict[str, Any] = {}
    for name, run in runs.items():
        total = run.bytes_between(start, end)
        per_second = [run.bytes_between(start + s, start + s + 1) for s in range(int(end - start))]
        result[name] = {
            "bytes": total,
            "rate": total / (end - start),
            "max_second": max(per_second) if per_second else 0,
            "median_second": statistics.median(per_second) if per_second else 0,
            "alive": run.proc.poll() is None,
            "saw_totals": "jobs;" in screens[name] or "do_catalogue" in screens[name],
        }
        dump = tmp / f"{run.label}.out"
        dump.write_bytes(b"".join(d for t, d in run.raw if start <= t < end))
        result[name]["dump"] = str(dump)
    for run in all_runs:
        run.stop()
    result["_seconds"] = end - start
    result["_dumps"] = str(tmp)
    return result


# --------------------------------------------------------------------------- driver


def child(part: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one part in a fresh interpreter and return its JSON result."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--part",
        part,
        "--jobs",
        str(args.jobs),
        "--batches",
        str(args.batches),
        "--repeat",
        str(args.repeat),
        "--peer-repeat",
        str(args.peer_repeat),
        "--latency-jobs",
        str(args.latency_jobs),
    ]
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"part {part} failed ({done.returncode})")
    print(f"  part {part}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def ui_ms(result: dict[str, Any], mode: str, *, thread: str = "main") -> float:
    """CPU time of the refresh minus the client's own, on the screen's thread (``main``; the
    app digests large refreshes in a worker thread) or in the whole process (``all``)."""
    key = f"{mode}_refresh_main_cpu" if thread == "main" else f"{mode}_refresh_cpu"
    cpu = result.get(key, result[f"{mode}_refresh_cpu"])  # the DataTable has one thread
    client = result[f"{mode}_refresh_client"]
    return ms([a - b for a, b in zip(cpu, client, strict=True)])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 30 s of pty")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=None, help="app refreshes (median)")
    parser.add_argument("--peer-repeat", type=int, default=None, help="DataTable rebuilds")
    parser.add_argument("--latency-jobs", type=int, default=None)
    parser.add_argument("--pty-jobs", type=int, default=10_000)
    parser.add_argument("--pty-seconds", type=float, default=None)
    parser.add_argument("--only", nargs="+", choices=("scale", "latency", "pty"))
    parser.add_argument("--part", choices=("app", "datatable", "latency"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (3 if args.quick else 5)
    args.peer_repeat = args.peer_repeat or (1 if args.quick else 2)
    args.latency_jobs = args.latency_jobs or (3 if args.quick else 5)
    pty_seconds = args.pty_seconds or (30.0 if args.quick else 60.0)

    if args.serve_app:
        serve_app(args.jobs, args.batches)
        return
    if args.part == "app":
        print(json.dumps(asyncio.run(scale_app(args.jobs, args.batches, args.repeat))))
        return
    if args.part == "datatable":
        print(json.dumps(asyncio.run(scale_datatable(args.jobs, args.batches, args.peer_repeat))))
        return
    if args.part == "latency":
        print(json.dumps(asyncio.run(latency_app(args.latency_jobs, 1.0))))
        return

    parts = set(args.only or ("scale", "latency", "pty"))
    loads: dict[str, str] = {"start": load()}
    app = peer = lat = bw = None
    if "scale" in parts:
        app = child("app", args)
        loads["after app"] = load()
        peer = child("datatable", args)
        loads["after DataTable"] = load()
    if "latency" in parts:
        lat = child("latency", args)
        loads["after latency"] = load()
    if "pty" in parts:
        print(f"  part pty: {pty_seconds:.0f} s of counting…", file=sys.stderr, flush=True)
        bw = bandwidth(args.pty_jobs, max(1, args.pty_jobs // 100), pty_seconds)
        loads["after pty"] = load()

    print()
    print(
        f"Python {platform.python_version()}, Textual {version('textual')}, "
        f"{platform.machine()} x{os.cpu_count()}; load average (1/5/15 min): "
        + "; ".join(f"{k}: {v}" for k, v in loads.items())
    )
    targets: list[str] = []
    if app is not None and peer is not None:
        print(
            f"\n1. Queue tab, {args.jobs} jobs in {args.batches} batches, headless "
            f"{SIZE[0]}x{SIZE[1]}; medians of {args.repeat} (app) / {args.peer_repeat} "
            "(DataTable) refreshes"
        )
        header = f"{'metric':36} {'app':>11} {'DataTable':>11} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        for mode in ("batches", "jobs"):
            rows = [
                (
                    "first paint (ms)",
                    app[f"{mode}_first_paint"] * 1000,
                    peer[f"{mode}_first_paint"] * 1000,
                ),
                (
                    "1% refresh, wall (ms)",
                    ms(app[f"{mode}_refresh_wall"]),
                    ms(peer[f"{mode}_refresh_wall"]),
                ),
                (
                    "1% refresh, CPU (ms)",
                    ms(app[f"{mode}_refresh_cpu"]),
                    ms(peer[f"{mode}_refresh_cpu"]),
                ),
                (
                    "1% refresh, CPU - client (ms)",
                    ui_ms(app, mode, thread="all"),
                    ui_ms(peer, mode, thread="all"),
                ),
                (
                    "1% refresh, UI-thread CPU - client",
                    ui_ms(app, mode),
                    ui_ms(peer, mode),
                ),
                ("RSS after refreshes (MB)", app[f"{mode}_rss_mb"], peer[f"{mode}_rss_mb"]),
            ]
            for label, ours, theirs in rows:
                print(f"{mode + ': ' + label:36} {ours:11.1f} {theirs:11.1f} {ours / theirs:7.3f}")
        print(
            f"app: {app['jobs_rows']} job rows, {app['batches_rows']} batch rows; peak RSS "
            f"{app['jobs_hwm_mb']:.0f} MB (before the app: {app['rss_base_mb']:.0f} MB with the "
            f"synthetic queue); DataTable process peak {peer['jobs_hwm_mb']:.0f} MB"
        )
        print(
            "app idle CPU share with the tab shown (periodic full query, nothing changed): "
            f"batches {app['batches_idle_cpu_share']:.1%}, jobs {app['jobs_idle_cpu_share']:.1%}"
        )
        print(
            "app refreshes (ms, wall): batches "
            + ", ".join(f"{v * 1000:.1f}" for v in app["batches_refresh_wall"])
            + "; jobs "
            + ", ".join(f"{v * 1000:.1f}" for v in app["jobs_refresh_wall"])
        )
        for mode in ("batches", "jobs"):
            paint = app[f"{mode}_first_paint"] * 1000
            wall, ui = ms(app[f"{mode}_refresh_wall"]), ui_ms(app, mode)
            process = ui_ms(app, mode, thread="all")
            targets.append(
                f"{mode}: first paint {paint:.0f} ms <= 1000: "
                f"{'MET' if paint <= 1000 else 'MISSED'}"
            )
            targets.append(
                f"{mode}: 1% refresh UI-thread CPU {ui:.1f} ms (all threads {process:.1f} ms, "
                f"wall {wall:.1f} ms, client included) <= 30: {'MET' if ui <= 30 else 'MISSED'}"
            )
        hwm = app["jobs_hwm_mb"]
        targets.append(f"peak RSS {hwm:.0f} MB <= 400: {'MET' if hwm <= 400 else 'MISSED'}")
    if lat is not None:
        print(f"\n2. Event latency, sandbox executor, {len(lat['R'])} tiny jobs, jobs view")
        for letter, what in (
            ("R", "execute event -> row shows R"),
            ("C", "terminated event -> row shows C"),
        ):
            values = lat[letter]
            print(f"{what:36} median {ms(values):6.0f} ms, max {max(values) * 1000:6.0f} ms")
        worst = max(max(lat["R"]), max(lat["C"]))
        targets.append(
            f"event latency max {worst * 1000:.0f} ms <= 1000: {'MET' if worst <= 1 else 'MISSED'}"
        )
    if bw is not None:
        seconds = bw.pop("_seconds")
        dumps = bw.pop("_dumps")
        print(
            f"\n3. Bytes written to a {PTY_SIZE[0]}x{PTY_SIZE[1]} pty over {seconds:.0f} s, "
            f"{args.pty_jobs} jobs, one change per second"
        )
        watch = bw["watch -n1 cat condor_q"]["rate"]
        header = f"{'program':26} {'B/s':>9} {'median B/s':>11} {'max B/s':>9} {'vs watch':>9}"
        print(header)
        print("-" * len(header))
        for name, value in bw.items():
            print(
                f"{name:26} {value['rate']:9.0f} {value['median_second']:11.0f} "
                f"{value['max_second']:9.0f} {value['rate'] / watch:9.2f}"
                + (
                    ""
                    if value["alive"] and value["saw_totals"]
                    else "  (CHECK: not running or the queue was not shown)"
                )
            )
        print(f"(what each wrote while counted, and the listing: {dumps})")
        for name in ("app (batches view)", "app (jobs view, n)"):
            rate = bw[name]["rate"]
            targets.append(f"{name}: {rate:.0f} B/s <= 2048: {'MET' if rate <= 2048 else 'MISSED'}")
    print("\ntargets:")
    for line in targets:
        print("  " + line)


if __name__ == "__main__":
    main()
