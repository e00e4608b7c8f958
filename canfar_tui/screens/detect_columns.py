"""The Detect tab's dialogs: edit the output columns, choose a column to preview.

:class:`ColumnsScreen` edits a ``.param`` column list. On the left the output columns in
their order, on the right every other column canfar-tui computes (read from
:data:`~canfar_tui.detection.column_info.COLUMN_INFO` when the dialog opens), with a filter
above it; the line below describes the highlighted column. It returns the new list, or None
when cancelled.

| key                      | action                                              |
|--------------------------|-----------------------------------------------------|
| type in the filter       | narrow the list of columns (name or description)    |
| `enter`                  | add the highlighted column (in the filter: the first) |
| `d` / `delete`           | remove the highlighted output column                |
| `K` `J` / `shift+↑` `↓`  | move it up / down                                   |
| `+` / `-`                | one value more / fewer for a vector (MAG_APER(3))   |
| `ctrl+s`                 | use these columns (close)                           |
| `enter` in "save as"     | write the list as a ``.param`` file (atomically)    |
| `escape`                 | leave a text field; else close, changing nothing    |

:class:`ColumnChoiceScreen` picks one name from a list (the summary's preview column, the
histogram's magnitude column); `enter` chooses, `escape` cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from canfar_tui.widgets.detect import columns as model


class ColumnsScreen(ModalScreen[tuple[str, ...] | None]):
    """Edit the output columns; the result is the new list, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "use", "Use", id="columns.use", tooltip="Use these columns"),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="columns.cancel",
            tooltip="Leave the text field; close, changing nothing",
        ),
        Binding("d,delete", "remove", "Remove", id="columns.remove", show=False),
        Binding("K,shift+up", "move(-1)", "Up", id="columns.up", show=False),
        Binding("J,shift+down", "move(1)", "Down", id="columns.down", show=False),
        Binding("plus,equals_sign", "resize(1)", "+1 value", id="columns.more", show=False),
        Binding("minus", "resize(-1)", "-1 value", id="columns.fewer", show=False),
    ]

    def __init__(self, specs: Sequence[str], source: str, save_path: Path) -> None:
        super().__init__()
        self.specs: list[str] = list(specs)
        self.source = source
        self.save_path = save_path
        #: The last .param file written from this dialog (the tab shows it).
        self.saved: Path | None = None
        self.saved_specs: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-dialog", classes="dialog"):
            yield Label("", id="columns-title", classes="dialog-title")
            with Horizontal(id="columns-lists"):
                with Vertical(id="columns-left"):
                    yield Label("output columns (d K J + -)", classes="columns-heading")
                    yield OptionList(id="columns-chosen")
                with Vertical(id="columns-right"):
                    yield Input(placeholder="filter: MAG, FLUX, WIN…", id="columns-filter")
                    yield OptionList(id="columns-all")
            yield Static("", id="columns-about")
            with Horizontal(id="columns-save-row"):
                yield Label("save as")
                yield Input(value=str(self.save_path), id="columns-save")
            yield Static(
                "enter add · ctrl+s use · enter in 'save as' writes the .param · esc cancel",
                id="columns-hint",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.compact = True
        self._fill_chosen(0)
        self._fill_available()
        self.query_one("#columns-chosen", OptionList).focus()

    # ------------------------------------------------------------------ drawing

    def _fill_chosen(self, highlight: int | None) -> None:
        chosen = self.query_one("#columns-chosen", OptionList)
        chosen.clear_options()
        chosen.add_options([Option(spec) for spec in self.specs])
        if self.specs:
            chosen.highlighted = min(max(highlight or 0, 0), len(self.specs) - 1)
        self.query_one("#columns-title", Label).update(
            f"Output columns · {len(self.specs)} · {self.source}"
        )

    def _fill_available(self) -> None:
        text = self.query_one("#columns-filter", Input).value
        names = model.available_columns(self.specs, text)
        available = self.query_one("#columns-all", OptionList)
        available.clear_options()
        available.add_options([Option(name, id=name) for name in names])
        if names:
            available.highlighted = 0

    def _about(self, spec: str | None) -> None:
        about = self.query_one("#columns-about", Static)
        about.update(Text(model.describe(spec) if spec else "", no_wrap=True, overflow="ellipsis"))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._about(str(event.option.prompt))

    @on(Input.Changed, "#columns-filter")
    def _filter_changed(self) -> None:
        self._fill_available()

    # ------------------------------------------------------------------ editing

    @on(OptionList.OptionSelected, "#columns-all")
    def _add_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._add(str(event.option.prompt))

    @on(Input.Submitted, "#columns-filter")
    def _add_first(self, event: Input.Submitted) -> None:
        event.stop()
        available = self.query_one("#columns-all", OptionList)
        if available.option_count == 0:
            self.notify("no column matches the filter", severity="warning")
            return
        index = available.highlighted or 0
        self._add(str(available.get_option_at_index(index).prompt))

    def _add(self, name: str) -> None:
        chosen = self.query_one("#columns-chosen", OptionList)
        at = chosen.highlighted + 1 if chosen.highlighted is not None else len(self.specs)
        self.specs.insert(at, name)
        self._fill_chosen(at)
        self._fill_available()
        self._about(name)

    def _current(self) -> int | None:
        chosen = self.query_one("#columns-chosen", OptionList)
        if not chosen.has_focus or chosen.highlighted is None or not self.specs:
            return None
        return chosen.highlighted

    def action_remove(self) -> None:
        index = self._current()
        if index is None:
            return
        if len(self.specs) == 1:
            self.notify("a catalogue needs at least one column", severity="warning")
            return
        del self.specs[index]
        self._fill_chosen(index)
        self._fill_available()

    def action_move(self, step: int) -> None:
        index = self._current()
        if index is None:
            return
        target = index + step
        if not 0 <= target < len(self.specs):
            return
        self.specs[index], self.specs[target] = self.specs[target], self.specs[index]
        self._fill_chosen(target)

    def action_resize(self, step: int) -> None:
        index = self._current()
        if index is None:
            return
        spec = self.specs[index]
        column = model.info(spec)
        if column is None or not column.vector:
            self.notify(f"{spec} holds one value (not a vector)", severity="warning")
            return
        self.specs[index] = model.resize(spec, step)
        self._fill_chosen(index)
        self._about(self.specs[index])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Letters and + - go to the text fields when one is focused."""
        return not (action in ("remove", "move", "resize") and isinstance(self.focused, Input))

    # ------------------------------------------------------------------ leaving

    @on(Input.Submitted, "#columns-save")
    def _save(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.notify("type a file name to save the columns to", severity="warning")
            return
        path = Path(text).expanduser()
        try:
            model.save_param_file(path, self.specs)
        except OSError as error:
            message = error.strerror if error.filename is None and error.strerror else error
            self.notify(f"not saved: {message}", title="Columns", severity="error")
            return
        self.saved = path
        self.saved_specs = tuple(self.specs)
        self.notify(f"{len(self.specs)} columns saved to {path}", title="Columns")

    def action_use(self) -> None:
        self.dismiss(tuple(self.specs))

    def action_cancel(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#columns-chosen", OptionList).focus()
            return
        self.dismiss(None)


class ColumnChoiceScreen(ModalScreen[str | None]):
    """Choose one column from ``names``; the result is its name, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="column_choice.cancel", tooltip="Cancel")]

    def __init__(self, title: str, names: Sequence[str], current: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.names = list(names)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="column-choice-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*[Option(name, id=name) for name in self.names], id="column-choice")
            yield Label("enter: choose · escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one("#column-choice", OptionList)
        if self.current in self.names:
            options.highlighted = self.names.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.prompt))

    def action_cancel(self) -> None:
        self.dismiss(None)
