"""``vault`` behind TLS: the project's loopback VOSpace, one instance per user, with CADC's rules.

The project's VOSpace service (:mod:`canfar_tui.clients.storage.loopback`) speaks plain
HTTP on 127.0.0.1 and lets exactly one user write (its home ``/<user>``). The replica starts one
such service per replica user over the same folder and forwards each HTTPS request under
``/vault/`` to the service of the user its client certificate names:

* no certificate (anonymous): only the VOSI documents; anything else is 403 PermissionDenied
  (vault's homes are private);
* a certificate of a replica user: nodes, files and data only inside that user's home (or the
  root node itself); transfers and jobs go to that user's own service, which refuses writes
  outside the home;
* a certificate of someone else: 403.

Absolute URLs in redirects and documents (``http://127.0.0.1:INNER/vault``) are rewritten to
the public ``https://127.0.0.1:PORT/vault``; file bytes stream through unchanged.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from canfar_tui.clients.storage.loopback import (
    DEFAULT_RESOURCE_ID,
    RunningVOSpace,
    start_server,
)

CHUNK = 64 * 1024
MAX_DOCUMENT = 16 * 1024 * 1024
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "server", "date"}
)
#: Endpoints whose first path segment is a node path (checked against the user's home).
NODE_ENDPOINTS = frozenset({"nodes", "files", "data"})


class Exchange(Protocol):
    """What the proxy needs from the HTTPS request handler."""

    command: str
    path: str

    def request_header(self, name: str) -> str | None: ...

    def request_headers(self) -> list[tuple[str, str]]: ...

    def body_chunks(self) -> Iterator[bytes]: ...

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes | None) -> None: ...

    def respond_stream(
        self, status: int, headers: list[tuple[str, str]], chunks: Iterator[bytes]
    ) -> None: ...


@dataclass
class Vault:
    """The per-user VOSpace services over ``root`` and the public base URL they answer for."""

    root: Path
    public_base: str
    services: dict[str, RunningVOSpace]

    @classmethod
    def start(cls, root: Path, users: list[str], public_base: str) -> Vault:
        root.mkdir(parents=True, exist_ok=True)
        services: dict[str, RunningVOSpace] = {}
        try:
            for user in users:
                services[user] = start_server(root, username=user, resource_id=DEFAULT_RESOURCE_ID)
        except BaseException:
            for service in services.values():
                service.stop()
            raise
        return cls(root, public_base.rstrip("/"), services)

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    # ---- the rules

    def refusal(self, user: str | None, endpoint: str, node_path: str) -> str | None:
        """Why ``user`` may not use ``endpoint`` on ``node_path`` (None: allowed)."""
        if endpoint in ("capabilities", "availability"):
            return None
        if user is None:
            return "PermissionDenied: anonymous access to vault is not allowed"
        if user not in self.services:
            return f"PermissionDenied: {user} has no vault account"
        if endpoint in NODE_ENDPOINTS:
            names = [unquote(part) for part in node_path.split("/") if part]
            if names and names[0] != user:
                return f"PermissionDenied: {user} may not access /{names[0]}"
            if not names and endpoint != "nodes":
                return "PermissionDenied: no data at the root"
        return None

    def forward(self, exchange: Exchange, user: str | None, rest: str) -> None:
        """Answer the request for ``/vault/<rest>`` (``rest`` keeps its query)."""
        split = urlsplit(rest)
        endpoint, _, node_path = split.path.partition("/")
        refusal = self.refusal(user, endpoint, node_path)
        if refusal is not None:
            exchange.respond(403, [("Content-Type", "text/plain")], (refusal + "\n").encode())
            return
        service = self.services[user] if user is not None else next(iter(self.services.values()))
        inner = urlsplit(service.base_url)
        connection = http.client.HTTPConnection(inner.hostname or "127.0.0.1", inner.port)
        try:
            self._relay(exchange, connection, f"{inner.path}/{rest}", service.base_url)
        finally:
            connection.close()

    def _relay(
        self,
        exchange: Exchange,
        connection: http.client.HTTPConnection,
        target: str,
        inner_base: str,
    ) -> None:
        headers = {
            key: value
            for key, value in exchange.request_headers()
            if key.lower() not in HOP_BY_HOP and key.lower() != "host"
        }
        chunked = "chunked" in (exchange.request_header("Transfer-Encoding") or "").lower()
        has_body = chunked or (exchange.request_header("Content-Length") or "0") != "0"
        connection.putrequest(exchange.command, target, skip_accept_encoding=True)
        for key, value in headers.items():
            connection.putheader(key, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        if has_body:
            for chunk in exchange.body_chunks():
                if chunked:
                    connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    connection.send(chunk)
            if chunked:
                connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        out = [
            (key, self._rewrite_text(value, inner_base) if key.lower() == "location" else value)
            for key, value in response.getheaders()
            if key.lower() not in HOP_BY_HOP
        ]
        content_type = (response.getheader("Content-Type") or "").lower()
        if exchange.command == "HEAD" or response.status in (204, 304):
            exchange.respond(response.status, out, None)
            return
        if "xml" in content_type or content_type.startswith("text/"):
            body = response.read(MAX_DOCUMENT)
            body = self._rewrite_text(body.decode("utf-8"), inner_base).encode("utf-8")
            out = [(k, v) for k, v in out if k.lower() != "content-length"]
            out.append(("Content-Length", str(len(body))))
            exchange.respond(response.status, out, body)
            return

        def chunks() -> Iterator[bytes]:
            while data := response.read(CHUNK):
                yield data

        exchange.respond_stream(response.status, out, chunks())

    def _rewrite_text(self, text: str, inner_base: str) -> str:
        return text.replace(inner_base, f"{self.public_base}")
