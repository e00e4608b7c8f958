"""Node paths of the loopback VOSpace service, and the faults a request can be answered with.

Every path (URL path segments, decoded once, and node URIs in request bodies) is split into
names; ``.``, ``..``, empty names, names with ``/``, ``%`` or control characters, over-long
names and the service's own temp folder are refused with :class:`PathRefused`, so nothing
outside the root is ever named.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, unquote

__all__ = [
    "DEFAULT_RESOURCE_ID",
    "DEFAULT_USERNAME",
    "MAX_NAME_BYTES",
    "TEMP_DIR_NAME",
    "ClientGone",
    "NodePath",
    "PathRefused",
    "VOSpaceFault",
    "encode_path",
    "not_found",
    "parse_path_segments",
    "split_url_path",
    "validate_name",
]

#: The registry ID the service answers for (CADC's ``vault``), and the owner of the home node.
DEFAULT_RESOURCE_ID = "ivo://cadc.nrc.ca/vault"
DEFAULT_USERNAME = "sandbox-user"
#: The folder under the root where uploads are written until they are complete.
TEMP_DIR_NAME = ".vospace-tmp"
MAX_NAME_BYTES = 255

NodePath = tuple[str, ...]


class PathRefused(ValueError):
    """A node path or URI that could escape the service root, or that names no valid node."""


class VOSpaceFault(Exception):
    """A VOSpace fault, answered with ``status`` and a ``fault`` name cadcutils recognises."""

    def __init__(self, status: int, fault: str, detail: str = "") -> None:
        super().__init__(f"{fault}: {detail}" if detail else fault)
        self.status = status
        self.fault = fault
        self.detail = detail


class ClientGone(Exception):
    """The client closed the connection (or we cut it on purpose)."""


def not_found(detail: str) -> VOSpaceFault:
    return VOSpaceFault(404, "NodeNotFound", detail)


def validate_name(name: str) -> str:
    """Return ``name`` if it can be one node name; raise :class:`PathRefused` otherwise."""
    if name in ("", ".", ".."):
        raise PathRefused(f"invalid node name {name!r}")
    if "/" in name or "%" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise PathRefused(f"invalid character in node name {name!r}")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise PathRefused("node name too long")
    if name == TEMP_DIR_NAME:
        raise PathRefused(f"reserved node name {name!r}")
    return name


def parse_path_segments(segments: Sequence[str], *, encoded: bool) -> NodePath:
    """Turn path segments into a validated node path; ``encoded`` segments are decoded once."""
    names: list[str] = []
    for segment in segments:
        if encoded:
            try:
                segment = unquote(segment, errors="strict")
            except UnicodeDecodeError as exc:
                raise PathRefused("path is not valid UTF-8") from exc
        names.append(validate_name(segment))
    return tuple(names)


def split_url_path(raw: str) -> NodePath:
    """The node path of the percent-encoded URL path after ``/nodes``, ``/data``, ...

    ``raw`` is ``""`` (the root) or ``"/a/b"``; one trailing slash is allowed.
    """
    if raw in ("", "/"):
        return ()
    if not raw.startswith("/"):
        raise PathRefused("relative path")
    body = raw[1:]
    if body.endswith("/"):
        body = body[:-1]
    return parse_path_segments(body.split("/"), encoded=True)


def encode_path(node: NodePath) -> str:
    """``node`` as a percent-encoded URL path (no leading slash)."""
    return "/".join(quote(name, safe="") for name in node)
