"""The VOSpace tab's dialogs: a one-line prompt, the upload picker and the archive fetch form.

:class:`PromptScreen` (``ModalScreen[str | None]``) asks for one value — a folder name, a new
name or destination, a local folder — and checks it before closing, so a mistake is one line
under the box, not a failed request.

| key      | action                  |
|----------|-------------------------|
| `enter`  | accept                  |
| `escape` | cancel                  |

:class:`UploadPickerScreen` (``ModalScreen[list[Path] | None]``) chooses one or several local
files: mark files with ``space``, then ``u`` (or ``enter`` on a file) uploads the marked ones.

| key         | action                                                   |
|-------------|----------------------------------------------------------|
| `space`     | mark / unmark the file (open / close a folder)            |
| `enter`     | open a folder; on a file: upload the marked files and it  |
| `u`         | upload the marked files                                  |
| `backspace` | show the parent folder                                   |
| `ctrl+l`    | type a path: a folder to show, or a file to mark          |
| `escape`    | cancel (in the path field: back to the list)              |

A typed path, once shown or marked, hands the keys back to the list, so ``u`` uploads.

:class:`ArchiveFetchScreen` (``ModalScreen[ArchiveRequest | None]``) asks for a CADC archive
URI (``cadc:CFHT/1056213p.fits.fz``) and the local folder to save into. When the archive
names files it holds, the first is the URI's value (selected: typing replaces it), so
``enter`` fetches it.

| key      | action                              |
|----------|-------------------------------------|
| `tab`    | next field                          |
| `enter`  | fetch                               |
| `escape` | cancel                              |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, Static
from textual.widgets._directory_tree import DirEntry
from textual.widgets._tree import TreeNode

#: Checks a value; returns a one-line problem, or None when the value is fine.
Validator = Callable[[str], str | None]


class PromptScreen(ModalScreen[str | None]):
    """Ask for one value; the result is the (stripped) text, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Cancel"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        value: str = "",
        placeholder: str = "",
        validate: Validator | None = None,
        hint: str = "enter: accept · escape: cancel",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.value = value
        self.placeholder = placeholder
        self.validate = validate
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.message:
                yield Static(self.message, markup=False, id="prompt-message")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error", markup=False)
            yield Label(self.hint, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-error", Static).display = False
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        problem = self.validate(text) if self.validate is not None else None
        if problem:
            error = self.query_one("#prompt-error", Static)
            error.update(problem)
            error.display = True
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- upload picker


class MarkingDirectoryTree(DirectoryTree):
    """A directory tree where files can be marked (``✓``); dot files are hidden."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="upload_picker.mark",
            tooltip="Mark or unmark the file (open or close a folder)",
        ),
    ]

    class MarksChanged(Message):
        """The set of marked files changed."""

    ICON_MARKED = "✓ "
    ICON_UNMARKED = "  "

    def __init__(self, path: Path, **kwargs: str | None) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self.marked: dict[Path, None] = {}  # insertion-ordered set

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [path for path in paths if not path.name.startswith(".")]

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        if node.data is not None and not node.allow_expand:
            mark = self.ICON_MARKED if node.data.path in self.marked else self.ICON_UNMARKED
            return Text.assemble(mark, label)
        return label

    def toggle_path(self, path: Path) -> bool:
        """Mark or unmark a file; returns True when it is now marked."""
        path = Path(path)
        if path in self.marked:
            del self.marked[path]
            return False
        self.marked[path] = None
        return True

    def action_toggle_mark(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.allow_expand:
            node.toggle()
            return
        self.toggle_path(node.data.path)
        node.refresh()
        self.post_message(self.MarksChanged())


class UploadPickerScreen(ModalScreen[list[Path] | None]):
    """Choose local files to upload; the result is their paths, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="upload_picker.cancel", tooltip="Cancel"),
        Binding(
            "u", "upload", "Upload", id="upload_picker.upload", tooltip="Upload the marked files"
        ),
        Binding(
            "backspace",
            "parent",
            "Parent",
            id="upload_picker.parent",
            tooltip="Show the parent folder",
        ),
        Binding(
            "ctrl+l",
            "type_path",
            "Path",
            id="upload_picker.path",
            tooltip="Type a folder to show or a file to mark",
        ),
    ]

    def __init__(self, title: str, start: Path) -> None:
        super().__init__()
        self.title_text = title
        self.start = start if start.is_dir() else Path.home()

    def compose(self) -> ComposeResult:
        with Vertical(id="upload-picker-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(
                placeholder="path: a folder to show, or a file to mark (enter)",
                id="upload-picker-path",
            )
            yield MarkingDirectoryTree(self.start, id="upload-picker-tree")
            yield Static("", id="upload-picker-marked", markup=False)
            yield Label(
                "space: mark · u: upload marked · enter on a file: upload it (and the marked) · "
                "backspace: parent folder · ctrl+l: type a path (escape: back to the list) · "
                "escape: cancel",
                classes="dialog-hint",
            )

    @property
    def picker_tree(self) -> MarkingDirectoryTree:
        return self.query_one("#upload-picker-tree", MarkingDirectoryTree)

    def on_mount(self) -> None:
        self.picker_tree.focus()
        self._show_marked()

    def _show_marked(self) -> None:
        marked = list(self.picker_tree.marked)
        if not marked:
            text = "No file marked."
        else:
            names = ", ".join(path.name for path in marked[:4])
            more = f" and {len(marked) - 4} more" if len(marked) > 4 else ""
            text = f"{len(marked)} marked: {names}{more}"
        self.query_one("#upload-picker-marked", Static).update(text)

    @on(MarkingDirectoryTree.MarksChanged)
    def _marks_changed(self) -> None:
        self._show_marked()

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        tree = self.picker_tree
        if event.path not in tree.marked:
            tree.toggle_path(event.path)
        self.dismiss(list(tree.marked))

    @on(Input.Submitted, "#upload-picker-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.picker_tree.focus()
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path(self.picker_tree.path) / path
        if path.is_dir():
            self.picker_tree.path = path
            event.input.value = ""
            self.picker_tree.focus()
        elif path.is_file():
            if self.picker_tree.toggle_path(path):
                self.notify(f"Marked {path.name}")
            else:
                self.notify(f"Unmarked {path.name}")
            self.picker_tree.refresh()
            event.input.value = ""
            self._show_marked()
            self.picker_tree.focus()  # u uploads now; ctrl+l types another path
        else:
            self.notify(f"No such file or folder: {path}", severity="warning")

    def action_upload(self) -> None:
        marked = list(self.picker_tree.marked)
        if not marked:
            self.notify("Mark files with space first (or press enter on one).", severity="warning")
            return
        self.dismiss(marked)

    def action_parent(self) -> None:
        if self.query_one("#upload-picker-path", Input).has_focus:
            return
        current = Path(self.picker_tree.path)
        if current.parent != current:
            self.picker_tree.path = current.parent

    def action_type_path(self) -> None:
        self.query_one("#upload-picker-path", Input).focus()

    def action_cancel(self) -> None:
        if self.query_one("#upload-picker-path", Input).has_focus:
            self.picker_tree.focus()  # leave the path field; escape again cancels
            return
        self.dismiss(None)


# --------------------------------------------------------------------------- archive fetch


@dataclass(frozen=True, slots=True)
class ArchiveRequest:
    """What the archive fetch form returns."""

    uri: str
    destination: Path


class ArchiveFetchScreen(ModalScreen[ArchiveRequest | None]):
    """Ask for a CADC archive URI and a local folder; checks both before closing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="archive_fetch.cancel", tooltip="Cancel"),
    ]

    def __init__(self, destination: Path, *, examples: Iterable[str] = ()) -> None:
        super().__init__()
        self.destination = destination
        self.examples = list(examples)

    def compose(self) -> ComposeResult:
        with Vertical(id="archive-dialog", classes="dialog"):
            yield Label("Fetch from the CADC archive (like cadcget)", classes="dialog-title")
            yield Label("Archive file")
            yield Input(
                self.examples[0] if self.examples else "",
                placeholder="cadc:CFHT/1056213p.fits.fz",
                id="archive-uri",
            )
            yield Label("Save into the local folder")
            yield Input(value=str(self.destination), id="archive-destination")
            yield Static("", id="archive-error", classes="dialog-error", markup=False)
            hint = "enter: fetch · tab: next field · escape: cancel"
            if self.examples:
                hint = f"This archive holds e.g. {', '.join(self.examples[:3])}. {hint}"
            yield Label(hint, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#archive-error", Static).display = False
        self.query_one("#archive-uri", Input).focus()

    def _problem(self, text: str) -> None:
        error = self.query_one("#archive-error", Static)
        error.update(text)
        error.display = True

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        from canfar_tui.clients.archive.base import parse_archive_uri
        from canfar_tui.clients.base import ClientError

        uri_text = self.query_one("#archive-uri", Input).value.strip()
        folder_text = self.query_one("#archive-destination", Input).value.strip()
        try:
            uri = parse_archive_uri(uri_text)
        except ClientError as error:
            self._problem(error.message)
            self.query_one("#archive-uri", Input).focus()
            return
        folder = Path(folder_text or ".").expanduser()
        if not folder.is_dir():
            self._problem(f"No such local folder: {folder}")
            self.query_one("#archive-destination", Input).focus()
            return
        self.dismiss(ArchiveRequest(str(uri), folder.resolve()))

    def action_cancel(self) -> None:
        self.dismiss(None)
