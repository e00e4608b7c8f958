"""The CADC replica's HTTPS server: registry, credentials, login, storage inventory and vault.

One TLS listener on 127.0.0.1 serves every service under its own path (real CADC spreads them
over several hosts; the clients only ever follow the registry)::

    /reg/resource-caps                     the registry (resource ID = capabilities URL)
    /<service>/capabilities, /availability VOSI documents of every service below
    /cred/generate?daysValid=N             CDP proxy-1.0: a PEM certificate + key for the
                                           caller (BasicAA from ~/.netrc, a client
                                           certificate, or the CADC_SSO cookie); 401 else
    /ac/login                              UMS login-0.1 (POST username, password): a token,
                                           the value of the CADC_SSO cookie
    /data/uri-scheme-map                   archive → URI schemes (cadcget without a scheme)
    /raven/locate                          SI locate-1.0: transfer negotiation → minoc URLs
    /raven/files/<uri>                     SI files-1.0: 303 to minoc
    /minoc/files/<uri>                     SI files-1.0: the bytes, with Digest (md5),
                                           Content-Length/-Type/-Disposition, Range
    /vault/...                             VOSpace (see :mod:`cadc_replica.vault`)

Client certificates are optional in the handshake and, when sent, must be signed by the test
CA; their ``CN`` is the user. Users and passwords come from ``RUN/secrets/users`` (0600), never
from the command line. Run::

    PYTHONPATH=REPO:REPO/tests python -m cadc_replica.server --run RUN [--port 0]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import signal
import ssl
import sys
import threading
from collections.abc import Iterator, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree as ET

from cadc_replica.pki import Pki
from cadc_replica.registry import (
    SERVICES,
    capabilities_document,
    prepare_client_home,
    registry_text,
    write_certifi_shim,
)
from cadc_replica.vault import Vault

log = logging.getLogger("cadc_replica")

VOS_NS = "http://www.ivoa.net/xml/VOSpace/v2.0"
CHUNK = 64 * 1024
DEFAULT_USERS = ("tuitester", "colleague")
SEED_ARCHIVE = "CFHT"
SEED_SCHEME = "cadc"
#: What each service says in ``Server:`` (cadcutils checks the versions it knows).
SERVER_HEADERS = {
    "cred": "cred-2.0.0",
    "raven": "storage-inventory/raven-1.0.0",
    "minoc": "storage-inventory/minoc-1.0.0",
}
AVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
    b"<vosi:available>true</vosi:available>"
    b"<vosi:note>canfar-tui CADC replica is accepting requests</vosi:note>"
    b"</vosi:availability>\n"
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SERVICE_PATHS = {path: resource_id for resource_id, (path, _) in SERVICES.items()}


class HttpError(Exception):
    """An error answer: status and a one-line text."""

    def __init__(self, status: int, text: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = list(headers)


# --------------------------------------------------------------------------- users


def read_users(path: Path) -> dict[str, str]:
    """``user:password`` lines of the users file."""
    users: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, password = line.partition(":")
        if sep and _NAME.match(name) and password:
            users[name] = password
    return users


def ensure_users(secrets_dir: Path, names: Sequence[str]) -> dict[str, str]:
    """The users file (0600, in a 0700 folder) with a password for each name, kept across runs.

    Each password is also in ``secrets_dir/<user>.password`` (0600) for the tests.
    """
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    path = secrets_dir / "users"
    users = read_users(path) if path.is_file() else {}
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"not a user name: {name!r}")
        users.setdefault(name, secrets.token_urlsafe(18))
    users = {name: users[name] for name in names}
    _write_secret(path, "".join(f"{name}:{password}\n" for name, password in users.items()))
    for name, password in users.items():
        _write_secret(secrets_dir / f"{name}.password", password + "\n")
    return users


def _write_secret(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temp, 0o600)
    os.replace(temp, path)


# --------------------------------------------------------------------------- archive


def seed_archive(root: Path) -> list[Path]:
    """The seed's five MegaCam exposures under ``root/CFHT``, made as the sandbox makes them."""
    from canfar_tui.clients.archive.sandbox import SEED_FILE_IDS, synthetic_config_for
    from canfar_tui.detection.synthetic import write_synthetic_mef

    folder = root / SEED_ARCHIVE
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for file_id in SEED_FILE_IDS:
        path = folder / f"{file_id}.fits.fz"
        if not path.is_file():
            write_synthetic_mef(path, synthetic_config_for(file_id), compress=True)
        made.append(path)
    return made


