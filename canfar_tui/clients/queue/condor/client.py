"""The htcondor2 backend: a real HTCondor access point (batch.canfar.net) as a QueueClient.

:class:`CondorQueue` implements :class:`~canfar_tui.clients.base.QueueClient`,
:class:`~canfar_tui.clients.base.SupportsHistory` and
:class:`~canfar_tui.clients.base.SupportsEditJob` with the htcondor2 Python bindings, the way
``condor_q``, ``condor_hold``/``condor_release``/``condor_rm``, ``condor_qedit``, ``condor_submit``,
``condor_history`` and ``condor_watch_q`` do:

* **where and who**: the collector, the schedd and the authentication methods come from the
  HTCondor configuration (``config_file``, else ``CONDOR_CONFIG``, else HTCondor's own search);
  on CANFAR that is typically an IDTOKEN in the token directory. The user is whoever the schedd
  authenticates the client as (``MyRemoteUserName`` of a ``ping``), unless ``owner`` is given.
* **condor_q**: :meth:`~CondorQueue.list_jobs` queries the schedd with a projection of only the
  attributes a row shows; completed and removed jobs leave the list (they are in
  :meth:`~CondorQueue.history`). :meth:`~CondorQueue.list_batches` groups like ``condor_q``'s
  default view: owner plus ``JobBatchName``, or ``ID: <cluster>`` without one; ``done`` is
  ``TotalSubmitProcs`` minus the cluster's jobs still in the queue. ``all_users`` is
  ``condor_q -allusers``.
* **actions**: hold / release / remove act on the user's own jobs only. Every id is checked
  first: an unknown id raises ``NotFound``, another user's job ``AuthError`` ("Permission
  denied", like ``condor_hold``), and then nothing changes. Jobs that are already in the target
  state, or that left the queue, are not counted.
* **edit_job** (:class:`~canfar_tui.clients.base.SupportsEditJob`): ``condor_qedit`` with
  ``Schedd.edit``, for the allow-listed attributes of the user's held or idle jobs only; the
  values are checked like the sandbox checks them, then set while the job is still held or
  idle (one ``Schedd.edit`` per attribute: the bindings have no multi-attribute transaction).
* **submit**: the description is checked and expanded offline first by the sandbox's
  :func:`~canfar_tui.clients.queue.submit_language.expand_submit` (a malformed description
  raises ``InvalidInput`` with its line number and nothing is queued); then it goes to the
  schedd with ``initialdir`` and ``executable`` made absolute against ``submit_dir`` (the
  bindings would use this process's working directory, ``condor_submit`` uses the user's), and
  ``queue … matching`` / ``queue … from FILE`` resolved there too.
* **events**: :meth:`~CondorQueue.events_since` follows the user job event logs (``UserLog``) of
  the user's jobs with ``htcondor2.JobEventLog``, like ``condor_watch_q``: one query finds the
  logs, then only new bytes are read. The cursor (:class:`EventCursor`) holds an offset per log;
  each call also picks up the logs of clusters submitted since (queue, or history for jobs that
  already left). ``None`` means "from now".
* **files**: :meth:`~CondorQueue.job_files` gives ``Out``, ``Err`` and ``UserLog`` resolved
  against ``Iwd``.

**Why a worker process.** The htcondor2 bindings keep Python's GIL while they wait on the
network (measured: a thread ticking every 10 ms ran twice during a 60 s wait for a silent
collector), so ``asyncio.to_thread`` would freeze the whole dashboard whenever the schedd is
slow. Every blocking htcondor2 call therefore runs in one child process
(``python -m canfar_tui.clients.queue.condor.client``) that this client starts on first use and
talks to over pipes,
one request at a time, each with a timeout (``call_timeout``). A call that times out kills
that process (by its PID) and raises ``Unavailable``; the next call starts a fresh one. The
child is also where the HTCondor configuration is read, so two clients may use two pools.

Two bindings quirks handled here: ``Schedd.act`` silently drops a reason given as a plain
string (the job's ``HoldReason`` ends up ""), so reasons go as ``(reason, None)``; and
``Collector.locate(Schedd)`` without a name only finds a schedd on this machine, so the first
schedd of ``locateAll`` is used unless ``SCHEDD_HOST`` (or ``schedd_name``) names one.

htcondor2 is never imported by this module in the dashboard's process; SDK exceptions become
:class:`~canfar_tui.clients.base.ClientError` subclasses here (:func:`map_condor_error`) and
nowhere else.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    Unavailable,
    editable_job_attributes,
)
from canfar_tui.models import (
    Batch,
    Job,
    JobEvent,
    JobEventKind,
    JobFiles,
    JobId,
    JobStatus,
    SubmitResult,
)

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "EVENT_PAGE",
    "CondorCalls",
    "CondorQueue",
    "EventCursor",
    "LogPosition",
    "LogReader",
    "PreparedSubmit",
    "batches_from_ads",
    "cursor_reply",
    "event_from_record",
    "event_record",
    "ids_constraint",
    "job_from_ad",
    "map_condor_error",
    "owner_constraint",
    "plain_ad",
    "prepare_submit",
    "resolve_job_path",
    "track_new_logs",
]

#: Seconds one call to the schedd (or the worker process) may take.
DEFAULT_CALL_TIMEOUT: Final = 30.0
#: At most this many events per :meth:`CondorQueue.events_since` call.
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
#: History records of jobs that left within this many seconds of a discovery are looked at.
_HISTORY_SLACK: Final = 120.0
_WORKER_READY_TIMEOUT: Final = 60.0
_OPEN_LOGS: Final = 256

_ACTIONS: Final = {
    # action: (states it applies to, the tool it stands for)
    "hold": (
        frozenset(
            {
                int(JobStatus.IDLE),
                int(JobStatus.RUNNING),
                int(JobStatus.TRANSFERRING_OUTPUT),
                int(JobStatus.SUSPENDED),
            }
        ),
        "condor_hold",
    ),
    "release": (frozenset({int(JobStatus.HELD)}), "condor_release"),
    "remove": (
        frozenset(
            {
                int(JobStatus.IDLE),
                int(JobStatus.RUNNING),
                int(JobStatus.HELD),
                int(JobStatus.TRANSFERRING_OUTPUT),
                int(JobStatus.SUSPENDED),
            }
        ),
        "condor_rm",
    ),
}


# =========================================================================== pure conversions


def _when(value: object) -> datetime | None:
    """A Unix time from a job ad (0 and missing mean "never")."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(float(value), UTC)


