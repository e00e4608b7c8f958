"""The htcondor2 backend's pure half: job ads and user-log events as models, constraints.

Shared by the client (:mod:`~canfar_tui.clients.queue.condor.client`, in the dashboard's
process) and the worker process (:mod:`~canfar_tui.clients.queue.condor.worker`); it imports
no htcondor2. Everything here works on the plain JSON values that cross the pipe between them:

* **job ads**: :func:`job_from_ad` is one row of ``condor_q -nobatch`` / ``condor_history``,
  :func:`batches_from_ads` ``condor_q``'s default batch view; the projections name the
  attributes they need, :func:`resolve_job_path` makes a file attribute absolute against
  ``Iwd``.
* **events**: :func:`event_record` (in the worker) turns one user-log event into a JSON record,
  :func:`event_from_record` (in the client) that record into a :class:`JobEvent`.
* **cursor**: :class:`EventCursor` and :class:`LogPosition`, and their JSON form
  (:func:`cursor_reply`, :meth:`EventCursor.from_reply`).
* **constraints**: :func:`owner_constraint` and :func:`ids_constraint`.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from canfar_tui.clients.base import classad_string
from canfar_tui.models import Batch, Job, JobEvent, JobEventKind, JobId, JobStatus

__all__ = [
    "BATCH_PROJECTION",
    "EVENT_PAGE",
    "FILE_ATTRIBUTES",
    "JOB_PROJECTION",
    "EventCursor",
    "LogPosition",
    "batches_from_ads",
    "cursor_reply",
    "event_from_record",
    "event_record",
    "ids_constraint",
    "int_value",
    "job_from_ad",
    "owner_constraint",
    "resolve_job_path",
]

#: At most this many events per
#: :meth:`~canfar_tui.clients.queue.condor.client.CondorQueue.events_since` call.
EVENT_PAGE: Final = 1000
#: Job ad attributes of one row of ``condor_q -nobatch`` / ``condor_history``.
JOB_PROJECTION: Final = (
    "ClusterId",
    "ProcId",
    "Owner",
    "JobStatus",
    "Cmd",
    "Args",
    "Arguments",
    "JobBatchName",
    "QDate",
    "JobStartDate",
    "JobCurrentStartDate",
    "CompletionDate",
    "EnteredCurrentStatus",
    "ExitCode",
    "ExitBySignal",
    "HoldReason",
    "RequestCpus",
    "RequestMemory",
    "VMImage",
    "VMInstanceType",
    # What the default RequestMemory expression is computed from.
    "ImageSize",
    "MemoryUsage",
    "ResidentSetSize",
)
#: Job ad attributes of ``condor_q``'s batch view.
BATCH_PROJECTION: Final = (
    "ClusterId",
    "ProcId",
    "Owner",
    "JobStatus",
    "JobBatchName",
    "QDate",
    "TotalSubmitProcs",
)
#: Attributes that name files, resolved against ``Iwd`` (``/dev/null`` means none).
FILE_ATTRIBUTES: Final = ("In", "Out", "Err", "UserLog")
#: Jobs in these states have left ``condor_q``'s list (they wait only to be cleaned up).
_GONE: Final = frozenset({int(JobStatus.REMOVED), int(JobStatus.COMPLETED)})


# =========================================================================== pure conversions


def _when(value: object) -> datetime | None:
    """A Unix time from a job ad (0 and missing mean "never")."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(float(value), UTC)


def int_value(value: object, default: int = 0) -> int:
    """A job ad number as an int (bools, floats and numeric text too); ``default`` otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(float(value))
    return default


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def resolve_job_path(value: object, iwd: object) -> Path | None:
    """A job's file attribute as a path: relative to ``Iwd``; ``/dev/null`` or unset: None."""
    if not isinstance(value, str) or not value.strip() or value.strip() == "/dev/null":
        return None
    path = Path(value.strip())
    if not path.is_absolute() and isinstance(iwd, str) and iwd:
        path = Path(iwd) / path
    return path


