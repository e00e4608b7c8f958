"""Parallel detection over the extensions of an image, as a stream of progress events.

:func:`run_detection` is the entry point for the TUI and the pipeline::

    from canfar_tui.detection import DetectionParams, ImageFinished, run_detection

    for event in run_detection("1056213p.fits.fz", DetectionParams(), workers=None,
                               cancel_event=stop):
        ...                                  # ImageOpened, ExtensionStarted, ...
        if isinstance(event, ImageFinished):
            write_catalogue(event.result, "1056213p.cat")

Extensions are processed by worker **processes** (``sep.extract`` holds the GIL, so
threads do not run in parallel: measured 1.0× with two threads), ``workers`` at a time
(default: every CPU). Each worker reads only its own extension from the file and sends
back a small catalogue array, so memory stays at about one CCD per worker. A failing
extension gives :class:`~canfar_tui.detection.events.ExtensionFailed` and the others go on.
Setting ``cancel_event`` (anything with ``is_set()``, e.g. :class:`threading.Event`) stops
submitting work, drops queued extensions and ends the stream with
:class:`~canfar_tui.detection.events.ImageCancelled`; extensions already running finish
in the background (under a second each).

:class:`DetectionRunner` keeps its process pool between images (the CLI runs many images
through one runner). Processes are started with ``fork`` when the calling process has a
single thread (fast: nothing to import again), else with ``forkserver`` with the engine
preloaded (safe next to the TUI's threads); ``workers=1`` runs inline, in the calling
thread. Workers keep freed memory for the next CCD (glibc ``mallopt``), which saves the
kernel ~30 ms of page zeroing per CCD.

This module imports only the standard library at import time.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from canfar_tui.detection.errors import DetectionError
from canfar_tui.detection.events import (
    AsciiRows,
    DetectionResult,
    ExtensionFailed,
    ExtensionFinished,
    ExtensionInfo,
    ExtensionResult,
    ExtensionStarted,
    ImageCancelled,
    ImageFailed,
    ImageFinished,
    ImageOpened,
    ProgressEvent,
)
from canfar_tui.detection.params import DetectionParams

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

    from canfar_tui.detection.engine import ExtensionOutput

__all__ = [
    "MAX_WORKERS",
    "CancelEvent",
    "DetectionRunner",
    "default_workers",
    "detect_image",
    "run_detection",
    "tune_malloc",
]

#: The most worker processes a runner starts (more is a typing mistake, not a plan).
MAX_WORKERS = 1024

#: Extensions submitted ahead per worker, so that no worker waits for the next one.
_QUEUED_PER_WORKER = 1

StartMethod = Literal["auto", "fork", "forkserver", "spawn", "inline"]


class CancelEvent(Protocol):
    """Anything with ``is_set()``: :class:`threading.Event`, :class:`multiprocessing.Event`."""

    def is_set(self) -> bool: ...


def default_workers() -> int:
    """The number of CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _libc() -> Any:
    """The C library through ctypes (Linux only), without ``ctypes.util.find_library``.

    ``find_library`` cost every worker, before its first CCD, importing ``ctypes.util``
    (~9 ms) and two look-ups (2–4 ms each); the process's global symbols include libc's.
    """
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def tune_malloc() -> bool:
    """Keep big freed blocks in the worker's heap instead of returning them to the kernel.

    Every CCD allocates ~120 MB of arrays (pixels, float copy, segmentation map). With
    glibc's defaults each of them is a fresh ``mmap``, so the kernel zero-fills ~30 000
    pages per CCD: ~30 ms of system time, ~9 % of the work. Raising ``M_MMAP_THRESHOLD`` and
    ``M_TRIM_THRESHOLD`` lets a worker reuse the same memory for every CCD (its peak RSS
    does not grow). Done in worker processes, and by ``canfar-tui detect`` when it measures
    the CCDs in its own process (one worker: a one-core batch job); never in the TUI, which
    would keep the memory after the detection. A no-op without glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = _libc()
        m_trim_threshold, m_mmap_threshold = -1, -3
        ok = bool(libc.mallopt(m_mmap_threshold, 256 * 2**20)) or bool(
            libc.mallopt(m_mmap_threshold, 32 * 2**20)
        )
        return ok and bool(libc.mallopt(m_trim_threshold, 512 * 2**20))
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False


_PR_SET_PDEATHSIG = 1


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _die_with_owner(owner_pid: int, death_signal: bool) -> None:
    """End this worker when the process that owns the pool dies, even by ``SIGKILL``.

    On Linux, when the owner forked this worker from its main thread, the kernel sends
    ``SIGKILL`` as the owner dies (``prctl(PR_SET_PDEATHSIG)``: the signal follows the
    forking *thread*, hence the condition). Otherwise (a forkserver's worker, whose parent is
    the forkserver that lives as long as its workers; a pool started from a thread; other
    systems) a daemon thread checks twice a second that the owner still runs, and exits if not.
    """
    import signal

    if death_signal and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = _libc()
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if not _process_alive(owner_pid):
        os._exit(1)  # the owner died before the signal was asked for

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if not _process_alive(owner_pid):
                os._exit(1)

    threading.Thread(target=watch, name="owner-watchdog", daemon=True).start()


def _init_worker(owner_pid: int | None = None, death_signal: bool = False) -> None:
    """Worker initialiser: die with the pool's owner; tune malloc; Ctrl-C is the owner's.

    ``owner_pid``: the process that started the pool; ``death_signal``: it is this worker's
    parent and forked it from its main thread (so ``PR_SET_PDEATHSIG`` applies).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if owner_pid is not None:
        _die_with_owner(owner_pid, death_signal)
    tune_malloc()


