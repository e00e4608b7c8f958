"""Pointing the in-process ``cadcutils`` at a prepared registry, and bounding its requests.

``cadcutils`` computes its registry cache location and its version-check cache from HOME once,
at import time. :func:`cadc_caches_at` points those globals at a prepared HOME-like directory
for the moment a client is built (under a process-wide lock), and :func:`bound_timeout` gives
every request of a ``cadcutils`` session a connect/read timeout and switches off its own long
retry loops. See :mod:`canfar_tui.clients.storage.vospace` for why and for the constraints.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["bound_timeout", "cadc_caches_at"]

#: Serialises the temporary redirection of cadcutils' cache globals (see the module docstring).
CADC_GLOBALS_LOCK = threading.Lock()


@contextlib.contextmanager
def cadc_caches_at(config_home: Path | None) -> Iterator[None]:
    """Point cadcutils' registry and version caches at ``config_home`` for a moment."""
    if config_home is None:
        yield
        return
    from cadcutils.net import ws
    from cadcutils.util import utils

    with CADC_GLOBALS_LOCK:
        saved = (ws.CACHE_LOCATION, utils.CADC_CACHE_DIR)
        ws.CACHE_LOCATION = str(config_home / ".config" / "cadc-registry")
        utils.CADC_CACHE_DIR = str(config_home / ".config")
        try:
            yield
        finally:
            ws.CACHE_LOCATION, utils.CADC_CACHE_DIR = saved


def bound_timeout(session: Any, timeout: tuple[float, float]) -> None:
    """Give every request of a cadcutils session our timeout instead of its 120 s default."""
    original = session.send

    def send(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout
        return original(request, **kwargs)

    session.send = send
    session.retry = False  # we retry ourselves, with a short capped backoff
