"""Behaviour of the keyed, virtualised ResourceTable (run headless with Textual's Pilot)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static, TabbedContent, TabPane

from canfar_tui.widgets.resource_table import Column, ResourceTable, RowKey, format_cell
from canfar_tui.widgets.table_model import OrderedIndex

COLUMNS = [
    Column("id", "ID"),
    Column("name", "Name"),
    Column("status", "Status"),
    Column("cpu", "CPU", justify="right"),
]


def make_rows(count: int, start: int = 0) -> dict[str, tuple[object, ...]]:
    return {
        f"k{i:06d}": (f"k{i:06d}", f"vm-{i}", ("ACTIVE", "BUILD", "ERROR")[i % 3], float(i))
        for i in range(start, start + count)
    }


class CountingTable(ResourceTable):
    """Records which screen lines and which rows get rendered."""

    def __init__(self, columns: Sequence[Column]) -> None:
        super().__init__(columns, id="table")
        self.lines: list[int] = []
        self.rendered_rows: list[object] = []

    def render_line(self, y: int) -> Strip:
        self.lines.append(y)
        return super().render_line(y)

    def _render_row(self, row: tuple[object, ...]) -> Strip:
        self.rendered_rows.append(row[0])
        return super()._render_row(row)

    def reset(self) -> None:
        self.lines.clear()
        self.rendered_rows.clear()


class TableApp(App[None]):
    def __init__(self, columns: Sequence[Column] = COLUMNS) -> None:
        super().__init__()
        self.table = CountingTable(columns)
        self.selected: list[RowKey] = []
        self.moved: list[RowKey | None] = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_mount(self) -> None:
        self.table.focus()

    def on_resource_table_row_selected(self, message: ResourceTable.RowSelected) -> None:
        assert message.control is self.table
        self.selected.append(message.key)

    def on_resource_table_cursor_moved(self, message: ResourceTable.CursorMoved) -> None:
        self.moved.append(message.key)


def cursor_key(table: ResourceTable) -> RowKey | None:
    """The key under the cursor now (read by a call, which no earlier assert narrows)."""
    return table.cursor_key


def screen_text(table: ResourceTable) -> list[str]:
    """The content lines as currently rendered (header first)."""
    return [table.render_line(y).text for y in range(table.size.height)]


# --------------------------------------------------------------------------- keyed updates


async def test_changed_row_repaints_only_its_line() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(30), {}, [])
        await pilot.pause()
        before = screen_text(table)
        table.reset()

        row = make_rows(1, start=3)["k000003"]
        table.apply_diff({}, {"k000003": (*row[:2], "SHUTOFF", 99.5)}, [])
        await pilot.pause()

        # row k000003 is display index 3 -> screen line 4 (line 0 is the header)
        assert sorted(set(table.lines)) == [4]
        assert table.rendered_rows == ["k000003"]
        after = screen_text(table)
        assert "SHUTOFF" in after[4] and "99.5" in after[4]
        assert "SHUTOFF" not in before[4]
        assert [line for y, line in enumerate(after) if y != 4] == [
            line for y, line in enumerate(before) if y != 4
        ]


class RegionTable(CountingTable):
    """Also records the regions passed to ``refresh`` (what the terminal will be sent)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        super().__init__(columns)
        self.regions: list[Region] = []

    def refresh(self, *regions: Region, **kwargs: bool) -> RegionTable:
        self.regions.extend(regions)
        super().refresh(*regions, **kwargs)
        return self


