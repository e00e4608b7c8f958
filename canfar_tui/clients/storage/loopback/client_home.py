"""Pointing a ``vos`` client at the loopback service: a prepared HOME-like directory.

``vos``/``cadcutils`` find services through the registry cache
``$HOME/.config/cadc-registry/resource-caps`` and check PyPI for a newer ``vos`` unless
``$HOME/.config/vos/caches/.pypi_versions.json`` is fresh. :func:`prepare_client_home` writes
both (with an mtime in the future, so they are never refreshed) into a HOME-like directory. A
``vos`` command then runs with ``HOME`` set to it. ``cadcutils`` reads HOME once, at import
time, so an in-process client cannot be redirected by changing HOME later: the VOSpace backend
instead points the library's cache location at the prepared directory while it builds its
client (see :mod:`canfar_tui.clients.storage.vospace`).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from canfar_tui.clients.files import atomic_writer
from canfar_tui.clients.storage.loopback.paths import DEFAULT_RESOURCE_ID

__all__ = ["CACHE_FUTURE_SECONDS", "prepare_client_home", "write_text_file"]

#: Registry and version caches get an mtime this far in the future so cadcutils never refreshes.
CACHE_FUTURE_SECONDS = 10 * 365 * 86400


def write_text_file(path: Path, text: str, *, mtime: float | None = None) -> None:
    """Write ``text`` to ``path`` atomically (creating its folders), with ``mtime`` if given."""
    with atomic_writer(path, text=True, folder_mode=0o777) as handle:
        handle.write(text)
        if mtime is not None:
            handle.flush()
            os.utime(handle.fileno(), (mtime, mtime))


def prepare_client_home(
    home: Path, base_url: str, *, resource_id: str = DEFAULT_RESOURCE_ID
) -> Path:
    """Make ``home`` a HOME-like directory in which ``vos`` finds the service at ``base_url``.

    Writes ``.config/cadc-registry/resource-caps`` (``resource_id`` → its capabilities URL) and
    the PyPI version caches of ``vos``/``cadcutils``/``cadcdata``, all with an mtime in the
    future so cadcutils never refreshes them, and removes capabilities cached for an earlier
    port. Returns ``home``. Use it as ``HOME`` for ``vos`` commands, or hand it to the VOSpace
    backend (``VOSpaceStorage(config_home=...)``).
    """
    home = Path(home)
    future = time.time() + CACHE_FUTURE_SECONDS
    registry = home / ".config" / "cadc-registry"
    write_text_file(
        registry / "resource-caps",
        "# written by canfar-tui: the loopback VOSpace service\n"
        f"{resource_id} = {base_url}/capabilities\n",
        mtime=future,
    )
    parsed = urlsplit(resource_id)
    cached_caps = registry / parsed.netloc / ("." + parsed.path.strip("/").rsplit("/", 1)[-1])
    with contextlib.suppress(FileNotFoundError):
        cached_caps.unlink()
    for package in ("vos", "cadcutils", "cadcdata"):
        write_text_file(
            home / ".config" / package / "caches" / ".pypi_versions.json",
            '{"releases": {}}\n',
            mtime=future,
        )
    return home
