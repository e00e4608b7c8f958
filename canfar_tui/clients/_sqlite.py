"""One SQLite bootstrap for the state files (the sandbox cloud, the sandbox queue).

:func:`open_state` opens (creating 0600, its folder 0700) a WAL database, applies the schema
and seeds a new file in one ``BEGIN IMMEDIATE`` transaction, so two processes opening the same
new file never both seed it. The schema version lives in ``meta(key='schema')``; a file of
another version is refused with one line (move it away), never silently rewritten. "database is
locked" while another process switches the file to WAL is retried until ``open_timeout``.

A new file is built (schema and seed) under a private temporary name next to ``path`` and
hard-linked into place only when complete, so ``path`` is never seen empty or half-seeded:
the process whose link succeeds created it now; the others open the complete file. An
existing ``path`` that is empty was therefore found empty (``: > cloud.sqlite``, a disk that
filled up): it is refused like a damaged file (``sqlite3.DatabaseError``, "move it away"),
never seeded afresh over the key pairs, addresses and jobs it held. Temporary files left by a
process killed while creating one are removed when stale.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

from canfar_tui.clients.base import Unavailable

__all__ = ["open_state"]


#: A creation's temporary file older than this (seconds) was left by a killed process.
_STALE_NEW_FILE = 3600.0


def _new_file_prefix(path: Path) -> str:
    return f".{path.name}.new-"


def _remove_stale_new_files(path: Path) -> None:
    """Remove temporary files of creations killed midway (older than an hour)."""
    now = time.time()
    for leftover in path.parent.glob(f"{_new_file_prefix(path)}*"):
        with contextlib.suppress(OSError):
            if now - leftover.lstat().st_mtime > _STALE_NEW_FILE:
                leftover.unlink()


def _create(
    path: Path,
    schema: str,
    version: str,
    seed: Callable[[sqlite3.Connection], None],
    busy_timeout: float,
) -> None:
    """Build a complete new file and link it to ``path`` unless another process got there first."""
    _remove_stale_new_files(path)
    building = path.with_name(f"{_new_file_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}")
    descriptor = os.open(building, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(descriptor)
    try:
        os.chmod(building, 0o600)
        conn = sqlite3.connect(building, timeout=busy_timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            _apply_schema(conn, schema)
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (version,))
            seed(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()  # the last connection: the WAL is checkpointed into the file
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile
            os.link(building, path)
    finally:
        for leftover in (building, *(Path(f"{building}{end}") for end in ("-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _apply_schema(conn: sqlite3.Connection, schema: str) -> None:
    for statement in schema.split(";"):
        if statement.strip():
            conn.execute(statement)


def _connect_once(
    path: Path,
    schema: str,
    version: str,
    seed: Callable[[sqlite3.Connection], None],
    what: str,
    busy_timeout: float,
) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not os.path.lexists(path):
        _create(path, schema, version, seed, busy_timeout)
    found = os.stat(path)
    if not stat.S_ISREG(found.st_mode):
        raise sqlite3.DatabaseError(f"{path.name} is not a regular file")
    if found.st_size == 0:
        # never created like this (see the module docstring): emptied, not new
        raise sqlite3.DatabaseError(f"{path.name} is empty")
    os.chmod(path, 0o600)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        _apply_schema(conn, schema)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (version,))
            seed(conn)
        elif row["value"] != version:
            raise Unavailable(
                f"The {what} {path} was written by another version of canfar-tui; "
                "move it away to start afresh."
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def open_state(
    path: Path,
    *,
    schema: str,
    version: str,
    seed: Callable[[sqlite3.Connection], None],
    what: str,
    busy_timeout: float = 10.0,
    open_timeout: float = 5.0,
) -> sqlite3.Connection:
    """Open the state database at ``path`` (the schema must create ``meta(key, value)``).

    ``seed(conn)`` fills a new file inside the creating transaction; ``what`` names the file
    in messages ("sandbox state", "sandbox queue state").
    """
    deadline = time.monotonic() + open_timeout
    while True:
        try:
            return _connect_once(path, schema, version, seed, what, busy_timeout)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
