"""The sandbox executor: a thread that runs idle jobs as local processes, N at a time.

One :class:`Runner` belongs to each :class:`~canfar_tui.clients.queue.sandbox.queue.SandboxQueue`.
Its thread wakes every ``poll_interval`` while processes run (and on every submit, hold, release
or remove), otherwise twice a second, and:

1. becomes *the* executor of the state directory by taking an exclusive ``flock`` on
   ``executor.lock`` (one per directory, across processes; released by the kernel when the
   holder dies). Only the holder starts jobs; the others keep trying, so when the app that ran
   the jobs exits, another one takes over;
2. on taking the lock, and every few seconds after, *reconciles* (:meth:`Runner._audit`):
   every job the database says is RUNNING but that this runner does not watch is either
   finished (its exit status file exists: it ended while nobody watched), adopted (its process
   still runs: the previous executor detached from it or died) or, when its process no longer
   exists, put back to IDLE with an ``Evicted`` event so that it runs again;
3. reaps finished processes, transfers output files back and records exit codes, run and CPU
   times;
4. starts the oldest idle jobs while fewer than ``slots`` processes run (one job per slot).

**A job's process.** Each job runs in its own scratch directory under
``<state_dir>/scratch/<cluster>.<proc>.<run>`` (the executable and ``transfer_input_files`` are
copied there first, as HTCondor's file transfer does), with stdin/stdout/stderr redirected to
the job's ``input``/``output``/``error`` files and an HTCondor-like environment
(``_CONDOR_SCRATCH_DIR``, ``_CONDOR_JOB_AD``, ``_CONDOR_SLOT``, ``TMPDIR``, ``OMP_NUM_THREADS``…).
It is started through a tiny Python *shim* in a new session (so its own process group): the shim
runs the executable, waits for it and writes its exit status and CPU usage to a status file.
That file, not parenthood, is how a finished job is recognised, so jobs survive an executor that
stops or crashes and are collected by the next one.

**Stopping.** ``stop(keep_running=False)`` evicts: running process groups get SIGTERM, then
SIGKILL after ``kill_grace`` seconds, and their jobs go back to IDLE (they run again next time).
``keep_running=True`` detaches: processes keep running and the next executor adopts them.

Hold and remove stop a process group with SIGTERM and SIGKILL after ``kill_grace`` seconds
(:meth:`Runner.kill`); a process is only signalled after checking that its pid still belongs to
the process that was started (its start time in ``/proc`` where available).
"""

from __future__ import annotations

import contextlib
import errno as errno_module
import fcntl
import json
import logging
import os
import shutil
import signal
import sqlite3
import stat
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from canfar_tui.clients.base import ClientError, NotFound
from canfar_tui.clients.queue.sandbox.jobrows import classad_text, job_ad, spec_of
from canfar_tui.clients.queue.sandbox.store import HoldCode, QueueStore
from canfar_tui.clients.queue.submit_language import matches_getenv
from canfar_tui.models import JobId

__all__ = ["Runner", "process_alive", "process_start_ticks"]

_log = logging.getLogger(__name__)

#: Seconds between two reconciliations of the RUNNING jobs with the watched processes.
_AUDIT_INTERVAL: Final = 5.0

#: Files of ours inside a scratch directory that are never transferred back.
_JOB_AD: Final = ".job.ad"
_MACHINE_AD: Final = ".machine.ad"

#: Runs the job, waits for it and writes ``{"exit_code"|"signal", "utime", "stime", "end"}``
#: (or ``{"exec_errno", "exec_error"}``) atomically to the status file. It ignores SIGTERM
#: itself so that a hold's SIGTERM reaches the job and the shim still records how it ended.
_SHIM: Final = r"""
import json, os, signal, sys, time
status_path, workdir, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def done(**info):
    info["end"] = time.time()
    tmp = status_path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(info, handle)
    os.replace(tmp, status_path)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
defaults = [signal.SIGTERM, signal.SIGPIPE, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP]
defaults += [getattr(signal, "SIGXFSZ")] if hasattr(signal, "SIGXFSZ") else []
try:
    os.chdir(workdir)
    pid = os.posix_spawn(argv[0], argv, os.environ, setsigdef=defaults)
except OSError as error:
    done(exec_errno=error.errno or 0, exec_error=error.strerror or str(error))
    sys.exit(127)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
done(exit_code=code if code >= 0 else None, signal=-code if code < 0 else None,
     utime=usage.ru_utime, stime=usage.ru_stime)
"""


