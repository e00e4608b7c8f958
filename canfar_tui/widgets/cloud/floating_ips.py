"""The Floating IPs tab: public addresses of the project and the instance each is on.

| key       | action                                    |
|-----------|-------------------------------------------|
| `n`       | allocate an address                       |
| `a` / `A` | associate with an instance / disassociate |
| `d`       | release (confirmed)                       |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding

from canfar_tui.clients.base import ClientError, QuotaExceeded
from canfar_tui.models import FloatingIP, Instance
from canfar_tui.screens.cloud_dialogs import ChoiceScreen
from canfar_tui.widgets.cloud.base import CloudView
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column


def quota_message(addresses: Sequence[FloatingIP]) -> str | None:
    """What to say when the floating-IP quota is full but an allocated address is free.

    OpenStack (and the sandbox) count allocated addresses against the quota, attached or not:
    "in use" would be wrong for one attached to nothing. None when every address is attached.
    """
    free = [address.address for address in addresses if not address.instance_id]
    if not free:
        return None
    count = len(addresses)
    if count == 1:
        return (
            f"Quota exceeded: the project's only floating IP, {free[0]}, is allocated but "
            "attached to nothing; press a to associate it with an instance."
        )
    return (
        f"Quota exceeded: all {count} floating IPs of the project are allocated; {free[0]} "
        "is attached to nothing; press a to associate it with an instance."
    )


class FloatingIPsView(CloudView):
    """Public addresses of the project and the instance each is on.

    | key       | action                                 |
    |-----------|----------------------------------------|
    | `n`       | allocate an address                    |
    | `a`       | associate with an instance (pick one)  |
    | `A`       | disassociate                           |
    | `d`       | release the address (confirmed)        |
    """

    AREA = "floating_ips"
    TITLE = "Floating IPs"
    COLUMNS = (
        Column("address", "ADDRESS"),
        Column("status", "STATUS"),
        Column("instance", "INSTANCE"),
        Column("fixed", "FIXED ADDRESS"),
        Column("network", "NETWORK"),
    )
    EMPTY_TEXT = "No floating IP. Press n to allocate one; an instance needs it for SSH."
    READ_ONLY_EMPTY_TEXT = "No floating IP (read-only mode: allocating one is disabled)."
    DESTRUCTIVE_ACTIONS = frozenset({"allocate", "associate", "disassociate", "release"})
    BINDINGS = [
        Binding(
            "n",
            "allocate",
            "Allocate",
            id="floating_ips.allocate",
            tooltip="Allocate an address from the external network to the project",
        ),
        Binding(
            "a",
            "associate",
            "Associate",
            id="floating_ips.associate",
            tooltip="Associate the selected address with an instance",
        ),
        Binding(
            "A",
            "disassociate",
            "Disassociate",
            id="floating_ips.disassociate",
            tooltip="Take the selected address off its instance",
            show=False,
        ),
        Binding(
            "d",
            "release",
            "Release",
            id="floating_ips.release",
            tooltip="Release the selected address (asks first)",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(context, id=id)
        #: instance id -> name, refreshed with every fetch.
        self.instance_names: dict[str, str] = {}

    async def fetch(self) -> Iterable[FloatingIP]:
        addresses: Iterable[FloatingIP] = await self.client.list_floating_ips()
        try:
            instances: Sequence[Instance] = await self.client.list_instances()
        except ClientError:
            instances = ()
        self.instance_names = {instance.id: instance.name for instance in instances}
        return addresses

    def item_title(self, item: Any) -> str:
        address: FloatingIP = item
        return address.address

    def row(self, item: Any) -> Sequence[object]:
        address: FloatingIP = item
        instance = (
            self.instance_names.get(address.instance_id, address.instance_id)
            if address.instance_id
            else None
        )
        return (address.address, address.status, instance, address.fixed_address, address.network)

    def _address(self) -> FloatingIP | None:
        address: FloatingIP | None = self.selected_or_warn("a floating IP")
        return address

    def action_allocate(self) -> None:
        if self.context.read_only:
            return

        async def allocate() -> FloatingIP:
            try:
                address: FloatingIP = await self.client.allocate_floating_ip()
            except QuotaExceeded as error:
                try:
                    message = quota_message(list(await self.client.list_floating_ips()))
                except ClientError:
                    message = None
                if message is None:
                    raise
                raise QuotaExceeded(message, details=error.details) from error
            return address

        self.act(
            allocate,
            description="Allocate floating IP",
            done=lambda address: (
                f"Allocated {address.address}. Press a to associate it with an instance."
            ),
        )

    def action_associate(self) -> None:
        if self.context.read_only:
            return
        address = self._address()
        if address is None:
            return
        if address.instance_id:
            holder = self.instance_names.get(address.instance_id, address.instance_id)
            self.notify(
                f"{address.address} is on {holder}; A disassociates it first.", severity="warning"
            )
            return

        def pick(instances: Sequence[Instance]) -> None:
            free = [
                instance
                for instance in instances
                if not instance.floating_ip and instance.task_state != "deleting"
            ]
            if not free:
                self.notify(
                    "Every instance already has a floating IP (or there is none): "
                    "launch one on the Instances tab (2, then n).",
                    severity="warning",
                )
                return
            choices: list[tuple[str, str | Text, bool]] = [
                (
                    instance.id,
                    Text(f"{instance.name:<24} {instance.status:<8} {instance.image_name}"),
                    True,
                )
                for instance in free
            ]

            def chosen(choice: str | None) -> None:
                instance = next((i for i in free if i.id == choice), None)
                if instance is None:
                    return

                async def associate() -> FloatingIP:
                    result: FloatingIP = await self.client.associate_floating_ip(
                        address.id, instance.id
                    )
                    return result

                self.act(
                    associate,
                    description="Associate floating IP",
                    done=f"{address.address} is associated with {instance.name}",
                )

            self.app.push_screen(
                ChoiceScreen(
                    f"Associate {address.address}",
                    "With which instance? (instances without a floating IP)",
                    choices,
                ),
                chosen,
            )

        self.act(
            self.client.list_instances,
            description="Associate floating IP",
            then=pick,
            changes=False,
        )

    def action_disassociate(self) -> None:
        if self.context.read_only:
            return
        address = self._address()
        if address is None:
            return
        if not address.instance_id:
            self.notify(f"{address.address} is not associated.", severity="warning")
            return

        async def disassociate() -> FloatingIP:
            result: FloatingIP = await self.client.disassociate_floating_ip(address.id)
            return result

        self.act(
            disassociate,
            description="Disassociate floating IP",
            done=f"{address.address} is free again",
        )

    def action_release(self) -> None:
        address = self._address()
        if address is None or self.context.read_only:
            return
        message = f"Release {address.address}? The project may not get the same address back."
        if address.instance_id:
            holder = self.instance_names.get(address.instance_id, address.instance_id)
            message += f" {holder} loses its public address."
        self.confirm_then(
            "Release floating IP",
            message,
            lambda: self.act(
                lambda: self.client.release_floating_ip(address.id),
                done=f"Released {address.address}",
                description="Release floating IP",
            ),
            confirm_label="Release",
        )
