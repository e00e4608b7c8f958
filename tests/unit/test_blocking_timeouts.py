"""run_blocking's timeout: the one Unavailable, the ``on_timeout`` hook, and no late start.

A call that timed out (or was cancelled) while it waited for a busy pool never runs, as with a
cancelled ``run_in_executor`` future: the cloud backends relied on that before they moved to
:func:`~canfar_tui.clients._blocking.run_blocking`.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from canfar_tui.clients._blocking import run_blocking
from canfar_tui.clients.base import Unavailable


async def test_a_slow_call_is_unavailable_after_on_timeout() -> None:
    release = threading.Event()
    seen: list[str] = []
    try:
        with pytest.raises(Unavailable, match="too slow") as raised:
            await run_blocking(
                release.wait,
                timeout=0.05,
                timeout_message="too slow",
                on_timeout=lambda: seen.append("timed out"),
            )
        assert raised.value.__cause__ is None
        assert seen == ["timed out"]
    finally:
        release.set()


async def test_on_timeout_is_not_called_when_the_call_answers() -> None:
    seen: list[str] = []
    assert await run_blocking(lambda: 42, timeout=5.0, on_timeout=lambda: seen.append("x")) == 42
    assert seen == []


async def test_the_functions_own_timeout_error_goes_through() -> None:
    def fails() -> None:
        raise TimeoutError("socket timed out")

    with pytest.raises(TimeoutError, match="socket timed out"):
        await run_blocking(fails, timeout=5.0)


async def test_a_call_that_timed_out_in_the_queue_never_runs() -> None:
    release = threading.Event()
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = asyncio.ensure_future(run_blocking(release.wait, executor=pool))
        try:
            await asyncio.sleep(0.05)  # the one worker is taken
            with pytest.raises(Unavailable):
                await run_blocking(ran.append, "late", timeout=0.05, executor=pool)
        finally:
            release.set()
        await busy
        await run_blocking(ran.append, "next", executor=pool)
    assert ran == ["next"]


async def test_a_call_cancelled_in_the_queue_never_runs() -> None:
    release = threading.Event()
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = asyncio.ensure_future(run_blocking(release.wait, executor=pool))
        try:
            await asyncio.sleep(0.05)  # the one worker is taken
            queued = asyncio.ensure_future(run_blocking(ran.append, "late", executor=pool))
            await asyncio.sleep(0.05)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
        finally:
            release.set()
        await busy
        await run_blocking(ran.append, "next", executor=pool)
    assert ran == ["next"]
