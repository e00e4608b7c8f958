"""The Snapshots tab: images and instance snapshots, those being saved with live progress.

| key | action                                                   |
|-----|----------------------------------------------------------|
| `b` | use for batch: the default image of batch submission     |
| `d` | delete the snapshot (confirmed by typing its name)       |
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from textual.binding import Binding

from canfar_tui.clients.refresh import Diff
from canfar_tui.logs import get_logger
from canfar_tui.models import Image, ImageKind
from canfar_tui.preferences import BatchImage, PreferencesError
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.cloud.base import SAVING_STATUSES, CloudView
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column

log = get_logger("cloud")


def elapsed_text(since: datetime | None, now: datetime | None = None) -> str:
    """``"0:14"`` / ``"1:02:03"`` since ``since`` (empty when unknown)."""
    if since is None:
        return ""
    current = now or datetime.now(UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    seconds = max(0, int((current - since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class SnapshotsView(CloudView):
    """Images and instance snapshots; snapshots being saved show their progress live.

    | key | action                                                          |
    |-----|-----------------------------------------------------------------|
    | `b` | use for batch: the default VM image of batch submission (again: unset) |
    | `d` | delete the snapshot (confirmed by typing its name)              |
    """

    AREA = "snapshots"
    TITLE = "Snapshots"
    FAST_INTERVAL = 2.0
    COLUMNS = (
        Column("name", "NAME"),
        Column("batch", "", width=1),
        Column("kind", "KIND"),
        Column("status", "STATUS"),
        Column("size", "SIZE", justify="right"),
        Column("created", "CREATED"),
        Column("visibility", "VISIBILITY"),
    )
    EMPTY_TEXT = "No image or snapshot is visible to this project."
    DESTRUCTIVE_ACTIONS = frozenset({"delete"})
    BINDINGS = [
        Binding(
            "b",
            "use_for_batch",
            "Use for batch",
            id="snapshots.use_for_batch",
            tooltip="Make the selected image the default for batch submission (★)",
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="snapshots.delete",
            tooltip="Delete the selected snapshot (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.batch_image_id: str | None = None
        self._statuses: dict[str, str] = {}

    async def fetch(self) -> Iterable[Image]:
        images: Iterable[Image] = await self.client.list_images()
        self.batch_image_id = self._read_batch_image_id()
        return images

    def _read_batch_image_id(self) -> str | None:
        batch = self.preferences.batch_image()
        return batch.id if batch is not None else None

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(image.status.lower() in SAVING_STATUSES for image in items)

    def row(self, item: Any) -> Sequence[object]:
        image: Image = item
        status = image.status
        if image.status.lower() in SAVING_STATUSES and image.created_at is not None:
            status = f"{image.status} {elapsed_text(image.created_at)}"
        return (
            image.name,
            "★" if image.id == self.batch_image_id else "",
            image.kind.value,
            status,
            human_size(image.size_bytes),
            image.created_at,
            image.visibility,
        )

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        # Saving rows change every tick (their elapsed time), so re-render them too.
        if self.poller is not None:
            saving = {
                key: image
                for key, image in self.poller.rows.items()
                if image.status.lower() in SAVING_STATUSES
                and key not in diff.added
                and key not in diff.changed
            }
            if saving:
                diff = Diff(diff.added, {**diff.changed, **saving}, diff.removed)
        super()._apply_diff(diff)
        for key, image in diff.changed.items():
            before = self._statuses.get(str(key), "")
            if (
                image.kind is ImageKind.SNAPSHOT
                and image.status.lower() == "active"
                and before in SAVING_STATUSES
            ):
                self.remind_snapshot_active(image)
        if self.poller is not None:
            self._statuses = {
                str(key): image.status.lower() for key, image in self.poller.rows.items()
            }
        self._update_status()

    def _update_status(self, extra: str = "") -> None:
        notes = [extra] if extra else []
        if self.poller is not None:
            saving = [
                f"{image.name} {image.status} {elapsed_text(image.created_at)}".rstrip()
                for image in self.poller.rows.values()
                if image.status.lower() in SAVING_STATUSES
            ]
            if saving:
                notes.append("saving: " + ", ".join(saving))
        super()._update_status(" · ".join(notes))

    def _rerender(self) -> None:
        if self.poller is not None:
            rows = {key: self.row(image) for key, image in self.poller.rows.items()}
            self.table.apply_diff({}, rows, frozenset())

    def action_use_for_batch(self) -> None:
        image: Image | None = self.selected_or_warn("an image or snapshot")
        if image is None:
            return
        try:
            if image.id == self.batch_image_id:
                self.preferences.set_batch_image(None)
                self.batch_image_id = None
                self.notify(f"{image.name} is no longer the default image for batch jobs.")
            else:
                if image.status.lower() != "active":
                    self.notify(
                        f"{image.name} is {image.status}: wait until it is active.",
                        severity="warning",
                    )
                    return
                project = self.context.navigation.project
                self.preferences.set_batch_image(
                    BatchImage(
                        id=image.id,
                        name=image.name,
                        project_id=project.id if project else "",
                        project_name=project.name if project else "",
                    )
                )
                self.batch_image_id = image.id
                self.notify(
                    f"{image.name} is now the default VM image for batch submission (★).",
                    title="Use for batch",
                )
        except PreferencesError as error:
            self.notify(str(error), title="Use for batch", severity="error")
            return
        self._rerender()

    def action_delete(self) -> None:
        image: Image | None = self.selected_item
        if image is None or self.context.read_only:
            return
        if image.kind is not ImageKind.SNAPSHOT:
            self.notify("Only your own instance snapshots can be deleted here.", severity="warning")
            return
        message = f"Delete snapshot {image.name}? Batch jobs that name it will no longer start."
        if image.id == self.batch_image_id:
            message += " It is your default image for batch submission."

        async def delete() -> None:
            await self.client.delete_image(image.id)
            if image.id == self.batch_image_id:
                try:
                    self.preferences.set_batch_image(None)
                except PreferencesError as error:
                    log.warning("%s", error)
                self.batch_image_id = None

        self.confirm_then(
            "Delete snapshot",
            message,
            lambda: self.act(delete, done=f"Deleted {image.name}", description="Delete snapshot"),
            require_text=image.name,
        )
