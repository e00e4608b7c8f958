"""A loopback VOSpace service over a local directory, spoken to by the real ``vos`` client.

The sandbox profile and the tests run the project's VOSpace backend
(:mod:`canfar_tui.clients.storage.vospace`, on the real ``vos`` / ``cadcutils`` libraries) and
the real ``vls``/``vcp``/``vmkdir``/``vrm``/``vmv`` commands against this service. It answers
the requests those libraries send to CADC's ``vault`` service (see the URL layout below) and
keeps every byte under one directory.

URL layout (``BASE`` is ``http://127.0.0.1:PORT/SECRET/vault`` for the default resource ID;
``SECRET`` is random per service, and a request without it is answered 401)::

    GET  BASE/capabilities, BASE/availability        VOSI documents
    GET  BASE/nodes/PATH?limit=N&uri=VOSURI&sort=&order=   node XML; ``limit=0`` lists no
                                                     children; a page starts AT ``uri``
    PUT  BASE/nodes/PATH                             create a container (or empty data node)
    POST BASE/nodes/PATH                             update properties
    DELETE BASE/nodes/PATH                           delete a data node or an empty container
    POST BASE/synctrans                              transfer negotiation (push/pull), 303 to
    GET  BASE/xfer/ID                                ... the transfer document with endpoints
    GET  BASE/transfers/ID/phase|error               sync job status as cadcutils checks it
    POST BASE/transfers (+ /ID/phase PHASE=RUN)      async transfer: move/rename (vmv)
    POST BASE/recursive-delete (+ /ID/phase)         recursive delete job (vrm -R)
    GET  BASE/files/PATH                             303 to the data endpoint (files-proto)
    GET|HEAD|PUT BASE/data/PATH                      bytes, with ``Digest: md5=…`` and
                                                     ``Content-MD5``; Range requests resume

Node URIs are ``vos://cadc.nrc.ca!vault/PATH`` (``~`` is accepted for ``!``); ``PATH`` starts
with the user's home, ``/<username>``, which is the only place clients may write.

Safety rules:

* only loopback addresses are accepted for binding (``127.0.0.1``, port 0 by default);
* every URL carries the service's secret, which only the user's registry cache (0600 in a 0700
  folder) names, so other local users can neither list, read, write nor delete; the root is
  0700, stored files 0600, folders 0700;
* a connection idle for ``idle_timeout`` seconds (15 by default) is closed, and beyond
  ``max_connections`` (64) open at once a new connection is closed at once;
* every path (URL path segments, decoded once, and node URIs in request bodies) is split into
  names; ``.``, ``..``, empty names, names with ``/``, ``%``, control characters, and paths
  through symbolic links are refused, so nothing outside the root is ever read or written;
* an upload streams into a temp file in ``ROOT/.vospace-tmp`` and is renamed into place only
  when it is complete, its MD5 matches the ``Digest``/``Content-MD5`` the client sent (if any),
  and the quota allows it. A cut-off or corrupted upload leaves nothing at the destination.
  Temp files carry their process's PID: several services may serve one folder, and a start
  removes only those of processes that are gone (or untouched for an hour).

:class:`FaultPlan` injects faults for tests (a download cut off mid-file, an upload corrupted in
transit, a request answered with 503, a listing or upload paused mid-way until released).
:meth:`RunningVOSpace.restart` serves the same folder on the same port again after the service
died; the sandbox's VOSpace client does that by itself for the service it started.

Pointing a ``vos`` client at the service: :func:`prepare_client_home` (see
:mod:`~canfar_tui.clients.storage.loopback.client_home`).

The modules, by responsibility:

* :mod:`~.paths` — node names and paths, the faults a request is answered with;
* :mod:`~.store` — the directory behind the service (checks, node XML, atomic changes);
* :mod:`~.documents` — the XML documents (namespaces, properties, VOSI capabilities);
* :mod:`~.request_base` — HTTP plumbing (bodies, answers, tokens, header helpers);
* :mod:`~.handler` — routing, nodes and bytes; :mod:`~.transfers` — negotiation, moves and
  recursive deletes;
* :mod:`~.fault_plan` — injected faults; :mod:`~.server` — starting and stopping;
  :mod:`~.client_home` — the registry cache for ``vos``; ``__main__`` — the command line.

Run standalone (for scripts)::

    python -m canfar_tui.clients.storage.loopback --root DIR --port 0 --pidfile F \\
        [--url-file U] [--client-home H] [--idle-timeout SECONDS]
"""

from __future__ import annotations

from canfar_tui.clients.storage.loopback.client_home import (
    CACHE_FUTURE_SECONDS,
    CLIENT_HOME_PREFIX,
    prepare_client_home,
    private_client_home,
    remove_stale_client_homes,
)
from canfar_tui.clients.storage.loopback.fault_plan import FaultPlan
from canfar_tui.clients.storage.loopback.paths import (
    DEFAULT_RESOURCE_ID,
    DEFAULT_USERNAME,
    TEMP_DIR_NAME,
    PathRefused,
    split_url_path,
    validate_name,
)
from canfar_tui.clients.storage.loopback.server import RunningVOSpace, start_server

__all__ = [
    "CACHE_FUTURE_SECONDS",
    "CLIENT_HOME_PREFIX",
    "DEFAULT_RESOURCE_ID",
    "DEFAULT_USERNAME",
    "TEMP_DIR_NAME",
    "FaultPlan",
    "PathRefused",
    "RunningVOSpace",
    "prepare_client_home",
    "private_client_home",
    "remove_stale_client_homes",
    "split_url_path",
    "start_server",
    "validate_name",
]
