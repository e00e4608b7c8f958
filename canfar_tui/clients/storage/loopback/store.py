"""The directory behind the loopback VOSpace service: path checks, node XML, atomic changes.

Only ``ROOT/<username>`` is writable; paths through symbolic links are refused. An upload
streams into a temp file in ``ROOT/.vospace-tmp`` and is renamed into place only when it is
complete, its MD5 matches the one the client announced (if any), and the quota allows it; a
cut-off or corrupted upload leaves nothing at the destination. (This is not
:func:`canfar_tui.clients.files.atomic_writer`: the temp file lives in the service's own temp
folder, and the rename happens under the store's lock after the quota check.)

Several services may serve one folder at once (every ``put`` and dashboard starts its own), so
a temp file is named after the process writing it (``PID-RANDOM.part``); a start removes only
the stale ones: those whose process is gone, and any left untouched for
:data:`STALE_UPLOAD_SECONDS`. Everything is kept private: the root and folders are 0700,
files 0600.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from xml.etree import ElementTree as ET

from canfar_tui.clients.storage.loopback.documents import (
    CORE,
    NAMESPACES,
    PROP_DATE,
    PROP_LENGTH,
    READ_ONLY_PROPERTIES,
    format_date,
    node_content_type,
)
from canfar_tui.clients.storage.loopback.paths import (
    TEMP_DIR_NAME,
    NodePath,
    PathRefused,
    VOSpaceFault,
    not_found,
    parse_path_segments,
    validate_name,
)

__all__ = ["STALE_UPLOAD_SECONDS", "NodeStore", "pid_alive", "remove_stale_uploads"]

#: An upload temp file untouched this long is stale even if its process seems alive.
STALE_UPLOAD_SECONDS = 3600.0
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (possibly another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_uploads(temp_dir: Path, *, now: float | None = None) -> int:
    """Remove the upload temp files of processes that are gone (or idle too long); count them.

    ``PID-RANDOM.part`` files of a live process that were written within
    :data:`STALE_UPLOAD_SECONDS` are uploads in progress (another service on the same folder)
    and are kept; one whose process is gone, or any file untouched that long, is removed.
    """
    moment = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(temp_dir))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        owner_text, dash, _ = entry.name.partition("-")
        owner = int(owner_text) if dash and owner_text.isdigit() else None
        idle = moment - st.st_mtime >= STALE_UPLOAD_SECONDS
        if idle or (owner is not None and not pid_alive(owner)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def _make_private(path: Path) -> None:
    """Create ``path`` 0700, or make an existing folder of ours 0700 (not through a link)."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
        os.chmod(path, FOLDER_MODE, follow_symlinks=False)


class NodeStore:
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
        _make_private(self.root)
        _make_private(self.temp_dir)
        remove_stale_uploads(self.temp_dir)  # uploads cut off by an earlier crash
        _make_private(self.root / self.username)

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
            raise not_found(self.uri(node))
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

        prop(PROP_DATE, format_date(st.st_mtime))
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
            prop(CORE + "type", node_content_type(node[-1]))
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
                path.mkdir(mode=FOLDER_MODE)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                fd = os.open(path, flags, FILE_MODE)
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
        temp = self.temp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.part"
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(temp, flags, FILE_MODE)
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