def job_from_ad(ad: Mapping[str, object]) -> Job:
    """One :class:`Job` from a (projected) job ad, as ``condor_q -nobatch`` shows it."""
    cluster, proc = int_value(ad.get("ClusterId"), -1), int_value(ad.get("ProcId"), -1)
    status_value = int_value(ad.get("JobStatus"), int(JobStatus.IDLE))
    try:
        status = JobStatus(status_value)
    except ValueError:
        status = JobStatus.IDLE
    # HTCondor runs a job with Arguments (new syntax) when it has one, else Args (old syntax);
    # after condor_qedit of Arguments a job has both.
    arguments = _text(ad.get("Arguments")) or _text(ad.get("Args")) or ""
    batch = _text(ad.get("JobBatchName")) or f"ID: {cluster}"
    started = _when(ad.get("JobCurrentStartDate")) or _when(ad.get("JobStartDate"))
    finished = _when(ad.get("CompletionDate"))
    if finished is None and status in (JobStatus.COMPLETED, JobStatus.REMOVED):
        finished = _when(ad.get("EnteredCurrentStatus"))
    exit_code: int | None = None
    if status == JobStatus.COMPLETED and not ad.get("ExitBySignal") and "ExitCode" in ad:
        exit_code = int_value(ad.get("ExitCode"))
    hold_reason = _text(ad.get("HoldReason")) if status == JobStatus.HELD else None
    return Job(
        id=JobId(cluster, proc),
        owner=str(ad.get("Owner") or ""),
        status=status,
        command=str(ad.get("Cmd") or ""),
        arguments=arguments,
        batch_name=batch,
        submitted=_when(ad.get("QDate")),
        started=started,
        finished=finished,
        exit_code=exit_code,
        hold_reason=hold_reason,
        request_cpus=max(1, int_value(ad.get("RequestCpus"), 1)),
        request_memory_mb=max(0, int_value(ad.get("RequestMemory"), 0)),
        vm_image=_text(ad.get("VMImage")),
        vm_flavor=_text(ad.get("VMInstanceType")),
    )


def batches_from_ads(ads: Iterable[Mapping[str, object]]) -> list[Batch]:
    """``condor_q``'s default view from the queue's job ads (BATCH_PROJECTION).

    A batch is an owner plus ``JobBatchName`` (``ID: <cluster>`` without one). ``done`` counts
    the jobs of its clusters that are no longer in the queue (``TotalSubmitProcs`` minus the
    jobs still there), plus removed/completed ones waiting to leave. A batch whose jobs all
    left the queue is not shown.
    """
    clusters: dict[int, dict[str, Any]] = {}
    for ad in ads:
        cluster = int_value(ad.get("ClusterId"), -1)
        entry = clusters.setdefault(
            cluster,
            {
                "owner": str(ad.get("Owner") or ""),
                "name": _text(ad.get("JobBatchName")) or f"ID: {cluster}",
                "qdate": None,
                "submitted_procs": 0,
                "counts": collections.Counter[int](),
                "ids": [],
            },
        )
        status = int_value(ad.get("JobStatus"), int(JobStatus.IDLE))
        entry["counts"][status] += 1
        entry["submitted_procs"] = max(
            entry["submitted_procs"], int_value(ad.get("TotalSubmitProcs"))
        )
        qdate = int_value(ad.get("QDate"))
        if qdate > 0 and (entry["qdate"] is None or qdate < entry["qdate"]):
            entry["qdate"] = qdate
        if status not in _GONE:
            entry["ids"].append(JobId(cluster, int_value(ad.get("ProcId"), -1)))

    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for cluster in sorted(clusters):
        entry = clusters[cluster]
        if not entry["ids"]:
            continue
        counts: collections.Counter[int] = entry["counts"]
        in_queue = sum(counts.values())
        total = max(entry["submitted_procs"], in_queue)
        group = groups.setdefault(
            (entry["owner"], entry["name"]),
            {"qdate": None, "done": 0, "run": 0, "idle": 0, "held": 0, "total": 0, "ids": []},
        )
        if entry["qdate"] is not None and (
            group["qdate"] is None or entry["qdate"] < group["qdate"]
        ):
            group["qdate"] = entry["qdate"]
        gone = counts[int(JobStatus.REMOVED)] + counts[int(JobStatus.COMPLETED)]
        group["done"] += total - in_queue + gone
        group["run"] += counts[int(JobStatus.RUNNING)] + counts[int(JobStatus.TRANSFERRING_OUTPUT)]
        group["idle"] += counts[int(JobStatus.IDLE)]
        group["held"] += counts[int(JobStatus.HELD)] + counts[int(JobStatus.SUSPENDED)]
        group["total"] += total
        group["ids"].extend(sorted(entry["ids"], key=lambda job_id: job_id.proc))
    return [
        Batch(
            owner=owner,
            name=name,
            submitted=_when(group["qdate"]),
            done=group["done"],
            running=group["run"],
            idle=group["idle"],
            held=group["held"],
            total=group["total"],
            job_ids=tuple(group["ids"]),
        )
        for (owner, name), group in groups.items()
    ]


_EVENT_KINDS: Final = {
    "SUBMIT": JobEventKind.SUBMIT,
    "EXECUTE": JobEventKind.EXECUTE,
    "JOB_TERMINATED": JobEventKind.TERMINATED,
    "JOB_HELD": JobEventKind.HELD,
    "JOB_RELEASED": JobEventKind.RELEASED,
    "JOB_ABORTED": JobEventKind.ABORTED,
    "JOB_EVICTED": JobEventKind.EVICTED,
}


