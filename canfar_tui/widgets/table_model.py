"""The Textual-free part of :class:`~canfar_tui.widgets.resource_table.ResourceTable`.

Columns and row keys, the displayed form of a cell (:func:`format_cell`), the total order of
sort keys (:func:`sort_value`, :func:`make_sort_key`), the ordered index of row keys
(:class:`OrderedIndex`), filter parsing (:func:`parse_filter`) and the diff that turns one set
of rows into another (:func:`diff_rows`). Nothing here imports Textual, so it can be tested and
benchmarked without an app.
"""

from __future__ import annotations

import enum
import numbers
import shlex
from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any, ClassVar, Literal, TypeVar

from rich.text import Text

__all__ = [
    "CONTROL_CHARS",
    "Column",
    "FilterTerm",
    "OrderedIndex",
    "RowKey",
    "column_index",
    "diff_rows",
    "format_cell",
    "make_sort_key",
    "parse_filter",
    "plain_text",
    "search_text",
    "sort_value",
    "unknown_column_message",
]

RowKey = Hashable
"""Identifies a row across updates (e.g. a server id or an HTCondor job id)."""
_K = TypeVar("_K", bound=Hashable)  # lets dict[str, ...] be passed (Mapping keys are invariant)
_MISSING: Any = object()

#: Control characters, each replaced by a space so that a cell is one line.
CONTROL_CHARS = {i: " " for i in (*range(32), 127)}


@dataclass(frozen=True)
class Column:
    """One column of a :class:`~canfar_tui.widgets.resource_table.ResourceTable`."""

    key: str
    """Stable id, used by ``ResourceTable.sort_by`` and ``key=value`` filters."""
    label: str
    """Header text."""
    width: int | None = None
    """Fixed width in cells; ``None`` sizes it from the header and a sample of rows (max 40)."""
    justify: Literal["left", "right"] = "left"


# --------------------------------------------------------------------------- cell values


def _format_float(value: float) -> str:
    if -1e15 < value < 1e15:
        if value.is_integer():
            return str(int(value))
        if value >= 1e-3 or value <= -1e-3:
            return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"  # tiny, huge, inf, nan


def format_cell(value: object) -> str | Text:
    """Return the displayed form of a cell value.

    ``None`` -> ``""``, ``datetime`` -> ``"%Y-%m-%d %H:%M"``, ``float`` -> compact (at most
    three decimals, no trailing zeros), ``bool`` -> ``"yes"``/``"no"``, enums -> their value,
    :class:`rich.text.Text` unchanged, anything else -> ``str()``. Control characters (newlines,
    tabs) become spaces so that a cell is always one line.
    """
    kind = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
    elif value is None:
        return ""
    elif kind is int:
        return str(value)
    elif isinstance(value, Text):
        return value
    elif isinstance(value, bool):
        return "yes" if value else "no"
    elif isinstance(value, float):
        return _format_float(value)
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat(" ", "minutes")  # same text as strftime, 3x faster
        return value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        return value.isoformat()
    elif isinstance(value, enum.Enum):
        return format_cell(value.value)
    else:
        text = str(value)
    if not text.isprintable():
        text = text.translate(CONTROL_CHARS)
    return text


def plain_text(cell: str | Text) -> str:
    """The text of a displayed cell, without its styles."""
    return cell if isinstance(cell, str) else cell.plain


def search_text(row: Sequence[object]) -> str:
    """The displayed cells of a row, casefolded and joined by NUL (what plain terms search)."""
    return "\0".join([v if type(v) is str else plain_text(format_cell(v)) for v in row]).casefold()


# --------------------------------------------------------------------------- sort keys


def sort_value(value: object) -> tuple[int, Any, Any] | None:
    """Map a raw value to something comparable with every other mapped value (None: no value).

    Numbers < dates < strings (case-insensitive) < durations < anything else (by text).
    """
    kind = type(value)
    if kind is str:
        return (2, value.casefold(), value)  # type: ignore[attr-defined]
    if kind is int:
        return (0, value, 0)
    if kind is float:
        return None if value != value else (0, value, 0)  # NaN sorts with None
    if value is None:
        return None
    if isinstance(value, Text):
        return (2, value.plain.casefold(), value.plain)
    if isinstance(value, enum.Enum):
        return sort_value(value.value)
    if isinstance(value, numbers.Real):
        return None if value != value else (0, value, 0)
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # aware and naive datetimes do not compare
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (1, value, 0)
    if isinstance(value, date):
        return (1, datetime(value.year, value.month, value.day), 0)
    if isinstance(value, str):
        return (2, value.casefold(), str(value))
    if isinstance(value, timedelta):
        return (3, value, 0)
    return (9, type(value).__name__, str(value))


