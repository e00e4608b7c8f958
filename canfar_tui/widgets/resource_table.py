"""A keyed, virtualised table for every resource tab (instances, queue, VOSpace, ...).

:class:`ResourceTable` is built on Textual's Line API (a :class:`~textual.scroll_view.ScrollView`
that renders one :class:`~textual.strip.Strip` per visible line), not on ``DataTable``. It is fed
keyed diffs by the Poller (:meth:`ResourceTable.apply_diff`) and never clears and rebuilds its
rows, so a refresh costs what changed plus what is visible, not the number of rows.

Data structures (n rows, k changed rows, h visible lines):

* ``_rows``: key -> raw cell values (a tuple). Display text is derived lazily: only for rows
  that are painted, filtered or sampled for column widths.
* ``_sk``: key -> a unique, totally ordered sort key: the arrival sequence number when
  unsorted; a flat ``(group, rank, value, tiebreak, sequence)`` tuple when sorted, so ``None``
  and mixed types compare without ``TypeError`` and ties keep arrival order. Uniqueness makes
  ``bisect`` find a row exactly.
* Two ordered indexes: every row, and the rows that pass the filter (the same object when no
  filter is set). Each is a blocked sorted list (blocks of a few hundred keys): a diff
  re-places only the k moved rows, O(log n) each plus a memmove inside one block; appends
  go to the end; large diffs are merged with one Timsort pass. A descending sort is the
  ascending index read backwards. Filters are evaluated only for added and changed rows.
* A strip cache (key -> rendered row, unstyled) invalidated per key, and a record of which
  (key, cursor) pair each screen line shows; after a diff only the lines whose key, content or
  cursor state changed are refreshed.

The parts that need no Textual (columns, cell text, sort keys, the ordered index, filter parsing,
diffs) are in :mod:`canfar_tui.widgets.table_model`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import count
from typing import Any, ClassVar, Final, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from canfar_tui.clients.refresh import paused_gc
from canfar_tui.widgets.table_model import (
    CONTROL_CHARS,
    Column,
    FilterTerm,
    OrderedIndex,
    RowKey,
    column_index,
    diff_rows,
    format_cell,
    make_sort_key,
    parse_filter,
    plain_text,
    search_text,
    unknown_column_message,
)

__all__ = ["Column", "ResourceTable", "RowKey", "format_cell"]

#: Diffs of this many rows or more are applied with the garbage collector paused.
_LARGE_DIFF: Final = 5_000
_K = TypeVar("_K", bound=Hashable)  # lets dict[str, ...] be passed (Mapping keys are invariant)

_MAX_AUTO_WIDTH = 40
"""Auto-sized columns never grow wider than this (cells are truncated)."""
_INITIAL_SAMPLE = 200
"""Rows sampled (evenly spaced) to size auto columns on the first load."""
_UPDATE_SAMPLE = 32
"""Added/changed rows sampled on later diffs; auto columns may widen, never shrink."""
_INCREMENTAL_LIMIT = 4
"""Re-place moved rows with bisect while k * this <= n; otherwise rebuild the index."""
_MISSING: Any = object()


# --------------------------------------------------------------------------- the widget


class ResourceTable(ScrollView, can_focus=True):
    """A keyed, sortable, filterable table that renders only its visible lines.

    | Key(s) | Binding id | Description |
    | :- | :- | :- |
    | up, k | `table.cursor_up` | Move the cursor up. |
    | down, j | `table.cursor_down` | Move the cursor down. |
    | pageup | `table.page_up` | Move the cursor one page up. |
    | pagedown | `table.page_down` | Move the cursor one page down. |
    | home, g | `table.cursor_top` | Move the cursor to the first row. |
    | end, G | `table.cursor_bottom` | Move the cursor to the last row. |
    | enter | `table.select` | Open the row under the cursor (posts `RowSelected`). |
    | s | `table.sort_next` | Sort by the next column (cycles, ascending). |
    | S | `table.sort_reverse` | Reverse the sort order. |
    | left, right | (inherited) | Scroll horizontally when the columns are wider. |

    Clicking a header cell sorts by that column (again: reverses); clicking a row moves the
    cursor to it, clicking the cursor row selects it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "up,k", "cursor_up", "Up", show=False,
            id="table.cursor_up", tooltip="Move the cursor up one row",
        ),
        Binding(
            "down,j", "cursor_down", "Down", show=False,
            id="table.cursor_down", tooltip="Move the cursor down one row",
        ),
        Binding(
            "pageup", "cursor_page_up", "Page up", show=False,
            id="table.page_up", tooltip="Move the cursor up one page",
        ),
        Binding(
            "pagedown", "cursor_page_down", "Page down", show=False,
            id="table.page_down", tooltip="Move the cursor down one page",
        ),
        Binding(
            "home,g", "cursor_top", "Top", show=False,
            id="table.cursor_top", tooltip="Move the cursor to the first row",
        ),
        Binding(
            "end,G", "cursor_bottom", "Bottom", show=False,
            id="table.cursor_bottom", tooltip="Move the cursor to the last row",
        ),
        Binding(
            "enter", "select_cursor", "Open",
            id="table.select", tooltip="Open the details of the highlighted row",
        ),
        Binding(
            "s", "sort_next", "Sort",
            id="table.sort_next", tooltip="Sort by the next column",
        ),
        Binding(
            "S", "sort_reverse", "Reverse",
            id="table.sort_reverse", tooltip="Reverse the sort order",
        ),
    ]  # fmt: skip

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--header-sorted",
        "resource-table--cursor",
    }
    """
    | Class | Description |
    | :- | :- |
    | `resource-table--header` | The header line. |
    | `resource-table--header-sorted` | The header cell of the sort column. |
    | `resource-table--cursor` | The highlighted row. |
    """

    DEFAULT_CSS = """
    ResourceTable {
        height: 1fr;
        background: $surface;
        color: $foreground;

        & > .resource-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .resource-table--header-sorted {
            background: $panel;
            color: $accent;
            text-style: bold;
        }
        & > .resource-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .resource-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    ALLOW_SELECT = False
    TRUNCATION_MARK: ClassVar[str] = "~"
    """Replaces the last visible character of a cell that does not fit (ASCII-safe)."""
    SORT_ASCENDING: ClassVar[str] = "▲"
    SORT_DESCENDING: ClassVar[str] = "▼"

    class RowSelected(Message):
        """Posted when ``enter`` is pressed on a row (or the cursor row is clicked)."""

        def __init__(self, table: ResourceTable, key: RowKey) -> None:
            self.table = table
            self.key = key
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.table

    class CursorMoved(Message):
        """Posted when the highlighted key changes (``key`` is None when the table empties)."""

        def __init__(self, table: ResourceTable, key: RowKey | None) -> None:
            self.table = table
            self.key = key
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        if not columns:
            raise ValueError("a ResourceTable needs at least one column")
        keys = [column.key for column in columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate column keys: {', '.join(keys)}")
        self._columns: tuple[Column, ...] = tuple(columns)
        self._widths: list[int] = [
            column.width if column.width is not None else cell_len(column.label) + 2
            for column in self._columns
        ]
        self._right: tuple[bool, ...] = tuple(c.justify == "right" for c in self._columns)
        self._measured = False
        # rows
        self._rows: dict[RowKey, tuple[object, ...]] = {}
        self._seq: dict[RowKey, int] = {}
        self._sk: dict[RowKey, Any] = {}
        self._counter = count()
        self._all = OrderedIndex()
        self._view = self._all
        # view state
        self._sort_index: int | None = None
        self._sort_reverse = False
        self._filter_text = ""
        self._terms: list[FilterTerm] | None = None
        self._cursor_key: RowKey | None = None
        self._cursor_index = 0
        # caches
        self._search: dict[RowKey, str] = {}  # casefolded cells joined by NUL (plain terms)
        self._strips: dict[RowKey, Strip] = {}
        self._header: Strip | None = None
        self._painted: dict[int, tuple[RowKey, bool] | None] = {}
        #: Columns whose value changed in rows updated since the last repaint (so that only
        #: those cells are sent to the terminal, not the whole line).
        self._changed_columns: dict[RowKey, set[int]] = {}
        self._styles: tuple[Style, Style, Style, Style] | None = None

    # ------------------------------------------------------------------ properties

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns, in display order."""
        return self._columns

    @property
    def row_count(self) -> int:
        """Number of rows, filtered or not."""
        return len(self._rows)

    @property
    def visible_count(self) -> int:
        """Number of rows that pass the filter."""
        return len(self._view)

    @property
    def sort_column(self) -> str | None:
        """Key of the sort column, or None when rows are in arrival order."""
        return None if self._sort_index is None else self._columns[self._sort_index].key

    @property
    def sort_reverse(self) -> bool:
        """True when sorted in descending order."""
        return self._sort_reverse

    @property
    def filter_text(self) -> str:
        """The filter in force ("" when none)."""
        return self._filter_text

    @property
    def cursor_key(self) -> RowKey | None:
        """Key of the highlighted row, or None when no row is visible."""
        return self._cursor_key

    @property
    def cursor_row(self) -> int:
        """Display index of the highlighted row (0 when the table is empty)."""
        return self._cursor_index

    def get_row(self, key: RowKey) -> Sequence[object] | None:
        """Raw values of a row, or None if there is no such key."""
        return self._rows.get(key)

    def keys_on_screen(self) -> list[RowKey]:
        """Keys of the rows shown in the current page, top to bottom."""
        top = self.scroll_offset.y
        end = min(len(self._view), top + self._page_rows)
        return [self._display_key(index) for index in range(top, end)]

    def visible_keys(self) -> Sequence[RowKey]:
        """Keys of the rows that pass the filter, in display order (a copy)."""
        keys = self._view.keys()
        return keys[::-1] if self._descending else keys

    # ------------------------------------------------------------------ data

    def apply_diff(
        self,
        added: Mapping[_K, Sequence[object]],
        changed: Mapping[_K, Sequence[object]],
        removed: Iterable[_K],
    ) -> None:
        """Apply a keyed diff. Keys in ``added`` that exist are updated; unknown keys in
        ``changed`` are added; unknown keys in ``removed`` are ignored.

        Raises:
            ValueError: A row does not have one value per column (nothing is applied then).
        """
        if len(added) + len(changed) >= _LARGE_DIFF:
            with paused_gc():
                if not self._rows and not changed and self._terms is None:
                    self._load_rows(added)  # the first load of a large view
                else:
                    self._apply_diff(added, changed, removed)
        else:
            self._apply_diff(added, changed, removed)

    def _load_rows(self, added: Mapping[_K, Sequence[object]]) -> None:
        """:meth:`apply_diff` into an empty, unfiltered table, a column at a time.

        Same outcome as the row-by-row path (which a 100 000-row first paint would spend
        ~0.3 s in), without its per-row bookkeeping.
        """
        ncols = len(self._columns)
        keys: list[RowKey] = list(added)
        rows = [values if type(values) is tuple else tuple(values) for values in added.values()]
        for key, row in zip(keys, rows, strict=True):
            if len(row) != ncols:
                raise ValueError(f"row {key!r} has {len(row)} values for {ncols} columns")
        start = next(self._counter)
        self._counter = count(start + len(keys))
        seqs = range(start, start + len(keys))
        sort_index = self._sort_index
        if sort_index is None:
            sks: list[Any] = list(seqs)
        else:
            reverse = self._sort_reverse
            sks = [
                make_sort_key(row[sort_index], seq, reverse)
                for row, seq in zip(rows, seqs, strict=True)
            ]
        self._rows.update(zip(keys, rows, strict=True))
        self._seq.update(zip(keys, seqs, strict=True))
        self._sk.update(zip(keys, sks, strict=True))
        old_index = self._cursor_index
        self._all.update([], list(zip(sks, keys, strict=True)))
        self._measure(keys[:_INITIAL_SAMPLE])
        self._settle(cursor_sk=None, old_index=old_index, structural=True, touched=set())

    def _apply_diff(
        self,
        added: Mapping[_K, Sequence[object]],
        changed: Mapping[_K, Sequence[object]],
        removed: Iterable[_K],
    ) -> None:
        ncols = len(self._columns)
        key: RowKey
        prepared: list[tuple[RowKey, tuple[object, ...]]] = []
        for source in (changed, added):
            for key, values in source.items():
                row = values if type(values) is tuple else tuple(values)
                if len(row) != ncols:
                    raise ValueError(f"row {key!r} has {len(row)} values for {ncols} columns")
                prepared.append((key, row))

        rows, seqs, sks = self._rows, self._seq, self._sk
        sort_index = self._sort_index
        terms = self._terms
        filtering = terms is not None
        view = self._view
        all_remove: list[tuple[Any, RowKey]] = []
        all_insert: list[tuple[Any, RowKey]] = []
        view_remove: list[tuple[Any, RowKey]] = []
        view_insert: list[tuple[Any, RowKey]] = []
        touched: set[RowKey] = set()
        cursor_sk = sks.get(self._cursor_key, _MISSING) if self._cursor_key is not None else None
        old_cursor_index = self._cursor_index

        removed_keys: set[RowKey] = set()
        for key in removed:
            if rows.pop(key, _MISSING) is _MISSING:
                continue
            removed_keys.add(key)
            del seqs[key]
            sk = sks.pop(key)
            all_remove.append((sk, key))
            if filtering:
                view_remove.append((sk, key))
            self._forget(key)

        fresh: list[RowKey] = []
        sample = _UPDATE_SAMPLE if self._measured else _INITIAL_SAMPLE
        for key, row in prepared:
            old = rows.get(key, _MISSING)
            if old is _MISSING:
                seq = next(self._counter)
                rows[key] = row
                seqs[key] = seq
                sk = (
                    seq
                    if sort_index is None
                    else make_sort_key(row[sort_index], seq, self._sort_reverse)
                )
                sks[key] = sk
                all_insert.append((sk, key))
                if filtering and self._matches(key):
                    view_insert.append((sk, key))
                if key in removed_keys:
                    touched.add(key)
                if len(fresh) < sample:
                    fresh.append(key)
                continue
            if old == row:
                continue
            rows[key] = row
            self._forget(key)
            touched.add(key)
            columns = [i for i, (a, b) in enumerate(zip(old, row, strict=True)) if a != b]
            self._changed_columns.setdefault(key, set()).update(columns)
            old_sk = sks[key]
            if sort_index is None or old[sort_index] == row[sort_index]:
                sk = old_sk
            else:
                sk = make_sort_key(row[sort_index], seqs[key], self._sort_reverse)
            if filtering:
                was = view.find(old_sk) >= 0
                now = self._matches(key)
            else:
                was = now = True
            if sk != old_sk:
                sks[key] = sk
                all_remove.append((old_sk, key))
                all_insert.append((sk, key))
                if was:
                    view_remove.append((old_sk, key))
                if now:
                    view_insert.append((sk, key))
            elif was != now:
                if was:
                    view_remove.append((old_sk, key))
                else:
                    view_insert.append((sk, key))

        if not (all_remove or all_insert or touched):
            return
        self._all.update(all_remove, all_insert)
        if filtering:
            self._view.update(view_remove, view_insert)
        structural = bool(all_remove or all_insert or view_remove or view_insert)
        if fresh or touched:
            self._measure([*fresh, *list(touched)[:_UPDATE_SAMPLE]])
        self._settle(
            cursor_sk=cursor_sk,
            old_index=old_cursor_index,
            structural=structural,
            touched=touched,
        )

    def replace_all(self, rows: Mapping[_K, Sequence[object]]) -> None:
        """Make the table hold exactly ``rows``: diff against the current rows, then apply."""
        added, changed, removed = diff_rows(self._rows, rows)
        self.apply_diff(added, changed, removed)

    def clear(self) -> None:
        """Remove every row."""
        self.apply_diff({}, {}, list(self._rows))

    # ------------------------------------------------------------------ sorting

    def sort_by(self, column_key: str, *, reverse: bool | None = None) -> None:
        """Sort by a column (matched by key, else by key or label ignoring case).

        ``reverse=None`` toggles the direction when ``column_key`` is already the sort
        column, and sorts ascending otherwise. ``None`` values always come last.

        Raises:
            ValueError: No such column.
        """
        index = column_index(self._columns, column_key)
        if index is None:
            raise ValueError(unknown_column_message(self._columns, column_key))
        if reverse is None:
            reverse = not self._sort_reverse if index == self._sort_index else False
        if index == self._sort_index and reverse == self._sort_reverse:
            return
        cursor_sk = self._sk.get(self._cursor_key) if self._cursor_key is not None else None
        self._sort_index = index
        self._sort_reverse = reverse
        self._rebuild_order()
        self._settle(cursor_sk=cursor_sk, old_index=self._cursor_index, reorder=True)

    def _rebuild_order(self) -> None:
        """Recompute every sort key and rebuild both indexes (after a sort change)."""
        rows, seqs = self._rows, self._seq
        index = self._sort_index
        if index is None:
            sks: dict[RowKey, Any] = dict(seqs)
        else:
            reverse = self._sort_reverse
            sks = {key: make_sort_key(row[index], seqs[key], reverse) for key, row in rows.items()}
        self._sk = sks
        keys = sorted(sks, key=sks.__getitem__)
        self._all = OrderedIndex(keys, [sks[key] for key in keys])
        if self._terms is None:
            self._view = self._all
        else:
            shown = set(self._view.iter_keys())
            view_keys = [key for key in keys if key in shown]
            self._view = OrderedIndex(view_keys, [sks[key] for key in view_keys])

    @property
    def _descending(self) -> bool:
        return self._sort_reverse and self._sort_index is not None

    # ------------------------------------------------------------------ filtering

    def set_filter(self, text: str) -> None:
        """Show only the rows matching ``text`` ("" shows every row).

        Whitespace-separated terms are ANDed (double quotes group words). A term is a
        case-insensitive substring of any cell's displayed text; ``col=value`` restricts it
        to one column (matched by key or label, ignoring case); ``!term`` and ``col!=value``
        invert it.

        Raises:
            ValueError: A term names an unknown column; the previous filter stays in force.
        """
        terms = parse_filter(text, self._columns)
        cursor_sk = self._sk.get(self._cursor_key) if self._cursor_key is not None else None
        self._filter_text = text.strip()
        self._terms = terms
        if terms is None:
            self._view = self._all
            self._search.clear()
        else:
            matches = self._matches
            keys = [key for key in self._all.iter_keys() if matches(key)]
            sks = self._sk
            self._view = OrderedIndex(keys, [sks[key] for key in keys])
        self._settle(cursor_sk=cursor_sk, old_index=self._cursor_index, reorder=True)

    def _matches(self, key: RowKey) -> bool:
        row = self._rows[key]
        for term in self._terms or ():
            if term.column is None:
                haystack = self._search.get(key)
                if haystack is None:
                    haystack = self._search[key] = search_text(row)
            else:
                value = row[term.column]
                haystack = (
                    value if type(value) is str else plain_text(format_cell(value))
                ).casefold()
            if (term.needle in haystack) == term.negate:
                return False
        return True

    # ------------------------------------------------------------------ cursor

    def move_cursor_to_key(self, key: RowKey) -> None:
        """Highlight the row ``key`` and scroll it into view.

        Does nothing if there is no such row or the filter hides it.
        """
        sk = self._sk.get(key, _MISSING)
        if sk is _MISSING:
            return
        pos = self._view.find(sk)
        if pos >= 0:
            self._move_cursor(self._display_index(pos))

    def _display_key(self, index: int) -> RowKey:
        view = self._view
        return view.key_at(len(view) - 1 - index if self._descending else index)

    def _display_index(self, pos: int) -> int:
        return len(self._view) - 1 - pos if self._descending else pos

    def _move_cursor(self, index: int) -> None:
        count_ = len(self._view)
        if not count_:
            return
        index = max(0, min(index, count_ - 1))
        key = self._display_key(index)
        self._cursor_index = index
        self._scroll_to_index(index)
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.CursorMoved(self, key))
        self._sync_screen(set())

    @property
    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_top_to(self, y: int) -> None:
        if self.is_mounted:  # before mounting there is nothing to scroll
            self.scroll_to(y=y, animate=False, force=True)

    def _scroll_to_index(self, index: int) -> None:
        top = self.scroll_offset.y
        rows = self._page_rows
        if index < top:
            self._scroll_top_to(index)
        elif index >= top + rows:
            self._scroll_top_to(index - rows + 1)

    def _settle(
        self,
        *,
        cursor_sk: Any,
        old_index: int,
        structural: bool = True,
        reorder: bool = False,
        touched: set[RowKey] | None = None,
    ) -> None:
        """Bring the cursor, scroll range and screen up to date after the rows changed.

        The cursor keeps its key; if that row vanished it goes to the row now at the place
        where it was. If the cursor was on screen it stays on the same screen line.
        """
        view = self._view
        count_ = len(view)
        top = self.scroll_offset.y
        page = self._page_rows
        was_on_screen = top <= old_index < top + page
        old_key = self._cursor_key
        if not count_:
            index, key = 0, None
        elif old_key is not None and cursor_sk is not None and cursor_sk is not _MISSING:
            new_sk = self._sk.get(old_key, _MISSING)
            pos = view.find(new_sk) if new_sk is not _MISSING else -1
            if pos >= 0:
                index = self._display_index(pos)
            else:  # vanished: take the row that is now where it was
                pos = view.insertion_point(cursor_sk)
                index = count_ - pos if self._descending else pos
            index = max(0, min(index, count_ - 1))
            key = self._display_key(index)
        else:
            index = max(0, min(old_index, count_ - 1))
            key = self._display_key(index)
        self._cursor_index = index
        if structural or reorder:
            self._update_virtual_size()
            if reorder:
                if was_on_screen:
                    self._scroll_top_to(index - (old_index - top))
                self._scroll_to_index(index)
            elif was_on_screen and index != old_index:
                self._scroll_top_to(top + index - old_index)
        if key != old_key:
            self._cursor_key = key
            self.post_message(self.CursorMoved(self, key))
        if reorder:
            self._header = None
            self.refresh()
        else:
            self._sync_screen(touched or set())

    # ------------------------------------------------------------------ actions

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor_index - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor_index + 1)

    def action_cursor_page_up(self) -> None:
        self._move_cursor(self._cursor_index - self._page_rows)

    def action_cursor_page_down(self) -> None:
        self._move_cursor(self._cursor_index + self._page_rows)

    def action_cursor_top(self) -> None:
        self._move_cursor(0)

    def action_cursor_bottom(self) -> None:
        self._move_cursor(len(self._view) - 1)

    def action_select_cursor(self) -> None:
        if self._cursor_key is not None:
            self.post_message(self.RowSelected(self, self._cursor_key))

    def action_sort_next(self) -> None:
        index = self._sort_index
        following = 0 if index is None else (index + 1) % len(self._columns)
        self.sort_by(self._columns[following].key, reverse=False)

    def action_sort_reverse(self) -> None:
        if self._sort_index is None:
            self.sort_by(self._columns[0].key, reverse=True)
        else:
            self.sort_by(self._columns[self._sort_index].key, reverse=not self._sort_reverse)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.stop()
        if offset.y == 0:
            column = self._column_at(offset.x + self.scroll_offset.x)
            if column is not None:
                self.sort_by(self._columns[column].key)
            return
        index = self.scroll_offset.y + offset.y - 1
        if 0 <= index < len(self._view):
            if self._display_key(index) == self._cursor_key:
                self.action_select_cursor()
            else:
                self._move_cursor(index)

    def _column_at(self, x: int) -> int | None:
        right = 0
        for index, width in enumerate(self._widths):
            right += width + 2
            if x < right:
                return index
        return None

    # ------------------------------------------------------------------ geometry & caches

    def _forget(self, key: RowKey) -> None:
        self._search.pop(key, None)
        self._strips.pop(key, None)

    def _measure(self, keys: Sequence[RowKey]) -> None:
        """Widen auto-sized columns to fit a sample of rows (first load: evenly spaced)."""
        auto = [i for i, column in enumerate(self._columns) if column.width is None]
        if not auto:
            self._measured = True
            return
        if not self._measured:
            self._measured = True
            view = self._view
            step = max(1, len(view) // _INITIAL_SAMPLE)
            keys = [*keys, *(view.key_at(i) for i in range(0, len(view), step))]
        widths = self._widths
        changed = False
        rows = self._rows
        for key in keys:
            row = rows.get(key)
            if row is None:
                continue
            for i in auto:
                cell = format_cell(row[i])
                width = min(_MAX_AUTO_WIDTH, cell_len(plain_text(cell)))
                if width > widths[i]:
                    widths[i] = width
                    changed = True
        if changed:
            self._strips.clear()
            self._header = None
            self._update_virtual_size()
            self.refresh()

    def _update_virtual_size(self) -> None:
        size = Size(sum(self._widths) + 2 * len(self._widths), len(self._view) + 1)
        if size != self.virtual_size:
            # Not ``self.virtual_size = size``: that reactive repaints every line. A layout
            # pass updates the scrollbars; lines are refreshed selectively by _sync_screen.
            self.set_reactive(ScrollView.virtual_size, size)
            self.refresh(repaint=False, layout=True)

    def _sync_screen(self, touched: set[RowKey]) -> None:
        """Refresh only the screen lines whose key, content or cursor state changed."""
        changed_columns, self._changed_columns = self._changed_columns, {}
        if not self.is_mounted:
            return
        height = self.size.height
        if height <= 0:  # not displayed (e.g. in a hidden tab): repaint all when shown
            self._painted.clear()
            self.refresh()
            return
        top = self.scroll_offset.y
        count_ = len(self._view)
        painted = self._painted
        cursor = self._cursor_key
        display_key = self._display_key
        dirty: list[int] = []
        for y in range(1, height):
            index = top + y - 1
            if index < count_:
                key = display_key(index)
                if key in touched or painted.get(y, _MISSING) != (key, key == cursor):
                    dirty.append(y)
            elif painted.get(y, _MISSING) is not None:
                dirty.append(y)
        if self._header is None:
            dirty.insert(0, 0)
        if not dirty:
            return
        width = max(self.virtual_size.width, self.size.width)
        whole: list[int] = []
        for y in dirty:
            span = self._changed_span(y, painted, changed_columns) if y else None
            if span is None:
                whole.append(y)
            else:
                self.refresh(Region(span[0], y, span[1], 1))
        if not whole:
            return
        start = previous = whole[0]
        for y in [*whole[1:], -2]:
            if y != previous + 1:
                self.refresh(Region(0, start, width, previous - start + 1))
                start = y
            previous = y

    def _changed_span(
        self,
        y: int,
        painted: Mapping[int, tuple[RowKey, bool] | None],
        changed_columns: Mapping[RowKey, set[int]],
    ) -> tuple[int, int] | None:
        """The x and width of the cells that changed on screen line ``y``, when only some did.

        None when the whole line must be repainted: another row (or the cursor) moved there,
        or nothing is known about which cells changed.
        """
        index = self.scroll_offset.y + y - 1
        if index >= len(self._view):
            return None
        key = self._display_key(index)
        columns = changed_columns.get(key)
        if not columns or painted.get(y, _MISSING) != (key, key == self._cursor_key):
            return None
        widths = self._widths
        first, last = min(columns), max(columns)
        start = sum(widths[:first]) + 2 * first
        end = sum(widths[: last + 1]) + 2 * (last + 1)
        scroll_x = self.scroll_offset.x
        return start - scroll_x, end - start

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    def render_lines(self, crop: Region) -> list[Strip]:
        styles = (
            self.rich_style,
            self.get_component_rich_style("resource-table--cursor"),
            self.get_component_rich_style("resource-table--header"),
            self.get_component_rich_style("resource-table--header-sorted"),
        )
        if styles != self._styles:
            self._styles = styles
            self._header = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, top = self.scroll_offset
        styles = self._styles
        if styles is None:  # render_lines always runs first; belt and braces
            return Strip.blank(width, self.rich_style)
        base, cursor_style = styles[0], styles[1]
        if y == 0:
            if self._header is None:
                self._header = self._render_header()
            return self._header.crop_extend(scroll_x, scroll_x + width, styles[2])
        index = top + y - 1
        if index >= len(self._view):
            self._painted[y] = None
            return Strip.blank(width, base)
        key = self._display_key(index)
        is_cursor = key == self._cursor_key
        self._painted[y] = (key, is_cursor)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > max(1024, 8 * self.size.height):
                self._strips.clear()
            strip = self._strips[key] = self._render_row(self._rows[key])
        style = cursor_style if is_cursor else base
        return strip.apply_style(style).crop_extend(scroll_x, scroll_x + width, style)

    def _fit(self, text: str, width: int, right: bool) -> str:
        if text.isascii():
            if len(text) > width:
                text = text[: width - 1] + self.TRUNCATION_MARK if width > 1 else text[:width]
            return text.rjust(width) if right else text.ljust(width)
        length = cell_len(text)
        if length > width:
            text = set_cell_size(text, width - 1) + self.TRUNCATION_MARK if width > 1 else ""
            length = cell_len(text)
        pad = " " * (width - length)
        return pad + text if right else text + pad

    def _render_row(self, row: tuple[object, ...]) -> Strip:
        """Render a row without its row style (applied per paint): cells padded by 1."""
        fit = self._fit
        parts: list[str] = []
        segments: list[Segment] = []
        for value, width, right in zip(row, self._widths, self._right, strict=True):
            cell = format_cell(value)
            if isinstance(cell, str):
                parts.append(fit(cell, width, right))
                continue
            if parts:
                segments.append(Segment(" " + "  ".join(parts) + " "))
                parts = []
            segments.append(Segment(" "))
            segments.extend(self._render_text(cell, width, right))
            segments.append(Segment(" "))
        total = sum(self._widths) + 2 * len(self._widths)
        if not segments:
            return Strip([Segment(" " + "  ".join(parts) + " ")], total)
        if parts:
            segments.append(Segment(" " + "  ".join(parts) + " "))
        return Strip(segments, total)

    def _render_text(self, cell: Text, width: int, right: bool) -> list[Segment]:
        text = cell.copy()
        if not text.plain.isprintable():  # one line: 1:1 replacement keeps the spans aligned
            text.plain = text.plain.translate(CONTROL_CHARS)
        if text.cell_len > width:
            text.truncate(max(0, width - 1))
            if width > 1:
                text.append(self.TRUNCATION_MARK)
        padding = width - text.cell_len
        if right:
            text.pad_left(padding)
        else:
            text.pad_right(padding)
        text.end = ""
        return list(text.render(self.app.console))

    def _render_header(self) -> Strip:
        assert self._styles is not None
        header_style, sorted_style = self._styles[2], self._styles[3]
        segments: list[Segment] = []
        for index, (column, width) in enumerate(zip(self._columns, self._widths, strict=True)):
            label = column.label
            if index == self._sort_index:
                mark = self.SORT_DESCENDING if self._sort_reverse else self.SORT_ASCENDING
                label = self._fit(label, max(0, width - 2), False).rstrip() + " " + mark
                segments.append(Segment(" " + self._fit(label, width, False) + " ", sorted_style))
            else:
                right = self._right[index]
                segments.append(Segment(" " + self._fit(label, width, right) + " ", header_style))
        return Strip(segments, sum(self._widths) + 2 * len(self._widths))
