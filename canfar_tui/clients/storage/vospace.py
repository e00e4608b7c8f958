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

Progress callbacks run on the event loop thread (they are handed over with
``call_soon_threadsafe``), throttled to a few hundred calls per transfer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    ProgressCallback,
    QuotaExceeded,
    Unavailable,
)
from canfar_tui.clients.faults import check_local_write
from canfar_tui.models import StorageNode, StorageQuota

if TYPE_CHECKING:
    from canfar_tui.clients.storage.loopback import RunningVOSpace

__all__ = ["ChecksumMismatch", "RetryPolicy", "TransferCancelled", "VOSpaceStorage"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_SIZE = 256 * 1024
#: How long a cancelled call waits for its worker thread to stop and remove temp files.
CANCEL_GRACE_SECONDS = 10.0
CONTAINER = "vos:ContainerNode"
LINK = "vos:LinkNode"

#: Serialises the temporary redirection of cadcutils' cache globals (see the module docstring).
_CADC_GLOBALS_LOCK = threading.Lock()


class ChecksumMismatch(Unavailable):
    """Bytes arrived corrupted (MD5 mismatch) and retries did not help; nothing was kept."""

    title = "Checksum mismatch"


class TransferCancelled(Exception):
    """Raised inside a worker thread when the transfer's task was cancelled."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried: ``attempts`` tries, delays doubling up to a cap."""

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        return float(min(self.max_delay, self.first_delay * (2**retry)))


# --------------------------------------------------------------------------- helpers


class _Progress:
    """Throttled progress reports, handed to the event loop thread."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        total: int | None,
    ) -> None:
        self._callback = callback
        self._loop = loop
        self.total = total
        self._last = -1
        self._step = max(256 * 1024, (total or 0) // 200)

    def __call__(self, done: int, *, force: bool = False) -> None:
        if self._callback is None:
            return
        if not force and self._last >= 0 and done - self._last < self._step and done != self.total:
            return
        self._last = done
        callback, total = self._callback, self.total

        def deliver() -> None:
            try:
                callback(done, total)
            except Exception:  # a broken progress bar must not break the transfer
                log.exception("progress callback failed")

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(deliver)


class _UploadBody:
    """A file object for ``requests`` that reports progress and honours cancellation."""

    def __init__(
        self, handle: Any, size: int, progress: _Progress, cancel: threading.Event
    ) -> None:
        self._handle = handle
        self._size = size
        self._progress = progress
        self._cancel = cancel
        self._done = 0

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        if self._cancel.is_set():
            raise TransferCancelled("upload cancelled")
        data: bytes = self._handle.read(CHUNK_SIZE if amount is None or amount < 0 else amount)
        self._done += len(data)
        self._progress(self._done)
        return data


def _consume_result(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of an abandoned worker so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


def _md5_of_file(path: Path, cancel: threading.Event) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            if cancel.is_set():
                raise TransferCancelled("cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def _md5_from_digest(headers: Mapping[str, str]) -> str | None:
    """The hex MD5 in a ``Digest: md5=<base64>`` (or ``Content-MD5``) response header."""
    candidates = []
    for part in (headers.get("Digest") or "").split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.strip().lower() == "md5":
            candidates.append(value.strip())
    if headers.get("Content-MD5"):
        candidates.append(str(headers["Content-MD5"]).strip())
    for value in candidates:
        if len(value) == 32:
            return value.lower()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 16:
            return raw.hex()
    return None


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


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status behind a cadcutils/requests exception, if there is one."""
    for candidate in (exc, getattr(exc, "orig_exception", None)):
        response = getattr(candidate, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _first_line(text: object) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _is_transient(exc: BaseException) -> bool:
    """Connection problems, timeouts, cut-off bodies and 5xx answers: worth another try."""
    if isinstance(exc, ClientError):
        return exc.transient and not isinstance(exc, ChecksumMismatch)
    import requests
    import urllib3.exceptions
    from cadcutils import exceptions as cadc

    if isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.HTTPError
        | cadc.TransferException
        | ConnectionError
        | TimeoutError,
    ):
        return True
    if isinstance(exc, cadc.SslException):
        return False
    status = _status_of(exc)
    if status is not None:
        return status >= 500 or status in (408, 429)
    if isinstance(exc, cadc.HttpException):
        orig = exc.orig_exception
        return isinstance(orig, requests.ConnectionError | requests.Timeout | ConnectionError)
    return isinstance(exc, OSError) and exc.errno in (503, 504, 502, 500, errno.EAGAIN)


def map_error(exc: BaseException, subject: str, action: str) -> ClientError:
    """Translate a vos/cadcutils/requests exception into the client error tree."""
    if isinstance(exc, ClientError):
        return exc
    import requests
    import urllib3.exceptions
    from cadcutils import exceptions as cadc

    details = f"{type(exc).__name__}: {exc}"
    text = str(exc)
    status = _status_of(exc)
    if isinstance(exc, cadc.SslException):
        if "expired" in text.lower() or "certificate" in text.lower():
            return AuthError(
                f"TLS failure while {action}: check or renew your CADC certificate", details=details
            )
        return Unavailable(f"TLS failure while {action}", details=details)
    if isinstance(exc, RuntimeError) and "cert" in text.lower():
        return AuthError("Your CADC certificate has expired: renew it", details=details)
    if isinstance(exc, cadc.NotFoundException) or status == 404:
        return NotFound(f"Not found: {subject}", details=details)
    if isinstance(exc, cadc.UnauthorizedException) or status == 401:
        return AuthError(
            f"Authentication required for {subject}: renew your CADC certificate", details=details
        )
    if isinstance(exc, cadc.ForbiddenException) or status == 403:
        return AuthError(f"Permission denied: {subject}", details=details)
    if isinstance(exc, cadc.AlreadyExistsException) or status == 409:
        return Conflict(f"Conflict on {subject}: {_first_line(text) or 'already exists'}")
    if isinstance(exc, cadc.ByteLimitException) or status == 413:
        return QuotaExceeded(f"VOSpace quota exceeded while {action}", details=details)
    if isinstance(exc, cadc.PreconditionFailedException) or status == 412:
        return ChecksumMismatch(
            f"{subject}: the service received corrupted bytes (MD5 mismatch)", details=details
        )
    if isinstance(exc, cadc.BadRequestException) or status == 400:
        return InvalidInput(f"Invalid request for {subject}: {_first_line(text)}", details=details)
    if status is not None and status >= 500:
        return Unavailable(f"VOSpace error {status} while {action}", details=details)
    if isinstance(exc, requests.Timeout | TimeoutError):
        return Unavailable(f"VOSpace timed out while {action}", details=details)
    if isinstance(
        exc,
        requests.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.HTTPError
        | ConnectionError
        | cadc.HttpException,
    ):
        return Unavailable(f"Cannot reach VOSpace while {action}", details=details)
    for marker, kind, message in (
        ("NodeNotFound", NotFound, f"Not found: {subject}"),
        ("ContainerNotFound", NotFound, f"Folder not found for {subject}"),
        ("DuplicateNode", Conflict, f"Already exists: {subject}"),
        ("ContainerNotEmpty", Conflict, f"Folder not empty: {subject}"),
        ("PermissionDenied", AuthError, f"Permission denied: {subject}"),
        ("QuotaExceeded", QuotaExceeded, f"VOSpace quota exceeded while {action}"),
        ("RequestEntityTooLarge", QuotaExceeded, f"VOSpace quota exceeded while {action}"),
        ("InvalidArgument", InvalidInput, f"Invalid request for {subject}"),
        ("InvalidURI", InvalidInput, f"Invalid node name: {subject}"),
    ):
        if marker in text:
            return kind(message, details=details)
    if isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
        if code in (errno.ENOENT, 404):
            return NotFound(f"Not found: {subject}", details=details)
        if code in (errno.EEXIST, 409):
            return Conflict(f"Already exists: {subject}", details=details)
        if code in (errno.EACCES, errno.EPERM, 401, 403):
            return AuthError(f"Permission denied: {subject}", details=details)
        if code in (errno.E2BIG, 413):
            return QuotaExceeded(f"VOSpace quota exceeded while {action}", details=details)
        if code in (errno.EINVAL, 400):
            return InvalidInput(f"Invalid request for {subject}", details=details)
        if code >= 500 or code in (errno.EAGAIN, errno.ETIMEDOUT, errno.EIO, errno.EFAULT):
            return Unavailable(f"VOSpace failed while {action}", details=details)
    if isinstance(exc, AttributeError) and "resource ID" in text:
        return Unavailable(
            f"Cannot find the VOSpace service for {subject} (registry or network)", details=details
        )
    if isinstance(exc, ValueError) and "ertificate" in text:
        return AuthError(f"Unusable CADC certificate: {_first_line(text)}", details=details)
    return ClientError(f"VOSpace failed while {action}: {_first_line(text)}", details=details)


@contextlib.contextmanager
def _cadc_caches_at(config_home: Path | None) -> Iterator[None]:
    """Point cadcutils' registry and version caches at ``config_home`` for a moment."""
    if config_home is None:
        yield
        return
    from cadcutils.net import ws
    from cadcutils.util import utils

    with _CADC_GLOBALS_LOCK:
        saved = (ws.CACHE_LOCATION, utils.CADC_CACHE_DIR)
        ws.CACHE_LOCATION = str(config_home / ".config" / "cadc-registry")
        utils.CADC_CACHE_DIR = str(config_home / ".config")
        try:
            yield
        finally:
            ws.CACHE_LOCATION, utils.CADC_CACHE_DIR = saved


def _bound_timeout(session: Any, timeout: tuple[float, float]) -> None:
    """Give every request of a cadcutils session our timeout instead of its 120 s default."""
    original = session.send

    def send(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout
        return original(request, **kwargs)

    session.send = send
    session.retry = False  # we retry ourselves, with a short capped backoff


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
        self._home_uri = home_uri.rstrip("/")
        self._certificate = certificate
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
        if self._home_uri.startswith("vos://"):
            self._short_scheme: str | None = None
        else:
            self._short_scheme = self._home_uri.split(":", 1)[0]

    @classmethod
    def for_sandbox(
        cls,
        server: RunningVOSpace,
        config_home: Path,
        *,
        owns_server: bool = False,
        **options: Any,
    ) -> VOSpaceStorage:
        """A backend for the loopback service: prepares ``config_home`` and points at it.

        With ``owns_server``, :meth:`aclose` also stops the service.
        """
        server.prepare_client_home(config_home)
        client = cls(server.home_uri, config_home=config_home, sandbox=True, **options)
        if owns_server:
            client._owned_server = server
        return client

    @classmethod
    def start_sandbox(
        cls, data_dir: Path, *, quota_bytes: int | None = None, **options: Any
    ) -> VOSpaceStorage:
        """Start the loopback service over ``data_dir/vospace`` and return a backend for it.

        Cheap (a socket and a thread; ``vos`` is not imported). The client's registry, which
        names this process's port, lives in a private temporary directory: a shared one would
        be rewritten by every other process serving the same sandbox (batch jobs uploading,
        a second dashboard) and point this one at a service that has stopped. Closing the
        backend stops the service and removes that directory.
        """
        from canfar_tui.clients.storage.loopback import start_server

        server = start_server(data_dir / "vospace", quota_bytes=quota_bytes)
        config_home = Path(tempfile.mkdtemp(prefix="canfar-tui-vos-"))
        try:
            client = cls.for_sandbox(server, config_home, owns_server=True, **options)
        except BaseException:
            server.stop()
            shutil.rmtree(config_home, ignore_errors=True)
            raise
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
            await asyncio.to_thread(self._close_sessions, client)
        if self._owned_server is not None:
            await asyncio.to_thread(self._owned_server.stop)
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
        """Run ``function(*args, cancel)`` in a worker thread.

        Metadata calls get the overall timeout; transfers have none (big files take time) but
        every request has a connect/read timeout. Cancelling the task sets ``cancel``, which
        the transfer loops check, so the thread stops soon and removes its temp file.
        """
        if self._closed:
            raise Unavailable("The VOSpace client is closed")
        if self._owned_server is not None and not self._owned_server.alive:
            await asyncio.to_thread(self._revive_sandbox)
        cancel = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(function, *args, cancel))
        try:
            if transfer:
                return await asyncio.shield(work)
            return await asyncio.wait_for(asyncio.shield(work), self._timeout)
        except TimeoutError:
            cancel.set()
            work.add_done_callback(_consume_result)
            raise Unavailable(f"VOSpace did not answer within {self._timeout:.0f} s") from None
        except asyncio.CancelledError:
            # let the worker see the flag and clean up (temp files) before we report
            cancel.set()
            work.add_done_callback(_consume_result)
            with contextlib.suppress(BaseException):
                await asyncio.wait({work}, timeout=CANCEL_GRACE_SECONDS)
            raise
        except ClientError:
            raise
        except TransferCancelled:
            raise asyncio.CancelledError() from None
        except Exception as exc:  # the boundary: nothing untranslated gets out
            raise map_error(exc, self._home_uri, "talking to VOSpace") from exc

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
                if last or not _is_transient(exc):
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
                    f"No CADC certificate at {self._certificate}: obtain one (cadc-get-cert)"
                )
            certfile = str(self._certificate)
        try:
            with _cadc_caches_at(self._config_home):
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
        _bound_timeout(endpoints.session, self._request_timeout)
        _bound_timeout(data_client._get_session(), self._request_timeout)
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

    def _public(self, full_uri: str) -> str:
        """How nodes are named to the UI: ``vos:user/path`` like ``home_uri``."""
        if self._short_scheme is None or not full_uri.startswith("vos://"):
            return full_uri
        path = full_uri[len("vos://") :].partition("/")[2]
        return f"{self._short_scheme}:{path}"

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
            for prefix in (uri.rstrip("/") + "/", full + "/"):
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
        report = _Progress(progress, loop, size)
        report(0, force=True)
        try:
            local_md5 = _md5_of_file(local_path, cancel)
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
        report: _Progress,
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
                body = _UploadBody(handle, size, report, cancel)
                try:
                    response = self._data_session(full).put(urls[0], data=body, headers=headers)
                except Exception as exc:
                    if _status_of(exc) == 412:  # the service saw an MD5 mismatch: retry
                        mismatches += 1
                        raise _TransientMismatch(uri) from exc
                    raise
            remote_md5 = _md5_from_digest(response.headers)
            if remote_md5 is not None and remote_md5 != local_md5:
                mismatches += 1
                self._forget_remote(full)
                raise _TransientMismatch(uri)

        try:
            self._retrying(attempt, cancel, uri, "uploading")
        except ClientError as exc:
            if isinstance(exc, _TransientMismatch) or mismatches:
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
        report = _Progress(progress, loop, node.size)
        temp = destination.parent / f".{destination.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise _local_write_error(exc, destination) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                state = _DownloadState(handle, destination, temp)
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
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, destination)
        except OSError as exc:
            raise _local_write_error(exc, destination) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        report(node.size or destination.stat().st_size, force=True)
        return destination

    def _fetch_bytes(
        self,
        full: str,
        uri: str,
        node: StorageNode,
        state: _DownloadState,
        report: _Progress,
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
            announced = _md5_from_digest(response.headers)
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


class _TransientMismatch(Unavailable):
    """One transfer attempt was corrupted in transit; it is retried."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri}: MD5 mismatch in transit")


def _local_write_error(exc: OSError, destination: Path) -> InvalidInput:
    """One line for a failed local write; a full disk (or quota) names the folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InvalidInput(
            f"No space left on {destination.parent} for {destination.name}; nothing was kept",
            details=f"{type(exc).__name__}: {exc}",
        )
    return InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}")


class _DownloadState:
    """Bytes received so far, their running MD5, and the MD5 the service announced."""

    def __init__(self, handle: Any, path: Path, temp: Path | None = None) -> None:
        self.handle = handle
        self.path = path
        self.temp = temp or path
        self.digest = hashlib.md5(usedforsecurity=False)
        self.written = 0
        self.announced_md5: str | None = None

    def write(self, chunk: bytes) -> None:
        try:
            check_local_write(self.temp, self.written + len(chunk))  # injected full disk
            self.handle.write(chunk)
        except OSError as exc:
            raise _local_write_error(exc, self.path) from exc
        self.digest.update(chunk)
        self.written += len(chunk)

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.md5(usedforsecurity=False)
        self.written = 0
        self.announced_md5 = None
