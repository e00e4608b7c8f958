"""The sandbox queue's persistent state: one SQLite file holding the jobs and their events.

:class:`QueueStore` is the synchronous half of
:class:`~canfar_tui.clients.queue.sandbox.queue.SandboxQueue`. Each thread that touches the state
(the client's worker thread and the executor thread) has its own ``QueueStore``, so its own
connection; writers take the lock up front (``BEGIN IMMEDIATE``) and every state change is one
transaction, so several processes may share the file.

The file is opened by :func:`~canfar_tui.clients._sqlite.open_state`: created ``0600`` in a
``0700`` directory (WAL journal). The first open seeds jobs of two other users (``jdoe`` and
``asmith``) so that "all users" shows something; those are ``simulated``: the executor never
runs them and they never change. A row becomes a model in
:mod:`~canfar_tui.clients.queue.sandbox.jobrows`.

Job states follow HTCondor: IDLE, RUNNING and HELD jobs are *in the queue* (``condor_q``);
COMPLETED and REMOVED jobs have left it and are *history* (``condor_history``). Every transition
is recorded as an event (the ``events`` table, read by ``events_since``) and appended to the
job's user log in HTCondor's format while the transaction holds the lock, so logs are in order.

Transitions made by the executor are conditional on the run they belong to (``status`` RUNNING
and the same ``pid``), so a job held or removed while its process was finishing is never
overwritten by that process's exit.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from canfar_tui.clients._sqlite import open_state
from canfar_tui.clients.base import AuthError, Conflict, InvalidInput, NotFound
from canfar_tui.clients.queue.edit_language import EDITABLE_STATES, JobEdit, not_editable
from canfar_tui.clients.queue.sandbox import eventlog
from canfar_tui.clients.queue.sandbox.jobrows import (
    job_ad,
    job_from_row,
    spec_json,
    spec_of,
    text_or_none,
    utc_datetime,
)
from canfar_tui.clients.queue.submit_language import Submission
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
    "EVENT_PAGE",
    "IN_QUEUE",
    "ActionResult",
    "HoldCode",
    "QueueStore",
    "RunningJob",
]

_SCHEMA_VERSION: Final = "1"

#: JobStatus values of jobs still in the queue (what condor_q shows).
IN_QUEUE: Final = (
    int(JobStatus.IDLE),
    int(JobStatus.RUNNING),
    int(JobStatus.HELD),
    int(JobStatus.TRANSFERRING_OUTPUT),
    int(JobStatus.SUSPENDED),
)
_IN_QUEUE_SQL: Final = "(" + ",".join(str(value) for value in IN_QUEUE) + ")"

#: At most this many events per ``events_since`` call; the cursor picks up the rest.
EVENT_PAGE: Final = 1000
#: How long to wait for another connection holding the database lock, seconds.
_OPEN_TIMEOUT: Final = 10.0
#: Events kept in the table (older ones are pruned when an executor starts).
_EVENTS_KEPT: Final = 200_000


class HoldCode:
    """HTCondor's HoldReasonCode values the sandbox uses."""

    USER_REQUEST: Final = 1
    FAILED_TO_CREATE_PROCESS: Final = 6
    UNABLE_TO_OPEN_OUTPUT: Final = 7
    UNABLE_TO_OPEN_INPUT: Final = 8
    TRANSFER_OUTPUT_ERROR: Final = 12
    TRANSFER_INPUT_ERROR: Final = 13
    IWD_ERROR: Final = 14
    SUBMITTED_ON_HOLD: Final = 15


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    cluster INTEGER NOT NULL, proc INTEGER NOT NULL,
    owner TEXT NOT NULL, status INTEGER NOT NULL, last_status INTEGER NOT NULL,
    simulated INTEGER NOT NULL, batch_name TEXT NOT NULL,
    cmd TEXT NOT NULL, args TEXT NOT NULL, iwd TEXT NOT NULL,
    output TEXT NOT NULL, error TEXT NOT NULL, log TEXT NOT NULL,
    request_cpus INTEGER NOT NULL, request_memory INTEGER NOT NULL,
    vm_image TEXT, vm_flavor TEXT, spec TEXT NOT NULL,
    qdate REAL NOT NULL, entered_status REAL NOT NULL,
    first_start REAL, current_start REAL, completion REAL,
    exit_code INTEGER, exit_signal INTEGER,
    hold_reason TEXT, hold_code INTEGER, hold_subcode INTEGER, last_hold_reason TEXT,
    remove_reason TEXT,
    num_starts INTEGER NOT NULL DEFAULT 0, wall_clock REAL NOT NULL DEFAULT 0,
    user_cpu REAL NOT NULL DEFAULT 0, sys_cpu REAL NOT NULL DEFAULT 0,
    executor TEXT, pid INTEGER, pid_start TEXT, scratch TEXT, status_path TEXT, slot TEXT,
    PRIMARY KEY (cluster, proc));
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, simulated);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, cluster INTEGER NOT NULL, proc INTEGER NOT NULL,
    owner TEXT NOT NULL, kind TEXT NOT NULL, time REAL NOT NULL, text TEXT NOT NULL,
    exit_code INTEGER);