def _single_threaded_blas() -> None:
    """One OpenBLAS thread per process, when numpy is not imported yet.

    Workers are as many as the CPUs; OpenBLAS's own helper threads would only compete
    with them (they spin while waiting for work). The detection does no large linear
    algebra. An explicit ``OPENBLAS_NUM_THREADS`` of the user's wins.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@contextlib.contextmanager
def _unfreeze_after() -> Iterator[None]:
    """Undo :func:`gc.freeze` in this process once the workers are started."""
    try:
        yield
    finally:
        gc.unfreeze()


def _noop() -> int:
    return os.getpid()


@contextlib.contextmanager
def _usable_stderr() -> Iterator[None]:
    """Put the real stderr back while starting processes, if ``sys.stderr`` was replaced.

    multiprocessing hands ``sys.stderr``'s file descriptor to the processes it starts
    (spawn, forkserver); a UI such as Textual swaps in an object without one.
    """
    current = sys.stderr
    try:
        usable = current is not None and current.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable or sys.__stderr__ is None:
        yield
        return
    sys.stderr = sys.__stderr__
    try:
        yield
    finally:
        sys.stderr = current


def _work(
    path: str, ext: ExtensionInfo, params: DetectionParams, ascii_separator: str | None = None
) -> ExtensionOutput:
    """Worker entry point (module level so that it pickles).

    With ``ascii_separator`` the worker also formats its catalogue rows as ASCII text (in
    parallel with the other extensions, instead of all of them at the end in the parent).
    """
    from canfar_tui.detection.engine import process_extension

    out = process_extension(path, ext, params)
    if ascii_separator is not None:
        from canfar_tui.detection.writers import ascii_text

        out.ascii_rows = ascii_text(out.catalogue, params.columns, ascii_separator)
    return out


@dataclass
class _Task:
    index: int
    ext: ExtensionInfo


class DetectionRunner:
    """Runs detections; owns a process pool reused across images. Use as a context manager.

    ``workers``: number of parallel extensions (default: all CPUs). ``start_method``:
    ``"auto"`` (fork when single-threaded, else forkserver), ``"fork"``, ``"forkserver"``,
    ``"spawn"`` or ``"inline"`` (no processes; the default when ``workers == 1``).
    """

    def __init__(self, workers: int | None = None, *, start_method: StartMethod = "auto") -> None:
        if workers is not None and not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        self.workers = workers or default_workers()
        self.start_method: StartMethod = "inline" if self.workers == 1 else start_method
        self._executor: Executor | None = None
        self._lock = threading.Lock()

    # -- pool management -------------------------------------------------------------------

    def _method(self) -> str:
        if self.start_method != "auto":
            return self.start_method
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods and sys.platform.startswith("linux") and threading.active_count() == 1:
            return "fork"
        if "forkserver" in methods:
            return "forkserver"
        return "spawn"

    def _pool(self) -> Executor:
        with self._lock:
            if self._executor is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                method = self._method()
                ctx = multiprocessing.get_context(method)
                _single_threaded_blas()
                if method == "fork":
                    # Make the children inherit the heavy imports instead of redoing them.
                    import canfar_tui.detection.engine  # noqa: F401
                elif method == "forkserver":
                    ctx.set_forkserver_preload(["canfar_tui.detection.engine"])
                # PR_SET_PDEATHSIG needs the owner to be the parent (not a forkserver) and
                # to fork from its main thread; the watchdog covers the other cases.
                death_signal = (
                    method != "forkserver" and threading.current_thread() is threading.main_thread()
                )
                # The workers inherit the modules' objects: keep them out of the cyclic
                # collector (its passes would otherwise walk them all and copy their pages).
                gc.freeze()
                with _usable_stderr(), _unfreeze_after():
                    executor = ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=ctx,
                        initializer=_init_worker,
                        initargs=(os.getpid(), death_signal),
                    )
                    # Start every worker now: processes are otherwise spawned on later
                    # submits, from whatever thread and with whatever sys.stderr is then.
                    # Each submit starts its process before returning (with fork the first
                    # one forks them all); waiting for the answers only matters for a
                    # forkserver, whose preloading should happen here, not in the first run.
                    started = [executor.submit(_noop) for _ in range(self.workers)]
                    if method != "fork":
                        for future in started:
                            future.result()
                self._executor = executor
            return self._executor

    def start(self) -> None:
        """Start the worker processes now (before starting threads of your own).

        With the ``auto`` start method, processes are forked when the caller has a single
        thread; a CLI calls this before showing a progress bar (which runs a thread). Safe
        to call from a UI that replaced ``sys.stderr`` (Textual does).
        """
        if self.start_method == "inline":
            return
        self._pool()

    def _discard_pool(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> DetectionRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        path: str | os.PathLike[str],
        params: DetectionParams | None = None,
        cancel_event: CancelEvent | None = None,
        *,
        ascii_separator: str | None = None,
    ) -> Iterator[ProgressEvent]:
        """Detect sources in every image extension of ``path``, yielding progress events.

        Never raises for problems with the input: they become
        :class:`~canfar_tui.detection.events.ImageFailed` or
        :class:`~canfar_tui.detection.events.ExtensionFailed` events.

        ``ascii_separator`` (a value of :data:`canfar_tui.detection.writers.ASCII_SEPARATORS`):
        each worker also formats its extension's rows of ``params.columns`` as ASCII text,
        which the result carries as :attr:`DetectionResult.ascii_rows` (the CLI writing an
        ASCII catalogue then only joins them).
        """
        from canfar_tui.detection.params import COLUMN_INFO
        from canfar_tui.detection.reader import scan_image

        params = params or DetectionParams()
        if any(column not in COLUMN_INFO for column in params.columns):
            ascii_separator = None  # the catalogue writer reports the unknown column
        spath = os.fspath(path)
        t0 = time.perf_counter()
        try:
            extensions, skipped = scan_image(spath)
            if params.weight_type != "NONE" or any("FLAGS_ISO" in c for c in params.columns):
                from canfar_tui.detection.weights import check_inputs

                check_inputs(spath, extensions, params)
        except DetectionError as exc:
            yield ImageFailed(spath, str(exc))
            return
        except Exception as exc:  # pragma: no cover - defensive: never a traceback
            yield ImageFailed(spath, f"{os.path.basename(spath)}: {_one_line(exc)}")
            return
        yield ImageOpened(spath, extensions, skipped)
        if cancel_event is not None and cancel_event.is_set():
            yield ImageCancelled(spath)
            return

        results: dict[int, ExtensionResult] = {}
        outputs: dict[int, ExtensionOutput] = {}
        if params.check_images:
            from canfar_tui.detection.checkimages import CheckImageError, prepare

            try:
                params = prepare(params)
            except CheckImageError as exc:
                yield ImageFailed(spath, str(exc))
                return
        try:
            yield from self._run_extensions(
                spath,
                extensions,
                skipped,
                params,
                cancel_event,
                results,
                outputs,
                t0,
                ascii_separator,
            )
        finally:
            if params.check_images:
                from canfar_tui.detection.checkimages import cleanup

                cleanup(params, results.values())

    def _run_extensions(
        self,
        spath: str,
        extensions: tuple[ExtensionInfo, ...],
        skipped: tuple[str, ...],
        params: DetectionParams,
        cancel_event: CancelEvent | None,
        results: dict[int, ExtensionResult],
        outputs: dict[int, ExtensionOutput],
        t0: float,
        ascii_separator: str | None,
    ) -> Iterator[ProgressEvent]:
        total = len(extensions)
        run_all = (
            self._run_inline if self.start_method == "inline" or total == 0 else self._run_pool
        )
        events = run_all(spath, extensions, params, cancel_event, results, outputs, ascii_separator)
        cancelled = False
        for event in events:
            if isinstance(event, ImageCancelled):
                cancelled = True
            yield event
        if cancelled:
            return
        ordered = [results[e.ext_number] for e in extensions]
        ok = [r for r in ordered if r.ok]
        name = os.path.basename(spath)
        if not ok:
            first = ordered[0].error if ordered else "no image extension"
            more = f" (and {len(ordered) - 1} more)" if len(ordered) > 1 else ""
            yield ImageFailed(spath, f"{name}: no extension could be processed: {first}{more}")
            return
        import numpy as np

        from canfar_tui.detection.engine import empty_catalogue

        if params.check_images:
            from canfar_tui.detection.checkimages import CheckImageError, assemble

            try:
                assemble(params, ordered, total)
            except CheckImageError as exc:
                yield ImageFailed(spath, str(exc))
                return
        parts = [outputs[r.extension.ext_number] for r in ok]
        catalogue = np.concatenate([p.catalogue for p in parts]) if parts else empty_catalogue()
        texts = [p.ascii_rows for p in parts]
        ascii_rows = None
        if ascii_separator is not None and all(text is not None for text in texts):
            ascii_rows = AsciiRows(
                tuple(params.columns),
                ascii_separator,
                tuple(text for text in texts if text is not None),
                len(catalogue),
            )
        result = DetectionResult(
            path=spath,
            params=params,
            extensions=ordered,
            catalogue=catalogue,
            seconds=time.perf_counter() - t0,
            skipped=skipped,
            ascii_rows=ascii_rows,
        )
        yield ImageFinished(spath, result)

    def _record(
        self,
        spath: str,
        ext: ExtensionInfo,
        out: ExtensionOutput | None,
        error: str | None,
        seconds: float,
        results: dict[int, ExtensionResult],
        outputs: dict[int, ExtensionOutput],
        total: int,
    ) -> ProgressEvent:
        done = len(results) + 1
        if out is None:
            text = error or "failed"
            message = text if text.startswith(ext.label) else f"{ext.label}: {text}"
            results[ext.ext_number] = ExtensionResult(ext, seconds=seconds, error=message)
            return ExtensionFailed(spath, ext, message, done, total)
        n = len(out.catalogue)
        results[ext.ext_number] = ExtensionResult(
            ext,
            n_sources=n,
            seconds=out.timings.get("total", seconds),
            background=out.background,
            rms=out.rms,
            threshold=out.threshold,
            gain=out.gain,
            saturation=out.saturation,
            timings=dict(out.timings),
            check_parts=dict(out.check_parts),
        )
        outputs[ext.ext_number] = out
        return ExtensionFinished(spath, ext, n, out.timings.get("total", seconds), done, total)

    def _run_inline(
        self,
        spath: str,
        extensions: tuple[ExtensionInfo, ...],
        params: DetectionParams,
        cancel_event: CancelEvent | None,
        results: dict[int, ExtensionResult],
        outputs: dict[int, ExtensionOutput],
        ascii_separator: str | None,
    ) -> Iterator[ProgressEvent]:
        total = len(extensions)
        for index, ext in enumerate(extensions):
            if cancel_event is not None and cancel_event.is_set():
                yield ImageCancelled(spath)
                return
            yield ExtensionStarted(spath, ext, index, total)
            t = time.perf_counter()
            out: ExtensionOutput | None = None
            error: str | None = None
            try:
                out = _work(spath, ext, params, ascii_separator)
            except DetectionError as exc:
                error = str(exc)
            except MemoryError:
                error = "out of memory"
            except Exception as exc:
                error = f"internal error: {type(exc).__name__}: {_one_line(exc)}"
            yield self._record(
                spath, ext, out, error, time.perf_counter() - t, results, outputs, total
            )

    def _run_pool(
        self,
        spath: str,
        extensions: tuple[ExtensionInfo, ...],
        params: DetectionParams,
        cancel_event: CancelEvent | None,
        results: dict[int, ExtensionResult],
        outputs: dict[int, ExtensionOutput],
        ascii_separator: str | None,
    ) -> Iterator[ProgressEvent]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        total = len(extensions)
        pending = deque(_Task(i, e) for i, e in enumerate(extensions))
        running: dict[Future[ExtensionOutput], tuple[_Task, float]] = {}
        # One extension queued behind each busy worker: a worker that finishes takes the
        # next one at once, instead of idling until this thread has woken up, collected the
        # result and submitted more (a scheduler tick or more on a loaded machine). A queued
        # extension is announced (ExtensionStarted) only when a worker is free for it.
        slots = min(self.workers * (1 + _QUEUED_PER_WORKER), total)
        announced: set[int] = set()
        executor = self._pool()
        try:
            while pending or running:
                if cancel_event is not None and cancel_event.is_set():
                    for future in running:
                        future.cancel()
                    # Running extensions cannot be interrupted; a fresh pool next time
                    # avoids waiting for them.
                    self._discard_pool()
                    yield ImageCancelled(spath)
                    return
                while pending and len(running) < slots:
                    task = pending.popleft()
                    try:
                        future = executor.submit(_work, spath, task.ext, params, ascii_separator)
                    except BrokenProcessPool:
                        self._discard_pool()
                        executor = self._pool()
                        future = executor.submit(_work, spath, task.ext, params, ascii_separator)
                    running[future] = (task, time.perf_counter())
                yield from self._announce(spath, running, announced, total)
                finished, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f][0].index):
                    task, started = running.pop(future)
                    if task.index not in announced:
                        announced.add(task.index)
                        yield ExtensionStarted(spath, task.ext, task.index, total)
                    out: ExtensionOutput | None = None
                    error: str | None = None
                    try:
                        out = future.result()
                    except DetectionError as exc:
                        error = str(exc)
                    except BrokenProcessPool:
                        error = "worker process died (out of memory?)"
                        self._discard_pool()
                        executor = self._pool()
                    except MemoryError:
                        error = "out of memory"
                    except Exception as exc:
                        error = f"internal error: {type(exc).__name__}: {_one_line(exc)}"
                    yield self._record(
                        spath,
                        task.ext,
                        out,
                        error,
                        time.perf_counter() - started,
                        results,
                        outputs,
                        total,
                    )
        except GeneratorExit:
            # The consumer stopped listening: do not leave work queued.
            for future in running:
                future.cancel()
            raise

    def _announce(
        self,
        spath: str,
        running: dict[Future[ExtensionOutput], tuple[_Task, float]],
        announced: set[int],
        total: int,
    ) -> Iterator[ProgressEvent]:
        """ExtensionStarted for the submitted extensions a worker is free for, in order."""
        busy = sum(1 for task, _ in running.values() if task.index in announced)
        for task, _ in sorted(running.values(), key=lambda item: item[0].index):
            if busy >= self.workers:
                break
            if task.index not in announced:
                announced.add(task.index)
                busy += 1
                yield ExtensionStarted(spath, task.ext, task.index, total)


def run_detection(
    path: str | os.PathLike[str],
    params: DetectionParams | None = None,
    workers: int | None = None,
    cancel_event: CancelEvent | None = None,
    *,
    start_method: StartMethod = "auto",
) -> Iterator[ProgressEvent]:
    """Detect sources in one image; yields progress events (see the module docstring).

    A private :class:`DetectionRunner` is created and closed around the run; use a
    runner directly to reuse the worker processes for several images.
    """
    runner = DetectionRunner(workers, start_method=start_method)
    try:
        yield from runner.run(path, params, cancel_event)
    finally:
        runner.close()


def detect_image(
    path: str | os.PathLike[str],
    params: DetectionParams | None = None,
    workers: int | None = None,
) -> DetectionResult:
    """Run :func:`run_detection` to the end; raise :class:`DetectionError` if it failed."""
    result: DetectionResult | None = None
    for event in run_detection(path, params, workers):
        if isinstance(event, ImageFinished):
            result = event.result
        elif isinstance(event, ImageFailed):
            raise DetectionError(event.message)
    if result is None:  # pragma: no cover - only on cancellation, which cannot happen here
        raise DetectionError(f"{os.fspath(path)}: detection did not finish")
    return result
