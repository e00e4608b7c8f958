"""The Pipeline tab's run: the batch watched until it leaves the queue, then its outcome.

While jobs of the batch are in the queue the status line counts them; then
:func:`~canfar_tui.batch.pipeline_run.collect_outcome` checks each ID in VOSpace and the
outcome table lists ``✓`` the catalogues and ``✗`` the failed IDs with their reason. The run is
kept in ``pipeline/last-run.json`` (:mod:`~canfar_tui.batch.run_state`) and shown again, and
watched again when unfinished, after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Final

from rich.text import Text
from textual import on, work
from textual.widgets import ContentSwitcher, Static

from canfar_tui.batch.pipeline_run import PipelineOutcome, collect_outcome
from canfar_tui.batch.run_state import PipelineRun, load_run, save_run
from canfar_tui.clients.base import ClientError, SupportsHistory
from canfar_tui.logs import get_logger
from canfar_tui.widgets.pipeline.inputs import InputsPart
from canfar_tui.widgets.resource_table import Column, ResourceTable

__all__ = ["OUTCOME_COLUMNS", "OutcomePart", "outcome_rows"]

log = get_logger("pipeline")

OUTCOME_COLUMNS: Final = (
    Column("mark", " ", width=1),
    Column("id", "ID"),
    Column("detail", "CATALOGUE / REASON"),
    Column("size", "SIZE", justify="right"),
    Column("md5", "MD5", width=32),
)


def outcome_rows(outcome: PipelineOutcome) -> dict[str, tuple[object, ...]]:
    """The outcome table's rows by ID: ``✓`` with URI, size, MD5; ``✗`` with the reason."""
    rows: dict[str, tuple[object, ...]] = {}
    for arrived in outcome.arrived:
        mark = Text("✓", style="bold green")
        rows[arrived.obs_id] = (mark, arrived.obs_id, arrived.uri, arrived.size, arrived.md5)
    for failed in outcome.failed:
        mark = Text("✗", style="bold red")
        rows[failed.obs_id] = (mark, failed.obs_id, failed.reason, None, None)
    return rows


