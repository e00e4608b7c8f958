"""The confirmation modal every destructive action goes through.

``ConfirmScreen`` is a ``ModalScreen[bool]``: it dismisses with True only when the user presses
the confirm button (or ``y``); Cancel, ``n`` and ``escape`` dismiss with False. When
``require_text`` is given (deleting something precious), the confirm button stays disabled
until that exact text is typed.

| key      | action                     |
|----------|----------------------------|
| `y`      | confirm (if no text needed) |
| `n`, `escape` | cancel                |
| `tab`    | move between the buttons   |
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask "are you sure?"; the result is True only on an explicit confirmation."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes", tooltip="Confirm the action"),
        Binding("n,escape", "cancel", "No", id="confirm.no", tooltip="Cancel"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm_label: str = "Delete",
        require_text: str | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label
        self.require_text = require_text

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.title_text, id="confirm-title", classes="dialog-title")
            yield Static(self.message, id="confirm-message", markup=False)
            if self.require_text is not None:
                yield Label(f"Type {self.require_text!r} to confirm:")
                yield Input(id="confirm-text", placeholder=self.require_text)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error",
                    disabled=self.require_text is not None,
                )

    def on_mount(self) -> None:
        focus_target = "#confirm-text" if self.require_text is not None else "#cancel"
        self.query_one(focus_target).focus()

    @on(Input.Changed, "#confirm-text")
    def _text_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.require_text

    @on(Input.Submitted, "#confirm-text")
    def _text_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.require_text:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        if self.require_text is None:
            self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