def make_sort_key(value: object, seq: int, reverse: bool) -> Any:
    """Flat, unique sort key: (0, rank, a, b, seq) for values, (1, seq) for None.

    ``reverse``: the order is stored ascending and displayed backwards; None still last.
    """
    mapped = sort_value(value)
    if reverse:
        if mapped is None:
            return (0, -seq)
        rank, a, b = mapped
        return (1, rank, a, b, -seq)
    if mapped is None:
        return (1, seq)
    rank, a, b = mapped
    return (0, rank, a, b, seq)


# --------------------------------------------------------------------------- ordered index


class OrderedIndex:
    """Row keys in ascending order of their unique sort keys: a blocked sorted list.

    Keys and sort keys live in parallel blocks of at most ``2 * LOAD`` entries, with the last
    sort key of every block in ``_maxes``. Inserting or removing one row costs two bisects
    and a memmove within one block, never a copy of the whole order; positional access
    bisects a lazily rebuilt list of block offsets.
    """

    __slots__ = ("_kb", "_len", "_maxes", "_offsets", "_sb")
    LOAD: ClassVar[int] = 256

    def __init__(self, keys: Sequence[RowKey] = (), sks: Sequence[Any] = ()) -> None:
        self._load(keys, sks)

    def _load(self, keys: Sequence[RowKey], sks: Sequence[Any]) -> None:
        load = self.LOAD
        self._kb: list[list[RowKey]] = [list(keys[i : i + load]) for i in range(0, len(keys), load)]
        self._sb: list[list[Any]] = [list(sks[i : i + load]) for i in range(0, len(sks), load)]
        self._maxes: list[Any] = [block[-1] for block in self._sb]
        self._offsets: list[int] | None = None
        self._len = len(keys)

    def __len__(self) -> int:
        return self._len

    def _starts(self) -> list[int]:
        if self._offsets is None:
            self._offsets = list(accumulate(map(len, self._kb), initial=0))
        return self._offsets

    def keys(self) -> list[RowKey]:
        return list(chain.from_iterable(self._kb))

    def iter_keys(self) -> Iterator[RowKey]:
        return chain.from_iterable(self._kb)

    def key_at(self, pos: int) -> RowKey:
        starts = self._starts()
        block = bisect_right(starts, pos) - 1
        return self._kb[block][pos - starts[block]]

    def insertion_point(self, sk: Any) -> int:
        """Position at which ``sk`` is or would be."""
        block = bisect_left(self._maxes, sk)
        if block == len(self._maxes):
            return self._len
        return self._starts()[block] + bisect_left(self._sb[block], sk)

    def find(self, sk: Any) -> int:
        """Position of the row with sort key ``sk``, or -1."""
        block = bisect_left(self._maxes, sk)
        if block == len(self._maxes):
            return -1
        sks = self._sb[block]
        pos = bisect_left(sks, sk)
        return self._starts()[block] + pos if sks[pos] == sk else -1

    def remove(self, sk: Any) -> bool:
        block = bisect_left(self._maxes, sk)
        if block == len(self._maxes):
            return False
        sks = self._sb[block]
        pos = bisect_left(sks, sk)
        if sks[pos] != sk:
            return False
        del sks[pos]
        del self._kb[block][pos]
        self._len -= 1
        self._offsets = None
        if not sks:
            del self._sb[block], self._kb[block], self._maxes[block]
        elif pos == len(sks):
            self._maxes[block] = sks[-1]
        return True

    def insert(self, sk: Any, key: RowKey) -> None:
        """Insert a row; ``sk`` must not be present."""
        maxes = self._maxes
        self._len += 1
        self._offsets = None
        if not maxes:
            self._sb.append([sk])
            self._kb.append([key])
            maxes.append(sk)
            return
        block = bisect_left(maxes, sk)
        if block == len(maxes):
            block -= 1
            sks, keys = self._sb[block], self._kb[block]
            sks.append(sk)
            keys.append(key)
            maxes[block] = sk
        else:
            sks, keys = self._sb[block], self._kb[block]
            pos = bisect_left(sks, sk)
            sks.insert(pos, sk)
            keys.insert(pos, key)
        if len(sks) > 2 * self.LOAD:
            half = len(sks) // 2
            self._sb[block : block + 1] = [sks[:half], sks[half:]]
            self._kb[block : block + 1] = [keys[:half], keys[half:]]
            maxes[block : block + 1] = [sks[half - 1], sks[-1]]

    def append_sorted(self, items: list[tuple[Any, RowKey]]) -> None:
        """Append rows whose (ascending) sort keys are all above the current last one."""
        sks = [sk for sk, _ in items]
        keys = [key for _, key in items]
        load = self.LOAD
        if self._sb and len(self._sb[-1]) < load:
            room = load - len(self._sb[-1])
            self._sb[-1].extend(sks[:room])
            self._kb[-1].extend(keys[:room])
            self._maxes[-1] = self._sb[-1][-1]
            sks, keys = sks[room:], keys[room:]
        for i in range(0, len(sks), load):
            self._sb.append(sks[i : i + load])
            self._kb.append(keys[i : i + load])
            self._maxes.append(sks[min(i + load, len(sks)) - 1])
        self._len += len(items)
        self._offsets = None

    def update(self, remove: list[tuple[Any, RowKey]], insert: list[tuple[Any, RowKey]]) -> None:
        """Remove and insert (sort key, row key) pairs (removals of absent rows are ignored).

        Few changes are applied one by one (O(log n) each); many are merged in one sort
        (Timsort merges the already sorted runs in about n comparisons).
        """
        if not (remove or insert):
            return
        insert.sort(key=itemgetter(0))
        if not remove and (not self._maxes or insert[0][0] > self._maxes[-1]):
            self.append_sorted(insert)
        elif (len(remove) + len(insert)) * 16 <= self._len + len(insert):
            for sk, _ in remove:
                self.remove(sk)
            for sk, key in insert:
                self.insert(sk, key)
        else:
            gone = {key for _, key in remove}
            pairs = [
                pair
                for pair in zip(chain.from_iterable(self._sb), self.iter_keys(), strict=True)
                if pair[1] not in gone
            ]
            pairs += insert
            pairs.sort(key=itemgetter(0))
            self._load([key for _, key in pairs], [sk for sk, _ in pairs])


