"""Screens for one HTCondor job: its details (ClassAd and live file tails), and a reason prompt.

:class:`JobDetailScreen` shows a job the way ``condor_q -long`` and ``tail -f`` would, in five
panes: a **summary** (status, hold reason, and for an idle job why it waits: first of all
Requirements CANFAR's cloud scheduler ignores, see
:mod:`~canfar_tui.clients.queue.cloudscheduler`), the full
**ClassAd** (``job_ad``), and the tails of its **output**, **error** and **log** files
(``job_files``), re-read every second while the screen is open (scrolled to the end unless
you scrolled up). Reading happens in workers: a slow queue never freezes the screen, and a
failure is one line in the pane.

| key             | action                         |
|-----------------|--------------------------------|
| `s`             | summary (status, why idle)     |
| `a`             | the full ClassAd               |
| `o`             | tail of the output file        |
| `e`             | held job: edit & release       |
| `E` (or `e`)    | tail of the error file         |
| `l`             | tail of the user log           |
| `r`             | read everything again now      |
| `escape`, `q`   | close                          |

``e`` opens :class:`~canfar_tui.screens.job_edit.JobEditScreen` when the job is held, the
queue can edit jobs and the dashboard is not read-only; otherwise it shows the error file.

:class:`JobReasonScreen` asks for the optional reason of a hold or remove (``condor_hold
-reason``); it dismisses with the text (possibly empty) on ``enter`` and None on ``escape``.

| key      | action          |
|----------|-----------------|
| `enter`  | go on           |
| `escape` | cancel          |
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane

from canfar_tui.batch.joblog import FileTail, idle_explanation, job_summary, read_tail
from canfar_tui.clients.base import (
    ClientError,
    QueueClient,
    SupportsEditJob,
    SupportsPoolMachines,
)
from canfar_tui.clients.queue.cloudscheduler import vm_type_wanted
from canfar_tui.models import JobFiles, JobId, JobStatus

__all__ = ["PANES", "JobDetailScreen", "JobReasonScreen"]

#: (pane id, title) in display order.
PANES: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("classad", "ClassAd"),
    ("output", "Output"),
    ("error", "Error"),
    ("log", "Log"),
)

#: Seconds between two reads of the files while the screen is open.
FOLLOW_INTERVAL = 1.0
#: The ClassAd is read again every this many file reads.
AD_EVERY = 3


def _classad_table(ad: Mapping[str, object]) -> tuple[Table, str]:
    """The ClassAd as a two-column grid, and as ``Name = value`` lines."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    lines: list[str] = []
    for name in sorted(ad, key=str.casefold):
        value = ad[name]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = f'"{value}"'
        else:
            text = str(value)
        table.add_row(name, Text(text))
        lines.append(f"{name} = {text}")
    return table, "\n".join(lines)


