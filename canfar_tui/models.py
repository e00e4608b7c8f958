"""Frozen dataclasses for every resource the dashboard shows.

The client layer returns these and nothing else: backends translate SDK objects into them at
their boundary, so views, the Poller and the tests never see an SDK type. Each resource has a
stable ``key`` used by the Poller's diffs and the ResourceTable's rows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# --------------------------------------------------------------------------- OpenStack


@dataclass(frozen=True, slots=True)
class Project:
    """An OpenStack project (one CANFAR resource allocation)."""

    id: str
    name: str
    description: str = ""
    enabled: bool = True

    @property
    def key(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """How much of one quota-limited resource a project uses; ``limit`` < 0 means unlimited."""

    resource: str
    used: float
    limit: float
    unit: str = ""

    @property
    def key(self) -> str:
        return self.resource

    @property
    def fraction(self) -> float:
        """Share of the quota in use, 0.0 when unlimited."""
        if self.limit <= 0:
            return 0.0 if self.limit < 0 else 1.0
        return min(1.0, self.used / self.limit)


@dataclass(frozen=True, slots=True)
class Quota:
    """The quotas of the active project."""

    project_id: str
    usages: tuple[QuotaUsage, ...] = ()

    def get(self, resource: str) -> QuotaUsage | None:
        return next((usage for usage in self.usages if usage.resource == resource), None)


@dataclass(frozen=True, slots=True)
class Flavor:
    """A VM size. On CANFAR ``c…`` flavors have ephemeral scratch; ``p…`` are persistent."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int = 0
    is_public: bool = True

    @property
    def key(self) -> str:
        return self.id

    @property
    def is_persistent(self) -> bool:
        return self.name.startswith("p")


class ImageKind(enum.StrEnum):
    """Whether an image was uploaded or taken from an instance."""

    IMAGE = "image"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Image:
    """A bootable image or instance snapshot."""

    id: str
    name: str
    status: str
    kind: ImageKind = ImageKind.IMAGE
    visibility: str = "private"
    size_bytes: int | None = None
    created_at: datetime | None = None
    source_instance_id: str | None = None
    os_distro: str = ""

    @property
    def key(self) -> str:
        return self.id

    @property
    def default_login_user(self) -> str:
        """The generic account an image injects the SSH key into (``ubuntu`` or ``rocky``)."""
        text = f"{self.os_distro} {self.name}".lower()
        if "rocky" in text or "alma" in text or "centos" in text or "rhel" in text:
            return "rocky"
        return "ubuntu"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An SSH public key registered with the cloud."""

    name: str
    fingerprint: str
    public_key: str = ""
    key_type: str = "ssh"

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class FloatingIP:
    """A public address allocated to the project, optionally associated with an instance."""

    id: str
    address: str
    status: str
    network: str = ""
    fixed_address: str | None = None
    instance_id: str | None = None

    @property
    def key(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class Instance:
    """A virtual machine."""

    id: str
    name: str
    status: str
    power_state: str = ""
    task_state: str | None = None
    addresses: tuple[str, ...] = ()
    floating_ip: str | None = None
    flavor_name: str = ""
    image_name: str = ""
    image_id: str = ""
    key_name: str | None = None
    created_at: datetime | None = None
    project_id: str = ""

    @property
    def key(self) -> str:
        return self.id

    @property
    def is_transitional(self) -> bool:
        """True while the instance is moving between states (Horizon polls only these)."""
        return self.task_state is not None or self.status.upper() in {
            "BUILD",
            "REBOOT",
            "HARD_REBOOT",
            "RESIZE",
            "DELETING",
        }


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """What the launch wizard collects."""

    name: str
    image_id: str
    flavor_id: str
    key_name: str | None = None
    count: int = 1


# --------------------------------------------------------------------------- HTCondor


class JobStatus(enum.IntEnum):
    """HTCondor's JobStatus attribute."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7

    @property
    def letter(self) -> str:
        """The one-letter code condor_q prints in its ST column."""
        return "IRXCH>S"[self.value - 1]


