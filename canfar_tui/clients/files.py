"""One way to write a file: atomically, never through or over something that is not a file.

Every file canfar-tui writes (catalogues, downloads, profiles, preferences, job scripts,
certificates, state) goes through :func:`atomic_writer` or :func:`atomic_write`:

- the bytes go to a temporary file in the destination's folder (``.NAME.XXXXXXXX.tmp``,
  created ``O_EXCL``, mode 0600 until complete), are flushed and ``fsync``-ed, get their mode,
  and then replace the destination in one ``os.replace`` — a reader sees the old file or the
  new one, never half of either;
- if the block raises (a failed MD5 check, a full disk, a cancellation), the temporary file
  is removed and the destination is left exactly as it was;
- a destination that exists and is not a regular file (a device such as ``/dev/full``, a FIFO,
  a socket, a folder) is refused with :class:`UnsafeTarget` before anything is written; a
  symbolic link is written through, to the regular file it points at (what ``fopen`` in
  source-extractor or ``cp`` does), so the link itself stays a link.

And one way to read a small file (a configuration, a certificate, a submit file):
:func:`read_bounded` reads at most ``limit`` bytes and raises :class:`UnreadableFile` with a
one-line message for a missing file, a folder, an unreadable file or one larger than the
limit (``/dev/zero`` included), so no reader ever loads gigabytes by mistake.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal, overload

__all__ = [
    "UnreadableFile",
    "UnsafeTarget",
    "atomic_write",
    "atomic_writer",
    "read_bounded",
    "writable_target",
]


class UnsafeTarget(OSError):
    """The destination exists and is not a regular file (device, FIFO, socket, folder)."""


class UnreadableFile(Exception):
    """A small file could not be read: ``str()`` is a one-line message naming the file.

    ``missing`` is true when the file does not exist (callers may treat that as "none").
    """

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def read_bounded(path: Path | str, limit: int, what: str) -> bytes:
    """The bytes of the small file ``path`` (a ``what``: "configuration file", ...).

    Raises :class:`UnreadableFile` (one line) when the file is missing, a folder, cannot be
    read, or holds more than ``limit`` bytes; never reads more than ``limit + 1`` bytes.
    """
    shown = os.fspath(path)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer that never comes.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(descriptor, "rb", closefd=True) as handle:
            mode = os.fstat(descriptor).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise UnreadableFile(f"{shown}: is a pipe or socket, not a {what}")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise UnreadableFile(f"{shown}: {what} not found", missing=True) from None
    except IsADirectoryError:
        raise UnreadableFile(f"{shown}: is a directory, not a {what}") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UnreadableFile(f"{shown}: cannot read {what}: {reason}") from None
    except MemoryError:  # pragma: no cover - only with an absurd limit
        raise UnreadableFile(f"{shown}: too large for a {what}") from None
    if len(data) > limit:
        raise UnreadableFile(f"{shown}: too large for a {what} (more than {_size(limit)})")
    return data


def _size(count: int) -> str:
    if count >= 2**20 and count % 2**20 == 0:
        return f"{count // 2**20} MiB"
    if count >= 2**10 and count % 2**10 == 0:
        return f"{count // 2**10} KiB"
    return f"{count} bytes"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_target(path: Path) -> Path:
    """The path :func:`atomic_writer` will replace: ``path``, or the file a symlink names.

    Raises :class:`UnsafeTarget` when that exists and is not a regular file.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        info = target.stat()
    except FileNotFoundError:
        return target
    except NotADirectoryError as error:
        raise UnsafeTarget(error.errno, f"{path}: a parent is not a folder") from error
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UnsafeTarget(f"{path} is {kind}; refusing to replace it")
    return target


@overload
@contextlib.contextmanager
def atomic_writer(
    path: Path,
    *,
    mode: int | None = ...,
    text: Literal[False] = ...,
    encoding: str = ...,
    folder_mode: int | None = ...,
) -> Iterator[IO[bytes]]: ...


@overload
@contextlib.contextmanager
def atomic_writer(
    path: Path,
    *,
    mode: int | None = ...,
    text: Literal[True],
    encoding: str = ...,
    folder_mode: int | None = ...,
) -> Iterator[IO[str]]: ...


@contextlib.contextmanager
def atomic_writer(
    path: Path,
    *,
    mode: int | None = None,
    text: bool = False,
    encoding: str = "utf-8",
    folder_mode: int | None = None,
) -> Iterator[IO[bytes]] | Iterator[IO[str]]:
    """A handle whose bytes replace ``path`` when the block ends without an exception.

    ``mode``: the new file's permission bits (None: ``0o666`` less the umask, like ``open``).
    ``folder_mode``: create missing parent folders with this mode (None: they must exist).
    """
    path = Path(path)
    if folder_mode is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=folder_mode)
    target = writable_target(path)
    final_mode = (0o666 & ~_umask()) if mode is None else mode
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        handle: IO[bytes] | IO[str]
        if text:
            handle = os.fdopen(descriptor, "w", encoding=encoding, newline="")
        else:
            handle = os.fdopen(descriptor, "wb")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, final_mode)
        os.replace(temporary, target)
        temporary = ""
    finally:
        if temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def atomic_write(
    path: Path,
    data: bytes | str,
    *,
    mode: int | None = None,
    encoding: str = "utf-8",
    folder_mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    if isinstance(data, str):
        with atomic_writer(
            path, mode=mode, text=True, encoding=encoding, folder_mode=folder_mode
        ) as handle:
            handle.write(data)
    else:
        with atomic_writer(path, mode=mode, folder_mode=folder_mode) as binary:
            binary.write(data)
