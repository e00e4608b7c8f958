"""The sandbox's CADC archive: a local folder with synthetic MegaCam exposures.

:class:`SandboxArchive` serves ``<data dir>/sandbox/archive/<ARCHIVE>/<file>`` as
``cadc:<ARCHIVE>/<file>``. It holds synthetic MegaCam-like ``.fits.fz`` exposures for the
seed's IDs (1056213p, 1056215p, 1056216p, 1056217p, 1056218p). Each is generated on first use
(4 CCDs of 512 × 1024, with :func:`canfar_tui.detection.synthetic.write_synthetic_mef`), into a
private temp folder and renamed into place, so a half-written exposure never has its final
name. That folder (``.generate-<pid>-…``) is removed when done; one left by a process killed
mid-generation is removed by the next archive to start (when its process is gone, or after an
hour). Any other file dropped into ``archive/<ARCHIVE>/`` is served too. Downloads are verified
and atomic like the real archive's (:func:`~canfar_tui.clients.archive.base.receive_verified`).

``astropy`` and ``numpy`` are imported inside the worker thread that generates an exposure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from canfar_tui.clients._blocking import Cancelled, Progress
from canfar_tui.clients.archive.base import (
    CHUNK_SIZE,
    DEFAULT_SCHEME,
    ArchiveFileInfo,
    ArchiveURI,
    BlockingArchive,
    already_there,
    destination_in,
    md5_of,
    receive_verified,
)
from canfar_tui.clients.base import NotFound, ProgressCallback, Unavailable
from canfar_tui.clients.files import atomic_write

__all__ = ["SEED_ARCHIVE", "SEED_FILE_IDS", "SandboxArchive", "synthetic_config_for"]

log = logging.getLogger(__name__)

#: The CFHT MegaCam exposures the Batch Quick Start processes.
SEED_FILE_IDS = ("1056213p", "1056215p", "1056216p", "1056217p", "1056218p")
#: The archive the seed's files live in, and the URI scheme ``cadcget`` uses.
SEED_ARCHIVE = "CFHT"


#: The private folder an exposure is generated in: ``.generate-<pid>-<random>``.
_GENERATE_PREFIX = ".generate-"
#: A generation folder older than this (seconds) is stale whoever made it.
_STALE_GENERATION = 3600.0


def _generation_is_stale(name: str, age: float) -> bool:
    """Whether a generation folder was left by a process that is gone (or is an hour old)."""
    if age > _STALE_GENERATION:
        return True
    pid_text = name.removeprefix(_GENERATE_PREFIX).partition("-")[0]
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False  # an older name without a pid, or this process's own: only by age
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, someone else's
    return False


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


class SandboxArchive(BlockingArchive):
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
        self._leftovers_cleaned = False

    def __repr__(self) -> str:
        return f"SandboxArchive({str(self.root)!r})"

    @property
    def backend_label(self) -> str:
        return "SANDBOX"

    @staticmethod
    def seed_uris() -> list[str]:
        """The URIs of the seed's exposures, which this archive always holds."""
        return [f"{DEFAULT_SCHEME}:{SEED_ARCHIVE}/{file_id}.fits.fz" for file_id in SEED_FILE_IDS]

    def example_uris(self) -> list[str]:
        """:class:`~canfar_tui.clients.archive.base.SupportsExampleFiles`: the seed's files."""
        return self.seed_uris()

    async def aclose(self) -> None:
        return None

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

    def _clean_leftovers(self) -> None:
        """Remove the generation folders of processes killed midway (once per archive)."""
        if self._leftovers_cleaned:
            return
        self._leftovers_cleaned = True
        now = time.time()
        try:
            leftovers = list(self.root.glob(f"*/{_GENERATE_PREFIX}*"))
        except OSError:
            return
        for folder in leftovers:
            with contextlib.suppress(OSError):
                if not folder.is_dir() or folder.is_symlink():
                    continue
                if _generation_is_stale(folder.name, now - folder.stat().st_mtime):
                    log.info("removing a stale sandbox archive generation %s", folder)
                    shutil.rmtree(folder, ignore_errors=True)

    def _ensure(self, uri: ArchiveURI) -> Path:
        """The file behind ``uri``, generating a seed exposure on first use."""
        self._clean_leftovers()
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
            # (Not files.atomic_writer: astropy writes the file by name, not through a handle.)
            work = Path(
                tempfile.mkdtemp(prefix=f"{_GENERATE_PREFIX}{os.getpid()}-", dir=path.parent)
            )
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
        md5 = md5_of(path)
        with contextlib.suppress(OSError):
            atomic_write(sidecar, json.dumps({**stamp, "md5": md5}))
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
                        raise Cancelled(str(path))
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
        destination = destination_in(dest_dir, uri.file_name)
        info = self._info_sync(uri, cancel)
        report = Progress(progress, loop, info.size)
        if already_there(destination, info):
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
