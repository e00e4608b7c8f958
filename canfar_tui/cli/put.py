"""``canfar-tui put LOCAL… vos:DEST[/]``: upload files to VOSpace like ``vcp``, MD5-verified.

Wire it into the main parser with :func:`add_put_arguments` and call :func:`run_put`.

``DEST`` is a folder when it ends with ``/``, when it already is a folder, or when several
files are given; each file then lands as ``DEST/NAME``. A folder named with a trailing ``/``
that does not exist yet is created (its parent must exist), so that many batch jobs can put
into a new folder at the same time. Otherwise ``DEST`` is the file's new URI.

``DEST`` is a ``vos:`` URI, or any form the ``vos`` commands take for the same node
(``vault:USER/…``, ``vos://cadc.nrc.ca!vault/USER/…``; see
:mod:`~canfar_tui.clients.storage.vospace_uris`), shown as ``vos:USER/…``; ``arc:`` and
``cavern:`` name those services.

Uploads go through the profile's StorageClient — for a real profile, CADC's VOSpace with the
profile's proxy certificate (a missing or expired one: one line saying how to get one); in the
sandbox, a
:class:`~canfar_tui.clients.storage.vospace.VOSpaceStorage` on the loopback VOSpace service over
``$XDG_DATA_HOME/canfar-tui/sandbox/vospace``, started by this process with a private ``vos``
registry so that concurrent ``put`` processes (batch jobs) do not redirect each other. The
client compares the stored copy's MD5 with the local file's and removes a copy that does not
match. One line
per stored file on stdout (``URI  md5=…  N bytes``); one line per failure on stderr.

``$CANFAR_TUI_SANDBOX_VOSPACE`` (sandbox profile only) names a HOME-like folder whose
``.config/cadc-registry`` points ``vos`` at a VOSpace service that is already running (see
:func:`~canfar_tui.clients.storage.loopback.prepare_client_home`): ``put`` then uploads
there instead of starting a service of its own. Batch jobs on a real HTCondor pool use it to
reach the service their submitter runs (``tests/integration/test_condor_pipeline.py``).
Private registry folders (``$TMPDIR/canfar-tui-vos-PID-…``, ``canfar-tui-put-PID-…``) that a
killed ``put`` left behind are removed by the next one, as are its unfinished uploads in the
service's temp folder.

Exit status: 0 every file stored and verified, 1 one failed, 2 bad usage or configuration
(no VOSpace in this profile, a destination that is not a VOSpace URI), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import stat
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO

from canfar_tui.clients.base import ClientError, Conflict, NotFound, StorageClient
from canfar_tui.clients.storage.vospace_uris import is_vospace_uri, normalise_vospace_uri

__all__ = ["SANDBOX_VOSPACE_ENV", "add_put_arguments", "main", "run_put"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: A HOME-like folder whose vos registry names a running VOSpace service (sandbox profile).
SANDBOX_VOSPACE_ENV = "CANFAR_TUI_SANDBOX_VOSPACE"
#: The prefix of the private copy of that registry in $TMPDIR (stale copies are removed).
PRIVATE_HOME_PREFIX = "canfar-tui-put-"


def add_put_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``put`` sub-command's arguments to ``parser``."""
    parser.description = (
        "Upload files to VOSpace (like vcp), verified by MD5. DEST is a folder when it ends "
        "with '/', already is a folder, or several files are given."
    )
    parser.add_argument("local", nargs="+", metavar="LOCAL", type=Path, help="file to upload")
    parser.add_argument(
        "destination", metavar="DEST", help="VOSpace file or folder, e.g. vos:USER/catalogues/"
    )


class _Usage(Exception):
    """Bad usage: exit status 2."""


def _running_service(config_home: Path, destination: str, private: Path) -> StorageClient:
    """A client of the already running service that ``config_home``'s registry names.

    The registry is copied (with its future mtimes) into ``private``, this process's own
    folder: ``vos`` writes its capabilities cache next to it, and many jobs share the named
    folder, which they may not be allowed to write.
    """
    from canfar_tui.clients.storage.vospace import VOSpaceStorage

    if not (config_home / ".config" / "cadc-registry" / "resource-caps").is_file():
        raise _Usage(
            f"{SANDBOX_VOSPACE_ENV}={config_home}: no VOSpace registry there "
            "(.config/cadc-registry/resource-caps)"
        )
    try:
        shutil.copytree(config_home / ".config", private / ".config", dirs_exist_ok=True)
    except OSError as error:
        raise _Usage(f"{SANDBOX_VOSPACE_ENV}={config_home}: cannot read it ({error})") from None
    scheme, _, rest = destination.partition(":")
    if rest.startswith("//"):
        authority, _, path = rest[2:].partition("/")
        home = f"{scheme}://{authority}/{path.strip('/').split('/', 1)[0]}"
    else:
        home = f"{scheme}:{rest.strip('/').split('/', 1)[0]}"
    return VOSpaceStorage(home, config_home=private, sandbox=True)


