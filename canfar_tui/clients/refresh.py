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

It imports no Textual: the view owns a Poller and runs :meth:`Poller.run` in a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from canfar_tui.clients.base import ClientError, Unavailable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Diff(Generic[K, T]):
    """What changed between two fetches, by key."""

    added: Mapping[K, T] = field(default_factory=dict)
    changed: Mapping[K, T] = field(default_factory=dict)
    removed: frozenset[K] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def compute_diff(previous: Mapping[K, T], current: Mapping[K, T]) -> Diff[K, T]:
    """Compare two keyed snapshots; values are compared with ``==``."""
    added: dict[K, T] = {}
    changed: dict[K, T] = {}
    for key, value in current.items():
        if key not in previous:
            added[key] = value
        elif previous[key] != value:
            changed[key] = value
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
            current = {self._key(item): item for item in items}
            diff = compute_diff(self._rows, current)
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
        finally:
            self._in_flight = False

    def _record_failure(self, error: ClientError) -> None:
        self.failures += 1
        self.last_error = error
        if self._on_error is not None:
            self._on_error(error)

    async def run(self) -> None:
        """Tick forever (until cancelled): tick, wait ``next_delay()`` or a wake-up, repeat."""
        while True:
            # Cleared before the tick, so a refresh asked for during a slow fetch is not lost:
            # it starts the next tick as soon as this one ends (coalesced, never concurrent).
            self._wake.clear()
            if not self._paused:
                await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.next_delay())
