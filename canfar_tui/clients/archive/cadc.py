"""CADC archive downloads, like ``cadcget cadc:CFHT/1056213p.fits.fz``: verified and atomic.

The Batch Quick Start fetches its input with ``cadcget`` from the ``cadcdata`` package. This
module does the same for the dashboard and for ``canfar-tui get``, through one small contract,
:class:`ArchiveClient`, with two backends:

* :class:`CadcArchive` — the real CADC Storage Inventory, on ``cadcdata``'s
  ``StorageInventoryClient`` (imported on first use; when the package is missing the download
  fails with one line saying how to install it). The file's MD5 and size come from
  ``cadcinfo``; the bytes are streamed through the client's authenticated session so this
  module can report progress, honour cancellation and check the MD5 itself.
* :class:`SandboxArchive` — a local archive folder (``<data dir>/sandbox/archive/CFHT``) holding
  synthetic MegaCam-like ``.fits.fz`` exposures for the seed's IDs (1056213p, 1056215p,
  1056216p, 1056217p, 1056218p). Each is generated on first use (4 CCDs of 512 × 1024, with
  :func:`canfar_tui.detection.synthetic.write_synthetic_mef`), into a private temp folder and
  renamed into place, so a half-written exposure never has its final name. Any other file
  dropped into ``archive/<ARCHIVE>/`` is served too.

Every download, whatever the backend, is written to a hidden temp file next to the destination
(``.NAME.<random>.part``), checked against the archive's size and MD5, and only then renamed
into place; on failure or cancellation the temp file is removed, so no partial file is ever
left under the final name. A destination that already holds the same bytes (same size and MD5)
is not downloaded again, as ``cadcget`` does.

Nothing here imports Textual, and the heavy modules (``cadcdata``, ``astropy``, ``numpy``) are
imported inside the worker thread that needs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    NotFound,
    ProgressCallback,
    Unavailable,
)

if TYPE_CHECKING:
    from canfar_tui.config import Settings

__all__ = [
    "SEED_FILE_IDS",
    "ArchiveChecksumMismatch",
    "ArchiveClient",
    "ArchiveFileInfo",
    "ArchiveURI",
    "CadcArchive",
    "SandboxArchive",
    "build_archive",
    "parse_archive_uri",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The CFHT MegaCam exposures the Batch Quick Start processes.
SEED_FILE_IDS = ("1056213p", "1056215p", "1056216p", "1056217p", "1056218p")
#: The archive the seed's files live in, and the URI scheme ``cadcget`` uses.
SEED_ARCHIVE = "CFHT"
DEFAULT_SCHEME = "cadc"
CHUNK_SIZE = 256 * 1024
#: How long a cancelled download waits for its worker thread to remove the temp file.
CANCEL_GRACE_SECONDS = 10.0
#: Progress reports per transfer, at most (plus the first and the last).
PROGRESS_STEPS = 200


class ArchiveChecksumMismatch(Unavailable):
    """The bytes received do not match the archive's MD5 or size; nothing was kept."""

    title = "Checksum mismatch"


class _Cancelled(Exception):
    """Raised inside a worker thread when the download's task was cancelled."""


# --------------------------------------------------------------------------- URIs


@dataclass(frozen=True, slots=True)
class ArchiveURI:
    """A CADC archive file: ``scheme:ARCHIVE/path/name`` (``cadc:CFHT/1056213p.fits.fz``)."""

    scheme: str
    archive: str
    path: str

    @property
    def file_name(self) -> str:
        """The name the local copy gets: the last part of the path."""
        return self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.archive}/{self.path}"


def parse_archive_uri(text: str) -> ArchiveURI:
    """Parse ``cadc:CFHT/1056213p.fits.fz`` (the scheme may be left out, as with ``cadcget``).

    Raises :class:`InvalidInput` (one line) for anything that is not an archive file name:
    no archive, no file, ``.``/``..`` parts, control characters, cutout queries.
    """
    value = text.strip()
    example = "e.g. cadc:CFHT/1056213p.fits.fz"
    if not value:
        raise InvalidInput(f"Give an archive file URI ({example})")
    if any(ord(char) < 32 or char in "\\?#" for char in value):
        raise InvalidInput(f"Not an archive file URI: {value!r} ({example})")
    scheme, colon, rest = value.partition(":")
    if not colon:
        scheme, rest = DEFAULT_SCHEME, value
    if not scheme or not scheme.replace("-", "").isalnum() or rest.startswith("//"):
        raise InvalidInput(f"Not an archive file URI: {value!r} ({example})")
    parts = rest.split("/")
    if len(parts) < 2 or any(part in ("", ".", "..") for part in parts):
        raise InvalidInput(f"Not an archive file URI: {value!r} ({example})")
    return ArchiveURI(scheme=scheme, archive=parts[0], path="/".join(parts[1:]))


