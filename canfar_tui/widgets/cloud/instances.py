"""The Instances tab: virtual machines of the active project.

Launch, connect over SSH, run the seed's VM set-up (its output live; in the sandbox only what
would run is shown, nothing is sent), associate floating IPs, snapshot, stop / start / reboot,
read the console log and delete; refreshed faster while an instance changes state.

| key       | action                                                    |
|-----------|-----------------------------------------------------------|
| `n`       | launch an instance (wizard)                               |
| `o`       | connect: SSH in this terminal, back here when it exits    |
| `v`       | VM set-up: canfar_create_user, scratch, software (live)   |
| `y`       | show / copy the SSH command                               |
| `a` / `A` | associate / disassociate a floating IP                    |
| `i`       | snapshot the instance                                     |
| `x` / `X` | stop / start                                              |
| `b` / `B` | reboot / hard reboot                                      |
| `l`       | console log                                               |
| `space`   | mark / unmark the row (`d` then deletes every marked one) |
| `d`       | delete (confirmed)                                        |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from functools import partial
from typing import Any

from rich.text import Text
from textual.binding import Binding

from canfar_tui.clients.base import ClientError, NotFound, SupportsConsoleLog
from canfar_tui.clients.refresh import Diff
from canfar_tui.logs import get_logger
from canfar_tui.models import (
    Flavor,
    FloatingIP,
    Image,
    Instance,
    KeyPair,
    LaunchRequest,
    Quota,
)
from canfar_tui.preferences import LaunchChoice, PreferencesError
from canfar_tui.screens.cloud_dialogs import (
    ChoiceScreen,
    ConsoleLogScreen,
    TextPromptScreen,
)
from canfar_tui.screens.launch import LaunchScreen
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.cloud.base import (
    FAILED_STATUSES,
    validate_snapshot_name,
)
from canfar_tui.widgets.cloud.instance_ssh import InstanceSshActions
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column

log = get_logger("cloud")


class InstancesView(InstanceSshActions):
    """Virtual machines of the active project, refreshed faster while one changes state.

    | key       | action                                                     |
    |-----------|------------------------------------------------------------|
    | `n`       | launch an instance (wizard)                                |
    | `o`       | connect: SSH in this terminal, back here when it exits     |
    | `v`       | VM set-up: canfar_create_user, scratch, software (live)    |
    | `y`       | show / copy the SSH command                                |
    | `a` / `A` | associate / disassociate a floating IP                     |
    | `i`       | snapshot the instance                                      |
    | `x` / `X` | stop / start                                               |
    | `b` / `B` | reboot / hard reboot                                       |
    | `l`       | console log                                                |
    | `space`   | mark / unmark the row                                      |
    | `d`       | delete the marked instances, or the selected one (confirmed) |
    """

    AREA = "instances"
    TITLE = "Instances"
    FAST_INTERVAL = 1.0
    COLUMNS = (
        # What the seed's steps look at first, so that it fits 80 columns: the state, the
        # address to ssh to, the image and the key; the rest is one scroll to the right.
        Column("mark", "", width=1),
        Column("name", "NAME"),
        Column("status", "STATUS"),
        Column("ip", "IP"),
        Column("image", "IMAGE"),
        Column("key", "KEY"),
        Column("flavor", "FLAVOR"),
        Column("power", "POWER"),
        Column("task", "TASK"),
        Column("created", "CREATED"),
    )
    EMPTY_TEXT = "No instance in this project. Press n to launch one from canfar-ubuntu-20.04."
    READ_ONLY_EMPTY_TEXT = "No instance in this project (read-only mode: launching is disabled)."
    DESTRUCTIVE_ACTIONS = frozenset(
        {
            "launch",
            "delete",
            "associate_ip",
            "disassociate_ip",
            "snapshot",
            "stop",
            "start",
            "reboot",
            "hard_reboot",
            "setup_vm",
        }
    )
    BINDINGS = [
        Binding("n", "launch", "Launch", id="instances.launch", tooltip="Launch an instance"),
        Binding(
            "o",
            "connect",
            "Connect",
            id="instances.connect",
            tooltip="SSH to the instance in this terminal; back here when the shell exits",
        ),
        Binding(
            "v",
            "setup_vm",
            "VM set-up",
            id="instances.setup_vm",
            tooltip="Run the seed's set-up on the VM over ssh: user, scratch, software",
            show=False,
        ),
        Binding(
            "y",
            "ssh_command",
            "SSH command",
            id="instances.ssh_command",
            tooltip="Show and copy the ssh command of the instance",
            show=False,
        ),
        Binding(
            "a",
            "associate_ip",
            "Associate IP",
            id="instances.associate_ip",
            tooltip="Associate a floating IP (allocates one when none is free)",
        ),
        Binding(
            "A",
            "disassociate_ip",
            "Disassociate IP",
            id="instances.disassociate_ip",
            tooltip="Take the floating IP off the instance",
            show=False,
        ),
        Binding(
            "i",
            "snapshot",
            "Snapshot",
            id="instances.snapshot",
            tooltip="Save the instance as a snapshot image",
        ),
        Binding(
            "x", "stop", "Stop", id="instances.stop", tooltip="Shut the instance down", show=False
        ),
        Binding(
            "X",
            "start",
            "Start",
            id="instances.start",
            tooltip="Start a stopped instance",
            show=False,
        ),
        Binding(
            "b", "reboot", "Reboot", id="instances.reboot", tooltip="Reboot (soft)", show=False
        ),
        Binding(
            "B",
            "hard_reboot",
            "Hard reboot",
            id="instances.hard_reboot",
            tooltip="Reboot by power cycle (when a soft reboot hangs)",
            show=False,
        ),
        Binding(
            "l",
            "console_log",
            "Console log",
            id="instances.console_log",
            tooltip="Show the instance's console output",
            show=False,
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="instances.mark",
            tooltip="Mark or unmark the row; d deletes every marked instance",
            show=False,
        ),
        Binding(
            "d",
            "delete",
            "Delete",
            id="instances.delete",
            tooltip="Delete the marked or selected instances (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        self.marked: set[str] = set()
        #: image id -> status text of the snapshots this view is waiting for.
        self.watching: dict[str, str] = {}

    async def fetch(self) -> Iterable[Instance]:
        instances: Iterable[Instance] = await self.client.list_instances()
        return instances

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(instance.is_transitional for instance in items)

    def row(self, item: Any) -> Sequence[object]:
        instance: Instance = item
        address = instance.floating_ip or (instance.addresses[0] if instance.addresses else None)
        return (
            "✓" if instance.id in self.marked else "",
            instance.name,
            instance.status,
            address,
            instance.image_name,
            instance.key_name,
            instance.flavor_name,
            instance.power_state,
            instance.task_state,
            instance.created_at,
        )

    def _apply_diff(self, diff: Diff[Hashable, Any]) -> None:
        if self.poller is not None:
            self.marked &= {str(key) for key in self.poller.rows}
        super()._apply_diff(diff)

    def _update_status(self, extra: str = "") -> None:
        notes = [extra] if extra else []
        if self.marked:
            notes.append(f"{len(self.marked)} marked (d deletes them)")
        notes += self.watching.values()
        super()._update_status(" · ".join(notes))

    # ------------------------------------------------------------------ marking

    def action_toggle_mark(self) -> None:
        instance = self.selected_item
        if instance is None:
            return
        if instance.id in self.marked:
            self.marked.discard(instance.id)
        else:
            self.marked.add(instance.id)
        self.table.apply_diff({}, {instance.id: self.row(instance)}, frozenset())
        self.table.action_cursor_down()
        self._update_status()

    # ------------------------------------------------------------------ launch

    def action_launch(self) -> None:
        if self.context.read_only:
            return

        async def load() -> tuple[
            Sequence[Image], Sequence[Flavor], Sequence[KeyPair], Quota | None
        ]:
            images = await self.client.list_images()
            flavors = await self.client.list_flavors()
            keypairs = await self.client.list_keypairs()
            try:
                quota: Quota | None = await self.client.get_quota()
            except ClientError:
                quota = None
            return images, flavors, keypairs, quota

        def show(
            data: tuple[Sequence[Image], Sequence[Flavor], Sequence[KeyPair], Quota | None],
        ) -> None:
            images, flavors, keypairs, quota = data
            if not any(image.status.lower() == "active" for image in images):
                self.notify("No active image or snapshot to launch from.", severity="warning")
                return
            project = self.context.navigation.project
            existing = (
                {instance.name for instance in self.poller.rows.values()} if self.poller else set()
            )
            image_id, flavor_id = self._last_launch(images, flavors)
            self.app.push_screen(
                LaunchScreen(
                    images=images,
                    flavors=flavors,
                    keypairs=keypairs,
                    quota=quota,
                    existing_names=existing,
                    project_name=project.name if project else "",
                    preferred_image_id=image_id,
                    preferred_flavor_id=flavor_id,
                ),
                partial(self._launch_answered, images=images, flavors=flavors),
            )

        self.act(load, description="Launch instance", then=show, changes=False)

    def _last_launch(
        self, images: Sequence[Image], flavors: Sequence[Flavor]
    ) -> tuple[str | None, str | None]:
        """The image and flavor IDs of the last launch that exist here (by ID, else by name).

        None for either the wizard then starts on the Quick Start's choice.
        """
        try:
            last = self.preferences.last_launch()
        except PreferencesError:
            last = None
        if last is None:
            return None, None
        active = [image for image in images if image.status.lower() == "active"]
        image = next((i for i in active if i.id == last.image_id), None) or next(
            (i for i in active if i.name == last.image_name), None
        )
        flavor = next((f for f in flavors if f.id == last.flavor_id), None) or next(
            (f for f in flavors if f.name == last.flavor_name), None
        )
        return (image.id if image else None), (flavor.id if flavor else None)

    def _launch_answered(
        self,
        request: LaunchRequest | None,
        *,
        images: Sequence[Image] = (),
        flavors: Sequence[Flavor] = (),
    ) -> None:
        if request is None:
            return

        async def launch() -> Instance:
            instance: Instance = await self.client.launch_instance(request)
            return instance

        def launched(instance: Instance) -> None:
            self.select_when_seen = instance.id
            image = next((i for i in images if i.id == request.image_id), None)
            flavor = next((f for f in flavors if f.id == request.flavor_id), None)
            choice = LaunchChoice(
                image_id=request.image_id,
                image_name=image.name if image else "",
                flavor_id=request.flavor_id,
                flavor_name=flavor.name if flavor else "",
            )
            try:
                self.preferences.set_last_launch(choice)
            except PreferencesError as error:
                self.notify(str(error), severity="warning")

        self.act(
            launch,
            description="Launch instance",
            done=lambda instance: (
                f"Launching {instance.name}: ready when its status is ACTIVE. Then press a to "
                "associate a floating IP."
            ),
            then=launched,
        )

    def _instance_to_change(self) -> Instance | None:
        """The selected instance for an action that changes it; None (after saying why when
        nothing is selected) in read-only mode or with no instance."""
        if self.context.read_only:
            return None
        return self._instance()

    # ------------------------------------------------------------------ floating IPs

    def action_associate_ip(self) -> None:
        instance = self._instance_to_change()
        if instance is None:
            return
        if instance.floating_ip:
            self.notify(
                f"{instance.name} already has {instance.floating_ip} (A takes it off).",
                severity="warning",
            )
            return

        def associate(address: FloatingIP) -> None:
            async def call() -> FloatingIP:
                result: FloatingIP = await self.client.associate_floating_ip(
                    address.id, instance.id
                )
                return result

            self.act(
                call,
                description="Associate floating IP",
                done=f"{address.address} is associated with {instance.name} (y: ssh command)",
            )

        def pick(addresses: Sequence[FloatingIP]) -> None:
            free = [address for address in addresses if address.instance_id is None]
            if not free:
                self.notify("No free floating IP in this project: allocating one…")

                async def allocate() -> FloatingIP:
                    result: FloatingIP = await self.client.allocate_floating_ip()
                    return result

                self.act(
                    allocate,
                    description="Allocate floating IP",
                    done=lambda address: f"Allocated {address.address}",
                    then=associate,
                )
                return
            choices: list[tuple[str, str | Text, bool]] = [
                (address.id, Text(f"{address.address:<18} {address.network}"), True)
                for address in free
            ]

            def chosen(choice: str | None) -> None:
                address = next((a for a in free if a.id == choice), None)
                if address is not None:
                    associate(address)

            self.app.push_screen(
                ChoiceScreen(
                    f"Associate a floating IP with {instance.name}",
                    "Allocated addresses not in use:",
                    choices,
                ),
                chosen,
            )

        self.act(
            self.client.list_floating_ips,
            description="Associate floating IP",
            then=pick,
            changes=False,
        )

    def action_disassociate_ip(self) -> None:
        instance = self._instance_to_change()
        if instance is None:
            return
        if not instance.floating_ip:
            self.notify(f"{instance.name} has no floating IP.", severity="warning")
            return

        async def disassociate() -> str:
            addresses: Sequence[FloatingIP] = await self.client.list_floating_ips()
            address = next((a for a in addresses if a.instance_id == instance.id), None)
            if address is None:
                raise NotFound(f"{instance.name} has no floating IP any more.")
            await self.client.disassociate_floating_ip(address.id)
            return address.address

        self.act(
            disassociate,
            description="Disassociate floating IP",
            done=lambda address: f"{address} is no longer associated with {instance.name}",
        )

    # ------------------------------------------------------------------ power

    def _power_action(self, action: str, label: str) -> None:
        instance = self._instance_to_change()
        if instance is None:
            return
        calls: dict[str, Callable[[], Awaitable[None]]] = {
            "stop": lambda: self.client.stop_instance(instance.id),
            "start": lambda: self.client.start_instance(instance.id),
            "reboot": lambda: self.client.reboot_instance(instance.id),
            "hard_reboot": lambda: self.client.reboot_instance(instance.id, hard=True),
        }
        self.act(calls[action], description=f"{label} instance", done=f"{label}: {instance.name}")

    def action_stop(self) -> None:
        self._power_action("stop", "Stop")

    def action_start(self) -> None:
        self._power_action("start", "Start")

    def action_reboot(self) -> None:
        self._power_action("reboot", "Reboot")

    def action_hard_reboot(self) -> None:
        self._power_action("hard_reboot", "Hard reboot")

    # ------------------------------------------------------------------ snapshot

    def action_snapshot(self) -> None:
        instance = self._instance_to_change()
        if instance is None:
            return

        def prompt(images: Sequence[Image]) -> None:
            existing = [image.name for image in images]
            default = f"{instance.name}-{self.context.now():%Y-%m-%d}"
            self.app.push_screen(
                TextPromptScreen(
                    f"Snapshot {instance.name}",
                    "Save the instance as an image: launch it again later, or name it in "
                    "batch jobs (Snapshots tab, b: use for batch).",
                    label="Snapshot name:",
                    value=default if validate_snapshot_name(default, existing) is None else "",
                    validate=lambda value: validate_snapshot_name(value, existing),
                    confirm_label="Create snapshot",
                    warning=(
                        f"While the snapshot is taken, do nothing on {instance.name}: no "
                        "installs, no file changes. Log out and wait until it is active."
                    ),
                ),
                lambda name: self._create_snapshot(instance, name) if name else None,
            )

        self.act(self.client.list_images, description="Snapshot", then=prompt, changes=False)

    def _create_snapshot(self, instance: Instance, name: str) -> None:
        async def create() -> Image:
            image: Image = await self.client.create_snapshot(instance.id, name)
            return image

        self.act(
            create,
            description="Snapshot",
            done=lambda image: (
                f"Snapshot {image.name} started ({image.status}). Do nothing on "
                f"{instance.name} until it is active."
            ),
            then=self.watch_snapshot,
        )

    def watch_snapshot(self, image: Image) -> None:
        """Follow a snapshot until it is active (then remind once) or fails."""
        started = time.monotonic()
        self.watching[image.id] = f"snapshot {image.name}: {image.status}"
        self._update_status()
        interval = max(0.2, min(2.0, self.context.settings.refresh_interval("snapshots")))

        async def follow() -> None:
            try:
                while True:
                    await asyncio.sleep(interval)
                    try:
                        images: Sequence[Image] = await self.client.list_images()
                    except ClientError as error:
                        log.info("snapshot watch: %s", error.message)
                        continue
                    current = next((i for i in images if i.id == image.id), None)
                    if current is None or current.status.lower() in FAILED_STATUSES:
                        status = "gone" if current is None else current.status
                        self.context.report_error(
                            ClientError(
                                f"Snapshot {image.name} failed ({status}); nothing was saved."
                            ),
                            context="Snapshot",
                        )
                        return
                    if current.status.lower() == "active":
                        self.notify(
                            f"Snapshot {current.name} is active "
                            f"({human_size(current.size_bytes)}).",
                            title="Snapshot",
                        )
                        self.remind_snapshot_active(current)
                        self.refresh_cloud_views()
                        return
                    minutes, seconds = divmod(int(time.monotonic() - started), 60)
                    self.watching[image.id] = (
                        f"snapshot {image.name}: {current.status} {minutes}:{seconds:02d}"
                    )
                    self._update_status()
            finally:
                self.watching.pop(image.id, None)
                self._update_status()

        self.run_worker(
            follow(), name=f"Snapshot {image.name}", group="snapshot-watch", exit_on_error=False
        )

    # ------------------------------------------------------------------ console

    def action_console_log(self) -> None:
        instance = self._instance()
        if instance is None:
            return
        client = self.client
        if not isinstance(client, SupportsConsoleLog):
            self.notify("This cloud does not provide console logs.", severity="warning")
            return

        async def load() -> str:
            text: str = await client.console_log(instance.id, lines=500)
            return text

        self.app.push_screen(ConsoleLogScreen(f"Console log · {instance.name}", load))

    # ------------------------------------------------------------------ delete

    def action_delete(self) -> None:
        if self.context.read_only:
            return
        rows = self.poller.rows if self.poller is not None else {}
        targets: list[Instance] = [rows[key] for key in sorted(self.marked) if key in rows]
        if not targets:
            instance = self._instance()
            if instance is None:
                return
            targets = [instance]
        unsaved = self._without_snapshot(targets)
        if len(targets) == 1:
            target = targets[0]
            title = "Delete instance"
            message = (
                f"Delete {target.name}? Everything on its disks that is not in a snapshot or "
                "in VOSpace is lost."
            )
        else:
            names = ", ".join(instance.name for instance in targets)
            title = f"Delete {len(targets)} instances"
            message = (
                f"Delete {len(targets)} marked instances ({names})? Everything on their disks "
                "that is not in a snapshot or in VOSpace is lost."
            )
        if unsaved:
            message += f" No snapshot was taken of {', '.join(unsaved)}."
        self.confirm_then(title, message, lambda: self._delete(targets))

    def _without_snapshot(self, targets: Sequence[Instance]) -> list[str]:
        """Names of targets known to have no snapshot (from the Snapshots tab's last rows)."""
        from canfar_tui.widgets.cloud.snapshots import SnapshotsView

        snapshots = self.context.navigation.view("snapshots")
        if not isinstance(snapshots, SnapshotsView) or snapshots.poller is None:
            return []
        if not snapshots.poller.loaded:
            return []
        sources = {image.source_instance_id for image in snapshots.poller.rows.values()}
        return [instance.name for instance in targets if instance.id not in sources]

    def _delete(self, targets: Sequence[Instance]) -> None:
        async def delete_all() -> list[str]:
            failures: list[str] = []
            for instance in targets:
                try:
                    await self.client.delete_instance(instance.id)
                except ClientError as error:
                    failures.append(instance.name)
                    self.context.report_error(error, context=f"Delete {instance.name}")
                else:
                    self.marked.discard(instance.id)
            return failures

        def deleted(failures: list[str]) -> None:
            self._update_status()
            count = len(targets) - len(failures)
            if count:
                names = ", ".join(i.name for i in targets if i.name not in failures)
                self.notify(f"Deleting {names}", title="Delete instance")

        self.act(delete_all, description="Delete instance", then=deleted)