async def test_a_changed_cell_repaints_only_that_cell_over_the_wire() -> None:
    app = TableApp()
    app.table = RegionTable(COLUMNS)
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        assert isinstance(table, RegionTable)
        table.apply_diff(make_rows(30), {}, [])
        await pilot.pause()
        table.regions.clear()

        row = make_rows(4)["k000003"]
        table.apply_diff({}, {"k000003": (*row[:2], "ERROR", row[3])}, [])  # status only
        await pilot.pause()
        status_x = table.render_line(0).text.index("Status") - 1  # the cell's left padding
        assert table.regions == [Region(status_x, 4, table._widths[2] + 2, 1)]
        assert "ERROR" in screen_text(table)[4]

        # Two cells far apart: one span from the first to the last.
        table.regions.clear()
        table.apply_diff({}, {"k000003": ("k000003", "vm-9", "ERROR", 7.0)}, [])
        await pilot.pause()
        name_x = table.render_line(0).text.index("Name") - 1
        (region,) = table.regions
        assert (region.x, region.y, region.height) == (name_x, 4, 1)
        assert region.right == sum(table._widths) + 2 * len(table._widths)

        # The cursor moving: both lines whole (the cursor's style spans the line).
        table.regions.clear()
        await pilot.press("down")
        await pilot.pause()
        (region,) = table.regions  # lines 1 and 2, merged
        assert (region.x, region.y, region.height) == (0, 1, 2)
        assert region.width >= table.size.width


async def test_change_outside_the_viewport_repaints_nothing() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(100), {}, [])
        await pilot.pause()
        table.reset()
        table.apply_diff({}, {"k000090": ("k000090", "x", "ERROR", 1.0)}, [])
        table.apply_diff(make_rows(5, start=500), {}, [])  # appended below the viewport
        await pilot.pause()
        assert table.lines == []
        assert table.row_count == 105
        assert table.get_row("k000090") == ("k000090", "x", "ERROR", 1.0)


async def test_unchanged_values_in_changed_are_ignored() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        rows = make_rows(10)
        table.apply_diff(rows, {}, [])
        await pilot.pause()
        table.reset()
        table.apply_diff({}, {"k000002": rows["k000002"]}, [])
        await pilot.pause()
        assert table.lines == []


async def test_100k_rows_render_only_visible_lines() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.table
        table.apply_diff(make_rows(100_000), {}, [])
        await pilot.pause()
        assert table.row_count == table.visible_count == 100_000
        assert table.virtual_size.height == 100_001
        height = table.size.height
        assert 0 < len(set(table.lines)) <= height
        # only rows that fit on screen were rendered (header + height - 1 rows at most)
        assert 0 < len(set(table.rendered_rows)) <= height - 1
        assert set(table.rendered_rows) <= {f"k{i:06d}" for i in range(height)}

        table.reset()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == "k099999"
        assert len(set(table.rendered_rows)) <= height - 1
        assert "k099999" in set(table.rendered_rows)
        assert any("k099999" in line for line in screen_text(table))


async def test_apply_diff_add_change_remove() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(5), {}, [])
        table.apply_diff(
            make_rows(2, start=10),
            {"k000001": ("k000001", "renamed", "BUILD", 1.0)},
            ["k000000", "k000003", "no-such-key"],
        )
        await pilot.pause()
        assert list(table.visible_keys()) == ["k000001", "k000002", "k000004", "k000010", "k000011"]
        assert table.get_row("k000000") is None
        assert table.get_row("k000001") == ("k000001", "renamed", "BUILD", 1.0)
        assert any("renamed" in line for line in screen_text(table))
        with pytest.raises(ValueError, match="values for 4 columns"):
            table.apply_diff({"bad": ("only", "three", "values")}, {}, ["k000001"])
        assert table.get_row("k000001") is not None  # nothing applied
        assert table.row_count == 5


async def test_replace_all_diffs_against_current_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        rows = make_rows(6)
        table.replace_all(rows)
        await pilot.pause()
        table.reset()
        new = dict(rows)
        del new["k000000"]
        new["k000004"] = ("k000004", "vm-4", "SHUTOFF", 4.0)
        new["zz"] = ("zz", "new", "BUILD", None)
        table.replace_all(new)
        await pilot.pause()
        assert list(table.visible_keys()) == [*list(new)[:-1], "zz"]
        # only the changed and the new row had to be formatted again
        assert sorted(set(table.rendered_rows), key=str) == ["k000004", "zz"]
        assert table.get_row("k000004") == new["k000004"]


