"""VOSpace storage on the real ``vos`` client: nodes, verified transfers and quota.

:class:`VOSpaceStorage` implements :class:`~canfar_tui.clients.base.StorageClient`. The same
code talks to CADC's ``vault`` service and, in the sandbox profile and the tests, to the
project's loopback service (``clients/storage/loopback/``): only where the registry
points differs.

How it uses the library
    ``vos`` is imported on first use (it costs ~200 ms), in a worker thread. Node XML, URL
    building, transfer negotiation, mkdir/delete/move/recursive delete go through ``vos.Client``;
    bytes move through the authenticated ``requests`` sessions of that client, so this module
    can report progress, resume a download with a Range request, and check MD5s itself. The
    library's own retry loops (30 s sleeps, up to 15 min) are switched off: this module retries
    transient failures with a short, capped backoff (:class:`RetryPolicy`), and every
    metadata call has an overall timeout.

Verified transfers
    An upload announces the file's MD5 (``Digest``/``Content-MD5``), so a service that checks
    it (vault, the loopback service) refuses corrupted bytes; the MD5 the service reports
    afterwards must match too, or the node is deleted again. A download is written to a hidden
    temp file next to the destination, resumed after a cut-off, checked against the node's MD5
    and the ``Digest`` header, and only then renamed into place; on failure it is removed.

Pointing the in-process client at a service (the sandbox) -- and its constraint
    ``cadcutils`` computes its registry cache location (``~/.config/cadc-registry``) and its
    version-check cache from HOME *once, at import time*, so changing HOME later does nothing
    and changing it before the import would redirect every other HOME lookup of the app. With
    ``config_home`` (a HOME-like directory prepared by
    :func:`canfar_tui.clients.storage.loopback.prepare_client_home`), the backend sets
    ``cadcutils.net.ws.CACHE_LOCATION`` and ``cadcutils.util.utils.CADC_CACHE_DIR`` to that
    directory *only while it builds its client*, under a process-wide lock, and builds the
    service endpoints and the data client right then: cadcutils binds the cache file paths
    when those objects are created, so the client keeps using the prepared registry after the
    globals are restored. Constraint: another cadcutils client created by other code in the same
    process at that very moment would see the override too; and one process should not point
    two clients for the same resource ID at different registries through the node cache of
    ``vos`` (this module always asks the service, ``force=True``, so it does not rely on it).
    The PyPI "newer version" check of ``vos`` is skipped in every profile: a dashboard makes no
    calls to PyPI.

Every blocking call runs through :func:`canfar_tui.clients._blocking.run_blocking` (a worker
thread; metadata calls with the overall timeout, transfers without; cancellation reaches the
transfer loops through an event). Progress callbacks run on the event loop thread
(:class:`~canfar_tui.clients._blocking.Progress`), throttled to a few hundred calls per transfer.

Beside this module: :mod:`~canfar_tui.clients.storage.vospace_errors` (the error mapping),
:mod:`~canfar_tui.clients.storage.vospace_transfers` (upload bodies, download state, MD5s) and
:mod:`~canfar_tui.clients.storage.cadc_session` (the registry redirection and request timeouts).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from canfar_tui.clients._blocking import Progress, run_blocking
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    ProgressCallback,
    Unavailable,
)
from canfar_tui.clients.files import atomic_writer
from canfar_tui.clients.storage.cadc_session import bound_timeout, cadc_caches_at
from canfar_tui.clients.storage.vospace_certificate import GET_CERTIFICATE, CertificateCheck
from canfar_tui.clients.storage.vospace_errors import (
    ChecksumMismatch,
    TransferCancelled,
    TransientMismatch,
    is_transient,
    local_write_error,
    map_error,
    status_of,
)
from canfar_tui.clients.storage.vospace_transfers import (
    CHUNK_SIZE,
    DownloadState,
    UploadBody,
    md5_from_digest,
    md5_of_file,
)
from canfar_tui.clients.storage.vospace_uris import normalise_vospace_uri, public_vospace_uri
from canfar_tui.models import StorageNode, StorageQuota

if TYPE_CHECKING:
    from canfar_tui.clients.storage.loopback import RunningVOSpace

__all__ = ["ChecksumMismatch", "RetryPolicy", "TransferCancelled", "VOSpaceStorage", "map_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CONTAINER = "vos:ContainerNode"
LINK = "vos:LinkNode"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried: ``attempts`` tries, delays doubling up to a cap."""

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return float(min(self.max_delay, self.first_delay * (2**retry)))


