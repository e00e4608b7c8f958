"""The Queue tab: the HTCondor queue over the profile's QueueClient."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.binding import Binding

from canfar_tui.models import Batch
from canfar_tui.widgets.resource_table import Column
from canfar_tui.widgets.resource_view import ResourceView


class QueueView(ResourceView):
    """The HTCondor queue, one row per batch like ``condor_q``.

    | key | action                                        |
    |-----|-----------------------------------------------|
    | `a` | all users / only mine (``condor_q -allusers``) |
    """

    AREA = "queue"
    TITLE = "Queue"
    SERVICE = "queue"
    COLUMNS = (
        Column("owner", "OWNER"),
        Column("batch", "BATCH_NAME"),
        Column("submitted", "SUBMITTED"),
        Column("done", "DONE", justify="right"),
        Column("run", "RUN", justify="right"),
        Column("idle", "IDLE", justify="right"),
        Column("hold", "HOLD", justify="right"),
        Column("total", "TOTAL", justify="right"),
        Column("job_ids", "JOB_IDS"),
    )
    EMPTY_TEXT = "No job in the queue."
    BINDINGS = [
        Binding(
            "a",
            "toggle_all_users",
            "All users",
            id="queue.all_users",
            tooltip="Show every user's jobs, or only yours",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.all_users = False

    async def fetch(self) -> Iterable[Batch]:
        batches: Iterable[Batch] = await self.client.list_batches(all_users=self.all_users)
        return batches

    def action_toggle_all_users(self) -> None:
        self.all_users = not self.all_users
        self.notify("Showing every user's jobs" if self.all_users else "Showing your jobs")
        if self.poller is not None:
            self.poller.refresh_now()

    def item_title(self, item: Any) -> str:
        batch: Batch = item
        return batch.name

    def row(self, item: Any) -> Sequence[object]:
        batch: Batch = item
        ids = [str(job_id) for job_id in batch.job_ids]
        id_text = f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else (ids[0] if ids else "")
        return (
            batch.owner,
            batch.name,
            batch.submitted,
            batch.done or None,
            batch.running or None,
            batch.idle or None,
            batch.held or None,
            batch.total,
            id_text,
        )
