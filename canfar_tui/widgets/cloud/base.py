"""What the OpenStack tabs share: :class:`CloudView` and the helpers of more than one tab.

A :class:`CloudView` is a :class:`~canfar_tui.widgets.resource_view.ResourceView` over the
profile's :class:`~canfar_tui.clients.base.CloudClient`. Every action runs in a worker
(:meth:`CloudView.act`); a failure is one line (the client's message, titled by its kind,
e.g. "Quota exceeded"), and a success refreshes every OpenStack tab (hidden ones when they are
next shown).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from canfar_tui.clients.base import ClientError, NotFound
from canfar_tui.clients.refresh import Diff
from canfar_tui.logs import get_logger
from canfar_tui.models import Image, Instance
from canfar_tui.preferences import PreferencesError, PreferenceStore
from canfar_tui.widgets.resource_view import ResourceView

log = get_logger("cloud")

_T = TypeVar("_T")

#: How long the reminder and other important notices stay on screen.
LONG_NOTICE_SECONDS = 30.0
#: How long the "Snapshot ready" notice stays over the tables.
SNAPSHOT_NOTICE_SECONDS = 8.0
#: Image statuses while a snapshot is being taken.
SAVING_STATUSES = frozenset({"queued", "saving", "importing", "uploading"})
#: Image statuses of a snapshot that will never become active.
FAILED_STATUSES = frozenset({"killed", "deleted", "pending_delete", "error"})


def ssh_dir() -> Path:
    """Where SSH keys live (``~/.ssh``, read from HOME at call time)."""
    return Path.home() / ".ssh"


def validate_snapshot_name(name: str, existing: Iterable[str] = ()) -> str | None:
    """Why ``name`` cannot be used for a new snapshot, or None when it can."""
    if not name.strip():
        return "Give the snapshot a name, e.g. image-reduction-2023-08-21."
    if name != name.strip():
        return "The name must not start or end with a space."
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "The name must not contain control characters."
    if len(name) > 255:
        return "The name is too long (at most 255 characters)."
    if name in set(existing):
        return (
            f"An image named {name} exists already; batch jobs name their image, so choose "
            "another name."
        )
    return None


def login_user_for(instance: Instance, images: Iterable[Image]) -> str:
    """The default account of the image the instance was launched from (ubuntu / rocky)."""
    for image in images:
        if image.id == instance.image_id:
            return image.default_login_user
    return Image(instance.image_id, instance.image_name, "active").default_login_user


class CloudView(ResourceView):
    """What the four OpenStack tabs share: running actions, preferences, reminders."""

    SERVICE = "cloud"

    #: A row key to put the cursor on as soon as a refresh brings that row.
    select_when_seen: Hashable | None = None
    #: The empty state in read-only mode, where the keys EMPTY_TEXT names do nothing.
    READ_ONLY_EMPTY_TEXT: str | None = None

    @property
    def preferences(self) -> PreferenceStore:
        return PreferenceStore.for_settings(self.context.settings)

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        super()._apply_diff(diff)
        if self.state == "empty" and self.context.read_only and self.READ_ONLY_EMPTY_TEXT:
            self.set_state("empty", self.READ_ONLY_EMPTY_TEXT)
        key = self.select_when_seen
        if key is not None and self.table.get_row(key) is not None:
            self.table.move_cursor_to_key(key)
            self.select_when_seen = None

    def set_active(self, active: bool) -> None:
        super().set_active(active)
        poller = self.poller
        # After a project switch the rows were forgotten while the tab was hidden: fetch now.
        if active and poller is not None and not poller.loaded and not poller.in_flight:
            poller.refresh_now()

    def refresh_cloud_views(self) -> None:
        """Refetch every OpenStack tab: the visible one now, the others when next shown."""
        for view in self.context.navigation.views:
            if isinstance(view, ResourceView) and view.SERVICE == "cloud" and view.poller:
                view.poller.last_success = None
                view.poller.refresh_now()

    def act(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        description: str,
        done: str | Callable[[_T], str | None] | None = None,
        then: Callable[[_T], object] | None = None,
        changes: bool = True,
    ) -> None:
        """Run ``call`` in a worker; a ClientError becomes one line, success ``done``/``then``.

        ``changes`` (the default) refreshes every OpenStack tab afterwards.
        """

        async def work() -> None:
            try:
                result = await call()
            except ClientError as error:
                self.context.report_error(error, context=description)
                return
            message = done(result) if callable(done) else done
            if message:
                self.notify(message, title=description)
            if changes:
                self.refresh_cloud_views()
            if then is not None:
                then(result)

        self.run_worker(work(), name=description, group="actions", exit_on_error=False)

    def selected_or_warn(self, what: str) -> Any | None:
        item = self.selected_item
        if item is None:
            self.notify(f"Select {what} first.", severity="warning")
        return item

    def remind_snapshot_active(self, image: Image) -> None:
        """Once per snapshot: say that the instance it came from may be deleted now."""
        try:
            first_time = self.preferences.mark_reminded(image.id)
        except PreferencesError as error:
            log.warning("%s", error)
            first_time = True
        if not first_time or not image.source_instance_id:
            return
        source_id = image.source_instance_id

        async def remind() -> None:
            try:
                instance = await self.client.get_instance(source_id)
            except NotFound:
                return
            except ClientError:
                instance = None
            if instance is not None and instance.task_state == "deleting":
                return
            name = instance.name if instance is not None else "the interactive instance"
            self.app.notify(
                f"{image.name} is active. Done with {name}? delete it (Tab 2, d); "
                "batch jobs start their own VMs.",
                title="Snapshot ready",
                timeout=SNAPSHOT_NOTICE_SECONDS,
            )

        self.run_worker(remind(), name="Snapshot reminder", group="reminders", exit_on_error=False)