# --------------------------------------------------------------------------- sorting


async def test_sort_by_and_toggle() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(
            {
                "a": ("a", "delta", "BUILD", 2.0),
                "b": ("b", "Alpha", "ERROR", 10.0),
                "c": ("c", "charlie", "ACTIVE", 1.0),
            },
            {},
            [],
        )
        table.sort_by("cpu")
        assert (table.sort_column, table.sort_reverse) == ("cpu", False)
        assert list(table.visible_keys()) == ["c", "a", "b"]  # numeric, not lexical
        table.sort_by("cpu")
        assert table.sort_reverse is True
        assert list(table.visible_keys()) == ["b", "a", "c"]
        table.sort_by("name")  # other column: ascending, case-insensitive
        assert (table.sort_column, table.sort_reverse) == ("name", False)
        assert list(table.visible_keys()) == ["b", "c", "a"]
        table.sort_by("name", reverse=True)
        assert list(table.visible_keys()) == ["a", "c", "b"]
        table.sort_by("Status")  # by label, ignoring case
        assert table.sort_column == "status"
        await pilot.pause()
        assert screen_text(table)[0].split() == ["ID", "Name", "Status", "▲", "CPU"]
        table.sort_by("status", reverse=True)
        await pilot.pause()
        assert "Status ▼" in screen_text(table)[0]
        with pytest.raises(ValueError, match="unknown column 'nope'"):
            table.sort_by("nope")


async def test_s_cycles_columns_and_shift_s_reverses() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(5), {}, [])
        await pilot.press("s")
        assert (table.sort_column, table.sort_reverse) == ("id", False)
        await pilot.press("s")
        assert table.sort_column == "name"
        await pilot.press("S")
        assert (table.sort_column, table.sort_reverse) == ("name", True)
        assert list(table.visible_keys()) == [f"k{i:06d}" for i in (4, 3, 2, 1, 0)]
        await pilot.press("s", "s", "s")
        assert (table.sort_column, table.sort_reverse) == ("id", False)  # wrapped around


async def test_none_last_and_mixed_types_sort_safely() -> None:
    app = TableApp([Column("v", "Value")])
    async with app.run_test(size=(60, 14)) as pilot:
        table = app.table
        when = datetime(2024, 5, 1, 12, 0)
        values: dict[str, object] = {
            "none1": None,
            "int3": 3,
            "str_b": "b",
            "float": 1.5,
            "naive": when,
            "aware": datetime(2024, 5, 1, 13, 0, tzinfo=UTC),
            "none2": None,
            "true": True,
            "str_A": Text("A"),
            "nan": float("nan"),
            "delta": timedelta(hours=1),
        }
        table.apply_diff({key: (value,) for key, value in values.items()}, {}, [])
        table.sort_by("v")
        ascending = list(table.visible_keys())
        assert ascending == [
            "true",
            "float",
            "int3",
            "naive",
            "aware",
            "str_A",
            "str_b",
            "delta",
            "none1",  # None and NaN last, in arrival order
            "none2",
            "nan",
        ]
        table.sort_by("v")
        descending = list(table.visible_keys())
        assert descending[:8] == ascending[:8][::-1]
        assert set(descending[8:]) == {"none1", "nan", "none2"}  # still last
        await pilot.pause()
        assert screen_text(table)[1].strip() == "1:00:00"  # timedelta, via str()


