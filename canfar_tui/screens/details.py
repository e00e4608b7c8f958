"""Read-only modal screens: a resource's details and the recent errors.

Both are scrollable key/value views closed with ``escape`` or ``q``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def display_value(value: object) -> str:
    """How a field value is shown in a details view."""
    if value is None:
        return "—"
    if isinstance(value, enum.Enum):
        return str(value.name.lower() if isinstance(value, enum.IntEnum) else value.value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, tuple | list | frozenset | set):
        return ", ".join(display_value(item) for item in value) or "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={display_value(v)}" for k, v in value.items()) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def fields_of(item: object) -> list[tuple[str, str]]:
    """(label, text) pairs for a dataclass instance, or its repr otherwise."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return [
            (field.name.replace("_", " "), display_value(getattr(item, field.name)))
            for field in dataclasses.fields(item)
        ]
    return [("value", repr(item))]


class DetailsScreen(ModalScreen[None]):
    """Show key/value pairs of one resource."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="details.close", tooltip="Close the details"),
    ]

    def __init__(self, title: str, rows: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows: Sequence[tuple[str, str]] = list(rows)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in self.rows:
            table.add_row(label, Text(value))
        with Vertical(id="details-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll():
                yield Static(table, id="details-body")
            yield Label("escape: close", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