# --------------------------------------------------------------------------- processes


def process_start_ticks(pid: int) -> str:
    """The process's start time from ``/proc`` ("" where there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode(errors="replace")
    except OSError:
        return ""
    fields = data[data.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode(errors="replace")
    except OSError:
        return False
    fields = data[data.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] in ("Z", "X")


def process_alive(pid: int | None, start_ticks: str) -> bool:
    """Whether ``pid`` still is the process that started at ``start_ticks`` (and not a zombie)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now has that pid
    if _zombie(pid):
        return False
    if start_ticks:
        current = process_start_ticks(pid)
        if current and current != start_ticks:
            return False
    return True


def _signal_group(pid: int, start_ticks: str, signum: int) -> None:
    if not process_alive(pid, start_ticks):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _collect(pid: int) -> bool:
    """Reap ``pid`` if it is our exited child; True when it is gone (or not our child).

    Before reaping, whatever the job left running in its process group is killed (HTCondor
    also kills a job's leftover processes): while the exited leader is not reaped its pid
    cannot be reused, so the group id still names only the job's processes.
    """
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return not process_alive(pid, "")
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def _read_status(path: str) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class _Process:
    """A job process the executor watches."""

    job_id: JobId
    pid: int
    start_ticks: str
    scratch: str
    status_path: str
    slot: int
    #: True when this process is our child (we must reap it).
    child: bool


