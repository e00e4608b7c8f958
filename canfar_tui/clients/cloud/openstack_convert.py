"""openstacksdk resources → canfar_tui models, for :mod:`canfar_tui.clients.cloud.openstack`.

Pure functions over the SDK's dynamic objects (servers, flavors, images, key pairs, floating
IPs, Keystone's project dicts): nothing here imports openstacksdk or talks to the cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from canfar_tui.models import Flavor, Image, ImageKind, KeyPair, Project

__all__ = [
    "GONE_IMAGE_STATES",
    "POWER_STATES",
    "UNCOUNTED_STATES",
    "as_text",
    "device_of",
    "flavor_name",
    "one_line",
    "parse_time",
    "server_addresses",
    "short_id",
    "to_flavor",
    "to_image",
    "to_keypair",
    "to_project",
]

# Horizon's labels for Nova's power states.
POWER_STATES: Final = {
    0: "No State",
    1: "Running",
    3: "Paused",
    4: "Shut Down",
    6: "Crashed",
    7: "Suspended",
}
#: Glance states of images that are on their way out (not listed).
GONE_IMAGE_STATES: Final = frozenset({"deleted", "pending_delete"})
#: Servers whose cores and RAM no longer count against the quota.
UNCOUNTED_STATES: Final = frozenset({"DELETED", "SOFT_DELETED", "SHELVED_OFFLOADED"})
_MAX_DETAIL = 300


def parse_time(value: object) -> datetime | None:
    """An ISO timestamp from the API; None when missing or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def as_text(value: object) -> str:
    """``value`` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def short_id(identifier: str) -> str:
    """The first 8 characters of a long id (a UUID), for messages."""
    return identifier[:8] if len(identifier) > 12 else identifier


def to_project(data: Mapping[str, Any]) -> Project:
    return Project(
        id=str(data["id"]),
        name=str(data.get("name") or data["id"]),
        description=as_text(data.get("description")),
        enabled=bool(data.get("enabled", True)),
    )


def to_flavor(flavor: Any) -> Flavor:
    return Flavor(
        id=str(flavor.id),
        name=str(flavor.name),
        vcpus=int(flavor.vcpus or 0),
        ram_mb=int(flavor.ram or 0),
        disk_gb=int(flavor.disk or 0),
        ephemeral_gb=int(flavor.ephemeral or 0),
        is_public=bool(flavor.is_public if flavor.is_public is not None else True),
    )


def to_image(image: Any) -> Image:
    properties = image.properties if isinstance(image.properties, Mapping) else {}
    snapshot = properties.get("image_type") == "snapshot"
    source = image.instance_uuid or properties.get("instance_uuid")
    return Image(
        id=str(image.id),
        name=as_text(image.name),
        status=as_text(image.status) or "unknown",
        kind=ImageKind.SNAPSHOT if snapshot else ImageKind.IMAGE,
        visibility=as_text(image.visibility) or "private",
        size_bytes=int(image.size) if image.size is not None else None,
        created_at=parse_time(image.created_at),
        source_instance_id=str(source) if source else None,
        os_distro=as_text(image.os_distro) or as_text(properties.get("os_distro")),
    )


def to_keypair(keypair: Any) -> KeyPair:
    return KeyPair(
        name=str(keypair.name),
        fingerprint=as_text(keypair.fingerprint),
        public_key=as_text(keypair.public_key),
        key_type=as_text(getattr(keypair, "type", None)) or "ssh",
    )


def server_addresses(server: Any) -> list[str]:
    """The fixed addresses Nova reports (floating ones come from Neutron)."""
    fixed: list[str] = []
    addresses = server.addresses if isinstance(server.addresses, Mapping) else {}
    for entries in addresses.values():
        for entry in entries or ():
            if not isinstance(entry, Mapping) or not entry.get("addr"):
                continue
            if entry.get("OS-EXT-IPS:type", "fixed") != "floating":
                fixed.append(str(entry["addr"]))
    return fixed


def flavor_name(server: Any, flavor_names: Mapping[str, str]) -> str:
    """The name of a server's flavor (embedded by newer Novas, else looked up by id)."""
    flavor = server.flavor
    if flavor is None:
        return ""
    name = getattr(flavor, "original_name", None) or getattr(flavor, "name", None)
    if name:
        return str(name)
    flavor_id = getattr(flavor, "id", None)
    return flavor_names.get(str(flavor_id), str(flavor_id or ""))


def device_of(ip: Any) -> str | None:
    """The instance a floating IP is on, from Neutron's port details."""
    details = ip.port_details if isinstance(ip.port_details, Mapping) else None
    if not ip.port_id:
        return None
    if details is None:
        return None
    owner = as_text(details.get("device_owner"))
    device = details.get("device_id")
    if device and (not owner or owner.startswith("compute:")):
        return str(device)
    return None
