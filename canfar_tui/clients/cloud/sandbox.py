"""A simulated CANFAR OpenStack cloud that lives in one SQLite file on the user's machine.

:class:`SandboxCloud` implements :class:`~canfar_tui.clients.base.CloudClient` and
:class:`~canfar_tui.clients.base.SupportsConsoleLog` the way ``arbutus-canfar`` behaves for the
Batch Quick Start: two projects, the CANFAR images and flavors, one floating IP of quota per
project, key pairs per user, instances with Nova's states and task states, snapshots that go
``queued → saving → active``, and the errors Horizon shows (quota exceeded, snapshot in use,
floating IP taken, busy instance).

Design notes:

* **State** is an SQLite database at ``state_path`` (created ``0600`` with its parent
  directories ``0700``; WAL journal). Every operation is one transaction, writers take the lock
  up front (``BEGIN IMMEDIATE``), so two processes may share the file.
* **Time** is never simulated by background tasks. An action stores when it finishes, and every
  read derives the current state from those timestamps and the injected ``clock``: an instance
  is BUILD/``spawning`` until ``created + build_seconds``, then ACTIVE/Running. Tests pass a fake
  clock; a restart resumes exactly where the previous run was.
* **Threads**: the connection belongs to one worker thread; each ``async`` method hands its
  transaction to that thread, so the event loop never waits on a busy database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from canfar_tui.clients.base import (
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)
from canfar_tui.clients.cloud.names import check_keypair_name, check_name
from canfar_tui.clients.cloud.quotas import (
    EXTERNAL_NETWORK,
    QUOTA_CORES,
    QUOTA_FLOATING_IPS,
    QUOTA_INSTANCES,
    QUOTA_RAM,
)
from canfar_tui.clients.cloud.sshkeys import normalize_public_key, parse_public_key
from canfar_tui.models import (
    Flavor,
    FloatingIP,
    Image,
    ImageKind,
    Instance,
    KeyPair,
    LaunchRequest,
    Project,
    Quota,
    QuotaUsage,
)

__all__ = ["SandboxCloud"]

_T = TypeVar("_T")

_SCHEMA_VERSION: Final = "1"
_NAMESPACE = uuid.UUID("5b2f7c1e-3d0a-4c1b-9a57-c4a7f0e1d2b3")
_KEYPAIR_QUOTA = 100
_FIP_PREFIX = "206.12.92."
_SEED_TIME = datetime(2023, 8, 1, 17, 0, tzinfo=UTC).timestamp()

# Horizon's labels for Nova's power states.
_POWER_NOSTATE: Final = "No State"
_POWER_RUNNING: Final = "Running"
_POWER_SHUTDOWN: Final = "Shut Down"


# --------------------------------------------------------------------------- seed data


@dataclass(frozen=True, slots=True)
class _SeedProject:
    name: str
    description: str
    instances: int
    cores: int
    ram_mb: int
    floating_ips: int


_SEED_PROJECTS = (
    _SeedProject("canfar-batch-demo", "CANFAR batch processing demo allocation", 4, 8, 30720, 1),
    _SeedProject("canfar-survey", "Survey data reduction allocation", 10, 32, 61440, 1),
)

# name, vcpus, ram MB, root disk GB, ephemeral GB. ``c…`` flavors carry ephemeral scratch
# (mounted on /mnt by the CANFAR images); ``p…`` flavors are for persistent VMs, no scratch.
_SEED_FLAVORS = (
    ("c1-3.75gb-15", 1, 3840, 20, 15),
    ("c2-7.5gb-30", 2, 7680, 20, 31),
    ("c4-15gb-83", 4, 15360, 20, 83),
    ("c8-30gb-186", 8, 30720, 20, 186),
    ("p1-1.5gb", 1, 1536, 20, 0),
    ("p2-3gb", 2, 3072, 20, 0),
    ("p4-7.5gb", 4, 7680, 20, 0),
)

# name, os_distro, size in bytes
_SEED_IMAGES = (
    ("canfar-ubuntu-20.04", "ubuntu", 2_952_790_016),
    ("canfar-rocky-8", "rocky", 2_415_919_104),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL,
    enabled INTEGER NOT NULL, subnet INTEGER NOT NULL,
    quota_instances INTEGER NOT NULL, quota_cores INTEGER NOT NULL,
    quota_ram_mb INTEGER NOT NULL, quota_floating_ips INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS flavors (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vcpus INTEGER NOT NULL,
    ram_mb INTEGER NOT NULL, disk_gb INTEGER NOT NULL, ephemeral_gb INTEGER NOT NULL,
    is_public INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, project_id TEXT, name TEXT NOT NULL, kind TEXT NOT NULL,
    visibility TEXT NOT NULL, size_bytes INTEGER, created_at REAL NOT NULL,
    queued_until REAL NOT NULL, ready_at REAL NOT NULL, source_instance_id TEXT,
    os_distro TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keypairs (
    username TEXT NOT NULL, name TEXT NOT NULL, fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL, key_type TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (username, name));
CREATE TABLE IF NOT EXISTS floating_ips (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, address TEXT NOT NULL UNIQUE,
    network TEXT NOT NULL, instance_id TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    flavor_id TEXT NOT NULL, flavor_name TEXT NOT NULL, vcpus INTEGER NOT NULL,
    ram_mb INTEGER NOT NULL, ephemeral_gb INTEGER NOT NULL, image_id TEXT NOT NULL,
    image_name TEXT NOT NULL,
    os_distro TEXT NOT NULL, key_name TEXT, key_fingerprint TEXT, key_type TEXT,
    key_comment TEXT, created_at REAL NOT NULL, fixed_address TEXT NOT NULL,
    vm_state TEXT NOT NULL, prev_state TEXT NOT NULL, action TEXT, action_done_at REAL,
    console_events TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_project ON instances (project_id);
CREATE INDEX IF NOT EXISTS images_source ON images (source_instance_id);
"""