class _Hold(Exception):
    """The job cannot start: put it on hold with this reason and code."""

    def __init__(self, reason: str, code: int, subcode: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcode = subcode


def _lock_not_a_file(path: Path) -> str:
    return (
        f"The sandbox queue executor cannot run: {path} is not a regular file; "
        "move it away so that jobs run."
    )


def _one_line(error: BaseException) -> str:
    """An error in one line: ``strerror: path`` for an OSError, else its first line."""
    if isinstance(error, ClientError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return (str(error).splitlines() or [type(error).__name__])[0]


# --------------------------------------------------------------------------- the runner


class Runner:
    """The executor thread of one SandboxQueue (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        db_path: Path,
        owner: str,
        slots: int,
        clock: Callable[[], float],
        poll_interval: float,
        idle_interval: float,
        kill_grace: float,
        seed: bool,
    ) -> None:
        self.state_dir = state_dir
        self.scratch_root = state_dir / "scratch"
        self.status_root = state_dir / "run"
        self.slots = slots
        self.poll_interval = poll_interval
        self.idle_interval = idle_interval
        self.kill_grace = kill_grace
        self.token = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = QueueStore(db_path, owner=owner, clock=clock, seed=seed)
        self._lock_path = state_dir / "executor.lock"
        self._lock_file: Any = None
        self._processes: dict[JobId, _Process] = {}
        self._kills: dict[int, tuple[str, float]] = {}
        self._kills_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._keep_running = False
        self._error: BaseException | None = None
        self._next_audit = 0.0
        self._thread = threading.Thread(
            target=self._main, name=f"sandbox-queue-{state_dir.name}", daemon=True
        )

    # ----------------------------------------------------------------- control

    def start(self) -> None:
        self._thread.start()

    @property
    def is_executor(self) -> bool:
        """Whether this runner holds the directory's executor lock."""
        return self._lock_file is not None

    def wake(self) -> None:
        self._wake.set()

    def kill(self, pid: int, start_ticks: str) -> None:
        """Stop a job's process group: SIGTERM now, SIGKILL after ``kill_grace``."""
        _signal_group(pid, start_ticks, signal.SIGTERM)
        with self._kills_lock:
            self._kills[pid] = (start_ticks, time.monotonic() + self.kill_grace)
        self._wake.set()

    def stop(self, *, keep_running: bool) -> None:
        """Stop the thread (blocking): evict running jobs, or detach from them."""
        self._keep_running = keep_running
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    # ----------------------------------------------------------------- the loop

    @property
    def problem(self) -> str | None:
        """One line on why this runner cannot run jobs, or None.

        Asked on the caller's thread: a lock path that is not a regular file is seen at once
        (before the thread's first tick); otherwise the error of the last tick, if it failed.
        """
        try:
            mode = os.lstat(self._lock_path).st_mode
        except FileNotFoundError:
            mode = None
        except OSError as failure:
            return f"The sandbox queue executor cannot run: {failure.strerror or failure}."
        if mode is not None and not stat.S_ISREG(mode):
            return _lock_not_a_file(self._lock_path)
        last = self._error
        if last is None or (isinstance(last, sqlite3.OperationalError) and "locked" in str(last)):
            return None  # nothing wrong, or another process writing: the next tick retries
        return f"The sandbox queue executor cannot run: {_one_line(last)}"

    def _main(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._tick()
                except (sqlite3.Error, OSError, ClientError) as error:
                    # the state is damaged or unusable: the queue's calls say so in one line;
                    # log it once, without a traceback (it is not a bug)
                    if self._error is None or _one_line(self._error) != _one_line(error):
                        _log.warning("sandbox queue executor: %s", _one_line(error))
                    self._error = error
                except Exception as error:  # keep running; report on the next call
                    if self._error is None:
                        _log.warning("sandbox queue executor: %s", error, exc_info=True)
                    self._error = error
                else:
                    self._error = None
                busy = bool(self._processes) or bool(self._kills)
                self._wake.wait(self.poll_interval if busy else self.idle_interval)
                self._wake.clear()
            self._shutdown()
        except Exception:  # pragma: no cover - last resort, never leave the thread silently
            _log.exception("sandbox queue executor stopped on an error")
        finally:
            self._release_lock()
            self._store.close()

    def _tick(self) -> None:
        self._store.connect()
        if not self.is_executor and self._take_lock():
            self._store.prune_events()
            self._next_audit = 0.0
        self._escalate()
        if self.is_executor:
            if time.monotonic() >= self._next_audit:
                self._audit()
                self._next_audit = time.monotonic() + _AUDIT_INTERVAL
            self._reap_all()
            self._start_idle()

    # ----------------------------------------------------------------- executor lock

    def _take_lock(self) -> bool:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(
            self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600
        )
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise OSError(errno_module.EINVAL, _lock_not_a_file(self._lock_path))
        os.set_blocking(descriptor, True)
        handle = open(descriptor, "r+")  # noqa: SIM115 - held for the runner's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        os.chmod(self._lock_path, 0o600)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.token}\n")
        handle.flush()
        self._lock_file = handle
        return True

    def _release_lock(self) -> None:
        handle, self._lock_file = self._lock_file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    # ----------------------------------------------------------------- recovery

    def _audit(self) -> None:
        """Reconcile the jobs the database says are RUNNING with the processes we watch.

        Run when this runner becomes the executor (recovery) and every few seconds after: jobs
        a previous executor left RUNNING are collected (finished meanwhile), adopted (process
        still alive) or requeued (process gone); a job of ours without a process (its start
        was interrupted) is requeued.
        """
        for job in self._store.running_jobs():
            if job.job_id in self._processes:
                continue
            if job.executor == self.token and job.pid is None:
                self._store.evicted(
                    job.job_id, self.token, None, "The job's start was interrupted."
                )
                self._remove_scratch(job.scratch, job.status_path)
                continue
            status = _read_status(job.status_path)
            if job.pid is not None and status is not None:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(job.pid, os.WNOHANG)
                process = _Process(
                    job.job_id, job.pid, job.pid_start, job.scratch, job.status_path, 0, False
                )
                self._finish(process, status, executor=job.executor, late=True)
                continue
            if job.pid is not None and process_alive(job.pid, job.pid_start):
                self._adopt(job.job_id, job.pid, job.pid_start, job.scratch, job.status_path)
                continue
            self._store.evicted(
                job.job_id,
                job.executor or None,
                job.pid,
                "The sandbox executor stopped while the job ran; it will run again.",
            )
            self._remove_scratch(job.scratch, job.status_path)

    def _adopt(self, job_id: JobId, pid: int, ticks: str, scratch: str, status_path: str) -> None:
        slot = self._free_slot()
        if self._store.adopt(job_id, pid, self.token):
            self._processes[job_id] = _Process(
                job_id, pid, ticks, scratch, status_path, slot, child=False
            )

    # ----------------------------------------------------------------- kills

    def _escalate(self) -> None:
        now = time.monotonic()
        with self._kills_lock:
            due = [(pid, ticks) for pid, (ticks, when) in self._kills.items() if when <= now]
            gone = [pid for pid, (ticks, _) in self._kills.items() if not process_alive(pid, ticks)]
            for pid in gone:
                self._kills.pop(pid, None)
        for pid, ticks in due:
            _signal_group(pid, ticks, signal.SIGKILL)
            with self._kills_lock:
                self._kills.pop(pid, None)

    # ----------------------------------------------------------------- reaping

    def _reap_all(self) -> None:
        for process in list(self._processes.values()):
            if process.child:
                if not _collect(process.pid):
                    continue
            else:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(process.pid, os.WNOHANG)
                status = _read_status(process.status_path)
                if status is None and process_alive(process.pid, process.start_ticks):
                    continue
            self._processes.pop(process.job_id, None)
            self._finish(process, _read_status(process.status_path), executor=self.token)

    def _finish(
        self,
        process: _Process,
        status: dict[str, Any] | None,
        *,
        executor: str,
        late: bool = False,
    ) -> None:
        """Record how a process ended, if it still is the job's current run."""
        store = self._store
        job_id = process.job_id
        try:
            current = store.is_current_run(job_id, executor or None, process.pid)
            if not current:
                return  # held, removed or requeued meanwhile: nothing to record
            if status is None:
                # The shim itself died (killed from outside): the job is lost; run it again.
                store.evicted(
                    job_id, executor or None, process.pid, "The job's process was killed."
                )
                return
            if "exec_errno" in status:
                row = store.get(job_id)
                number = int(status.get("exec_errno") or 0)
                store.held_by_system(
                    job_id,
                    executor or None,
                    process.pid,
                    f"Error from {row['slot'] or 'slot1@sandbox'}: Failed to execute "
                    f"'{row['cmd']}' with arguments {row['args']}: "
                    f"(errno={number}: '{status.get('exec_error') or os.strerror(number)}')",
                    HoldCode.FAILED_TO_CREATE_PROCESS,
                    number,
                )
                return
            try:
                self._transfer_output(job_id, process)
            except _Hold as hold:
                store.held_by_system(
                    job_id, executor or None, process.pid, hold.reason, hold.code, hold.subcode
                )
                return
            store.terminated(
                job_id,
                executor or None,
                process.pid,
                exit_code=status.get("exit_code"),
                signal=status.get("signal"),
                user_cpu=float(status.get("utime") or 0.0),
                sys_cpu=float(status.get("stime") or 0.0),
                when=float(status["end"]) if late and status.get("end") else None,
            )
        except NotFound:
            return
        finally:
            self._remove_scratch(process.scratch, process.status_path)

    def _transfer_output(self, job_id: JobId, process: _Process) -> None:
        row = self._store.get(job_id)
        spec = spec_of(row)
        if not spec.get("should_transfer_files", True):
            return
        scratch = Path(process.scratch)
        iwd = Path(str(row["iwd"]))
        wanted: list[str] | None = spec.get("transfer_output")
        if wanted is None:
            # Like HTCondor: every top-level file the job created or changed.
            sources = _input_sources(spec)
            names = []
            with contextlib.suppress(OSError):
                for entry in os.scandir(scratch):
                    if entry.name in (_JOB_AD, _MACHINE_AD):
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    source = sources.get(entry.name)
                    if source is None or not _unchanged(entry, source):
                        names.append(entry.name)
        else:
            names = wanted
        for name in names:
            source = scratch / name
            target = iwd / Path(name).name
            try:
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(source, target)
            except OSError as error:
                raise _Hold(
                    "Transfer output files failure at the access point while receiving files "
                    f"from sandbox: {source}: {error.strerror or error}",
                    HoldCode.TRANSFER_OUTPUT_ERROR,
                    error.errno or 0,
                ) from None

    def _remove_scratch(self, scratch: str, status_path: str) -> None:
        for path in (status_path, status_path + ".tmp" if status_path else ""):
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if scratch and Path(scratch).is_relative_to(self.scratch_root):
            shutil.rmtree(scratch, ignore_errors=True)

    # ----------------------------------------------------------------- starting

    def _free_slot(self) -> int:
        used = {process.slot for process in self._processes.values()}
        slot = 1
        while slot in used:
            slot += 1
        return slot

    def _start_idle(self) -> None:
        free = self.slots - len(self._processes)
        if free <= 0:
            return
        for row in self._store.idle_jobs(free):
            if self._stop.is_set():
                return
            self._launch(JobId(int(row["cluster"]), int(row["proc"])))

    def _launch(self, job_id: JobId) -> None:
        store = self._store
        row = store.get(job_id)
        runs = int(row["num_starts"]) + 1
        slot = self._free_slot()
        slot_name = f"slot{slot}@sandbox"
        scratch = self.scratch_root / f"{job_id.cluster}.{job_id.proc}.{runs}"
        status_path = self.status_root / f"{job_id.cluster}.{job_id.proc}.{runs}.json"
        if not store.claim(job_id, self.token, str(scratch), str(status_path), slot_name):
            return
        try:
            process = self._spawn(job_id, scratch, status_path, slot, slot_name)
        except _Hold as hold:
            store.held_by_system(job_id, self.token, None, hold.reason, hold.code, hold.subcode)
            self._remove_scratch(str(scratch), str(status_path))
            return
        except BaseException:
            store.evicted(job_id, self.token, None, "The sandbox executor could not start it.")
            self._remove_scratch(str(scratch), str(status_path))
            raise
        self._processes[job_id] = process
        if not store.started(job_id, self.token, process.pid, process.start_ticks):
            # Held or removed between the claim and the start.
            self.kill(process.pid, process.start_ticks)

    def _spawn(
        self, job_id: JobId, scratch: Path, status_path: Path, slot: int, slot_name: str
    ) -> _Process:
        row = self._store.get(job_id)
        spec = spec_of(row)
        iwd = Path(str(row["iwd"]))
        if not iwd.is_dir():
            raise _Hold(
                f"Error from {slot_name}: Failed to access Iwd {iwd}: No such directory",
                HoldCode.IWD_ERROR,
                errno_module.ENOENT,
            )
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
        for directory in (self.scratch_root, self.status_root):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch.mkdir(mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            status_path.unlink()

        transfer = bool(spec.get("should_transfer_files", True))
        executable = Path(str(row["cmd"]))
        if transfer and spec.get("transfer_executable", True):
            try:
                target = scratch / executable.name
                shutil.copy2(executable, target)
                os.chmod(target, 0o755)
            except OSError as error:
                raise _Hold(
                    f"Error from {slot_name}: Failed to transfer the executable {executable}: "
                    f"{error.strerror or error}",
                    HoldCode.TRANSFER_INPUT_ERROR,
                    error.errno or 0,
                ) from None
            command = str(target)
        else:
            command = str(executable)

        environment = self._environment(row, spec, scratch, slot, slot_name)
        if transfer:
            sources = list(spec.get("transfer_input") or [])
            if spec.get("x509_proxy"):
                sources.append(spec["x509_proxy"])
            for source in sources:
                self._transfer_in(source, scratch, slot_name)
            if spec.get("x509_proxy"):
                environment["X509_USER_PROXY"] = str(scratch / Path(spec["x509_proxy"]).name)
        elif spec.get("x509_proxy"):
            environment["X509_USER_PROXY"] = str(spec["x509_proxy"])

        ad = job_ad(row, time.time())
        (scratch / _JOB_AD).write_text(classad_text(ad))
        (scratch / _MACHINE_AD).write_text(
            classad_text(
                {
                    "Name": slot_name,
                    "Machine": "sandbox",
                    "Cpus": int(row["request_cpus"]),
                    "Memory": int(row["request_memory"]),
                    "OpSys": "LINUX" if sys.platform.startswith("linux") else sys.platform.upper(),
                }
            )
        )

        argv = [command, *spec.get("argv", [])]
        workdir = str(scratch) if transfer else str(iwd)
        descriptors = self._open_std(row, spec, slot_name)
        try:
            pid = _spawn_shim(argv, workdir, str(status_path), environment, descriptors)
        except OSError as error:
            raise _Hold(
                f"Error from {slot_name}: Failed to start the job: {error.strerror or error}",
                HoldCode.FAILED_TO_CREATE_PROCESS,
                error.errno or 0,
            ) from None
        finally:
            for descriptor in set(descriptors):
                os.close(descriptor)
        return _Process(
            job_id,
            pid,
            process_start_ticks(pid),
            str(scratch),
            str(status_path),
            slot,
            child=True,
        )

    def _transfer_in(self, source: str, scratch: Path, slot_name: str) -> None:
        def failure(message: str, number: int) -> _Hold:
            return _Hold(
                f"Error from {slot_name}: Transfer input files failure at the execution point "
                f"while receiving files from the access point: {message}",
                HoldCode.TRANSFER_INPUT_ERROR,
                number,
            )

        if "://" in source:
            raise failure(f"{source}: URL transfers are not supported by the sandbox", 0)
        contents_only = source.endswith("/")
        path = Path(source.rstrip("/") or "/")
        try:
            if path.is_dir():
                if contents_only:
                    shutil.copytree(path, scratch, dirs_exist_ok=True)
                    return
                shutil.copytree(path, scratch / path.name, dirs_exist_ok=True)
            else:
                shutil.copy2(path, scratch / path.name)
        except OSError as error:
            number = error.errno or errno_module.ENOENT
            raise failure(
                f"reading from file {path}: (errno {number}) {error.strerror or error}", number
            ) from None

    def _open_std(self, row: Any, spec: dict[str, Any], slot_name: str) -> tuple[int, int, int]:
        opened: list[int] = []

        def open_file(path: str, flags: int, what: str, code: int) -> int:
            try:
                descriptor = os.open(path, flags, 0o644)
            except OSError as error:
                for previous in opened:
                    os.close(previous)
                raise _Hold(
                    f"Error from {slot_name}: Failed to open '{path}' as {what}: "
                    f"{error.strerror or error} (errno {error.errno})",
                    code,
                    error.errno or 0,
                ) from None
            opened.append(descriptor)
            return descriptor

        write = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        stdin = open_file(
            spec.get("input") or os.devnull,
            os.O_RDONLY,
            "standard input",
            HoldCode.UNABLE_TO_OPEN_INPUT,
        )
        output = str(row["output"]) or os.devnull
        error = str(row["error"]) or os.devnull
        stdout = open_file(output, write, "standard output", HoldCode.UNABLE_TO_OPEN_OUTPUT)
        if error == output:
            stderr = stdout
        else:
            stderr = open_file(error, write, "standard error", HoldCode.UNABLE_TO_OPEN_OUTPUT)
        return stdin, stdout, stderr

    def _environment(
        self, row: Any, spec: dict[str, Any], scratch: Path, slot: int, slot_name: str
    ) -> dict[str, str]:
        getenv = str(spec.get("getenv") or "")
        if getenv:
            environment = {
                name: value for name, value in os.environ.items() if matches_getenv(name, getenv)
            }
        else:
            environment = {}
        # A local convenience: HTCondor gives jobs no PATH, but the user's tools are here.
        environment.setdefault("PATH", os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
        if "HOME" in os.environ:
            environment.setdefault("HOME", os.environ["HOME"])
        environment.setdefault("USER", str(row["owner"]))
        cpus = str(int(row["request_cpus"]))
        environment.update(
            {
                "_CONDOR_SCRATCH_DIR": str(scratch),
                "_CONDOR_SLOT": f"slot{slot}",
                "_CONDOR_JOB_AD": str(scratch / _JOB_AD),
                "_CONDOR_MACHINE_AD": str(scratch / _MACHINE_AD),
                "_CONDOR_JOB_IWD": str(row["iwd"]),
                "TMPDIR": str(scratch),
                "TMP": str(scratch),
                "TEMP": str(scratch),
                "BATCH_SYSTEM": "HTCondor",
                "OMP_NUM_THREADS": cpus,
                "OPENBLAS_NUM_THREADS": cpus,
                "MKL_NUM_THREADS": cpus,
            }
        )
        for name, value in spec.get("environment") or []:
            environment[str(name)] = str(value)
        return environment

    # ----------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        if not self.is_executor:
            return
        with contextlib.suppress(Exception):
            self._reap_all()
        if self._keep_running:
            for process in self._processes.values():
                _log.info("leaving job %s running (pid %d)", process.job_id, process.pid)
            self._processes.clear()
            return
        processes = list(self._processes.values())
        for process in processes:
            _signal_group(process.pid, process.start_ticks, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        pending = list(processes)
        while pending and time.monotonic() < deadline:
            pending = [process for process in pending if not self._gone(process)]
            if pending:
                time.sleep(0.02)
        for process in pending:
            _signal_group(process.pid, process.start_ticks, signal.SIGKILL)
        for process in pending:
            if process.child:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(process.pid, 0)
            else:
                end = time.monotonic() + 2.0
                while not self._gone(process) and time.monotonic() < end:
                    time.sleep(0.02)
        for process in processes:
            with contextlib.suppress(Exception):
                self._store.evicted(
                    process.job_id,
                    self.token,
                    process.pid,
                    "The sandbox executor stopped; the job will run again when it restarts.",
                )
            self._remove_scratch(process.scratch, process.status_path)
        self._processes.clear()
        # Process groups signalled by hold/remove: make sure nothing outlives us.
        with self._kills_lock:
            kills = list(self._kills.items())
            self._kills.clear()
        for pid, (ticks, _) in kills:
            _signal_group(pid, ticks, signal.SIGKILL)

    @staticmethod
    def _gone(process: _Process) -> bool:
        if process.child:
            return _collect(process.pid)
        return not process_alive(process.pid, process.start_ticks)


def _input_sources(spec: dict[str, Any]) -> dict[str, Path]:
    """Scratch file name -> the file it was copied from."""
    sources: dict[str, Path] = {}
    executable = Path(str(spec.get("executable", "")))
    if spec.get("transfer_executable", True):
        sources[executable.name] = executable
    for source in [*(spec.get("transfer_input") or []), spec.get("x509_proxy") or ""]:
        if not source or "://" in source:
            continue
        if source.endswith("/"):  # the directory's contents were copied
            with contextlib.suppress(OSError):
                for entry in os.scandir(source):
                    sources[entry.name] = Path(entry.path)
        else:
            sources[Path(source).name] = Path(source)
    return sources


def _unchanged(entry: os.DirEntry[str], source: Path) -> bool:
    """Whether a scratch file is still the untouched copy of ``source`` (copy2 keeps mtime)."""
    try:
        mine, theirs = entry.stat(), source.stat()
    except OSError:
        return False
    return mine.st_size == theirs.st_size and mine.st_mtime_ns == theirs.st_mtime_ns


def _spawn_shim(
    argv: list[str],
    workdir: str,
    status_path: str,
    environment: dict[str, str],
    descriptors: tuple[int, int, int],
) -> int:
    """Start the shim in a new session with the job's stdin/stdout/stderr; returns its pid."""
    python = sys.executable or "python3"
    arguments = [python, "-I", "-S", "-c", _SHIM, status_path, workdir, *argv]
    actions = [
        (os.POSIX_SPAWN_DUP2, descriptor, target)
        for target, descriptor in enumerate(descriptors)
        if descriptor != target
    ]
    try:
        return os.posix_spawn(python, arguments, environment, file_actions=actions, setsid=True)
    except NotImplementedError:  # pragma: no cover - platforms without POSIX_SPAWN_SETSID
        return os.posix_spawn(python, arguments, environment, file_actions=actions, setpgroup=0)
