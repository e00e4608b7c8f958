"""The CADC archive contract and what every archive backend shares.

The Batch Quick Start fetches its input with ``cadcget`` from the ``cadcdata`` package. The
dashboard and ``canfar-tui get`` do the same through one small contract, :class:`ArchiveClient`,
with two backends: :class:`~canfar_tui.clients.archive.cadc.CadcArchive` (the real CADC Storage
Inventory) and :class:`~canfar_tui.clients.archive.sandbox.SandboxArchive` (a local folder of
synthetic exposures). The composition root (:func:`canfar_tui.clients.bundle.build_archive`)
chooses one for the active profile.

Every download, whatever the backend, is verified and atomic: the bytes are received beside
the destination under a hidden name, checked against the archive's size and MD5, and only then
renamed into place; on failure or cancellation the partial file is removed, so no partial file
is ever left under the final name. The sandbox writes through :func:`receive_verified`
(:func:`canfar_tui.clients.files.atomic_writer`); the CADC backend lets ``cadcget`` write into
a private folder beside the destination and checks the result against ``cadcinfo``. A
destination that already holds the same bytes (same size and MD5) is not downloaded again
(:func:`already_there`), as ``cadcget`` does.

:class:`SupportsExampleFiles` is an optional capability: an archive that can name files it
certainly holds (the sandbox's seed exposures), which the fetch dialog offers as examples.

Nothing here imports Textual or a heavy SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from canfar_tui.clients._blocking import Cancelled, run_blocking
from canfar_tui.clients.base import InvalidInput, ProgressCallback, Unavailable
from canfar_tui.clients.files import atomic_writer

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_SCHEME",
    "ArchiveChecksumMismatch",
    "ArchiveClient",
    "ArchiveFileInfo",
    "ArchiveURI",
    "BlockingArchive",
    "SupportsExampleFiles",
    "already_there",
    "destination_in",
    "md5_of",
    "parse_archive_uri",
    "receive_verified",
]

#: The URI scheme ``cadcget`` uses when none is given.
DEFAULT_SCHEME = "cadc"
CHUNK_SIZE = 256 * 1024


class ArchiveChecksumMismatch(Unavailable):
    """The bytes received do not match the archive's MD5 or size; nothing was kept."""

    title = "Checksum mismatch"


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
        removes the partial file and nothing appears at the destination; a backend whose SDK
        cannot abort a transfer (CADC) lets it run out in the background and discards it.
        """
        ...

    async def aclose(self) -> None:
        """Release connections. Safe to call twice."""
        ...


@runtime_checkable
class SupportsExampleFiles(Protocol):
    """An archive that can name files it certainly holds (offered as examples to fetch)."""

    def example_uris(self) -> list[str]:
        """URIs of files this archive holds, e.g. ``cadc:CFHT/1056213p.fits.fz``."""
        ...


# --------------------------------------------------------------------------- shared machinery


class BlockingArchive:
    """The async half every archive backend shares: parse the URI, run the work in a thread.

    Subclasses implement ``_info_sync`` and ``_download_sync``, which run on a worker thread
    (:func:`canfar_tui.clients._blocking.run_blocking`, cancellable: the last argument is the
    event that says the caller gave up).
    """

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

    def _info_sync(self, uri: ArchiveURI, cancel: threading.Event) -> ArchiveFileInfo:
        raise NotImplementedError

    def _download_sync(
        self,
        uri: ArchiveURI,
        dest_dir: Path,
        progress: ProgressCallback | None,
        loop: asyncio.AbstractEventLoop,
        cancel: threading.Event,
    ) -> Path:
        raise NotImplementedError


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def destination_in(dest_dir: Path, name: str) -> Path:
    folder = Path(dest_dir).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"No such local folder: {folder}")
    if not name or name in (".", "..") or "/" in name or name.startswith("."):
        raise InvalidInput(f"Refusing to write a file named {name!r}")
    return folder / name


def already_there(destination: Path, info: ArchiveFileInfo) -> bool:
    """True when ``destination`` already holds exactly the archive's bytes."""
    if info.md5 is None or not destination.is_file():
        return False
    try:
        if info.size is not None and destination.stat().st_size != info.size:
            return False
        return md5_of(destination) == info.md5
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
    Errors reading ``chunks`` go out as they are (the caller knows its source); errors
    writing are :class:`InvalidInput`.
    """
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    writer = contextlib.ExitStack()
    try:
        handle = writer.enter_context(atomic_writer(destination))
    except OSError as exc:
        raise InvalidInput(f"Cannot write in {destination.parent}: {exc.strerror or exc}") from exc
    with writer:  # leaving it by an exception removes the temp file
        report(0, force=True)
        for chunk in chunks:
            if cancel.is_set():
                raise Cancelled(subject)
            try:
                handle.write(chunk)
            except OSError as exc:
                raise InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}") from exc
            digest.update(chunk)
            written += len(chunk)
            report(written)
        if cancel.is_set():
            raise Cancelled(subject)
        if expected_size is not None and written != expected_size:
            raise ArchiveChecksumMismatch(
                f"{subject}: received {written} bytes, the archive has {expected_size}; "
                "nothing was kept"
            )
        actual = digest.hexdigest()
        if expected_md5 is not None and actual != expected_md5.lower():
            raise ArchiveChecksumMismatch(
                f"{subject}: the bytes received do not match the archive's MD5; nothing was kept"
            )
        try:
            writer.close()  # flush, fsync and rename into place
        except OSError as exc:
            raise InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}") from exc
    report(written, force=True)
    return destination
