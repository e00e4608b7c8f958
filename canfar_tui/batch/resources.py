"""What a CANFAR flavor gives a batch job, and the ``request_*`` values that fit in it.

A batch job runs on a VM of the flavor named at submission; HTCondor only starts it there if
its ``request_cpus``, ``request_memory`` and ``request_disk`` fit the slot the VM advertises.
The VM advertises a little less memory and scratch than the flavor's nominal size (the kernel
and the file system keep some), so the values written for a flavor keep
:data:`RESOURCE_HEADROOM` of it.

Flavor names follow ``c<cpus>-<ram>gb-<scratch>`` (``c2-7.5gb-30``) for batch flavors with an
ephemeral scratch disk and ``p<cpus>-<ram>gb`` for persistent ones; :func:`flavor_from_name`
reads them when no cloud is at hand to ask (the command line without a cloud profile).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.queue.submit_language import integer_expression, size_kib
from canfar_tui.models import Flavor

__all__ = [
    "RESOURCE_HEADROOM",
    "Requests",
    "flavor_from_name",
    "flavor_requests",
    "parse_request_cpus",
    "parse_request_disk_kb",
    "parse_request_memory_mb",
]

#: Share of the flavor's RAM and scratch a job requests (the VM advertises a bit less).
RESOURCE_HEADROOM: Final = 0.95

_FLAVOR_NAME: Final = re.compile(
    r"^(?P<kind>[a-z])(?P<cpus>\d+)-(?P<ram>\d+(?:\.\d+)?)gb(?:-(?P<disk>\d+))?$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Requests:
    """``request_cpus``, ``request_memory`` (MB) and ``request_disk`` (KiB) for one flavor."""

    cpus: int
    memory_mb: int
    disk_kb: int

    @property
    def memory_text(self) -> str:
        """The ``request_memory`` value as written (MB, HTCondor's default unit)."""
        return str(self.memory_mb)

    @property
    def disk_text(self) -> str:
        """The ``request_disk`` value as written (whole GB when it is a whole number)."""
        gib, rest = divmod(self.disk_kb, 1024 * 1024)
        if not rest:
            return f"{gib}G"
        mib, rest = divmod(self.disk_kb, 1024)
        return f"{mib}M" if not rest else str(self.disk_kb)


def scratch_gb(flavor: Flavor) -> int:
    """The disk a batch job works on: the ephemeral scratch, else the root disk."""
    return flavor.ephemeral_gb if flavor.ephemeral_gb > 0 else flavor.disk_gb


def flavor_requests(flavor: Flavor) -> Requests:
    """The ``request_*`` values that fit a VM of ``flavor`` (see :data:`RESOURCE_HEADROOM`)."""
    memory = max(1, math.floor(flavor.ram_mb * RESOURCE_HEADROOM))
    disk_gb = max(1, math.floor(scratch_gb(flavor) * RESOURCE_HEADROOM))
    return Requests(max(1, flavor.vcpus), memory, disk_gb * 1024 * 1024)


def flavor_from_name(name: str) -> Flavor:
    """A Flavor read from a CANFAR flavor name such as ``c2-7.5gb-30`` or ``p2-3gb``.

    Raises InvalidInput when the name does not follow the pattern.
    """
    match = _FLAVOR_NAME.match(name.strip())
    if match is None:
        raise InvalidInput(
            f"Cannot tell the size of flavor {name!r}: expected a name like c2-7.5gb-30 "
            "(or a cloud profile that lists its flavors)."
        )
    ram_mb = round(float(match.group("ram")) * 1024)
    disk = int(match.group("disk") or 0)
    persistent = match.group("kind").lower() == "p"
    return Flavor(
        id=name.strip(),
        name=name.strip(),
        vcpus=int(match.group("cpus")),
        ram_mb=ram_mb,
        disk_gb=disk if persistent or not disk else 20,
        ephemeral_gb=0 if persistent else disk,
    )


def parse_request_cpus(value: str) -> int:
    """``request_cpus``: a whole-number expression; ValueError otherwise."""
    return integer_expression(value)


def parse_request_memory_mb(value: str) -> int:
    """``request_memory``: a size with an optional unit (default MB) in MB; ValueError."""
    return size_kib(value, "M") // 1024


def parse_request_disk_kb(value: str) -> int:
    """``request_disk``: a size with an optional unit (default KiB) in KiB; ValueError."""
    return size_kib(value, "K")
