"""The help screen (``?``): every key of the dashboard, grouped by where it works.

Keys shown are the ones in force, after the user's keymap; each row also gives the binding id
to use in the ``[keymap]`` table of the config file.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

#: (group title, [(keys, description, binding id)])
HelpSection = tuple[str, Sequence[tuple[str, str, str]]]


class HelpScreen(ModalScreen[None]):
    """List every key binding."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close help"),
    ]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim", no_wrap=True)
        for title, rows in self.sections:
            table.add_row("")
            table.add_row(f"[u]{title}[/u]", "", "")
            for keys, description, binding_id in rows:
                table.add_row(keys, description, binding_id)
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table, id="help-body")
            yield Label(
                "Rebind any id in the [keymap] table of the config file. escape: close",
                classes="dialog-hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)