@dataclass(frozen=True, slots=True)
class JobId:
    """A job's ``cluster.proc`` identifier."""

    cluster: int
    proc: int

    def __str__(self) -> str:
        return f"{self.cluster}.{self.proc}"

    @classmethod
    def parse(cls, text: str) -> JobId:
        """Parse ``"123.4"``; raises ValueError on anything else."""
        cluster, _, proc = text.strip().partition(".")
        return cls(int(cluster), int(proc or 0))


@dataclass(frozen=True, slots=True)
class Job:
    """One HTCondor job (a row of ``condor_q -nobatch``)."""

    id: JobId
    owner: str
    status: JobStatus
    command: str = ""
    arguments: str = ""
    batch_name: str = ""
    submitted: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    hold_reason: str | None = None
    request_cpus: int = 1
    request_memory_mb: int = 0
    vm_image: str | None = None
    vm_flavor: str | None = None

    @property
    def key(self) -> str:
        return str(self.id)


@dataclass(frozen=True, slots=True)
class Batch:
    """One row of default ``condor_q``: the jobs of a batch, counted by state."""

    owner: str
    name: str
    submitted: datetime | None
    done: int
    running: int
    idle: int
    held: int
    total: int
    job_ids: tuple[JobId, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.owner}/{self.name}"


class JobEventKind(enum.StrEnum):
    """The subset of HTCondor user-log events the queue view follows."""

    SUBMIT = "submit"
    EXECUTE = "execute"
    TERMINATED = "terminated"
    HELD = "held"
    RELEASED = "released"
    ABORTED = "aborted"
    EVICTED = "evicted"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One event read from a job's user log."""

    job_id: JobId
    kind: JobEventKind
    time: datetime
    text: str = ""
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What a submission produced."""

    cluster: int
    num_jobs: int
    batch_name: str = ""


@dataclass(frozen=True, slots=True)
class JobFiles:
    """Where a job's output, error and user log live."""

    output: Path | None = None
    error: Path | None = None
    log: Path | None = None


# --------------------------------------------------------------------------- VOSpace


@dataclass(frozen=True, slots=True)
class StorageNode:
    """A VOSpace node: a container (folder), data node (file) or link."""

    uri: str
    name: str
    is_container: bool
    size: int | None = None
    md5: str | None = None
    modified: datetime | None = None
    creator: str | None = None
    readable_by: str | None = None
    writable_by: str | None = None
    is_link: bool = False
    target: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return self.uri


@dataclass(frozen=True, slots=True)
class StorageQuota:
    """Space used in a VOSpace, and the quota when the service reports one."""

    used_bytes: int
    quota_bytes: int | None = None


class TransferDirection(enum.StrEnum):
    """Which way a transfer moves data."""

    UPLOAD = "upload"
    DOWNLOAD = "download"


class TransferState(enum.StrEnum):
    """A transfer's lifecycle."""

    QUEUED = "queued"
    RUNNING = "running"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A file moving to or from VOSpace (or the archive)."""

    id: str
    direction: TransferDirection
    source: str
    destination: str
    state: TransferState
    bytes_done: int = 0
    bytes_total: int | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class CredentialStatus:
    """The CADC credentials the storage and batch services will use."""

    username: str | None
    certificate_path: Path | None
    expires_at: datetime | None
    netrc_has_entry: bool = False
    problem: str | None = None

    def time_left_seconds(self, now: datetime) -> float | None:
        """Seconds until the proxy certificate expires (negative when expired)."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


# --------------------------------------------------------------------------- Status summary


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One line of ``canfar-tui status``: is a service reachable, and what it holds."""

    service: str
    backend: str
    reachable: bool
    summary: Mapping[str, object] = field(default_factory=dict)
    error: str | None = None