def _int(value: object, default: int = 0) -> int:
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
    cluster, proc = _int(ad.get("ClusterId"), -1), _int(ad.get("ProcId"), -1)
    status_value = _int(ad.get("JobStatus"), int(JobStatus.IDLE))
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
        exit_code = _int(ad.get("ExitCode"))
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
        request_cpus=max(1, _int(ad.get("RequestCpus"), 1)),
        request_memory_mb=max(0, _int(ad.get("RequestMemory"), 0)),
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
        cluster = _int(ad.get("ClusterId"), -1)
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
        status = _int(ad.get("JobStatus"), int(JobStatus.IDLE))
        entry["counts"][status] += 1
        entry["submitted_procs"] = max(entry["submitted_procs"], _int(ad.get("TotalSubmitProcs")))
        qdate = _int(ad.get("QDate"))
        if qdate > 0 and (entry["qdate"] is None or qdate < entry["qdate"]):
            entry["qdate"] = qdate
        if status not in _GONE:
            entry["ids"].append(JobId(cluster, _int(ad.get("ProcId"), -1)))

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
    cluster = _int(data.get("Cluster", data.get("cluster")), -1)
    proc = _int(data.get("Proc", data.get("proc")), 0)
    exit_code: int | None = None
    if type_name == "SUBMIT":
        text = "Job submitted"
    elif type_name == "EXECUTE":
        where = _text(data.get("SlotName")) or _text(data.get("ExecuteHost")) or "a slot"
        text = f"Job executing on {where}"
    elif type_name == "JOB_TERMINATED":
        if data.get("TerminatedNormally", True) and "ReturnValue" in data:
            exit_code = _int(data.get("ReturnValue"))
            text = f"Job terminated normally with exit code {exit_code}"
        else:
            signal = _int(data.get("TerminatedBySignal"), 0)
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


# --------------------------------------------------------------------------- errors

_AUTH_WORDS: Final = (
    "permission denied",
    "not authorized",
    "authenticat",
    "authoriz",
    "denied",
    "token",
    "security session",
)
_UNAVAILABLE_WORDS: Final = (
    "failed to connect",
    "failed communication",
    "unable to locate",
    "unable to find",
    "locate",
    "connect",
    "communication",
    "timed out",
    "timeout",
    "no route",
    "unreachable",
    "refused",
    "failed to get",
    "failed to fetch",
    "query failed",
)


def map_condor_error(op: str, kind: str, message: str) -> ClientError:
    """The ClientError for an exception the worker met (``kind`` is its class name).

    ``kind`` may also name a ClientError class raised on purpose in the worker (submit file
    errors from ``expand_submit`` are ``InvalidInput`` with a line number).
    """
    text = " ".join(str(message).split()) or kind
    known: dict[str, type[ClientError]] = {
        "InvalidInput": InvalidInput,
        "NotFound": NotFound,
        "AuthError": AuthError,
        "Conflict": Conflict,
        "Unavailable": Unavailable,
    }
    if kind in known:
        return known[kind](text)
    lowered = text.lower()
    if kind == "ImportError" or kind == "ModuleNotFoundError":
        return Unavailable(f"The htcondor Python bindings are not installed: {text}")
    if any(word in lowered for word in _AUTH_WORDS):
        return AuthError(f"HTCondor refused the request ({op}): {text}")
    rejected = kind in ("ValueError", "TypeError", "RuntimeError", "HTCondorException")
    if op == "submit" and rejected and not any(word in lowered for word in _UNAVAILABLE_WORDS):
        return InvalidInput(f"The schedd rejected the submission: {text}")
    if any(word in lowered for word in _UNAVAILABLE_WORDS) or kind in (
        "HTCondorException",
        "OSError",
        "TimeoutError",
        "ConnectionError",
    ):
        return Unavailable(f"The HTCondor schedd cannot be reached ({op}): {text}")
    if kind in ("ValueError", "TypeError"):
        return InvalidInput(f"HTCondor rejected the request ({op}): {text}")
    return Unavailable(f"HTCondor failed ({op}): {text}")


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
    """The opaque cursor of :meth:`CondorQueue.events_since`: offsets into the user logs."""

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


