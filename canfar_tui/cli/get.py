"""``canfar-tui get``: fetch CADC archive files like ``cadcget``, verified by MD5 and size.

Wire it into the main parser with :func:`add_get_arguments` and call :func:`run_get`::

    canfar-tui get cadc:CFHT/1056213p.fits.fz [more URIs …] [-o DIR] [--quiet]

In the sandbox profile the files come from the sandbox archive (synthetic MegaCam exposures for
the seed's IDs, generated on first use); in a real profile from the CADC Storage Inventory
(needs the ``cadcdata`` package). Each file is downloaded to a temp file, checked, and renamed
into place. Progress goes to stderr when it is a terminal; the path of every verified file is
printed on stdout. Exit status: 0 when every file arrived, 1 when one failed (one line each on
stderr), 2 for a configuration problem, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from canfar_tui.clients.base import ClientError


def add_get_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``get`` sub-command's arguments to ``parser``."""
    parser.description = (
        "Download files from the CADC archive (like cadcget), verified by MD5 and size. "
        "The sandbox profile serves synthetic CFHT exposures: cadc:CFHT/1056213p.fits.fz, "
        "1056215p, 1056216p, 1056217p and 1056218p."
    )
    parser.add_argument(
        "uris",
        nargs="+",
        metavar="URI",
        help="archive file, e.g. cadc:CFHT/1056213p.fits.fz (the scheme may be left out)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder to save into (default: the current folder)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress, only the paths and errors"
    )


class _ProgressLine:
    """One self-rewriting progress line on a terminal (nothing when not a terminal)."""

    def __init__(self, stream: TextIO, name: str, enabled: bool) -> None:
        self._stream = stream
        self._name = name
        self._enabled = enabled
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done != total:
            return
        self._last_draw = now
        elapsed = max(now - self._started, 1e-6)
        rate = done / elapsed
        percent = f"{100 * done / total:5.1f}%" if total else "     "
        self._stream.write(
            f"\r{self._name}  {percent}  {done / 1e6:8.1f} MB  {rate / 1e6:6.1f} MB/s"
        )
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def run_get(args: argparse.Namespace) -> int:
    """Download every URI of ``args``; returns the exit status (see the module docstring)."""
    from canfar_tui.clients.archive.base import parse_archive_uri
    from canfar_tui.clients.bundle import build_archive
    from canfar_tui.config import ConfigError, load_settings

    try:
        settings = load_settings(
            config_file=getattr(args, "config", None), profile=getattr(args, "profile", None)
        )
    except ConfigError as error:
        print(f"canfar-tui: {error}", file=sys.stderr)
        return 2
    output: Path = (args.output or Path.cwd()).expanduser()
    if not output.is_dir():
        print(f"canfar-tui: no such folder: {output}", file=sys.stderr)
        return 2
    archive = build_archive(settings)
    show_progress = not args.quiet and sys.stderr.isatty()

    async def fetch_all() -> int:
        failures = 0
        try:
            for text in args.uris:
                try:
                    uri = parse_archive_uri(text)
                except ClientError as error:
                    print(f"canfar-tui: {error.message}", file=sys.stderr)
                    failures += 1
                    continue
                line = _ProgressLine(sys.stderr, uri.file_name, show_progress)
                try:
                    path = await archive.download(str(uri), output, progress=line)
                except ClientError as error:
                    line.finish()
                    print(f"canfar-tui: {error.message}", file=sys.stderr)
                    failures += 1
                    continue
                line.finish()
                print(path)
                if settings.profile.is_sandbox:
                    print(
                        f"canfar-tui get: sandbox: {uri.file_name} is a synthetic exposure from "
                        "the sandbox archive, not CADC's (no CANFAR profile in use)",
                        file=sys.stderr,
                    )
        finally:
            await archive.aclose()
        return 1 if failures else 0

    try:
        return asyncio.run(fetch_all())
    except KeyboardInterrupt:
        print("canfar-tui: interrupted (no partial file was kept)", file=sys.stderr)
        return 130
