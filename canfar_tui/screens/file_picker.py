"""A modal file picker over the local disk, filtered to the suffixes a caller wants.

| key      | action                          |
|----------|---------------------------------|
| `enter`  | open a folder / choose a file   |
| `escape` | cancel                          |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Label


class FilteredDirectoryTree(DirectoryTree):
    """A directory tree showing folders and files with one of ``suffixes`` (no dot files)."""

    def __init__(self, path: Path, suffixes: Sequence[str], **kwargs: object) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self.suffixes = tuple(suffix.lower() for suffix in suffixes)

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            path
            for path in paths
            if not path.name.startswith(".")
            and (path.is_dir() or path.name.lower().endswith(self.suffixes))
        ]


class FilePickerScreen(ModalScreen[Path | None]):
    """Choose one file; the result is its path, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Cancel")]

    def __init__(self, title: str, start: Path, suffixes: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.start = start if start.is_dir() else Path.home()
        self.suffixes = suffixes

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield FilteredDirectoryTree(self.start, self.suffixes, id="picker-tree")
            yield Label(
                f"Showing folders and {', '.join(self.suffixes)} files. "
                "enter: choose, escape: cancel",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#picker-tree").focus()

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(event.path)

    def action_cancel(self) -> None:
        self.dismiss(None)
