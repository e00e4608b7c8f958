"""A simulated CANFAR OpenStack cloud that lives in one SQLite file on the user's machine.

:class:`SandboxCloud` implements :class:`~canfar_tui.clients.base.CloudClient` and
:class:`~canfar_tui.clients.base.SupportsConsoleLog` the way ``arbutus-canfar`` behaves for the
Batch Quick Start: two projects, the CANFAR images and flavors, one floating IP of quota per
project, key pairs per user, instances with Nova's states and task states, snapshots that go
``queued → saving → active``, and the errors Horizon shows (quota exceeded, snapshot in use,
floating IP taken, busy instance).

Design notes:

* **State and time** are the store's (:mod:`~canfar_tui.clients.cloud.sandbox_store`): one
  SQLite file shared safely between processes, every state derived from stored timestamps and
  the injected ``clock``; the console log is replayed by
  :mod:`~canfar_tui.clients.cloud.sandbox_console`.
* **Threads**: the connection belongs to one worker thread; each ``async`` method hands its
  transaction to that thread (:func:`~canfar_tui.clients._blocking.run_blocking`), so the event
  loop never waits on a busy database. SQLite and file errors become ClientErrors here.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from canfar_tui.clients._blocking import run_blocking
from canfar_tui.clients.base import Conflict, Unavailable
from canfar_tui.clients.cloud.sandbox_store import SandboxStore
from canfar_tui.models import (
    Flavor,
    FloatingIP,
    Image,
    Instance,
    KeyPair,
    LaunchRequest,
    Project,
    Quota,
)

__all__ = ["SandboxCloud"]

_T = TypeVar("_T")


class SandboxCloud:
    """The sandbox :class:`~canfar_tui.clients.base.CloudClient` (also SupportsConsoleLog).

    ``build_seconds`` is how long an instance stays in BUILD; stop, start, reboot and delete
    take a third of it. ``snapshot_seconds`` is how long a snapshot takes to become active (the
    first quarter ``queued``, the rest ``saving``). ``clock`` returns seconds since the epoch;
    ``username`` owns the key pairs. Nothing touches the disk before the first call.
    """

    def __init__(
        self,
        state_path: Path,
        *,
        build_seconds: float = 3.0,
        snapshot_seconds: float = 6.0,
        clock: Callable[[], float] = time.time,
        username: str = "sandbox-user",
    ) -> None:
        self.state_path = Path(state_path)
        self.username = username
        self._store = SandboxStore(
            self.state_path,
            build_seconds=build_seconds,
            snapshot_seconds=snapshot_seconds,
            clock=clock,
            username=username,
        )
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def backend_label(self) -> str:
        return "SANDBOX"

    def __repr__(self) -> str:
        return f"SandboxCloud({str(self.state_path)!r}, username={self.username!r})"

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise Unavailable("The sandbox cloud client is closed.")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-cloud")
        try:
            return await run_blocking(function, *args, executor=self._executor)
        except sqlite3.IntegrityError as error:
            raise Conflict(
                f"Another change got there first ({error}); refresh and try again."
            ) from error
        except sqlite3.OperationalError as error:
            raise Unavailable(
                f"The sandbox state is busy or unreadable: {error}.",
                details=str(self.state_path),
            ) from error
        except sqlite3.DatabaseError as error:
            raise Unavailable(
                f"The sandbox state file is damaged ({error}); move it away to start afresh.",
                details=str(self.state_path),
            ) from error
        except OSError as error:
            raise Unavailable(
                f"Cannot open the sandbox state: {error.strerror or error}.",
                details=str(self.state_path),
            ) from error

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(sqlite3.Error):
                await run_blocking(self._store.close, executor=executor)
            executor.shutdown(wait=False)

    async def __aenter__(self) -> SandboxCloud:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- projects

    async def list_projects(self) -> Sequence[Project]:
        return await self._call(self._store.list_projects)

    async def current_project(self) -> Project | None:
        return await self._call(self._store.current_project)

    async def switch_project(self, project_id: str) -> Project:
        return await self._call(self._store.switch_project, project_id)

    async def get_quota(self) -> Quota:
        return await self._call(self._store.get_quota)

    # ----------------------------------------------------------------- catalogue

    async def list_flavors(self) -> Sequence[Flavor]:
        return await self._call(self._store.list_flavors)

    async def list_images(self) -> Sequence[Image]:
        return await self._call(self._store.list_images)

    async def delete_image(self, image_id: str) -> None:
        await self._call(self._store.delete_image, image_id)

    # ----------------------------------------------------------------- key pairs

    async def list_keypairs(self) -> Sequence[KeyPair]:
        return await self._call(self._store.list_keypairs)

    async def import_keypair(self, name: str, public_key: str) -> KeyPair:
        return await self._call(self._store.import_keypair, name, public_key)

    async def delete_keypair(self, name: str) -> None:
        await self._call(self._store.delete_keypair, name)

    # ----------------------------------------------------------------- floating IPs

    async def list_floating_ips(self) -> Sequence[FloatingIP]:
        return await self._call(self._store.list_floating_ips)

    async def allocate_floating_ip(self) -> FloatingIP:
        return await self._call(self._store.allocate_floating_ip)

    async def associate_floating_ip(self, floating_ip_id: str, instance_id: str) -> FloatingIP:
        return await self._call(self._store.associate_floating_ip, floating_ip_id, instance_id)

    async def disassociate_floating_ip(self, floating_ip_id: str) -> FloatingIP:
        return await self._call(self._store.disassociate_floating_ip, floating_ip_id)

    async def release_floating_ip(self, floating_ip_id: str) -> None:
        await self._call(self._store.release_floating_ip, floating_ip_id)

    # ----------------------------------------------------------------- instances

    async def list_instances(self) -> Sequence[Instance]:
        return await self._call(self._store.list_instances)

    async def get_instance(self, instance_id: str) -> Instance:
        return await self._call(self._store.get_instance, instance_id)

    async def launch_instance(self, request: LaunchRequest) -> Instance:
        return await self._call(self._store.launch_instance, request)

    async def start_instance(self, instance_id: str) -> None:
        await self._call(self._store.start_instance, instance_id)

    async def stop_instance(self, instance_id: str) -> None:
        await self._call(self._store.stop_instance, instance_id)

    async def reboot_instance(self, instance_id: str, *, hard: bool = False) -> None:
        await self._call(self._store.reboot_instance, instance_id, hard)

    async def delete_instance(self, instance_id: str) -> None:
        await self._call(self._store.delete_instance, instance_id)

    async def create_snapshot(self, instance_id: str, name: str) -> Image:
        return await self._call(self._store.create_snapshot, instance_id, name)

    async def console_log(self, instance_id: str, *, lines: int = 200) -> str:
        return await self._call(self._store.console_log, instance_id, lines)
