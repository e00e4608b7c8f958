"""What the sandbox cloud starts with: CANFAR's projects, flavors and images on Arbutus.

Read by :mod:`canfar_tui.clients.cloud.sandbox_store` to seed a new state file, and by
``scripts/openstack/seed.py`` to seed the test OpenStack, so the two backends cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = ["SEED_FLAVORS", "SEED_IMAGES", "SEED_PROJECTS", "SEED_TIME", "SeedProject"]


@dataclass(frozen=True, slots=True)
class SeedProject:
    """A project and its quotas (instances, vCPUs, RAM in MB, floating IPs)."""

    name: str
    description: str
    instances: int
    cores: int
    ram_mb: int
    floating_ips: int


SEED_PROJECTS: Final = (
    SeedProject("canfar-batch-demo", "CANFAR batch processing demo allocation", 4, 8, 30720, 1),
    SeedProject("canfar-survey", "Survey data reduction allocation", 10, 32, 61440, 1),
)

# name, vcpus, ram MB, root disk GB, ephemeral GB. ``c…`` flavors carry ephemeral scratch
# (mounted on /mnt by the CANFAR images); ``p…`` flavors are for persistent VMs, no scratch.
SEED_FLAVORS: Final = (
    ("c1-3.75gb-15", 1, 3840, 20, 15),
    ("c2-7.5gb-30", 2, 7680, 20, 31),
    ("c4-15gb-83", 4, 15360, 20, 83),
    ("c8-30gb-186", 8, 30720, 20, 186),
    ("p1-1.5gb", 1, 1536, 20, 0),
    ("p2-3gb", 2, 3072, 20, 0),
    ("p4-7.5gb", 4, 7680, 20, 0),
)

# name, os_distro, size in bytes
SEED_IMAGES: Final = (
    ("canfar-ubuntu-20.04", "ubuntu", 2_952_790_016),
    ("canfar-rocky-8", "rocky", 2_415_919_104),
)

#: When the seeded images were created (seconds since the epoch).
SEED_TIME: Final = datetime(2023, 8, 1, 17, 0, tzinfo=UTC).timestamp()