# --------------------------------------------------------------------------- helpers


def _stable_id(kind: str, name: str, *, hex_only: bool = False) -> str:
    value = uuid.uuid5(_NAMESPACE, f"{kind}:{name}")
    return value.hex if hex_only else str(value)


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _power_for(status: str) -> str:
    if status in ("ACTIVE", "REBOOT", "HARD_REBOOT"):
        return _POWER_RUNNING
    if status == "SHUTOFF":
        return _POWER_SHUTDOWN
    return _POWER_NOSTATE


@dataclass(frozen=True, slots=True)
class _Live:
    """An instance row as it is at a given moment."""

    row: sqlite3.Row
    status: str
    power_state: str
    task_state: str | None

    @property
    def busy(self) -> bool:
        return self.task_state is not None or self.status not in ("ACTIVE", "SHUTOFF")

    @property
    def name(self) -> str:
        return str(self.row["name"])

    def describe(self) -> str:
        task = f" ({self.task_state})" if self.task_state else ""
        return f"{self.status}{task}"


# What an instance shows while an action is in progress: status, power state, task state.
_IN_PROGRESS: dict[str, tuple[str, str, str]] = {
    "build": ("BUILD", _POWER_NOSTATE, "spawning"),
    "stop": ("ACTIVE", _POWER_RUNNING, "powering-off"),
    "start": ("SHUTOFF", _POWER_SHUTDOWN, "powering-on"),
    "reboot": ("REBOOT", _POWER_RUNNING, "rebooting"),
    "hard_reboot": ("HARD_REBOOT", _POWER_RUNNING, "rebooting_hard"),
}


# --------------------------------------------------------------------------- console log

_UBUNTU_BOOT = (
    "[    0.000000] Linux version 5.4.0-169-generic (buildd@lcy02-amd64-102) "
    "(gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.2)) #187-Ubuntu SMP",
    "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-5.4.0-169-generic "
    "root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0",
    "[    0.000000] KERNEL supported cpus:",
    "[    0.412311] x86/mm: Memory block size: 128MB",
    "[    1.902554] EXT4-fs (vda1): mounted filesystem with ordered data mode. Opts: (null)",
    "[    3.117420] systemd[1]: Detected virtualization kvm.",
    "[    3.118109] systemd[1]: Set hostname to <ubuntu>.",
)
_ROCKY_BOOT = (
    "[    0.000000] Linux version 4.18.0-513.9.1.el8_9.x86_64 "
    "(mockbuild@iad1-prod-build001.bld.equ.rockylinux.org) (gcc version 8.5.0 20210514)",
    "[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt3)/vmlinuz-4.18.0-513.9.1.el8_9.x86_64 "
    "root=UUID=7c1ea4b0-5fa2-4b13-9b8e-53bbd2ec3e6b ro console=ttyS0,115200n8 no_timer_check",
    "[    0.000000] KERNEL supported cpus:",
    "[    0.398105] x86/mm: Memory block size: 128MB",
    "[    2.014472] XFS (vda4): Mounting V5 Filesystem",
    "[    3.201954] systemd[1]: Detected virtualization kvm.",
    "[    3.203376] systemd[1]: Set hostname to <localhost.localdomain>.",
)