class OutcomePart(InputsPart):
    """The submitted batch: its progress, its outcome table and the last-run file."""

    #: Seconds between two looks at the queue while a batch runs.
    WATCH_INTERVAL: ClassVar[float] = 1.0

    def _start_run(self, run: PipelineRun) -> None:
        self.run = run
        self._save_run()
        self._show_run()
        self.query_one("#pipeline-switcher", ContentSwitcher).current = "pipeline-run"
        self.refresh_bindings()
        if not run.finished:
            self._watch(run)

    def action_toggle_run(self) -> None:
        if self.run is None:
            self.notify("No pipeline was submitted yet.")
            return
        switcher = self.query_one("#pipeline-switcher", ContentSwitcher)
        showing_run = switcher.current == "pipeline-run"
        switcher.current = "pipeline-review" if showing_run else "pipeline-run"
        self.focus_default()

    @work(exclusive=True, group="pipeline-watch", exit_on_error=False)
    async def _watch(self, run: PipelineRun) -> None:
        """Follow the batch until no job of it is left in the queue, then collect."""
        queue = self.context.clients.queue
        if queue is None:
            return
        delay = self.WATCH_INTERVAL
        while True:
            try:
                jobs = await queue.list_jobs()
            except ClientError as error:
                run.progress = f"cannot read the queue ({error.message}); trying again"
                self._show_run()
                delay = min(delay * 2, 30.0)
                await asyncio.sleep(delay)
                continue
            delay = self.WATCH_INTERVAL
            mine = [job for job in jobs if job.id.cluster == run.cluster]
            if not mine:
                break
            counts: dict[str, int] = {}
            for job in mine:
                name = job.status.name.lower().replace("_", " ")
                counts[name] = counts.get(name, 0) + 1
            left = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
            done = run.num_jobs - len(mine)
            run.progress = f"{done} of {run.num_jobs} done; {left}"
            self._show_run()
            await asyncio.sleep(delay)
        run.progress = "finished; checking the catalogues in VOSpace…"
        self._show_run()
        await self._collect(run)

    async def _collect(self, run: PipelineRun) -> None:
        clients = self.context.clients
        queue = clients.queue
        exit_codes: dict[str, int | None] | None = None
        if isinstance(queue, SupportsHistory):
            try:
                finished = await queue.history(limit=max(100, run.num_jobs * 2))
            except ClientError as error:
                log.warning("no history for batch %s: %s", run.cluster, error.message)
            else:
                codes = {
                    job.arguments.strip(): job.exit_code
                    for job in finished
                    if job.id.cluster == run.cluster
                }
                exit_codes = {obs_id: code for obs_id, code in codes.items() if obs_id in run.ids}
        storage = clients.storage
        if storage is None:
            run.progress = (
                f"finished; the catalogues cannot be checked: {clients.why_missing('storage')}"
            )
            self._show_run()
            return
        try:
            outcome = await collect_outcome(
                storage, run.spec, run.submit_dir, ids=run.ids, exit_codes=exit_codes
            )
        except ClientError as error:
            run.progress = f"finished; VOSpace could not be checked: {error.message} (ctrl+l)"
            self.context.report_error(error, context="Pipeline outcome")
            self._show_run()
            return
        run.outcome = outcome
        run.progress = ""
        if self.run is run:
            self._save_run()
            self._show_run()
            self.refresh_bindings()
        combined = run.combined() or outcome
        failed = len(combined.failed)
        message = f"Batch {run.cluster}: {len(combined.arrived)} catalogues in VOSpace"
        if failed:
            message += f", {failed} failed (Pipeline tab, r resubmits them)"
        self.app.notify(
            message, title="Pipeline finished", severity="warning" if failed else "information"
        )

    def _show_run(self) -> None:
        run = self.run
        status = self.query_one("#pipeline-run-status", Static)
        table = self.query_one("#pipeline-outcome", ResourceTable)
        if run is None:
            status.update("No pipeline was submitted yet.")
            table.replace_all({})
            return
        head = Text()
        head.append(f"Batch {run.cluster}", style="bold")
        plural = "s" if run.num_jobs != 1 else ""
        head.append(f" · {run.num_jobs} job{plural} on {run.image} / {run.flavor}")
        head.append(f" · {run.submit_dir}", style="dim")
        lines = [head]
        combined = run.combined()
        if combined is None:
            lines.append(Text(f"Running: {run.progress or 'waiting for the queue…'}"))
            self._fill_outcome(
                {obs_id: (Text("…", style="dim"), obs_id, "", None, None) for obs_id in run.ids}
            )
        else:
            summary = Text(f"{len(combined.arrived)} catalogues in {run.spec.vospace_folder}")
            if combined.failed:
                summary.append(f", {len(combined.failed)} failed", style="bold red")
                summary.append(" · r resubmits them alone")
            summary.append(" · ctrl+l: the files", style="dim")
            lines.append(summary)
            self._fill_outcome(outcome_rows(combined))
        status.update(Text("\n").join(lines))

    def _fill_outcome(self, rows: Mapping[str, Sequence[object]]) -> None:
        table = self.query_one("#pipeline-outcome", ResourceTable)
        keys = tuple(rows)
        if keys != self._outcome_keys:
            table.clear()  # other IDs or another order: rows show in the order given
            self._outcome_keys = keys
        table.replace_all(rows)
        self._show_row_detail(table.cursor_key)

    def row_details(self, obs_id: str) -> list[tuple[str, str]]:
        """Everything known about ``obs_id`` in the last run (label, value)."""
        run = self.run
        combined = run.combined() if run is not None else None
        if run is None or combined is None:
            return []
        for arrived in combined.arrived:
            if arrived.obs_id == obs_id:
                size = f"{arrived.size} bytes" if arrived.size is not None else "?"
                return [
                    ("ID", obs_id),
                    ("catalogue", arrived.uri),
                    ("MD5", arrived.md5 or "?"),
                    ("size", size),
                ]
        for failed in combined.failed:
            if failed.obs_id == obs_id:
                return [
                    ("ID", obs_id),
                    ("reason", failed.reason),
                    ("error file", str(run.submit_dir / run.spec.error_file(obs_id))),
                ]
        return []

    def _show_row_detail(self, key: object) -> None:
        """The highlighted ID's line in full (the table truncates long reasons)."""
        detail = self.query_one("#pipeline-row-detail", Static)
        rows = dict(self.row_details(str(key))) if key is not None else {}
        if "reason" in rows:
            text = Text(f"✗ {rows['ID']}: ", style="bold red")
            text.append(rows["reason"], style="not bold")
        elif "catalogue" in rows:
            text = Text(f"✓ {rows['catalogue']}  md5={rows['MD5']}  {rows['size']}")
        else:
            text = Text("")
        detail.update(text)
        detail.display = bool(text.plain)

    @on(ResourceTable.CursorMoved, "#pipeline-outcome")
    def _cursor_moved(self, event: ResourceTable.CursorMoved) -> None:
        self._show_row_detail(event.key)

    @on(ResourceTable.RowSelected, "#pipeline-outcome")
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        from canfar_tui.screens.details import DetailsScreen

        rows = self.row_details(str(event.key))
        if rows:
            self.app.push_screen(DetailsScreen(f"Pipeline: {event.key}", rows))

    @property
    def run_file(self) -> Path:
        return self.context.settings.paths.data_dir / "pipeline" / "last-run.json"

    def _save_run(self) -> None:
        run = self.run
        if run is None:
            return
        try:
            save_run(run, self.run_file)
        except OSError as error:
            log.warning("cannot save the pipeline run: %s", error)

    @work(group="pipeline-restore", exit_on_error=False)
    async def _restore_last_run(self) -> None:
        run = await asyncio.to_thread(load_run, self.run_file)
        if run is None or self.run is not None:
            return
        self.run = run
        self._show_run()
        self.refresh_bindings()
        if not run.finished and self.context.clients.queue is not None:
            # Still running when the dashboard stopped: show its progress, watch it again.
            self.query_one("#pipeline-switcher", ContentSwitcher).current = "pipeline-run"
            self._watch(run)