# =========================================================================== constraints


def _quote(text: str) -> str:
    """A ClassAd string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def owner_constraint(owner: str) -> str:
    return f"Owner == {_quote(owner)}"


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


# =========================================================================== the worker side
# Everything below up to the client runs in the worker process (it imports htcondor2).

_KEYWORD: Final = re.compile(r"\b(from|in|matching)\b", re.IGNORECASE)
_SLICE: Final = re.compile(r"^(\[[^\]]*\])\s*")


@dataclass(frozen=True, slots=True)
class PreparedSubmit:
    """A description ready for ``Schedd.submit``: what to set, and how to queue."""

    #: Submit commands to set (``initialdir``, ``executable``).
    overrides: Mapping[str, str]
    #: Queue arguments replacing the description's, or None to keep them.
    queue: str | None
    #: Item rows to submit with (``itemdata=``), or None.
    itemdata: tuple[Mapping[str, str], ...] | None
    #: Jobs per item row (with ``itemdata``).
    count: int
    #: ``batch_name`` of the description, "" without one.
    batch_name: str
    #: How many jobs the schedd should create.
    num_jobs: int


def _is_absolute(value: str) -> bool:
    value = value.strip()
    return value.startswith(("/", "$"))


def prepare_submit(
    description: str,
    submit_dir: Path,
    itemdata: Sequence[Mapping[str, str]] | None = None,
    *,
    check_files: bool = True,
) -> PreparedSubmit:
    """Check a description offline and say how to hand it to the schedd.

    Raises :class:`InvalidInput` (with a line number) for what ``condor_submit`` would refuse.
    Relative ``initialdir``/``executable`` are resolved against ``submit_dir``; so are the
    patterns of ``queue … matching`` (their matches become item rows) and the file of
    ``queue … from FILE``. Inline item lists, ``in (…)`` and ``queue N`` stay as written.
    """
    import htcondor2

    from canfar_tui.clients.queue.submit_language import expand_submit

    submit_dir = Path(submit_dir).expanduser().absolute()
    submission = expand_submit(
        description,
        cluster=1,
        submit_dir=submit_dir,
        itemdata=itemdata,
        check_files=check_files,
    )
    jobs = submission.jobs
    parsed = htcondor2.Submit(description.replace("\r\n", "\n"))
    raw = {str(key).lower(): str(value) for key, value in parsed.items()}

    overrides: dict[str, str] = {}
    iwd_key = next((key for key in ("initialdir", "initial_dir") if raw.get(key, "").strip()), None)
    if iwd_key is None:
        overrides["initialdir"] = str(submit_dir)
    elif not _is_absolute(raw[iwd_key]):
        overrides[iwd_key] = f"{submit_dir}/{raw[iwd_key].strip()}"
    executable = raw.get("executable", "").strip()
    if executable and not _is_absolute(executable):
        overrides["executable"] = f"{submit_dir}/{executable}"

    queue: str | None = None
    rows: tuple[Mapping[str, str], ...] | None = None
    count = 1
    if itemdata is not None:
        rows = tuple(dict(row) for row in itemdata)
        count = max(1, len(jobs) // max(1, len(rows)))
    else:
        qargs = str(parsed.getQArgs() or "").strip()
        keyword = _KEYWORD.search(qargs)
        how = keyword.group(1).lower() if keyword else ""
        rest = qargs[keyword.end() :].strip() if keyword else ""
        if how == "matching":
            # The matches, found by expand_submit in submit_dir: one row per file.
            unique: list[Mapping[str, str]] = []
            for job in jobs:
                if not unique or dict(unique[-1]) != dict(job.item):
                    unique.append(dict(job.item))
            rows = tuple(unique)
            count = max(1, len(jobs) // max(1, len(rows)))
        elif how == "from" and not rest.startswith("(") and keyword is not None:
            sliced = _SLICE.match(rest)
            slice_text = sliced.group(1) + " " if sliced else ""
            name = rest[sliced.end() :].strip() if sliced else rest
            if name and not name.startswith("(") and not os.path.isabs(name):
                head = qargs[: keyword.start()].rstrip()
                queue = f"{head} from {slice_text}{submit_dir / name}".strip()
    return PreparedSubmit(
        overrides=overrides,
        queue=queue,
        itemdata=rows,
        count=count,
        batch_name=submission.batch_name,
        num_jobs=len(jobs),
    )


def plain_value(value: object) -> object:
    """A ClassAd value as JSON-able Python: literals as they are, expressions as text."""
    if isinstance(value, enum.Enum):
        return None  # classad2.Value.Undefined / Error (an IntEnum)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain_value(item) for item in value]
    keys = getattr(value, "keys", None)
    if callable(keys):
        mapping: Any = value
        return {str(key): plain_value(mapping[key]) for key in keys()}
    return str(value)


def plain_ad(ad: Any, evaluate: Iterable[str] = ()) -> dict[str, object]:
    """A job ad as a dict; attributes in ``evaluate`` that are expressions are evaluated."""
    result: dict[str, object] = {}
    for key in ad:
        value = ad[key]
        if key in evaluate and type(value).__name__ == "ExprTree":
            with contextlib.suppress(Exception):
                value = ad.eval(key)
        result[str(key)] = plain_value(value)
    return result


def read_log(
    log: Any, limit: int, floor: int = -1, since: float = 0.0
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` event records from an open ``JobEventLog`` (never waiting).

    Events of clusters at or below ``floor``, and events stamped before ``since`` (whole
    seconds: one second of slack), are skipped. Returns the records and whether the log may
    hold more (the limit was reached).
    """
    oldest = int(since) - 1 if since > 0 else None
    records: list[dict[str, Any]] = []
    iterator: Iterator[Any] = log.events(stop_after=0)
    while len(records) < limit:
        try:
            event = next(iterator)
        except StopIteration:
            return records, False
        cluster = _int(event.cluster, -1)
        if cluster <= floor:
            continue
        timestamp = float(event.timestamp)
        if oldest is not None and timestamp < oldest:
            continue
        try:
            type_name = event.type.name
        except ValueError:
            type_name = "OTHER"
        records.append(event_record(type_name, event, timestamp))
    return records, True


