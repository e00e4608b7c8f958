"""The Poller: diffs, backoff, skipping while in flight, pausing, fast polling."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from canfar_tui.clients.base import ClientError, NotFound, Unavailable
from canfar_tui.clients.refresh import Diff, Poller, backoff_delay, compute_diff, paused_gc


@dataclass(frozen=True)
class Row:
    key: str
    value: int
    busy: bool = False


class Source:
    """A fetch function whose answers and failures the test controls."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.error: ClientError | None = None
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> list[Row]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return list(self.rows)


Rows = Mapping[str, Row]


def make_poller(
    source: Source, **kwargs: object
) -> tuple[Poller[str, Row], list[Diff[str, Row]], list[ClientError]]:
    diffs: list[Diff[str, Row]] = []
    errors: list[ClientError] = []
    poller: Poller[str, Row] = Poller(
        source,
        lambda row: row.key,
        on_diff=diffs.append,
        on_error=errors.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return poller, diffs, errors


def test_compute_diff_reports_added_changed_removed() -> None:
    before = {"a": 1, "b": 2, "c": 3}
    after = {"a": 1, "b": 20, "d": 4}
    diff = compute_diff(before, after)
    assert diff.added == {"d": 4}
    assert diff.changed == {"b": 20}
    assert diff.removed == frozenset({"c"})
    assert len(diff) == 3
    assert compute_diff(after, after).is_empty


async def test_first_tick_adds_everything_then_only_changes() -> None:
    source = Source()
    source.rows = [Row("a", 1), Row("b", 2)]
    poller, diffs, _ = make_poller(source)
    first = await poller.tick()
    assert first is not None and set(first.added) == {"a", "b"}
    source.rows = [Row("a", 1), Row("b", 3), Row("c", 0)]
    second = await poller.tick()
    assert second is not None
    assert set(second.added) == {"c"}
    assert second.changed == {"b": Row("b", 3)}
    assert not second.removed
    assert len(diffs) == 2
    assert poller.loaded and not poller.stale


async def test_errors_back_off_keep_rows_and_recover() -> None:
    source = Source()
    source.rows = [Row("a", 1)]
    poller, _, errors = make_poller(source, interval=2.0, max_backoff=10.0)
    await poller.tick()
    source.error = Unavailable("service down")
    for expected in (4.0, 8.0, 10.0, 10.0):
        assert await poller.tick() is None
        assert poller.next_delay() == expected
    assert poller.stale
    assert poller.rows == {"a": Row("a", 1)}, "last good rows are kept while stale"
    assert [error.message for error in errors] == ["service down"] * 4
    source.error = None
    await poller.tick()
    assert not poller.stale and poller.failures == 0 and poller.next_delay() == 2.0


def test_backoff_delay_is_capped() -> None:
    assert backoff_delay(5, 0, 60) == 5
    assert backoff_delay(5, 1, 60) == 10
    assert backoff_delay(5, 3, 60) == 40
    assert backoff_delay(5, 50, 60) == 60


async def test_tick_while_in_flight_is_skipped() -> None:
    source = Source()
    source.gate = asyncio.Event()
    poller, diffs, _ = make_poller(source)
    first = asyncio.create_task(poller.tick())
    while source.calls == 0:
        await asyncio.sleep(0)
    assert poller.in_flight
    assert await poller.tick() is None
    assert poller.skipped == 1 and source.calls == 1
    source.gate.set()
    await first
    assert len(diffs) == 1 and not poller.in_flight


async def test_timeout_becomes_unavailable() -> None:
    source = Source()
    source.gate = asyncio.Event()  # never set: the fetch hangs
    poller, _, errors = make_poller(source, timeout=0.05, name="Instances")
    assert await poller.tick() is None
    assert isinstance(errors[0], Unavailable)
    assert "Instances" in errors[0].message


async def test_run_loop_pauses_and_resumes() -> None:
    source = Source()
    source.rows = [Row("a", 1)]
    poller, diffs, _ = make_poller(source, interval=0.01)
    poller.pause()
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.1)
    assert source.calls == 0, "a paused poller does not fetch"
    poller.resume()
    await asyncio.sleep(0.1)
    assert source.calls >= 2
    poller.pause()
    await asyncio.sleep(0.03)
    calls = source.calls
    await asyncio.sleep(0.1)
    assert source.calls == calls
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(diffs) >= 1


async def test_fast_interval_while_rows_are_transitional() -> None:
    source = Source()
    source.rows = [Row("a", 1, busy=True)]
    poller, _, _ = make_poller(
        source, interval=5.0, fast_interval=1.0, wants_fast=lambda rows: any(r.busy for r in rows)
    )
    await poller.tick()
    assert poller.next_delay() == 1.0
    source.rows = [Row("a", 1, busy=False)]
    await poller.tick()
    assert poller.next_delay() == 5.0