@pytest.mark.parametrize("block_load", [4, 256])
async def test_incremental_sort_and_filter_match_a_full_recompute(
    block_load: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random diffs on a sorted, filtered table give the order a full sort would give.

    Small blocks (LOAD=4) exercise block splits and removals of whole blocks; diffs are small
    against the table so rows are re-placed one by one, with a few large diffs (rebuilds).
    """
    monkeypatch.setattr(OrderedIndex, "LOAD", block_load)
    rng = random.Random(block_load)
    app = TableApp([Column("id", "ID"), Column("n", "N"), Column("tag", "Tag")])
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        rows: dict[str, tuple[object, ...]] = {}

        def value() -> object:
            return rng.choice([None, rng.randint(0, 50), rng.random() * 50, float("nan")])

        def expected() -> list[str]:
            shown = [k for k, r in rows.items() if not table.filter_text or "x" in str(r[2])]
            if table.sort_column is None:
                return shown

            def present(k: str) -> bool:
                return rows[k][1] is not None and rows[k][1] == rows[k][1]  # not None/NaN

            # ties and None rows keep their arrival order (= the order of `rows`), both ways
            ordered = sorted(
                filter(present, shown),
                key=lambda k: cast(float, rows[k][1]),  # present: a number
                reverse=table.sort_reverse,
            )
            return ordered + [k for k in shown if not present(k)]

        table.set_filter("tag=x")
        for step in range(120):
            big = step % 40 == 0
            added = {
                f"r{step}-{i}": (f"r{step}-{i}", value(), rng.choice(["x", "xy", "y"]))
                for i in range(rng.randint(300, 600) if big else rng.randint(0, 8))
            }
            existing = list(rows)
            changed = {
                key: (key, value(), rng.choice(["x", "y"]))
                for key in rng.sample(existing, min(len(existing), rng.randint(0, 8)))
            }
            removed = rng.sample(existing, min(len(existing), rng.randint(0, 60 if big else 6)))
            removed = [key for key in removed if key not in changed]
            table.apply_diff(added, changed, removed)
            rows.update(added)
            rows.update(changed)
            for key in removed:
                del rows[key]
            if step == 10:
                table.sort_by("n")
            if step == 70:
                table.sort_by("n", reverse=True)
            if step == 90:
                table.set_filter("")
            if step == 100:
                table.set_filter("tag=x")
            visible = list(table.visible_keys())
            assert visible == expected(), f"step {step}"
            assert len(visible) == table.visible_count
            assert table.row_count == len(rows)
            for shown_key in rng.sample(visible, min(3, len(visible))):  # lookups agree
                table.move_cursor_to_key(shown_key)
                assert table.cursor_key == shown_key
                assert visible[table.cursor_row] == shown_key
        await pilot.pause()


# --------------------------------------------------------------------------- filtering


async def test_filter_terms() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(
            {
                "a": ("a", "survey-north", "ACTIVE", 1.0),
                "b": ("b", "survey-south", "BUILD", 2.5),
                "c": ("c", "calibration", "ERROR", None),
                "d": ("d", "Build-cache", "ACTIVE", 12.0),
            },
            {},
            [],
        )
        table.set_filter("build")  # substring of any cell, case-insensitive
        assert list(table.visible_keys()) == ["b", "d"]
        table.set_filter("status=build")
        assert list(table.visible_keys()) == ["b"]
        table.set_filter("Status=act survey")  # label match, AND
        assert list(table.visible_keys()) == ["a"]
        table.set_filter("!survey")
        assert list(table.visible_keys()) == ["c", "d"]
        table.set_filter("status!=active")
        assert list(table.visible_keys()) == ["b", "c"]
        table.set_filter("cpu=2.5")  # displayed text of a float
        assert list(table.visible_keys()) == ["b"]
        table.set_filter('name="survey-n"')
        assert list(table.visible_keys()) == ["a"]
        assert table.filter_text == 'name="survey-n"'
        assert table.visible_count == 1 and table.row_count == 4
        await pilot.pause()
        text = screen_text(table)
        assert "survey-north" in text[1] and text[2].strip() == ""
        table.set_filter("")
        assert list(table.visible_keys()) == ["a", "b", "c", "d"]
        assert table.filter_text == ""


async def test_unknown_filter_column_raises_and_keeps_previous_filter() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)):
        table = app.table
        table.apply_diff(make_rows(6), {}, [])
        table.set_filter("status=error")
        with pytest.raises(ValueError) as raised:
            table.set_filter("flavour=c2")
        assert str(raised.value) == "unknown column 'flavour' (columns: id, name, status, cpu)"
        assert "\n" not in str(raised.value)
        assert table.filter_text == "status=error"
        assert list(table.visible_keys()) == ["k000002", "k000005"]


async def test_filter_applies_to_later_diffs() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(6), {}, [])
        table.set_filter("status=error")
        table.apply_diff(
            {"new-error": ("new-error", "n", "ERROR", 0.0), "new-ok": ("new-ok", "n", "OK", 0.0)},
            {
                "k000000": ("k000000", "vm-0", "ERROR", 0.0),  # enters the view
                "k000002": ("k000002", "vm-2", "ACTIVE", 2.0),  # leaves the view
            },
            [],
        )
        assert list(table.visible_keys()) == ["k000000", "k000005", "new-error"]
        assert table.row_count == 8
        await pilot.pause()
        assert [line.split()[0] for line in screen_text(table)[1:4]] == [
            "k000000",
            "k000005",
            "new-error",
        ]


# --------------------------------------------------------------------------- cursor


async def test_cursor_keeps_its_key_across_diffs_sorts_and_filters() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(20), {}, [])
        await pilot.pause()
        assert cursor_key(table) == "k000000"
        table.move_cursor_to_key("k000005")
        assert cursor_key(table) == "k000005"

        table.sort_by("cpu", reverse=True)
        assert cursor_key(table) == "k000005"
        assert list(table.visible_keys()).index("k000005") == table.cursor_row == 14

        table.apply_diff(
            {"top": ("top", "t", "BUILD", 1000.0)},
            {"k000005": ("k000005", "vm-5", "BUILD", 500.0)},  # moves it to the top
            ["k000019"],
        )
        assert cursor_key(table) == "k000005"
        assert table.cursor_row == 1

        table.set_filter("build")
        assert cursor_key(table) == "k000005"
        table.set_filter("")
        assert cursor_key(table) == "k000005"
        await pilot.pause()
        lines = screen_text(table)
        assert lines[table.cursor_row - int(table.scroll_y) + 1].split()[0] == "k000005"


async def test_cursor_moves_to_nearest_row_when_its_row_vanishes() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(10), {}, [])
        table.move_cursor_to_key("k000004")
        await pilot.pause()
        app.moved.clear()
        table.apply_diff({}, {}, ["k000004"])
        assert cursor_key(table) == "k000005"  # the row that took its place
        table.set_filter("!k000005")
        assert cursor_key(table) == "k000006"
        table.apply_diff({}, {}, ["k000006", "k000007", "k000008", "k000009"])
        assert cursor_key(table) == "k000003"  # clamped to the new last row
        table.move_cursor_to_key("k000004")  # gone: no-op
        assert cursor_key(table) == "k000003"
        table.clear()
        assert cursor_key(table) is None
        await pilot.pause()
        assert app.moved == ["k000005", "k000006", "k000003", None]


async def test_cursor_stays_on_its_screen_line_when_rows_arrive_above() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(50), {}, [])
        table.sort_by("cpu")
        table.move_cursor_to_key("k000020")
        await pilot.pause()
        line = table.cursor_row - int(table.scroll_y)
        table.apply_diff({f"new{i}": (f"new{i}", "n", "BUILD", -1.0 - i) for i in range(5)}, {}, [])
        await pilot.pause()
        assert cursor_key(table) == "k000020"
        assert table.cursor_row == 25
        assert table.cursor_row - int(table.scroll_y) == line
        assert screen_text(table)[line + 1].split()[0] == "k000020"


async def test_navigation_keys() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(100), {}, [])
        await pilot.pause()
        await pilot.press("down", "j", "j")
        assert cursor_key(table) == "k000003"
        await pilot.press("up", "k")
        assert cursor_key(table) == "k000001"
        await pilot.press("G")
        assert cursor_key(table) == "k000099"
        assert table.scroll_y == table.max_scroll_y > 0
        await pilot.press("g")
        assert cursor_key(table) == "k000000" and table.scroll_y == 0
        await pilot.press("pagedown")
        page = table.scrollable_content_region.height - 1
        assert table.cursor_row == page
        await pilot.press("end", "pageup")
        assert table.cursor_row == 99 - page
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.pause()
        assert app.moved[-1] == "k000000"


async def test_enter_posts_row_selected_with_the_key() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(10), {}, [])
        table.sort_by("cpu", reverse=True)
        assert table.cursor_key == "k000000"  # kept its key: now the last row
        await pilot.press("home", "down", "enter")
        await pilot.pause()
        assert app.selected == ["k000008"]


async def test_clicks_sort_by_header_and_select_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.table
        table.apply_diff(make_rows(10), {}, [])
        await pilot.pause()
        header = screen_text(table)[0]
        x = header.index("CPU")
        await pilot.click(ResourceTable, offset=(x, 0))
        assert (table.sort_column, table.sort_reverse) == ("cpu", False)
        await pilot.click(ResourceTable, offset=(x, 0))
        assert (table.sort_column, table.sort_reverse) == ("cpu", True)
        await pilot.click(ResourceTable, offset=(header.index("Name"), 0))
        assert (table.sort_column, table.sort_reverse) == ("name", False)

        await pilot.click(ResourceTable, offset=(2, 3))  # third row
        expected = list(table.visible_keys())[2]
        assert table.cursor_key == expected
        assert app.selected == []
        await pilot.click(ResourceTable, offset=(2, 3))  # click on the cursor row: open
        await pilot.pause()
        assert app.selected == [expected]


async def test_horizontal_scroll_when_columns_are_wider_than_the_widget() -> None:
    columns = [Column(f"c{i}", f"Column {i}", width=12) for i in range(6)]
    app = TableApp(columns)
    async with app.run_test(size=(30, 8)) as pilot:
        table = app.table
        table.apply_diff({"r": tuple(f"cell-{i}" for i in range(6))}, {}, [])
        await pilot.pause()
        assert table.virtual_size.width == 6 * 14 > table.size.width
        assert "Column 0" in screen_text(table)[0]
        table.scroll_to(x=14 * 4, animate=False)
        await pilot.pause()
        header, row = screen_text(table)[:2]
        assert header.split()[:2] == ["Column", "4"]
        assert row.split()[0] == "cell-4"


async def test_rows_sort_and_filter_can_be_set_before_mounting() -> None:
    table = ResourceTable(COLUMNS)
    table.apply_diff(make_rows(5), {}, [])
    table.sort_by("cpu", reverse=True)
    table.set_filter("!k000000")
    assert table.cursor_key == "k000001"  # k000000 (last after the sort) was filtered out

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    async with Host().run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        lines = screen_text(table)
        assert "CPU ▼" in lines[0]
        assert [line.split()[0] for line in lines[1:5]] == [f"k00000{i}" for i in (4, 3, 2, 1)]
        assert lines[5].strip() == ""
        assert table.virtual_size.height == 5


async def test_updates_made_in_a_hidden_tab_show_when_it_is_shown() -> None:
    class Tabs(App[None]):
        def compose(self) -> ComposeResult:
            with TabbedContent():
                with TabPane("Instances", id="instances"):
                    yield ResourceTable(COLUMNS)
                with TabPane("Queue", id="queue"):
                    yield Static("jobs")

    app = Tabs()
    async with app.run_test(size=(60, 14)) as pilot:
        table = app.query_one(ResourceTable)
        table.apply_diff(make_rows(10), {}, [])
        await pilot.pause()
        app.query_one(TabbedContent).active = "queue"
        await pilot.pause()
        table.apply_diff({}, {"k000001": ("k000001", "renamed-while-hidden", "X", 1.0)}, [])
        await pilot.pause()
        assert "renamed-while-hidden" not in app.export_screenshot()
        app.query_one(TabbedContent).active = "instances"
        await pilot.pause()
        assert "renamed-while-hidden" in app.export_screenshot()


# --------------------------------------------------------------------------- rendering


def test_format_cell() -> None:
    assert format_cell(None) == ""
    assert format_cell(datetime(2024, 2, 29, 23, 5, 59)) == "2024-02-29 23:05"
    assert format_cell(1.0) == "1"
    assert format_cell(2.5) == "2.5"
    assert format_cell(3.14159) == "3.142"
    assert format_cell(1e-6) == "1e-06"
    assert format_cell(True) == "yes" and format_cell(False) == "no"
    assert format_cell(42) == "42"
    assert format_cell("two\nlines") == "two lines"
    text = Text("ok", style="green")
    assert format_cell(text) is text


async def test_cells_are_rendered_truncated_and_justified() -> None:
    columns = [Column("name", "Name", width=8), Column("n", "N", width=6, justify="right")]
    app = TableApp([*columns, Column("when", "When"), Column("state", "State")])
    async with app.run_test(size=(70, 6)) as pilot:
        table = app.table
        table.apply_diff(
            {
                "a": ("a-very-long-name", 7, datetime(2024, 1, 2, 3, 4), Text("ERROR", "red")),
                "b": (None, 0.25, None, True),
            },
            {},
            [],
        )
        await pilot.pause()
        _, first, second = screen_text(table)[:3]
        # " " + cell + " " per column; widths 8, 6 (right), 16 (auto: sample), 7 (label + 2)
        assert first.startswith(" a-very-~" + "  " + "     7" + "  " + "2024-01-02 03:04  ERROR")
        assert second.startswith(" " + " " * 8 + "  " + "  0.25" + "  " + " " * 16 + "  yes")
        segments = list(table.render_line(1))
        assert any(
            seg.text.strip() == "ERROR" and seg.style and seg.style.color for seg in segments
        )


def test_bindings_have_ids_and_tooltips() -> None:
    bindings = [b for b in ResourceTable.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(ResourceTable.BINDINGS)
    keys = {key for binding in bindings for key in binding.key.split(",")}
    assert {"up", "k", "down", "j", "pageup", "pagedown", "home", "g", "end", "G"} <= keys
    assert {"enter", "s", "S"} <= keys
    for binding in bindings:
        assert binding.id is not None and binding.id.startswith("table.")
        assert binding.tooltip
    assert len({binding.id for binding in bindings}) == len(bindings)


def test_constructor_rejects_bad_columns() -> None:
    with pytest.raises(ValueError):
        ResourceTable([])
    with pytest.raises(ValueError, match="duplicate"):
        ResourceTable([Column("a", "A"), Column("a", "B")])


@pytest.mark.parametrize("sort", [None, "cpu", "status"])
async def test_a_large_first_load_matches_the_row_by_row_path(sort: str | None) -> None:
    rows = make_rows(6_000)  # one diff this large takes the bulk path into an empty table
    shuffled = dict(random.Random(3).sample(sorted(rows.items()), len(rows)))
    bulk, stepwise = ResourceTable(COLUMNS), ResourceTable(COLUMNS)
    for table in (bulk, stepwise):
        if sort is not None:
            table.sort_by(sort, reverse=True)
    bulk.apply_diff(shuffled, {}, [])
    items = list(shuffled.items())
    stepwise.apply_diff(dict(items[:3_000]), {}, [])
    stepwise.apply_diff(dict(items[3_000:]), {}, [])
    assert bulk.visible_keys() == stepwise.visible_keys()
    assert bulk.row_count == stepwise.row_count == 6_000
    changed = {"k000010": ("k000010", "vm-x", "ERROR", -1.0)}
    for table in (bulk, stepwise):
        table.apply_diff(make_rows(2, start=9_000), changed, ["k000011"])
        table.set_filter("status=ERROR")
    assert bulk.visible_keys() == stepwise.visible_keys()
    assert bulk.get_row("k000010") == changed["k000010"]
    with pytest.raises(ValueError, match="values for 4 columns"):
        ResourceTable(COLUMNS).apply_diff({f"x{i}": ("x",) for i in range(6_000)}, {}, [])