def log_offset(log: Any) -> int:
    """Where an open ``JobEventLog`` stands (its documented pickling state)."""
    return int(log.__getstate__()[1])


def open_log_at(path: str, offset: int) -> Any:
    """A ``JobEventLog`` on ``path`` that resumes at byte ``offset`` (the pickling protocol)."""
    import htcondor2

    if offset <= 0:
        return htcondor2.JobEventLog(path)
    log = htcondor2.JobEventLog.__new__(htcondor2.JobEventLog)
    log.__setstate__(({"_deadline": 0, "_filename": path}, int(offset)))
    return log


class LogReader:
    """Open user logs by path, kept between calls (at most ``capacity`` at a time)."""

    def __init__(self, capacity: int = _OPEN_LOGS) -> None:
        self.capacity = capacity
        self._open: collections.OrderedDict[str, tuple[Any, int]] = collections.OrderedDict()

    def read(
        self, positions: Sequence[LogPosition], limit: int
    ) -> tuple[list[dict[str, Any]], list[LogPosition]]:
        """New events of the logs after their offsets, at most ``limit``; the new positions."""
        records: list[dict[str, Any]] = []
        moved: list[LogPosition] = []
        for position in positions:
            room = limit - len(records)
            if room <= 0:
                moved.append(position)
                continue
            path, offset = position.path, position.offset
            try:
                size = os.path.getsize(path)
            except OSError:
                moved.append(position)  # not written yet, or gone
                continue
            if size < offset:  # truncated or replaced: read it again from the start
                offset = 0
                self.forget(path)
            if size == offset:
                moved.append(LogPosition(path, offset, position.floor, position.since))
                continue
            log = self._log(path, offset)
            if log is None:
                moved.append(position)
                continue
            got, _more = read_log(log, room, position.floor, position.since)
            new_offset = log_offset(log)
            self._open[path] = (log, new_offset)
            self._open.move_to_end(path)
            records.extend(got)
            moved.append(LogPosition(path, new_offset, position.floor, position.since))
        while len(self._open) > self.capacity:
            _path, (log, _offset) = self._open.popitem(last=False)
            with contextlib.suppress(Exception):
                log.close()
        records.sort(key=lambda record: record["time"])  # stable: per-log order is kept
        return records, moved

    def _log(self, path: str, offset: int) -> Any:
        cached = self._open.get(path)
        if cached is not None and cached[1] == offset:
            return cached[0]
        self.forget(path)
        try:
            return open_log_at(path, offset)
        except Exception:
            return None

    def forget(self, path: str) -> None:
        cached = self._open.pop(path, None)
        if cached is not None:
            with contextlib.suppress(Exception):
                cached[0].close()

    def close(self) -> None:
        for path in list(self._open):
            self.forget(path)


