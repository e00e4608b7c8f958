"""The Poller every view uses to keep its rows fresh.

A :class:`Poller` calls one async ``fetch`` function on an interval and turns each result into a
keyed :class:`Diff` against the previous one, so that views update only what changed.

* The next tick is scheduled after the previous one finished (a slow service is never asked
  twice at once); :meth:`Poller.refresh_now` during a fetch runs one more fetch right after
  it (several requests coalesce into one).
* Errors back off exponentially (interval × 2ⁿ, capped at ``max_backoff``) and are reported
  through ``on_error``; the last good rows stay where they are, marked stale.
* :meth:`Poller.pause` stops fetching (hidden tab, modal open); :meth:`Poller.resume` fetches
  at once if the data is older than the interval.
* ``fetch_one=True`` polls a single object (a status) instead of a collection.
* ``fast_interval`` with ``wants_fast`` polls faster while some row is in a transitional state
  (as Horizon does for instances being built).
* A large result (``thread_threshold`` items or more) is keyed and diffed in a worker thread,
  together with the caller's optional ``prepare(previous, current, diff)`` step (e.g. turning
  the changed items into table rows), so that a 100 000-job queue does not freeze the screen
  while it is compared; what ``prepare`` returns reaches ``on_diff`` as :attr:`Diff.prepared`.

It imports no Textual: the view owns a Poller and runs :meth:`Poller.run` in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Generic, TypeVar, cast

from canfar_tui.clients.base import ClientError, Unavailable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Diff(Generic[K, T]):
    """What changed between two fetches, by key."""

    added: Mapping[K, T] = field(default_factory=dict)
    changed: Mapping[K, T] = field(default_factory=dict)
    removed: frozenset[K] = frozenset()
    #: What the Poller's ``prepare`` made of this diff (None without one).
    prepared: object = None

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


_MISSING: Final = object()

#: Nesting depth of :func:`paused_gc`, and whether GC was on when the first one began
#: (GC is process-wide: the last one out turns it back on).
_gc_pauses = 0
_gc_was_enabled = False
_gc_lock = threading.Lock()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building many objects at once.

    Digesting 100 000 jobs creates 100 000 rows; each burst of allocations triggers
    collections that walk every object the program holds, which more than doubles the time.
    The rows hold no reference cycles, so nothing is lost by collecting later. Safe to nest
    and to use from several threads.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def compute_diff(previous: Mapping[K, T], current: Mapping[K, T]) -> Diff[K, T]:
    """Compare two keyed snapshots; values are compared with ``==`` (the same object is equal)."""
    added: dict[K, T] = {}
    changed: dict[K, T] = {}
    missing = _MISSING
    get = previous.get
    for key, value in current.items():
        old = get(key, missing)
        if old is missing:
            added[key] = value
        elif old is not value and old != value:
            changed[key] = value
    if len(previous) == len(current) - len(added):
        removed: frozenset[K] = frozenset()  # every old key is still there
    else:
        removed = frozenset(key for key in previous if key not in current)
    return Diff(added, changed, removed)


def backoff_delay(interval: float, failures: int, max_backoff: float) -> float:
    """Delay before the next try after ``failures`` consecutive failures."""
    if failures <= 0:
        return interval
    return float(min(max_backoff, interval * (2 ** min(failures, 16))))


class Poller(Generic[K, T]):
    """Fetch, diff and report on an interval, with backoff, skipping and pausing."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Iterable[T]]] | Callable[[], Awaitable[T]],
        key: Callable[[T], K],
        *,
        interval: float = 5.0,
        max_backoff: float = 60.0,
        fast_interval: float | None = None,
        wants_fast: Callable[[Iterable[T]], bool] | None = None,
        timeout: float | None = 30.0,
        on_diff: Callable[[Diff[K, T]], None] | None = None,
        on_error: Callable[[ClientError], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        fetch_one: bool = False,
        name: str = "poller",
        prepare: Callable[[Mapping[K, T], Mapping[K, T], Diff[K, T]], object] | None = None,
        thread_threshold: int = 5_000,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.name = name
        self.interval = interval
        self.max_backoff = max(max_backoff, interval)
        self.fast_interval = fast_interval
        self._fetch = fetch
        self._fetch_one = fetch_one
        self._key = key
        self._wants_fast = wants_fast
        self._timeout = timeout
        self._on_diff = on_diff
        self._on_error = on_error
        self._clock = clock
        self._rows: dict[K, T] = {}
        self._prepare = prepare
        self.thread_threshold = thread_threshold
        #: Bumped by :meth:`reset`: a digest begun before a reset is thrown away.
        self._generation = 0
        self._in_flight = False
        self._paused = False
        self._wake = asyncio.Event()
        self._fast = False
        self.failures = 0
        self.last_error: ClientError | None = None
        self.last_success: float | None = None
        self.ticks = 0
        self.skipped = 0
        self.loaded = False

    # ------------------------------------------------------------------ state

    @property
    def rows(self) -> Mapping[K, T]:
        """The last good rows, by key."""
        return self._rows

    @property
    def stale(self) -> bool:
        """True when the last fetch failed (the rows are from an earlier success)."""
        return self.last_error is not None

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    @property
    def paused(self) -> bool:
        return self._paused

    def next_delay(self) -> float:
        """Seconds until the next tick should start."""
        if self.failures:
            return backoff_delay(self.interval, self.failures, self.max_backoff)
        if self._fast and self.fast_interval is not None:
            return self.fast_interval
        return self.interval

    # ------------------------------------------------------------------ control

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        """Resume; wake the loop so data older than the interval is fetched at once."""
        if not self._paused:
            return
        self._paused = False
        if self.last_success is None or self._clock() - self.last_success >= self.interval:
            self._wake.set()

    def refresh_now(self) -> None:
        """Ask the running loop for an immediate tick (after the one in flight, if any)."""
        self._wake.set()

    def reset(self) -> None:
        """Forget the rows (e.g. after switching project); the next tick reports all as added."""
        self._rows = {}
        self._generation += 1
        self.loaded = False
        self.last_success = None
        self._wake.set()

    # ------------------------------------------------------------------ ticking

    async def tick(self) -> Diff[K, T] | None:
        """Fetch once. Returns the diff, or None when skipped (in flight) or failed."""
        if self._in_flight:
            self.skipped += 1
            return None
        self._in_flight = True
        self.ticks += 1
        try:
            try:
                if self._timeout is None:
                    result = await self._fetch()
                else:
                    result = await asyncio.wait_for(self._fetch(), self._timeout)
                items = [cast(T, result)] if self._fetch_one else list(cast(Iterable[T], result))
            except ClientError as error:
                self._record_failure(error)
                return None
            except TimeoutError:
                self._record_failure(Unavailable(f"{self.name}: no answer in {self._timeout:g} s"))
                return None
            generation, previous = self._generation, self._rows
            if len(items) >= self.thread_threshold or len(previous) >= self.thread_threshold:
                current, diff = await asyncio.to_thread(self._digest, previous, items)
                if generation != self._generation:  # reset while comparing: start again
                    self._wake.set()
                    return None
            else:
                current, diff = self._digest(previous, items)
            return self._accept(current, diff)
        finally:
            self._in_flight = False

    def seed(self, result: Iterable[T] | T) -> Diff[K, T]:
        """Take a fetch's ``result`` obtained elsewhere (e.g. started before the view was
        mounted) as this poller's first tick, synchronously; :meth:`run` then waits an
        interval before its own first fetch."""
        items = [cast(T, result)] if self._fetch_one else list(cast(Iterable[T], result))
        return self._accept(*self._digest(self._rows, items))

    def _accept(self, current: dict[K, T], diff: Diff[K, T]) -> Diff[K, T]:
        """Record a successful fetch's rows and report its diff."""
        self._rows = current
        self.failures = 0
        self.last_error = None
        self.last_success = self._clock()
        self.loaded = True
        if self._wants_fast is not None:
            self._fast = self._wants_fast(current.values())
        if self._on_diff is not None:
            self._on_diff(diff)
        return diff

    def _digest(self, previous: Mapping[K, T], items: list[T]) -> tuple[dict[K, T], Diff[K, T]]:
        """Key the items and diff them against ``previous`` (may run in a worker thread)."""
        key = self._key
        with paused_gc() if len(items) >= self.thread_threshold else contextlib.nullcontext():
            current = {key(item): item for item in items}
            diff = compute_diff(previous, current)
            if self._prepare is not None:
                diff = replace(diff, prepared=self._prepare(previous, current, diff))
        return current, diff

    def _record_failure(self, error: ClientError) -> None:
        self.failures += 1
        self.last_error = error
        if self._on_error is not None:
            self._on_error(error)

    async def run(self) -> None:
        """Tick forever (until cancelled): tick, wait ``next_delay()`` or a wake-up, repeat."""
        seeded = self.loaded  # seeded (see seed()): its first rows are here; wait first
        while True:
            if seeded:
                seeded = False
            else:
                # Cleared before the tick, so a refresh asked for during a slow fetch is not
                # lost: the next tick starts as soon as this one ends (never concurrent).
                self._wake.clear()
                if not self._paused:
                    await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.next_delay())
