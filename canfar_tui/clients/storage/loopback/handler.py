"""The request handler of the loopback VOSpace service: routing, nodes and bytes.

``GET|PUT|POST|DELETE nodes/PATH`` read, create, update and delete nodes (a listing pages from
the child named by ``uri``, sorted as asked); ``files/PATH`` redirects to the bytes;
``GET|HEAD|PUT data/PATH`` serves and stores them, with ``Digest: md5=…``/``Content-MD5`` and
Range requests (resumed downloads). The transfer endpoints are :class:`TransferRoutes`'s.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

from canfar_tui.clients.storage.loopback.documents import (
    AVAILABILITY,
    PROP_DATE,
    PROP_LENGTH,
    XSI_NS,
    capabilities_document,
    document_properties,
    node_content_type,
    xml_bytes,
)
from canfar_tui.clients.storage.loopback.paths import (
    ClientGone,
    NodePath,
    VOSpaceFault,
    encode_path,
    not_found,
    split_url_path,
)
from canfar_tui.clients.storage.loopback.request_base import (
    CHUNK_SIZE,
    b64_md5,
    content_disposition,
    int_param,
    md5_from_headers,
    parse_range,
)
from canfar_tui.clients.storage.loopback.transfers import TransferRoutes

__all__ = ["VOSpaceHandler"]


class VOSpaceHandler(TransferRoutes):
    """Answers one connection's requests (``BaseHTTPRequestHandler`` runs one per thread)."""

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        if not self.server.knows_secret(parts.path):
            raise VOSpaceFault(401, "PermissionDenied", "this service's secret is required")
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
            self._redirect(f"{base}/data/{encode_path(node)}")
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
                limit = int_param(query, "limit")
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
            self._send(200, xml_bytes(element), "text/xml")
        elif method == "PUT":
            document = self._xml_body()
            node_type = (document.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
            if node_type not in ("ContainerNode", "DataNode"):
                raise VOSpaceFault(400, "OperationNotSupported", f"cannot create {node_type}")
            props = {k: v for k, v in document_properties(document).items() if v is not None}
            store.make_node(node, container=node_type == "ContainerNode", props=props)
            self._send(201, xml_bytes(store.node_element(node, store.require(node))), "text/xml")
        elif method == "POST":
            document = self._xml_body()
            store.update_props(node, document_properties(document))
            self._send(200, xml_bytes(store.node_element(node, store.require(node))), "text/xml")
        elif method == "DELETE":
            store.delete(node)
            self._send(204)
        else:
            raise VOSpaceFault(405, "OperationNotSupported", method)

    def _data(self, method: str, node: NodePath) -> None:
        store = self.server.store
        if method == "PUT":
            expected = md5_from_headers(self.headers.get("Digest"), self.headers.get("Content-MD5"))
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
            self._send(201, b"", headers={"Digest": "md5=" + b64_md5(actual)})
            return
        if method not in ("GET", "HEAD"):
            raise VOSpaceFault(405, "OperationNotSupported", method)
        path = store.fs_path(node)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise not_found(store.uri(node)) from None
        except OSError:
            raise VOSpaceFault(403, "PermissionDenied", store.uri(node)) from None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode) or not node:
                raise not_found(f"{store.uri(node)} has no data")
            md5 = store.md5_of(path, st, handle.fileno())
            size = st.st_size
            start, end = 0, size - 1
            status = 200
            headers = {
                "Accept-Ranges": "bytes",
                "Digest": "md5=" + b64_md5(md5),
                "Content-Disposition": content_disposition(node[-1]),
                "Last-Modified": self.date_time_string(int(st.st_mtime)),
            }
            byte_range = parse_range(self.headers.get("Range"), size)
            if byte_range == "unsatisfiable":
                self._send(416, b"", headers={"Content-Range": f"bytes */{size}"})
                return
            if isinstance(byte_range, tuple):
                start, end = byte_range
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            else:
                headers["Content-MD5"] = b64_md5(md5)
            length = max(0, end - start + 1)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", node_content_type(node[-1]))
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
                    raise ClientGone()
                if cut is not None:
                    cut -= len(data)
                self.wfile.write(data)
                remaining -= len(data)