class CondorCalls:
    """The worker's operations: thin, synchronous wrappers over htcondor2 returning JSON data.

    Each ``op_*`` method is one request of the protocol. The schedd's location is looked up in
    the collector on first use and again after a failure.
    """

    def __init__(self, schedd_name: str | None = None) -> None:
        import htcondor2

        self.htcondor: Any = htcondor2
        self.schedd_name = schedd_name
        self._schedd: Any = None
        self._schedd_ad: Any = None
        self.logs = LogReader()

    # ----------------------------------------------------------------- plumbing

    def schedd(self) -> Any:
        if self._schedd is None:
            htcondor = self.htcondor
            collector = htcondor.Collector()
            name = self.schedd_name or htcondor.param.get("SCHEDD_HOST") or None
            if name:
                ad = collector.locate(htcondor.DaemonType.Schedd, name)
            else:
                ads = collector.locateAll(htcondor.DaemonType.Schedd)
                if not ads:
                    raise RuntimeError("Unable to locate a schedd: the collector knows none")
                ad = ads[0]
            self._schedd_ad = ad
            self._schedd = htcondor.Schedd(ad)
        return self._schedd

    def reset(self) -> None:
        """Forget the schedd (after an error: it may have moved or restarted)."""
        self._schedd = None
        self._schedd_ad = None

    # ----------------------------------------------------------------- ops

    def op_whoami(self) -> dict[str, Any]:
        self.schedd()
        reply = self.htcondor.ping(self._schedd_ad, "WRITE")
        user = str(reply.get("MyRemoteUserName") or "")
        return {
            "user": user,
            "owner": user.split("@", 1)[0],
            "schedd": str(self._schedd_ad.get("Name") or ""),
            "version": str(self._schedd_ad.get("CondorVersion") or ""),
        }

    def op_query(
        self,
        constraint: str,
        projection: list[str],
        evaluate: list[str] | None = None,
        limit: int = -1,
    ) -> list[dict[str, object]]:
        ads = self.schedd().query(constraint=constraint, projection=projection, limit=limit)
        return [plain_ad(ad, evaluate or ()) for ad in ads]

    def op_history(
        self,
        constraint: str,
        projection: list[str],
        match: int = -1,
        since: str | None = None,
        evaluate: list[str] | None = None,
    ) -> list[dict[str, object]]:
        ads = self.schedd().history(
            constraint=constraint, projection=projection, match=match, since=since
        )
        return [plain_ad(ad, evaluate or ()) for ad in ads]

    def op_act(self, action: str, ids: list[str], reason: str) -> dict[str, int]:
        htcondor = self.htcondor
        kinds = {
            "hold": htcondor.JobAction.Hold,
            "release": htcondor.JobAction.Release,
            "remove": htcondor.JobAction.Remove,
        }
        # A plain string reason is dropped by the bindings (HoldReason ends up ""); the
        # (reason, code) form is passed on. The schedd appends " (by user NAME)" itself.
        result = self.schedd().act(kinds[action], ids, (reason, None))
        if result is None:
            return {}
        return {str(key): _int(result[key]) for key in result}

    def op_submit(
        self,
        description: str,
        submit_dir: str,
        itemdata: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        prepared = prepare_submit(description, Path(submit_dir), itemdata)
        submit = self.htcondor.Submit(description.replace("\r\n", "\n"))
        for key, value in prepared.overrides.items():
            submit[key] = value
        schedd = self.schedd()
        if prepared.itemdata is not None:
            result = schedd.submit(
                submit,
                count=prepared.count,
                itemdata=iter([dict(row) for row in prepared.itemdata]),
            )
        elif prepared.queue is not None:
            result = schedd.submit(submit, queue=prepared.queue)
        else:
            result = schedd.submit(submit)
        cluster = int(result.cluster())
        return {
            "cluster": cluster,
            "num_jobs": int(result.num_procs()),
            "batch_name": prepared.batch_name or f"ID: {cluster}",
        }

    def op_edit(self, job: str, attributes: dict[str, str]) -> dict[str, int]:
        """``condor_qedit``: the values are checked first, then set one by one, each only while
        the job is still held or idle (a constraint on its id and state)."""
        from canfar_tui.clients.queue.edit_language import EDITABLE_STATES, parse_job_edit

        edit = parse_job_edit(attributes)
        cluster, _, proc = job.partition(".")
        states = " || ".join(f"JobStatus == {state}" for state in EDITABLE_STATES)
        constraint = f"ClusterId == {int(cluster)} && ProcId == {int(proc)} && ({states})"
        schedd = self.schedd()
        edited = 0
        for name, expression in edit.expressions.items():
            try:
                edited = int(schedd.edit(constraint, name, expression))
            except self.htcondor.HTCondorException as error:
                if "matching constraint" in str(error):
                    raise Conflict(
                        f"Job {job} is no longer held or idle; nothing more was changed."
                        if edited
                        else f"Job {job} is no longer held or idle; nothing was changed."
                    ) from None
                raise
        return {"edited": edited}

    def _discover(self, owner: str, last_cluster: int, since: float) -> tuple[dict[str, int], int]:
        """User logs of the owner's clusters above ``last_cluster``: path -> cluster."""
        mine = owner_constraint(owner)
        constraint = f"{mine} && ClusterId > {int(last_cluster)}"
        projection = ["ClusterId", "UserLog", "Iwd"]
        ads = list(self.schedd().query(constraint=constraint, projection=projection))
        ads += list(
            self.schedd().history(
                constraint=constraint,
                projection=projection,
                since=f"EnteredCurrentStatus < {int(since)}",
            )
        )
        logs: dict[str, int] = {}
        highest = last_cluster
        for ad in ads:
            cluster = _int(ad.get("ClusterId"), -1)
            highest = max(highest, cluster)
            path = resolve_job_path(ad.get("UserLog"), ad.get("Iwd"))
            if path is not None:
                logs.setdefault(str(path), cluster)
        return logs, highest

    def op_events_start(self, owner: str) -> dict[str, Any]:
        """A cursor at the end of every log of the owner's jobs ("from now")."""
        now = time.time()
        logs, highest = self._discover(owner, -1, now - 2 * _HISTORY_SLACK)
        positions = [LogPosition(path, _size(path), -1, 0.0) for path in sorted(logs)]
        return cursor_reply(positions, highest, now, now)

    def op_events_next(
        self,
        owner: str,
        logs: list[list[Any]],
        last_cluster: int,
        checked_at: float,
        started_at: float,
        limit: int = EVENT_PAGE,
    ) -> dict[str, Any]:
        now = time.time()
        found, highest = self._discover(owner, last_cluster, checked_at - _HISTORY_SLACK)
        positions = track_new_logs(
            [LogPosition(str(p), int(o), int(f), float(s)) for p, o, f, s in logs],
            found,
            last_cluster,
            started_at,
        )
        records, moved = self.logs.read(positions, limit)
        reply = cursor_reply(moved, highest, now, started_at)
        reply["events"] = records
        return reply


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def track_new_logs(
    positions: Sequence[LogPosition],
    found: Mapping[str, int],
    last_cluster: int,
    started_at: float,
) -> list[LogPosition]:
    """The cursor's logs plus the logs just found (path -> cluster) that it did not follow.

    A new log is read from its start, but only for clusters above ``last_cluster`` (those were
    all known before) and events from ``started_at`` on: the file may be shared with jobs that
    ran before the cursor started.
    """
    merged = list(positions)
    known = {position.path for position in merged}
    for path in sorted(found):
        if path not in known:
            merged.append(LogPosition(path, 0, int(last_cluster), float(started_at)))
            known.add(path)
    return merged


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


def _serve() -> None:  # pragma: no cover - runs in the worker process (tested end to end)
    """The worker's loop: one JSON request per line on stdin, one reply per line."""
    reply_stream: IO[str] = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # stray prints of the library must not corrupt the replies
    import warnings

    warnings.simplefilter("ignore")

    def send(message: Mapping[str, Any]) -> None:
        reply_stream.write(json.dumps(message, default=str) + "\n")
        reply_stream.flush()

    try:
        calls = CondorCalls(os.environ.get("CANFAR_TUI_SCHEDD_NAME") or None)
    except Exception as error:
        send({"error": {"kind": type(error).__name__, "message": str(error)}})
        return
    send({"ready": str(calls.htcondor.version())})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = str(request["op"])
            method = getattr(calls, f"op_{op}")
            send({"result": method(**request.get("args", {}))})
        except ClientError as error:
            send({"error": {"kind": type(error).__name__, "message": error.message}})
        except Exception as error:
            calls.reset()
            send({"error": {"kind": type(error).__name__, "message": str(error)}})


# =========================================================================== the client side


class _Worker:
    """The child process that makes the htcondor2 calls, started on demand."""

    def __init__(self, env: Mapping[str, str], timeout: float) -> None:
        self.env = dict(env)
        self.timeout = timeout
        self.version = ""
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def call(self, op: str, args: Mapping[str, Any]) -> Any:
        async with self._lock:
            process = await self._ensure()
            assert process.stdin is not None and process.stdout is not None
            request = json.dumps({"op": op, "args": dict(args)}) + "\n"
            try:
                process.stdin.write(request.encode())
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), self.timeout)
            except TimeoutError:
                await self._kill()
                raise Unavailable(
                    f"HTCondor did not answer within {self.timeout:g} s ({op})."
                ) from None
            except (ConnectionError, OSError, ValueError) as error:
                await self._kill()
                raise Unavailable(
                    f"The HTCondor worker process failed ({op}): {error}", details=self._tail()
                ) from None
            if not line:
                await self._kill()
                raise Unavailable(
                    f"The HTCondor worker process exited ({op}).", details=self._tail()
                )
            reply = json.loads(line)
            if "error" in reply:
                failure = reply["error"]
                raise map_condor_error(op, str(failure.get("kind")), str(failure.get("message")))
            return reply.get("result")

    def _tail(self) -> str | None:
        return "\n".join(self._stderr) or None

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        self._stderr.clear()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "canfar_tui.clients.queue.condor.client",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                start_new_session=True,
                limit=1 << 30,
            )
        except OSError as error:
            raise Unavailable(f"Cannot start the HTCondor worker process: {error}") from None
        self._process = process
        self._stderr_task = asyncio.create_task(self._drain_stderr(process))
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), _WORKER_READY_TIMEOUT)
        except TimeoutError:
            await self._kill()
            raise Unavailable("The HTCondor worker process did not start.") from None
        if not line:
            await self._kill()
            raise Unavailable("The HTCondor worker process exited.", details=self._tail())
        hello = json.loads(line)
        if "error" in hello:
            failure = hello["error"]
            await self._kill()
            raise map_condor_error("start", str(failure.get("kind")), str(failure.get("message")))
        self.version = str(hello.get("ready") or "")
        return process

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        stream = process.stderr
        if stream is None:
            return
        with contextlib.suppress(Exception):
            async for raw in stream:
                text = raw.decode(errors="replace").rstrip()
                if text:
                    self._stderr.append(text)

    async def _kill(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 5.0)
        await self._stop_stderr()

    async def _stop_stderr(self) -> None:
        task, self._stderr_task = self._stderr_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        """Stop the process: end of its input, then a kill if it does not exit.

        A call still waiting for it is not waited for: the process is killed at once and that
        call raises ``Unavailable``.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            if self._lock.locked():
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            elif process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), 5.0)
        await self._stop_stderr()


class CondorQueue:
    """The htcondor2 :class:`~canfar_tui.clients.base.QueueClient` (also SupportsHistory).

    ``config_file`` is the HTCondor configuration to use (default: ``CONDOR_CONFIG`` or
    HTCondor's usual search); it names the collector and how to authenticate. ``schedd_name``
    picks a schedd when the pool has several (default: ``SCHEDD_HOST``, else the first one).
    ``owner`` overrides the user name the schedd authenticates this client as (used for "my
    jobs"). ``call_timeout`` bounds every call, in seconds.
    """

    def __init__(
        self,
        config_file: Path | str | None = None,
        *,
        schedd_name: str | None = None,
        owner: str | None = None,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        label: str = "HTCONDOR",
    ) -> None:
        if call_timeout <= 0:
            raise ValueError(f"call_timeout must be positive, not {call_timeout}")
        env = dict(os.environ)
        if config_file is not None:
            env["CONDOR_CONFIG"] = str(Path(config_file).expanduser().absolute())
        if schedd_name:
            env["CANFAR_TUI_SCHEDD_NAME"] = schedd_name
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, env.get("PYTHONPATH", "")) if part
        )
        self.config_file = Path(env["CONDOR_CONFIG"]) if "CONDOR_CONFIG" in env else None
        self.call_timeout = float(call_timeout)
        self._label = label
        self._owner = owner
        self._worker = _Worker(env, self.call_timeout)
        self._closed = False

    @property
    def backend_label(self) -> str:
        return self._label

    @property
    def worker_pid(self) -> int | None:
        """PID of the worker process while it runs (for diagnostics and tests)."""
        return self._worker.pid

    def __repr__(self) -> str:
        return f"CondorQueue(config_file={str(self.config_file)!r}, owner={self._owner!r})"

    # ----------------------------------------------------------------- plumbing

    async def _call(self, op: str, **args: Any) -> Any:
        if self._closed:
            raise Unavailable("The HTCondor queue client is closed.")
        return await self._worker.call(op, args)

    async def owner(self) -> str:
        """The user this client acts as (who the schedd says we are)."""
        if self._owner is None:
            reply = await self._call("whoami")
            owner = str(reply.get("owner") or "")
            if not owner:
                raise AuthError("The schedd did not say who this client is authenticated as.")
            self._owner = owner
        return self._owner

    async def aclose(self) -> None:
        """Stop the worker process. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._worker.close()

    async def __aenter__(self) -> CondorQueue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- queue

    async def _scope(self, all_users: bool) -> str:
        return "true" if all_users else owner_constraint(await self.owner())

    async def list_jobs(self, *, all_users: bool = False) -> Sequence[Job]:
        constraint = f"({await self._scope(all_users)}) && JobStatus != 3 && JobStatus != 4"
        ads = await self._call(
            "query",
            constraint=constraint,
            projection=list(JOB_PROJECTION),
            evaluate=["RequestMemory", "RequestCpus"],
        )
        jobs = [job_from_ad(ad) for ad in ads]
        jobs.sort(key=lambda job: (job.id.cluster, job.id.proc))
        return jobs

    async def list_batches(self, *, all_users: bool = False) -> Sequence[Batch]:
        ads = await self._call(
            "query", constraint=await self._scope(all_users), projection=list(BATCH_PROJECTION)
        )
        return batches_from_ads(ads)

    async def history(self, *, limit: int = 100, all_users: bool = False) -> Sequence[Job]:
        if limit <= 0:
            return []
        ads = await self._call(
            "history",
            constraint=await self._scope(all_users),
            projection=list(JOB_PROJECTION),
            match=int(limit),
            evaluate=["RequestMemory", "RequestCpus"],
        )
        return [job_from_ad(ad) for ad in ads]

    async def _find_ad(self, job_id: JobId, projection: Sequence[str] = ()) -> dict[str, object]:
        if not isinstance(job_id, JobId):
            raise InvalidInput("Job ids must be JobId values like 123.0.")
        constraint = ids_constraint([job_id])
        ads = await self._call("query", constraint=constraint, projection=list(projection))
        if not ads:
            ads = await self._call(
                "history", constraint=constraint, projection=list(projection), match=1
            )
        if not ads:
            raise NotFound(f"Job {job_id} does not exist.")
        return dict(ads[0])

    async def job_ad(self, job_id: JobId) -> Mapping[str, object]:
        """The full job ad; ``In``/``Out``/``Err``/``UserLog`` made absolute against ``Iwd``."""
        ad = await self._find_ad(job_id)
        for name in FILE_ATTRIBUTES:
            path = resolve_job_path(ad.get(name), ad.get("Iwd"))
            if path is not None:
                ad[name] = str(path)
        return ad

    async def job_files(self, job_id: JobId) -> JobFiles:
        ad = await self._find_ad(job_id, ("Iwd", "Out", "Err", "UserLog"))
        iwd = ad.get("Iwd")
        return JobFiles(
            output=resolve_job_path(ad.get("Out"), iwd),
            error=resolve_job_path(ad.get("Err"), iwd),
            log=resolve_job_path(ad.get("UserLog"), iwd),
        )

    # ----------------------------------------------------------------- actions

    async def hold(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return await self._act("hold", job_ids, reason)

    async def release(self, job_ids: Sequence[JobId]) -> int:
        return await self._act("release", job_ids, "")

    async def remove(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return await self._act("remove", job_ids, reason)

    async def _act(self, action: str, job_ids: Sequence[JobId], reason: str) -> int:
        ids = list(job_ids)
        if not all(isinstance(job_id, JobId) for job_id in ids):
            raise InvalidInput("Job ids must be JobId values like 123.0.")
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        owner = await self.owner()
        projection = ["ClusterId", "ProcId", "Owner", "JobStatus"]
        found: dict[JobId, Mapping[str, object]] = {}
        for ad in await self._call(
            "query", constraint=ids_constraint(unique), projection=projection
        ):
            found[JobId(_int(ad.get("ClusterId")), _int(ad.get("ProcId")))] = ad
        missing = [job_id for job_id in unique if job_id not in found]
        left: dict[JobId, Mapping[str, object]] = {}
        if missing:
            for ad in await self._call(
                "history",
                constraint=ids_constraint(missing),
                projection=projection,
                match=len(missing),
            ):
                left[JobId(_int(ad.get("ClusterId")), _int(ad.get("ProcId")))] = ad
            unknown = [job_id for job_id in missing if job_id not in left]
            if unknown:
                raise NotFound(f"Job {unknown[0]} does not exist.")
        for job_id in unique:
            ad = found.get(job_id) or left[job_id]
            job_owner = str(ad.get("Owner") or "")
            if job_owner != owner:
                raise AuthError(
                    f"Permission denied: job {job_id} belongs to {job_owner}; "
                    f"you can only {action} your own jobs."
                )
        states, tool = _ACTIONS[action]
        targets = [
            job_id for job_id in unique if _int(found.get(job_id, {}).get("JobStatus")) in states
        ]
        if not targets:
            return 0
        text = " ".join(reason.split()) or f"via {tool}"
        result = await self._call(
            "act", action=action, ids=[str(job_id) for job_id in targets], reason=text
        )
        if _int(result.get("TotalPermissionDenied")):
            raise AuthError(f"Permission denied: the schedd refused to {action} these jobs.")
        return _int(result.get("TotalSuccess"))

    # ----------------------------------------------------------------- edit

    async def edit_job(self, job_id: JobId, attributes: Mapping[str, str]) -> None:
        """``condor_qedit`` of one of the user's held or idle jobs (see ``SupportsEditJob``).

        The names are checked here, the owner and state with a query, and the values in the
        worker (:func:`~canfar_tui.clients.queue.edit_language.parse_job_edit`) before any
        ``Schedd.edit``.
        """
        from canfar_tui.clients.queue.edit_language import EDITABLE_STATES, not_editable

        if not isinstance(job_id, JobId):
            raise InvalidInput("Job ids must be JobId values like 123.0.")
        wanted = editable_job_attributes(attributes)
        owner = await self.owner()
        projection = ["ClusterId", "ProcId", "Owner", "JobStatus"]
        constraint = ids_constraint([job_id])
        ads = await self._call("query", constraint=constraint, projection=projection)
        if not ads:
            ads = await self._call("history", constraint=constraint, projection=projection, match=1)
            if not ads:
                raise NotFound(f"Job {job_id} does not exist.")
        ad = ads[0]
        job_owner = str(ad.get("Owner") or "")
        if job_owner != owner:
            raise AuthError(
                f"Permission denied: job {job_id} belongs to {job_owner}; "
                "you can only edit your own jobs."
            )
        status = _int(ad.get("JobStatus"), int(JobStatus.IDLE))
        if status not in EDITABLE_STATES:
            try:
                state = JobStatus(status)
            except ValueError:
                state = JobStatus.IDLE
            raise Conflict(not_editable(job_id, state))
        await self._call("edit", job=str(job_id), attributes=wanted)

    # ----------------------------------------------------------------- submit

    async def submit(
        self,
        description: str,
        *,
        itemdata: Sequence[Mapping[str, str]] | None = None,
        submit_dir: Path | None = None,
    ) -> SubmitResult:
        if not isinstance(description, str):
            raise InvalidInput("The submit description must be text.")
        directory = Path(submit_dir) if submit_dir is not None else Path.cwd()
        directory = directory.expanduser().absolute()
        if not directory.is_dir():
            raise InvalidInput(f"The submit directory {directory} does not exist.")
        rows = None if itemdata is None else [dict(row) for row in itemdata]
        # The worker checks the description offline before it talks to the schedd.
        reply = await self._call(
            "submit", description=description, submit_dir=str(directory), itemdata=rows
        )
        return SubmitResult(
            cluster=int(reply["cluster"]),
            num_jobs=int(reply["num_jobs"]),
            batch_name=str(reply.get("batch_name") or ""),
        )

    # ----------------------------------------------------------------- events

    async def events_since(self, cursor: object | None) -> tuple[Sequence[JobEvent], object]:
        if cursor is not None and not isinstance(cursor, EventCursor):
            raise InvalidInput("That cursor does not come from this queue's events_since.")
        owner = await self.owner()
        if cursor is None:
            reply = await self._call("events_start", owner=owner)
            return [], EventCursor.from_reply(reply, owner)
        if cursor.owner and cursor.owner != owner:
            raise InvalidInput("That cursor follows another user's jobs.")
        reply = await self._call(
            "events_next", owner=owner, limit=EVENT_PAGE, **cursor.as_request()
        )
        events = [event_from_record(record) for record in reply["events"]]
        return events, EventCursor.from_reply(reply, owner)


if __name__ == "__main__":  # pragma: no cover - the worker process
    _serve()