class Archive:
    """Files under ``root/<ARCHIVE>/<name>``, served as ``cadc:<ARCHIVE>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._md5: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def path_of(self, uri: str) -> Path:
        scheme, sep, rest = uri.partition(":")
        names = rest.split("/")
        if (
            not sep
            or scheme != SEED_SCHEME
            or len(names) < 2
            or any(not name or name in (".", "..") or not _NAME.match(name) for name in names)
        ):
            raise HttpError(404, f"NotFound: {uri}")
        path = self.root.joinpath(*names)
        if not path.is_file() or path.is_symlink():
            raise HttpError(404, f"NotFound: {uri}")
        return path

    def md5(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._md5:
                return self._md5[key]
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        with self._lock:
            self._md5[key] = digest.hexdigest()
        return digest.hexdigest()


# --------------------------------------------------------------------------- the server


class ReplicaServer(ThreadingHTTPServer):
    """The TLS listener; each connection's handshake runs in its own thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        pki: Pki,
        users: dict[str, str],
        archive: Archive,
    ) -> None:
        super().__init__(address, Handler)
        self.context = context
        self.pki = pki
        self.users = users
        self.archive = archive
        self.sessions: dict[str, str] = {}
        self.sessions_lock = threading.Lock()
        host, port = self.server_address[:2]
        self.base_url = f"https://{host!s}:{port}"
        self.vault: Vault | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(120)
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.info("connection from %s ended: %s", client_address, sys.exc_info()[1])

    def check_password(self, user: str, password: str) -> bool:
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ReplicaServer
    _service = ""

    def setup(self) -> None:
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", self.client_address, exc)
            with contextlib.suppress(OSError):
                self.request.close()
            raise ConnectionAbortedError from exc
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
            super().handle()

    def version_string(self) -> str:
        return SERVER_HEADERS.get(self._service, "canfar-tui-cadc-replica/1.0")

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ---- the Exchange protocol (used by the vault proxy)

    def request_header(self, name: str) -> str | None:
        return self.headers.get(name)

    def request_headers(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def body_chunks(self) -> Iterator[bytes]:
        self._body_read = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    data = self.rfile.read(min(CHUNK, remaining))
                    if not data:
                        raise ConnectionAbortedError("client went away")
                    remaining -= len(data)
                    yield data
                self.rfile.readline(1024)
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise ConnectionAbortedError("client went away")
            remaining -= len(data)
            yield data

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes | None) -> None:
        self.send_response(status)
        names = {key.lower() for key, _ in headers}
        for key, value in headers:
            self.send_header(key, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def respond_stream(
        self, status: int, headers: list[tuple[str, str]], chunks: Iterator[bytes]
    ) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if not any(key.lower() == "content-length" for key, _ in headers):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)

    # ---- plumbing

    def _send_text(
        self,
        status: int,
        text: str | bytes,
        content_type: str = "text/plain; charset=utf-8",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.respond(status, [("Content-Type", content_type), *headers], body)

    def _body(self, limit: int = 1024 * 1024) -> bytes:
        data = bytearray()
        for chunk in self.body_chunks():
            data.extend(chunk)
            if len(data) > limit:
                raise HttpError(413, "RequestEntityTooLarge")
        return bytes(data)

    def _dispatch(self) -> None:
        self._body_read = False
        split = urlsplit(self.path)
        service, _, rest = split.path.lstrip("/").partition("/")
        self._service = service
        try:
            self._route(service, rest, parse_qs(split.query, keep_blank_values=True))
        except HttpError as error:
            self._drain()
            self._send_text(error.status, error.text + "\n", headers=error.headers)
        except (ConnectionError, TimeoutError, ssl.SSLError, BrokenPipeError):
            self.close_connection = True
        except Exception:
            log.exception("request failed: %s %s", self.command, self.path)
            self._drain()
            with contextlib.suppress(OSError):
                self._send_text(500, "InternalFault: unexpected replica error\n")
        finally:
            if not self._body_read and (
                (self.headers.get("Content-Length") or "0") != "0"
                or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            ):
                self.close_connection = True

    def _drain(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        if not self._body_read and length.isdigit() and 0 < int(length) <= 16 * 1024 * 1024:
            with contextlib.suppress(OSError, ConnectionError, ValueError):
                for _ in self.body_chunks():
                    pass

    def _route(self, service: str, rest: str, query: dict[str, list[str]]) -> None:
        method = self.command
        if service == "reg" and rest == "resource-caps" and method in ("GET", "HEAD"):
            self._send_text(200, registry_text(self.server.base_url))
            return
        resource_id = SERVICE_PATHS.get(service)
        if resource_id is None:
            raise HttpError(404, f"NotFound: {self.path}")
        if rest == "capabilities" and method in ("GET", "HEAD"):
            document = capabilities_document(self.server.base_url, resource_id)
            self._send_text(200, document, "text/xml")
        elif rest == "availability" and method in ("GET", "HEAD"):
            self._send_text(200, AVAILABLE, "text/xml")
        elif service == "vault":
            vault = self.server.vault
            if vault is None:
                raise HttpError(503, "vault is not running")
            vault.forward(self, self._certificate_user(), self.path[len("/vault/") :])
        elif service == "cred" and rest == "generate" and method in ("GET", "HEAD"):
            self._generate(query)
        elif service == "ac" and rest == "login" and method == "POST":
            self._login()
        elif service == "data" and rest == "uri-scheme-map" and method in ("GET", "HEAD"):
            self._send_text(200, f"default: {SEED_SCHEME}:\n{SEED_ARCHIVE}: {SEED_SCHEME}:\n")
        elif service == "raven" and rest == "locate" and method == "POST":
            self._locate()
        elif service == "raven" and rest.startswith("files/") and method in ("GET", "HEAD"):
            uri = unquote(rest[len("files/") :])
            self.server.archive.path_of(uri)
            location = f"{self.server.base_url}/minoc/files/{uri}"
            self.respond(303, [("Location", location)], b"")
        elif service == "minoc" and rest.startswith("files/") and method in ("GET", "HEAD"):
            self._file(unquote(rest[len("files/") :]), query)
        elif service == "minoc" and rest.startswith("files/"):
            raise HttpError(403, "PermissionDenied: the replica's archive is read-only")
        else:
            raise HttpError(404 if method in ("GET", "HEAD") else 405, f"NotFound: {self.path}")

    # ---- who is calling

    def _certificate_user(self) -> str | None:
        certificate = self.request.getpeercert()
        if not certificate:
            return None
        for rdn in certificate.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    def _caller(self) -> str | None:
        """The user of a certificate, of Basic credentials, or of a CADC_SSO cookie."""
        user = self._certificate_user()
        if user is not None:
            return user if user in self.server.users else None
        authorization = self.headers.get("Authorization") or ""
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            name, _, password = decoded.partition(":")
            return name if self.server.check_password(name, password) else None
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "CADC_SSO":
                with self.server.sessions_lock:
                    return self.server.sessions.get(value.strip('"'))
        return None

    # ---- credentials

    def _generate(self, query: dict[str, list[str]]) -> None:
        user = self._caller()
        if user is None:
            raise HttpError(
                401,
                "NotAuthenticated: invalid username/password",
                [("WWW-Authenticate", 'Basic realm="canfar-tui CADC replica"')],
            )
        try:
            days = float((query.get("daysValid") or ["10"])[0])
        except ValueError:
            raise HttpError(400, "InvalidArgument: daysValid must be a number") from None
        if days <= 0:
            raise HttpError(400, "InvalidArgument: daysValid must be positive")
        log.info("proxy certificate for %s, %s days", user, days)
        self._send_text(200, self.server.pki.proxy_certificate(user, days))

    def _login(self) -> None:
        form = parse_qs(self._body().decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        if not self.server.check_password(user, password):
            raise HttpError(401, "NotAuthenticated: invalid username/password")
        token = secrets.token_urlsafe(24)
        with self.server.sessions_lock:
            self.server.sessions[token] = user
        self._send_text(200, token)

    # ---- storage inventory

    def _locate(self) -> None:
        try:
            document = ET.fromstring(self._body())
        except ET.ParseError:
            raise HttpError(400, "InvalidArgument: malformed transfer document") from None
        target = (document.findtext(f"{{{VOS_NS}}}target") or "").strip()
        direction = (document.findtext(f"{{{VOS_NS}}}direction") or "").strip()
        if direction != "pullFromVoSpace":
            raise HttpError(403, "PermissionDenied: the replica's archive is read-only")
        self.server.archive.path_of(target)
        root = ET.Element("vos:transfer", {"xmlns:vos": VOS_NS, "version": "2.1"})
        ET.SubElement(root, "vos:target").text = target
        ET.SubElement(root, "vos:direction").text = direction
        protocol = ET.SubElement(root, "vos:protocol", uri="ivo://ivoa.net/vospace/core#httpsget")
        ET.SubElement(
            protocol, "vos:endpoint"
        ).text = f"{self.server.base_url}/minoc/files/{target}"
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
        self._send_text(200, body, "text/xml")

    def _file(self, uri: str, query: dict[str, list[str]]) -> None:
        if query.get("SUB") or query.get("META"):
            raise HttpError(400, "NotSupported: cutouts and headers are not served by the replica")
        archive = self.server.archive
        path = archive.path_of(uri)
        md5 = archive.md5(path)
        st = path.stat()
        size = st.st_size
        headers = [
            ("Content-Type", "application/fits"),
            ("Content-Disposition", f'inline; filename="{path.name}"'),
            ("Digest", "md5=" + base64.b64encode(bytes.fromhex(md5)).decode()),
            ("Accept-Ranges", "bytes"),
            ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
        ]
        start, end, status = 0, size - 1, 200
        wanted = _byte_range(self.headers.get("Range"), size)
        if wanted == "unsatisfiable":
            raise HttpError(416, "RangeNotSatisfiable", [("Content-Range", f"bytes */{size}")])
        if isinstance(wanted, tuple):
            start, end = wanted
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        headers.append(("Content-Length", str(end - start + 1)))
        if self.command == "HEAD":
            self.respond(status, headers, None)
            return

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                handle.seek(start)
                remaining = end - start + 1
                while remaining > 0 and (data := handle.read(min(CHUNK, remaining))):
                    remaining -= len(data)
                    yield data

        self.respond_stream(status, headers, chunks())


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One ``bytes=a-b`` range as (first, last), ``"unsatisfiable"``, or None (whole file)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, _, last_text = header[len("bytes=") :].strip().partition("-")
    try:
        if first_text == "":
            suffix = int(last_text)
            return (max(0, size - suffix), size - 1) if suffix > 0 else "unsatisfiable"
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first < 0 or first >= size:
        return "unsatisfiable"
    return (first, min(last, size - 1))


# --------------------------------------------------------------------------- start-up


def tls_context(pki: Pki) -> ssl.SSLContext:
    """Server TLS: the replica's certificate; client certificates optional, CA-verified."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(cafile=pki.ca_cert)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def prepare_run(run: Path, user_names: Sequence[str]) -> tuple[Pki, dict[str, str]]:
    """Everything the server needs in ``run`` that does not depend on its port."""
    import certifi

    pki = Pki(run / "pki")
    pki.ensure()
    bundle = pki.write_bundle(run / "pki" / "bundle.pem", Path(certifi.where()))
    write_certifi_shim(run / "python", bundle)
    users = ensure_users(run / "secrets", user_names)
    seed_archive(run / "archive")
    return pki, users


def _write_public(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; writes RUN/url once listening and removes it on exit."""
    parser = argparse.ArgumentParser(prog="python -m cadc_replica.server", description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="the run folder")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--users", default=" ".join(DEFAULT_USERS), help="user names")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run: Path = args.run.resolve()
    run.mkdir(parents=True, exist_ok=True)
    pki, users = prepare_run(run, args.users.split())
    server = ReplicaServer(
        ("127.0.0.1", args.port), tls_context(pki), pki, users, Archive(run / "archive")
    )
    server.vault = Vault.start(run / "vault", list(users), f"{server.base_url}/vault")
    prepare_client_home(run / "client-home", server.base_url)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    url_file = run / "url"
    _write_public(url_file, server.base_url + "\n")
    log.info("serving %s for %s", server.base_url, ", ".join(users))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        url_file.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
        server.vault.stop()
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(0)
