"""The VOSpace tab: a folder browser over the profile's StorageClient, with verified transfers.

The breadcrumb line shows where you are (``vos:alice › data › run1``) and how much of the
VOSpace is used. The table lists the folder's nodes (folders end in ``/``) with size, date and
MD5. Big folders are loaded a page at a time: the first page at once, the next ones as the
cursor (or the scroll) gets near the end, so a folder of 100 000 files never costs more than
what was looked at. A refresh re-lists what is loaded (at most ``REFRESH_LIMIT`` nodes; rows
past that are kept from their page).

Uploads, downloads and archive fetches go to the transfers panel under the table (at most two
at once, the rest queued): progress bar, rate, time left, cancel, and one line when one fails.
A transfer is ``done`` only after its MD5 was verified (the storage backend checks it before
it returns); a failed or cancelled one leaves no partial file.

| key         | action                                                         |
|-------------|----------------------------------------------------------------|
| `enter`     | open the folder / details of the file                          |
| `backspace` | up one folder                                                  |
| `~`         | back to the VOSpace home                                       |
| `i`         | details of the node: size, MD5, dates, permissions, properties |
| `u`         | upload local files here (mark several with space in the picker) |
| `w`         | download the file (or the whole folder) to a local folder       |
| `n`         | new folder                                                     |
| `m`         | rename or move (a name, a relative path, or ``vos:…``)          |
| `d`         | delete (asks; a folder is deleted with its content after typing its name) |
| `a`         | fetch a file from the CADC archive (``cadc:CFHT/1056213p.fits.fz``) |
| `t`         | move between the browser and the transfers panel               |
| `x`         | cancel the transfer under the panel's cursor                   |
| `X`         | clear finished transfers from the panel                         |

Upload, new folder, rename/move and delete are hidden in read-only mode; downloads and
archive fetches (which only write to the local disk) stay.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from canfar_tui.clients.base import ClientError, NotFound, ProgressCallback
from canfar_tui.clients.files import atomic_write
from canfar_tui.clients.refresh import Diff
from canfar_tui.clients.storage.vospace_uris import normalise_vospace_uri
from canfar_tui.logs import get_logger
from canfar_tui.models import StorageNode, TransferDirection, TransferState
from canfar_tui.screens.details import DetailsScreen, display_value
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column, ResourceTable
from canfar_tui.widgets.resource_view import ResourceView
from canfar_tui.widgets.transfers import TransferJob, TransfersPanel

if TYPE_CHECKING:
    from canfar_tui.clients.archive.base import ArchiveClient

log = get_logger("vospace")

#: Node properties already shown by name in the details view.
SHOWN_PROPERTIES = frozenset(
    {"length", "MD5", "date", "creator", "groupread", "groupwrite", "ispublic", "type"}
)


# --------------------------------------------------------------------------- pure helpers


def split_uri(uri: str) -> tuple[str, list[str]]:
    """``vos:alice/data/run1`` -> (``vos:alice``, [``data``, ``run1``]) relative to its root."""
    scheme, _, path = uri.partition(":")
    parts = [part for part in path.split("/") if part]
    if not parts:
        return uri, []
    return f"{scheme}:{parts[0]}", parts[1:]


def parent_uri(uri: str) -> str:
    """The folder holding ``uri``."""
    return uri.rstrip("/").rsplit("/", 1)[0]


def resolve_destination(text: str, cwd: str, home: str) -> str:
    """Where a rename/move goes: a URI (``vos:…``), ``/path`` below home, or a relative path.

    ``..`` goes up (never above home). Raises ValueError with a one-line message.
    """
    value = text.strip()
    if not value:
        raise ValueError("Give a new name or a destination")
    if any(ord(char) < 32 for char in value):
        raise ValueError("Names cannot hold control characters")
    if ":" in value:  # vault:user/x and vos://cadc.nrc.ca!vault/user/x are vos:user/x
        return normalise_vospace_uri(value).rstrip("/")
    home_root, home_parts = split_uri(home)
    cwd_root, cwd_parts = split_uri(cwd)
    if value.startswith("/"):
        parts = list(home_parts)
    elif cwd_root == home_root and cwd_parts[: len(home_parts)] == home_parts:
        parts = list(cwd_parts)
    else:
        raise ValueError(f"Not below your home: {cwd}")
    for part in value.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if len(parts) <= len(home_parts):
                raise ValueError("Cannot go above your VOSpace home")
            parts.pop()
            continue
        parts.append(part)
    if parts == home_parts:
        raise ValueError("That is your VOSpace home")
    return "/".join([home_root, *parts])


def check_node_name(name: str) -> str | None:
    """One line when ``name`` cannot be a VOSpace node name, else None."""
    if not name:
        return "Give a name"
    if name in (".", "..") or "/" in name:
        return "A name cannot be '.', '..' or contain '/'"
    if any(ord(char) < 32 for char in name):
        return "Names cannot hold control characters"
    if len(name.encode()) > 255:
        return "Names are at most 255 bytes long"
    return None


def node_fields(node: StorageNode) -> list[tuple[str, str]]:
    """The details of a node, for the details view."""
    if node.is_link:
        kind = f"link → {node.target or '?'}"
    else:
        kind = "folder" if node.is_container else "file"
    props = dict(node.properties)
    size = "—" if node.size is None else f"{human_size(node.size)} ({node.size:,} bytes)"
    public = props.get("ispublic", "false").lower() == "true"
    rows = [
        ("name", node.name),
        ("URI", node.uri),
        ("type", kind),
        ("size", size),
        ("MD5", node.md5 or "—"),
        ("modified", display_value(node.modified)),
        ("creator", node.creator or "—"),
        ("public", "yes" if public else "no"),
        ("readable by", node.readable_by or "owner only"),
        ("writable by", node.writable_by or "owner only"),
    ]
    if props.get("type"):
        rows.append(("content type", props["type"]))
    if props.get("quota"):
        with contextlib.suppress(ValueError):
            rows.append(("quota", str(human_size(int(props["quota"])))))
    for key in sorted(props):
        if key not in SHOWN_PROPERTIES and key != "quota":
            rows.append((key, props[key]))
    return rows


class FolderMemory:
    """Local folders remembered between runs (last download and upload folders).

    Kept in ``$XDG_STATE_HOME/canfar-tui/vospace.json``; a folder that no longer exists is
    forgotten; failing to save is not an error worth a message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str, default: Path) -> Path:
        value = self._load().get(key)
        if value and Path(value).is_dir():
            return Path(value)
        return default

    def set(self, key: str, folder: Path) -> None:
        data = self._load()
        data[key] = str(folder)
        try:
            atomic_write(self.path, json.dumps(data, indent=1), mode=0o600, folder_mode=0o700)
        except OSError as error:
            log.info("could not remember %s: %s", key, error)


