"""The transfers panel: queued, running and finished uploads and downloads, one row each.

:class:`TransfersPanel` runs transfers it is given (any coroutine that reports progress: a
VOSpace upload or download, an archive fetch) with at most ``max_parallel`` at once (2 by
default; the rest wait in order). Each row shows a progress bar, the bytes moved, the rate
and the time left, and the state: ``queued``, ``running``, ``verifying MD5`` (all bytes moved,
the backend is checking them), ``done`` with the verified MD5, ``failed: <one line>`` or
``cancelled``. A transfer is reported done only when its coroutine returned, and the backends
return only after they verified the MD5.

Progress callbacks only update the transfer's record; a short timer paints the changed rows,
so a fast transfer cannot flood the screen with updates.

| key            | action                                  |
|----------------|-----------------------------------------|
| `↑`/`↓`, `k`/`j` | move between transfers                 |
| `enter`        | details of the transfer                 |

(Cancelling and clearing are keys of the tab that owns the panel: ``x`` and ``X`` on VOSpace.)
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from canfar_tui.clients.base import ClientError, ProgressCallback
from canfar_tui.logs import get_logger
from canfar_tui.models import Transfer, TransferDirection, TransferState
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.resource_table import Column, ResourceTable

log = get_logger("transfers")

#: A transfer's work: called with a progress callback, returns a one-line result ("MD5 …").
TransferRun = Callable[[ProgressCallback], Awaitable[str]]

#: Seconds of progress samples the rate is computed over.
RATE_WINDOW_SECONDS = 3.0
BAR_WIDTH = 10
FINISHED = frozenset({TransferState.DONE, TransferState.FAILED, TransferState.CANCELLED})


def progress_bar(done: int, total: int | None, width: int = BAR_WIDTH) -> Text:
    """``█████░░░░░  48%`` (or a bare bar of dots when the size is unknown)."""
    if not total:
        return Text("·" * width + "     ")
    fraction = max(0.0, min(1.0, done / total))
    filled = int(fraction * width)
    return Text(f"{'█' * filled}{'░' * (width - filled)} {int(fraction * 100):3d}%")


def rate_text(rate: float | None) -> str | None:
    """Bytes per second as ``"12.3 MB/s"``."""
    if rate is None:
        return None
    return f"{human_size(int(rate))}/s"


def eta_text(seconds: float | None) -> str | None:
    """Seconds left as ``"42s"``, ``"3m05s"`` or ``"1h02m"``."""
    if seconds is None:
        return None
    seconds = max(0, int(seconds + 0.5))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass(eq=False)
class TransferJob:
    """One transfer and everything the panel shows about it (mutable, owned by the panel)."""

    id: str
    direction: TransferDirection
    name: str
    source: str
    destination: str
    run: TransferRun = field(repr=False)
    kind: str = ""
    state: TransferState = TransferState.QUEUED
    done: int = 0
    total: int | None = None
    #: The failure line, or the result line ("MD5 …") when done.
    message: str = ""
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancelling: bool = False
    worker: Worker[None] | None = field(default=None, repr=False)
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED

    def record(self, done: int, total: int | None, now: float) -> None:
        """A progress report from the backend."""
        self.done = done
        if total is not None:
            self.total = total
        self.samples.append((now, done))
        if (
            self.state is TransferState.RUNNING
            and self.total is not None
            and done >= self.total
            and self.total > 0
        ):
            self.state = TransferState.VERIFYING

    def rate(self, now: float) -> float | None:
        """Bytes per second over the last few seconds (overall average once finished)."""
        if self.finished_state:
            if (
                self.started is None
                or self.finished is None
                or self.state is not (TransferState.DONE)
            ):
                return None
            return self.done / max(self.finished - self.started, 1e-3)
        recent = [(t, d) for t, d in self.samples if now - t <= RATE_WINDOW_SECONDS]
        if len(recent) < 2:
            return None
        (t0, d0), (t1, d1) = recent[0], recent[-1]
        if t1 - t0 < 0.2 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def eta(self, now: float) -> float | None:
        """Seconds left at the current rate."""
        rate = self.rate(now)
        if self.finished_state or rate is None or not self.total:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def state_text(self) -> str:
        if self.cancelling and not self.finished_state:
            return "cancelling…"
        if self.state is TransferState.VERIFYING:
            return "verifying MD5…"
        if self.state is TransferState.FAILED:
            return f"failed: {self.message}"
        if self.state is TransferState.DONE:
            return f"done · {self.message}" if self.message else "done"
        return self.state.value

    def snapshot(self) -> Transfer:
        """The transfer as a frozen :class:`~canfar_tui.models.Transfer`."""
        return Transfer(
            id=self.id,
            direction=self.direction,
            source=self.source,
            destination=self.destination,
            state=self.state,
            bytes_done=self.done,
            bytes_total=self.total,
            error=self.message if self.state is TransferState.FAILED else None,
        )


class TransfersPanel(Vertical):
    """Runs transfers (at most ``max_parallel`` at once) and shows their progress."""

    # The state (with a failure's one line) comes right after the bar, so that it stays on
    # screen at 80 columns; rate and time left follow.
    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("id", "#", justify="right"),
        Column("name", "NAME", width=24),
        Column("progress", "PROGRESS", width=BAR_WIDTH + 5),
        Column("state", "STATE"),
        Column("size", "SIZE", justify="right"),
        Column("rate", "RATE", justify="right"),
        Column("eta", "ETA", justify="right"),
    )
    #: Seconds between two paints of the changed rows.
    PAINT_INTERVAL: ClassVar[float] = 0.25

    class Finished(Message):
        """A transfer ended (done, failed or cancelled)."""

        def __init__(self, panel: TransfersPanel, job: TransferJob) -> None:
            super().__init__()
            self.panel = panel
            self.job = job

    def __init__(self, *, max_parallel: int = 2, id: str | None = None) -> None:
        super().__init__(id=id, classes="transfers-panel")
        self.max_parallel = max(1, max_parallel)
        self.jobs: dict[str, TransferJob] = {}
        self._ids = itertools.count(1)
        self._changed: set[str] = set()
        self._queue: deque[str] = deque()
        self._active_count = 0

    def compose(self) -> ComposeResult:
        yield Static("Transfers", classes="transfers-status")
        yield ResourceTable(self.COLUMNS, classes="transfers-table")

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(self.PAINT_INTERVAL, self._paint)

    @property
    def table(self) -> ResourceTable:
        return self.query_one(".transfers-table", ResourceTable)

    @property
    def selected(self) -> TransferJob | None:
        """The transfer under the panel's cursor."""
        key = self.table.cursor_key
        return None if key is None else self.jobs.get(str(key))

    @property
    def active(self) -> list[TransferJob]:
        """Transfers queued or running."""
        return [job for job in self.jobs.values() if not job.finished_state]

    # ------------------------------------------------------------------ adding and running

    def add(
        self,
        direction: TransferDirection,
        name: str,
        source: str,
        destination: str,
        run: TransferRun,
        *,
        total: int | None = None,
        kind: str = "",
    ) -> TransferJob:
        """Queue a transfer; it starts as soon as fewer than ``max_parallel`` are running."""
        job = TransferJob(
            id=str(next(self._ids)),
            direction=direction,
            name=name,
            source=source,
            destination=destination,
            run=run,
            total=total,
            kind=kind or direction.value,
        )
        self.jobs[job.id] = job
        self.display = True
        self.table.apply_diff({job.id: self._row(job, time.monotonic())}, {}, frozenset())
        self._queue.append(job.id)
        self._start_waiting()
        self._update_status()
        return job

    def _start_waiting(self) -> None:
        while self._queue and self._active_count < self.max_parallel:
            job = self.jobs.get(self._queue.popleft())
            if job is None or job.finished_state:
                continue
            self._active_count += 1
            job.state = TransferState.RUNNING
            job.started = time.monotonic()
            job.worker = self.run_worker(
                self._execute(job),
                name=f"transfer {job.id}: {job.name}",
                group="transfers",
                exit_on_error=False,
            )
            self._changed.add(job.id)

    async def _execute(self, job: TransferJob) -> None:
        def progress(done: int, total: int | None) -> None:
            if not job.finished_state:
                job.record(done, total, time.monotonic())
                self._changed.add(job.id)

        try:
            result = await job.run(progress)
        except ClientError as error:
            job.message = error.message
            self._finish(job, TransferState.FAILED)
            log.warning("transfer %s %s failed: %s", job.kind, job.name, error.message)
            if error.details:
                log.info("transfer %s details: %s", job.name, error.details)
        except BaseException as error:
            if isinstance(error, Exception):
                # A bug, not a user's mistake: one line here, the traceback in the log.
                job.message = f"unexpected {type(error).__name__}: {error}".splitlines()[0][:200]
                self._finish(job, TransferState.FAILED)
                report_error = getattr(self.app, "report_error", None)
                if report_error is not None:
                    report_error(error, context=f"transfer {job.name}")
                else:
                    log.exception("transfer %s failed", job.name)
                return
            job.message = "cancelled"
            self._finish(job, TransferState.CANCELLED)
            raise  # let the worker end as cancelled
        else:
            job.message = result
            self._finish(job, TransferState.DONE)

    def _finish(self, job: TransferJob, state: TransferState) -> None:
        if job.finished_state:
            return
        job.state = state
        job.cancelling = False
        job.finished = time.monotonic()
        if state is TransferState.DONE and job.total is not None:
            job.done = job.total
        self._active_count -= 1
        self._changed.add(job.id)
        self._paint()
        self.post_message(self.Finished(self, job))
        self._start_waiting()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A transfer's worker ended before its coroutine could say so (cancelled early)."""
        if event.worker.group != "transfers" or event.state not in (
            WorkerState.CANCELLED,
            WorkerState.ERROR,
        ):
            return
        for job in self.jobs.values():
            if job.worker is event.worker and not job.finished_state:
                job.message = "cancelled"
                self._finish(job, TransferState.CANCELLED)

    # ------------------------------------------------------------------ control

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running transfer; False when it has already finished."""
        job = self.jobs.get(job_id)
        if job is None or job.finished_state:
            return False
        if job.state is TransferState.QUEUED:
            with_job = [queued for queued in self._queue if queued != job_id]
            self._queue = deque(with_job)
            job.message = "cancelled"
            job.state = TransferState.CANCELLED
            job.finished = time.monotonic()
            self._changed.add(job.id)
            self._paint()
            self.post_message(self.Finished(self, job))
            return True
        job.cancelling = True
        self._changed.add(job.id)
        if job.worker is not None:
            job.worker.cancel()
        self._paint()
        return True

    def clear_finished(self) -> int:
        """Remove finished transfers from the panel; returns how many."""
        gone = [job_id for job_id, job in self.jobs.items() if job.finished_state]
        for job_id in gone:
            del self.jobs[job_id]
            self._changed.discard(job_id)
        if gone:
            self.table.apply_diff({}, {}, frozenset(gone))
        if not self.jobs:
            self.display = False
        self._update_status()
        return len(gone)

    # ------------------------------------------------------------------ painting

    def _row(self, job: TransferJob, now: float) -> tuple[object, ...]:
        arrow = "↑" if job.direction is TransferDirection.UPLOAD else "↓"
        return (
            int(job.id),
            f"{arrow} {job.name}",
            progress_bar(job.done, job.total),
            job.state_text(),
            human_size(job.total),
            rate_text(job.rate(now)),
            eta_text(job.eta(now)),
        )

    def _paint(self) -> None:
        """Repaint the transfers whose progress changed (and every running one's rate)."""
        now = time.monotonic()
        keys = self._changed | {job.id for job in self.jobs.values() if not job.finished_state}
        self._changed = set()
        changed = {key: self._row(self.jobs[key], now) for key in keys if key in self.jobs}
        if changed:
            self.table.apply_diff({}, changed, frozenset())
        self._update_status()

    def _update_status(self) -> None:
        jobs = list(self.jobs.values())
        running = sum(
            1 for job in jobs if job.state in (TransferState.RUNNING, TransferState.VERIFYING)
        )
        queued = sum(1 for job in jobs if job.state is TransferState.QUEUED)
        done = sum(1 for job in jobs if job.state is TransferState.DONE)
        failed = sum(1 for job in jobs if job.state is TransferState.FAILED)
        parts = [f"Transfers · {running} running"]
        if queued:
            parts.append(f"{queued} queued")
        if done:
            parts.append(f"{done} done")
        if failed:
            parts.append(f"{failed} failed")
        parts.append("t: focus · x: cancel · X: clear finished")
        self.query_one(".transfers-status", Static).update(" · ".join(parts))
