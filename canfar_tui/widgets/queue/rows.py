"""The Queue tab's rows without Textual: cells, batch merging, row building and the tallies.

* :class:`JobIdCell` and :class:`RunTime` — cells that sort like numbers and read like
  ``condor_q`` (``12.10``, ``0+00:01:23``);
* :func:`merge_batches` and :func:`jobs_and_history` — the rows of the batches and jobs views
  from the queue and the history (:class:`BatchRow`: a batch with its finished jobs);
* :func:`row_maker` — the cells of a row, written for speed (100 000 jobs on a first paint);
* :func:`tally_queue` and :func:`batch_names` — the totals line, the running jobs and the
  batch names of a refresh, kept up to date from the Poller's diffs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from rich.text import Text

from canfar_tui.batch.joblog import duration_text
from canfar_tui.clients.refresh import Diff
from canfar_tui.models import Batch, Job, JobId, JobStatus

__all__ = [
    "BAR_WIDTH",
    "FINISHED",
    "NO_COUNTS",
    "BatchRow",
    "Counts",
    "JobIdCell",
    "QueueTally",
    "RunTime",
    "batch_names",
    "id_order",
    "job_ids_text",
    "jobs_and_history",
    "merge_batches",
    "progress_bar",
    "row_maker",
    "tally_queue",
]

#: Cells of the per-batch progress bar.
BAR_WIDTH: Final = 12
#: The states of a job that left the queue.
FINISHED: Final = (JobStatus.COMPLETED, JobStatus.REMOVED)


# --------------------------------------------------------------------------- cells and rows


_new_int = int.__new__
#: cluster × _ID_SCALE + proc: the sort order of job ids.
_ID_SCALE: Final = 10_000_000
_STATUS_LETTERS: Final = {status: status.letter for status in JobStatus}


class JobIdCell(int):
    """A ``cluster.proc`` cell that sorts numerically (12.9 before 12.10) and reads as text."""

    __slots__ = ()

    def __new__(cls, job_id: JobId) -> JobIdCell:
        return _new_int(cls, job_id.cluster * _ID_SCALE + job_id.proc)

    def __str__(self) -> str:
        cluster, proc = divmod(int(self), _ID_SCALE)
        return f"{cluster}.{proc}"


class RunTime(timedelta):
    """A duration cell shown like condor_q's RUN_TIME (``0+00:01:23``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return duration_text(self.total_seconds())


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One row of the batches view: a batch and what is known of its finished jobs."""

    batch: Batch
    #: Jobs of the batch that completed / were removed (from the history when known).
    completed: int
    removed: int
    #: False when no job of the batch is left in the queue (a complete batch).
    in_queue: bool = True

    @property
    def key(self) -> str:
        return self.batch.key


def job_ids_text(ids: Sequence[JobId]) -> str:
    """condor_q's JOB_IDS: ``12.0-3`` within one cluster, ``12.0 ... 13.2`` across clusters."""
    if not ids:
        return ""
    first, last = min(ids, key=id_order), max(ids, key=id_order)
    if first == last:
        return str(first)
    if first.cluster == last.cluster:
        return f"{first}-{last.proc}"
    return f"{first} ... {last}"


def jobs_and_history(jobs: Sequence[Job], history: Iterable[Job]) -> list[Job]:
    """The jobs in the queue, then the finished ones not (or no longer) among them."""
    seen = {job.id for job in jobs}
    return [*jobs, *(job for job in history if job.id not in seen)]


def id_order(job_id: JobId) -> tuple[int, int]:
    """The sort key of a job id: cluster, then proc."""
    return job_id.cluster, job_id.proc


