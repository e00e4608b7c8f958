"""What both cloud backends (OpenStack and the sandbox) agree on: quota names and the network.

The quota resource names are OpenStack's own (Nova's ``instances``, ``cores``, ``ram`` and
Neutron's ``floating_ips``); they key :class:`~canfar_tui.models.QuotaUsage` for every backend.
:data:`EXTERNAL_NETWORK` is the network floating IPs come from, as it is named on Arbutus.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXTERNAL_NETWORK",
    "QUOTA_CORES",
    "QUOTA_FLOATING_IPS",
    "QUOTA_INSTANCES",
    "QUOTA_RAM",
]

#: Resource names used in :class:`~canfar_tui.models.Quota` (OpenStack's own quota names).
QUOTA_INSTANCES: Final = "instances"
QUOTA_CORES: Final = "cores"
QUOTA_RAM: Final = "ram"
QUOTA_FLOATING_IPS: Final = "floating_ips"

#: The external network floating IPs come from (its name on Arbutus).
EXTERNAL_NETWORK: Final = "Public-Network"
