"""The one boundary for blocking SDK calls: a thread, a timeout, cancellation and progress.

openstacksdk, vos/cadcutils, cadcdata and SQLite block. Every backend calls them through
:func:`run_blocking`, which

- runs ``function(*args)`` in a worker thread (the default pool, or the backend's own
  executor when calls must be serialised, e.g. one SQLite connection);
- with ``cancellable=True`` passes a :class:`threading.Event` as the last argument: the
  blocking code checks it in its loops and raises :class:`Cancelled`; cancelling the awaiting
  task sets it and gives the thread ``cancel_grace`` seconds to remove its temp files before the
  ``CancelledError`` goes on;
- with a ``timeout`` (seconds) raises :class:`~canfar_tui.clients.base.Unavailable` with
  ``timeout_message`` when the call takes longer (after calling ``on_timeout()``, e.g. to log
  it); the thread is told to stop (the event) and its late result is consumed, so nothing is
  logged as "never retrieved";
- never starts a call that timed out or was cancelled while it waited for a worker thread
  (a busy pool), as cancelling a plain ``run_in_executor`` future does;
- leaves error mapping to the caller (each SDK has its own), which wraps this call in its
  ``try``/``except`` — SDK exceptions are mapped at that one place per backend.

:class:`Progress` is the matching throttled progress reporter: called from the worker thread,
it delivers to the event loop thread at most every 0.5 % (and at least every 256 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from canfar_tui.clients.base import ProgressCallback, Unavailable

__all__ = ["CANCEL_GRACE_SECONDS", "Cancelled", "Progress", "run_blocking"]

T = TypeVar("T")

log = logging.getLogger("canfar_tui.clients")

#: How long a cancelled call's thread gets to clean up before the cancellation goes on.
CANCEL_GRACE_SECONDS = 10.0


class Cancelled(Exception):
    """Raised by blocking code that saw its cancel event set; :func:`run_blocking` turns it
    into ``asyncio.CancelledError``."""


def _consume_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def run_blocking(
    function: Callable[..., T],
    *args: Any,
    # Not the caller's ``asyncio.timeout``: on timeout the blocked thread is told to stop
    # (``cancel``) and the caller gets Unavailable with ``timeout_message``.
    timeout: float | None = None,  # noqa: ASYNC109 - see above
    timeout_message: str = "The service did not answer in time",
    executor: Executor | None = None,
    cancellable: bool = False,
    cancel_grace: float = CANCEL_GRACE_SECONDS,
    on_timeout: Callable[[], None] | None = None,
) -> T:
    """Run ``function(*args)`` (``function(*args, cancel)`` if ``cancellable``) off the loop."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    bound = (
        functools.partial(function, *args, cancel)
        if cancellable
        else functools.partial(function, *args)
    )

    def call() -> T:
        if cancel.is_set():  # timed out or cancelled before a worker took it: never run it
            raise Cancelled
        return bound()

    work: asyncio.Future[T] = loop.run_in_executor(executor, call)
    try:
        if timeout is None:
            return await asyncio.shield(work)
        return await asyncio.wait_for(asyncio.shield(work), timeout)
    except TimeoutError:
        if work.done():  # the function itself raised TimeoutError
            raise
        cancel.set()
        work.add_done_callback(_consume_result)
        if on_timeout is not None:
            on_timeout()
        raise Unavailable(timeout_message) from None
    except asyncio.CancelledError:
        cancel.set()  # a call still waiting for a thread then never runs (see call())
        work.add_done_callback(_consume_result)
        if cancellable and cancel_grace > 0:
            with contextlib.suppress(BaseException):
                await asyncio.wait({work}, timeout=cancel_grace)
        raise
    except Cancelled:
        raise asyncio.CancelledError() from None


class Progress:
    """Throttled progress reports from a worker thread, delivered on the event loop thread."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        total: int | None,
    ) -> None:
        self._callback = callback
        self._loop = loop
        self.total = total
        self._last = -1
        self._step = max(256 * 1024, (total or 0) // 200)

    def __call__(self, done: int, *, force: bool = False) -> None:
        if self._callback is None:
            return
        if not force and self._last >= 0 and done - self._last < self._step and done != self.total:
            return
        self._last = done
        callback, total = self._callback, self.total

        def deliver() -> None:
            try:
                callback(done, total)
            except Exception:  # a broken progress bar must not break the transfer
                log.exception("progress callback failed")

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(deliver)