@dataclass(frozen=True, slots=True)
class ArchiveFileInfo:
    """What the archive says about a file (``cadcinfo``)."""

    uri: str
    name: str
    size: int | None
    md5: str | None
    modified: datetime | None = None
    content_type: str | None = None


# --------------------------------------------------------------------------- the contract


@runtime_checkable
class ArchiveClient(Protocol):
    """Fetch files from the CADC archive, verified by MD5 and size, written atomically."""

    @property
    def backend_label(self) -> str:
        """``SANDBOX`` or the archive service's name."""
        ...

    async def info(self, uri: str) -> ArchiveFileInfo:
        """Size and MD5 of an archive file; NotFound when there is no such file."""
        ...

    async def download(
        self, uri: str, dest_dir: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        """Download ``uri`` into the folder ``dest_dir``; returns the verified file's path.

        Raises InvalidInput for a bad URI or an unusable folder, NotFound, AuthError,
        Unavailable (network) and :class:`ArchiveChecksumMismatch`. Cancelling the task
        stops the transfer and removes the temp file.
        """
        ...

    async def aclose(self) -> None:
        """Release connections. Safe to call twice."""
        ...


# --------------------------------------------------------------------------- shared machinery


class _Progress:
    """Throttled progress reports, delivered on the event loop's thread."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        total: int | None,
    ) -> None:
        self._callback = callback
        self._loop = loop
        self._total = total
        self._step = max(CHUNK_SIZE, (total or 0) // PROGRESS_STEPS)
        self._last = -1

    def __call__(self, done: int, *, force: bool = False) -> None:
        callback = self._callback
        if callback is None:
            return
        if not force and self._last >= 0 and done - self._last < self._step:
            return
        self._last = done
        total = self._total

        def deliver() -> None:
            try:
                callback(done, total)
            except Exception:  # a broken progress bar must not break the download
                log.exception("progress callback failed")

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(deliver)


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _destination_in(dest_dir: Path, name: str) -> Path:
    folder = Path(dest_dir).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"No such local folder: {folder}")
    if not name or name in (".", "..") or "/" in name or name.startswith("."):
        raise InvalidInput(f"Refusing to write a file named {name!r}")
    return folder / name


def _already_there(destination: Path, info: ArchiveFileInfo) -> bool:
    """True when ``destination`` already holds exactly the archive's bytes."""
    if info.md5 is None or not destination.is_file():
        return False
    try:
        if info.size is not None and destination.stat().st_size != info.size:
            return False
        return _md5_of(destination) == info.md5
    except OSError:
        return False


def receive_verified(
    chunks: Iterable[bytes],
    destination: Path,
    *,
    expected_md5: str | None,
    expected_size: int | None,
    report: Callable[..., None],
    cancel: threading.Event,
    subject: str,
) -> Path:
    """Write ``chunks`` to a temp file beside ``destination``, verify, rename into place.

    The temp file is removed on any failure (including cancellation). Raises
    :class:`ArchiveChecksumMismatch` when the size or MD5 differ from what was expected.
    """
    temp = destination.parent / f".{destination.name}.{uuid.uuid4().hex[:12]}.part"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise InvalidInput(f"Cannot write in {destination.parent}: {exc.strerror}") from exc
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            report(0, force=True)
            for chunk in chunks:
                if cancel.is_set():
                    raise _Cancelled(subject)
                try:
                    handle.write(chunk)
                except OSError as exc:
                    raise InvalidInput(
                        f"Cannot write {destination}: {exc.strerror or exc}"
                    ) from exc
                digest.update(chunk)
                written += len(chunk)
                report(written)
            if cancel.is_set():
                raise _Cancelled(subject)
            if expected_size is not None and written != expected_size:
                raise ArchiveChecksumMismatch(
                    f"{subject}: received {written} bytes, the archive has {expected_size}; "
                    "nothing was kept"
                )
            actual = digest.hexdigest()
            if expected_md5 is not None and actual != expected_md5.lower():
                raise ArchiveChecksumMismatch(
                    f"{subject}: the bytes received do not match the archive's MD5; "
                    "nothing was kept"
                )
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}") from exc
        try:
            os.replace(temp, destination)
        except OSError as exc:
            raise InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    report(written, force=True)
    return destination


