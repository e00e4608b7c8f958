"""``ResourceView``: the body of every resource tab.

A view owns a :class:`~canfar_tui.clients.refresh.Poller` over one client call and feeds its
keyed diffs to a :class:`~canfar_tui.widgets.resource_table.ResourceTable`. It shows a clear
state at all times:

* **unavailable** — the profile has no backend for this service (the reason is shown);
* **loading** — the first fetch is on its way;
* **empty** — the service answered with nothing;
* **error** — the first fetch failed (retrying with backoff);
* **ready** / **stale** — rows on screen; stale when the last refresh failed, keeping the last
  good rows and saying when they are from.

Subclasses declare ``AREA``, ``TITLE``, ``SERVICE``, ``COLUMNS`` and implement ``fetch`` and
``row``. Destructive actions are listed in ``DESTRUCTIVE_ACTIONS``: in read-only mode they are
disabled and hidden (``check_action`` returns False), and their methods refuse to run.

| key      | action                                             |
|----------|----------------------------------------------------|
| `/`      | filter rows: `text`, `column=value`, `!text`        |
| `escape` | clear the filter                                    |
| `r`      | refresh now                                         |
| `enter`  | details of the selected row                         |
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from canfar_tui.clients.base import AuthError, ClientError
from canfar_tui.clients.refresh import Diff, Poller
from canfar_tui.logs import get_logger
from canfar_tui.widgets.cells import set_text
from canfar_tui.widgets.resource_table import Column, ResourceTable

if TYPE_CHECKING:
    from canfar_tui.widgets.context import ViewContext

ViewState = Literal["unavailable", "loading", "empty", "error", "ready", "stale"]
VIEW_STATES: tuple[ViewState, ...] = ("unavailable", "loading", "empty", "error", "ready", "stale")

log = get_logger("views")

#: Errors stay on screen longer than information (a slow SSH link, a user looking away).
ERROR_NOTIFY_SECONDS = 12.0

#: Services that authenticate with the CADC proxy certificate: when one refuses it (expired),
#: the app offers to renew it and the view then fetches again, keeping its place.
CERTIFICATE_SERVICES = frozenset({"storage", "queue"})


@dataclass(frozen=True, slots=True)
class PreparedRows:
    """Table rows made from a diff, by key (see :meth:`ResourceView.prepare`)."""

    added: Mapping[Hashable, Sequence[object]]
    changed: Mapping[Hashable, Sequence[object]]


#: The filter box's placeholder: the syntax and the keys.
FILTER_PLACEHOLDER = "filter: text, column=value, !text   (enter: apply, escape: clear)"


class ResourceView(Vertical):
    """A tab body: state line, filter box and one ResourceTable fed by a Poller."""

    AREA: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    SERVICE: ClassVar[str] = "cloud"
    COLUMNS: ClassVar[Sequence[Column]] = ()
    DESTRUCTIVE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    EMPTY_TEXT: ClassVar[str] = "Nothing here yet."
    FAST_INTERVAL: ClassVar[float | None] = None
    #: Turn changed items into table rows in the Poller's digest, which runs in a worker
    #: thread for large results. Only for views whose :meth:`row` reads nothing but the item
    #: and plain attributes (it may run while the screen is being drawn).
    ROWS_OFF_THREAD: ClassVar[bool] = False
    #: Results of this many items or more are digested in a worker thread.
    THREAD_THRESHOLD: ClassVar[int] = 5_000

    BINDINGS = [
        Binding(
            "slash", "filter", "Filter", id="view.filter", tooltip="Filter: text, col=value, !text"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="view.clear_filter",
            show=False,
            tooltip="Remove the filter",
        ),
        Binding("r", "refresh", "Refresh", id="view.refresh", tooltip="Refresh this tab now"),
    ]

    class Refreshed(Message):
        """A refresh finished (``error`` is None on success)."""

        def __init__(self, view: ResourceView, error: ClientError | None) -> None:
            super().__init__()
            self.view = view
            self.error = error

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(id=id or f"view-{self.AREA}", classes="resource-view")
        self.context = context
        self.poller: Poller[Hashable, Any] | None = None
        self.state: ViewState = "loading"
        self.active = False
        self.last_refresh: datetime | None = None
        #: The first load, started before mounting (:meth:`start_first_load`).
        self._first_load: asyncio.Future[Any] | None = None

    # ------------------------------------------------------------------ for subclasses

    async def fetch(self) -> Iterable[Any]:
        """Ask the client for the rows of this view."""
        return self.present(await self.load())

    async def load(self) -> Any:
        """The client calls of one refresh, touching no widget (it may run before the view
        is mounted); :meth:`present` turns the answer into rows. Views override either
        this pair or :meth:`fetch`."""
        raise NotImplementedError

    def present(self, loaded: Any) -> Iterable[Any]:
        """The rows of what :meth:`load` returned (and what else the view keeps of it)."""
        result: Iterable[Any] = loaded
        return result

    def start_first_load(self) -> None:
        """Start the first :meth:`load` now, while the screen is still being built: when it
        is back by the time the view mounts, the first paint has the rows."""
        if self._first_load is None and self.client is not None and self._has_own_load():
            self._first_load = asyncio.ensure_future(self.load())

    def _has_own_load(self) -> bool:
        """True for views that split :meth:`fetch` into :meth:`load` and :meth:`present`."""
        return type(self).load is not ResourceView.load

    async def _poll_fetch(self) -> Iterable[Any]:
        first, self._first_load = self._first_load, None
        if first is not None:
            return self.present(await first)
        return await self.fetch()

    def _take_first_load(self) -> None:
        """Hand a first load that is already back to the poller (rows before the paint)."""
        first = self._first_load
        if self.poller is None or first is None or not first.done() or first.cancelled():
            return
        if first.exception() is not None:
            return  # the poller's first tick reports it
        self._first_load = None
        self.poller.seed(self.present(first.result()))

    def on_unmount(self) -> None:
        first, self._first_load = self._first_load, None
        if first is None:
            return
        if first.done() and not first.cancelled():
            first.exception()  # retrieved: a failure nobody will see is not logged at exit
        first.cancel()

    def row(self, item: Any) -> Sequence[object]:
        """The cells of one item, one per column."""
        raise NotImplementedError

    def item_key(self, item: Any) -> Hashable:
        key: Hashable = item.key
        return key

    def prepare(
        self,
        previous: Mapping[Hashable, Any],
        current: Mapping[Hashable, Any],
        diff: Diff[Hashable, Any],
    ) -> PreparedRows:
        """The table rows of a diff's added and changed items (see :attr:`ROWS_OFF_THREAD`)."""
        row = self.row
        return PreparedRows(
            {key: row(item) for key, item in diff.added.items()},
            {key: row(item) for key, item in diff.changed.items()},
        )

    def item_title(self, item: Any) -> str:
        return str(getattr(item, "name", None) or self.item_key(item))

    def wants_fast(self, items: Iterable[Any]) -> bool:
        """True to poll at FAST_INTERVAL (some row is changing state)."""
        return False

    # ------------------------------------------------------------------ helpers

    @property
    def client(self) -> Any:
        return getattr(self.context.clients, self.SERVICE)

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    @property
    def selected_item(self) -> Any | None:
        if self.poller is None:
            return None
        key = self.table.cursor_key
        return None if key is None else self.poller.rows.get(key)

    def compose(self) -> ComposeResult:
        # The filter box is mounted on the first ``/`` (:meth:`action_filter`), not here: a
        # hidden Input on every tab was a cost of the first paint.
        yield Static("", classes="view-status")
        yield Static("", classes="view-placeholder")
        yield ResourceTable(self.COLUMNS, classes="view-table")

    @property
    def filter_box(self) -> Input | None:
        """The filter box, once ``/`` has made it (None before)."""
        return next(iter(self.query(".view-filter").results(Input)), None)

    def on_mount(self) -> None:
        if self.client is None:
            self.set_state("unavailable", self.context.clients.why_missing(self.SERVICE))
            return
        self.poller = Poller(
            self._poll_fetch,
            self.item_key,
            interval=self.context.settings.refresh_interval(self.AREA),
            fast_interval=self.FAST_INTERVAL,
            wants_fast=self.wants_fast,
            on_diff=self._apply_diff,
            on_error=self._poll_failed,
            name=self.TITLE,
            prepare=self.prepare if self.ROWS_OFF_THREAD else None,
            thread_threshold=self.THREAD_THRESHOLD,
        )
        if not self.active:
            self.poller.pause()
        self.set_state("loading", f"Loading {self.TITLE.lower()}…")
        self._take_first_load()
        self.run_worker(
            self.poller.run(), name=f"poll-{self.AREA}", group="pollers", exit_on_error=False
        )

    def focus_default(self) -> None:
        """Focus what the keys of this tab act on: the table."""
        self.table.focus()

    def set_active(self, active: bool) -> None:
        """Called by the app when the tab is shown or hidden (or a modal covers it)."""
        self.active = active
        if self.poller is not None:
            if active:
                self.poller.resume()
            else:
                self.poller.pause()

    def set_state(self, state: ViewState, message: str = "") -> None:
        self.state = state
        placeholder = self.query_one(".view-placeholder", Static)
        # The state class goes on the two lines it colours, not on the view: a class change
        # restyles the node's whole subtree (the table and every panel of the tab).
        for line in (placeholder, self.query_one(".view-status", Static)):
            line.remove_class(*(f"state-{name}" for name in VIEW_STATES if name != state))
            line.add_class(f"state-{state}")
        table = self.table
        show_table = state in ("ready", "stale")
        table.display = show_table
        placeholder.display = not show_table
        set_text(placeholder, message)
        self._update_status(message if show_table else "")

    def _update_status(self, extra: str = "") -> None:
        table = self.table
        parts = [self.TITLE]
        if self.state in ("ready", "stale"):
            shown = table.visible_count
            total = table.row_count
            noun = "row" if total == 1 else "rows"
            parts.append(f"{total} {noun}" if shown == total else f"{shown} of {total} {noun}")
        if table.filter_text:
            parts.append(f"filter: {table.filter_text}")
        if table.sort_column:
            parts.append(f"sort: {table.sort_column} {'▼' if table.sort_reverse else '▲'}")
        if extra:
            parts.append(extra)
        set_text(self.query_one(".view-status", Static), " · ".join(parts))

    # ------------------------------------------------------------------ poller callbacks

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        prepared = diff.prepared
        if not isinstance(prepared, PreparedRows):
            prepared = ResourceView.prepare(self, {}, {}, diff)
        self.table.apply_diff(prepared.added, prepared.changed, diff.removed)
        self.last_refresh = self.context.now()
        if self.table.row_count == 0:
            self.set_state("empty", self.EMPTY_TEXT)
        else:
            self.set_state("ready")
        self.post_message(self.Refreshed(self, None))

    def _poll_failed(self, error: ClientError) -> None:
        assert self.poller is not None
        retry = self.poller.next_delay()
        log.warning("%s refresh failed: %s", self.TITLE, error.message)
        if error.details:
            log.info("%s details: %s", self.TITLE, error.details)
        if self.poller.loaded:
            when = self.last_refresh.strftime("%H:%M:%S") if self.last_refresh else "earlier"
            self.set_state(
                "stale", f"STALE: {error.message} (showing data from {when}; retry in {retry:g} s)"
            )
        else:
            self.set_state(
                "error", f"{error.title}: {error.message}\nRetrying in {retry:g} s (r: retry now)"
            )
        if self.poller.failures == 1:
            self.notify(
                error.message,
                title=f"{self.TITLE}: {error.title}",
                severity="error",
                timeout=ERROR_NOTIFY_SECONDS,
            )
            if isinstance(error, AuthError) and self.SERVICE in CERTIFICATE_SERVICES:
                self.context.navigation.offer_renewal(error, self.poller.refresh_now)
        self.post_message(self.Refreshed(self, error))

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.DESTRUCTIVE_ACTIONS and self.context.read_only)

    def action_filter(self) -> None:
        if self.poller is None:
            return
        box = self.filter_box
        if box is None:
            box = Input(placeholder=FILTER_PLACEHOLDER, classes="view-filter")
            self.mount(box, after=self.query_one(".view-status"))
        box.value = self.table.filter_text
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        if box is not None:
            box.display = False
        if self.table.filter_text:
            self.table.set_filter("")
            self._update_status()
        self.table.focus()

    def action_refresh(self) -> None:
        if self.poller is not None:
            self.poller.refresh_now()

    @on(Input.Submitted, ".view-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.table.set_filter(event.value.strip())
        except ValueError as error:
            self.notify(str(error), title="Filter", severity="warning")
            return
        event.input.display = False
        self.table.focus()
        self._update_status()

    def on_key(self, event: Any) -> None:
        box = self.filter_box
        if event.key == "escape" and box is not None and box.has_focus:
            event.stop()
            self.action_clear_filter()

    @on(ResourceTable.RowSelected)
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        if self.poller is None:
            return
        item = self.poller.rows.get(event.key)
        if item is not None:
            from canfar_tui.screens.details import DetailsScreen, fields_of

            self.app.push_screen(
                DetailsScreen(
                    f"{self.TITLE[:-1] if self.TITLE.endswith('s') else self.TITLE}: "
                    f"{self.item_title(item)}",
                    fields_of(item),
                )
            )

    def run_client_action(
        self,
        call: Callable[[], Awaitable[object]],
        *,
        done: str,
        description: str,
    ) -> None:
        """Run one client call in a worker; success and failure each become one line."""

        async def work() -> None:
            try:
                await call()
            except ClientError as error:
                log.warning("%s failed: %s", description, error.message)
                self.notify(error.message, title=f"{description} failed", severity="error")
                return
            self.notify(done, title=description)
            if self.poller is not None:
                self.poller.refresh_now()

        self.run_worker(work(), name=description, group="actions", exit_on_error=False)

    def confirm_then(
        self,
        title: str,
        message: str,
        then: Callable[[], None],
        *,
        confirm_label: str = "Delete",
        require_text: str | None = None,
    ) -> None:
        """Push the confirmation modal and call ``then`` only on an explicit yes."""
        if self.context.read_only:
            self.notify("Read-only mode: destructive actions are disabled.", severity="warning")
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                then()

        from canfar_tui.screens.confirm import ConfirmScreen

        self.app.push_screen(
            ConfirmScreen(title, message, confirm_label=confirm_label, require_text=require_text),
            answered,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.context.report_error(event.worker.error, context=event.worker.name)
