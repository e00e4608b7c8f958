"""One SQLite bootstrap for the state files (the sandbox cloud, the sandbox queue).

:func:`open_state` opens (creating 0600, its folder 0700) a WAL database, applies the schema
and seeds a new file in one ``BEGIN IMMEDIATE`` transaction, so two processes opening the same
new file never both seed it. The schema version lives in ``meta(key='schema')``; a file of
another version is refused with one line (move it away), never silently rewritten. "database is
locked" while another process switches the file to WAL is retried until ``open_timeout``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from canfar_tui.clients.base import Unavailable

__all__ = ["open_state"]


def _connect_once(
    path: Path,
    schema: str,
    version: str,
    seed: Callable[[sqlite3.Connection], None],
    what: str,
    busy_timeout: float,
) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
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