CREATE INDEX IF NOT EXISTS events_owner ON events (owner, seq);
"""

_COLUMNS = (
    "cluster, proc, owner, status, last_status, simulated, batch_name, cmd, args, iwd, output, "
    "error, log, request_cpus, request_memory, vm_image, vm_flavor, spec, qdate, entered_status"
)


@dataclass(frozen=True, slots=True)
class _Event:
    """An event to record: the table row and the user-log text."""

    cluster: int
    proc: int
    owner: str
    kind: JobEventKind
    time: float
    text: str
    log: str
    log_text: str
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job the executor runs (or adopts after a restart)."""

    job_id: JobId
    pid: int | None
    pid_start: str
    scratch: str
    status_path: str
    executor: str
    slot: str


@dataclass(slots=True)
class ActionResult:
    """How many jobs an action changed and which process groups it must stop."""

    changed: int = 0
    kill: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Cursor:
    """The opaque ``events_since`` cursor: the last event sequence number seen."""

    seq: int

    def __repr__(self) -> str:
        return f"<sandbox queue cursor {self.seq}>"


# --------------------------------------------------------------------------- seed data

# (owner, cluster, batch name, executable, VMImage, VMInstanceType, statuses per proc)
_SEED: Final = (
    (
        "jdoe",
        "ngvs-tiles",
        "/home/jdoe/ngvs/run_tile.bash",
        "ngvs-pipeline-2023-07",
        "c4-15gb-83",
        (4, 4, 4, 2, 2, 1, 1, 1),
    ),
    (
        "asmith",
        "",
        "/home/asmith/megapipe/stack.sh",
        "megapipe-rocky-8",
        "c8-30gb-186",
        (5, 1, 1),
    ),
    (
        "jdoe",
        "cfht-night-2023-08-20",
        "/home/jdoe/ngvs/run_tile.bash",
        "ngvs-pipeline-2023-07",
        "c2-7.5gb-30",
        (4, 4, 4, 3),
    ),
)
_SEED_HOLD = (
    "Error from slot1@canfar-worker-7: Job has gone over memory limit of 30720 megabytes. "
    "Peak usage: 31875 megabytes."
)


# --------------------------------------------------------------------------- the store


