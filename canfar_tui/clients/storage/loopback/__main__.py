"""``python -m canfar_tui.clients.storage.loopback``: serve a folder for scripts.

::

    python -m canfar_tui.clients.storage.loopback --root DIR --port 0 --pidfile F \\
        [--url-file U] [--client-home H] [--idle-timeout SECONDS]

Serves until SIGTERM or SIGINT, prints ``VOSPACE_URL=…``, writes the pidfile (removed again at
exit) and the URL file, and prepares a HOME for ``vos`` commands with ``--client-home``. The
URL holds the service's secret: the URL file and the HOME's registry are written 0600 in 0700
folders.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from canfar_tui.clients.storage.loopback.client_home import write_text_file
from canfar_tui.clients.storage.loopback.paths import DEFAULT_RESOURCE_ID, DEFAULT_USERNAME
from canfar_tui.clients.storage.loopback.server import DEFAULT_IDLE_TIMEOUT, start_server

__all__ = ["main"]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m canfar_tui.clients.storage.loopback",
        description="Serve a directory as a loopback VOSpace service for the vos client.",
    )
    parser.add_argument("--root", type=Path, required=True, help="directory to serve")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--username", default=DEFAULT_USERNAME, help="owner of the home node")
    parser.add_argument("--quota-bytes", type=int, default=None, help="quota of the home node")
    parser.add_argument("--resource-id", default=DEFAULT_RESOURCE_ID, help="registry ID")
    parser.add_argument("--pidfile", type=Path, default=None, help="write the PID here")
    parser.add_argument("--url-file", type=Path, default=None, help="write the base URL here")
    parser.add_argument(
        "--client-home", type=Path, default=None, help="prepare this HOME for vos commands"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help=f"close connections idle this many seconds ({DEFAULT_IDLE_TIMEOUT:g})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for scripts: serve until SIGTERM or SIGINT, then remove the pidfile."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        running = start_server(
            args.root,
            host=args.host,
            port=args.port,
            username=args.username,
            quota_bytes=args.quota_bytes,
            resource_id=args.resource_id,
            idle_timeout=args.idle_timeout if args.idle_timeout > 0 else None,
        )
    except (OSError, ValueError) as exc:
        print(f"vospace_server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        if args.client_home is not None:
            running.prepare_client_home(args.client_home)
        if args.url_file is not None:
            write_text_file(args.url_file, running.base_url + "\n")
        if args.pidfile is not None:
            write_text_file(args.pidfile, f"{os.getpid()}\n")
        print(f"VOSPACE_URL={running.base_url}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        running.stop()
        if args.pidfile is not None:
            with contextlib.suppress(OSError):
                if args.pidfile.read_text().strip() == str(os.getpid()):
                    args.pidfile.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
