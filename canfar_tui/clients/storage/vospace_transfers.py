"""The byte-moving parts of the VOSpace backend: upload bodies, download state, MD5s.

An upload body reports progress and stops when its transfer is cancelled; a download state
holds the bytes received so far and their running MD5 (and starts over when the service ignored
a Range request or the bytes arrived corrupted). Both run in the transfer's worker thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canfar_tui.clients._blocking import Progress
from canfar_tui.clients.faults import check_local_write
from canfar_tui.clients.storage.vospace_errors import TransferCancelled, local_write_error

__all__ = ["CHUNK_SIZE", "DownloadState", "UploadBody", "md5_from_digest", "md5_of_file"]

CHUNK_SIZE = 256 * 1024


class UploadBody:
    """A file object for ``requests`` that reports progress and honours cancellation."""

    def __init__(self, handle: Any, size: int, progress: Progress, cancel: threading.Event) -> None:
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


def md5_of_file(path: Path, cancel: threading.Event) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            if cancel.is_set():
                raise TransferCancelled("cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def md5_from_digest(headers: Mapping[str, str]) -> str | None:
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


class DownloadState:
    """Bytes received so far, their running MD5, and the MD5 the service announced."""

    def __init__(self, handle: Any, path: Path) -> None:
        self.handle = handle
        self.path = path
        self.digest = hashlib.md5(usedforsecurity=False)
        self.written = 0
        self.announced_md5: str | None = None

    def write(self, chunk: bytes) -> None:
        try:
            check_local_write(self.path, self.written + len(chunk))  # injected full disk
            self.handle.write(chunk)
        except OSError as exc:
            raise local_write_error(exc, self.path) from exc
        self.digest.update(chunk)
        self.written += len(chunk)

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.digest = hashlib.md5(usedforsecurity=False)
        self.written = 0
        self.announced_md5 = None