def merge_batches(batches: Iterable[Batch], history: Iterable[Job]) -> list[BatchRow]:
    """Batches in the queue plus the batches whose jobs all left it (from the history).

    A batch in the queue keeps its own counts (its DONE covers its finished jobs); the history
    only splits DONE into completed and removed. A batch found only in the history is
    complete: every job it has there is done.
    """
    finished: dict[str, list[Job]] = {}
    for job in history:
        if job.status in FINISHED:
            finished.setdefault(f"{job.owner}/{job.batch_name}", []).append(job)
    rows: list[BatchRow] = []
    for batch in batches:
        jobs = finished.pop(batch.key, [])
        removed = min(batch.done, sum(1 for job in jobs if job.status is JobStatus.REMOVED))
        rows.append(BatchRow(batch, batch.done - removed, removed, True))
    for jobs in finished.values():
        first = jobs[0]
        ids = tuple(sorted((job.id for job in jobs), key=id_order))
        times = [job.submitted for job in jobs if job.submitted is not None]
        removed = sum(1 for job in jobs if job.status is JobStatus.REMOVED)
        batch = Batch(
            owner=first.owner,
            name=first.batch_name,
            submitted=min(times) if times else None,
            done=len(jobs),
            running=0,
            idle=0,
            held=0,
            total=len(jobs),
            job_ids=ids,
        )
        rows.append(BatchRow(batch, len(jobs) - removed, removed, False))
    return rows


def progress_bar(row: BatchRow, width: int = BAR_WIDTH) -> Text:
    """``███▓▓░░░░░░░  25%``: done, running, held and idle shares of the batch."""
    batch = row.batch
    total = max(batch.total, 1)
    parts = [(batch.done, "█", "bold"), (batch.running, "▓", ""), (batch.held, "!", "bold")]
    text = Text()
    used = 0
    for count, glyph, style in parts:
        cells = round(count * width / total)
        cells = min(cells, width - used)
        if count and not cells and used < width:
            cells = 1  # a running or held job is never invisible
        text.append(glyph * cells, style=style)
        used += cells
    text.append("░" * (width - used), style="dim")
    if not row.in_queue:
        text.append(" complete")
    else:
        text.append(f" {100 * batch.done // total:3d}%")
    return text


#: Submit times in local time, by UTC time: the jobs of a batch share one (a bounded cache).
_LOCAL_TIMES: dict[datetime, datetime] = {}
_LOCAL_TIMES_MAX: Final = 20_000


