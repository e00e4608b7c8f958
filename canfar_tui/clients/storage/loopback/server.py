"""Starting and stopping the loopback VOSpace service.

:func:`start_server` serves a folder on a loopback address (``127.0.0.1``, port 0 by default;
anything that is not an IPv4 loopback address is refused) in a background thread and returns a
:class:`RunningVOSpace`, which names the service's URLs, holds its
:class:`~canfar_tui.clients.storage.loopback.fault_plan.FaultPlan`, and can
:meth:`~RunningVOSpace.restart` it on the same port after it died.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import secrets
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from canfar_tui.clients.storage.loopback.client_home import prepare_client_home
from canfar_tui.clients.storage.loopback.fault_plan import FaultPlan
from canfar_tui.clients.storage.loopback.handler import VOSpaceHandler
from canfar_tui.clients.storage.loopback.paths import (
    DEFAULT_RESOURCE_ID,
    DEFAULT_USERNAME,
    VOSpaceFault,
)
from canfar_tui.clients.storage.loopback.store import NodeStore
from canfar_tui.clients.storage.loopback.transfers import Job

_log = logging.getLogger(__name__)

__all__ = ["RunningVOSpace", "check_loopback", "short_scheme_for", "start_server"]

MAX_JOBS = 1000
#: A connection that sends nothing (no request, or a stalled body) for this long is closed.
#: Half the dashboard's VOSpace refresh (30 s): a kept-alive connection is closed well before
#: the next poll, so the client never sends on a connection that is being closed.
DEFAULT_IDLE_TIMEOUT = 15.0
#: Connections served at once; one more is closed at once (logged), so a flood of idle or slow
#: clients cannot exhaust the process's file descriptors or threads.
DEFAULT_MAX_CONNECTIONS = 64


class VOSpaceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        store: NodeStore,
        faults: FaultPlan,
        service_name: str,
        token: str | None,
        secret: str,
        idle_timeout: float | None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, VOSpaceHandler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self.store = store
        self.faults = faults
        self.secret = secret
        self.service_path = f"/{secret}/{service_name}"
        self.token = token
        self.idle_timeout = idle_timeout
        self.jobs: dict[str, Job] = {}
        self.jobs_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        host, port = self.server_address[:2]
        self.base_url = f"http://{host!s}:{port}{self.service_path}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed connection is one log line, never a traceback on stderr.

        A client that goes away mid-request (reset, broken pipe, an idle connection closed by
        the timeout) is normal for a service; anything else is logged with its traceback in
        the log file only.
        """
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            _log.debug("VOSpace service: connection from %s ended: %s", client_address, error)
            return
        _log.warning("VOSpace service: request from %s failed", client_address, exc_info=True)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread, or close it at once when all slots are taken."""
        if not self._slots.acquire(blocking=False):
            _log.warning(
                "VOSpace service: too many connections; closed one from %s", client_address
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def knows_secret(self, url_path: str) -> bool:
        """True when ``url_path``'s first segment is this service's secret."""
        offered = url_path.lstrip("/").partition("/")[0]
        return hmac.compare_digest(offered.encode(), self.secret.encode())

    def without_secret(self, text: str) -> str:
        """``text`` (a request line or URL) with the secret masked, for logs."""
        return text.replace(self.secret, "***")

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

    def new_job(self, job: Job) -> None:
        with self.jobs_lock:
            self.jobs[job.id] = job
            while len(self.jobs) > MAX_JOBS:
                del self.jobs[next(iter(self.jobs))]

    def job(self, job_id: str, kind: str | None = None) -> Job:
        with self.jobs_lock:
            job = self.jobs.get(job_id)
        if job is None or (kind is not None and job.kind not in kind.split("|")):
            raise VOSpaceFault(404, "NotFound", f"no job {job_id}")
        return job


def check_loopback(host: str) -> str:
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

    def __init__(self, server: VOSpaceHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/SECRET/vault``: the root of every endpoint.

        It holds the service's secret: hand it only to the user's own clients (a registry
        cache written 0600 in a 0700 folder, :meth:`prepare_client_home`).
        """
        return self._server.base_url

    @property
    def service_path(self) -> str:
        """The path part of :attr:`base_url` (``/SECRET/vault``)."""
        return self._server.service_path

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

        What the old one stored is kept (it is all on disk), and so is its secret, so the
        clients it had keep working. Faults are not carried over.
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
            secret=self._server.secret,
            idle_timeout=self._server.idle_timeout,
            max_connections=self._server.max_connections,
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
    secret: str | None = None,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> RunningVOSpace:
    """Serve ``root`` on a loopback address in a background thread.

    ``root/<username>`` (created if missing) is the user's home; ``root`` is kept 0700,
    stored files 0600. ``quota_bytes`` limits what the home may hold (uploads beyond it get
    413). Every URL starts with ``/SECRET/`` (``secret``, by default 32 random characters):
    a request without it is answered 401, so other local users, who cannot read the
    registry cache that names it, cannot use the service. With ``token``, every request
    but the VOSI ones must also carry it (``Authorization: Bearer`` or
    ``X-CADC-DelegationToken``). A connection idle for ``idle_timeout`` seconds is closed;
    beyond ``max_connections`` open at once, a new connection is closed at once.
    """
    if not resource_id.startswith("ivo://") or resource_id.count("/") < 3:
        raise ValueError(f"not a resource ID: {resource_id!r}")
    if secret is None:
        secret = secrets.token_urlsafe(24)
    if not secret or not all(ch.isalnum() or ch in "-_" for ch in secret):
        raise ValueError("the service secret must be letters, digits, '-' and '_'")
    store = NodeStore(Path(root), username, resource_id, quota_bytes)
    service_name = resource_id.rstrip("/").rsplit("/", 1)[1]
    server = VOSpaceHTTPServer(
        (check_loopback(host), port),
        store,
        FaultPlan(),
        service_name,
        token,
        secret,
        idle_timeout,
        max_connections,
    )
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"vospace-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return RunningVOSpace(server, thread)
