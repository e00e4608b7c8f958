"""A loopback VOSpace service over a local directory, spoken to by the real ``vos`` client.

The sandbox profile and the tests run the project's VOSpace backend (``clients/vospace.py``, on
the real ``vos`` / ``cadcutils`` libraries) and the real ``vls``/``vcp``/``vmkdir``/``vrm``/
``vmv`` commands against this service. It answers the requests those libraries send to CADC's
``vault`` service (see the URL layout below) and keeps every byte under one directory.

URL layout (``BASE`` is ``http://127.0.0.1:PORT/vault`` for the default resource ID)::

    GET  BASE/capabilities, BASE/availability        VOSI documents
    GET  BASE/nodes/PATH?limit=N&uri=VOSURI&sort=&order=   node XML; ``limit=0`` lists no
                                                     children; a page starts AT ``uri``
    PUT  BASE/nodes/PATH                             create a container (or empty data node)
    POST BASE/nodes/PATH                             update properties
    DELETE BASE/nodes/PATH                           delete a data node or an empty container
    POST BASE/synctrans                              transfer negotiation (push/pull), 303 to
    GET  BASE/xfer/ID                                ... the transfer document with endpoints
    GET  BASE/transfers/ID/phase|error               sync job status as cadcutils checks it
    POST BASE/transfers (+ /ID/phase PHASE=RUN)      async transfer: move/rename (vmv)
    POST BASE/recursive-delete (+ /ID/phase)         recursive delete job (vrm -R)
    GET  BASE/files/PATH                             303 to the data endpoint (files-proto)
    GET|HEAD|PUT BASE/data/PATH                      bytes, with ``Digest: md5=…`` and
                                                     ``Content-MD5``; Range requests resume

Node URIs are ``vos://cadc.nrc.ca!vault/PATH`` (``~`` is accepted for ``!``); ``PATH`` starts
with the user's home, ``/<username>``, which is the only place clients may write.

Safety rules:

* only loopback addresses are accepted for binding (``127.0.0.1``, port 0 by default);
* every path (URL path segments, decoded once, and node URIs in request bodies) is split into
  names; ``.``, ``..``, empty names, names with ``/``, ``%``, control characters, and paths
  through symbolic links are refused, so nothing outside the root is ever read or written;
* an upload streams into a temp file in ``ROOT/.vospace-tmp`` and is renamed into place only
  when it is complete, its MD5 matches the ``Digest``/``Content-MD5`` the client sent (if any),
  and the quota allows it. A cut-off or corrupted upload leaves nothing at the destination.

:class:`FaultPlan` injects faults for tests (a download cut off mid-file, an upload corrupted in
transit, a request answered with 503, a listing or upload paused mid-way until released).
:meth:`RunningVOSpace.restart` serves the same folder on the same port again after the service
died; the sandbox's VOSpace client does that by itself for the service it started.

Pointing a ``vos`` client at the service: ``vos``/``cadcutils`` find services through the
registry cache ``$HOME/.config/cadc-registry/resource-caps`` and check PyPI for a newer ``vos``
unless ``$HOME/.config/vos/caches/.pypi_versions.json`` is fresh. :func:`prepare_client_home`
writes both (with an mtime in the future, so they are never refreshed) into a HOME-like
directory. A ``vos`` command then runs with ``HOME`` set to it. ``cadcutils`` reads HOME once,
at import time, so an in-process client cannot be redirected by changing HOME later: the
VOSpace backend instead points the library's cache location at the prepared directory while it
builds its client (see ``canfar_tui.clients.storage.vospace``).

Run standalone (for scripts)::

    python -m canfar_tui.clients.storage.loopback_server --root DIR --port 0 --pidfile F \
        [--url-file U] [--client-home H]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import mimetypes
import os
import signal
import socket
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.etree import ElementTree as ET

__all__ = [
    "DEFAULT_RESOURCE_ID",
    "DEFAULT_USERNAME",
    "FaultPlan",
    "PathRefused",
    "RunningVOSpace",
    "main",
    "prepare_client_home",
    "start_server",
]

log = logging.getLogger(__name__)

DEFAULT_RESOURCE_ID = "ivo://cadc.nrc.ca/vault"
DEFAULT_USERNAME = "sandbox-user"

VOS_NS = "http://www.ivoa.net/xml/VOSpace/v2.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
CORE = "ivo://ivoa.net/vospace/core#"
PROP_LENGTH = CORE + "length"
PROP_DATE = CORE + "date"

#: Properties the service computes; clients cannot set them.
READ_ONLY_PROPERTIES = frozenset(
    CORE + name for name in ("length", "MD5", "date", "creator", "quota", "type")
)
TEMP_DIR_NAME = ".vospace-tmp"
CHUNK_SIZE = 64 * 1024
MAX_XML_BODY = 1024 * 1024
MAX_JOBS = 1000
MAX_NAME_BYTES = 255
#: Registry and version caches get an mtime this far in the future so cadcutils never refreshes.
CACHE_FUTURE_SECONDS = 10 * 365 * 86400

# Documents are built with literal ``vos:``/``uws:`` prefixes and xmlns attributes, never with
# ET.register_namespace: that registry is process-wide, and a registered ``vos`` prefix makes the
# ``vos`` library (which adds its own literal xmlns:vos attribute) write malformed XML in-process.
NAMESPACES = {"xmlns:vos": VOS_NS, "xmlns:xsi": XSI_NS}

NodePath = tuple[str, ...]


# --------------------------------------------------------------------------- errors


class PathRefused(ValueError):
    """A node path or URI that could escape the service root, or that names no valid node."""


class VOSpaceFault(Exception):
    """A VOSpace fault, answered with ``status`` and a ``fault`` name cadcutils recognises."""

    def __init__(self, status: int, fault: str, detail: str = "") -> None:
        super().__init__(f"{fault}: {detail}" if detail else fault)
        self.status = status
        self.fault = fault
        self.detail = detail


class _ClientGone(Exception):
    """The client closed the connection (or we cut it on purpose)."""


def _not_found(detail: str) -> VOSpaceFault:
    return VOSpaceFault(404, "NodeNotFound", detail)


# --------------------------------------------------------------------------- paths


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


def _encode_path(node: NodePath) -> str:
    return "/".join(quote(name, safe="") for name in node)


# --------------------------------------------------------------------------- faults


@dataclass
class FaultPlan:
    """Faults the next requests meet, for tests. Every method is thread-safe."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cuts: list[int] = field(default_factory=list)
    _corruptions: int = 0
    _failures: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    _stalls: list[int] = field(default_factory=list)
    _request_stalls: list[tuple[str | None, str | None, int]] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event, repr=False)
    downloads_cut: int = 0
    uploads_corrupted: int = 0
    requests_failed: int = 0
    requests_stalled: int = 0

    def cut_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """The next ``times`` data downloads send ``after_bytes`` bytes, then drop the socket."""
        with self._lock:
            self._cuts.extend([max(0, after_bytes)] * times)

    def stall_downloads(self, times: int = 1, *, after_bytes: int = 1024) -> None:
        """The next ``times`` downloads pause after ``after_bytes`` until :meth:`release`."""
        with self._lock:
            self._released.clear()
            self._stalls.extend([max(0, after_bytes)] * times)

    def release(self) -> None:
        """Let stalled downloads go on."""
        self._released.set()

    def take_stall(self) -> int | None:
        with self._lock:
            return self._stalls.pop(0) if self._stalls else None

    def wait_released(self, timeout: float = 60.0) -> None:
        self._released.wait(timeout)

    def stall_requests(
        self,
        times: int = 1,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        after_bytes: int = 0,
    ) -> None:
        """The next ``times`` matching requests pause until :meth:`release`: before they are
        answered, or, for a request with a body, once ``after_bytes`` of it were read (a
        listing or an upload caught mid-way when the service is stopped or killed)."""
        with self._lock:
            self._released.clear()
            self._request_stalls.extend([(endpoint, method, max(0, after_bytes))] * times)

    def take_request_stall(self, endpoint: str, method: str) -> int | None:
        with self._lock:
            for index, (want_endpoint, want_method, after) in enumerate(self._request_stalls):
                if want_endpoint in (None, endpoint) and want_method in (None, method):
                    del self._request_stalls[index]
                    return after
        return None

    def stall_here(self) -> None:
        """Count a stall and wait for :meth:`release` (called by the request's thread)."""
        with self._lock:
            self.requests_stalled += 1
        self.wait_released()

    def corrupt_uploads(self, times: int = 1) -> None:
        """The next ``times`` uploads have one bit flipped as they arrive (bad network)."""
        with self._lock:
            self._corruptions += times

    def fail_requests(
        self,
        status: int = 503,
        times: int = 1,
        *,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (e.g. 503, 500)."""
        with self._lock:
            self._failures.extend([(status, endpoint, method)] * times)

    def clear(self) -> None:
        with self._lock:
            self._cuts.clear()
            self._corruptions = 0
            self._failures.clear()
            self._stalls.clear()
            self._request_stalls.clear()
        self._released.set()

    def take_cut(self) -> int | None:
        with self._lock:
            if not self._cuts:
                return None
            self.downloads_cut += 1
            return self._cuts.pop(0)

    def take_corruption(self) -> bool:
        with self._lock:
            if self._corruptions <= 0:
                return False
            self._corruptions -= 1
            self.uploads_corrupted += 1
            return True

    def take_failure(self, endpoint: str, method: str) -> int | None:
        with self._lock:
            for index, (status, want_endpoint, want_method) in enumerate(self._failures):
                if want_endpoint not in (None, endpoint) or want_method not in (None, method):
                    continue
                del self._failures[index]
                self.requests_failed += 1
                return status
        return None


# --------------------------------------------------------------------------- the store


@dataclass
class _Job:
    id: str
    kind: str  # "sync", "move" or "delete"
    target: NodePath
    direction: str = ""
    destination: NodePath | None = None
    phase: str = "PENDING"
    error: str = ""
    success_count: int = 0
    error_count: int = 0


def _format_date(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _b64_md5(hex_md5: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_md5)).decode("ascii")


def _md5_from_headers(digest: str | None, content_md5: str | None) -> str | None:
    """The hex MD5 a client announced in ``Digest: md5=<b64>`` or ``Content-MD5``."""
    candidates: list[str] = []
    if digest:
        for part in digest.split(","):
            algorithm, _, value = part.strip().partition("=")
            if algorithm.strip().lower() == "md5":
                candidates.append(value.strip())
    if content_md5:
        candidates.append(content_md5.strip())
    for value in candidates:
        if len(value) == 32 and all(ch in "0123456789abcdefABCDEF" for ch in value):
            return value.lower()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise VOSpaceFault(400, "InvalidArgument", "malformed MD5 header") from None
        if len(raw) != 16:
            raise VOSpaceFault(400, "InvalidArgument", "malformed MD5 header")
        return raw.hex()
    return None


class _Store:
    """The directory behind the service: path checks, node XML, and atomic changes."""

    def __init__(
        self, root: Path, username: str, resource_id: str, quota_bytes: int | None
    ) -> None:
        self.root = root.resolve()
        self.username = validate_name(username)
        self.resource_id = resource_id
        self.quota_bytes = quota_bytes
        authority = resource_id.removeprefix("ivo://")
        self.authority = authority.replace("/", "!")
        self.authorities = {self.authority, authority.replace("/", "~")}
        self.creator = f"CN={username},OU=canfar-tui sandbox,O=CANFAR,C=CA"
        self.lock = threading.RLock()
        self._md5_lock = threading.Lock()
        self._md5_cache: dict[tuple[int, int, int, int], str] = {}
        self._props: dict[NodePath, dict[str, str]] = {}
        self.temp_dir = self.root / TEMP_DIR_NAME
        self.root.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(mode=0o700, exist_ok=True)
        for leftover in self.temp_dir.iterdir():  # uploads cut off by an earlier crash
            with contextlib.suppress(OSError):
                leftover.unlink()
        (self.root / self.username).mkdir(exist_ok=True)

    # ---- URIs and paths

    def uri(self, node: NodePath) -> str:
        return f"vos://{self.authority}/" + "/".join(node)

    def path_from_uri(self, uri: str) -> NodePath:
        if not uri.startswith("vos://") or "?" in uri or "#" in uri:
            raise PathRefused(f"not a node URI of this service: {uri!r}")
        authority, _, path = uri[len("vos://") :].partition("/")
        if authority not in self.authorities:
            raise PathRefused(f"not a node URI of this service: {uri!r}")
        if path == "":
            return ()
        if path.endswith("/"):
            path = path[:-1]
        return parse_path_segments(path.split("/"), encoded=True)

    def fs_path(self, node: NodePath) -> Path:
        """The file behind ``node``; refuses any path that resolves through a symbolic link."""
        path = self.root.joinpath(*node)
        if os.path.realpath(path) != str(path):
            raise VOSpaceFault(403, "PermissionDenied", "symbolic links are not served")
        return path

    def lstat(self, node: NodePath) -> os.stat_result | None:
        try:
            return os.lstat(self.fs_path(node))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def require(self, node: NodePath) -> os.stat_result:
        st = self.lstat(node)
        if st is None or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise _not_found(self.uri(node))
        return st

    def require_writable(self, node: NodePath) -> None:
        if len(node) < 2 or node[0] != self.username:
            raise VOSpaceFault(403, "PermissionDenied", f"read-only location {self.uri(node)}")

    def require_parent_container(self, node: NodePath) -> None:
        parent = self.lstat(node[:-1])
        if parent is None:
            raise VOSpaceFault(404, "ContainerNotFound", self.uri(node[:-1]))
        if not stat.S_ISDIR(parent.st_mode):
            raise VOSpaceFault(400, "InvalidArgument", f"{self.uri(node[:-1])} is not a container")

    # ---- checksums and usage

    def md5_of(self, path: Path, st: os.stat_result, fd: int | None = None) -> str:
        """The MD5 of a file (read from ``fd`` when given, so it matches ``st``), cached."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._md5_lock:
            cached = self._md5_cache.get(key)
        if cached is not None:
            return cached
        digest = hashlib.md5(usedforsecurity=False)
        own_fd = fd is None
        if fd is None:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            offset = 0
            while chunk := os.pread(fd, 1024 * 1024, offset):
                digest.update(chunk)
                offset += len(chunk)
        finally:
            if own_fd:
                os.close(fd)
        value = digest.hexdigest()
        with self._md5_lock:
            if len(self._md5_cache) > 100_000:
                self._md5_cache.clear()
            self._md5_cache[key] = value
        return value

    def remember_md5(self, st: os.stat_result, value: str) -> None:
        with self._md5_lock:
            self._md5_cache[(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)] = value

    def usage(self, node: NodePath) -> int:
        total = 0
        stack = [self.root.joinpath(*node)]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(current) as entries:
                    for entry in entries:
                        if entry.is_symlink():
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            if not (current == self.root and entry.name == TEMP_DIR_NAME):
                                stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
        return total

    # ---- node XML

    def properties(self, node: NodePath) -> dict[str, str]:
        with self.lock:
            return dict(self._props.get(node, {}))

    def node_element(
        self,
        node: NodePath,
        st: os.stat_result,
        *,
        parent: ET.Element | None = None,
        target: bool = False,
    ) -> ET.Element:
        if parent is None:
            element = ET.Element("vos:node", NAMESPACES)
        else:
            element = ET.SubElement(parent, "vos:node")
        is_dir = stat.S_ISDIR(st.st_mode)
        element.set("uri", self.uri(node))
        element.set("xsi:type", "vos:ContainerNode" if is_dir else "vos:DataNode")
        props = ET.SubElement(element, "vos:properties")

        def prop(uri: str, value: str, read_only: bool = True) -> None:
            item = ET.SubElement(props, "vos:property", uri=uri)
            item.set("readOnly", "true" if read_only else "false")
            item.text = value

        prop(PROP_DATE, _format_date(st.st_mtime))
        prop(CORE + "creator", self.creator)
        extra = self.properties(node)
        prop(CORE + "ispublic", extra.pop(CORE + "ispublic", "false"), read_only=False)
        for key, value in sorted(extra.items()):
            prop(key, value, read_only=False)
        path = self.root.joinpath(*node)
        if is_dir:
            if target:
                prop(PROP_LENGTH, str(self.usage(node)))
            if node == (self.username,) and self.quota_bytes is not None:
                prop(CORE + "quota", str(self.quota_bytes))
        else:
            prop(PROP_LENGTH, str(st.st_size))
            prop(CORE + "MD5", self.md5_of(path, st))
            prop(CORE + "type", _content_type(node[-1]))
        return element

    def children(
        self,
        node: NodePath,
        *,
        limit: int | None,
        start: NodePath | None,
        sort: str | None,
        descending: bool,
    ) -> list[tuple[NodePath, os.stat_result]]:
        entries: list[tuple[NodePath, os.stat_result]] = []
        with os.scandir(self.root.joinpath(*node)) as scan:
            for entry in scan:
                if entry.is_symlink():
                    continue
                try:
                    name = validate_name(entry.name)
                    st = entry.stat(follow_symlinks=False)
                except (PathRefused, OSError):
                    continue
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    entries.append(((*node, name), st))

        def key(item: tuple[NodePath, os.stat_result]) -> tuple[float, str]:
            child, st = item
            if sort == PROP_LENGTH:
                return (float(st.st_size if stat.S_ISREG(st.st_mode) else 0), child[-1])
            if sort == PROP_DATE:
                return (st.st_mtime, child[-1])
            return (0.0, child[-1])

        entries.sort(key=key, reverse=descending)
        if start is not None:
            start_st = self.lstat(start)
            if start_st is not None:
                start_key = key((start, start_st))
            elif sort in (PROP_LENGTH, PROP_DATE):
                return []
            else:
                start_key = (0.0, start[-1])
            entries = [
                item
                for item in entries
                if (key(item) <= start_key if descending else key(item) >= start_key)
            ]
        return entries if limit is None else entries[:limit]

    # ---- changes

    def make_node(self, node: NodePath, *, container: bool, props: dict[str, str]) -> None:
        self.require_writable(node)
        with self.lock:
            self.require_parent_container(node)
            path = self.fs_path(node)
            if self.lstat(node) is not None:
                raise VOSpaceFault(409, "DuplicateNode", self.uri(node))
            if container:
                path.mkdir(mode=0o755)
            else:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                os.close(fd)
            self._set_props(node, props)

    def _set_props(self, node: NodePath, props: Mapping[str, str | None]) -> None:
        current = self._props.setdefault(node, {})
        for key, value in props.items():
            if key in READ_ONLY_PROPERTIES:
                continue
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        if not current:
            self._props.pop(node, None)

    def update_props(self, node: NodePath, props: dict[str, str | None]) -> None:
        if node and node[0] != self.username:
            raise VOSpaceFault(403, "PermissionDenied", self.uri(node))
        with self.lock:
            self.require(node)
            self._set_props(node, props)

    def _forget(self, node: NodePath) -> None:
        for key in [key for key in self._props if key[: len(node)] == node]:
            del self._props[key]

    def delete(self, node: NodePath) -> None:
        self.require_writable(node)
        with self.lock:
            st = self.require(node)
            path = self.fs_path(node)
            if stat.S_ISDIR(st.st_mode):
                if any(path.iterdir()):
                    raise VOSpaceFault(409, "ContainerNotEmpty", self.uri(node))
                path.rmdir()
            else:
                path.unlink()
            self._forget(node)

    def delete_tree(self, node: NodePath) -> tuple[int, int]:
        """Delete a node and everything below it; returns (deleted, failed)."""
        self.require_writable(node)
        with self.lock:
            st = self.require(node)
            path = self.fs_path(node)
            deleted = failed = 0
            if stat.S_ISDIR(st.st_mode):
                for current, dirs, files in os.walk(path, topdown=False, followlinks=False):
                    for name in files:
                        try:
                            os.unlink(os.path.join(current, name))
                            deleted += 1
                        except OSError:
                            failed += 1
                    for name in dirs:
                        child = os.path.join(current, name)
                        try:
                            if os.path.islink(child):
                                os.unlink(child)
                            else:
                                os.rmdir(child)
                            deleted += 1
                        except OSError:
                            failed += 1
                try:
                    path.rmdir()
                    deleted += 1
                except OSError:
                    failed += 1
            else:
                path.unlink()
                deleted += 1
            self._forget(node)
            return deleted, failed

    def move(self, source: NodePath, destination: NodePath) -> NodePath:
        """Move or rename ``source``; into ``destination`` when that is a container."""
        self.require_writable(source)
        with self.lock:
            source_st = self.require(source)
            dest_st = self.lstat(destination)
            if dest_st is not None and stat.S_ISDIR(dest_st.st_mode):
                destination = (*destination, source[-1])
                dest_st = self.lstat(destination)
            self.require_writable(destination)
            if dest_st is not None:
                raise VOSpaceFault(409, "DuplicateNode", self.uri(destination))
            self.require_parent_container(destination)
            if stat.S_ISDIR(source_st.st_mode) and destination[: len(source)] == source:
                raise VOSpaceFault(400, "InvalidArgument", "cannot move a container into itself")
            os.rename(self.fs_path(source), self.fs_path(destination))
            for key in [key for key in self._props if key[: len(source)] == source]:
                self._props[destination + key[len(source) :]] = self._props.pop(key)
            return destination

    def store_upload(
        self, node: NodePath, chunks: Iterator[bytes], *, expected_md5: str | None, corrupt: bool
    ) -> tuple[str, int]:
        """Write an upload to a temp file; rename it into place only if complete and intact."""
        self.require_writable(node)
        self.require_parent_container(node)
        existing = self.lstat(node)
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise VOSpaceFault(409, "DuplicateNode", f"{self.uri(node)} is a container")
        temp = self.temp_dir / f"{uuid.uuid4().hex}.part"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    if corrupt and chunk:
                        chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
                        corrupt = False
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            actual = digest.hexdigest()
            if expected_md5 is not None and actual != expected_md5:
                raise VOSpaceFault(
                    412, "ChecksumMismatch", f"received MD5 {actual}, expected {expected_md5}"
                )
            with self.lock:
                self.require_parent_container(node)
                current = self.lstat(node)
                if current is not None and not stat.S_ISREG(current.st_mode):
                    raise VOSpaceFault(409, "DuplicateNode", f"{self.uri(node)} is a container")
                if self.quota_bytes is not None:
                    used = self.usage((self.username,))
                    replaced = current.st_size if current is not None else 0
                    if used - replaced + size > self.quota_bytes:
                        raise VOSpaceFault(413, "QuotaExceeded", "the VOSpace quota is full")
                os.replace(temp, self.fs_path(node))
                self.remember_md5(os.lstat(self.fs_path(node)), actual)
            return actual, size
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _content_type(name: str) -> str:
    if name.endswith((".fits", ".fits.fz", ".fz", ".fit")):
        return "application/fits"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _xml_bytes(element: ET.Element) -> bytes:
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


# --------------------------------------------------------------------------- capabilities


_CAPABILITY_IDS = (
    ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities", False),
    ("ivo://ivoa.net/std/VOSI#availability", "availability", False),
    ("ivo://ivoa.net/std/VOSpace/v2.0#nodes", "nodes", True),
    ("ivo://ivoa.net/std/VOSpace#sync-2.1", "synctrans", True),
    ("ivo://ivoa.net/std/VOSpace/v2.0#transfers", "transfers", True),
    ("ivo://ivoa.net/std/VOSpace#files-proto", "files", True),
    ("ivo://ivoa.net/std/VOSpace#recursive-delete-proto", "recursive-delete", True),
)
_SECURITY_METHODS = (
    "ivo://ivoa.net/sso#tls-with-certificate",
    "ivo://ivoa.net/sso#token",
    "ivo://ivoa.net/sso#cookie",
)


def capabilities_document(base_url: str) -> bytes:
    """The VOSI capabilities: an anonymous interface plus one per security method."""
    root = ET.Element(
        "vosi:capabilities",
        {
            "xmlns:vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
            "xmlns:xsi": XSI_NS,
            "xmlns:vs": "http://www.ivoa.net/xml/VODataService/v1.1",
        },
    )
    for standard_id, path, secured in _CAPABILITY_IDS:
        capability = ET.SubElement(root, "capability", standardID=standard_id)
        interfaces = [()] + ([_SECURITY_METHODS] if secured else [])
        for methods in interfaces:
            interface = ET.SubElement(capability, "interface", {"xsi:type": "vs:ParamHTTP"})
            interface.set("role", "std")
            ET.SubElement(interface, "accessURL", use="base").text = f"{base_url}/{path}"
            for method in methods:
                ET.SubElement(interface, "securityMethod", standardID=method)
    return _xml_bytes(root)


AVAILABILITY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
    b"<vosi:available>true</vosi:available>"
    b"<vosi:note>canfar-tui loopback VOSpace is accepting requests</vosi:note>"
    b"</vosi:availability>"
)


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        store: _Store,
        faults: FaultPlan,
        service_path: str,
        token: str | None,
    ) -> None:
        super().__init__(address, _Handler)
        self.store = store
        self.faults = faults
        self.service_path = service_path
        self.token = token
        self.jobs: dict[str, _Job] = {}
        self.jobs_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        host, port = self.server_address[:2]
        self.base_url = f"http://{host!s}:{port}{service_path}"

    def track(self, connection: socket.socket, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def new_job(self, job: _Job) -> None:
        with self.jobs_lock:
            self.jobs[job.id] = job
            while len(self.jobs) > MAX_JOBS:
                del self.jobs[next(iter(self.jobs))]

    def job(self, job_id: str, kind: str | None = None) -> _Job:
        with self.jobs_lock:
            job = self.jobs.get(job_id)
        if job is None or (kind is not None and job.kind not in kind.split("|")):
            raise VOSpaceFault(404, "NotFound", f"no job {job_id}")
        return job


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "canfar-tui-vospace/1.0"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing

    def _dispatch(self, method: str) -> None:
        self._body_read = False
        self._stall_after: int | None = None
        try:
            self._route(method)
        except PathRefused as exc:
            self._drain()
            self._send_fault(VOSpaceFault(400, "InvalidURI", str(exc)))
        except VOSpaceFault as exc:
            self._drain()
            self._send_fault(exc)
        except _ClientGone:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("VOSpace request failed: %s %s", method, self.path)
            self._send_fault(VOSpaceFault(500, "InternalFault", "unexpected server error"))
        finally:
            if not self._body_read and self._has_body():
                self.close_connection = True

    def _drain(self, limit: int = 16 * 1024 * 1024) -> None:
        """Read and drop an unread request body (so the client sees our answer, not a reset)."""
        if self._body_read or not self._has_body():
            return
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            return
        with contextlib.suppress(_ClientGone, VOSpaceFault, OSError):
            for _ in self._body_chunks():
                pass

    def _has_body(self) -> bool:
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        return chunked or (length is not None and length.strip() not in ("", "0"))

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_fault(self, fault: VOSpaceFault) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if fault.status == 401 else None
        text = f"{fault.fault}: {fault.detail}" if fault.detail else fault.fault
        with contextlib.suppress(OSError):
            self._send(fault.status, (text + "\n").encode(), headers=headers)

    def _redirect(self, location: str) -> None:
        self._send(303, b"", headers={"Location": location})

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body, from Content-Length or chunked encoding, in pieces."""
        self._body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise _ClientGone()
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise VOSpaceFault(400, "InvalidArgument", "bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(CHUNK_SIZE, remaining))
                    if not data:
                        raise _ClientGone()
                    remaining -= len(data)
                    yield data
                self.rfile.readline(1024)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return
        try:
            remaining = int(length_text)
        except ValueError:
            raise VOSpaceFault(400, "InvalidArgument", "bad Content-Length") from None
        if remaining < 0:
            raise VOSpaceFault(400, "InvalidArgument", "bad Content-Length")
        received = 0
        while remaining:
            if self._stall_after is not None and received >= self._stall_after:
                self._stall_after = None
                self.server.faults.stall_here()
            data = self.rfile.read(min(CHUNK_SIZE, remaining))
            if not data:
                raise _ClientGone()
            remaining -= len(data)
            received += len(data)
            yield data

    def _small_body(self) -> bytes:
        data = bytearray()
        for chunk in self._body_chunks():
            data.extend(chunk)
            if len(data) > MAX_XML_BODY:
                self.close_connection = True
                raise VOSpaceFault(413, "RequestEntityTooLarge", "request document too large")
        return bytes(data)

    def _xml_body(self) -> ET.Element:
        try:
            return ET.fromstring(self._small_body())
        except ET.ParseError:
            raise VOSpaceFault(400, "InvalidArgument", "malformed XML document") from None

    def _form_body(self) -> dict[str, list[str]]:
        return parse_qs(self._small_body().decode("utf-8", "replace"), keep_blank_values=True)

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        offered = self.headers.get("X-CADC-DelegationToken", "")
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            offered = authorization[7:].strip() or offered
        return hmac.compare_digest(offered.encode(), token.encode())

    # ---- routing

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        service = self.server.service_path
        if parts.path != service and not parts.path.startswith(service + "/"):
            raise VOSpaceFault(404, "NotFound", "unknown service path")
        rest = parts.path[len(service) + 1 :]
        endpoint, _, raw_path = rest.partition("/")
        raw_path = "/" + raw_path if raw_path else ""
        query = parse_qs(parts.query, keep_blank_values=True)
        if endpoint not in ("capabilities", "availability") and not self._authorised():
            raise VOSpaceFault(401, "PermissionDenied", "a valid token is required")
        failure = self.server.faults.take_failure(endpoint, method)
        if failure is not None:
            self.close_connection = True
            self._send(failure, b"Service busy (injected fault)\n", headers={"Retry-After": "0"})
            return
        stall = self.server.faults.take_request_stall(endpoint, method)
        if stall is not None:
            if self._has_body():
                self._stall_after = stall
            else:
                self.server.faults.stall_here()
        store = self.server.store
        base = self.server.base_url
        if endpoint == "capabilities" and method in ("GET", "HEAD"):
            self._send(200, capabilities_document(base), "text/xml")
        elif endpoint == "availability" and method in ("GET", "HEAD"):
            self._send(200, AVAILABILITY, "text/xml")
        elif endpoint == "nodes":
            self._nodes(method, split_url_path(raw_path), query)
        elif endpoint == "files" and method in ("GET", "HEAD"):
            node = split_url_path(raw_path)
            store.require(node)
            self._redirect(f"{base}/data/{_encode_path(node)}")
        elif endpoint == "data":
            self._data(method, split_url_path(raw_path))
        elif endpoint == "synctrans":
            self._synctrans(method, query)
        elif endpoint == "xfer" and method == "GET":
            self._send(
                200, self._transfer_document(self.server.job(raw_path.strip("/"))), "text/xml"
            )
        elif endpoint == "transfers":
            self._transfers(method, raw_path)
        elif endpoint == "recursive-delete":
            self._recursive_delete(method, raw_path)
        else:
            raise VOSpaceFault(405 if endpoint else 404, "OperationNotSupported", self.path)

    def _nodes(self, method: str, node: NodePath, query: dict[str, list[str]]) -> None:
        store = self.server.store
        if method in ("GET", "HEAD"):
            st = store.require(node)
            element = store.node_element(node, st, target=True)
            if stat.S_ISDIR(st.st_mode):
                limit = _int_param(query, "limit")
                start_uri = query.get("uri", [None])[0]
                start = store.path_from_uri(start_uri) if start_uri else None
                if start is not None and start[:-1] != node:
                    raise VOSpaceFault(400, "InvalidArgument", "uri is not a child of the node")
                order = (query.get("order", ["asc"])[0] or "asc").lower()
                if order not in ("asc", "desc"):
                    raise VOSpaceFault(400, "InvalidArgument", f"bad order {order!r}")
                sort = query.get("sort", [None])[0]
                if sort not in (None, "", PROP_LENGTH, PROP_DATE):
                    raise VOSpaceFault(400, "InvalidArgument", "sorting options not supported")
                listing = ET.SubElement(element, "vos:nodes")
                if limit != 0:
                    for child, child_st in store.children(
                        node,
                        limit=limit,
                        start=start,
                        sort=sort or None,
                        descending=order == "desc",
                    ):
                        store.node_element(child, child_st, parent=listing)
            self._send(200, _xml_bytes(element), "text/xml")
        elif method == "PUT":
            document = self._xml_body()
            node_type = (document.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
            if node_type not in ("ContainerNode", "DataNode"):
                raise VOSpaceFault(400, "OperationNotSupported", f"cannot create {node_type}")
            props = {k: v for k, v in _document_properties(document).items() if v is not None}
            store.make_node(node, container=node_type == "ContainerNode", props=props)
            self._send(201, _xml_bytes(store.node_element(node, store.require(node))), "text/xml")
        elif method == "POST":
            document = self._xml_body()
            store.update_props(node, _document_properties(document))
            self._send(200, _xml_bytes(store.node_element(node, store.require(node))), "text/xml")
        elif method == "DELETE":
            store.delete(node)
            self._send(204)
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)

    def _data(self, method: str, node: NodePath) -> None:
        store = self.server.store
        if method == "PUT":
            expected = _md5_from_headers(
                self.headers.get("Digest"), self.headers.get("Content-MD5")
            )
            if self.headers.get("Content-Length") is None and "chunked" not in self.headers.get(
                "Transfer-Encoding", ""
            ):
                raise VOSpaceFault(411, "InvalidArgument", "Content-Length required")
            announced = self.headers.get("Content-Length")
            if store.quota_bytes is not None and announced and announced.isdigit():
                current = store.lstat(node)
                replaced = current.st_size if current is not None else 0
                if store.usage((store.username,)) - replaced + int(announced) > store.quota_bytes:
                    raise VOSpaceFault(413, "QuotaExceeded", "the VOSpace quota is full")
            actual, _ = store.store_upload(
                node,
                self._body_chunks(),
                expected_md5=expected,
                corrupt=self.server.faults.take_corruption(),
            )
            self._send(201, b"", headers={"Digest": "md5=" + _b64_md5(actual)})
            return
        if method not in ("GET", "HEAD"):
            raise VOSpaceFault(405, "OperationNotSupported", method)
        path = store.fs_path(node)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise _not_found(store.uri(node)) from None
        except OSError:
            raise VOSpaceFault(403, "PermissionDenied", store.uri(node)) from None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode) or not node:
                raise _not_found(f"{store.uri(node)} has no data")
            md5 = store.md5_of(path, st, handle.fileno())
            size = st.st_size
            start, end = 0, size - 1
            status = 200
            headers = {
                "Accept-Ranges": "bytes",
                "Digest": "md5=" + _b64_md5(md5),
                "Content-Disposition": _disposition(node[-1]),
                "Last-Modified": self.date_time_string(int(st.st_mtime)),
            }
            byte_range = _parse_range(self.headers.get("Range"), size)
            if byte_range == "unsatisfiable":
                self._send(416, b"", headers={"Content-Range": f"bytes */{size}"})
                return
            if isinstance(byte_range, tuple):
                start, end = byte_range
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            else:
                headers["Content-MD5"] = _b64_md5(md5)
            length = max(0, end - start + 1)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", _content_type(node[-1]))
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if method == "HEAD":
                return
            cut = self.server.faults.take_cut()
            stall = self.server.faults.take_stall()
            handle.seek(start)
            remaining = length
            while remaining > 0:
                if stall is not None and length - remaining >= stall:
                    self.wfile.flush()
                    self.server.faults.wait_released()
                    stall = None
                data = handle.read(min(CHUNK_SIZE, remaining))
                if not data:
                    break
                if cut is not None and len(data) >= cut:
                    self.wfile.write(data[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    raise _ClientGone()
                if cut is not None:
                    cut -= len(data)
                self.wfile.write(data)
                remaining -= len(data)

    # ---- transfers

    def _synctrans(self, method: str, query: dict[str, list[str]]) -> None:
        store = self.server.store
        params = {key.upper(): values[0] for key, values in query.items() if values}
        if "TARGET" in params:  # the parameter form: REQUEST=redirect, straight to the bytes
            if method == "POST":
                self._small_body()
            node = store.path_from_uri(params["TARGET"])
            direction = params.get("DIRECTION", "pullFromVoSpace")
            if direction == "pullFromVoSpace":
                st = store.require(node)
                if not stat.S_ISREG(st.st_mode):
                    raise _not_found(f"{store.uri(node)} has no data")
            else:
                store.require_writable(node)
                store.require_parent_container(node)
            self._redirect(f"{self.server.base_url}/data/{_encode_path(node)}")
            return
        if method != "POST":
            raise VOSpaceFault(405, "OperationNotSupported", method)
        document = self._xml_body()
        target = document.findtext(f"{{{VOS_NS}}}target") or ""
        direction = (document.findtext(f"{{{VOS_NS}}}direction") or "").strip()
        node = store.path_from_uri(target.strip())
        if direction == "pullFromVoSpace":
            st = store.require(node)
            if not stat.S_ISREG(st.st_mode):
                raise _not_found(f"{store.uri(node)} has no data")
        elif direction == "pushToVoSpace":
            store.require_writable(node)
            store.require_parent_container(node)
            existing = store.lstat(node)
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise VOSpaceFault(409, "DuplicateNode", f"{store.uri(node)} is a container")
        else:
            raise VOSpaceFault(400, "InvalidArgument", f"unsupported direction {direction!r}")
        job = _Job(uuid.uuid4().hex, "sync", node, direction=direction, phase="EXECUTING")
        self.server.new_job(job)
        self._redirect(f"{self.server.base_url}/xfer/{job.id}")

    def _transfer_document(self, job: _Job) -> bytes:
        if job.kind != "sync":
            raise VOSpaceFault(404, "NotFound", "not a synchronous transfer")
        root = ET.Element("vos:transfer", {"xmlns:vos": VOS_NS, "version": "2.1"})
        ET.SubElement(root, "vos:target").text = self.server.store.uri(job.target)
        ET.SubElement(root, "vos:direction").text = job.direction
        endpoint = f"{self.server.base_url}/data/{_encode_path(job.target)}"
        verb = "get" if job.direction == "pullFromVoSpace" else "put"
        protocol = ET.SubElement(root, "vos:protocol", uri=f"{CORE}https{verb}")
        ET.SubElement(protocol, "vos:endpoint").text = endpoint
        return _xml_bytes(root)

    def _transfers(self, method: str, raw_path: str) -> None:
        store = self.server.store
        parts = [part for part in raw_path.split("/") if part]
        if not parts:
            if method != "POST":
                raise VOSpaceFault(405, "OperationNotSupported", method)
            document = self._xml_body()
            source = store.path_from_uri((document.findtext(f"{{{VOS_NS}}}target") or "").strip())
            destination_uri = (document.findtext(f"{{{VOS_NS}}}direction") or "").strip()
            keep_bytes = (document.findtext(f"{{{VOS_NS}}}keepBytes") or "").strip().lower()
            if keep_bytes != "false":
                raise VOSpaceFault(400, "OperationNotSupported", "only moves are asynchronous")
            destination = store.path_from_uri(destination_uri)
            job = _Job(uuid.uuid4().hex, "move", source, destination=destination)
            self.server.new_job(job)
            self._redirect(f"{self.server.base_url}/transfers/{job.id}")
            return
        job = self.server.job(parts[0])
        tail = parts[1:]
        if tail == ["phase"] and method == "POST":
            phase = _phase_param(self._form_body())
            if phase == "RUN" and job.kind == "move" and job.phase == "PENDING":
                self._run_move(job)
            elif phase == "ABORT" and job.phase in ("PENDING", "QUEUED", "EXECUTING"):
                job.phase = "ABORTED"
            self._redirect(f"{self.server.base_url}/transfers/{job.id}")
        elif tail == ["phase"] and method in ("GET", "HEAD"):
            self._send(200, job.phase.encode())
        elif tail == ["error"] and method in ("GET", "HEAD"):
            self._send(200, job.error.encode())
        elif tail in ([], ["results", "transferDetails"]) and method in ("GET", "HEAD"):
            if job.kind == "sync":
                self._send(200, self._transfer_document(job), "text/xml")
            else:
                self._send(200, _job_document(job), "text/xml")
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)

    def _run_move(self, job: _Job) -> None:
        assert job.destination is not None
        try:
            self.server.store.move(job.target, job.destination)
            job.phase = "COMPLETED"
        except VOSpaceFault as fault:
            job.phase, job.error = "ERROR", fault.fault
        except (PathRefused, OSError):
            job.phase, job.error = "ERROR", "InternalFault"

    def _recursive_delete(self, method: str, raw_path: str) -> None:
        store = self.server.store
        parts = [part for part in raw_path.split("/") if part]
        if not parts:
            if method != "POST":
                raise VOSpaceFault(405, "OperationNotSupported", method)
            form = {key.lower(): values for key, values in self._form_body().items()}
            target = store.path_from_uri((form.get("target") or [""])[0])
            store.require(target)
            job = _Job(uuid.uuid4().hex, "delete", target)
            self.server.new_job(job)
            self._redirect(f"{self.server.base_url}/recursive-delete/{job.id}")
            return
        job = self.server.job(parts[0], "delete")
        tail = parts[1:]
        if tail == ["phase"] and method == "POST":
            if _phase_param(self._form_body()) == "RUN" and job.phase == "PENDING":
                try:
                    job.success_count, job.error_count = store.delete_tree(job.target)
                    job.phase = "COMPLETED"
                except VOSpaceFault as fault:
                    job.phase, job.error = "ERROR", f"{fault.fault}: {fault.detail}"
            self._redirect(f"{self.server.base_url}/recursive-delete/{job.id}")
        elif tail == ["phase"] and method in ("GET", "HEAD"):
            self._send(200, job.phase.encode())
        elif not tail and method in ("GET", "HEAD"):
            self._send(200, _job_document(job), "text/xml")
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)


def _phase_param(form: dict[str, list[str]]) -> str:
    for key, values in form.items():
        if key.lower() == "phase" and values:
            return values[0].strip().upper()
    return ""


def _job_document(job: _Job) -> bytes:
    root = ET.Element("uws:job", {"xmlns:uws": UWS_NS, "xmlns:xlink": XLINK_NS})
    ET.SubElement(root, "uws:jobId").text = job.id
    ET.SubElement(root, "uws:phase").text = job.phase
    if job.kind == "delete" and job.phase == "COMPLETED":
        results = ET.SubElement(root, "uws:results")
        # vos reads the counts as strings, so any errorcount (even "0") fails vrm -R: omit zero
        counts = [("successcount", job.success_count)]
        if job.error_count:
            counts.append(("errorcount", job.error_count))
        for name, count in counts:
            attributes = {"id": name, "xlink:href": f"final:{count}"}
            ET.SubElement(results, "uws:result", attributes)
    if job.phase == "ERROR":
        summary = ET.SubElement(root, "uws:errorSummary", type="fatal")
        ET.SubElement(summary, "uws:message").text = job.error
    return _xml_bytes(root)


def _document_properties(document: ET.Element) -> dict[str, str | None]:
    """Properties of a node document; ``xsi:nil`` ones map to None (delete the property)."""
    result: dict[str, str | None] = {}
    for item in document.iter(f"{{{VOS_NS}}}property"):
        uri = item.get("uri")
        if not uri:
            continue
        nil = (item.get(f"{{{XSI_NS}}}nil") or item.get("xsi:nil") or "").lower() == "true"
        result[uri] = None if nil else (item.text or "")
    return result


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    try:
        value = int(values[0])
    except ValueError:
        raise VOSpaceFault(400, "InvalidArgument", f"{name} must be an integer") from None
    if value < 0:
        raise VOSpaceFault(400, "InvalidArgument", f"{name} must not be negative")
    return value


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One ``bytes=a-b`` range as (first, last), ``"unsatisfiable"``, or None (whole file)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, _, last_text = header[len("bytes=") :].strip().partition("-")
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix <= 0:
                return "unsatisfiable"
            return (max(0, size - suffix), size - 1)
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size or first < 0:
        return "unsatisfiable"
    return (first, min(last, size - 1))


def _disposition(name: str) -> str:
    if name.isascii() and not any(ch in name for ch in '";\\'):
        return f'inline; filename="{name}"'
    return "inline; filename*=UTF-8''" + quote(name, safe="")


# --------------------------------------------------------------------------- public API


def _check_loopback(host: str) -> str:
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the VOSpace service binds to a loopback address, not {host!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"the VOSpace service binds to an IPv4 loopback address, not {host!r}")
    return host


def short_scheme_for(resource_id: str) -> str | None:
    """The short URI scheme ``vos`` resolves to ``resource_id`` (``vos:`` for vault)."""
    if resource_id == DEFAULT_RESOURCE_ID:
        return "vos"
    prefix = "ivo://cadc.nrc.ca/"
    if resource_id.startswith(prefix) and "/" not in resource_id[len(prefix) :]:
        return resource_id[len(prefix) :]
    return None


class RunningVOSpace:
    """A started service. Stop it with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/vault``: the root of every endpoint."""
        return self._server.base_url

    @property
    def capabilities_url(self) -> str:
        return f"{self.base_url}/capabilities"

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root(self) -> Path:
        return self._server.store.root

    @property
    def username(self) -> str:
        return self._server.store.username

    @property
    def resource_id(self) -> str:
        return self._server.store.resource_id

    @property
    def faults(self) -> FaultPlan:
        return self._server.faults

    @property
    def home_uri(self) -> str:
        """The user's home as ``vos`` clients name it: ``vos:sandbox-user``."""
        scheme = short_scheme_for(self.resource_id)
        if scheme is not None:
            return f"{scheme}:{self.username}"
        return f"vos://{self._server.store.authority}/{self.username}"

    def node_uri(self, *names: str) -> str:
        """The full node URI (``vos://cadc.nrc.ca!vault/...``) of a path below the root."""
        return self._server.store.uri(tuple(names))

    def prepare_client_home(self, home: Path) -> Path:
        """Write the registry and version caches that point ``vos`` at this service."""
        return prepare_client_home(home, self.base_url, resource_id=self.resource_id)

    @property
    def alive(self) -> bool:
        """True until the service is stopped or its serving thread has died."""
        return not self._stopped and self._thread.is_alive()

    def restart(self) -> RunningVOSpace:
        """A new service on this one's address, root, user, quota and token (after it died).

        What the old one stored is kept (it is all on disk); uploads it had not finished are
        removed, as at any start. Faults are not carried over.
        """
        self.stop()
        store = self._server.store
        return start_server(
            store.root,
            host=self.host,
            port=self.port,
            username=store.username,
            quota_bytes=store.quota_bytes,
            resource_id=store.resource_id,
            token=self._server.token,
        )

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.faults.release()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningVOSpace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    username: str = DEFAULT_USERNAME,
    quota_bytes: int | None = None,
    resource_id: str = DEFAULT_RESOURCE_ID,
    token: str | None = None,
) -> RunningVOSpace:
    """Serve ``root`` on a loopback address in a background thread.

    ``root/<username>`` (created if missing) is the user's home. ``quota_bytes`` limits what
    the home may hold (uploads beyond it get 413). With ``token``, every request but the VOSI
    ones must carry it (``Authorization: Bearer`` or ``X-CADC-DelegationToken``).
    """
    if not resource_id.startswith("ivo://") or resource_id.count("/") < 3:
        raise ValueError(f"not a resource ID: {resource_id!r}")
    store = _Store(Path(root), username, resource_id, quota_bytes)
    service_path = "/" + resource_id.rstrip("/").rsplit("/", 1)[1]
    server = _Server((_check_loopback(host), port), store, FaultPlan(), service_path, token)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"vospace-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return RunningVOSpace(server, thread)