# --------------------------------------------------------------------------- node properties


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    value = text.strip().removesuffix("Z").removesuffix(" GMT")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _creator_name(creator: str | None) -> str | None:
    if not creator:
        return None
    for part in creator.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "CN" and value:
            return value.strip()
    return creator


def _groups(value: str | None) -> str | None:
    if value is None or value.strip() in ("", "NONE"):
        return None
    return value.strip()


# --------------------------------------------------------------------------- the backend


class VOSpaceStorage:
    """A :class:`~canfar_tui.clients.base.StorageClient` on ``vos.Client``.

    ``home_uri`` is the user's VOSpace root (``vos:username``). Authentication is a proxy
    certificate (``certificate``), a token (``token``, held in memory only) or none
    (anonymous; what the sandbox uses). ``config_home`` is a HOME-like directory whose
    ``.config/cadc-registry`` tells ``vos`` where the service is (the sandbox); without it,
    the user's own registry cache is used, as the ``vos`` commands do.
    """

    def __init__(
        self,
        home_uri: str,
        *,
        certificate: Path | None = None,
        token: str | None = None,
        config_home: Path | None = None,
        label: str | None = None,
        sandbox: bool = False,
        verify_tls: bool = True,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        page_size: int = 500,
    ) -> None:
        if ":" not in home_uri:
            raise ValueError(f"not a VOSpace URI: {home_uri!r}")
        with contextlib.suppress(ValueError):  # vault:jdoe is vos:jdoe (see vospace_uris)
            home_uri = normalise_vospace_uri(home_uri)
        self._home_uri = home_uri.rstrip("/")
        self._certificate = certificate
        self._certificate_check = CertificateCheck(certificate) if certificate else None
        self._token = token
        self._config_home = config_home
        self._label = label
        self._sandbox = sandbox
        self._verify_tls = verify_tls
        self._timeout = timeout
        self._request_timeout = (connect_timeout, read_timeout)
        self._retry = retry or RetryPolicy()
        self._page_size = max(1, page_size)
        self._client_lock = threading.Lock()
        self._vos: Any = None
        self._closed = False
        self._owned_server: RunningVOSpace | None = None
        self._owned_config_home: Path | None = None

    @classmethod
    def for_sandbox(
        cls,
        server: RunningVOSpace,
        config_home: Path,
        *,
        owns_server: bool = False,
        owns_config_home: bool = False,
        **options: Any,
    ) -> VOSpaceStorage:
        """A backend for the loopback service: prepares ``config_home`` and points at it.

        With ``owns_server``, :meth:`aclose` also stops the service (and :meth:`_run` starts it
        again if it died); with ``owns_config_home`` it removes ``config_home``. The sandbox's
        own service is started by the composition root
        (:func:`canfar_tui.clients.bundle.start_sandbox_storage`).
        """
        server.prepare_client_home(config_home)
        client = cls(server.home_uri, config_home=config_home, sandbox=True, **options)
        if owns_server:
            client._owned_server = server
        if owns_config_home:
            client._owned_config_home = config_home
        return client

    def __repr__(self) -> str:  # no token, no certificate content
        return f"VOSpaceStorage({self._home_uri!r}, sandbox={self._sandbox})"

    # ---- ServiceClient

    @property
    def backend_label(self) -> str:
        if self._sandbox:
            return "SANDBOX"
        return self._label or "CADC VOSpace"

    @property
    def home_uri(self) -> str:
        return self._home_uri

    @property
    def sandbox_server(self) -> RunningVOSpace | None:
        """The loopback service this client started (restarted on next use if it died)."""
        return self._owned_server

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        client = self._vos
        self._vos = None
        if client is not None:
            await run_blocking(self._close_sessions, client)
        if self._owned_server is not None:
            await run_blocking(self._owned_server.stop)
            self._owned_server = None
        if self._owned_config_home is not None:
            shutil.rmtree(self._owned_config_home, ignore_errors=True)
            self._owned_config_home = None

    # ---- StorageClient

    async def list_nodes(
        self, uri: str, *, limit: int | None = None, start_after: str | None = None
    ) -> Sequence[StorageNode]:
        return await self._run(self._list_sync, uri, limit, start_after)

    async def iter_nodes(
        self, uri: str, *, page_size: int | None = None
    ) -> AsyncIterator[Sequence[StorageNode]]:
        """The children of a container, one page at a time (lazy loading of big folders)."""
        size = page_size or self._page_size
        start: str | None = None
        while True:
            page = await self.list_nodes(uri, limit=size, start_after=start)
            if page:
                yield page
            if len(page) < size:
                return
            start = page[-1].name

    async def stat(self, uri: str) -> StorageNode:
        return await self._run(self._stat_sync, uri)

    async def mkdir(self, uri: str) -> StorageNode:
        return await self._run(self._mkdir_sync, uri)

    async def delete(self, uri: str, *, recursive: bool = False) -> None:
        await self._run(self._delete_sync, uri, recursive)

    async def move(self, source_uri: str, destination_uri: str) -> StorageNode:
        return await self._run(self._move_sync, source_uri, destination_uri)

    async def upload(
        self, local_path: Path, uri: str, *, progress: ProgressCallback | None = None
    ) -> StorageNode:
        loop = asyncio.get_running_loop()
        return await self._run(
            self._upload_sync, Path(local_path), uri, progress, loop, transfer=True
        )

    async def download(
        self, uri: str, local_path: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        loop = asyncio.get_running_loop()
        return await self._run(
            self._download_sync, uri, Path(local_path), progress, loop, transfer=True
        )

    async def quota(self) -> StorageQuota:
        return await self._run(self._quota_sync)

    # ---- running blocking work

    async def _run(self, function: Callable[..., T], *args: Any, transfer: bool = False) -> T:
        """Run ``function(*args, cancel)`` in a worker thread (:func:`run_blocking`).

        Metadata calls get the overall timeout; transfers have none (big files take time) but
        every request has a connect/read timeout. Cancelling the task sets ``cancel``, which
        the transfer loops check, so the thread stops soon and removes its temp file; a
        :class:`TransferCancelled` raised there becomes the task's ``CancelledError``.
        """
        if self._closed:
            raise Unavailable("The VOSpace client is closed")
        if self._owned_server is not None and not self._owned_server.alive:
            await run_blocking(self._revive_sandbox)
        try:
            return await run_blocking(
                self._with_certificate,
                function,
                *args,
                timeout=None if transfer else self._timeout,
                timeout_message=f"VOSpace did not answer within {self._timeout:.0f} s",
                cancellable=True,
            )
        except ClientError:
            raise
        except Exception as exc:  # the boundary: nothing untranslated gets out
            raise map_error(exc, self._home_uri, "talking to VOSpace") from exc

    def _with_certificate(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` once the certificate is known to be usable (worker thread)."""
        if self._certificate_check is not None:
            self._certificate_check()
        return function(*args)

    def _revive_sandbox(self) -> None:
        """Start the owned loopback service again, on the same port and folder, if it died."""
        with self._client_lock:
            server = self._owned_server
            if server is None or server.alive or self._closed:
                return
            log.warning("sandbox VOSpace service on port %d stopped; restarting it", server.port)
            try:
                self._owned_server = server.restart()
            except OSError as exc:
                raise Unavailable(
                    f"The sandbox VOSpace service stopped and cannot start again: "
                    f"{exc.strerror or exc}"
                ) from exc

    def _retrying(
        self,
        function: Callable[[], T],
        cancel: threading.Event,
        subject: str,
        action: str,
    ) -> T:
        """Call ``function`` until it works, retrying transient failures with capped backoff."""
        for attempt in range(self._retry.attempts):
            try:
                return function()
            except TransferCancelled:
                raise
            except Exception as exc:
                last = attempt == self._retry.attempts - 1
                if last or not is_transient(exc):
                    if isinstance(exc, ClientError):
                        raise
                    raise map_error(exc, subject, action) from exc
                delay = self._retry.delay(attempt)
                log.info("VOSpace %s failed (%s); retry in %.1f s", action, exc, delay)
                if cancel.wait(delay):
                    raise TransferCancelled(action) from exc
        raise Unavailable(f"VOSpace failed while {action}")  # attempts == 0

    # ---- the vos client

    def _client(self) -> Any:
        with self._client_lock:
            if self._vos is None:
                self._vos = self._build_client()
            return self._vos

    def _build_client(self) -> Any:
        import vos
        from cadcutils.util import utils as cadc_utils

        if "vos" not in cadc_utils.check_version.checked:
            cadc_utils.check_version.checked.append("vos")  # no PyPI look-ups from a dashboard
        certfile = ""
        if self._certificate is not None:
            if not self._certificate.is_file():
                raise AuthError(
                    f"No CADC certificate at {self._certificate}: get one with {GET_CERTIFICATE}"
                )
            certfile = str(self._certificate)
        try:
            with cadc_caches_at(self._config_home):
                client = vos.Client(
                    vospace_certfile=certfile,
                    vospace_token=self._token,
                    insecure=not self._verify_tls,
                )
                endpoints = client.get_endpoints(self._home_uri)
                data_client = client._get_si_client(self._home_uri)
        except ClientError:
            raise
        except Exception as exc:
            raise map_error(exc, self._home_uri, "connecting to VOSpace") from exc
        bound_timeout(endpoints.session, self._request_timeout)
        bound_timeout(data_client._get_session(), self._request_timeout)
        return client

    @staticmethod
    def _close_sessions(client: Any) -> None:
        for endpoints in list(getattr(client, "_endpoints", {}).values()):
            with contextlib.suppress(Exception):
                endpoints.session.close()
        data_client = getattr(client, "_si_client", None)
        if data_client is not None:
            with contextlib.suppress(Exception):
                data_client._get_session().close()

    def _session(self, full_uri: str) -> Any:
        return self._client().get_session(full_uri)

    def _data_session(self, full_uri: str) -> Any:
        return self._client()._get_si_client(full_uri)._get_session()

    # ---- URIs

    def _full(self, uri: str) -> str:
        """The service's form of ``uri`` (``vos://authority/path``), refusing ``.``/``..``."""
        text = uri.strip()
        if ":" not in text:
            raise InvalidInput(f"Not a VOSpace URI: {uri!r}")
        path = text.split("://", 1)[1].partition("/")[2] if "://" in text else text.split(":", 1)[1]
        names = [name for name in path.split("/") if name]
        if any(name in (".", "..") for name in names) or any(ord(c) < 32 for c in text):
            raise InvalidInput(f"Invalid VOSpace path: {uri!r}")
        if "?" in text or "#" in text:
            raise InvalidInput(f"Invalid VOSpace path: {uri!r}")
        try:
            full: str = self._client().fix_uri(text)
        except ClientError:
            raise
        except Exception as exc:
            raise map_error(exc, uri, "resolving the node name") from exc
        return full

    @staticmethod
    def _public(full_uri: str) -> str:
        """How nodes are named to the UI: ``vos:user/path`` (see :mod:`.vospace_uris`)."""
        return public_vospace_uri(full_uri)

    def _to_node(self, node: Any) -> StorageNode:
        props: dict[str, str] = {
            str(key): str(value) for key, value in node.props.items() if value is not None
        }
        size: int | None = None
        with contextlib.suppress(KeyError, ValueError):
            size = int(props["length"])
        readable = _groups(props.get("groupread"))
        if props.get("ispublic", "false").lower() == "true":
            readable = "public" if readable is None else f"public, {readable}"
        md5 = props.get("MD5")
        uri = str(node.uri or "")
        return StorageNode(
            uri=self._public(uri),
            name=str(node.name or uri.rstrip("/").rsplit("/", 1)[-1]),
            is_container=node.type == CONTAINER,
            size=size,
            md5=md5.lower() if md5 else None,
            modified=_parse_date(props.get("date")),
            creator=_creator_name(props.get("creator")),
            readable_by=readable,
            writable_by=_groups(props.get("groupwrite")),
            is_link=node.type == LINK,
            target=node.target,
            properties=props,
        )

    def _fetch(self, full_uri: str, *, limit: int | None, next_uri: str | None = None) -> Any:
        import vos

        client = self._client()
        url = client.get_node_url(full_uri, limit=limit, next_uri=next_uri)
        response = client.get_session(full_uri).get(url)
        return vos.Node(response.content)

    # ---- operations (worker thread)

    def _stat_sync(self, uri: str, cancel: threading.Event) -> StorageNode:
        full = self._full(uri)
        node = self._retrying(lambda: self._fetch(full, limit=0), cancel, uri, "reading a node")
        return self._to_node(node)

    def _exists(self, uri: str, cancel: threading.Event) -> StorageNode | None:
        try:
            return self._stat_sync(uri, cancel)
        except NotFound:
            return None

    def _list_sync(
        self, uri: str, limit: int | None, start_after: str | None, cancel: threading.Event
    ) -> list[StorageNode]:
        full = self._full(uri)
        if limit is not None and limit < 0:
            raise InvalidInput("limit must not be negative")
        start_name = None
        if start_after:
            start_name = start_after.rstrip("/")
            for prefix in (uri.rstrip("/") + "/", full + "/", self._public(full) + "/"):
                start_name = start_name.removeprefix(prefix)
            if "/" in start_name:
                raise InvalidInput(f"start_after must name a child of {uri}")
        collected: list[Any] = []
        next_uri = f"{full}/{start_name}" if start_name else None
        while True:
            want = None if limit is None else limit - len(collected)
            page_limit = self._page_size if want is None else min(self._page_size, want)
            request = page_limit + (1 if start_name else 0)
            fetch = functools.partial(self._fetch, full, limit=request, next_uri=next_uri)
            page = self._retrying(fetch, cancel, uri, "listing a folder")
            if page.type != CONTAINER:
                raise InvalidInput(f"Not a folder: {uri}")
            children = list(page.node_list)
            received = len(children)
            if start_name and children and children[0].name == start_name:
                children = children[1:]
            collected.extend(children[:page_limit])
            if received < request or (limit is not None and len(collected) >= limit):
                break
            if page_limit == 0 or not children:
                break
            start_name = children[-1].name
            next_uri = str(children[-1].uri)
        nodes = [self._to_node(child) for child in collected]
        return nodes if limit is None else nodes[:limit]

    def _mkdir_sync(self, uri: str, cancel: threading.Event) -> StorageNode:
        full = self._full(uri)
        if self._exists(uri, cancel) is not None:
            raise Conflict(f"Already exists: {uri}")
        try:
            self._client().mkdir(full)
        except Exception as exc:
            raise map_error(exc, uri, "creating a folder") from exc
        return self._stat_sync(uri, cancel)

    def _delete_sync(self, uri: str, recursive: bool, cancel: threading.Event) -> None:
        full = self._full(uri)
        if full == self._full(self._home_uri):
            raise InvalidInput("Refusing to delete your VOSpace home folder")
        node = self._stat_sync(uri, cancel)
        client = self._client()
        try:
            if node.is_container and not recursive:
                if self._list_sync(uri, 1, None, cancel):
                    raise Conflict(f"Folder not empty: {uri} (delete it recursively)")
                client.delete(full)
            elif node.is_container:
                try:
                    client.get_endpoints(full).recursive_del  # noqa: B018 - probe the capability
                except KeyError:
                    self._delete_tree(full, uri, cancel)
                    return
                _, failed = client.recursive_delete(full)
                if int(failed or 0):
                    raise Conflict(f"{failed} nodes under {uri} could not be deleted")
            else:
                client.delete(full)
        except ClientError:
            raise
        except Exception as exc:
            raise map_error(exc, uri, "deleting") from exc

    def _delete_tree(self, full: str, uri: str, cancel: threading.Event) -> None:
        """Recursive delete for services without the recursive-delete capability."""
        client = self._client()
        for child in self._list_sync(uri, None, None, cancel):
            if cancel.is_set():
                raise TransferCancelled("delete cancelled")
            child_full = f"{full}/{child.name}"
            if child.is_container:
                self._delete_tree(child_full, child.uri, cancel)
            else:
                client.delete(child_full)
        client.delete(full)

    def _move_sync(self, source: str, destination: str, cancel: threading.Event) -> StorageNode:
        source_full = self._full(source)
        destination_full = self._full(destination)
        if source_full == self._full(self._home_uri):
            raise InvalidInput("Refusing to move your VOSpace home folder")
        source_node = self._stat_sync(source, cancel)
        target = self._exists(destination, cancel)
        final = destination_full
        if target is not None and target.is_container:
            final = f"{destination_full}/{source_node.name}"
            if self._exists(final, cancel) is not None:
                raise Conflict(f"Already exists: {self._public(final)}")
        elif target is not None:
            raise Conflict(f"Already exists: {destination}")
        if source_node.is_container and (final + "/").startswith(source_full + "/"):
            raise InvalidInput("Cannot move a folder into itself")
        try:
            self._client().move(source_full, destination_full)
        except Exception as exc:
            raise map_error(exc, source, "moving") from exc
        return self._stat_sync(final, cancel)

    def _quota_sync(self, cancel: threading.Event) -> StorageQuota:
        home = self._stat_sync(self._home_uri, cancel)
        quota: int | None = None
        with contextlib.suppress(KeyError, ValueError):
            quota = int(home.properties["quota"])
        return StorageQuota(used_bytes=home.size or 0, quota_bytes=quota)

    # ---- uploads

    def _upload_sync(
        self,
        local_path: Path,
        uri: str,
        progress: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        cancel: threading.Event,
    ) -> StorageNode:
        try:
            size = local_path.stat().st_size
            if not local_path.is_file():
                raise InvalidInput(f"Not a file: {local_path}")
        except OSError as exc:
            raise InvalidInput(f"Cannot read {local_path}: {exc.strerror}") from exc
        existing = self._exists(uri, cancel)
        if existing is not None and existing.is_container:
            uri = f"{uri.rstrip('/')}/{local_path.name}"
            existing = self._exists(uri, cancel)
            if existing is not None and existing.is_container:
                raise Conflict(f"A folder named {local_path.name} already exists in {uri}")
        full = self._full(uri)
        report = Progress(progress, loop, size)
        report(0, force=True)
        try:
            local_md5 = md5_of_file(local_path, cancel)
        except OSError as exc:
            raise InvalidInput(f"Cannot read {local_path}: {exc.strerror}") from exc
        client = self._client()
        if size == 0:  # like vcp: an empty file is a node without bytes
            try:
                if existing is not None:
                    client.delete(full)
                client.create(full)
            except Exception as exc:
                raise map_error(exc, uri, "uploading") from exc
        else:
            self._put_bytes(local_path, full, uri, size, local_md5, report, cancel)
        node = self._stat_sync(uri, cancel)
        if (node.md5 is not None and node.md5 != local_md5) or node.size not in (None, size):
            self._forget_remote(full)
            raise ChecksumMismatch(
                f"{uri}: the stored copy does not match {local_path.name} (MD5); it was removed"
            )
        report(size, force=True)
        return node

    def _put_bytes(
        self,
        local_path: Path,
        full: str,
        uri: str,
        size: int,
        local_md5: str,
        report: Progress,
        cancel: threading.Event,
    ) -> None:
        md5_b64 = base64.b64encode(bytes.fromhex(local_md5)).decode("ascii")
        headers = {
            "Content-Length": str(size),
            "Digest": f"md5={md5_b64}",
            "Content-MD5": md5_b64,
            "Content-Type": "application/octet-stream",
        }
        client = self._client()
        mismatches = 0

        def attempt() -> None:
            nonlocal mismatches
            urls = client.get_node_url(full, method="PUT", full_negotiation=True)
            if isinstance(urls, str):
                urls = [urls]
            if not urls:
                raise Unavailable(f"VOSpace offered no upload address for {uri}")
            report(0, force=True)
            with open(local_path, "rb") as handle:
                body = UploadBody(handle, size, report, cancel)
                try:
                    response = self._data_session(full).put(urls[0], data=body, headers=headers)
                except Exception as exc:
                    if status_of(exc) == 412:  # the service saw an MD5 mismatch: retry
                        mismatches += 1
                        raise TransientMismatch(uri) from exc
                    raise
            remote_md5 = md5_from_digest(response.headers)
            if remote_md5 is not None and remote_md5 != local_md5:
                mismatches += 1
                self._forget_remote(full)
                raise TransientMismatch(uri)

        try:
            self._retrying(attempt, cancel, uri, "uploading")
        except ClientError as exc:
            if isinstance(exc, TransientMismatch) or mismatches:
                raise ChecksumMismatch(
                    f"Upload of {local_path.name} arrived corrupted {mismatches} times "
                    "(MD5 mismatch); nothing was kept",
                    details=exc.details,
                ) from exc
            raise

    def _forget_remote(self, full: str) -> None:
        with contextlib.suppress(Exception):
            self._client().delete(full)

    # ---- downloads

    def _download_url(self, full: str) -> str:
        client = self._client()
        url = client.get_node_url(full, method="GET", view="data")
        if isinstance(url, list):
            url = url[0] if url else None
        if not url:
            urls = client.get_node_url(full, method="GET", view="data", full_negotiation=True)
            url = urls[0] if urls else None
        if not url:
            raise Unavailable(f"VOSpace offered no download address for {self._public(full)}")
        return str(url)

    def _download_sync(
        self,
        uri: str,
        local_path: Path,
        progress: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        cancel: threading.Event,
    ) -> Path:
        node = self._stat_sync(uri, cancel)
        if node.is_container:
            raise InvalidInput(f"{uri} is a folder: download its files")
        destination = local_path / node.name if local_path.is_dir() else local_path
        if not destination.parent.is_dir():
            raise InvalidInput(f"No such local folder: {destination.parent}")
        full = self._full(uri)
        report = Progress(progress, loop, node.size)
        try:
            # a hidden temp file beside the destination, renamed into place once verified
            with atomic_writer(destination) as handle:
                state = DownloadState(handle, destination)
                report(0, force=True)
                verified = False
                for _round in range(self._retry.attempts):
                    self._retrying(
                        lambda: self._fetch_bytes(full, uri, node, state, report, cancel),
                        cancel,
                        uri,
                        "downloading",
                    )
                    expected = node.md5 or state.announced_md5
                    if state.announced_md5 and node.md5 and state.announced_md5 != node.md5:
                        expected = state.announced_md5  # the bytes' own checksum wins
                    actual = state.digest.hexdigest()
                    size_ok = node.size is None or state.written == node.size
                    if size_ok and (expected is None or actual == expected):
                        verified = True
                        break
                    log.warning("download of %s corrupted (MD5 %s != %s)", uri, actual, expected)
                    state.restart()
                if not verified:
                    raise ChecksumMismatch(
                        f"Download of {uri} kept arriving corrupted (MD5 mismatch); nothing kept"
                    )
        except OSError as exc:  # the temp file, the flush or the rename
            raise local_write_error(exc, destination) from exc
        report(node.size or destination.stat().st_size, force=True)
        return destination

    def _fetch_bytes(
        self,
        full: str,
        uri: str,
        node: StorageNode,
        state: DownloadState,
        report: Progress,
        cancel: threading.Event,
    ) -> None:
        """Fetch the rest of the file (a Range request when resuming) into ``state``."""
        url = self._download_url(full)
        headers = {"Range": f"bytes={state.written}-"} if state.written else {}
        response = self._data_session(full).get(url, stream=True, headers=headers)
        try:
            if state.written and response.status_code != 206:
                state.restart()  # the service ignored the Range: start over
                report(0, force=True)
            announced = md5_from_digest(response.headers)
            if announced:
                state.announced_md5 = announced
            while True:
                if cancel.is_set():
                    raise TransferCancelled("download cancelled")
                chunk = response.raw.read(CHUNK_SIZE, decode_content=False)
                if not chunk:
                    break
                state.write(chunk)
                report(state.written)
        finally:
            response.close()
        if node.size is not None and state.written < node.size:
            raise ConnectionError(f"download of {uri} ended early")