def _boot_lines(row: sqlite3.Row, when: float) -> list[str]:
    rocky = "rocky" in f"{row['os_distro']} {row['image_name']}".lower()
    user = "rocky" if rocky else "ubuntu"
    stamp = _when(when).strftime("%a, %d %b %Y %H:%M:%S +0000")
    mac_hex = hashlib.sha1(str(row["id"]).encode()).hexdigest()
    mac = "fa:16:3e:" + ":".join(mac_hex[index : index + 2] for index in (0, 2, 4))
    hostname = "".join(ch if ch.isalnum() else "-" for ch in str(row["name"]).lower())[:63]
    scratch = int(row["ephemeral_gb"]) > 0
    lines = list(_ROCKY_BOOT if rocky else _UBUNTU_BOOT)
    if scratch:
        lines.append(
            "[    4.702118] EXT4-fs (vdb): mounted filesystem with ordered data mode. Opts: (null)"
        )
    lines += [
        f"Cloud-init v. 23.1.2 running 'init-local' at {stamp}. Up 5.12 seconds.",
        f"Cloud-init v. 23.1.2 running 'init' at {stamp}. Up 6.48 seconds.",
        "ci-info: ++++++++++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++++",
        "ci-info: | Device |  Up  |    Address     |      Mask     | Scope  |     Hw-Address    |",
        f"ci-info: |  eth0  | True | {row['fixed_address']:<14} | 255.255.255.0 | global | {mac} |",
        "ci-info: |   lo   | True |   127.0.0.1    |   255.0.0.0   |  host  |         .         |",
    ]
    if row["key_name"]:
        lines += [
            f"ci-info: ++++++++Authorized keys from /home/{user}/.ssh/authorized_keys "
            f"for user {user}++++++++",
            "ci-info: | Keytype | Fingerprint (md5) | Options | Comment |",
            f"ci-info: | {row['key_type']} | {row['key_fingerprint']} | - | "
            f"{row['key_comment'] or '-'} |",
        ]
    else:
        lines.append(f"ci-info: no authorized SSH keys fingerprints found for user {user}.")
    lines += [
        "Generating public/private ed25519 key pair.",
        "Your identification has been saved in /etc/ssh/ssh_host_ed25519_key",
        f"Cloud-init v. 23.1.2 running 'modules:config' at {stamp}. Up 12.30 seconds.",
    ]
    if scratch:
        lines.append(
            f"Ephemeral disk ({row['ephemeral_gb']} GB) mounted on /mnt; "
            "run 'sudo canfar_setup_scratch' for /mnt/scratch"
        )
    lines += [
        f"Cloud-init v. 23.1.2 running 'modules:final' at {stamp}. Up 14.87 seconds.",
        f"Cloud-init v. 23.1.2 finished at {stamp}. Datasource DataSourceOpenStackLocal "
        "[net,ver=2].  Up 15.02 seconds",
        "",
        f"{hostname} login: ",
    ]
    return lines


_SHUTDOWN_LINES = (
    "[  OK  ] Stopped target Cloud-init target.",
    "[  OK  ] Stopped Execute cloud user/final scripts.",
    "[  OK  ] Reached target Power-Off.",
    "[ 9021.114702] reboot: Power down",
)
_REBOOT_LINES = (
    "[  OK  ] Stopped target Cloud-init target.",
    "[  OK  ] Reached target Reboot.",
    "[ 9021.104410] reboot: Restarting system",
)


# --------------------------------------------------------------------------- the store


