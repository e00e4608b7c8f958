"""The help screen (``?``): every key of the dashboard, grouped by where it works.

Keys shown are the ones in force, after the user's keymap; each row also gives the binding id
to use in the ``[keymap]`` table of the config file. Below :data:`WIDE_COLUMNS` columns the id
goes under its description (dim), so that the description keeps a readable width at 80.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

#: (group title, [(keys, description, binding id)])
HelpSection = tuple[str, Sequence[tuple[str, str, str]]]

#: From this terminal width on, the binding ids get a column of their own.
WIDE_COLUMNS = 120
#: The keys column wraps beyond this many cells (``escape, q, ?``).
KEYS_WIDTH = 14


class HelpScreen(ModalScreen[None]):
    """List every key binding."""

    BINDINGS = [
        Binding(
            "escape,q,question_mark,f1", "close", "Close", id="help.close", tooltip="Close help"
        ),
    ]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        wide = self.app.size.width >= WIDE_COLUMNS
        table = Table.grid(padding=(0, 2))
        table.add_column("keys", style="bold", max_width=KEYS_WIDTH)
        table.add_column("action", ratio=1)
        if wide:
            table.add_column("id", style="dim", no_wrap=True)
        for title, rows in self.sections:
            table.add_row("")
            table.add_row(f"[u]{title}[/u]", "")
            for keys, description, binding_id in rows:
                if wide:
                    table.add_row(keys, description, binding_id)
                else:
                    table.add_row(keys, Text.assemble(description, "  ", (binding_id, "dim")))
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table, id="help-body")
            yield Label(
                "Rebind any id in the [keymap] table of the config file. escape: close",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        # Wider than the other dialogs (inline: the app's .dialog rule wins over DEFAULT_CSS).
        dialog = self.query_one("#help-dialog", Vertical)
        dialog.styles.width = "100%"
        dialog.styles.max_width = WIDE_COLUMNS

    def action_close(self) -> None:
        self.dismiss(None)
