"""Pointing a ``vos`` client at the loopback service: a prepared HOME-like directory.

``vos``/``cadcutils`` find services through the registry cache
``$HOME/.config/cadc-registry/resource-caps`` and check PyPI for a newer ``vos`` unless
``$HOME/.config/vos/caches/.pypi_versions.json`` is fresh. :func:`prepare_client_home` writes
both (with an mtime in the future, so they are never refreshed) into a HOME-like directory. A
``vos`` command then runs with ``HOME`` set to it. ``cadcutils`` reads HOME once, at import
time, so an in-process client cannot be redirected by changing HOME later: the VOSpace backend
instead points the library's cache location at the prepared directory while it builds its
client (see :mod:`canfar_tui.clients.storage.vospace`).

The registry names the service's URL, which holds its secret: it is written 0600 in a 0700
``.config/cadc-registry`` folder. A process that starts its own service keeps that HOME in a
private temporary folder, :func:`private_client_home` (``canfar-tui-vos-PID-…``, 0700); a
process killed before it could remove its folder leaves it behind, and
:func:`remove_stale_client_homes` removes such folders of processes that are gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from canfar_tui.clients.files import atomic_writer
from canfar_tui.clients.storage.loopback.paths import DEFAULT_RESOURCE_ID
from canfar_tui.clients.storage.loopback.store import pid_alive

__all__ = [
    "CACHE_FUTURE_SECONDS",
    "CLIENT_HOME_PREFIX",
    "prepare_client_home",
    "private_client_home",
    "remove_stale_client_homes",
    "write_text_file",
]

#: Registry and version caches get an mtime this far in the future so cadcutils never refreshes.
CACHE_FUTURE_SECONDS = 10 * 365 * 86400
#: The prefix of the private HOMEs that processes starting their own service make in $TMPDIR.
CLIENT_HOME_PREFIX = "canfar-tui-vos-"
#: A private HOME with no owner process in its name is stale after this long (older versions).
STALE_HOME_SECONDS = 86400.0


def write_text_file(path: Path, text: str, *, mtime: float | None = None) -> None:
    """Write ``text`` to ``path`` atomically, 0600 (creating its folders 0700), with ``mtime``."""
    with atomic_writer(path, text=True, mode=0o600, folder_mode=0o700) as handle:
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
    registry.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(os.lstat(registry).st_mode) & 0o077:
        os.chmod(registry, 0o700, follow_symlinks=False)  # it will name the secret URL
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


def private_client_home(prefix: str = CLIENT_HOME_PREFIX) -> Path:
    """A new 0700 folder ``$TMPDIR/PREFIXPID-RANDOM`` for this process's ``vos`` registry.

    Stale ones (see :func:`remove_stale_client_homes`) are removed first.
    """
    remove_stale_client_homes(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_stale_client_homes(
    prefix: str = CLIENT_HOME_PREFIX, *, folder: Path | None = None, now: float | None = None
) -> int:
    """Remove this user's ``PREFIX*`` folders in ``folder`` ($TMPDIR) left by dead processes.

    A ``PREFIXPID-…`` folder is removed when process PID is gone; one without a PID (made by
    an older version) when untouched for :data:`STALE_HOME_SECONDS`. Only real folders
    owned by this user are touched. Returns how many were removed.
    """
    where = Path(tempfile.gettempdir()) if folder is None else folder
    moment = time.time() if now is None else now
    removed = 0
    try:
        entries = [entry for entry in os.scandir(where) if entry.name.startswith(prefix)]
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        owner_text, dash, _ = entry.name[len(prefix) :].partition("-")
        if dash and owner_text.isdigit():
            stale = int(owner_text) != os.getpid() and not pid_alive(int(owner_text))
        else:
            stale = moment - st.st_mtime >= STALE_HOME_SECONDS
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed
