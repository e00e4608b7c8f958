"""The OpenStack tabs: Projects, Instances, Floating IPs and Snapshots.

Each is a :class:`~canfar_tui.widgets.resource_view.ResourceView` over the profile's
:class:`~canfar_tui.clients.base.CloudClient`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.binding import Binding

from canfar_tui.models import FloatingIP, Image, ImageKind, Instance, Project
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.resource_table import Column
from canfar_tui.widgets.resource_view import ResourceView


class ProjectsView(ResourceView):
    """The user's OpenStack projects; ``u`` makes the selected one active.

    | key | action                         |
    |-----|--------------------------------|
    | `u` | use (switch to) the project    |
    """

    AREA = "projects"
    TITLE = "Projects"
    SERVICE = "cloud"
    COLUMNS = (
        Column("active", "", width=1),
        Column("name", "NAME"),
        Column("id", "ID"),
        Column("description", "DESCRIPTION"),
    )
    EMPTY_TEXT = "You are a member of no project. Ask CANFAR support for an allocation."
    BINDINGS = [
        Binding(
            "u",
            "use_project",
            "Use project",
            id="projects.use",
            tooltip="Switch to the selected project",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current_project_id: str | None = None

    async def fetch(self) -> Iterable[Any]:
        projects = await self.client.list_projects()
        current = await self.client.current_project()
        self.current_project_id = current.id if current else None
        self.canfar_app.set_project(current)
        return [(project, project.id == self.current_project_id) for project in projects]

    def item_key(self, item: Any) -> str:
        project: Project = item[0]
        return project.id

    def item_title(self, item: Any) -> str:
        project: Project = item[0]
        return project.name

    def row(self, item: Any) -> Sequence[object]:
        project, active = item
        return ("●" if active else "", project.name, project.id, project.description)

    def action_use_project(self) -> None:
        item = self.selected_item
        if item is None:
            return
        project: Project = item[0]

        async def switch() -> None:
            switched = await self.client.switch_project(project.id)
            self.canfar_app.set_project(switched)
            self.canfar_app.reload_service_views("cloud")

        self.run_client_action(
            switch, done=f"Now using {project.name}", description="Switch project"
        )


class InstancesView(ResourceView):
    """Virtual machines of the active project, refreshed faster while one changes state.

    | key | action                          |
    |-----|---------------------------------|
    | `d` | delete the instance (confirmed) |
    """

    AREA = "instances"
    TITLE = "Instances"
    SERVICE = "cloud"
    FAST_INTERVAL = 1.0
    COLUMNS = (
        Column("name", "NAME"),
        Column("status", "STATUS"),
        Column("power", "POWER"),
        Column("task", "TASK"),
        Column("ip", "IP"),
        Column("flavor", "FLAVOR"),
        Column("image", "IMAGE"),
        Column("key", "KEY"),
        Column("created", "CREATED"),
    )
    EMPTY_TEXT = "No instance in this project. Launch one from canfar-ubuntu-20.04 to start."
    DESTRUCTIVE_ACTIONS = frozenset({"delete"})
    BINDINGS = [
        Binding(
            "d",
            "delete",
            "Delete",
            id="instances.delete",
            tooltip="Delete the selected instance (asks first)",
        ),
    ]

    async def fetch(self) -> Iterable[Instance]:
        instances: Iterable[Instance] = await self.client.list_instances()
        return instances

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(instance.is_transitional for instance in items)

    def row(self, item: Any) -> Sequence[object]:
        instance: Instance = item
        address = instance.floating_ip or (instance.addresses[0] if instance.addresses else None)
        return (
            instance.name,
            instance.status,
            instance.power_state,
            instance.task_state,
            address,
            instance.flavor_name,
            instance.image_name,
            instance.key_name,
            instance.created_at,
        )

    def action_delete(self) -> None:
        instance: Instance | None = self.selected_item
        if instance is None or self.canfar_app.read_only:
            return
        self.confirm_then(
            "Delete instance",
            f"Delete {instance.name}? Everything on its disks that is not in a snapshot or in "
            "VOSpace is lost.",
            lambda: self.run_client_action(
                lambda: self.client.delete_instance(instance.id),
                done=f"Deleting {instance.name}",
                description="Delete instance",
            ),
        )


class FloatingIPsView(ResourceView):
    """Public addresses of the project and the instance each is on.

    | key | action                              |
    |-----|-------------------------------------|
    | `d` | release the address (confirmed)     |
    """

    AREA = "floating_ips"
    TITLE = "Floating IPs"
    SERVICE = "cloud"
    COLUMNS = (
        Column("address", "ADDRESS"),
        Column("status", "STATUS"),
        Column("instance", "INSTANCE"),
        Column("fixed", "FIXED ADDRESS"),
        Column("network", "NETWORK"),
    )
    EMPTY_TEXT = "No floating IP. Allocate one to reach an instance by SSH."
    DESTRUCTIVE_ACTIONS = frozenset({"release"})
    BINDINGS = [
        Binding(
            "d",
            "release",
            "Release",
            id="floating_ips.release",
            tooltip="Release the selected address (asks first)",
        ),
    ]

    async def fetch(self) -> Iterable[FloatingIP]:
        addresses: Iterable[FloatingIP] = await self.client.list_floating_ips()
        return addresses

    def item_title(self, item: Any) -> str:
        address: FloatingIP = item
        return address.address

    def row(self, item: Any) -> Sequence[object]:
        address: FloatingIP = item
        return (
            address.address,
            address.status,
            address.instance_id,
            address.fixed_address,
            address.network,
        )

    def action_release(self) -> None:
        address: FloatingIP | None = self.selected_item
        if address is None or self.canfar_app.read_only:
            return
        self.confirm_then(
            "Release floating IP",
            f"Release {address.address}? The project may not get the same address back.",
            lambda: self.run_client_action(
                lambda: self.client.release_floating_ip(address.id),
                done=f"Released {address.address}",
                description="Release floating IP",
            ),
            confirm_label="Release",
        )


class SnapshotsView(ResourceView):
    """Images and instance snapshots.

    | key | action                            |
    |-----|-----------------------------------|
    | `d` | delete the snapshot (confirmed)   |
    """

    AREA = "snapshots"
    TITLE = "Snapshots"
    SERVICE = "cloud"
    FAST_INTERVAL = 2.0
    COLUMNS = (
        Column("name", "NAME"),
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
            "d",
            "delete",
            "Delete",
            id="snapshots.delete",
            tooltip="Delete the selected snapshot (asks first)",
        ),
    ]

    async def fetch(self) -> Iterable[Image]:
        images: Iterable[Image] = await self.client.list_images()
        return images

    def wants_fast(self, items: Iterable[Any]) -> bool:
        return any(image.status.lower() in {"queued", "saving", "importing"} for image in items)

    def row(self, item: Any) -> Sequence[object]:
        image: Image = item
        return (
            image.name,
            image.kind.value,
            image.status,
            human_size(image.size_bytes),
            image.created_at,
            image.visibility,
        )

    def action_delete(self) -> None:
        image: Image | None = self.selected_item
        if image is None or self.canfar_app.read_only:
            return
        if image.kind is not ImageKind.SNAPSHOT:
            self.notify("Only your own instance snapshots can be deleted here.", severity="warning")
            return
        self.confirm_then(
            "Delete snapshot",
            f"Delete snapshot {image.name}? Batch jobs that name it will no longer start.",
            lambda: self.run_client_action(
                lambda: self.client.delete_image(image.id),
                done=f"Deleted {image.name}",
                description="Delete snapshot",
            ),
            require_text=image.name,
        )