# --------------------------------------------------------------------------- columns & filters


@dataclass
class FilterTerm:
    """One term of a filter: a casefolded substring of one cell (or any), maybe negated."""

    column: int | None  # None: any cell
    needle: str  # casefolded
    negate: bool


def column_index(columns: Sequence[Column], name: str) -> int | None:
    """Index of the column ``name``: by key, else by key or label ignoring case."""
    for index, column in enumerate(columns):
        if column.key == name:
            return index
    folded = name.casefold()
    for index, column in enumerate(columns):
        if folded in (column.key.casefold(), column.label.casefold()):
            return index
    return None


def unknown_column_message(columns: Sequence[Column], name: str) -> str:
    """The error message for a column name that matches none of ``columns``."""
    names = ", ".join(column.key for column in columns)
    return f"unknown column {name!r} (columns: {names})"


def parse_filter(text: str, columns: Sequence[Column]) -> list[FilterTerm] | None:
    """The terms of a filter (None when it has none); see ``ResourceTable.set_filter``.

    Raises:
        ValueError: A term names an unknown column.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""  # backslashes are literal (paths, regex-looking names)
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quote: take the text literally
        words = text.split()
    terms: list[FilterTerm] = []
    for word in words:
        negate = False
        if word.startswith("!") and len(word) > 1:
            negate, word = True, word[1:]
        column: int | None = None
        name, sep, value = word.partition("=")
        if sep and name:
            if name.endswith("!"):
                negate, name = not negate, name[:-1]
            column = column_index(columns, name)
            if column is None:
                raise ValueError(unknown_column_message(columns, name))
            word = value
        terms.append(FilterTerm(column, word.casefold(), negate))
    return terms or None


# --------------------------------------------------------------------------- diffs


def diff_rows(
    current: Mapping[RowKey, Sequence[object]], rows: Mapping[_K, Sequence[object]]
) -> tuple[dict[RowKey, Sequence[object]], dict[RowKey, Sequence[object]], list[RowKey]]:
    """The keyed diff (added, changed, removed) that turns ``current`` into ``rows``."""
    removed = [key for key in current if key not in rows]
    added: dict[RowKey, Sequence[object]] = {}
    changed: dict[RowKey, Sequence[object]] = {}
    for key, values in rows.items():
        old = current.get(key, _MISSING)
        if old is _MISSING:
            added[key] = values
        elif old != (values if type(values) is tuple else tuple(values)):
            changed[key] = values
    return added, changed, removed
