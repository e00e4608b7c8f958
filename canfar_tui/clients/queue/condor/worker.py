"""The htcondor2 backend's worker process: the only place that calls htcondor2.

:class:`~canfar_tui.clients.queue.condor.client.CondorQueue` starts
``python -m canfar_tui.clients.queue.condor.worker`` on first use (the bindings keep the GIL
while they wait on the network, so they may not run in the dashboard's process) and talks to it
over pipes: one JSON request per line on stdin (``{"op": …, "args": {…}}``), one JSON reply per
line on stdout (``{"result": …}`` or ``{"error": {"kind": …, "message": …}}``); the first line
is ``{"ready": <htcondor version>}``. :func:`serve` is that loop, :class:`CondorCalls` the
operations (``op_query``, ``op_history``, ``op_act``, ``op_submit``, ``op_edit``,
``op_whoami``, ``op_defaults``, ``op_machine_values``, ``op_events_start``, ``op_events_next``).

Also here, because they need the bindings: :func:`prepare_submit` (a description checked
offline by :func:`~canfar_tui.clients.queue.submit_language.expand_submit`, then made ready
for ``Schedd.submit``), :func:`plain_ad` (a ClassAd as JSON values) and :class:`LogReader`
(user logs read with ``htcondor2.JobEventLog``, resumed at byte offsets). htcondor2 is imported
inside the functions that use it, so importing this module imports no htcondor2.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from canfar_tui.clients.base import ClientError, Conflict, Unavailable
from canfar_tui.clients.queue.condor.ads import (
    EVENT_PAGE,
    LogPosition,
    cursor_reply,
    event_record,
    int_value,
    owner_constraint,
    resolve_job_path,
)

__all__ = [
    "CondorCalls",
    "LogReader",
    "PreparedSubmit",
    "choose_schedd",
    "config_boolean",
    "log_offset",
    "open_log_at",
    "plain_ad",
    "plain_value",
    "prepare_submit",
    "read_log",
    "serve",
    "track_new_logs",
]

#: History records of jobs that left within this many seconds of a discovery are looked at.
_HISTORY_SLACK: Final = 120.0
#: At most this many user logs are kept open between calls.
_OPEN_LOGS: Final = 256
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
        cluster = int_value(event.cluster, -1)
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
        """The schedd to use, located on first use (see :meth:`locate_schedd`)."""
        if self._schedd is None:
            ad = self.locate_schedd()
            self._schedd_ad = ad
            self._schedd = self.htcondor.Schedd(ad)
        return self._schedd

    def locate_schedd(self) -> Any:
        """Where the schedd is, chosen like ``condor_q`` chooses it.

        The profile's ``schedd`` (``schedd_name``) or the configuration's ``SCHEDD_HOST`` when
        set; else this machine's own schedd (``Collector.locate`` without a name, which follows
        ``SCHEDD_NAME`` and the local address file: the CANFAR batch host runs one); else the
        pool's only schedd. Several schedds and none here is a one-line error.
        """
        htcondor = self.htcondor
        collector = htcondor.Collector()
        name = self.schedd_name or htcondor.param.get("SCHEDD_HOST") or None
        if name:
            ad = collector.locate(htcondor.DaemonType.Schedd, name)
            if ad is None:
                raise Unavailable(f"The HTCondor collector knows no schedd named {name}.")
            return ad
        local: Any = None
        with contextlib.suppress(Exception):  # "Unable to locate local daemon"
            local = collector.locate(htcondor.DaemonType.Schedd)
        return choose_schedd(local, lambda: collector.locateAll(htcondor.DaemonType.Schedd))

    def reset(self) -> None:
        """Forget the schedd (after an error: it may have moved or restarted)."""
        self._schedd = None
        self._schedd_ad = None

    # ----------------------------------------------------------------- ops

    def op_defaults(self) -> dict[str, Any]:
        """The pool's settings a dashboard follows: ``CONDOR_Q_ONLY_MY_JOBS`` (condor_q's)."""
        value = self.htcondor.param.get("CONDOR_Q_ONLY_MY_JOBS")
        return {"only_my_jobs": config_boolean(value, default=True)}

    def op_machine_values(self, attribute: str) -> list[str]:
        """The distinct values of one attribute over the pool's machines (slot ads)."""
        htcondor = self.htcondor
        ads = htcondor.Collector().query(htcondor.AdType.Startd, projection=[attribute])
        values = {str(ad.get(attribute)) for ad in ads if ad.get(attribute) is not None}
        return sorted(values)

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
        return {str(key): int_value(result[key]) for key in result}

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
            cluster = int_value(ad.get("ClusterId"), -1)
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


def config_boolean(value: object, *, default: bool) -> bool:
    """An HTCondor configuration value as a boolean, like ``param_boolean``: ``True``/``False``,
    ``yes``/``no``, ``1``/``0`` (any case); ``default`` when unset or anything else."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "t", "y", "1"):
        return True
    if text in ("false", "no", "f", "n", "0"):
        return False
    return default


def choose_schedd(local: Any, pool_schedds: Callable[[], Sequence[Any]]) -> Any:
    """This machine's schedd when there is one, else the pool's only schedd.

    ``local`` is the location ad of this machine's schedd (None when it has none);
    ``pool_schedds`` lists the location ads of every schedd in the pool (asked only when
    needed). No schedd, or several and none here, raise :class:`Unavailable` in one line.
    """
    if local is not None and local.get("MyAddress"):
        return local
    ads = list(pool_schedds())
    if not ads:
        raise Unavailable("Unable to locate a schedd: the HTCondor collector knows none.")
    if len(ads) > 1:
        names = sorted(str(ad.get("Name") or "?") for ad in ads)
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise Unavailable(
            f"The pool has {len(names)} schedds ({shown}) and none runs on this machine: "
            "name one with schedd = NAME in the profile (or SCHEDD_HOST)."
        )
    return ads[0]


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


def serve() -> None:  # pragma: no cover - runs in the worker process (tested end to end)
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


if __name__ == "__main__":  # pragma: no cover - the worker process
    serve()
