"""Benchmark: ResourceTable vs Textual's DataTable, headless, in one run.

Usage::

    .venv/bin/python bench/bench_table.py [--rows 10000 100000] [--repeat 5]

For every row count and both widgets, in a fresh headless app (``App.run_test(size=(160, 50))``)
with the empty table already mounted and painted:

first paint
    Wall time from the first call that adds rows (``apply_diff`` / ``add_row`` per row with
    a key) until the first frame whose terminal output contains the first row's id. Frames are
    caught by overriding ``App._display``: headless Textual skips turning a frame into terminal
    output, so the hook does that step itself (``CompositorUpdate.render_segments``, the same
    call a real terminal run makes) and searches the output for the sentinel text. The time
    therefore covers: adding rows, the widgets' idle work (DataTable measures rows on idle),
    layout, rendering the visible lines and producing the escape sequences.
1 % refresh
    1 % of the rows (evenly spaced, so some are on screen) get two new cell values (status and
    CPU): ResourceTable with one ``apply_diff``, DataTable with ``update_cell`` per changed
    cell (its best keyed path). Measured until the frame containing the new status of the
    first row on screen. Reported as wall time and as CPU time of the process
    (``time.process_time``): wall time also contains up to one frame period (1/60 s) of
    Textual's frame pacing, during which the loop is idle; CPU time is the UI work.
1 % refresh, sorted
    The same with the table sorted by the CPU column, so the changed rows move (ResourceTable
    re-places them incrementally; DataTable has no incremental sort, so ``update_cell`` + a
    full ``sort``).

Every figure is the median of ``--repeat`` runs (first paint: a fresh app per run). No
timing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import RenderableType
from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

from canfar_tui.widgets.resource_table import Column, ResourceTable

SIZE = (160, 50)
COLUMNS = [
    Column("id", "ID"),
    Column("name", "Name"),
    Column("status", "Status"),
    Column("flavor", "Flavor"),
    Column("cpu", "CPU h", justify="right"),
    Column("ram", "RAM MB", justify="right"),
    Column("ip", "Address"),
    Column("created", "Created"),
]
STATUSES = ("ACTIVE", "BUILD", "SHUTOFF", "ERROR", "PAUSED")
FLAVORS = ("c2-7.5gb-31", "c4-15gb-83", "p8-30gb", "c16-60gb-186")
EPOCH = datetime(2024, 3, 1, 8, 0)


def make_rows(count: int) -> dict[str, tuple[object, ...]]:
    return {
        f"vm-{i:06d}": (
            f"vm-{i:06d}",
            f"survey-field-{i % 977:03d}-{i}",
            STATUSES[i % 5],
            FLAVORS[i % 4],
            round((i * 7919) % 10007 / 7.0, 2),
            2048 * (1 + i % 8),
            f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            EPOCH + timedelta(minutes=i),
        )
        for i in range(count)
    }


def make_changes(
    rows: dict[str, tuple[object, ...]], rep: int
) -> tuple[dict[str, tuple[object, ...]], str]:
    """1 % of the rows, evenly spaced from the first: new status and CPU.

    The first row (on screen, under the cursor) gets the lowest CPU value, so it also stays on
    screen when sorted by CPU. Returns the new status, the sentinel to wait for ("R" and
    three digits: found nowhere else in the table).
    """
    step = 100
    changed: dict[str, tuple[object, ...]] = {}
    for n, key in enumerate(list(rows)[::step]):
        old = rows[key]
        status = f"R{rep:03d}"  # fits DataTable's status column (it does not widen)
        old_cpu = old[4]
        assert isinstance(old_cpu, float)
        cpu = -1.0 - rep if n == 0 else round((old_cpu * 1.37 + rep * 13.1 + n) % 1500, 2)
        changed[key] = (*old[:2], status, old[3], cpu, *old[5:])
    rows.update(changed)
    return changed, f"R{rep:03d}"


class BenchApp(App[None]):
    """Holds one table; records every frame and wakes waiters whose sentinel appears."""

    def __init__(self, make_table: Callable[[], Widget]) -> None:
        super().__init__()
        self._make_table = make_table
        self.waiters: list[tuple[str, asyncio.Future[tuple[float, float]]]] = []

    def compose(self) -> ComposeResult:
        yield self._make_table()

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        super()._display(screen, renderable)
        if not isinstance(renderable, CompositorUpdate) or not self.waiters:
            return
        output = renderable.render_segments(self.console)  # what a terminal run would write
        now, cpu = time.perf_counter(), time.process_time()
        for sentinel, future in list(self.waiters):
            if sentinel in output and not future.done():
                future.set_result((now, cpu))
                self.waiters.remove((sentinel, future))

    def frame_with(self, sentinel: str) -> asyncio.Future[tuple[float, float]]:
        future: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()
        self.waiters.append((sentinel, future))
        return future


# --------------------------------------------------------------------------- adapters


class Adapter:
    name = ""

    def make(self) -> Widget:
        raise NotImplementedError

    def load(self, table: Any, rows: dict[str, tuple[object, ...]]) -> None:
        raise NotImplementedError

    def change(self, table: Any, changed: dict[str, tuple[object, ...]], sorted_: bool) -> None:
        raise NotImplementedError

    def sort(self, table: Any) -> None:
        raise NotImplementedError


class ResourceTableAdapter(Adapter):
    name = "ResourceTable"

    def make(self) -> Widget:
        return ResourceTable(COLUMNS)

    def load(self, table: ResourceTable, rows: dict[str, tuple[object, ...]]) -> None:
        table.apply_diff(rows, {}, ())

    def change(
        self, table: ResourceTable, changed: dict[str, tuple[object, ...]], sorted_: bool
    ) -> None:
        table.apply_diff({}, changed, ())

    def sort(self, table: ResourceTable) -> None:
        table.sort_by("cpu", reverse=False)


class DataTableAdapter(Adapter):
    name = "DataTable"

    def make(self) -> Widget:
        table: DataTable[Any] = DataTable(cursor_type="row")
        for column in COLUMNS:
            table.add_column(column.label, key=column.key)
        return table

    def load(self, table: DataTable[Any], rows: dict[str, tuple[object, ...]]) -> None:
        add_row = table.add_row
        for key, row in rows.items():
            add_row(*row, key=key)

    def change(
        self, table: DataTable[Any], changed: dict[str, tuple[object, ...]], sorted_: bool
    ) -> None:
        update_cell = table.update_cell
        for key, row in changed.items():
            update_cell(key, "status", row[2])
            update_cell(key, "cpu", row[4])
        if sorted_:
            table.sort("cpu")

    def sort(self, table: DataTable[Any]) -> None:
        table.sort("cpu")


# --------------------------------------------------------------------------- measurement


@dataclass
class Result:
    first_paint: list[float] = field(default_factory=list)
    refresh_wall: list[float] = field(default_factory=list)
    refresh_cpu: list[float] = field(default_factory=list)
    sorted_wall: list[float] = field(default_factory=list)
    sorted_cpu: list[float] = field(default_factory=list)


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await asyncio.sleep(0.05)
    await pilot.pause()


async def measure_once(
    adapter: Adapter, count: int, repeat: int, result: Result, with_refresh: bool
) -> None:
    rows = make_rows(count)
    first_key = next(iter(rows))
    app = BenchApp(adapter.make)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(ResourceTable if adapter.name == "ResourceTable" else DataTable)
        table.focus()
        await settle(pilot)
        gc.collect()
        frame = app.frame_with(first_key)
        start = time.perf_counter()
        adapter.load(table, rows)
        end, _ = await asyncio.wait_for(frame, 120)
        result.first_paint.append(end - start)
        await settle(pilot)
        if not with_refresh:
            return
        for sorted_ in (False, True):
            if sorted_:
                adapter.sort(table)
                await settle(pilot)
                table.scroll_home(animate=False)
                await settle(pilot)
            for rep in range(repeat):
                changed, sentinel = make_changes(rows, rep + (100 if sorted_ else 0))
                gc.collect()
                frame = app.frame_with(sentinel)
                start, cpu_start = time.perf_counter(), time.process_time()
                adapter.change(table, changed, sorted_)
                end, cpu_end = await asyncio.wait_for(frame, 120)
                (result.sorted_wall if sorted_ else result.refresh_wall).append(end - start)
                (result.sorted_cpu if sorted_ else result.refresh_cpu).append(cpu_end - cpu_start)
                await settle(pilot)


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


async def run(counts: Sequence[int], repeat: int, paint_repeat: int) -> None:
    adapters: list[Adapter] = [ResourceTableAdapter(), DataTableAdapter()]
    results: dict[tuple[str, int], Result] = {}
    for count in counts:
        for adapter in adapters:
            result = results[(adapter.name, count)] = Result()
            for run_index in range(paint_repeat):
                await measure_once(adapter, count, repeat, result, with_refresh=run_index == 0)
                print(
                    f"  {adapter.name:13} {count:>7} rows: run {run_index + 1}/{paint_repeat}"
                    f" first paint {result.first_paint[-1] * 1000:8.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    print()
    print(
        f"Python {platform.python_version()}, Textual {version('textual')}, "
        f"{platform.machine()} x{os.cpu_count()} ({platform.processor() or platform.system()})"
    )
    print(f"ResourceTable vs DataTable, headless {SIZE[0]}x{SIZE[1]}, medians in ms")
    print(f"(first paint: {paint_repeat} fresh apps; refreshes: {repeat} runs)")
    header = f"{'metric':34} {'rows':>7} {'ResourceTable':>14} {'DataTable':>11} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    metrics = [
        ("first paint", "first_paint"),
        ("1% refresh (wall)", "refresh_wall"),
        ("1% refresh (CPU)", "refresh_cpu"),
        ("1% refresh, sorted by it (wall)", "sorted_wall"),
        ("1% refresh, sorted by it (CPU)", "sorted_cpu"),
    ]
    for label, attribute in metrics:
        for count in counts:
            ours = median_ms(getattr(results[("ResourceTable", count)], attribute))
            theirs = median_ms(getattr(results[("DataTable", count)], attribute))
            print(f"{label:34} {count:>7} {ours:14.1f} {theirs:11.1f} {ours / theirs:8.3f}")
    print()
    largest = max(counts)
    mine = results[("ResourceTable", largest)]
    paint = median_ms(mine.first_paint)
    refresh = median_ms(mine.refresh_cpu)
    refresh_wall = median_ms(mine.refresh_wall)
    print(f"targets at {largest} rows (ResourceTable):")
    print(f"  first paint <= 1000 ms: {paint:.1f} ms -> {'MET' if paint <= 1000 else 'MISSED'}")
    print(
        f"  1% refresh <= 30 ms: CPU {refresh:.1f} ms, wall {refresh_wall:.1f} ms -> "
        f"{'MET' if refresh <= 30 else 'MISSED'} (CPU), "
        f"{'MET' if refresh_wall <= 30 else 'MISSED'} (wall)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5, help="refreshes per table (median)")
    parser.add_argument(
        "--paint-repeat", type=int, default=3, help="fresh apps per table for first paint"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.rows, args.repeat, args.paint_repeat))


if __name__ == "__main__":
    main()
