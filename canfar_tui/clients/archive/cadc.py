"""CADC archive downloads, like ``cadcget cadc:CFHT/1056213p.fits.fz``: verified and atomic.

:class:`CadcArchive` is the real CADC Storage Inventory, on ``cadcdata``'s
``StorageInventoryClient`` (imported on first use, in the worker thread; when the package is
missing the download fails with one line saying how to install it). The file's MD5 and size
come from ``cadcinfo``; the bytes are streamed through the client's authenticated session so
this module can report progress, honour cancellation and check the MD5 itself
(:func:`~canfar_tui.clients.archive.base.receive_verified`). :func:`map_archive_error` turns
the SDK's failures into the client error tree.

Nothing here imports Textual, and ``cadcdata`` is imported inside the worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from canfar_tui.clients._blocking import Cancelled, Progress, run_blocking
from canfar_tui.clients.archive.base import (
    CHUNK_SIZE,
    ArchiveFileInfo,
    ArchiveURI,
    already_there,
    destination_in,
    parse_archive_uri,
    receive_verified,
)
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    NotFound,
    ProgressCallback,
    Unavailable,
)

__all__ = ["CadcArchive", "map_archive_error"]


def map_archive_error(exc: BaseException, uri: str) -> ClientError:
    """Translate a cadcdata/cadcutils/requests exception into the client error tree."""
    if isinstance(exc, ClientError):
        return exc
    details = f"{type(exc).__name__}: {exc}"
    status = None
    for candidate in (exc, getattr(exc, "orig_exception", None)):
        response = getattr(candidate, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            status = code
            break
    name = type(exc).__name__
    if name == "NotFoundException" or status == 404:
        return NotFound(f"Not in the CADC archive: {uri}", details=details)
    if name in ("UnauthorizedException", "ForbiddenException") or status in (401, 403):
        return AuthError(
            f"Not allowed to read {uri}: check or renew your CADC certificate", details=details
        )
    if name == "SslException" or "certificate" in str(exc).lower():
        return AuthError(f"TLS failure while fetching {uri}: renew your CADC certificate")
    if status is not None and status >= 500:
        return Unavailable(f"The CADC archive answered {status} for {uri}", details=details)
    if isinstance(exc, ConnectionError | TimeoutError) or name in (
        "ConnectionError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ChunkedEncodingError",
        "TransferException",
        "ProtocolError",
    ):
        return Unavailable(f"Cannot reach the CADC archive for {uri}", details=details)
    if isinstance(exc, AttributeError | ValueError):
        return InvalidInput(f"Not an archive file URI: {uri}", details=details)
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), name)
    return ClientError(f"Fetching {uri} failed: {first[:200]}", details=details)


class CadcArchive:
    """The CADC Storage Inventory through ``cadcdata`` (what ``cadcget`` uses).

    Authenticates with the proxy certificate when it exists (``cadc-get-cert``), anonymously
    otherwise (public data such as the seed's CFHT exposures needs no login).
    """

    def __init__(
        self,
        *,
        certificate: Path | None = None,
        resource_id: str | None = None,
        verify_tls: bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self._certificate = certificate
        self._resource_id = resource_id
        self._verify_tls = verify_tls
        self._timeout = (connect_timeout, read_timeout)
        self._attempts = max(1, attempts)
        self._lock = threading.Lock()
        self._client: Any = None

    def __repr__(self) -> str:
        return f"CadcArchive(certificate={str(self._certificate)!r})"

    @property
    def backend_label(self) -> str:
        return "CADC"

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client._cadc_client._get_session().close)

    async def info(self, uri: str) -> ArchiveFileInfo:
        parsed = parse_archive_uri(uri)
        return await run_blocking(self._info_sync, parsed, cancellable=True)

    async def download(
        self, uri: str, dest_dir: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        parsed = parse_archive_uri(uri)
        loop = asyncio.get_running_loop()
        return await run_blocking(
            self._download_sync, parsed, Path(dest_dir), progress, loop, cancellable=True
        )

    # ---- worker thread

    def _inventory(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from cadcdata import StorageInventoryClient
                    from cadcutils import net
                except ImportError as exc:
                    raise Unavailable(
                        "CADC archive downloads need the cadcdata package (pip install cadcdata)",
                        details=str(exc),
                    ) from exc
                certificate = self._certificate
                if certificate is not None and certificate.expanduser().is_file():
                    subject = net.Subject(certificate=str(certificate.expanduser()))
                else:
                    subject = net.Subject()
                options: dict[str, Any] = {"insecure": not self._verify_tls}
                if self._resource_id:
                    options["resource_id"] = self._resource_id
                try:
                    self._client = StorageInventoryClient(subject, **options)
                except Exception as exc:
                    raise map_archive_error(exc, "the CADC archive") from exc
            return self._client

    def _info_sync(self, uri: ArchiveURI, cancel: threading.Event) -> ArchiveFileInfo:
        client = self._inventory()
        try:
            found = client.cadcinfo(str(uri))
        except Exception as exc:
            raise map_archive_error(exc, str(uri)) from exc
        size = getattr(found, "size", None)
        md5 = getattr(found, "md5sum", None)
        lastmod = getattr(found, "lastmod", None)
        return ArchiveFileInfo(
            uri=str(uri),
            name=str(getattr(found, "name", None) or uri.file_name),
            size=int(size) if size is not None else None,
            md5=str(md5).lower() if md5 else None,
            modified=lastmod if isinstance(lastmod, datetime) else None,
            content_type=getattr(found, "file_type", None),
        )

    def _download_sync(
        self,
        uri: ArchiveURI,
        dest_dir: Path,
        progress: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        cancel: threading.Event,
    ) -> Path:
        destination = destination_in(dest_dir, uri.file_name)
        info = self._info_sync(uri, cancel)
        report = Progress(progress, loop, info.size)
        if already_there(destination, info):
            report(info.size or 0, force=True)
            return destination
        client = self._inventory()
        try:
            urls = list(client._get_transfer_urls(str(uri)))
            session = client._cadc_client._get_session()
        except Exception as exc:
            raise map_archive_error(exc, str(uri)) from exc
        if not urls:
            raise Unavailable(f"The CADC archive offered no download address for {uri}")
        last: ClientError | None = None
        for attempt in range(self._attempts):
            for url in urls:
                if cancel.is_set():
                    raise Cancelled(str(uri))
                try:
                    response = session.get(url, stream=True, timeout=self._timeout)
                    response.raise_for_status()
                except Exception as exc:
                    last = map_archive_error(exc, str(uri))
                    if not last.transient:
                        raise last from exc
                    continue
                try:
                    return receive_verified(
                        response.iter_content(CHUNK_SIZE),
                        destination,
                        expected_md5=info.md5,
                        expected_size=info.size,
                        report=report,
                        cancel=cancel,
                        subject=str(uri),
                    )
                except ClientError as exc:
                    if not exc.transient:
                        raise
                    last = exc
                except Cancelled:
                    raise
                except Exception as exc:
                    last = map_archive_error(exc, str(uri))
                    if not last.transient:
                        raise last from exc
                finally:
                    response.close()
            if cancel.wait(min(8.0, 0.5 * 2**attempt)):
                raise Cancelled(str(uri))
        raise last or Unavailable(f"Could not download {uri}")