def _write_atomic(path: Path, text: str, *, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        if mtime is not None:
            os.utime(temp, (mtime, mtime))
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def prepare_client_home(
    home: Path, base_url: str, *, resource_id: str = DEFAULT_RESOURCE_ID
) -> Path:
    """Make ``home`` a HOME-like directory in which ``vos`` finds the service at ``base_url``.

    Writes ``.config/cadc-registry/resource-caps`` (``resource_id`` → its capabilities URL) and
    the PyPI version caches of ``vos``/``cadcutils``/``cadcdata``, all with an mtime in the
    future so cadcutils never refreshes them, and removes capabilities cached for an earlier
    port. Returns ``home``. Use it as ``HOME`` for ``vos`` commands, or hand it to the VOSpace
    backend (``VOSpaceStorage(config_home=...)``).
    """
    home = Path(home)
    future = time.time() + CACHE_FUTURE_SECONDS
    registry = home / ".config" / "cadc-registry"
    _write_atomic(
        registry / "resource-caps",
        "# written by canfar-tui: the loopback VOSpace service\n"
        f"{resource_id} = {base_url}/capabilities\n",
        mtime=future,
    )
    parsed = urlsplit(resource_id)
    cached_caps = registry / parsed.netloc / ("." + parsed.path.strip("/").rsplit("/", 1)[-1])
    with contextlib.suppress(FileNotFoundError):
        cached_caps.unlink()
    for package in ("vos", "cadcutils", "cadcdata"):
        _write_atomic(
            home / ".config" / package / "caches" / ".pypi_versions.json",
            '{"releases": {}}\n',
            mtime=future,
        )
    return home


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m canfar_tui.clients.storage.loopback_server",
        description="Serve a directory as a loopback VOSpace service for the vos client.",
    )
    parser.add_argument("--root", type=Path, required=True, help="directory to serve")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--username", default=DEFAULT_USERNAME, help="owner of the home node")
    parser.add_argument("--quota-bytes", type=int, default=None, help="quota of the home node")
    parser.add_argument("--resource-id", default=DEFAULT_RESOURCE_ID, help="registry ID")
    parser.add_argument("--pidfile", type=Path, default=None, help="write the PID here")
    parser.add_argument("--url-file", type=Path, default=None, help="write the base URL here")
    parser.add_argument(
        "--client-home", type=Path, default=None, help="prepare this HOME for vos commands"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for scripts: serve until SIGTERM or SIGINT, then remove the pidfile."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        running = start_server(
            args.root,
            host=args.host,
            port=args.port,
            username=args.username,
            quota_bytes=args.quota_bytes,
            resource_id=args.resource_id,
        )
    except (OSError, ValueError) as exc:
        print(f"vospace_server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        if args.client_home is not None:
            running.prepare_client_home(args.client_home)
        if args.url_file is not None:
            _write_atomic(args.url_file, running.base_url + "\n")
        if args.pidfile is not None:
            _write_atomic(args.pidfile, f"{os.getpid()}\n")
        print(f"VOSPACE_URL={running.base_url}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        running.stop()
        if args.pidfile is not None:
            with contextlib.suppress(OSError):
                if args.pidfile.read_text().strip() == str(os.getpid()):
                    args.pidfile.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
