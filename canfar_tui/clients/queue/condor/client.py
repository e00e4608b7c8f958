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
  logs, then only new bytes are read. The cursor
  (:class:`~canfar_tui.clients.queue.condor.ads.EventCursor`) holds an offset per log; each
  call also picks up the logs of clusters submitted since (queue, or history for jobs that
  already left). ``None`` means "from now".
* **files**: :meth:`~CondorQueue.job_files` gives ``Out``, ``Err`` and ``UserLog`` resolved
  against ``Iwd``.

**Why a worker process.** The htcondor2 bindings keep Python's GIL while they wait on the
network (measured: a thread ticking every 10 ms ran twice during a 60 s wait for a silent
collector), so ``asyncio.to_thread`` would freeze the whole dashboard whenever the schedd is
slow. Every blocking htcondor2 call therefore runs in one child process
(``python -m canfar_tui.clients.queue.condor.worker``,
:mod:`~canfar_tui.clients.queue.condor.worker`) that this client starts on first use and talks
to over pipes, one request at a time, each with a timeout (``call_timeout``). A call that times
out kills that process (by its PID) and raises ``Unavailable``; the next call starts a fresh
one. The child is also where the HTCondor configuration is read, so two clients may use two
pools.

**Which schedd, whose jobs** (like ``condor_q``): ``schedd_name`` (the profile's ``schedd``)
or ``SCHEDD_HOST`` when set; else this machine's own schedd (``Collector.locate`` without a
name: on CANFAR's batch host the user's machine runs one); else the pool's only schedd;
several and none here is a one-line error. :meth:`~CondorQueue.all_users_by_default` follows
``CONDOR_Q_ONLY_MY_JOBS`` (False on CANFAR's batch host: plain ``condor_q`` shows everyone's
jobs there), and :meth:`~CondorQueue.machine_vm_types` lists the pool's ``VMType`` values
(for "why idle").

A bindings quirk handled here: ``Schedd.act`` silently drops a reason given as a plain
string (the job's ``HoldReason`` ends up ""), so reasons go as ``(reason, None)``.

The job ads, events and cursors it receives become models in
:mod:`~canfar_tui.clients.queue.condor.ads`. htcondor2 is never imported in the dashboard's
process; SDK exceptions become :class:`~canfar_tui.clients.base.ClientError` subclasses here
(:func:`map_condor_error`) and nowhere else.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import canfar_tui
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    Unavailable,
)
from canfar_tui.clients.queue.actions import checked_edit, checked_job_id, checked_job_ids
from canfar_tui.clients.queue.condor.ads import (
    BATCH_PROJECTION,
    EVENT_PAGE,
    FILE_ATTRIBUTES,
    JOB_PROJECTION,
    EventCursor,
    batches_from_ads,
    event_from_record,
    ids_constraint,
    int_value,
    job_from_ad,
    owner_constraint,
    resolve_job_path,
)
from canfar_tui.models import Batch, Job, JobEvent, JobFiles, JobId, JobStatus, SubmitResult

__all__ = ["DEFAULT_CALL_TIMEOUT", "WORKER_MODULE", "CondorQueue", "map_condor_error"]

#: Seconds one call to the schedd (or the worker process) may take.
DEFAULT_CALL_TIMEOUT: Final = 30.0
#: The module the worker process runs (``python -m``).
WORKER_MODULE: Final = "canfar_tui.clients.queue.condor.worker"
#: Seconds the worker process may take to import htcondor2 and say it is ready.
_WORKER_READY_TIMEOUT: Final = 60.0

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
                WORKER_MODULE,
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
    picks a schedd (default: ``SCHEDD_HOST``, else this machine's, else the pool's only one).
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
        # The folder holding the canfar_tui package, so the worker imports this same copy.
        package_root = str(Path(canfar_tui.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, env.get("PYTHONPATH", "")) if part
        )
        self.config_file = Path(env["CONDOR_CONFIG"]) if "CONDOR_CONFIG" in env else None
        self.call_timeout = float(call_timeout)
        self._label = label
        self._owner = owner
        self._all_users_default: bool | None = None
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

    async def all_users_by_default(self) -> bool:
        """Whether plain ``condor_q`` shows every user's jobs here (``CONDOR_Q_ONLY_MY_JOBS``)."""
        if self._all_users_default is None:
            reply = await self._call("defaults")
            self._all_users_default = not bool(reply.get("only_my_jobs", True))
        return self._all_users_default

    async def machine_vm_types(self) -> Sequence[str]:
        """The ``VMType`` of the pool's machines now (VMs of canfar_submit 0.3's jobs)."""
        reply = await self._call("machine_values", attribute="VMType")
        return [str(value) for value in reply]

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
        constraint = ids_constraint([checked_job_id(job_id)])
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
        unique = checked_job_ids(job_ids)
        if not unique:
            return 0
        owner = await self.owner()
        projection = ["ClusterId", "ProcId", "Owner", "JobStatus"]
        found: dict[JobId, Mapping[str, object]] = {}
        for ad in await self._call(
            "query", constraint=ids_constraint(unique), projection=projection
        ):
            found[JobId(int_value(ad.get("ClusterId")), int_value(ad.get("ProcId")))] = ad
        missing = [job_id for job_id in unique if job_id not in found]
        left: dict[JobId, Mapping[str, object]] = {}
        if missing:
            for ad in await self._call(
                "history",
                constraint=ids_constraint(missing),
                projection=projection,
                match=len(missing),
            ):
                left[JobId(int_value(ad.get("ClusterId")), int_value(ad.get("ProcId")))] = ad
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
            job_id
            for job_id in unique
            if int_value(found.get(job_id, {}).get("JobStatus")) in states
        ]
        if not targets:
            return 0
        text = " ".join(reason.split()) or f"via {tool}"
        result = await self._call(
            "act", action=action, ids=[str(job_id) for job_id in targets], reason=text
        )
        if int_value(result.get("TotalPermissionDenied")):
            raise AuthError(f"Permission denied: the schedd refused to {action} these jobs.")
        return int_value(result.get("TotalSuccess"))

    # ----------------------------------------------------------------- edit

    async def edit_job(self, job_id: JobId, attributes: Mapping[str, str]) -> None:
        """``condor_qedit`` of one of the user's held or idle jobs (see ``SupportsEditJob``).

        The names are checked here, the owner and state with a query, and the values in the
        worker (:func:`~canfar_tui.clients.queue.edit_language.parse_job_edit`) before any
        ``Schedd.edit``.
        """
        from canfar_tui.clients.queue.edit_language import EDITABLE_STATES, not_editable

        wanted = checked_edit(job_id, attributes)
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
        status = int_value(ad.get("JobStatus"), int(JobStatus.IDLE))
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


if __name__ == "__main__":  # pragma: no cover - the worker process, by its former name
    from canfar_tui.clients.queue.condor.worker import serve

    serve()