class JobDetailScreen(ModalScreen[None]):
    """A job's summary, ClassAd and the live tails of its out/err/log files."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="job.close", tooltip="Close the job details"),
        Binding("s", "show('summary')", "Summary", id="job.summary", tooltip="Status, why idle"),
        Binding("a", "show('classad')", "ClassAd", id="job.classad", tooltip="The full ClassAd"),
        Binding("o", "show('output')", "Output", id="job.output", tooltip="Tail of the output"),
        Binding(
            "e",
            "edit",
            "Edit & release",
            id="job.edit",
            tooltip="Change the held job's arguments, requests or VM, then release it",
        ),
        Binding("e,E", "show('error')", "Error", id="job.error", tooltip="Tail of the error file"),
        Binding("l", "show('log')", "Log", id="job.log", tooltip="Tail of the user log"),
        Binding("r", "reload", "Reload", id="job.reload", tooltip="Read everything again now"),
    ]

    def __init__(
        self,
        client: QueueClient,
        job_id: JobId,
        *,
        title: str = "",
        initial: str = "summary",
        executor_slots: int | None = None,
        follow_interval: float = FOLLOW_INTERVAL,
    ) -> None:
        super().__init__()
        self.client = client
        self.job_id = job_id
        self.title_text = title or f"Job {job_id}"
        self.initial = initial if initial in dict(PANES) else "summary"
        self.executor_slots = executor_slots
        self.follow_interval = follow_interval
        self.ad: Mapping[str, object] | None = None
        self.files: JobFiles | None = None
        self.tails: dict[str, FileTail] = {}
        self.problem: str | None = None
        #: The pool's machines' VMType, when the job asks for one (else None: not known).
        self.vm_types: Sequence[str] | None = None
        #: The plain text of each pane, as last shown.
        self.plain: dict[str, str] = {}
        self._reads = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="job-dialog", classes="dialog"):
            yield Label(self.title_text, id="job-title", classes="dialog-title")
            with TabbedContent(initial=f"job-pane-{self.initial}", id="job-tabs"):
                for pane, title in PANES:
                    with (
                        TabPane(title, id=f"job-pane-{pane}"),
                        VerticalScroll(id=f"job-scroll-{pane}", classes="job-scroll"),
                    ):
                        yield Static("Loading…", id=f"job-{pane}", markup=False)
            yield Label(self._hint(), id="job-hint", classes="dialog-hint")

    def _hint(self) -> str:
        if self.can_edit():
            return (
                "e edit & release · s summary · a ClassAd · o output · E error · l log · "
                "r reload · escape close"
            )
        return "s summary · a ClassAd · o output · e error · l log · r reload · escape close"

    def can_edit(self) -> bool:
        """Whether ``e`` edits: a held job, a queue that edits jobs, not read-only."""
        return (
            self.ad is not None
            and self.ad.get("JobStatus") == int(JobStatus.HELD)
            and isinstance(self.client, SupportsEditJob)
            and not getattr(self.app, "read_only", False)
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit":
            return self.can_edit()
        return True

    def on_mount(self) -> None:
        self.reload(with_ad=True)
        self.set_interval(self.follow_interval, self._follow)

    @on(TabbedContent.TabActivated)
    def _keep_tab_changes_here(self, event: TabbedContent.TabActivated) -> None:
        # The dashboard listens for TabActivated to switch its own tabs; these are not those.
        event.stop()

    # ------------------------------------------------------------------ actions

    def action_close(self) -> None:
        self.dismiss(None)

    def action_show(self, pane: str) -> None:
        self.query_one("#job-tabs", TabbedContent).active = f"job-pane-{pane}"

    def action_reload(self) -> None:
        self.reload(with_ad=True)

    def action_edit(self) -> None:
        if not self.can_edit():
            return
        from canfar_tui.screens.job_edit import JobEditScreen

        def done(saved: bool | None) -> None:
            if saved:
                self.reload(with_ad=True)

        self.app.push_screen(JobEditScreen(self.client, self.job_id), done)

    # ------------------------------------------------------------------ reading

    def _follow(self) -> None:
        self._reads += 1
        self.reload(with_ad=self._reads % AD_EVERY == 0)

    @work(exclusive=True, group="job-detail", exit_on_error=False)
    async def reload(self, *, with_ad: bool) -> None:
        """Read the ClassAd (when asked or not read yet) and the file tails, then show them."""
        if with_ad or self.ad is None:
            try:
                ad, files = await asyncio.gather(
                    self.client.job_ad(self.job_id), self.client.job_files(self.job_id)
                )
            except ClientError as error:
                self.problem = error.message
                self._show_problem(error.message)
                return
            self.ad, self.files, self.problem = ad, files, None
            self.vm_types = await self._vm_types(ad)
            self.query_one("#job-hint", Label).update(self._hint())
            self.refresh_bindings()
        files = self.files or JobFiles()
        paths: dict[str, Path | None] = {
            "output": files.output,
            "error": files.error,
            "log": files.log,
        }
        self.tails = await asyncio.to_thread(
            lambda: {pane: read_tail(path) for pane, path in paths.items()}
        )
        self._show()

    async def _vm_types(self, ad: Mapping[str, object]) -> Sequence[str] | None:
        """The pool's VM types, for an idle job asking for one (canfar_submit 0.3); else None."""
        wanted = vm_type_wanted(str(ad.get("Requirements") or ""))
        if wanted is None or ad.get("JobStatus") != int(JobStatus.IDLE):
            return None
        if not isinstance(self.client, SupportsPoolMachines):
            return None
        try:
            return await self.client.machine_vm_types()
        except ClientError:
            return None

    def _show_problem(self, message: str) -> None:
        for pane, _ in PANES:
            self._set(pane, Text(message), message)

    def _set(self, pane: str, renderable: Text | Table, plain: str) -> None:
        self.plain[pane] = plain
        self.query_one(f"#job-{pane}", Static).update(renderable)

    def _show(self) -> None:
        ad = self.ad or {}
        rows = job_summary(ad)
        why = idle_explanation(
            ad,
            now=datetime.now(UTC),
            executor_slots=self.executor_slots,
            vm_types=self.vm_types,
        )
        if why:
            rows.append(("why idle", why))
        summary = Table.grid(padding=(0, 2))
        summary.add_column(style="bold", no_wrap=True)
        summary.add_column(overflow="fold")
        for label, value in rows:
            summary.add_row(label, Text(value))
        self._set("summary", summary, "\n".join(f"{label}: {value}" for label, value in rows))
        table, plain = _classad_table(ad)
        self._set("classad", table, plain)
        for pane in ("output", "error", "log"):
            self._show_tail(pane, self.tails.get(pane))

    def _show_tail(self, pane: str, tail: FileTail | None) -> None:
        scroll = self.query_one(f"#job-scroll-{pane}", VerticalScroll)
        at_end = scroll.scroll_y >= scroll.max_scroll_y
        if tail is None:
            text = Text("")
        elif tail.error is not None:
            where = f"{tail.path}: " if tail.path else ""
            text = Text(f"{where}{tail.error}")
        else:
            head = f"{tail.path} ({tail.size} bytes"
            head += ", last lines)" if tail.truncated else ")"
            text = Text(head + "\n", style="dim")
            text.append(tail.text or "(empty)")
        self._set(pane, text, text.plain)
        if at_end:
            scroll.scroll_end(animate=False)

    def text_of(self, pane: str) -> str:
        """The plain text a pane shows now (for tests, and to copy from)."""
        return self.plain.get(pane, "")


class JobReasonScreen(ModalScreen[str | None]):
    """Ask the reason for a hold or remove; None when cancelled, "" when left empty."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reason.cancel", tooltip="Cancel"),
    ]

    def __init__(self, title: str, message: str, *, action_label: str = "Hold") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.action_label = action_label

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, markup=False)
            yield Input(id="reason-input", placeholder="reason (optional)")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="reason-cancel", variant="default")
                yield Button(self.action_label, id="reason-ok", variant="warning")
            yield Label("enter: go on, escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#reason-input", Input).focus()

    @on(Input.Submitted, "#reason-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    @on(Button.Pressed, "#reason-ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#reason-input", Input).value.strip())

    @on(Button.Pressed, "#reason-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