def _consume_result(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _run_cancellable(function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args, cancel)`` in a thread; cancelling the task sets ``cancel``.

    On cancellation the thread is given a moment to remove its temp file before the
    CancelledError goes on.
    """
    cancel = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(function, *args, cancel))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()
        work.add_done_callback(_consume_result)
        with contextlib.suppress(BaseException):
            await asyncio.wait({work}, timeout=CANCEL_GRACE_SECONDS)
        raise
    except _Cancelled:
        raise asyncio.CancelledError() from None


# --------------------------------------------------------------------------- the sandbox


def synthetic_config_for(file_id: str) -> Any:
    """The :class:`SyntheticConfig` of a sandbox exposure: small, and seeded by its ID."""
    from canfar_tui.detection.synthetic import SyntheticConfig

    digits = "".join(char for char in file_id if char.isdigit())
    return SyntheticConfig(
        n_ccds=4,
        width=512,
        height=1024,
        seed=int(digits or 1),
        stars_per_ccd=60,
        galaxies_per_ccd=300,
        cosmic_rays_per_ccd=20,
    )


class SandboxArchive:
    """The sandbox's CADC archive: a local folder with synthetic MegaCam exposures.

    ``root/<ARCHIVE>/<file>`` is served as ``cadc:<ARCHIVE>/<file>``. The five seed exposures
    (``cadc:CFHT/1056213p.fits.fz`` …) are generated on first use. ``bytes_per_second``
    slows copies down to look like a network (for demonstrations and tests).
    """

    def __init__(
        self,
        root: Path,
        *,
        bytes_per_second: float | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.root = Path(root)
        self._bytes_per_second = bytes_per_second
        self._chunk_size = max(1024, chunk_size)
        self._generate_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SandboxArchive({str(self.root)!r})"

    @property
    def backend_label(self) -> str:
        return "SANDBOX"

    @staticmethod
    def seed_uris() -> list[str]:
        """The URIs of the seed's exposures, which this archive always holds."""
        return [f"{DEFAULT_SCHEME}:{SEED_ARCHIVE}/{file_id}.fits.fz" for file_id in SEED_FILE_IDS]

    async def aclose(self) -> None:
        return None

    async def info(self, uri: str) -> ArchiveFileInfo:
        parsed = parse_archive_uri(uri)
        return await _run_cancellable(self._info_sync, parsed)

    async def download(
        self, uri: str, dest_dir: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        parsed = parse_archive_uri(uri)
        loop = asyncio.get_running_loop()
        return await _run_cancellable(self._download_sync, parsed, Path(dest_dir), progress, loop)

    # ---- worker thread

    def _path_of(self, uri: ArchiveURI) -> Path:
        return self.root.joinpath(uri.archive, *uri.path.split("/"))

    def _seed_id(self, uri: ArchiveURI) -> str | None:
        if uri.archive != SEED_ARCHIVE or "/" in uri.path:
            return None
        for file_id in SEED_FILE_IDS:
            if uri.path == f"{file_id}.fits.fz":
                return file_id
        return None

    def _ensure(self, uri: ArchiveURI) -> Path:
        """The file behind ``uri``, generating a seed exposure on first use."""
        path = self._path_of(uri)
        if path.is_file() and not path.is_symlink():
            return path
        file_id = self._seed_id(uri)
        if file_id is None:
            raise NotFound(
                f"Not in the sandbox archive: {uri} (it holds {', '.join(SEED_FILE_IDS)} "
                f"as {DEFAULT_SCHEME}:{SEED_ARCHIVE}/ID.fits.fz)"
            )
        with self._generate_lock:
            if path.is_file():
                return path
            self._generate(file_id, path)
        return path

    def _generate(self, file_id: str, path: Path) -> None:
        from canfar_tui.detection.synthetic import write_synthetic_mef

        log.info("generating sandbox archive file %s", path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A private folder: two processes generating the same file never share a temp name.
            work = Path(tempfile.mkdtemp(prefix=".generate-", dir=path.parent))
        except OSError as exc:
            raise Unavailable(
                f"Cannot prepare the sandbox archive in {path.parent}: {exc.strerror}"
            ) from exc
        try:
            staged = work / path.name
            write_synthetic_mef(staged, synthetic_config_for(file_id), compress=True)
            os.replace(staged, path)
        except OSError as exc:
            raise Unavailable(f"Cannot write the sandbox archive file {path.name}: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _checksum(self, path: Path) -> str:
        """The file's MD5, remembered in a sidecar while the file does not change."""
        st = path.stat()
        sidecar = path.with_name(f".{path.name}.md5.json")
        stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            recorded = json.loads(sidecar.read_text())
            if recorded["size"] == stamp["size"] and recorded["mtime_ns"] == stamp["mtime_ns"]:
                return str(recorded["md5"])
        md5 = _md5_of(path)
        with contextlib.suppress(OSError):
            temp = sidecar.with_name(f"{sidecar.name}.{uuid.uuid4().hex[:8]}")
            temp.write_text(json.dumps({**stamp, "md5": md5}))
            os.replace(temp, sidecar)
        return md5

    def _info_sync(self, uri: ArchiveURI, cancel: threading.Event) -> ArchiveFileInfo:
        path = self._ensure(uri)
        try:
            st = path.stat()
            md5 = self._checksum(path)
        except OSError as exc:
            raise Unavailable(f"Cannot read the sandbox archive file {uri}: {exc}") from exc
        return ArchiveFileInfo(
            uri=str(uri),
            name=uri.file_name,
            size=st.st_size,
            md5=md5,
            modified=datetime.fromtimestamp(st.st_mtime).astimezone(),
            content_type="application/fits",
        )

    def _chunks(self, path: Path, cancel: threading.Event) -> Iterator[bytes]:
        started = time.monotonic()
        sent = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(self._chunk_size):
                if self._bytes_per_second:
                    due = started + sent / self._bytes_per_second
                    delay = due - time.monotonic()
                    if delay > 0 and cancel.wait(delay):
                        raise _Cancelled(str(path))
                sent += len(chunk)
                yield chunk

    def _download_sync(
        self,
        uri: ArchiveURI,
        dest_dir: Path,
        progress: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        cancel: threading.Event,
    ) -> Path:
        destination = _destination_in(dest_dir, uri.file_name)
        info = self._info_sync(uri, cancel)
        report = _Progress(progress, loop, info.size)
        if _already_there(destination, info):
            report(info.size or 0, force=True)
            return destination
        source = self._path_of(uri)
        try:
            return receive_verified(
                self._chunks(source, cancel),
                destination,
                expected_md5=info.md5,
                expected_size=info.size,
                report=report,
                cancel=cancel,
                subject=str(uri),
            )
        except FileNotFoundError as exc:
            raise NotFound(f"Not in the sandbox archive: {uri}") from exc
        except OSError as exc:  # reading the archive's copy, not writing ours
            raise Unavailable(f"Cannot read the sandbox archive file {uri}: {exc}") from exc


# --------------------------------------------------------------------------- CADC


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
        return await _run_cancellable(self._info_sync, parsed)

    async def download(
        self, uri: str, dest_dir: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        parsed = parse_archive_uri(uri)
        loop = asyncio.get_running_loop()
        return await _run_cancellable(self._download_sync, parsed, Path(dest_dir), progress, loop)

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
        destination = _destination_in(dest_dir, uri.file_name)
        info = self._info_sync(uri, cancel)
        report = _Progress(progress, loop, info.size)
        if _already_there(destination, info):
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
                    raise _Cancelled(str(uri))
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
                except _Cancelled:
                    raise
                except Exception as exc:
                    last = map_archive_error(exc, str(uri))
                    if not last.transient:
                        raise last from exc
                finally:
                    response.close()
            if cancel.wait(min(8.0, 0.5 * 2**attempt)):
                raise _Cancelled(str(uri))
        raise last or Unavailable(f"Could not download {uri}")


# --------------------------------------------------------------------------- factory


def build_archive(settings: Settings) -> ArchiveClient:
    """The archive of the active profile: the sandbox folder, or CADC. Cheap: no SDK import."""
    profile = settings.profile
    if profile.is_sandbox:
        return SandboxArchive(settings.paths.data_dir / "sandbox" / "archive")
    return CadcArchive(certificate=profile.certificate, verify_tls=profile.verify_tls)
