"""CADC archive downloads, like ``cadcget cadc:CFHT/1056213p.fits.fz``: verified and atomic.

:class:`CadcArchive` is the real CADC Storage Inventory through the public API of ``cadcdata``'s
``StorageInventoryClient`` — ``cadcinfo(id)`` and ``cadcget(id, dest=…)``, what the ``cadcinfo``
and ``cadcget`` commands call — with the profile's proxy certificate (``cadcget --cert``: a
``Subject`` holding the file, checked for PEM format and expiry before first use) and the
profile's TLS setting (``verify_tls = false`` is ``insecure``). ``cadcdata`` is imported on first
use, in a worker thread.

A download, in the worker thread of :func:`~canfar_tui.clients._blocking.run_blocking`:

1. ``cadcinfo`` gives the file's size and MD5 (NotFound, AuthError… from here). A destination
   that already holds those bytes is left alone.
2. A private folder ``.NAME.XXXXXXXX.cadcget`` is made next to the destination, and ``cadcget``
   writes into it, in a transfer thread. cadcutils writes ``NAME-MD5.part`` there, reads the
   raw bytes (a ``Content-Encoding`` is not decoded), checks them against the response's size
   and ``Digest``, and renames the file to ``NAME`` inside that folder; on a transient failure
   it tries again, and a second ``cadcget`` into the same folder resumes the partial file with
   a ``Range`` request.
3. Meanwhile the worker thread reports progress by watching the bytes in that folder grow
   (``cadcget`` takes a ``process_bytes`` argument but cadcdata does not pass it to the
   transfer, and cadcutils has no progress callback) and watches for cancellation.
4. The received file is checked once more against ``cadcinfo``'s size and MD5, flushed to disk
   and renamed over the destination in one ``os.replace``. Whatever happens, the private
   folder is removed: the destination name only ever holds a complete, verified file.

**Cancelling** (the task is cancelled, or ``canfar-tui get`` is interrupted) cannot stop the
transfer thread: cadcdata's public API has no way to abort a ``cadcget``. The download returns
within a fraction of a second, its private folder (with the partial file) is removed at once,
and the abandoned transfer runs on in the background until cadcutils finishes or fails —
writing into a file that no longer has a name, its final rename fails because the folder is
gone — and then removes the folder again in case it raced with the removal. Its result is
discarded; nothing ever appears at the destination. The thread is a daemon: a process that
exits does not wait for it. Timeouts are cadcutils' own (120 s per request, with its retries).

:func:`map_archive_error` turns the SDK's failures into the client error tree, one line each.
Nothing here imports Textual, and ``cadcdata`` is imported inside the worker thread.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from canfar_tui.clients._blocking import Cancelled, Progress
from canfar_tui.clients.archive.base import (
    ArchiveChecksumMismatch,
    ArchiveFileInfo,
    ArchiveURI,
    BlockingArchive,
    already_there,
    destination_in,
    md5_of,
)
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    NotFound,
    ProgressCallback,
    Unavailable,
)
from canfar_tui.clients.files import UnsafeTarget, writable_target

__all__ = ["STAGING_SUFFIX", "CadcArchive", "map_archive_error"]

#: The private folder a download is received in ends with this (``.NAME.XXXXXXXX.cadcget``).
STAGING_SUFFIX = ".cadcget"
#: How often the worker thread looks at the received bytes and the cancel event (seconds).
POLL_SECONDS = 0.2
#: Seconds to wait before trying a failed download again: 0.5, 1, 2… at most 8.
FIRST_RETRY_DELAY = 0.5

_TRANSIENT_NAMES = (
    "ConnectionError",
    "Timeout",
    "ReadTimeout",
    "ConnectTimeout",
    "ReadTimeoutError",
    "ChunkedEncodingError",
    "TransferException",
    "ProtocolError",
    "IncompleteRead",
)


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


def map_archive_error(
    exc: BaseException, uri: str, *, with_certificate: bool = False
) -> ClientError:
    """Translate a cadcdata/cadcutils/requests exception into the client error tree.

    ``with_certificate``: the client presented a certificate (a TLS handshake the server
    ended is then the server refusing it).
    """
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
    text = str(exc).lower()
    if name == "NotFoundException" or status == 404:
        return NotFound(f"Not in the CADC archive: {uri}", details=details)
    if name in ("UnauthorizedException", "ForbiddenException") or status in (401, 403):
        return AuthError(
            f"Not allowed to read {uri}: check or renew your CADC certificate", details=details
        )
    if name == "TransferException" and ("corrupted" in text or "do not match" in text):
        # cadcutils' own check of the bytes against the response's Digest and length.
        return ArchiveChecksumMismatch(
            f"{uri}: the bytes received do not match the archive's MD5; nothing was kept",
            details=details,
        )
    cause = f"{text} {getattr(exc, 'orig_exception', '')}".lower()
    if "client certificate" in text or (name == "ValueError" and "certificate" in text):
        # cadcutils' checks of the proxy certificate before its first use: expired, not PEM,
        # unreadable ("... Run: cadc-get-cert").
        reason = _first_line(exc).split(" Run:")[0].split(". ")[0].rstrip(". ")
        return AuthError(
            f"{reason[:160]}: renew your CADC certificate with cadc-get-cert (fetching {uri})",
            details=details,
        )
    if name == "SslException" or "certificate" in text:
        if any(
            word in cause
            for word in ("certificate verify failed", "certificate_verify", "hostname")
        ):
            return AuthError(
                f"TLS failure while fetching {uri}: the CADC server's certificate could not be "
                "verified",
                details=details,
            )
        if with_certificate:
            # The server ended the handshake (an alert such as "unknown ca", or just EOF, as
            # TLS 1.3 lets it do after the client thinks the handshake is over).
            return AuthError(
                f"The CADC archive refused your certificate for {uri}: renew it with cadc-get-cert",
                details=details,
            )
        return AuthError(f"TLS failure while fetching {uri}", details=details)
    if name == "RuntimeError" and text.startswith("cannot get content from"):
        # cadcutils could not read a service description (registry, capabilities); it
        # keeps the reason (unreachable, TLS) to itself.
        where = _first_line(exc).rsplit(" ", 1)[-1]
        return Unavailable(
            f"Cannot reach the CADC archive for {uri}: {where} did not answer", details=details
        )
    if status is not None and status >= 500:
        return Unavailable(f"The CADC archive answered {status} for {uri}", details=details)
    if isinstance(exc, ConnectionError | TimeoutError) or name in _TRANSIENT_NAMES:
        return Unavailable(f"Cannot reach the CADC archive for {uri}", details=details)
    if isinstance(exc, AttributeError | ValueError):
        return InvalidInput(f"Not an archive file URI: {uri}", details=details)
    first = _first_line(exc) or name
    return ClientError(f"Fetching {uri} failed: {first[:200]}", details=details)


class _Transfer:
    """One ``cadcget`` into a private folder, in a daemon thread that may be abandoned."""

    def __init__(self, client: Any, uri: str, staging: Path, name: str) -> None:
        self.staging = staging
        self.received = staging / name
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(client, uri), name=f"cadcget {name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self, client: Any, uri: str) -> None:
        try:
            client.cadcget(uri, dest=str(self.received))
        except BaseException as exc:  # reported to the worker thread, never lost
            self.error = exc
        finally:
            self.done.set()
            if self._abandoned.is_set():
                shutil.rmtree(self.staging, ignore_errors=True)

    def bytes_so_far(self) -> int:
        """The bytes received so far: the sizes of the files in the private folder."""
        total = 0
        try:
            with os.scandir(self.staging) as entries:
                for entry in entries:
                    try:
                        total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            return 0
        return total

    def abandon(self) -> None:
        """Remove the private folder; a transfer still running removes it again when it ends."""
        self._abandoned.set()
        shutil.rmtree(self.staging, ignore_errors=True)


class CadcArchive(BlockingArchive):
    """The CADC Storage Inventory through ``cadcdata`` (what ``cadcget`` uses).

    Authenticates with the proxy certificate when it exists (``cadc-get-cert``), anonymously
    otherwise (public data such as the seed's CFHT exposures needs no login).
    ``resource_id`` overrides the Storage Inventory service (default: CADC's global ``raven``);
    ``attempts`` is how many times a download that failed transiently is tried (each one
    resuming the partial file).
    """

    def __init__(
        self,
        *,
        certificate: Path | None = None,
        resource_id: str | None = None,
        verify_tls: bool = True,
        attempts: int = 3,
    ) -> None:
        self._certificate = certificate
        self._resource_id = resource_id
        self._verify_tls = verify_tls
        self._attempts = max(1, attempts)
        self._lock = threading.Lock()
        self._client: Any = None

    def __repr__(self) -> str:
        return f"CadcArchive(certificate={str(self._certificate)!r})"

    @property
    def backend_label(self) -> str:
        return "CADC"

    @property
    def certificate(self) -> Path | None:
        """The proxy certificate downloads authenticate with (None: anonymous)."""
        return self._certificate

    @property
    def verify_tls(self) -> bool:
        return self._verify_tls

    async def aclose(self) -> None:
        # cadcdata's public API has no close(); dropping the client lets its session go.
        self._client = None

    # ---- worker thread

    def _presents_certificate(self) -> bool:
        certificate = self._certificate
        return certificate is not None and certificate.expanduser().is_file()

    def _map(self, exc: BaseException, uri: ArchiveURI) -> ClientError:
        return map_archive_error(exc, str(uri), with_certificate=self._presents_certificate())

    def _inventory(self, uri: ArchiveURI) -> Any:
        """The cadcdata client (built once; ``uri`` names what failed if it cannot be)."""
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
                if certificate is not None and self._presents_certificate():
                    # What `cadcget --cert FILE` does: the file is checked (PEM, not expired)
                    # before its first use, and presented in every TLS handshake.
                    subject = net.Subject(
                        certificate=str(certificate.expanduser()), validate_certificate=True
                    )
                else:
                    subject = net.Subject()
                options: dict[str, Any] = {"insecure": not self._verify_tls}
                if self._resource_id:
                    options["resource_id"] = self._resource_id
                try:
                    self._client = StorageInventoryClient(subject, **options)
                except Exception as exc:
                    raise self._map(exc, uri) from exc
            return self._client

    def _info_sync(self, uri: ArchiveURI, cancel: threading.Event) -> ArchiveFileInfo:
        client = self._inventory(uri)
        try:
            found = client.cadcinfo(str(uri))
        except Exception as exc:
            raise self._map(exc, uri) from exc
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
        try:
            target = writable_target(destination)
        except UnsafeTarget as exc:
            raise InvalidInput(str(exc)) from exc
        info = self._info_sync(uri, cancel)
        report = Progress(progress, loop, info.size)
        if already_there(destination, info):
            report(info.size or 0, force=True)
            return destination
        client = self._inventory(uri)
        try:
            staging = Path(
                tempfile.mkdtemp(
                    prefix=f".{uri.file_name}.", suffix=STAGING_SUFFIX, dir=target.parent
                )
            )
        except OSError as exc:
            raise InvalidInput(f"Cannot write in {target.parent}: {exc.strerror or exc}") from exc
        transfer: _Transfer | None = None
        try:
            report(0, force=True)
            for attempt in range(self._attempts):
                transfer = _Transfer(client, str(uri), staging, uri.file_name)
                transfer.start()
                while not transfer.done.wait(POLL_SECONDS):
                    if cancel.is_set():
                        raise Cancelled(str(uri))
                    report(transfer.bytes_so_far())
                if cancel.is_set():
                    raise Cancelled(str(uri))
                if transfer.error is None:
                    break
                error = self._map(transfer.error, uri)
                retry = error.transient and not isinstance(error, ArchiveChecksumMismatch)
                if not retry or attempt + 1 == self._attempts:
                    raise error from transfer.error
                if cancel.wait(min(8.0, FIRST_RETRY_DELAY * 2**attempt)):
                    raise Cancelled(str(uri))
            assert transfer is not None
            self._verify(transfer.received, info, uri)
            self._move_into_place(transfer.received, target)
        finally:
            if transfer is not None and not transfer.done.is_set():
                transfer.abandon()
            else:
                shutil.rmtree(staging, ignore_errors=True)
        report(info.size or destination.stat().st_size, force=True)
        return destination

    @staticmethod
    def _verify(received: Path, info: ArchiveFileInfo, uri: ArchiveURI) -> None:
        """Check the received file against ``cadcinfo``'s size and MD5."""
        try:
            size = received.stat().st_size
            if info.size is not None and size != info.size:
                raise ArchiveChecksumMismatch(
                    f"{uri}: received {size} bytes, the archive has {info.size}; nothing was kept"
                )
            if info.md5 is not None and md5_of(received) != info.md5:
                raise ArchiveChecksumMismatch(
                    f"{uri}: the bytes received do not match the archive's MD5; nothing was kept"
                )
        except FileNotFoundError as exc:
            raise Unavailable(f"The CADC archive sent nothing for {uri}") from exc

    @staticmethod
    def _move_into_place(received: Path, target: Path) -> None:
        """Flush the verified file to disk and rename it over ``target`` in one step."""
        try:
            with open(received, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(received, target)
        except OSError as exc:
            raise InvalidInput(f"Cannot write {target}: {exc.strerror or exc}") from exc