async def _folder_state(storage: StorageClient, uri: str) -> bool | None:
    """True: ``uri`` is a folder; False: a file; None: nothing there."""
    try:
        node = await storage.stat(uri.rstrip("/"))
    except NotFound:
        return None
    return node.is_container


async def _ensure_folder(storage: StorageClient, uri: str) -> None:
    state = await _folder_state(storage, uri)
    if state is True:
        return
    if state is False:
        raise _Usage(f"{uri.rstrip('/')} is a file, not a folder")
    try:
        await storage.mkdir(uri.rstrip("/"))
    except Conflict:  # another job created it in the meantime
        if await _folder_state(storage, uri) is not True:
            raise


async def _put_all(
    storage: StorageClient,
    locals_: list[Path],
    destination: str,
    out: TextIO,
    err: TextIO,
    *,
    sandbox: bool = False,
) -> int:
    as_folder = destination.endswith("/") or len(locals_) > 1
    if as_folder:
        await _ensure_folder(storage, destination)
    elif await _folder_state(storage, destination) is True:
        as_folder = True
    failures = 0
    for local in locals_:
        target = f"{destination.rstrip('/')}/{local.name}" if as_folder else destination
        refusal = _not_uploadable(local)
        if refusal is not None:
            print(f"canfar-tui put: {local}: {refusal}", file=err)
            failures += 1
            continue
        try:
            node = await storage.upload(local, target)
        except ClientError as error:
            print(f"canfar-tui put: {local} → {target}: {error.message}", file=err)
            failures += 1
            continue
        size = node.size if node.size is not None else local.stat().st_size
        where = "  (sandbox)" if sandbox else ""
        print(f"{target}  md5={node.md5 or '?'}  {size} bytes{where}", file=out)
    return EXIT_FAILED if failures else EXIT_OK


def _not_uploadable(local: Path) -> str | None:
    """Why ``local`` cannot be uploaded ("no such file", "is a folder"...), or None."""
    try:
        mode = local.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot read it: {error.strerror or error}"
    if stat.S_ISDIR(mode):
        return "is a folder (put uploads files; name the files inside it)"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, FIFO or socket): nothing uploaded"
    return None


def run_put(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run ``canfar-tui put``; returns the exit status (see the module docstring)."""
    from canfar_tui.clients.bundle import build_clients
    from canfar_tui.config import ConfigError, load_settings

    stdout = out or sys.stdout
    stderr = sys.stderr
    destination = str(args.destination).strip()
    if not is_vospace_uri(destination):
        print(
            f"canfar-tui put: not a VOSpace destination: {destination!r} "
            "(expected e.g. vos:USER/folder/)",
            file=stderr,
        )
        return EXIT_USAGE
    destination = normalise_vospace_uri(destination)  # vault:USER/… is vos:USER/…
    try:
        settings = load_settings(
            config_file=getattr(args, "config", None),
            profile=getattr(args, "profile", None),
            openrc=getattr(args, "openrc", None),
            read_only=getattr(args, "read_only", None),
        )
    except ConfigError as error:
        print(f"canfar-tui put: {error}", file=stderr)
        return EXIT_USAGE
    if settings.read_only:
        print("canfar-tui put: read-only mode: nothing is uploaded", file=stderr)
        return EXIT_USAGE
    try:
        clients = build_clients(settings)
    except ClientError as error:
        print(f"canfar-tui put: {error.message}", file=stderr)
        return EXIT_USAGE

    service_home = os.environ.get(SANDBOX_VOSPACE_ENV, "").strip()
    if not settings.profile.is_sandbox:
        service_home = ""

    async def go() -> int:
        own: StorageClient | None = None
        private: Path | None = None
        try:
            storage: StorageClient | None
            if service_home:
                from canfar_tui.clients.storage.loopback import private_client_home

                private = private_client_home(PRIVATE_HOME_PREFIX)
                storage = own = _running_service(Path(service_home), destination, private)
            else:
                storage = clients.storage
            if storage is None:
                print(f"canfar-tui put: {clients.why_missing('storage')}", file=stderr)
                return EXIT_USAGE
            return await _put_all(
                storage,
                list(args.local),
                destination,
                stdout,
                stderr,
                sandbox=settings.profile.is_sandbox,
            )
        finally:
            if own is not None:
                await own.aclose()
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            await clients.aclose()

    return _finish(go, destination)


def _finish(go: Callable[[], Coroutine[Any, Any, int]], destination: str) -> int:
    stderr = sys.stderr
    try:
        return asyncio.run(go())
    except _Usage as error:
        print(f"canfar-tui put: {error}", file=stderr)
        return EXIT_USAGE
    except ClientError as error:
        print(f"canfar-tui put: {destination}: {error.message}", file=stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("canfar-tui put: interrupted", file=stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (``python -m canfar_tui.cli.put LOCAL… DEST``)."""
    parser = argparse.ArgumentParser(prog="canfar-tui put")
    parser.add_argument("--profile", metavar="NAME", help="profile from the config file")
    parser.add_argument("--config", metavar="FILE", type=Path, help="config file")
    add_put_arguments(parser)
    return run_put(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
