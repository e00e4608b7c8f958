"""The Queue tab: the HTCondor queue like ``condor_q`` and ``condor_watch_q``, and submission.

Three views of the profile's :class:`~canfar_tui.clients.base.QueueClient`, each its own
sortable, filterable table:

* **batches** (the default, like ``condor_q``): OWNER, BATCH_NAME, SUBMITTED, DONE, RUN, IDLE,
  HOLD, TOTAL, a progress bar (``█`` done, ``▓`` running, ``!`` held, ``░`` idle) and JOB_IDS.
  Batches that left the queue stay visible from the history (``SupportsHistory``) as
  *complete*, so a finished batch does not simply vanish;
* **jobs** (``condor_q -nobatch``): ID, OWNER, BATCH_NAME, SUBMITTED, RUN_TIME, ST, CMD, the
  jobs in the queue followed by the recently finished ones (ST ``C`` completed, ``X``
  removed);
* **held** (``condor_q -hold``): ID, OWNER, BATCH_NAME, SUBMITTED, HOLD_REASON.

Under the table a totals line like condor_watch_q's ("4 jobs; 2 completed, 0 removed, 1 idle,
1 running, 0 held"; the time of the last refresh is in the header). Besides the periodic full
query (``[refresh] queue`` seconds), the tab follows the job event log (``events_since``) a
few times a second: an event (a job started, ended, was held…) triggers a refresh at once, a
job going on hold and a batch completing are notified even when another tab is shown.

Hold, release and remove act on the selected job, or on every job of the selected batch that
is still in the queue; hold and remove ask for a reason, remove asks for confirmation.
Read-only mode hides hold, release, remove and submit. Whose jobs it shows first follows the
pool's ``CONDOR_Q_ONLY_MY_JOBS`` (``SupportsQueueDefaults``), as plain ``condor_q`` does: on
CANFAR's batch host that is everyone's; the status line says so until ``a`` changes it.

| key     | action                                                      |
|---------|-------------------------------------------------------------|
| `a`     | all users / only mine (``condor_q -allusers``); starts as this pool's condor_q |
| `n`     | one row per job / per batch (``-nobatch``)                   |
| `H`     | held jobs and their reasons (``-hold``) / back               |
| `enter` | on a batch: its jobs; on a job: its details                  |
| `escape`| clear the filter; without one, back to the batches           |
| `i`     | details of the job (ClassAd, why idle, hold reason)          |
| `o`     | the job's output (a batch: its first job), followed live     |
| `h`     | hold the job or batch (asks a reason)                        |
| `u`     | release the job or batch                                     |
| `d`     | remove the job or batch (asks a reason, then confirmation)   |
| `b`     | submit a batch: file, snapshot, flavor, preview, lint        |
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from canfar_tui.clients.base import ClientError, SupportsHistory, SupportsQueueDefaults
from canfar_tui.clients.refresh import Diff
from canfar_tui.logs import get_logger
from canfar_tui.models import (
    Batch,
    Job,
    JobEvent,
    JobEventKind,
    JobId,
    JobStatus,
    SubmitResult,
)
from canfar_tui.widgets.cells import set_text
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.queue.rows import (
    BAR_WIDTH,
    FINISHED,
    NO_COUNTS,
    BatchRow,
    Counts,
    QueueTally,
    batch_names,
    id_order,
    jobs_and_history,
    merge_batches,
    row_maker,
    tally_queue,
)
from canfar_tui.widgets.resource_table import Column, ResourceTable
from canfar_tui.widgets.resource_view import (
    ERROR_NOTIFY_SECONDS,
    PreparedRows,
    ResourceView,
    ViewState,
)

__all__ = [
    "BATCH_COLUMNS",
    "HELD_COLUMNS",
    "JOB_COLUMNS",
    "QueueDigest",
    "QueueMode",
    "QueueView",
]

log = get_logger("queue")

QueueMode = Literal["batches", "jobs", "held"]
MODES: Final[tuple[QueueMode, ...]] = ("batches", "jobs", "held")

#: Finished jobs asked from the history for the "complete" batches and finished jobs.
HISTORY_LIMIT: Final = 500
#: Seconds between two reads of the job events while the tab is shown / hidden.
EVENT_INTERVAL: Final = 0.25
EVENT_INTERVAL_HIDDEN: Final = 1.0
#: Seconds between two repaints of RUN_TIME of the running jobs on screen / of all of them.
RUN_TIME_TICK: Final = 5.0
RUN_TIME_TICK_OFF_SCREEN: Final = 60.0
#: More jobs going on hold at once than this make one notification, not one each.
HOLD_NOTIFICATIONS: Final = 3
#: Jobs from which a fetch's merging is done in a worker thread (not on the screen's).
LARGE_QUEUE: Final = 5_000

_MODE_LABELS: Final = {
    "batches": "batches",
    "jobs": "jobs (-nobatch)",
    "held": "held jobs (-hold)",
}

#: The first column of every view: ✓ on the rows marked for a bulk hold/release/remove.
MARK_COLUMN: Final = Column("mark", "", width=1)
#: The counts up to TOTAL come before SUBMITTED (condor_q's order is OWNER BATCH_NAME SUBMITTED
#: DONE…) and long batch names are cut, so that TOTAL shows at 80 columns.
BATCH_COLUMNS: Final = (
    MARK_COLUMN,
    Column("owner", "OWNER"),
    Column("batch", "BATCH_NAME", width=18),
    Column("done", "DONE", justify="right"),
    Column("run", "RUN", justify="right"),
    Column("idle", "IDLE", justify="right"),
    Column("hold", "HOLD", justify="right"),
    Column("total", "TOTAL", justify="right"),
    Column("submitted", "SUBMITTED"),
    Column("progress", "PROGRESS", width=BAR_WIDTH + 9),
    Column("job_ids", "JOB_IDS"),
)
JOB_COLUMNS: Final = (
    MARK_COLUMN,
    Column("id", "ID", justify="right"),
    Column("owner", "OWNER"),
    Column("batch", "BATCH_NAME"),
    Column("submitted", "SUBMITTED"),
    Column("run_time", "RUN_TIME", justify="right"),
    Column("st", "ST", width=2),
    Column("cmd", "CMD"),
)
HELD_COLUMNS: Final = (
    MARK_COLUMN,
    Column("id", "ID", justify="right"),
    Column("owner", "OWNER"),
    Column("batch", "BATCH_NAME"),
    Column("submitted", "SUBMITTED"),
    Column("reason", "HOLD_REASON"),
)
_COLUMNS_BY_MODE: Final = {"batches": BATCH_COLUMNS, "jobs": JOB_COLUMNS, "held": HELD_COLUMNS}


# --------------------------------------------------------------------------- digests


@dataclass(frozen=True, slots=True)
class QueueDigest(PreparedRows):
    """A refresh digested off the screen's thread: rows, totals, running jobs, batch names."""

    tally: QueueTally | None = None
    names: Mapping[int, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the view


class QueueView(ResourceView, can_focus=True):
    """The HTCondor queue: batches, jobs or held jobs; live; hold/release/remove; submit.

    | key     | action                                                    |
    |---------|-----------------------------------------------------------|
    | `a`     | all users / only mine; starts as this pool's condor_q      |
    | `n`     | one row per job / per batch (``-nobatch``)                 |
    | `H`     | held jobs and their reasons (``-hold``) / back             |
    | `enter` | on a batch: its jobs; on a job: its details                |
    | `escape`| clear the filter; without one, back to the batches         |
    | `i`     | details of the job (ClassAd, why idle, hold reason)        |
    | `o`     | the job's output, followed live                            |
    | `h`     | hold (asks a reason)                                       |
    | `u`     | release                                                    |
    | `d`     | remove (asks a reason, then confirmation)                  |
    | `space` | mark / unmark the row: h, u, d then act on all marked rows  |
    | `t`     | trace the batch: snapshot, flavor, instance, jobs, outputs |
    | `E`     | edit a held (or idle) job's arguments, requests…; release it |
    | `b`     | submit a batch (file, snapshot, flavor, preview, lint)     |
    """

    AREA = "queue"
    TITLE = "Queue"
    SERVICE = "queue"
    COLUMNS = BATCH_COLUMNS
    EMPTY_TEXT = "No job in the queue. Press b to submit a batch."
    ROWS_OFF_THREAD = True
    #: A batch row holds its job ids: 1 000 batches weigh like 100 000 jobs.
    THREAD_THRESHOLD = 500
    #: State-changing actions: hidden in read-only mode (remove is also confirmed).
    DESTRUCTIVE_ACTIONS = frozenset({"hold", "release", "remove", "submit", "edit_job"})
    #: Actions that need a queue backend (hidden when the profile has none).
    _NEEDS_QUEUE: ClassVar[frozenset[str]] = frozenset(
        {
            "hold",
            "release",
            "remove",
            "submit",
            "details",
            "output",
            "jobs_view",
            "held_view",
            "trace",
            "edit_job",
        }
    )
    BINDINGS = [
        Binding(
            "b",
            "submit",
            "Submit",
            id="queue.submit",
            tooltip="Submit a batch: file, snapshot, flavor, preview and lint",
        ),
        Binding(
            "a",
            "toggle_all_users",
            "All users",
            id="queue.all_users",
            tooltip="Show every user's jobs, or only yours (starts as this pool's condor_q)",
        ),
        Binding(
            "n",
            "jobs_view",
            "Jobs",
            id="queue.nobatch",
            tooltip="One row per job (condor_q -nobatch), or per batch",
        ),
        Binding("h", "hold", "Hold", id="queue.hold", tooltip="Hold the job or batch (a reason)"),
        Binding("u", "release", "Release", id="queue.release", tooltip="Release the job or batch"),
        Binding(
            "d",
            "remove",
            "Remove",
            id="queue.remove",
            tooltip="Remove the job or batch (asks first)",
        ),
        Binding(
            "o",
            "output",
            "Output",
            id="queue.output",
            tooltip="The job's output, error and log files, followed live",
        ),
        Binding(
            "E",
            "edit_job",
            "Edit",
            id="queue.edit",
            tooltip="Edit a held job (arguments, requests…) and release it (condor_qedit)",
            show=False,
        ),
        Binding(
            "t",
            "trace",
            "Trace",
            id="queue.trace",
            tooltip="The batch's snapshot, flavor, instance, jobs and outputs, with links",
            show=False,
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="queue.mark",
            tooltip="Mark or unmark the row: h, u and d then act on every marked row",
            show=False,
        ),
        Binding(
            "H",
            "held_view",
            "Held",
            id="queue.held",
            tooltip="Held jobs and their hold reasons (condor_q -hold)",
            show=False,
        ),
        Binding(
            "i",
            "details",
            "Details",
            id="queue.details",
            tooltip="The job's ClassAd, why it is idle, its hold reason",
            show=False,
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.all_users = False
        #: The pool's default scope was asked for; the user chose one with ``a``.
        self._scope_asked = self._scope_chosen = False
        self._scope_note = ""
        self.mode: QueueMode = "batches"
        self._fetching_mode: QueueMode = "batches"
        self._refresh_pending = False
        #: Keys of the running jobs shown (their RUN_TIME is repainted on every refresh).
        self._running_keys: frozenset[Hashable] = frozenset()
        #: Keys of the rows marked for a bulk action (batches, or jobs "cluster.proc").
        self.marked: set[Hashable] = set()
        #: Totals and running jobs of the Poller's last rows (made and read by prepare()).
        self._tally: QueueTally | None = None
        #: When the running rows on screen / all running rows last had RUN_TIME repainted.
        self._ticked_screen = 0.0
        self._ticked_all = 0.0
        self._totals: Counts = NO_COUNTS
        self._cluster_names: dict[int, str] = {}
        #: Clusters that had a job end since the last completion check.
        self._finishing: set[int] = set()
        #: Jobs this view just acted on (their events are not notified again).
        self._own_action: set[JobId] = set()
        self._jump: SubmitResult | None = None
        self._jump_tries = 0
        self._submit_dir: Path | None = None
        self._remove_reason = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", classes="view-status")
        yield Static("", classes="view-placeholder")
        for mode in MODES:
            yield ResourceTable(
                _COLUMNS_BY_MODE[mode], classes="view-table", id=f"queue-table-{mode}"
            )
        yield Static("", id="queue-totals")

    @property
    def table(self) -> ResourceTable:
        return self.query_one(f"#queue-table-{self.mode}", ResourceTable)

    def on_mount(self) -> None:
        for mode in MODES:
            if mode != self.mode:
                self.query_one(f"#queue-table-{mode}", ResourceTable).display = False
        super().on_mount()
        if self.client is not None:
            self.run_worker(
                self._follow_events(),
                name="queue-events",
                group="queue-events",
                exit_on_error=False,
            )

    def set_state(self, state: ViewState, message: str = "") -> None:
        super().set_state(state, message)
        for mode in MODES:
            if mode != self.mode:
                self.query_one(f"#queue-table-{mode}", ResourceTable).display = False
        totals = self.query_one("#queue-totals", Static)
        totals.display = state in ("ready", "stale", "empty")
        self._show_totals()
        if self.active and state != "unavailable":
            self._keep_focus()

    def _keep_focus(self) -> None:
        """Keep the keys of this tab working while its table is hidden (loading, empty)."""
        if self.context.navigation.active_tab_id != self.AREA:
            return  # another tab is being shown: focusing here would switch back
        focused = self.app.focused
        mine = focused is None or focused is self or isinstance(focused, ResourceTable)
        if not mine:
            return  # the filter box, or another screen's widget
        if self.table.display:
            if focused is not self.table:
                self.table.focus()
        elif focused is not self:
            self.focus()

    def focus_default(self) -> None:
        if self.table.display or self.state == "unavailable":
            self.table.focus()
        else:
            self.focus()

    def _update_status(self, extra: str = "") -> None:
        if self.state == "unavailable":
            super()._update_status(extra)
            return
        scope = ("all users" if self.all_users else "mine") + self._scope_note
        label = f"{_MODE_LABELS[self.mode]}, {scope}"
        if self.marked:
            label += f" · {len(self.marked)} marked (h/u/d act on them)"
        super()._update_status(f"{label} · {extra}" if extra else label)

    def _show_totals(self) -> None:
        total, completed, removed, idle, running, held = self._totals
        if self.mode == "held":
            text = f"{held} held job{'s' if held != 1 else ''}"
        else:
            text = (
                f"{total} job{'s' if total != 1 else ''}; {completed} completed, "
                f"{removed} removed, {idle} idle, {running} running, {held} held"
            )
        set_text(self.query_one("#queue-totals", Static), text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        return not (action in self._NEEDS_QUEUE and self.context.clients.queue is None)

    # ------------------------------------------------------------------ data

    async def fetch(self) -> Iterable[Any]:
        mode = self._fetching_mode = self.mode
        client = self.client
        if not self._scope_asked and isinstance(client, SupportsQueueDefaults):
            self._scope_asked = True  # condor_q's default here: CONDOR_Q_ONLY_MY_JOBS
            with contextlib.suppress(ClientError):
                everyone = await client.all_users_by_default()
                if not self._scope_chosen:
                    self.all_users = everyone
                    self._scope_note = " (as condor_q here)"
        # The queue first, then the history: a job finishing in between shows up in both
        # (the queue's row wins) instead of in neither.
        if mode == "batches":
            batches: Sequence[Batch] = await client.list_batches(all_users=self.all_users)
            history = await self._history()
            if len(batches) < self.THREAD_THRESHOLD:
                return merge_batches(batches, history)
            return await asyncio.to_thread(merge_batches, batches, history)
        jobs: Sequence[Job] = await client.list_jobs(all_users=self.all_users)
        if mode == "held":
            return [job for job in jobs if job.status is JobStatus.HELD]
        history = await self._history()
        if len(jobs) < LARGE_QUEUE:
            return jobs_and_history(jobs, history)
        return await asyncio.to_thread(jobs_and_history, jobs, history)

    async def _history(self) -> Sequence[Job]:
        client = self.client
        if not isinstance(client, SupportsHistory):
            return ()
        return await client.history(limit=HISTORY_LIMIT, all_users=self.all_users)

    def item_key(self, item: Any) -> Hashable:
        key: Hashable = item.key
        return key

    def item_title(self, item: Any) -> str:
        if isinstance(item, BatchRow):
            return item.batch.name
        return f"job {item.id}"

    def row(self, item: Any) -> Sequence[object]:
        return self._row_maker(datetime.now(UTC))(item)

    def _row_maker(self, now: datetime) -> Callable[[Any], tuple[object, ...]]:
        """A function making rows for the current mode, RUN_TIME counted up to ``now``."""
        return row_maker(held_view=self.mode == "held", marked=self.marked, now=now)

    def prepare(
        self,
        previous: Mapping[Hashable, Any],
        current: Mapping[Hashable, Any],
        diff: Diff[Hashable, Any],
    ) -> QueueDigest:
        """Rows, totals, running jobs and batch names of a refresh (in a worker thread when
        the queue is large: see :attr:`ResourceView.ROWS_OFF_THREAD`)."""
        make = self._row_maker(datetime.now(UTC))
        added = {key: make(item) for key, item in diff.added.items()}
        changed = {key: make(item) for key, item in diff.changed.items()}
        tally = tally_queue(self._tally, previous, current, diff)
        self._tally = tally  # the next digest starts from it (digests never overlap)
        names = batch_names([*diff.added.values(), *diff.changed.values()])
        return QueueDigest(added, changed, tally, names)

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        if self._fetching_mode != self.mode:
            # Fetched for the view shown before a switch: forget it and fetch again.
            if self.poller is not None:
                self.poller.reset()
            self._refresh_pending = True
            return
        digest = diff.prepared
        if not isinstance(digest, QueueDigest) or digest.tally is None:
            # Not digested by the Poller (a diff made by hand): count everything afresh.
            self._tally = None
            digest = self.prepare({}, self.poller.rows if self.poller is not None else {}, diff)
        assert digest.tally is not None
        if self.marked:  # forget marked rows that left the view
            rows = self.poller.rows if self.poller is not None else {}
            self.marked = {key for key in self.marked if key in rows}
        self._totals = digest.tally.totals
        self._running_keys = digest.tally.running
        for cluster, name in digest.names.items():
            self._cluster_names.setdefault(cluster, name)
        super()._apply_diff(replace(diff, prepared=digest))
        self._tick_run_times(diff)
        self._jump_to_new_batch()

    def _tick_run_times(self, diff: Diff[Hashable, Any]) -> None:
        """RUN_TIME grows while a job runs: repaint the running rows the diff left alone.

        Every repaint costs bytes over SSH and time on a 100 000-job queue, so the rows on
        screen are brought up to date every :data:`RUN_TIME_TICK` seconds and the others
        every :data:`RUN_TIME_TICK_OFF_SCREEN` seconds (sorting by RUN_TIME uses those values).
        """
        if self.mode != "jobs" or self.poller is None or not self._running_keys:
            return
        now = time.monotonic()
        if now - self._ticked_all >= RUN_TIME_TICK_OFF_SCREEN:
            self._ticked_all = self._ticked_screen = now
            candidates: Iterable[Hashable] = self._running_keys
        elif now - self._ticked_screen >= RUN_TIME_TICK:
            self._ticked_screen = now
            running = self._running_keys
            candidates = [key for key in self.table.keys_on_screen() if key in running]
        else:
            return
        rows = self.poller.rows
        make = self._row_maker(datetime.now(UTC))
        stale = {
            key: make(rows[key])
            for key in candidates
            if key in rows and key not in diff.changed and key not in diff.added
        }
        if stale:
            self.table.apply_diff({}, stale, ())

    def _jump_to_new_batch(self) -> None:
        jump = self._jump
        if jump is None or self.mode != "batches" or self.poller is None:
            return
        self._jump_tries += 1
        rows = self.poller.rows
        found = next(
            (
                key
                for key, item in rows.items()
                if any(job_id.cluster == jump.cluster for job_id in item.batch.job_ids)
            ),
            None,
        )
        if found is None and not self.all_users:
            found = next(
                (key for key, item in rows.items() if item.batch.name == jump.batch_name), None
            )
        if found is not None:
            self.table.move_cursor_to_key(found)
            self._jump = None
            return
        if self._jump_tries > 20:
            self._jump = None

    # ------------------------------------------------------------------ modes

    def set_mode(self, mode: QueueMode) -> None:
        """Show ``mode``'s table and fetch its rows."""
        if mode == self.mode:
            return
        self.mode = mode
        for other in MODES:
            self.query_one(f"#queue-table-{other}", ResourceTable).display = False
        self.table.replace_all({})
        self._running_keys = frozenset()
        self.marked.clear()
        self._totals = NO_COUNTS
        if self.poller is not None:
            self.poller.reset()
            self.set_state("loading", f"Loading {_MODE_LABELS[mode]}…")
        self._refresh_pending = True

    def action_toggle_all_users(self) -> None:
        self.all_users = not self.all_users
        self._scope_chosen, self._scope_note = True, ""
        self.notify("Showing every user's jobs" if self.all_users else "Showing your jobs")
        self._update_status()
        self.request_refresh()
        if self.poller is not None:
            self.poller.refresh_now()

    def action_clear_filter(self) -> None:
        """``escape``: clear the filter; with none, go back from jobs/held to the batches."""
        box = self.filter_box
        typing = box is not None and box.display
        had_filter = bool(self.table.filter_text)
        super().action_clear_filter()
        if not typing and not had_filter and self.mode != "batches":
            self.set_mode("batches")

    def action_jobs_view(self) -> None:
        self.set_mode("jobs" if self.mode != "jobs" else "batches")

    def action_held_view(self) -> None:
        self.set_mode("held" if self.mode != "held" else "batches")

    @on(ResourceTable.RowSelected)
    def _queue_row_selected(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # not the generic details screen
        if self.poller is None:
            return
        item = self.poller.rows.get(event.key)
        if isinstance(item, BatchRow):
            name = item.batch.name.replace('"', "")
            self.set_mode("jobs")
            self.table.set_filter(f'batch="{name}"')
            self._update_status()
        elif isinstance(item, Job):
            self.open_job("summary")

    # ------------------------------------------------------------------ live updates

    def request_refresh(self) -> None:
        """Refresh as soon as no fetch is in flight (a fetch already running may be stale)."""
        self._refresh_pending = True

    async def _follow_events(self) -> None:
        """Follow the job event log; an event triggers a refresh and maybe a notification."""
        cursor: object | None = None
        failures = 0
        while True:
            client = self.client
            try:
                events, cursor = await client.events_since(cursor)
                failures = 0
            except ClientError as error:
                failures += 1
                if failures == 1:
                    log.warning("queue events: %s", error.message)
                if not error.transient:
                    cursor = None  # e.g. a cursor the backend no longer knows: start afresh
                await asyncio.sleep(min(30.0, EVENT_INTERVAL * 2**failures))
                continue
            if events:
                self._on_events(events)
            if self._finishing:
                await self._check_completed()
            poller = self.poller
            if self._refresh_pending and poller is not None and not poller.in_flight:
                self._refresh_pending = False
                poller.refresh_now()
            await asyncio.sleep(EVENT_INTERVAL if self.active else EVENT_INTERVAL_HIDDEN)

    def _on_events(self, events: Sequence[JobEvent]) -> None:
        self._refresh_pending = True
        held: list[JobEvent] = []
        for event in events:
            if event.kind is JobEventKind.HELD and event.job_id not in self._own_action:
                held.append(event)
            if event.kind in (JobEventKind.TERMINATED, JobEventKind.ABORTED):
                self._finishing.add(event.job_id.cluster)
        self._own_action.difference_update(event.job_id for event in events)
        if len(held) > HOLD_NOTIFICATIONS:
            # A burst (e.g. a periodic_hold policy): one notification, not hundreds.
            reasons = Counter(event.text or "no reason given" for event in held)
            reason, count = reasons.most_common(1)[0]
            others = len(reasons) - 1
            also = f" (and {others} other reason{'s' if others > 1 else ''})" if others else ""
            self.notify(
                f"{len(held)} jobs went on hold; {count} of them: {reason}{also}. "
                "H lists them with their reasons.",
                title="Queue",
                severity="warning",
                timeout=ERROR_NOTIFY_SECONDS,
            )
            return
        for event in held:
            reason = f": {event.text}" if event.text else ""
            self.notify(
                f"Job {event.job_id} is on hold{reason}",
                title="Queue",
                severity="warning",
                timeout=ERROR_NOTIFY_SECONDS,
            )

    async def _check_completed(self) -> None:
        """Notify the clusters whose last job just left the queue."""
        try:
            batches: Sequence[Batch] = await self.client.list_batches(all_users=False)
        except ClientError:
            return  # the next event or refresh tries again
        in_queue = {job_id.cluster for batch in batches for job_id in batch.job_ids}
        for cluster in sorted(self._finishing - in_queue):
            name = self._cluster_names.get(cluster, f"ID: {cluster}")
            self.notify(f"Batch {name} is complete.", title="Queue")
        self._finishing &= in_queue

    # ------------------------------------------------------------------ actions

    def _target(self) -> tuple[list[JobId], str] | None:
        """The jobs an action applies to: the marked rows' jobs, else the selected job or
        batch (a batch: its jobs still in the queue)."""
        if self.marked:
            return self._marked_target()
        item = self.selected_item
        if item is None:
            self.notify("Select a job or a batch first.", severity="warning")
            return None
        if isinstance(item, BatchRow):
            ids = list(item.batch.job_ids) if item.in_queue else []
            if not ids:
                self.notify(f"Batch {item.batch.name} has no job left in the queue.")
                return None
            plural = "s" if len(ids) != 1 else ""
            return ids, f"batch {item.batch.name} ({len(ids)} job{plural})"
        job: Job = item
        if job.status in FINISHED:
            self.notify(f"Job {job.id} has left the queue ({job.status.name.lower()}).")
            return None
        return [job.id], f"job {job.id}"

    def _marked_target(self) -> tuple[list[JobId], str] | None:
        rows = self.poller.rows if self.poller is not None else {}
        ids: list[JobId] = []
        for key in sorted(self.marked, key=str):
            item = rows.get(key)
            if isinstance(item, BatchRow):
                ids.extend(item.batch.job_ids if item.in_queue else ())
            elif isinstance(item, Job) and item.status not in FINISHED:
                ids.append(item.id)
        rows_text = f"{len(self.marked)} marked row{'s' if len(self.marked) != 1 else ''}"
        if not ids:
            self.notify(f"No job of the {rows_text} is left in the queue.")
            return None
        return sorted(set(ids), key=id_order), f"{rows_text} ({len(set(ids))} jobs)"

    # ------------------------------------------------------------------ marking

    def action_toggle_mark(self) -> None:
        """``space``: mark or unmark the row for a bulk hold/release/remove."""
        item = self.selected_item
        if item is None or self.poller is None:
            return
        key = self.item_key(item)
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        self._repaint_rows([key])
        self.table.action_cursor_down()
        self._update_status()

    def action_clear_marks(self) -> None:
        keys = list(self.marked)
        self.marked.clear()
        self._repaint_rows(keys)
        self._update_status()

    def _repaint_rows(self, keys: Iterable[Hashable]) -> None:
        if self.poller is None:
            return
        rows = self.poller.rows
        make = self._row_maker(datetime.now(UTC))
        self.table.apply_diff({}, {key: make(rows[key]) for key in keys if key in rows}, ())

    def action_hold(self) -> None:
        if self.context.read_only:
            return
        target = self._target()
        if target is None:
            return
        ids, label = target
        from canfar_tui.screens.job_detail import JobReasonScreen

        def answered(reason: str | None) -> None:
            if reason is not None:
                self._act("hold", ids, reason, label)

        self.app.push_screen(
            JobReasonScreen(
                f"Hold {label}",
                "Held jobs stay in the queue and do not run until released (u); a running "
                "job is stopped and starts again from the beginning when released.",
                action_label="Hold",
            ),
            answered,
        )

    def action_release(self) -> None:
        if self.context.read_only:
            return
        target = self._target()
        if target is not None:
            ids, label = target
            self._act("release", ids, "", label)

    def action_remove(self) -> None:
        if self.context.read_only:
            return
        target = self._target()
        if target is None:
            return
        ids, label = target
        from canfar_tui.screens.job_detail import JobReasonScreen

        def confirmed() -> None:
            self._act("remove", ids, self._remove_reason, label)

        def answered(reason: str | None) -> None:
            if reason is None:
                return
            self._remove_reason = reason
            because = f" Reason: {reason}." if reason else ""
            self.confirm_then(
                "Remove jobs",
                f"Remove {label}? Running jobs are stopped and removed jobs leave the queue: "
                f"they cannot be released, only submitted again.{because}",
                confirmed,
                confirm_label="Remove",
            )

        self.app.push_screen(
            JobReasonScreen(
                f"Remove {label}",
                "Why (optional, recorded with the jobs)? You confirm on the next screen.",
                action_label="Next",
            ),
            answered,
        )

    def _act(self, action: str, ids: list[JobId], reason: str, label: str) -> None:
        """Hold, release or remove ``ids`` in a worker; one line for the outcome."""
        client = self.client
        self._own_action.update(ids)
        if self.marked:  # the marks were for this action
            self.action_clear_marks()

        async def work() -> None:
            try:
                if action == "hold":
                    changed = await client.hold(ids, reason)
                elif action == "release":
                    changed = await client.release(ids)
                else:
                    changed = await client.remove(ids, reason)
            except ClientError as error:
                self._own_action.difference_update(ids)
                self.notify(
                    error.message,
                    title=f"{action.capitalize()} failed",
                    severity="error",
                    timeout=ERROR_NOTIFY_SECONDS,
                )
                return
            verb = {"hold": "Held", "release": "Released", "remove": "Removed"}[action]
            if changed:
                of = f" of {len(ids)}" if changed != len(ids) else ""
                plural = "s" if changed != 1 else ""
                self.notify(f"{verb} {changed}{of} job{plural} of {label}", title="Queue")
            else:
                state = {"hold": "held", "release": "held", "remove": "in the queue"}[action]
                self.notify(
                    f"Nothing to {action}: no job of {label} is "
                    f"{'not ' if action == 'hold' else ''}{state}.",
                    severity="warning",
                )
            self.request_refresh()

        self.run_worker(work(), name=f"queue-{action}", group="actions", exit_on_error=False)

    def action_edit_job(self) -> None:
        if self.context.read_only:
            return
        item = self.selected_item
        if not isinstance(item, Job):
            self.notify("Select a job (n: one row per job) to edit it.", severity="warning")
            return
        from canfar_tui.screens.job_edit import open_job_edit  # on first use only

        def done(saved: bool) -> None:
            if saved:  # an edit without a release writes no job event: look again now
                self.request_refresh()

        open_job_edit(self.app, item, on_done=done)

    def action_trace(self) -> None:
        from canfar_tui.screens.trace import trace_selected_batch  # on first use only

        trace_selected_batch(self.app, self.context)

    def action_output(self) -> None:
        self.open_job("output")

    def action_details(self) -> None:
        self.open_job("summary")

    def open_job(self, pane: str) -> None:
        """Open the selected job (a batch: its first job) on ``pane`` of its detail screen."""
        item = self.selected_item
        if item is None:
            return
        if isinstance(item, BatchRow):
            ids = sorted(item.batch.job_ids, key=id_order)
            if not ids:
                return
            job_id, title = ids[0], f"Job {ids[0]} of batch {item.batch.name}"
        else:
            job_id, title = item.id, f"Job {item.id} ({item.batch_name})"
        from canfar_tui.screens.job_detail import JobDetailScreen

        slots = getattr(self.client, "slots", None)
        self.app.push_screen(
            JobDetailScreen(
                self.client,
                job_id,
                title=title,
                initial=pane,
                executor_slots=slots if isinstance(slots, int) else None,
            )
        )

    def action_submit(self) -> None:
        context = self.context
        if context.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        if self.client is None:
            return
        from canfar_tui.screens.submit import SubmitScreen

        clients = context.clients
        screen = SubmitScreen(
            queue=self.client,
            cloud=clients.cloud,
            credentials=clients.credentials,
            data_dir=context.settings.paths.data_dir,
            start_dir=self._submit_dir or Path.cwd(),
            read_only=context.read_only,
            no_cloud_reason=clients.why_missing("cloud") if clients.cloud is None else "",
            profile=context.settings.profile.name,
            sandbox=context.settings.profile.is_sandbox,
            openrc=context.settings.profile.openrc,
            password_provider=context.password_provider,
        )

        def done(result: SubmitResult | None) -> None:
            self._submit_dir = screen.submit_dir
            if result is not None:
                self.submitted(result)

        self.app.push_screen(screen, done)

    def submitted(self, result: SubmitResult) -> None:
        """A batch was submitted: say so, show the batches and put the cursor on it."""
        plural = "s" if result.num_jobs != 1 else ""
        self.notify(
            f"Submitted {result.num_jobs} job{plural} as {result.batch_name} "
            f"(cluster {result.cluster})",
            title="Submit",
        )
        self._cluster_names[result.cluster] = result.batch_name
        self._jump, self._jump_tries = result, 0
        if self.mode != "batches":
            self.set_mode("batches")
        self.request_refresh()