def _local(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is None:
        return when
    local = _LOCAL_TIMES.get(when)
    if local is None:
        if len(_LOCAL_TIMES) >= _LOCAL_TIMES_MAX:
            _LOCAL_TIMES.clear()
        local = _LOCAL_TIMES[when] = when.astimezone()
    return local


def _run_time(job: Job, now: datetime) -> RunTime | None:
    if job.started is None:
        return None
    end = job.finished if job.finished is not None else now
    started = job.started
    if (started.tzinfo is None) != (end.tzinfo is None):
        end = end.replace(tzinfo=started.tzinfo)
    return RunTime(seconds=max(0.0, (end - started).total_seconds()))


def _command(job: Job) -> str:
    # rpartition, not Path(): this runs once per row, for up to 100 000 jobs.
    name = job.command.rpartition("/")[2]
    return f"{name} {job.arguments}".strip()


def row_maker(
    *, held_view: bool, marked: set[Hashable], now: datetime
) -> Callable[[Any], tuple[object, ...]]:
    """A function making the cells of a row, RUN_TIME counted up to ``now``.

    ``held_view``: the rows of the held view (HOLD_REASON instead of RUN_TIME, ST, CMD);
    ``marked``: the keys of the rows marked for a bulk action (a ✓ in the first column).
    Written for speed: it runs once per job on the first paint of 100 000 jobs.
    """
    letters = _STATUS_LETTERS
    local = _local

    def make(item: Any) -> tuple[object, ...]:
        if type(item) is BatchRow:
            batch = item.batch
            return (
                "✓" if marked and batch.key in marked else "",
                batch.owner,
                batch.name,
                batch.done or None,
                batch.running or None,
                batch.idle or None,
                batch.held or None,
                batch.total,
                local(batch.submitted),
                progress_bar(item),
                job_ids_text(batch.job_ids),
            )
        job: Job = item
        job_id = job.id
        cell = _new_int(JobIdCell, job_id.cluster * _ID_SCALE + job_id.proc)
        mark = "✓" if marked and str(job_id) in marked else ""
        if held_view:
            return (
                mark,
                cell,
                job.owner,
                job.batch_name,
                local(job.submitted),
                job.hold_reason or "",
            )
        return (
            mark,
            cell,
            job.owner,
            job.batch_name,
            local(job.submitted),
            None if job.started is None else _run_time(job, now),
            letters[job.status],
            _command(job),
        )

    return make


#: (total, completed, removed, idle, running, held) of one row, for the totals line.
Counts = tuple[int, int, int, int, int, int]
NO_COUNTS: Final[Counts] = (0, 0, 0, 0, 0, 0)


_RUNNING_STATES: Final = frozenset({JobStatus.RUNNING, JobStatus.TRANSFERRING_OUTPUT})


def _counts(item: object) -> Counts:
    if isinstance(item, BatchRow):
        batch = item.batch
        return (batch.total, item.completed, item.removed, batch.idle, batch.running, batch.held)
    if isinstance(item, Job):
        status = item.status
        return (
            1,
            int(status is JobStatus.COMPLETED),
            int(status is JobStatus.REMOVED),
            int(status is JobStatus.IDLE),
            int(status in (JobStatus.RUNNING, JobStatus.TRANSFERRING_OUTPUT)),
            int(status in (JobStatus.HELD, JobStatus.SUSPENDED)),
        )
    return NO_COUNTS


#: The counts of one job in each state.
_STATUS_COUNTS: Final = {status: _counts(Job(JobId(0, 0), "", status)) for status in JobStatus}


@dataclass(frozen=True, slots=True)
class QueueTally:
    """The totals and running jobs of one snapshot of the queue (``of``: that snapshot)."""

    of: Mapping[Hashable, object]
    totals: Counts
    running: frozenset[Hashable]


def tally_queue(
    previous: QueueTally | None,
    previous_items: Mapping[Hashable, object],
    current: Mapping[Hashable, object],
    diff: Diff[Hashable, Any],
) -> QueueTally:
    """Totals and running jobs of ``current``: from ``previous`` and the diff when ``previous``
    is the tally of ``previous_items``, else counted afresh."""
    if previous is not None and previous.of is previous_items:
        totals = list(previous.totals)
        running = set(previous.running)
        for key in (*diff.removed, *diff.changed):
            totals = [a - b for a, b in zip(totals, _counts(previous_items[key]), strict=True)]
            running.discard(key)
        items: Iterable[tuple[Hashable, object]] = [*diff.added.items(), *diff.changed.items()]
    else:
        totals, running = list(NO_COUNTS), set()
        items = current.items()
    by_status: Counter[JobStatus] = Counter()
    running_states = _RUNNING_STATES
    for key, item in items:
        if type(item) is Job:
            status = item.status
            by_status[status] += 1
            if status in running_states:
                running.add(key)
        else:
            totals = [a + b for a, b in zip(totals, _counts(item), strict=True)]
    for status, count in by_status.items():
        totals = [a + b * count for a, b in zip(totals, _STATUS_COUNTS[status], strict=True)]
    return QueueTally(current, cast(Counts, tuple(totals)), frozenset(running))


def batch_names(items: Iterable[object]) -> dict[int, str]:
    """The batch name of each cluster among ``items`` (for "batch complete" notifications)."""
    names: dict[int, str] = {}
    for item in items:
        if isinstance(item, BatchRow):
            for job_id in item.batch.job_ids:
                names.setdefault(job_id.cluster, item.batch.name)
        elif isinstance(item, Job):
            names.setdefault(item.id.cluster, item.batch_name)
    return names
