"""The password prompt: asked once per run when a real cloud needs it, held in memory only.

The text is never echoed, logged or written anywhere; cancelling is an AuthError for the
caller ("login cancelled").

| key      | action       |
|----------|--------------|
| `enter`  | log in       |
| `escape` | cancel       |
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PasswordScreen(ModalScreen[str | None]):
    """Ask for a password; the result is the text, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="password.cancel", tooltip="Cancel")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="password-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, markup=False)
            yield Input(password=True, id="password-input", placeholder="password")
            yield Label(
                "enter: log in, escape: cancel (kept in memory for this run only)",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#password-input", Input).focus()

    @on(Input.Submitted, "#password-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