def event_record(type_name: str, data: Mapping[str, object], timestamp: float) -> dict[str, Any]:
    """What the worker sends for one user-log event (plain JSON values)."""
    cluster = int_value(data.get("Cluster", data.get("cluster")), -1)
    proc = int_value(data.get("Proc", data.get("proc")), 0)
    exit_code: int | None = None
    if type_name == "SUBMIT":
        text = "Job submitted"
    elif type_name == "EXECUTE":
        where = _text(data.get("SlotName")) or _text(data.get("ExecuteHost")) or "a slot"
        text = f"Job executing on {where}"
    elif type_name == "JOB_TERMINATED":
        if data.get("TerminatedNormally", True) and "ReturnValue" in data:
            exit_code = int_value(data.get("ReturnValue"))
            text = f"Job terminated normally with exit code {exit_code}"
        else:
            signal = int_value(data.get("TerminatedBySignal"), 0)
            text = f"Job terminated by signal {signal}" if signal else "Job terminated abnormally"
    elif type_name == "JOB_HELD":
        text = _text(data.get("HoldReason")) or "Job was held"
    elif type_name == "JOB_RELEASED":
        text = _text(data.get("Reason")) or _text(data.get("ReleaseReason")) or "Job was released"
    elif type_name == "JOB_ABORTED":
        text = _text(data.get("Reason")) or "Job was removed"
    elif type_name == "JOB_EVICTED":
        text = _text(data.get("Reason")) or "Job was evicted"
    else:
        text = type_name.replace("_", " ").capitalize()
    return {
        "cluster": cluster,
        "proc": proc,
        "type": type_name,
        "time": float(timestamp),
        "text": " ".join(text.split()),
        "exit_code": exit_code,
    }


def event_from_record(record: Mapping[str, Any]) -> JobEvent:
    """A :class:`JobEvent` from a worker record (:func:`event_record`)."""
    return JobEvent(
        job_id=JobId(int(record["cluster"]), int(record["proc"])),
        kind=_EVENT_KINDS.get(str(record["type"]), JobEventKind.OTHER),
        time=datetime.fromtimestamp(float(record["time"]), UTC),
        text=str(record.get("text") or ""),
        exit_code=record.get("exit_code"),
    )


# --------------------------------------------------------------------------- cursor


@dataclass(frozen=True, slots=True)
class LogPosition:
    """How far one user log has been read, and which clusters in it count."""

    path: str
    offset: int
    #: Events of clusters at or below this are skipped (they predate the cursor); -1: none.
    floor: int = -1
    #: Events stamped before this Unix time are skipped too (0: none). A log first seen after
    #: the cursor started may be shared with jobs that finished before it.
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class EventCursor:
    """The opaque cursor of ``CondorQueue.events_since``: offsets into the user logs."""

    logs: tuple[LogPosition, ...]
    #: Clusters above this appeared after the logs were last looked for.
    last_cluster: int
    #: When the logs were last looked for (the history is searched back from there).
    checked_at: float
    #: When the cursor started ("now" of ``events_since(None)``).
    started_at: float = 0.0
    #: The client that made it (a cursor of another pool or user means nothing here).
    owner: str = field(default="", compare=False)

    def as_request(self) -> dict[str, Any]:
        return {
            "logs": [[log.path, log.offset, log.floor, log.since] for log in self.logs],
            "last_cluster": self.last_cluster,
            "checked_at": self.checked_at,
            "started_at": self.started_at,
        }

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any], owner: str) -> EventCursor:
        return cls(
            logs=tuple(
                LogPosition(str(path), int(offset), int(floor), float(since))
                for path, offset, floor, since in reply["logs"]
            ),
            last_cluster=int(reply["last_cluster"]),
            checked_at=float(reply["checked_at"]),
            started_at=float(reply["started_at"]),
            owner=owner,
        )


def cursor_reply(
    positions: Sequence[LogPosition], last_cluster: int, checked_at: float, started_at: float
) -> dict[str, Any]:
    """The JSON form of a cursor (see :meth:`EventCursor.from_reply`)."""
    return {
        "logs": [[pos.path, pos.offset, pos.floor, pos.since] for pos in positions],
        "last_cluster": int(last_cluster),
        "checked_at": float(checked_at),
        "started_at": float(started_at),
    }


# =========================================================================== constraints


def owner_constraint(owner: str) -> str:
    """``Owner == "name"``: the jobs of one user."""
    return f"Owner == {classad_string(owner)}"


def ids_constraint(job_ids: Iterable[JobId]) -> str:
    """``(ClusterId == 3 && member(ProcId, {0, 1})) || …`` for a set of job ids."""
    by_cluster: dict[int, list[int]] = {}
    for job_id in job_ids:
        by_cluster.setdefault(int(job_id.cluster), []).append(int(job_id.proc))
    parts = []
    for cluster in sorted(by_cluster):
        procs = sorted(set(by_cluster[cluster]))
        if len(procs) == 1:
            parts.append(f"(ClusterId == {cluster} && ProcId == {procs[0]})")
        else:
            parts.append(
                f"(ClusterId == {cluster} && member(ProcId, {{{', '.join(map(str, procs))}}}))"
            )
    return " || ".join(parts) if parts else "false"
