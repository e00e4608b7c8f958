"""The VOSpace tab: the user's VOSpace over the profile's StorageClient."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from canfar_tui.models import StorageNode
from canfar_tui.widgets.cells import human_size
from canfar_tui.widgets.resource_table import Column
from canfar_tui.widgets.resource_view import ResourceView


class VOSpaceView(ResourceView):
    """The user's VOSpace home folder."""

    AREA = "vospace"
    TITLE = "VOSpace"
    SERVICE = "storage"
    COLUMNS = (
        Column("name", "NAME"),
        Column("size", "SIZE", justify="right"),
        Column("modified", "MODIFIED"),
        Column("md5", "MD5"),
    )
    EMPTY_TEXT = "This VOSpace folder is empty."

    async def fetch(self) -> Iterable[StorageNode]:
        nodes: Iterable[StorageNode] = await self.client.list_nodes(self.client.home_uri)
        return nodes

    def row(self, item: Any) -> Sequence[object]:
        node: StorageNode = item
        name = f"{node.name}/" if node.is_container else node.name
        return (name, None if node.is_container else human_size(node.size), node.modified, node.md5)
