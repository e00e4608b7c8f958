"""A real local batch executor behind the QueueClient protocol: HTCondor on one machine.

:class:`SandboxQueue` implements :class:`~canfar_tui.clients.base.QueueClient`,
:class:`~canfar_tui.clients.base.SupportsHistory`,
:class:`~canfar_tui.clients.base.SupportsEditJob` and
:class:`~canfar_tui.clients.base.SupportsLocalJobs` the way an HTCondor access point with one
execute machine behaves for the CANFAR Batch Quick Start:

* **submit** parses the description with ``htcondor2.Submit`` (imported on first use only) and
  expands it like ``condor_submit`` (:mod:`~canfar_tui.clients.queue.submit_language`):
  ``queue arguments from (…)``, ``matching``, ``in``, ``queue N``, ``$(Cluster)``,
  ``$(Process)``, item variables. A malformed description raises ``InvalidInput`` with the line
  number and queues nothing.
* **jobs run for real** as local processes, ``slots`` at a time (default: the CPU count), each
  in its own scratch directory under ``state_dir/scratch`` with the executable and
  ``transfer_input_files`` copied in, stdout/stderr going to ``output``/``error``, new files
  transferred back to ``initialdir`` afterwards, and the user log written in HTCondor's event
  format (``htcondor2.JobEventLog`` reads it). See
  :mod:`~canfar_tui.clients.queue.sandbox.runner`.
* **condor_q semantics**: ``list_jobs``/``list_batches`` show the jobs *in the queue* (idle,
  running, held); completed and removed jobs leave it and are listed by ``history``. A batch is
  an owner plus ``batch_name`` (default ``ID: <cluster>``); its ``done`` counts the jobs of its
  clusters that left the queue.
* **edit_job** (``condor_qedit``, :class:`~canfar_tui.clients.base.SupportsEditJob`) changes
  the arguments, environment, requests, requirements or VM of a held or idle job of the owner
  (:mod:`~canfar_tui.clients.queue.edit_language` checks the values); a held job runs with them
  once released.
* **hold / release / remove** act on the owner's jobs only: another user's job raises
  ``AuthError`` ("Permission denied", like ``condor_hold``), an unknown id ``NotFound``; nothing
  changes unless every id is acceptable. Jobs already in the target state are not counted.
  Holding or removing a running job stops its process group (SIGTERM, then SIGKILL).
* **events_since** returns the submit/execute/terminated/held/released/aborted/evicted events
  of the owner's jobs after an opaque cursor (``None``: from now), at most 1000 per call.

State lives in ``state_dir/queue.sqlite`` (``0600``, directory ``0700``); a restart loses no job.
The executor thread starts in the constructor; :meth:`aclose` stops it and, unless
``keep_running=True``, evicts running jobs back to IDLE (their processes are killed; they run
again when a SandboxQueue next opens the directory). With ``keep_running=True`` the processes
keep running and the next SandboxQueue adopts them and records how they ended. Several
SandboxQueue instances (in one process or several) may share a directory: one of them is the
executor at a time.

Jobs of two other users (``jdoe``, ``asmith``) are seeded when the state is created, so that
"all users" shows something; they never run or change.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from canfar_tui.clients._blocking import run_blocking
from canfar_tui.clients.base import InvalidInput, Unavailable
from canfar_tui.clients.queue.actions import checked_edit, checked_job_ids
from canfar_tui.clients.queue.sandbox.runner import Runner
from canfar_tui.clients.queue.sandbox.store import QueueStore
from canfar_tui.models import Batch, Job, JobEvent, JobFiles, JobId, SubmitResult

__all__ = ["SEEDED_OWNERS", "SandboxQueue"]

_T = TypeVar("_T")

#: The other users whose jobs are seeded into a new queue.
SEEDED_OWNERS: Final = ("jdoe", "asmith")

_DB_NAME: Final = "queue.sqlite"


def _default_owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return f"uid{os.getuid()}"


class SandboxQueue:
    """The sandbox :class:`~canfar_tui.clients.base.QueueClient` (SupportsHistory, SupportsEditJob).

    ``state_dir`` holds the database, the executor lock and the jobs' scratch directories.
    ``slots`` is how many jobs run at once (default ``os.cpu_count()``). ``owner`` is the user
    this client submits and acts as. ``clock`` gives the timestamps recorded for jobs and
    events. ``keep_running`` decides what :meth:`aclose` does with running jobs (see the module
    docstring); ``kill_grace`` is the time between SIGTERM and SIGKILL; ``poll_interval`` how
    often the executor checks its processes while some run. ``seed`` adds the other users'
    jobs to a new state.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        slots: int | None = None,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        keep_running: bool = False,
        kill_grace: float = 2.0,
        poll_interval: float = 0.05,
        seed: bool = True,
    ) -> None:
        chosen = (os.cpu_count() or 1) if slots is None else slots
        if chosen < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.slots = chosen
        self.owner = owner or _default_owner()
        self.keep_running = keep_running
        self._clock = clock
        self._db_path = self.state_dir / _DB_NAME
        self._store = QueueStore(self._db_path, owner=self.owner, clock=clock, seed=seed)
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._runner = Runner(
            self.state_dir,
            db_path=self._db_path,
            owner=self.owner,
            slots=chosen,
            clock=clock,
            poll_interval=max(0.005, poll_interval),
            idle_interval=0.5,
            kill_grace=max(0.0, kill_grace),
            seed=seed,
        )
        self._runner.start()

    @property
    def backend_label(self) -> str:
        return "SANDBOX"

    def local_job_command(self) -> tuple[str, ...]:
        """The jobs run on this machine: they call this Python's canfar-tui (SupportsLocalJobs)."""
        return (sys.executable, "-m", "canfar_tui")

    @property
    def is_executor(self) -> bool:
        """Whether this instance currently runs the directory's jobs."""
        return self._runner.is_executor

    @property
    def executor_problem(self) -> str | None:
        """One line on why the jobs of this directory cannot run here, or None."""
        return self._runner.problem

    def __repr__(self) -> str:
        return f"SandboxQueue({str(self.state_dir)!r}, slots={self.slots}, owner={self.owner!r})"

    # ----------------------------------------------------------------- plumbing

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise Unavailable("The sandbox queue client is closed.")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-queue")
        try:
            return await run_blocking(function, *args, executor=self._executor)
        except sqlite3.OperationalError as error:
            raise Unavailable(
                f"The sandbox queue state is busy or unreadable: {error}.",
                details=str(self._db_path),
            ) from error
        except sqlite3.DatabaseError as error:
            raise Unavailable(
                f"The sandbox queue state is damaged ({error}); move it away to start afresh.",
                details=str(self._db_path),
            ) from error
        except OSError as error:
            raise Unavailable(
                f"Cannot use the sandbox queue state: {error.strerror or error}.",
                details=str(self.state_dir),
            ) from error

    async def aclose(self) -> None:
        """Stop the executor thread; evict running jobs unless ``keep_running``."""
        if self._closed:
            return
        self._closed = True
        await run_blocking(
            functools.partial(self._runner.stop, keep_running=self.keep_running),
        )
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(sqlite3.Error):
                await run_blocking(self._store.close, executor=executor)
            executor.shutdown(wait=True)

    async def __aenter__(self) -> SandboxQueue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- queue

    async def list_jobs(self, *, all_users: bool = False) -> Sequence[Job]:
        return await self._call(self._store.list_jobs, all_users)

    async def list_batches(self, *, all_users: bool = False) -> Sequence[Batch]:
        return await self._call(self._store.list_batches, all_users)

    async def job_ad(self, job_id: JobId) -> Mapping[str, object]:
        return await self._call(self._store.job_ad, job_id)

    async def job_files(self, job_id: JobId) -> JobFiles:
        return await self._call(self._store.job_files, job_id)

    async def history(self, *, limit: int = 100, all_users: bool = False) -> Sequence[Job]:
        return await self._call(self._store.history, limit, all_users)

    async def events_since(self, cursor: object | None) -> tuple[Sequence[JobEvent], object]:
        return await self._call(self._store.events_since, cursor)

    # ----------------------------------------------------------------- actions

    async def hold(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return await self._act("hold", job_ids, reason)

    async def release(self, job_ids: Sequence[JobId]) -> int:
        return await self._act("release", job_ids, "")

    async def remove(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return await self._act("remove", job_ids, reason)

    async def _act(self, action: str, job_ids: Sequence[JobId], reason: str) -> int:
        ids = checked_job_ids(job_ids)
        if not ids:
            return 0
        result = await self._call(self._store.act, action, ids, reason)
        for pid, ticks in result.kill:
            self._runner.kill(pid, ticks)
        if result.changed:
            self._runner.wake()
        return result.changed

    async def edit_job(self, job_id: JobId, attributes: Mapping[str, str]) -> None:
        """``condor_qedit`` of a held or idle job (see ``SupportsEditJob``)."""
        wanted = checked_edit(job_id, attributes)
        await self._call(self._edit, job_id, wanted)
        self._runner.wake()

    def _edit(self, job_id: JobId, attributes: dict[str, str]) -> None:
        from canfar_tui.clients.queue.edit_language import parse_job_edit

        self._store.edit(job_id, parse_job_edit(attributes))

    async def submit(
        self,
        description: str,
        *,
        itemdata: Sequence[Mapping[str, str]] | None = None,
        submit_dir: Path | None = None,
    ) -> SubmitResult:
        directory = Path(submit_dir) if submit_dir is not None else Path.cwd()
        rows = None if itemdata is None else [dict(row) for row in itemdata]
        result = await self._call(self._submit, description, rows, directory)
        self._runner.wake()
        return result

    def _submit(
        self, description: str, itemdata: list[dict[str, str]] | None, submit_dir: Path
    ) -> SubmitResult:
        from canfar_tui.clients.queue.submit_language import expand_submit

        if not submit_dir.expanduser().is_dir():
            raise InvalidInput(f"The submit directory {submit_dir} does not exist.")
        cluster = self._store.reserve_cluster()
        submission = expand_submit(
            description, cluster=cluster, submit_dir=submit_dir, itemdata=itemdata
        )
        return self._store.add_submission(submission)
