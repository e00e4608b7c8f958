"""The dashboard's tabs: their ids, titles and view classes, in the order of the number keys.

A tab's module is imported when the tab is first shown (:func:`view_class`), so the first
paint pays only for the first tab, and nothing here imports a view at module level.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canfar_tui.widgets.detect.view import DetectView
    from canfar_tui.widgets.pipeline.view import PipelineView
    from canfar_tui.widgets.resource_view import ResourceView

    #: What a tab holds: a resource view, the Detect form or the Pipeline tab.
    TabView = ResourceView | DetectView | PipelineView

__all__ = ["TABS", "tab_title", "view_class"]

#: (tab id, title, "module:ViewClass") in the order of the number keys.
TABS: tuple[tuple[str, str, str], ...] = (
    ("projects", "Projects", "canfar_tui.widgets.cloud.projects:ProjectsView"),
    ("instances", "Instances", "canfar_tui.widgets.cloud.instances:InstancesView"),
    ("floating_ips", "Floating IPs", "canfar_tui.widgets.cloud.floating_ips:FloatingIPsView"),
    ("snapshots", "Snapshots", "canfar_tui.widgets.cloud.snapshots:SnapshotsView"),
    ("queue", "Queue", "canfar_tui.widgets.queue.view:QueueView"),
    ("vospace", "VOSpace", "canfar_tui.widgets.vospace.view:VOSpaceView"),
    ("detect", "Detect", "canfar_tui.widgets.detect.view:DetectView"),
    ("pipeline", "Pipeline", "canfar_tui.widgets.pipeline.view:PipelineView"),
)


def view_class(tab_id: str) -> type[TabView]:
    """The view class of a tab (importing its module on first use)."""
    path = next(path for tid, _, path in TABS if tid == tab_id)
    module, _, name = path.partition(":")
    cls: type[TabView] = getattr(importlib.import_module(module), name)
    return cls


def tab_title(tab_id: str) -> str:
    """The title of a tab (its id when unknown)."""
    return next((title for tid, title, _ in TABS if tid == tab_id), tab_id)
