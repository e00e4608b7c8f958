"""The sandbox cloud's state: one SQLite file, read and changed a transaction at a time.

:class:`SandboxStore` is the synchronous half of
:class:`~canfar_tui.clients.cloud.sandbox.SandboxCloud`, which calls it from one worker thread.

* **State** is an SQLite database at ``path`` opened by
  :func:`~canfar_tui.clients._sqlite.open_state` (created ``0600`` with its parent directories
  ``0700``; WAL journal; seeded from :mod:`~canfar_tui.clients.cloud.sandbox_seed`). Every
  operation is one transaction, writers take the lock up front (``BEGIN IMMEDIATE``), so two
  processes may share the file.
* **Time** is never simulated by background tasks. An action stores when it finishes, and every
  read derives the current state from those timestamps and the injected ``clock``: an instance
  is BUILD/``spawning`` until ``created + build_seconds``, then ACTIVE/Running. Tests pass a fake
  clock; a restart resumes exactly where the previous run was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from canfar_tui.clients._sqlite import open_state
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
from canfar_tui.clients.cloud.sandbox_console import console_text
from canfar_tui.clients.cloud.sandbox_seed import (
    SEED_FLAVORS,
    SEED_IMAGES,
    SEED_PROJECTS,
    SEED_TIME,
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

__all__ = ["SandboxStore"]

_SCHEMA_VERSION: Final = "1"
_NAMESPACE = uuid.UUID("5b2f7c1e-3d0a-4c1b-9a57-c4a7f0e1d2b3")
_KEYPAIR_QUOTA = 100
_FIP_PREFIX = "206.12.92."

# Horizon's labels for Nova's power states.
_POWER_NOSTATE: Final = "No State"
_POWER_RUNNING: Final = "Running"
_POWER_SHUTDOWN: Final = "Shut Down"


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


class SandboxStore:
    """The synchronous half of the sandbox cloud: one SQLite connection, used only from the
    client's worker thread; each method is one transaction.

    ``build_seconds`` is how long an instance stays in BUILD (stop, start, reboot and delete
    take a third of it), ``snapshot_seconds`` how long a snapshot takes to become active;
    ``clock`` returns seconds since the epoch; ``username`` owns the key pairs.
    """

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
        if self._conn is None:
            self._conn = open_state(
                self.path,
                schema=_SCHEMA,
                version=_SCHEMA_VERSION,
                seed=self._seed,
                what="sandbox state",
            )
        return self._conn

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
        for subnet, project in enumerate(SEED_PROJECTS, start=1):
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
        for name, vcpus, ram_mb, disk_gb, ephemeral_gb in SEED_FLAVORS:
            conn.execute(
                "INSERT INTO flavors VALUES (?, ?, ?, ?, ?, ?, 1)",
                (_stable_id("flavor", name), name, vcpus, ram_mb, disk_gb, ephemeral_gb),
            )
        for name, distro, size in SEED_IMAGES:
            conn.execute(
                "INSERT INTO images VALUES (?, NULL, ?, ?, 'public', ?, ?, 0, 0, NULL, ?)",
                (_stable_id("image", name), name, ImageKind.IMAGE.value, size, SEED_TIME, distro),
            )

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
        return console_text(live.row, now, lines)

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