class _Store:
    """The synchronous half: one SQLite connection, used only from the worker thread."""

    def __init__(
        self,
        path: Path,
        *,
        build_seconds: float,
        snapshot_seconds: float,
        clock: Callable[[], float],
        username: str,
    ) -> None:
        self.path = path
        self.build_seconds = max(0.0, build_seconds)
        self.snapshot_seconds = max(0.0, snapshot_seconds)
        # Stop, start, reboot and delete take a fraction of a boot.
        self.transition_seconds = self.build_seconds / 3
        self.clock = clock
        self.username = username
        self.project_id: str | None = None
        self._conn: sqlite3.Connection | None = None

    # ----------------------------------------------------------------- connection

    def connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        # Switching a new file to WAL takes an exclusive lock and SQLite may answer "database
        # is locked" at once, without waiting on busy_timeout, when another process is
        # opening the same file: retry that moment for a few seconds.
        for attempt in range(50):
            try:
                return self._connect_once()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect_once(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(descriptor)
        os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            seeded = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if seeded is None:
                self._seed(conn)
            elif seeded["value"] != _SCHEMA_VERSION:
                raise Unavailable(
                    f"The sandbox state {self.path} was written by another version of "
                    "canfar-tui; move it away to start afresh."
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _seed(self, conn: sqlite3.Connection) -> None:
        for subnet, project in enumerate(_SEED_PROJECTS, start=1):
            conn.execute(
                "INSERT INTO projects VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    _stable_id("project", project.name, hex_only=True),
                    project.name,
                    project.description,
                    subnet,
                    project.instances,
                    project.cores,
                    project.ram_mb,
                    project.floating_ips,
                ),
            )
        for name, vcpus, ram_mb, disk_gb, ephemeral_gb in _SEED_FLAVORS:
            conn.execute(
                "INSERT INTO flavors VALUES (?, ?, ?, ?, ?, ?, 1)",
                (_stable_id("flavor", name), name, vcpus, ram_mb, disk_gb, ephemeral_gb),
            )
        for name, distro, size in _SEED_IMAGES:
            conn.execute(
                "INSERT INTO images VALUES (?, NULL, ?, ?, 'public', ?, ?, 0, 0, NULL, ?)",
                (_stable_id("image", name), name, ImageKind.IMAGE.value, size, _SEED_TIME, distro),
            )
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))

    # ----------------------------------------------------------------- scope

    def _meta_key(self) -> str:
        return f"current_project:{self.username}"

    def scope(self, conn: sqlite3.Connection) -> sqlite3.Row:
        """The current project's row (the last one chosen, else the first by name)."""
        if self.project_id is None:
            saved = conn.execute("SELECT value FROM meta WHERE key = ?", (self._meta_key(),))
            row = saved.fetchone()
            self.project_id = str(row["value"]) if row else None
        if self.project_id is not None:
            project = conn.execute(
                "SELECT * FROM projects WHERE id = ?", (self.project_id,)
            ).fetchone()
            if project is not None:
                return project  # type: ignore[no-any-return]
        project = conn.execute("SELECT * FROM projects ORDER BY name LIMIT 1").fetchone()
        if project is None:
            raise Unavailable("The sandbox cloud has no projects; delete its state file.")
        self.project_id = str(project["id"])
        return project  # type: ignore[no-any-return]

    # ----------------------------------------------------------------- projects

    @staticmethod
    def _project(row: sqlite3.Row) -> Project:
        return Project(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            enabled=bool(row["enabled"]),
        )

    def list_projects(self) -> list[Project]:
        with self.transaction(write=False) as conn:
            rows = conn.execute("SELECT * FROM projects ORDER BY name").fetchall()
        return [self._project(row) for row in rows]

    def current_project(self) -> Project:
        with self.transaction(write=False) as conn:
            return self._project(self.scope(conn))

    def switch_project(self, project_id: str) -> Project:
        with self.transaction(write=True) as conn:
            row = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
            if row is None:
                raise NotFound(f"Project {project_id} not found (or you are not a member).")
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (self._meta_key(), project_id)
            )
        self.project_id = project_id
        return self._project(row)

    def get_quota(self) -> Quota:
        with self.transaction(write=False) as conn:
            project = self.scope(conn)
            now = self.clock()
            live = self._live_instances(conn, project["id"], now)
            fips = conn.execute(
                "SELECT COUNT(*) FROM floating_ips WHERE project_id = ?", (project["id"],)
            ).fetchone()[0]
        return Quota(
            project_id=project["id"],
            usages=(
                QuotaUsage(QUOTA_INSTANCES, len(live), project["quota_instances"]),
                QuotaUsage(
                    QUOTA_CORES,
                    sum(item.row["vcpus"] for item in live),
                    project["quota_cores"],
                    "vCPU",
                ),
                QuotaUsage(
                    QUOTA_RAM,
                    sum(item.row["ram_mb"] for item in live),
                    project["quota_ram_mb"],
                    "MB",
                ),
                QuotaUsage(QUOTA_FLOATING_IPS, fips, project["quota_floating_ips"]),
            ),
        )

    # ----------------------------------------------------------------- flavors and images

    def list_flavors(self) -> list[Flavor]:
        with self.transaction(write=False) as conn:
            rows = conn.execute("SELECT * FROM flavors ORDER BY vcpus, ram_mb, name").fetchall()
        return [
            Flavor(
                id=row["id"],
                name=row["name"],
                vcpus=row["vcpus"],
                ram_mb=row["ram_mb"],
                disk_gb=row["disk_gb"],
                ephemeral_gb=row["ephemeral_gb"],
                is_public=bool(row["is_public"]),
            )
            for row in rows
        ]

    @staticmethod
    def _image_status(row: sqlite3.Row, now: float) -> str:
        if now >= row["ready_at"]:
            return "active"
        return "queued" if now < row["queued_until"] else "saving"

    def _image(self, row: sqlite3.Row, now: float) -> Image:
        status = self._image_status(row, now)
        return Image(
            id=row["id"],
            name=row["name"],
            status=status,
            kind=ImageKind(row["kind"]),
            visibility=row["visibility"],
            size_bytes=row["size_bytes"] if status == "active" else None,
            created_at=_when(row["created_at"]),
            source_instance_id=row["source_instance_id"],
            os_distro=row["os_distro"],
        )

    def _visible_image(self, conn: sqlite3.Connection, project_id: str, image_id: str) -> Any:
        return conn.execute(
            "SELECT * FROM images WHERE id = ? AND (project_id IS NULL OR project_id = ?)",
            (image_id, project_id),
        ).fetchone()

    def list_images(self) -> list[Image]:
        with self.transaction(write=False) as conn:
            project = self.scope(conn)
            rows = conn.execute(
                "SELECT * FROM images WHERE project_id IS NULL OR project_id = ? "
                "ORDER BY kind, name, created_at",
                (project["id"],),
            ).fetchall()
            now = self.clock()
        return [self._image(row, now) for row in rows]

    def delete_image(self, image_id: str) -> None:
        with self.transaction(write=True) as conn:
            project = self.scope(conn)
            now = self.clock()
            self._purge(conn, now)
            row = self._visible_image(conn, project["id"], image_id)
            if row is None:
                raise NotFound(f"Image {image_id} not found.")
            if row["project_id"] is None:
                raise Conflict(
                    f"{row['name']} is a shared CANFAR image; only its owner can delete it."
                )
            users = [
                item.name
                for item in self._live_instances(conn, None, now)
                if item.row["image_id"] == image_id and item.task_state != "deleting"
            ]
            if users:
                shown = ", ".join(sorted(users)[:3]) + ("…" if len(users) > 3 else "")
                raise Conflict(
                    f"Snapshot {row['name']} is in use by instance(s) {shown}; delete them first."
                )
            conn.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # ----------------------------------------------------------------- key pairs

    @staticmethod
    def _keypair(row: sqlite3.Row) -> KeyPair:
        return KeyPair(
            name=row["name"],
            fingerprint=row["fingerprint"],
            public_key=row["public_key"],
            key_type="ssh",
        )

    def list_keypairs(self) -> list[KeyPair]:
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT * FROM keypairs WHERE username = ? ORDER BY name", (self.username,)
            ).fetchall()
        return [self._keypair(row) for row in rows]

    def import_keypair(self, name: str, public_key: str) -> KeyPair:
        check_keypair_name(name)
        info = parse_public_key(public_key)
        text = normalize_public_key(public_key)
        with self.transaction(write=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM keypairs WHERE username = ? AND name = ?", (self.username, name)
            ).fetchone()
            if exists:
                raise Conflict(f"Key pair '{name}' already exists; choose another name.")
            count = conn.execute(
                "SELECT COUNT(*) FROM keypairs WHERE username = ?", (self.username,)
            ).fetchone()[0]
            if count >= _KEYPAIR_QUOTA:
                raise QuotaExceeded(
                    f"Quota exceeded: you already have {count} of {_KEYPAIR_QUOTA} key pairs."
                )
            conn.execute(
                "INSERT INTO keypairs VALUES (?, ?, ?, ?, ?, ?)",
                (self.username, name, info.fingerprint_md5, text, info.key_type, self.clock()),
            )
            row = conn.execute(
                "SELECT * FROM keypairs WHERE username = ? AND name = ?", (self.username, name)
            ).fetchone()
        return self._keypair(row)

    def delete_keypair(self, name: str) -> None:
        with self.transaction(write=True) as conn:
            deleted = conn.execute(
                "DELETE FROM keypairs WHERE username = ? AND name = ?", (self.username, name)
            ).rowcount
        if not deleted:
            raise NotFound(f"Key pair '{name}' not found.")

    # ----------------------------------------------------------------- instances: state

    def _live(self, row: sqlite3.Row, now: float) -> _Live | None:
        """The instance as it is at ``now``; None once a delete has finished."""
        action = row["action"]
        done = action is None or now >= row["action_done_at"]
        if action == "delete":
            if done:
                return None
            prev = str(row["prev_state"])
            return _Live(row, prev, _power_for(prev), "deleting")
        if not done:
            status, power, task = _IN_PROGRESS[str(action)]
            if action == "hard_reboot":
                power = _power_for(str(row["prev_state"]))
            return _Live(row, status, power, task)
        status = str(row["vm_state"])
        return _Live(row, status, _power_for(status), None)

    def _with_snapshot_task(self, conn: sqlite3.Connection, live: _Live, now: float) -> _Live:
        if live.task_state is not None:
            return live
        pending = conn.execute(
            "SELECT queued_until FROM images WHERE source_instance_id = ? AND ready_at > ? "
            "ORDER BY created_at LIMIT 1",
            (live.row["id"], now),
        ).fetchone()
        if pending is None:
            return live
        task = "image_snapshot" if now < pending["queued_until"] else "image_uploading"
        return _Live(live.row, live.status, live.power_state, task)

    def _live_instances(
        self, conn: sqlite3.Connection, project_id: str | None, now: float
    ) -> list[_Live]:
        if project_id is None:
            rows = conn.execute("SELECT * FROM instances").fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM instances WHERE project_id = ?", (project_id,)
            ).fetchall()
        result = []
        for row in rows:
            live = self._live(row, now)
            if live is not None:
                result.append(self._with_snapshot_task(conn, live, now))
        return result

    def _get_live(self, conn: sqlite3.Connection, instance_id: str, now: float) -> _Live:
        project = self.scope(conn)
        row = conn.execute(
            "SELECT * FROM instances WHERE id = ? AND project_id = ?", (instance_id, project["id"])
        ).fetchone()
        live = None if row is None else self._live(row, now)
        if live is None:
            raise NotFound(f"Instance {instance_id} not found.")
        return self._with_snapshot_task(conn, live, now)

    @staticmethod
    def _purge(conn: sqlite3.Connection, now: float) -> None:
        """Forget instances whose delete has finished."""
        conn.execute(
            "DELETE FROM instances WHERE action = 'delete' AND action_done_at <= ?", (now,)
        )

    def _instance(self, conn: sqlite3.Connection, live: _Live) -> Instance:
        row = live.row
        fip = conn.execute(
            "SELECT address FROM floating_ips WHERE instance_id = ?", (row["id"],)
        ).fetchone()
        floating = None if fip is None else str(fip["address"])
        addresses: tuple[str, ...] = (row["fixed_address"],)
        if floating is not None:
            addresses += (floating,)
        return Instance(
            id=row["id"],
            name=row["name"],
            status=live.status,
            power_state=live.power_state,
            task_state=live.task_state,
            addresses=addresses,
            floating_ip=floating,
            flavor_name=row["flavor_name"],
            image_name=row["image_name"],
            image_id=row["image_id"],
            key_name=row["key_name"],
            created_at=_when(row["created_at"]),
            project_id=row["project_id"],
        )

    # ----------------------------------------------------------------- instances: reads

    def list_instances(self) -> list[Instance]:
        with self.transaction(write=False) as conn:
            project = self.scope(conn)
            now = self.clock()
            live = self._live_instances(conn, project["id"], now)
            live.sort(key=lambda item: (-item.row["created_at"], item.name))
            return [self._instance(conn, item) for item in live]

    def get_instance(self, instance_id: str) -> Instance:
        with self.transaction(write=False) as conn:
            return self._instance(conn, self._get_live(conn, instance_id, self.clock()))

    def console_log(self, instance_id: str, lines: int) -> str:
        if lines < 1:
            raise InvalidInput("Ask for at least one line of console output.")
        with self.transaction(write=False) as conn:
            now = self.clock()
            live = self._get_live(conn, instance_id, now)
        output: list[str] = []
        for when, kind in json.loads(live.row["console_events"]):
            if when > now:
                break
            if kind == "boot":
                output += _boot_lines(live.row, when)
            elif kind == "shutdown":
                output += _SHUTDOWN_LINES
            elif kind == "reboot":
                output += _REBOOT_LINES
        return "\n".join(output[-lines:])

    # ----------------------------------------------------------------- instances: writes

    def _fixed_address(self, conn: sqlite3.Connection, project: sqlite3.Row) -> str:
        used = {
            row["fixed_address"]
            for row in conn.execute(
                "SELECT fixed_address FROM instances WHERE project_id = ?", (project["id"],)
            )
        }
        for host in range(10, 255):
            address = f"192.168.{project['subnet']}.{host}"
            if address not in used:
                return address
        raise Conflict("No fixed IP address left on the project network.")

    def launch_instance(self, request: LaunchRequest) -> Instance:
        check_name("instance", request.name)
        if request.count < 1:
            raise InvalidInput("Launch at least one instance.")
        with self.transaction(write=True) as conn:
            project = self.scope(conn)
            now = self.clock()
            self._purge(conn, now)
            flavor = conn.execute(
                "SELECT * FROM flavors WHERE id = ?", (request.flavor_id,)
            ).fetchone()
            if flavor is None:
                raise NotFound(f"Flavor {request.flavor_id} not found.")
            image = self._visible_image(conn, project["id"], request.image_id)
            if image is None:
                raise NotFound(f"Image {request.image_id} not found.")
            image_status = self._image_status(image, now)
            if image_status != "active":
                raise Conflict(f"Image {image['name']} is not active yet ({image_status}).")
            key = None
            if request.key_name is not None:
                key = conn.execute(
                    "SELECT * FROM keypairs WHERE username = ? AND name = ?",
                    (self.username, request.key_name),
                ).fetchone()
                if key is None:
                    raise NotFound(f"Key pair '{request.key_name}' not found.")
            self._check_launch_quota(conn, project, flavor, request.count, now)
            ids: list[str] = []
            for index in range(1, request.count + 1):
                name = request.name if request.count == 1 else f"{request.name}-{index}"
                instance_id = str(uuid.uuid4())
                ready = now + self.build_seconds
                conn.execute(
                    "INSERT INTO instances VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        instance_id,
                        project["id"],
                        name,
                        flavor["id"],
                        flavor["name"],
                        flavor["vcpus"],
                        flavor["ram_mb"],
                        flavor["ephemeral_gb"],
                        image["id"],
                        image["name"],
                        image["os_distro"],
                        None if key is None else key["name"],
                        None if key is None else key["fingerprint"],
                        None if key is None else key["key_type"],
                        None if key is None else _key_comment(key["public_key"]),
                        now,
                        self._fixed_address(conn, project),
                        "ACTIVE",
                        "BUILD",
                        "build",
                        ready,
                        json.dumps([[ready, "boot"]]),
                    ),
                )
                ids.append(instance_id)
            return self._instance(conn, self._get_live(conn, ids[0], now))

    def _check_launch_quota(
        self,
        conn: sqlite3.Connection,
        project: sqlite3.Row,
        flavor: sqlite3.Row,
        count: int,
        now: float,
    ) -> None:
        live = self._live_instances(conn, project["id"], now)
        checks = (
            ("instances", len(live), count, project["quota_instances"], ""),
            (
                "vCPUs",
                sum(item.row["vcpus"] for item in live),
                count * flavor["vcpus"],
                project["quota_cores"],
                "",
            ),
            (
                "RAM",
                sum(item.row["ram_mb"] for item in live),
                count * flavor["ram_mb"],
                project["quota_ram_mb"],
                " MB",
            ),
        )
        for label, used, wanted, limit, unit in checks:
            if limit >= 0 and used + wanted > limit:
                raise QuotaExceeded(
                    f"Quota exceeded for {label}: requested {wanted}{unit}, "
                    f"but {used}{unit} of {limit}{unit} are already in use."
                )

    def _begin_action(
        self,
        conn: sqlite3.Connection,
        live: _Live,
        action: str,
        target: str,
        now: float,
        events: Sequence[tuple[float, str]] = (),
    ) -> None:
        done_at = now + self.transition_seconds
        log = json.loads(live.row["console_events"])
        log += [[when, kind] for when, kind in events]
        conn.execute(
            "UPDATE instances SET vm_state = ?, prev_state = ?, action = ?, action_done_at = ?, "
            "console_events = ? WHERE id = ?",
            (target, live.status, action, done_at, json.dumps(log), live.row["id"]),
        )

    def _refuse(self, verb: str, live: _Live) -> Conflict:
        return Conflict(f"Cannot {verb} instance '{live.name}' while it is {live.describe()}.")

    def stop_instance(self, instance_id: str) -> None:
        with self.transaction(write=True) as conn:
            now = self.clock()
            live = self._get_live(conn, instance_id, now)
            if live.busy or live.status != "ACTIVE":
                raise self._refuse("stop", live)
            done = now + self.transition_seconds
            self._begin_action(conn, live, "stop", "SHUTOFF", now, [(done, "shutdown")])

    def start_instance(self, instance_id: str) -> None:
        with self.transaction(write=True) as conn:
            now = self.clock()
            live = self._get_live(conn, instance_id, now)
            if live.busy or live.status != "SHUTOFF":
                raise self._refuse("start", live)
            done = now + self.transition_seconds
            self._begin_action(conn, live, "start", "ACTIVE", now, [(done, "boot")])

    def reboot_instance(self, instance_id: str, hard: bool) -> None:
        with self.transaction(write=True) as conn:
            now = self.clock()
            live = self._get_live(conn, instance_id, now)
            allowed = ("ACTIVE", "SHUTOFF") if hard else ("ACTIVE",)
            if live.busy or live.status not in allowed:
                raise self._refuse("hard reboot" if hard else "reboot", live)
            done = now + self.transition_seconds
            events = [(done, "boot")]
            if live.status == "ACTIVE":
                events.insert(0, (now, "reboot"))
            action = "hard_reboot" if hard else "reboot"
            self._begin_action(conn, live, action, "ACTIVE", now, events)

    def delete_instance(self, instance_id: str) -> None:
        with self.transaction(write=True) as conn:
            now = self.clock()
            self._purge(conn, now)
            live = self._get_live(conn, instance_id, now)
            if live.task_state == "deleting":
                return
            # Neutron deletes the port, which frees the floating IP; an unfinished snapshot
            # fails and Nova removes its image.
            conn.execute(
                "UPDATE floating_ips SET instance_id = NULL WHERE instance_id = ?", (instance_id,)
            )
            conn.execute(
                "DELETE FROM images WHERE source_instance_id = ? AND ready_at > ?",
                (instance_id, now),
            )
            self._begin_action(conn, live, "delete", live.status, now)

    def create_snapshot(self, instance_id: str, name: str) -> Image:
        check_name("snapshot", name)
        with self.transaction(write=True) as conn:
            project = self.scope(conn)
            now = self.clock()
            live = self._get_live(conn, instance_id, now)
            if live.busy:
                raise self._refuse("snapshot", live)
            image_id = str(uuid.uuid4())
            source = self._visible_image(conn, project["id"], live.row["image_id"])
            base_size = int(source["size_bytes"]) if source and source["size_bytes"] else 2 << 30
            extra = int(hashlib.sha1(image_id.encode()).hexdigest()[:6], 16) * 512
            conn.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, 'private', ?, ?, ?, ?, ?, ?)",
                (
                    image_id,
                    project["id"],
                    name,
                    ImageKind.SNAPSHOT.value,
                    base_size + extra,
                    now,
                    now + self.snapshot_seconds / 4,
                    now + self.snapshot_seconds,
                    instance_id,
                    live.row["os_distro"],
                ),
            )
            row = conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
            return self._image(row, now)

    # ----------------------------------------------------------------- floating IPs

    def _fip(self, conn: sqlite3.Connection, row: sqlite3.Row) -> FloatingIP:
        fixed = None
        if row["instance_id"] is not None:
            instance = conn.execute(
                "SELECT fixed_address FROM instances WHERE id = ?", (row["instance_id"],)
            ).fetchone()
            fixed = None if instance is None else str(instance["fixed_address"])
        return FloatingIP(
            id=row["id"],
            address=row["address"],
            status="ACTIVE" if row["instance_id"] else "DOWN",
            network=row["network"],
            fixed_address=fixed,
            instance_id=row["instance_id"],
        )

    def _get_fip(self, conn: sqlite3.Connection, floating_ip_id: str) -> sqlite3.Row:
        project = self.scope(conn)
        row = conn.execute(
            "SELECT * FROM floating_ips WHERE id = ? AND project_id = ?",
            (floating_ip_id, project["id"]),
        ).fetchone()
        if row is None:
            raise NotFound(f"Floating IP {floating_ip_id} not found.")
        return row  # type: ignore[no-any-return]

    def list_floating_ips(self) -> list[FloatingIP]:
        with self.transaction(write=False) as conn:
            project = self.scope(conn)
            rows = conn.execute(
                "SELECT * FROM floating_ips WHERE project_id = ? ORDER BY address",
                (project["id"],),
            ).fetchall()
            return [self._fip(conn, row) for row in rows]

    def allocate_floating_ip(self) -> FloatingIP:
        with self.transaction(write=True) as conn:
            project = self.scope(conn)
            limit = project["quota_floating_ips"]
            used = conn.execute(
                "SELECT COUNT(*) FROM floating_ips WHERE project_id = ?", (project["id"],)
            ).fetchone()[0]
            if limit >= 0 and used >= limit:
                plural = "" if limit == 1 else "s"
                raise QuotaExceeded(
                    f"Quota exceeded: the project has no floating IP left "
                    f"({used} of {limit} in use); release one or ask CANFAR support for more.",
                    details=f"Project {project['name']} may allocate {limit} floating IP{plural}.",
                )
            taken = {row["address"] for row in conn.execute("SELECT address FROM floating_ips")}
            address = next(
                (
                    f"{_FIP_PREFIX}{host}"
                    for host in range(10, 255)
                    if f"{_FIP_PREFIX}{host}" not in taken
                ),
                None,
            )
            if address is None:
                raise Conflict(f"No more IP addresses available on network {EXTERNAL_NETWORK}.")
            fip_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO floating_ips VALUES (?, ?, ?, ?, NULL, ?)",
                (fip_id, project["id"], address, EXTERNAL_NETWORK, self.clock()),
            )
            return self._fip(conn, self._get_fip(conn, fip_id))

    def associate_floating_ip(self, floating_ip_id: str, instance_id: str) -> FloatingIP:
        with self.transaction(write=True) as conn:
            now = self.clock()
            fip = self._get_fip(conn, floating_ip_id)
            live = self._get_live(conn, instance_id, now)
            if fip["instance_id"] == instance_id:
                return self._fip(conn, fip)
            if live.task_state == "deleting":
                raise Conflict(f"Instance '{live.name}' is being deleted.")
            if fip["instance_id"] is not None:
                other = conn.execute(
                    "SELECT name FROM instances WHERE id = ?", (fip["instance_id"],)
                ).fetchone()
                holder = other["name"] if other else fip["instance_id"]
                raise Conflict(
                    f"Floating IP {fip['address']} is already associated with instance "
                    f"'{holder}'; disassociate it first."
                )
            current = conn.execute(
                "SELECT address FROM floating_ips WHERE instance_id = ?", (instance_id,)
            ).fetchone()
            if current is not None:
                raise Conflict(
                    f"Instance '{live.name}' already has floating IP {current['address']}."
                )
            conn.execute(
                "UPDATE floating_ips SET instance_id = ? WHERE id = ?", (instance_id, fip["id"])
            )
            return self._fip(conn, self._get_fip(conn, floating_ip_id))

    def disassociate_floating_ip(self, floating_ip_id: str) -> FloatingIP:
        with self.transaction(write=True) as conn:
            self._get_fip(conn, floating_ip_id)
            conn.execute(
                "UPDATE floating_ips SET instance_id = NULL WHERE id = ?", (floating_ip_id,)
            )
            return self._fip(conn, self._get_fip(conn, floating_ip_id))

    def release_floating_ip(self, floating_ip_id: str) -> None:
        with self.transaction(write=True) as conn:
            self._get_fip(conn, floating_ip_id)
            conn.execute("DELETE FROM floating_ips WHERE id = ?", (floating_ip_id,))


def _key_comment(public_key: str) -> str:
    parts = public_key.split(None, 2)
    return parts[2] if len(parts) == 3 else ""


# --------------------------------------------------------------------------- the client


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
        self._store = _Store(
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
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(function, *args))
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
            loop = asyncio.get_running_loop()
            with contextlib.suppress(sqlite3.Error):
                await loop.run_in_executor(executor, self._store.close)
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
