"""Faults the loopback VOSpace service injects on request, for tests.

A download cut off mid-file, an upload corrupted in transit, a request answered with 503, a
listing or upload paused mid-way until released: :class:`FaultPlan` holds what the next
requests meet, and the request handler takes from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["FaultPlan"]


@dataclass
class FaultPlan:
    """Faults the next requests meet, for tests. Every method is thread-safe."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cuts: list[int] = field(default_factory=list)
    _corruptions: int = 0
    _failures: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    _stalls: list[int] = field(default_factory=list)
    _request_stalls: list[tuple[str | None, str | None, int]] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event, repr=False)
    downloads_cut: int = 0
    uploads_corrupted: int = 0
    requests_failed: int = 0
    requests_stalled: int = 0

    def cut_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """The next ``times`` data downloads send ``after_bytes`` bytes, then drop the socket."""
        with self._lock:
            self._cuts.extend([max(0, after_bytes)] * times)

    def stall_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """The next ``times`` downloads pause after ``after_bytes`` until :meth:`release`."""
        with self._lock:
            self._released.clear()
            self._stalls.extend([max(0, after_bytes)] * times)

    def release(self) -> None:
        """Let stalled downloads go on."""
        self._released.set()

    def take_stall(self) -> int | None:
        with self._lock:
            return self._stalls.pop(0) if self._stalls else None

    def wait_released(self, timeout: float = 60.0) -> None:
        self._released.wait(timeout)

    def stall_requests(
        self,
        times: int = 1,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        after_bytes: int = 0,
    ) -> None:
        """The next ``times`` matching requests pause until :meth:`release`: before they are
        answered, or, for a request with a body, once ``after_bytes`` of it were read (a
        listing or an upload caught mid-way when the service is stopped or killed)."""
        with self._lock:
            self._released.clear()
            self._request_stalls.extend([(endpoint, method, max(0, after_bytes))] * times)

    def take_request_stall(self, endpoint: str, method: str) -> int | None:
        with self._lock:
            for index, (want_endpoint, want_method, after) in enumerate(self._request_stalls):
                if want_endpoint in (None, endpoint) and want_method in (None, method):
                    del self._request_stalls[index]
                    return after
        return None

    def stall_here(self) -> None:
        """Count a stall and wait for :meth:`release` (called by the request's thread)."""
        with self._lock:
            self.requests_stalled += 1
        self.wait_released()

    def corrupt_uploads(self, times: int = 1) -> None:
        """The next ``times`` uploads have one bit flipped as they arrive (bad network)."""
        with self._lock:
            self._corruptions += times

    def fail_requests(
        self,
        status: int = 503,
        times: int = 1,
        *,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 503, 500)."""
        with self._lock:
            self._failures.extend([(status, endpoint, method)] * times)

    def clear(self) -> None:
        with self._lock:
            self._cuts.clear()
            self._corruptions = 0
            self._failures.clear()
            self._stalls.clear()
            self._request_stalls.clear()
        self._released.set()

    def take_cut(self) -> int | None:
        with self._lock:
            if not self._cuts:
                return None
            self.downloads_cut += 1
            return self._cuts.pop(0)

    def take_corruption(self) -> bool:
        with self._lock:
            if self._corruptions <= 0:
                return False
            self._corruptions -= 1
            self.uploads_corrupted += 1
            return True

    def take_failure(self, endpoint: str, method: str) -> int | None:
        with self._lock:
            for index, (status, want_endpoint, want_method) in enumerate(self._failures):
                if want_endpoint not in (None, endpoint) or want_method not in (None, method):
                    continue
                del self._failures[index]
                self.requests_failed += 1
                return status
        return None
