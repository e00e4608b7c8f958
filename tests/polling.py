"""Waiting for a real service to reach a state, shared by the cloud and queue harnesses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import pytest

T = TypeVar("T")

__all__ = ["PollingBackend", "poll_until"]


class PollingBackend(Protocol):
    """How long a backend may take and how often to look (real services are slower)."""

    @property
    def timeout(self) -> float: ...

    @property
    def poll_interval(self) -> float: ...


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    what: str,
    backend: PollingBackend,
    *,
    timeout: float | None = None,
) -> T:
    """Poll ``fetch`` until ``predicate`` holds; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + (timeout or backend.timeout)
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(backend.poll_interval)