class QueueStore:
    """One connection to the queue state, used from one thread only."""

    def __init__(
        self,
        path: Path,
        *,
        owner: str,
        clock: Callable[[], float],
        seed: bool = True,
    ) -> None:
        self.path = path
        self.owner = owner
        self.clock = clock
        self.seed = seed
        self._conn: sqlite3.Connection | None = None

    # ----------------------------------------------------------------- connection

    def connect(self) -> sqlite3.Connection:
        """The connection, opened (and a new file created and seeded) on first use."""
        if self._conn is None:
            self._conn = open_state(
                self.path,
                schema=_SCHEMA,
                version=_SCHEMA_VERSION,
                seed=self._initialise,
                what="sandbox queue state",
                busy_timeout=_OPEN_TIMEOUT,
                open_timeout=_OPEN_TIMEOUT,
            )
        return self._conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        """Fill a new file (inside the transaction that creates it)."""
        conn.execute("INSERT INTO meta VALUES ('next_cluster', '1')")
        if self.seed:
            self._seed(conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _read(self) -> sqlite3.Connection:
        return self.connect()

    # ----------------------------------------------------------------- seed

    def _seed(self, conn: sqlite3.Connection) -> None:
        now = self.clock()
        cluster = 101
        for age, (owner, batch, cmd, image, flavor, statuses) in enumerate(_SEED):
            qdate = now - 7200 - 3600 * (len(_SEED) - age)
            for proc, status in enumerate(statuses):
                tile = f"tile-{cluster}-{proc:02d}"
                spec = {
                    "executable": cmd,
                    "arguments": tile,
                    "iwd": str(Path(cmd).parent),
                    "custom": {"VMImage": image, "VMInstanceType": flavor},
                    "request_disk_kb": 10 * 1024 * 1024,
                }
                started = qdate + 300 + 60 * proc if status in (2, 3, 4) else None
                finished = (started or qdate) + 1800 if status in (3, 4) else None
                entered = finished or started or qdate
                conn.execute(
                    f"INSERT INTO jobs ({_COLUMNS}, first_start, current_start, completion, "
                    "exit_code, hold_reason, hold_code, hold_subcode, remove_reason, num_starts, "
                    "wall_clock, slot) "
                    "VALUES (?,?,?,?,?,1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        cluster,
                        proc,
                        owner,
                        status,
                        1,
                        batch,
                        cmd,
                        tile,
                        spec["iwd"],
                        f"{spec['iwd']}/{tile}.out",
                        f"{spec['iwd']}/{tile}.err",
                        "",
                        int(flavor[1]) if flavor[1].isdigit() else 1,
                        int(float(flavor.split("-")[1].rstrip("gb")) * 1024),
                        image,
                        flavor,
                        json.dumps(spec),
                        qdate,
                        entered,
                        started,
                        started,
                        finished,
                        0 if status == 4 else None,
                        _SEED_HOLD if status == 5 else None,
                        34 if status == 5 else None,
                        0 if status == 5 else None,
                        f"via condor_rm (by user {owner})" if status == 3 else None,
                        1 if started else 0,
                        (finished - started) if finished and started else 0.0,
                        f"slot{proc % 8 + 1}@canfar-worker-{proc % 4 + 1}" if status == 2 else None,
                    ),
                )
            cluster += 1
        conn.execute("UPDATE meta SET value = ? WHERE key = 'next_cluster'", (str(cluster),))

    # ----------------------------------------------------------------- events

    def _record(self, conn: sqlite3.Connection, events: Sequence[_Event]) -> None:
        """Store events and append them to their user logs, inside the write transaction.

        Writing the logs while the database lock is held keeps every log in the order of the
        transitions (a job's execute event can never precede its submit event).
        """
        conn.executemany(
            "INSERT INTO events (cluster, proc, owner, kind, time, text, exit_code) "
            "VALUES (?,?,?,?,?,?,?)",
            [
                (ev.cluster, ev.proc, ev.owner, str(ev.kind), ev.time, ev.text, ev.exit_code)
                for ev in events
            ],
        )
        self._write_logs(events)

    @staticmethod
    def _write_logs(events: Sequence[_Event]) -> None:
        """Append the events to their user logs; failures are ignored (like the schedd)."""
        by_log: dict[str, list[str]] = {}
        for ev in events:
            if ev.log:
                by_log.setdefault(ev.log, []).append(ev.log_text)
        for log, texts in by_log.items():
            with contextlib.suppress(OSError):
                eventlog.append_event(Path(log), "".join(texts))

    def prune_events(self) -> None:
        with self._write() as conn:
            top = int(_scalar(conn.execute("SELECT MAX(seq) FROM events")) or 0)
            if top > _EVENTS_KEPT:
                conn.execute("DELETE FROM events WHERE seq <= ?", (top - _EVENTS_KEPT,))

    def events_since(self, cursor: object | None) -> tuple[list[JobEvent], _Cursor]:
        conn = self._read()
        if cursor is None:
            return [], _Cursor(int(_scalar(conn.execute("SELECT MAX(seq) FROM events")) or 0))
        if not isinstance(cursor, _Cursor):
            raise InvalidInput("That cursor does not come from this queue's events_since.")
        rows = conn.execute(
            "SELECT seq, cluster, proc, kind, time, text, exit_code FROM events "
            "WHERE owner = ? AND seq > ? ORDER BY seq LIMIT ?",
            (self.owner, cursor.seq, EVENT_PAGE),
        ).fetchall()
        events = [
            JobEvent(
                job_id=JobId(int(row["cluster"]), int(row["proc"])),
                kind=JobEventKind(row["kind"]),
                time=datetime.fromtimestamp(float(row["time"]), UTC),
                text=str(row["text"]),
                exit_code=row["exit_code"],
            )
            for row in rows
        ]
        if rows:
            return events, _Cursor(int(rows[-1]["seq"]))
        # Other owners' events may have advanced the sequence; skip past them.
        top = int(_scalar(conn.execute("SELECT MAX(seq) FROM events")) or 0)
        return events, _Cursor(max(cursor.seq, top))

    # ----------------------------------------------------------------- submit

    def reserve_cluster(self) -> int:
        """Take the next cluster id (HTCondor also burns ids of failed submissions)."""
        with self._write() as conn:
            cluster = int(
                _scalar(conn.execute("SELECT value FROM meta WHERE key = 'next_cluster'")) or 1
            )
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'next_cluster'", (str(cluster + 1),)
            )
        return cluster

    def add_submission(self, submission: Submission) -> SubmitResult:
        now = self.clock()
        cluster = submission.cluster
        batch = submission.batch_name
        rows: list[tuple[Any, ...]] = []
        events: list[_Event] = []
        for spec in submission.jobs:
            status = JobStatus.HELD if spec.on_hold else JobStatus.IDLE
            rows.append(
                (
                    cluster,
                    spec.proc,
                    self.owner,
                    int(status),
                    int(JobStatus.IDLE),
                    0,
                    spec.batch_name,
                    spec.executable,
                    spec.arguments,
                    spec.iwd,
                    spec.output,
                    spec.error,
                    spec.log,
                    spec.request_cpus,
                    spec.request_memory_mb,
                    text_or_none(spec.custom.get("VMImage")),
                    text_or_none(spec.custom.get("VMInstanceType")),
                    spec_json(spec),
                    now,
                    now,
                    "submitted on hold at user's request" if spec.on_hold else None,
                    HoldCode.SUBMITTED_ON_HOLD if spec.on_hold else None,
                    0 if spec.on_hold else None,
                )
            )
            events.append(
                _Event(
                    cluster,
                    spec.proc,
                    self.owner,
                    JobEventKind.SUBMIT,
                    now,
                    f"Job submitted from host: {eventlog.SUBMIT_HOST}",
                    spec.log,
                    eventlog.submit_event(cluster, spec.proc, now),
                )
            )
            if spec.on_hold:
                reason = "submitted on hold at user's request"
                events.append(
                    _Event(
                        cluster,
                        spec.proc,
                        self.owner,
                        JobEventKind.HELD,
                        now,
                        reason,
                        spec.log,
                        eventlog.held_event(
                            cluster, spec.proc, now, reason, HoldCode.SUBMITTED_ON_HOLD, 0
                        ),
                    )
                )
        with self._write() as conn:
            conn.executemany(
                f"INSERT INTO jobs ({_COLUMNS}, hold_reason, hold_code, hold_subcode) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self._record(conn, events)
        return SubmitResult(cluster, len(rows), batch or f"ID: {cluster}")

    # ----------------------------------------------------------------- reads

    def list_jobs(self, all_users: bool) -> list[Job]:
        rows = self._read().execute(
            f"SELECT * FROM jobs WHERE status IN {_IN_QUEUE_SQL}"
            + ("" if all_users else " AND owner = ?")
            + " ORDER BY cluster, proc",
            () if all_users else (self.owner,),
        )
        return [job_from_row(row) for row in rows]

    def history(self, limit: int, all_users: bool) -> list[Job]:
        if limit <= 0:
            return []
        rows = self._read().execute(
            f"SELECT * FROM jobs WHERE status NOT IN {_IN_QUEUE_SQL}"
            + ("" if all_users else " AND owner = ?")
            + " ORDER BY COALESCE(completion, entered_status) DESC, cluster DESC, proc DESC"
            " LIMIT ?",
            (limit,) if all_users else (self.owner, limit),
        )
        return [job_from_row(row) for row in rows]

    def list_batches(self, all_users: bool) -> list[Batch]:
        """condor_q's default view: clusters with jobs in the queue, grouped by owner+batch."""
        where = "" if all_users else " AND owner = ?"
        params: tuple[str, ...] = () if all_users else (self.owner,)
        rows = self._read().execute(
            "SELECT cluster, proc, owner, status, batch_name, qdate FROM jobs WHERE cluster IN "
            f"(SELECT DISTINCT cluster FROM jobs WHERE status IN {_IN_QUEUE_SQL}{where})"
            " ORDER BY cluster, proc",
            params,
        )
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            name = row["batch_name"] or f"ID: {row['cluster']}"
            group = groups.setdefault(
                (row["owner"], name),
                {"submitted": row["qdate"], "counts": dict.fromkeys(range(1, 8), 0), "ids": []},
            )
            group["submitted"] = min(group["submitted"], row["qdate"])
            status = int(row["status"])
            group["counts"][status] += 1
            if status in IN_QUEUE:
                group["ids"].append(JobId(int(row["cluster"]), int(row["proc"])))
        batches = []
        for (owner, name), group in groups.items():
            counts = group["counts"]
            batches.append(
                Batch(
                    owner=owner,
                    name=name,
                    submitted=utc_datetime(group["submitted"]),
                    done=counts[int(JobStatus.COMPLETED)] + counts[int(JobStatus.REMOVED)],
                    running=counts[int(JobStatus.RUNNING)]
                    + counts[int(JobStatus.TRANSFERRING_OUTPUT)],
                    idle=counts[int(JobStatus.IDLE)],
                    held=counts[int(JobStatus.HELD)] + counts[int(JobStatus.SUSPENDED)],
                    total=sum(counts.values()),
                    job_ids=tuple(group["ids"]),
                )
            )
        return batches

    def _row(self, conn: sqlite3.Connection, job_id: JobId) -> sqlite3.Row:
        row = _one(
            conn.execute(
                "SELECT * FROM jobs WHERE cluster = ? AND proc = ?", (job_id.cluster, job_id.proc)
            )
        )
        if row is None:
            raise NotFound(f"Job {job_id} does not exist.")
        return row

    def job_ad(self, job_id: JobId) -> dict[str, object]:
        return job_ad(self._row(self._read(), job_id), self.clock())

    def job_files(self, job_id: JobId) -> JobFiles:
        row = self._row(self._read(), job_id)

        def path(text: str) -> Path | None:
            return Path(text) if text and text != "/dev/null" else None

        return JobFiles(path(row["output"]), path(row["error"]), path(row["log"]))

    # ----------------------------------------------------------------- user actions

    def act(self, action: str, job_ids: Sequence[JobId], reason: str) -> ActionResult:
        """Hold, release or remove; all ids are checked before anything changes."""
        unique = list(dict.fromkeys(job_ids))
        result = ActionResult()
        events: list[_Event] = []
        with self._write() as conn:
            rows = [self._row(conn, job_id) for job_id in unique]
            for row in rows:
                if row["owner"] != self.owner:
                    raise AuthError(
                        f"Permission denied: job {row['cluster']}.{row['proc']} belongs to "
                        f"{row['owner']}; you can only {action} your own jobs."
                    )
            now = self.clock()
            for row in rows:
                change = self._transition(conn, row, action, reason, now)
                if change is None:
                    continue
                result.changed += 1
                events.append(change)
                if row["status"] == JobStatus.RUNNING and row["pid"]:
                    result.kill.append((int(row["pid"]), str(row["pid_start"] or "")))
            self._record(conn, events)
        return result

    def _transition(
        self, conn: sqlite3.Connection, row: sqlite3.Row, action: str, reason: str, now: float
    ) -> _Event | None:
        status = JobStatus(row["status"])
        key = (row["cluster"], row["proc"])
        run_time = (now - row["current_start"]) if status == JobStatus.RUNNING else 0.0
        run_time = max(0.0, run_time) if row["current_start"] is not None else 0.0
        stop_run = (
            "wall_clock = wall_clock + ?, pid = NULL, pid_start = NULL, executor = NULL, "
            "slot = NULL"
        )
        cluster, proc, log = int(row["cluster"]), int(row["proc"]), str(row["log"])
        if action == "hold":
            if status not in (JobStatus.IDLE, JobStatus.RUNNING):
                return None
            text = reason.strip() or f"via condor_hold (by user {self.owner})"
            text = " ".join(text.split())
            conn.execute(
                f"UPDATE jobs SET status = 5, last_status = ?, entered_status = ?, {stop_run}, "
                "hold_reason = ?, hold_code = ?, hold_subcode = 0 WHERE cluster = ? AND proc = ?",
                (int(status), now, run_time, text, HoldCode.USER_REQUEST, *key),
            )
            return _Event(
                cluster,
                proc,
                self.owner,
                JobEventKind.HELD,
                now,
                text,
                log,
                eventlog.held_event(cluster, proc, now, text, HoldCode.USER_REQUEST, 0),
            )
        if action == "release":
            if status != JobStatus.HELD:
                return None
            text = reason.strip() or f"via condor_release (by user {self.owner})"
            text = " ".join(text.split())
            conn.execute(
                "UPDATE jobs SET status = 1, last_status = 5, entered_status = ?, "
                "last_hold_reason = hold_reason, hold_reason = NULL, hold_code = NULL, "
                "hold_subcode = NULL WHERE cluster = ? AND proc = ?",
                (now, *key),
            )
            return _Event(
                cluster,
                proc,
                self.owner,
                JobEventKind.RELEASED,
                now,
                text,
                log,
                eventlog.released_event(cluster, proc, now, text),
            )
        if action == "remove":
            if status not in IN_QUEUE:
                return None
            text = reason.strip() or f"via condor_rm (by user {self.owner})"
            text = " ".join(text.split())
            conn.execute(
                f"UPDATE jobs SET status = 3, last_status = ?, entered_status = ?, {stop_run}, "
                "completion = ?, remove_reason = ? WHERE cluster = ? AND proc = ?",
                (int(status), now, run_time, now, text, *key),
            )
            return _Event(
                cluster,
                proc,
                self.owner,
                JobEventKind.ABORTED,
                now,
                text,
                log,
                eventlog.aborted_event(cluster, proc, now, text),
            )
        raise InvalidInput(f"Unknown action {action!r}.")

    def edit(self, job_id: JobId, edit: JobEdit) -> None:
        """``condor_qedit``: store checked values on the owner's held or idle job.

        The state is checked in the same transaction as the change, so an idle job that the
        executor claims meanwhile is refused (Conflict) rather than edited while it runs.
        """
        with self._write() as conn:
            row = self._row(conn, job_id)
            if row["owner"] != self.owner:
                raise AuthError(
                    f"Permission denied: job {job_id} belongs to {row['owner']}; "
                    "you can only edit your own jobs."
                )
            status = JobStatus(row["status"])
            if int(status) not in EDITABLE_STATES:
                raise Conflict(not_editable(job_id, status))
            spec = spec_of(row)
            custom = dict(spec.get("custom") or {})
            columns: dict[str, object] = {}
            for name, value in edit.values.items():
                if name == "Arguments":
                    text = str(value)
                    spec["arguments"] = '"' + text.replace('"', '""') + '"'
                    spec["argv"] = list(edit.argv or ())
                    columns["args"] = text
                elif name == "Environment":
                    spec["environment"] = [list(pair) for pair in edit.environment or ()]
                elif name == "RequestCpus":
                    columns["request_cpus"] = int(value)
                elif name == "RequestMemory":
                    columns["request_memory"] = int(value)
                elif name == "RequestDisk":
                    spec["request_disk_kb"] = int(value)
                elif name == "Requirements":
                    spec["requirements"] = str(value)
                elif name == "VMImage":
                    custom["VMImage"] = columns["vm_image"] = str(value)
                elif name == "VMInstanceType":
                    custom["VMInstanceType"] = columns["vm_flavor"] = str(value)
            spec["custom"] = custom
            columns["spec"] = json.dumps(spec)
            assignments = ", ".join(f"{column} = ?" for column in columns)
            conn.execute(
                f"UPDATE jobs SET {assignments} WHERE cluster = ? AND proc = ?",
                (*columns.values(), *_key(job_id)),
            )

    # ----------------------------------------------------------------- executor side

    def idle_jobs(self, limit: int) -> list[sqlite3.Row]:
        """Idle real jobs, first submitted first."""
        return list(
            self._read().execute(
                "SELECT * FROM jobs WHERE status = 1 AND simulated = 0 "
                "ORDER BY qdate, cluster, proc LIMIT ?",
                (limit,),
            )
        )

    def running_jobs(self) -> list[RunningJob]:
        rows = self._read().execute(
            "SELECT cluster, proc, pid, pid_start, scratch, status_path, executor, slot "
            "FROM jobs WHERE status = 2 AND simulated = 0"
        )
        return [
            RunningJob(
                JobId(int(row["cluster"]), int(row["proc"])),
                row["pid"],
                str(row["pid_start"] or ""),
                str(row["scratch"] or ""),
                str(row["status_path"] or ""),
                str(row["executor"] or ""),
                str(row["slot"] or ""),
            )
            for row in rows
        ]

    def get(self, job_id: JobId) -> sqlite3.Row:
        return self._row(self._read(), job_id)

    def claim(
        self, job_id: JobId, executor: str, scratch: str, status_path: str, slot: str
    ) -> bool:
        """IDLE -> RUNNING for this executor, with its execute event; False if the job moved.

        Like HTCondor's execute event, this is written before the process starts: a job that
        then fails to start goes on hold after it.
        """
        now = self.clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = 2, last_status = 1, entered_status = ?, "
                "current_start = ?, first_start = COALESCE(first_start, ?), "
                "num_starts = num_starts + 1, executor = ?, pid = NULL, pid_start = NULL, "
                "scratch = ?, status_path = ?, slot = ? "
                "WHERE cluster = ? AND proc = ? AND status = 1",
                (now, now, now, executor, scratch, status_path, slot, *_key(job_id)),
            )
            if cursor.rowcount != 1:
                return False
            row = self._row(conn, job_id)
            event = _Event(
                job_id.cluster,
                job_id.proc,
                str(row["owner"]),
                JobEventKind.EXECUTE,
                now,
                f"Job executing on host: {eventlog.EXECUTE_HOST} ({slot})",
                str(row["log"]),
                eventlog.execute_event(job_id.cluster, job_id.proc, now, slot),
            )
            self._record(conn, [event])
        return True

    def started(self, job_id: JobId, executor: str, pid: int, pid_start: str) -> bool:
        """Record the process of a claimed job; False when it was held or removed meanwhile."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET pid = ?, pid_start = ? WHERE cluster = ? AND proc = ? "
                "AND status = 2 AND executor = ? AND pid IS NULL",
                (pid, pid_start, *_key(job_id), executor),
            )
        return cursor.rowcount == 1

    def held_by_system(
        self,
        job_id: JobId,
        executor: str | None,
        pid: int | None,
        reason: str,
        code: int,
        subcode: int,
    ) -> bool:
        """RUNNING (this run) -> HELD because the job could not start or finish."""
        now = self.clock()
        reason = " ".join(reason.split())
        with self._write() as conn:
            row = self._row(conn, job_id)
            if not _same_run(row, executor, pid):
                return False
            run_time = max(0.0, now - float(row["current_start"] or now))
            conn.execute(
                "UPDATE jobs SET status = 5, last_status = 2, entered_status = ?, "
                "wall_clock = wall_clock + ?, pid = NULL, pid_start = NULL, executor = NULL, "
                "slot = NULL, hold_reason = ?, hold_code = ?, hold_subcode = ? "
                "WHERE cluster = ? AND proc = ?",
                (now, run_time, reason, code, subcode, *_key(job_id)),
            )
            event = _Event(
                job_id.cluster,
                job_id.proc,
                str(row["owner"]),
                JobEventKind.HELD,
                now,
                reason,
                str(row["log"]),
                eventlog.held_event(job_id.cluster, job_id.proc, now, reason, code, subcode),
            )
            self._record(conn, [event])
        return True

    def terminated(
        self,
        job_id: JobId,
        executor: str | None,
        pid: int | None,
        *,
        exit_code: int | None,
        signal: int | None,
        user_cpu: float,
        sys_cpu: float,
        when: float | None = None,
    ) -> bool:
        """RUNNING (this run) -> COMPLETED with the exit code or the signal."""
        now = self.clock() if when is None else when
        with self._write() as conn:
            row = self._row(conn, job_id)
            if not _same_run(row, executor, pid):
                return False
            run_time = max(0.0, now - float(row["current_start"] or now))
            total_user = float(row["user_cpu"]) + user_cpu
            total_sys = float(row["sys_cpu"]) + sys_cpu
            conn.execute(
                "UPDATE jobs SET status = 4, last_status = 2, entered_status = ?, completion = ?, "
                "wall_clock = wall_clock + ?, user_cpu = ?, sys_cpu = ?, exit_code = ?, "
                "exit_signal = ?, pid = NULL, pid_start = NULL, executor = NULL "
                "WHERE cluster = ? AND proc = ?",
                (now, now, run_time, total_user, total_sys, exit_code, signal, *_key(job_id)),
            )
            if signal is not None:
                text = f"Abnormal termination (signal {signal})"
            else:
                text = f"Normal termination (return value {exit_code})"
            event = _Event(
                job_id.cluster,
                job_id.proc,
                str(row["owner"]),
                JobEventKind.TERMINATED,
                now,
                text,
                str(row["log"]),
                eventlog.terminated_event(
                    job_id.cluster,
                    job_id.proc,
                    now,
                    exit_code=exit_code,
                    signal=signal,
                    user_cpu=user_cpu,
                    sys_cpu=sys_cpu,
                    total_user_cpu=total_user,
                    total_sys_cpu=total_sys,
                ),
                exit_code if signal is None else None,
            )
            self._record(conn, [event])
        return True

    def evicted(
        self, job_id: JobId, executor: str | None, pid: int | None, why: str, *, user_cpu: float = 0
    ) -> bool:
        """RUNNING (this run) -> IDLE: the executor stopped or lost the process."""
        now = self.clock()
        with self._write() as conn:
            row = self._row(conn, job_id)
            if not _same_run(row, executor, pid):
                return False
            run_time = max(0.0, now - float(row["current_start"] or now))
            conn.execute(
                "UPDATE jobs SET status = 1, last_status = 2, entered_status = ?, "
                "wall_clock = wall_clock + ?, pid = NULL, pid_start = NULL, executor = NULL, "
                "slot = NULL WHERE cluster = ? AND proc = ?",
                (now, run_time, *_key(job_id)),
            )
            event = _Event(
                job_id.cluster,
                job_id.proc,
                str(row["owner"]),
                JobEventKind.EVICTED,
                now,
                " ".join(why.split()),
                str(row["log"]),
                eventlog.evicted_event(job_id.cluster, job_id.proc, now, user_cpu, 0.0),
            )
            self._record(conn, [event])
        return True

    def adopt(self, job_id: JobId, pid: int, executor: str) -> bool:
        """A new executor takes over a job whose process survived the previous one."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET executor = ? WHERE cluster = ? AND proc = ? AND status = 2 "
                "AND pid = ?",
                (executor, *_key(job_id), pid),
            )
        return cursor.rowcount == 1

    def is_current_run(self, job_id: JobId, executor: str | None, pid: int | None) -> bool:
        try:
            return _same_run(self.get(job_id), executor, pid)
        except NotFound:
            return False


# --------------------------------------------------------------------------- helpers


def _one(cursor: sqlite3.Cursor) -> sqlite3.Row | None:
    """The first row, with the statement finished.

    A cursor left half-read keeps its read transaction (and snapshot) open; a later
    ``BEGIN IMMEDIATE`` on that connection would then fail at once with "database is locked".
    """
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _scalar(cursor: sqlite3.Cursor) -> Any:
    """The first column of the first row, or None."""
    row = _one(cursor)
    return None if row is None else row[0]


def _key(job_id: JobId) -> tuple[int, int]:
    return (job_id.cluster, job_id.proc)


def _same_run(row: sqlite3.Row, executor: str | None, pid: int | None) -> bool:
    if row["status"] != JobStatus.RUNNING:
        return False
    if executor is not None and row["executor"] != executor:
        return False
    return bool(row["pid"] == pid)