async def test_reset_reports_everything_as_added_again() -> None:
    source = Source()
    source.rows = [Row("a", 1)]
    poller, _, _ = make_poller(source)
    await poller.tick()
    poller.reset()
    assert poller.last_success is None, "a reset poller fetches again as soon as it resumes"
    diff = await poller.tick()
    assert diff is not None and set(diff.added) == {"a"}


def test_client_error_messages_are_one_line() -> None:
    error = NotFound("instance\n  vm-1\tis gone", details="HTTP 404\nbody")
    assert error.message == "instance vm-1 is gone"
    assert str(error) == error.message
    assert error.details == "HTTP 404\nbody"
    assert Unavailable("x").transient and not NotFound("x").transient


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Poller[str, Row](Source(), lambda row: row.key, interval=0)


async def test_refresh_asked_during_a_slow_fetch_runs_right_after_it() -> None:
    source = Source()
    source.gate = asyncio.Event()
    poller, _, _ = make_poller(source, interval=60.0)
    task = asyncio.create_task(poller.run())
    while source.calls == 0:
        await asyncio.sleep(0)
    poller.refresh_now()
    poller.refresh_now()
    source.gate.set()
    for _ in range(200):
        if source.calls >= 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.calls == 2, "two requests during one fetch coalesce into one more fetch"


async def test_large_results_are_digested_in_a_worker_thread_with_prepare() -> None:
    source = Source()
    source.rows = [Row(f"r{i}", i) for i in range(10)]
    seen: list[tuple[str, int, int, int]] = []

    def prepare(previous: Rows, current: Rows, diff: Diff[str, Row]) -> object:
        seen.append((threading.current_thread().name, len(previous), len(current), len(diff)))
        assert not gc.isenabled()  # a big digest runs with the collector paused
        return {key: row.value * 2 for key, row in diff.changed.items()}

    poller, diffs, _ = make_poller(source, prepare=prepare, thread_threshold=5)
    await poller.tick()
    source.rows[3] = Row("r3", 33)
    await poller.tick()
    assert [name != threading.main_thread().name for name, *_ in seen] == [True, True]
    assert [counts for _, *counts in seen] == [[0, 10, 10], [10, 10, 1]]
    assert diffs[1].prepared == {"r3": 66}
    assert gc.isenabled()
    assert poller.rows["r3"] == Row("r3", 33)


async def test_small_results_are_digested_inline() -> None:
    source = Source()
    source.rows = [Row("a", 1)]
    threads: list[str] = []

    def prepare(previous: Rows, current: Rows, diff: Diff[str, Row]) -> object:
        threads.append(threading.current_thread().name)
        return None

    poller, _, _ = make_poller(source, prepare=prepare, thread_threshold=5)
    await poller.tick()
    assert threads == [threading.main_thread().name]


async def test_a_reset_during_a_threaded_digest_throws_the_digest_away() -> None:
    source = Source()
    source.rows = [Row(f"r{i}", i) for i in range(10)]
    entered, release = threading.Event(), threading.Event()

    def prepare(previous: Rows, current: Rows, diff: Diff[str, Row]) -> object:
        entered.set()
        release.wait(5)
        return None

    poller, diffs, _ = make_poller(source, prepare=prepare, thread_threshold=5)
    tick = asyncio.ensure_future(poller.tick())
    await asyncio.to_thread(entered.wait, 5)
    poller.reset()  # e.g. the user switched project while the old rows were compared
    release.set()
    assert await tick is None
    assert diffs == [] and poller.rows == {} and not poller.loaded


def test_paused_gc_nests_and_restores_the_collector() -> None:
    assert gc.isenabled()
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_compute_diff_treats_the_same_object_as_unchanged_and_finds_removals() -> None:
    class NeverEqual:
        def __eq__(self, other: object) -> bool:
            return False

        __hash__ = object.__hash__

    same = NeverEqual()
    diff = compute_diff({"a": same, "b": 1}, {"a": same, "c": 2})
    assert (dict(diff.added), dict(diff.changed), set(diff.removed)) == ({"c": 2}, {}, {"b"})


async def test_a_seeded_poller_reports_at_once_and_waits_an_interval_before_fetching() -> None:
    """A result fetched before the poller existed (the first tab's rows, loaded while the
    screen is built) is its first tick: reported synchronously, and not fetched again at once."""
    source = Source()
    source.rows = [Row("a", 2)]
    poller, diffs, _ = make_poller(source, interval=0.3)
    diff = poller.seed([Row("a", 1), Row("b", 1)])
    assert diffs == [diff] and set(diff.added) == {"a", "b"}
    assert poller.loaded and poller.rows["a"].value == 1
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.1)
    assert source.calls == 0, "the seeded rows are fresh: no fetch before the interval"
    poller.refresh_now()
    await asyncio.sleep(0.05)
    assert source.calls == 1, "a refresh asked for still fetches at once"
    assert diffs[-1].changed == {"a": Row("a", 2)} and diffs[-1].removed == {"b"}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
