"""canfar-tui: a terminal dashboard for batch processing on CANFAR.

Tabs for OpenStack projects, instances, floating IPs and snapshots, the HTCondor queue,
VOSpace storage and local source detection, all on one async client layer
(:mod:`canfar_tui.clients`). The sandbox profile (a simulated CANFAR on this machine) is
the default until real credentials are configured.
"""

__version__ = "0.1.0"
