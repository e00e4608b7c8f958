"""HTTP plumbing of the loopback VOSpace service: bodies, answers, faults, tokens.

:class:`RequestBase` reads request bodies (Content-Length or chunked, with the stalls a
:class:`~canfar_tui.clients.storage.loopback.fault_plan.FaultPlan` asks for), sends answers and
VOSpace faults, and checks the token; its subclasses route the requests. The header helpers
below parse what clients send (MD5 announcements, ranges) and name files in answers.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote
from xml.etree import ElementTree as ET

from canfar_tui.clients.storage.loopback.paths import ClientGone, PathRefused, VOSpaceFault

if TYPE_CHECKING:
    from canfar_tui.clients.storage.loopback.server import VOSpaceHTTPServer

__all__ = [
    "CHUNK_SIZE",
    "RequestBase",
    "b64_md5",
    "content_disposition",
    "int_param",
    "md5_from_headers",
    "parse_range",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
MAX_XML_BODY = 1024 * 1024


class RequestBase(BaseHTTPRequestHandler):
    """The plumbing every request shares; :meth:`_route` (a subclass's) answers it."""

    protocol_version = "HTTP/1.1"
    server_version = "canfar-tui-vospace/1.0"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: VOSpaceHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # idle connections are closed
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), self.server.without_secret(format % args))

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
        except ClientGone:
            self.close_connection = True
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception(
                "VOSpace request failed: %s %s", method, self.server.without_secret(self.path)
            )
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
        with contextlib.suppress(ClientGone, VOSpaceFault, OSError):
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
                    raise ClientGone()
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
                        raise ClientGone()
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
                raise ClientGone()
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

    def _route(self, method: str) -> None:
        raise NotImplementedError


def b64_md5(hex_md5: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_md5)).decode("ascii")


def md5_from_headers(digest: str | None, content_md5: str | None) -> str | None:
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


def int_param(query: dict[str, list[str]], name: str) -> int | None:
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


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
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
    if first >= size or first < 0 or last < first:
        return "unsatisfiable"
    return (first, min(last, size - 1))


def content_disposition(name: str) -> str:
    if name.isascii() and not any(ch in name for ch in '";\\'):
        return f'inline; filename="{name}"'
    return "inline; filename*=UTF-8''" + quote(name, safe="")