def _short_md5(md5: str | None) -> str:
    return f"MD5 {md5[:12]} ✓" if md5 else "verified ✓"


# --------------------------------------------------------------------------- the view


class VOSpaceView(ResourceView, can_focus=True):
    """Browse the user's VOSpace, move files both ways and fetch archive files."""

    AREA = "vospace"
    TITLE = "VOSpace"
    SERVICE = "storage"
    COLUMNS = (
        Column("name", "NAME"),
        Column("size", "SIZE", justify="right"),
        Column("modified", "MODIFIED"),
        Column("md5", "MD5"),
    )
    EMPTY_TEXT = "This VOSpace folder is empty. u: upload files · n: new folder · backspace: up"
    DESTRUCTIVE_ACTIONS = frozenset({"upload", "mkdir", "move", "delete"})
    #: Nodes per page when a folder is listed (the first page, then one per "load more").
    PAGE_SIZE: ClassVar[int] = 200
    #: Load the next page when the cursor is this close to the last loaded row.
    LOAD_MARGIN: ClassVar[int] = 10
    #: A refresh re-lists at most this many nodes; rows past it are kept from their page.
    REFRESH_LIMIT: ClassVar[int] = 2000
    #: Transfers running at once; the others wait in the panel.
    MAX_PARALLEL_TRANSFERS: ClassVar[int] = 2

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "backspace", "up", "Up", id="vospace.up", tooltip="Up one folder", show=False
        ),
        Binding(
            "tilde", "home", "Home", id="vospace.home", tooltip="Back to your VOSpace home",
            show=False,
        ),
        Binding(
            "i", "details", "Details", id="vospace.details",
            tooltip="Size, MD5, dates and permissions of the node", show=False,
        ),
        Binding("u", "upload", "Upload", id="vospace.upload", tooltip="Upload local files here"),
        Binding(
            "w", "download", "Download", id="vospace.download",
            tooltip="Download the file or folder to a local folder",
        ),
        Binding("n", "mkdir", "New folder", id="vospace.mkdir", tooltip="Create a folder here"),
        Binding(
            "m", "move", "Rename/move", id="vospace.move",
            tooltip="Rename or move the node (name, relative path or vos: URI)",
        ),
        Binding(
            "d", "delete", "Delete", id="vospace.delete",
            tooltip="Delete the node (asks first; a folder needs its name typed)",
        ),
        Binding(
            "a", "archive_fetch", "Archive fetch", id="vospace.archive_fetch",
            tooltip="Fetch a CADC archive file (cadc:CFHT/1056213p.fits.fz) to a local folder",
        ),
        Binding(
            "t", "transfers", "Transfers", id="vospace.transfers",
            tooltip="Move between the browser and the transfers panel", show=False,
        ),
        Binding(
            "x", "cancel_transfer", "Cancel transfer", id="vospace.cancel_transfer",
            tooltip="Cancel the transfer under the transfers panel's cursor", show=False,
        ),
        Binding(
            "X", "clear_transfers", "Clear transfers", id="vospace.clear_transfers",
            tooltip="Remove finished transfers from the panel", show=False,
        ),
    ]  # fmt: skip

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.cwd = ""
        self._window: list[StorageNode] = []
        self._has_more = False
        self._want_more = False
        self._generation = 0
        self._select_after_load: str | None = None
        self._usage = ""
        self._usage_wanted = False
        self._usage_running = False

    # ------------------------------------------------------------------ composition

    def compose(self) -> ComposeResult:
        yield Static("", classes="vospace-breadcrumbs")
        yield from super().compose()
        yield TransfersPanel(max_parallel=self.MAX_PARALLEL_TRANSFERS, id="vospace-transfers")

    @property
    def table(self) -> ResourceTable:
        return self.query_one(".view-table", ResourceTable)

    @property
    def transfers(self) -> TransfersPanel:
        return self.query_one(TransfersPanel)

    @property
    def memory(self) -> FolderMemory:
        return FolderMemory(self.context.settings.paths.state_dir / "vospace.json")

    @property
    def archive(self) -> ArchiveClient | None:
        """The CADC archive of this profile (the sandbox archive in the sandbox), if any."""
        return self.context.clients.archive

    def on_mount(self) -> None:
        if self.client is not None:
            self.cwd = self.client.home_uri
        super().on_mount()
        self.watch(self.table, "scroll_y", self._scrolled, init=False)
        self._show_breadcrumbs()
        self._refresh_usage()

    def set_active(self, active: bool) -> None:
        super().set_active(active)
        if active and self.is_mounted:
            self._refresh_usage()

    def focus_default(self) -> None:
        if self.table.display:
            self.table.focus()
        else:
            self.focus()

    def set_state(self, state: Any, message: str = "") -> None:
        table_had_focus = self.table.has_focus
        super().set_state(state, message)
        if state in ("ready", "stale"):
            if self.has_focus:
                self.table.focus()
        elif table_had_focus:
            self.focus()  # the table is hidden: keep the keys of this tab working

    # ------------------------------------------------------------------ listing

    async def fetch(self) -> Iterable[StorageNode]:
        client = self.client
        while True:
            generation, cwd = self._generation, self.cwd
            try:
                if self._want_more and self._has_more and self._window:
                    self._want_more = False
                    page = list(
                        await client.list_nodes(
                            cwd, limit=self.PAGE_SIZE + 1, start_after=self._window[-1].name
                        )
                    )
                    if generation != self._generation:
                        continue
                    self._has_more = len(page) > self.PAGE_SIZE
                    self._window = self._window + page[: self.PAGE_SIZE]
                else:
                    want = min(max(self.PAGE_SIZE, len(self._window)), self.REFRESH_LIMIT)
                    fresh = list(await client.list_nodes(cwd, limit=want + 1))
                    if generation != self._generation:
                        continue
                    self._merge_refresh(fresh, want)
            except NotFound:
                if generation != self._generation or cwd == client.home_uri:
                    raise
                # The folder went away (deleted elsewhere): show its parent instead.
                self.notify(f"{cwd} no longer exists; showing its parent.", severity="warning")
                self._change_folder(parent_uri(cwd), select=None, reset=False)
                continue
            if self._want_more and self._has_more:
                continue  # the user scrolled on while this page was on its way
            return list(self._window)

    def _merge_refresh(self, fresh: list[StorageNode], want: int) -> None:
        if len(fresh) <= want:
            self._window, self._has_more = fresh, False
            return
        fresh = fresh[:want]
        last = fresh[-1].name
        tail = [node for node in self._window if node.name > last]
        self._window = fresh + tail
        self._has_more = self._has_more if tail else True

    def item_key(self, item: Any) -> str:
        node: StorageNode = item
        return node.name

    def row(self, item: Any) -> Sequence[object]:
        node: StorageNode = item
        name = f"{node.name}/" if node.is_container else node.name
        size = None if node.is_container else human_size(node.size)
        return (name, size, node.modified, node.md5)

    def _apply_diff(self, diff: Diff[Any, Any]) -> None:
        super()._apply_diff(diff)
        if not diff.is_empty:
            # Files come and go outside this tab too (batch jobs' vcp, the CLI): keep the
            # "(N used)" figure in step with what the listing shows.
            self._refresh_usage()
        if self._select_after_load is not None:
            name, self._select_after_load = self._select_after_load, None
            if self.table.get_row(name) is not None:
                self.table.move_cursor_to_key(name)
        self._maybe_load_more()

    def _update_status(self, extra: str = "") -> None:
        parts = [extra] if extra else []
        if self._want_more:
            parts.append(f"{len(self._window)} loaded, loading more…")
        elif self._has_more:
            parts.append(f"{len(self._window)} loaded, more as you scroll down")
        super()._update_status(" · ".join(parts))

    def _show_breadcrumbs(self) -> None:
        crumbs = self.query_one(".vospace-breadcrumbs", Static)
        if not self.cwd:
            crumbs.update("VOSpace")
            return
        root, parts = split_uri(self.cwd)
        text = " › ".join([root, *parts])
        if self._usage:
            text = f"{text}    ({self._usage})"
        crumbs.update(text)

    def _refresh_usage(self) -> None:
        """Ask for the space used (once at a time; a request made meanwhile runs after)."""
        client = self.client
        if client is None or not hasattr(client, "quota"):
            return
        self._usage_wanted = True
        if self._usage_running:
            return
        self._usage_running = True

        async def usage() -> None:
            try:
                while self._usage_wanted:
                    self._usage_wanted = False
                    try:
                        quota = await client.quota()
                    except ClientError as error:
                        log.info("VOSpace usage unavailable: %s", error.message)
                        return
                    used = human_size(quota.used_bytes)
                    if quota.quota_bytes:
                        self._usage = f"{used} used of {human_size(quota.quota_bytes)}"
                    else:
                        self._usage = f"{used} used"
                    self._show_breadcrumbs()
            finally:
                self._usage_running = False

        self.run_worker(usage(), name="vospace usage", group="vospace-usage", exit_on_error=False)

    # ------------------------------------------------------------------ lazy loading

    def _scrolled(self, _value: float) -> None:
        self._maybe_load_more()

    @on(ResourceTable.CursorMoved, ".view-table")
    def _cursor_moved(self, event: ResourceTable.CursorMoved) -> None:
        self._maybe_load_more()

    def _maybe_load_more(self) -> None:
        if not self._has_more or self._want_more or self.poller is None:
            return
        table = self.table
        bottom = int(table.scroll_offset.y) + table.scrollable_content_region.height
        near = max(table.cursor_row, bottom) >= table.visible_count - self.LOAD_MARGIN
        if near:
            self._want_more = True
            self._update_status()
            self.poller.refresh_now()

    def load_more(self) -> None:
        """Load the next page now (what scrolling near the end does)."""
        if self._has_more and self.poller is not None:
            self._want_more = True
            self._update_status()
            self.poller.refresh_now()

    # ------------------------------------------------------------------ navigation

    def open_folder(self, uri: str, *, select: str | None = None) -> None:
        """Show the folder ``uri`` (its first page), with the cursor on ``select`` if given."""
        if self.poller is None:
            return
        self._change_folder(uri, select=select, reset=True)

    def _change_folder(self, uri: str, *, select: str | None, reset: bool) -> None:
        self._generation += 1
        self.cwd = uri.rstrip("/")
        self._window = []
        self._has_more = False
        self._want_more = False
        self._select_after_load = select
        self._show_breadcrumbs()
        if reset and self.poller is not None:
            self.table.replace_all({})
            self.set_state("loading", f"Loading {self.cwd}…")
            self.poller.reset()

    @on(ResourceTable.RowSelected)
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # not the generic details of ResourceView
        if event.table is not self.table:
            self._show_transfer(str(event.key))
            return
        node = self.poller.rows.get(event.key) if self.poller is not None else None
        if node is None:
            return
        if node.is_container:
            self.open_folder(node.uri)
        else:
            self._show_details(node)

    def action_up(self) -> None:
        if self.poller is None:
            return
        if self.cwd.rstrip("/") == self.client.home_uri.rstrip("/"):
            self.notify("This is your VOSpace home.", title="VOSpace")
            return
        name = self.cwd.rstrip("/").rsplit("/", 1)[-1]
        self.open_folder(parent_uri(self.cwd), select=name)

    def action_home(self) -> None:
        if self.poller is not None and self.cwd != self.client.home_uri:
            self.open_folder(self.client.home_uri)

    def action_details(self) -> None:
        node: StorageNode | None = self.selected_item
        if node is not None:
            self._show_details(node)

    def _show_details(self, node: StorageNode) -> None:
        client = self.client

        async def show() -> None:
            try:
                fresh = await client.stat(node.uri)
            except ClientError as error:
                self.notify(error.message, title="Details", severity="error")
                return
            self.app.push_screen(DetailsScreen(f"VOSpace: {fresh.name}", node_fields(fresh)))

        self.run_worker(show(), name="vospace details", group="actions", exit_on_error=False)

    # ------------------------------------------------------------------ folder actions

    def _refuse_read_only(self) -> bool:
        if self.context.read_only:
            self.notify("Read-only mode: VOSpace changes are disabled.", severity="warning")
            return True
        return False

    def _loaded_names(self) -> dict[str, StorageNode]:
        if self.poller is None:
            return {}
        return {str(key): node for key, node in self.poller.rows.items()}

    def action_mkdir(self) -> None:
        if self.poller is None or self._refuse_read_only():
            return
        from canfar_tui.screens.vospace_dialogs import PromptScreen

        existing = self._loaded_names()
        folder = self.cwd

        def validate(name: str) -> str | None:
            problem = check_node_name(name)
            if problem is None and name in existing:
                problem = f"Already exists here: {name}"
            return problem

        def create(name: str | None) -> None:
            if not name:
                return
            self._select_after_load = name
            self.run_client_action(
                lambda: self.client.mkdir(f"{folder}/{name}"),
                done=f"Created folder {name}",
                description="New folder",
            )

        self.app.push_screen(
            PromptScreen(
                "New folder",
                f"In {folder}",
                placeholder="folder name",
                validate=validate,
            ),
            create,
        )

    def action_move(self) -> None:
        node: StorageNode | None = self.selected_item
        if node is None or self._refuse_read_only():
            return
        from canfar_tui.screens.vospace_dialogs import PromptScreen

        home = self.client.home_uri
        folder = self.cwd

        def validate(text: str) -> str | None:
            try:
                destination = resolve_destination(text, folder, home)
            except ValueError as error:
                return str(error)
            if destination == node.uri:
                return "That is where it already is"
            return None

        def move(text: str | None) -> None:
            if not text:
                return
            destination = resolve_destination(text, folder, home)
            if parent_uri(destination) == folder:
                self._select_after_load = destination.rsplit("/", 1)[-1]
            self.run_client_action(
                lambda: self.client.move(node.uri, destination),
                done=f"Moved {node.name} to {destination}",
                description="Rename/move",
            )

        self.app.push_screen(
            PromptScreen(
                f"Rename or move {node.name}",
                "A new name, a path relative to this folder (../other/name), a path from your "
                "home (/data/name) or a vos: URI. An existing folder receives the node.",
                value=node.name,
                validate=validate,
            ),
            move,
        )

    def action_delete(self) -> None:
        node: StorageNode | None = self.selected_item
        if node is None or self._refuse_read_only():
            return
        if node.is_container:
            self.confirm_then(
                "Delete folder",
                f"Delete the folder {node.uri} and everything in it? This cannot be undone.",
                lambda: self.run_client_action(
                    lambda: self.client.delete(node.uri, recursive=True),
                    done=f"Deleted folder {node.name}",
                    description="Delete folder",
                ),
                require_text=node.name,
            )
        else:
            size = human_size(node.size)
            self.confirm_then(
                "Delete file",
                f"Delete {node.uri} ({size})? This cannot be undone.",
                lambda: self.run_client_action(
                    lambda: self.client.delete(node.uri),
                    done=f"Deleted {node.name}",
                    description="Delete file",
                ),
            )

    def run_client_action(self, call: Callable[[], Any], *, done: str, description: str) -> None:
        """As in ResourceView, and the usage figure is refreshed afterwards."""

        async def then_usage() -> object:
            result = await call()
            self._refresh_usage()
            return result

        super().run_client_action(then_usage, done=done, description=description)

    # ------------------------------------------------------------------ transfers

    def action_upload(self) -> None:
        if self.poller is None or self._refuse_read_only():
            return
        from canfar_tui.screens.vospace_dialogs import UploadPickerScreen

        folder = self.cwd
        start = self.memory.get("upload_dir", Path.cwd())

        def picked(paths: list[Path] | None) -> None:
            if paths:
                self.memory.set("upload_dir", paths[0].parent)
                self.upload_files(paths, folder)

        self.app.push_screen(UploadPickerScreen(f"Upload to {folder}", start), picked)

    def upload_files(self, paths: Sequence[Path], folder: str) -> None:
        """Queue uploads of ``paths`` into ``folder`` (asking before replacing files)."""
        existing = self._loaded_names() if folder == self.cwd else {}
        clashes = [
            p.name for p in paths if p.name in existing and not existing[p.name].is_container
        ]
        blocked = [p.name for p in paths if p.name in existing and existing[p.name].is_container]
        for name in blocked:
            self.notify(f"A folder named {name} is already here; not uploaded.", severity="error")
        wanted = [p for p in paths if p.name not in blocked]
        if not wanted:
            return

        def queue() -> None:
            for path in wanted:
                self._queue_upload(path, f"{folder}/{path.name}")

        if clashes:
            shown = ", ".join(clashes[:5]) + (" …" if len(clashes) > 5 else "")
            self.confirm_then(
                "Replace files",
                f"Replace {len(clashes)} file(s) in {folder}: {shown}?",
                queue,
                confirm_label="Replace",
            )
        else:
            queue()

    def _queue_upload(self, path: Path, uri: str) -> TransferJob:
        client = self.client

        async def run(progress: ProgressCallback) -> str:
            node: StorageNode = await client.upload(path, uri, progress=progress)
            return _short_md5(node.md5)

        try:
            total: int | None = path.stat().st_size
        except OSError:
            total = None
        return self.transfers.add(
            TransferDirection.UPLOAD, path.name, str(path), uri, run, total=total
        )

    def action_download(self) -> None:
        node: StorageNode | None = self.selected_item
        if node is None:
            return
        from canfar_tui.screens.vospace_dialogs import PromptScreen

        start = self.memory.get("download_dir", Path.cwd())
        what = "the folder" if node.is_container else "the file"

        def chosen(text: str | None) -> None:
            if text is None:
                return
            folder = Path(text or ".").expanduser().resolve()
            self.memory.set("download_dir", folder)
            if node.is_container:
                self._queue_folder_download(node, folder)
            else:
                self._download_file_to(node, folder)

        self.app.push_screen(
            PromptScreen(
                f"Download {node.name}",
                f"Save {what} {node.uri} into the local folder:",
                value=str(start),
                validate=_check_local_folder,
            ),
            chosen,
        )

    def _download_file_to(self, node: StorageNode, folder: Path) -> None:
        target = folder / node.name
        if target.exists():

            def answered(confirmed: bool | None) -> None:
                if confirmed:
                    self._queue_download(node, target)

            from canfar_tui.screens.confirm import ConfirmScreen

            self.app.push_screen(
                ConfirmScreen(
                    "Replace local file",
                    f"{target} exists. Replace it with {node.uri}?",
                    confirm_label="Replace",
                ),
                answered,
            )
        else:
            self._queue_download(node, target)

    def _queue_download(self, node: StorageNode, target: Path) -> TransferJob:
        client = self.client

        async def run(progress: ProgressCallback) -> str:
            path = await client.download(node.uri, target, progress=progress)
            log.info("downloaded %s to %s", node.uri, path)
            return _short_md5(node.md5)

        return self.transfers.add(
            TransferDirection.DOWNLOAD, node.name, node.uri, str(target), run, total=node.size
        )

    def _queue_folder_download(self, folder_node: StorageNode, destination: Path) -> None:
        client = self.client

        async def walk() -> None:
            count = 0
            pending: list[tuple[str, Path]] = [(folder_node.uri, destination / folder_node.name)]
            try:
                while pending:
                    uri, local = pending.pop()
                    local.mkdir(parents=True, exist_ok=True)
                    start: str | None = None
                    while True:
                        page = list(
                            await client.list_nodes(uri, limit=self.PAGE_SIZE, start_after=start)
                        )
                        for child in page:
                            if child.is_container:
                                pending.append((child.uri, local / child.name))
                            elif not child.is_link:
                                self._queue_download(child, local / child.name)
                                count += 1
                        if len(page) < self.PAGE_SIZE:
                            break
                        start = page[-1].name
            except ClientError as error:
                self.notify(error.message, title="Download folder", severity="error")
            except OSError as error:
                self.notify(
                    f"Cannot create a local folder: {error.strerror or error}",
                    title="Download folder",
                    severity="error",
                )
            if count:
                self.notify(f"Queued {count} file(s) from {folder_node.name}", title="Download")
            else:
                self.notify(f"No file in {folder_node.name}", title="Download")

        self.run_worker(
            walk(), name="vospace folder download", group="actions", exit_on_error=False
        )

    def action_archive_fetch(self) -> None:
        from canfar_tui.clients.archive.base import SupportsExampleFiles
        from canfar_tui.screens.vospace_dialogs import ArchiveFetchScreen, ArchiveRequest

        archive = self.archive
        if archive is None:
            self.notify(self.context.clients.why_missing("archive"), severity="warning")
            return
        start = self.memory.get("download_dir", Path.cwd())
        examples = archive.example_uris() if isinstance(archive, SupportsExampleFiles) else []

        def chosen(request: ArchiveRequest | None) -> None:
            if request is not None:
                self.memory.set("download_dir", request.destination)
                self.fetch_from_archive(request.uri, request.destination)

        self.app.push_screen(ArchiveFetchScreen(start, examples=examples), chosen)

    def fetch_from_archive(self, uri: str, destination: Path) -> TransferJob:
        """Queue an archive download of ``uri`` into the local folder ``destination``."""
        from canfar_tui.clients.archive.base import parse_archive_uri

        archive = self.archive
        if archive is None:
            raise ClientError(self.context.clients.why_missing("archive"))
        name = parse_archive_uri(uri).file_name
        job_ref: list[TransferJob] = []

        async def run(progress: ProgressCallback) -> str:
            info = await archive.info(uri)
            if job_ref and info.size is not None:
                job_ref[0].total = info.size
            path = await archive.download(uri, destination, progress=progress)
            log.info("fetched %s to %s", uri, path)
            return _short_md5(info.md5)

        job = self.transfers.add(
            TransferDirection.DOWNLOAD, name, uri, str(destination / name), run, kind="archive"
        )
        job_ref.append(job)
        return job

    @on(TransfersPanel.Finished)
    def _transfer_finished(self, event: TransfersPanel.Finished) -> None:
        event.stop()
        job = event.job
        what = {"upload": "Upload", "download": "Download", "archive": "Archive fetch"}.get(
            job.kind, "Transfer"
        )
        if job.state is TransferState.DONE:
            self.notify(f"{job.name}: {job.message}", title=f"{what} done")
            if job.kind == "upload":
                self._refresh_usage()
                if parent_uri(job.destination) == self.cwd and self.poller is not None:
                    self.poller.refresh_now()
        elif job.state is TransferState.FAILED:
            self.notify(
                f"{job.name}: {job.message}", title=f"{what} failed", severity="error", timeout=12
            )
        else:
            self.notify(f"{job.name}: cancelled", title=what, severity="warning")

    def action_transfers(self) -> None:
        panel = self.transfers
        if panel.table.has_focus:
            self.focus_default()
        elif panel.display:
            panel.table.focus()
        else:
            self.notify("No transfer yet: u uploads, w downloads, a fetches from the archive.")

    def action_cancel_transfer(self) -> None:
        job = self.transfers.selected
        if job is None:
            self.notify("No transfer to cancel.", severity="warning")
            return
        if job.finished_state:
            self.notify(f"{job.name} has already {job.state.value.replace('done', 'finished')}.")
            return
        self.transfers.cancel(job.id)
        self.notify(f"Cancelling {job.name}…", title="Transfer")

    def action_clear_transfers(self) -> None:
        cleared = self.transfers.clear_finished()
        if not self.transfers.display:
            self.focus_default()
        self.notify(f"Cleared {cleared} finished transfer(s).")

    def _show_transfer(self, job_id: str) -> None:
        job = self.transfers.jobs.get(job_id)
        if job is None:
            return
        rows = [
            ("kind", job.kind),
            ("name", job.name),
            ("from", job.source),
            ("to", job.destination),
            ("state", job.state_text()),
            ("bytes", f"{job.done:,} of {job.total:,}" if job.total else f"{job.done:,}"),
        ]
        self.app.push_screen(DetailsScreen(f"Transfer {job.id}: {job.name}", rows))


def _check_local_folder(text: str) -> str | None:
    folder = Path(text or ".").expanduser()
    if not folder.is_dir():
        return f"No such local folder: {folder}"
    if not os.access(folder, os.W_OK):
        return f"Cannot write in {folder}"
    return None
