"""The contract of the client layer: service Protocols, capabilities and the error tree.

Every tab talks to a service through one of the Protocols below and nothing else. Each has a
sandbox backend (the ``sandbox`` modules of each service package) and a real one
(openstacksdk, htcondor2, vos/cadcutils);
both pass the same contract tests in ``tests/contract``.

Rules every backend follows:

* every operation is ``async``; blocking SDK calls run in a worker thread with a timeout;
* SDK exceptions are translated into :class:`ClientError` subclasses at the backend boundary,
  so the UI only ever sees a one-line :attr:`ClientError.message` (plus optional details);
* results are frozen dataclasses from :mod:`canfar_tui.models`.

Optional features are separate ``runtime_checkable`` Protocols (for example
:class:`SupportsConsoleLog`): a view asks ``isinstance(client, SupportsConsoleLog)`` instead of
special-casing a backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from canfar_tui.models import (
    Batch,
    CredentialStatus,
    Flavor,
    FloatingIP,
    Image,
    Instance,
    Job,
    JobEvent,
    JobFiles,
    JobId,
    KeyPair,
    LaunchRequest,
    Project,
    Quota,
    StorageNode,
    StorageQuota,
    SubmitResult,
)

# --------------------------------------------------------------------------- errors


class ClientError(Exception):
    """Base of every error a client raises. ``message`` is one line meant for the user."""

    #: Short label for notifications ("Not found", "Quota exceeded", ...).
    title = "Error"
    #: Whether retrying the same call later may succeed (the Poller backs off and retries).
    transient = False

    def __init__(self, message: str, *, details: str | None = None) -> None:
        one_line = " ".join(message.split()) or self.title
        super().__init__(one_line)
        self.message = one_line
        self.details = details

    def __str__(self) -> str:
        return self.message


class AuthError(ClientError):
    """Credentials are missing, wrong or expired; the user must (re-)authenticate."""

    title = "Authentication"


class NotFound(ClientError):
    """The resource does not exist (any more)."""

    title = "Not found"


class QuotaExceeded(ClientError):
    """The project's quota does not allow this."""

    title = "Quota exceeded"


class Conflict(ClientError):
    """The resource is in a state that forbids this action (in use, busy, taken)."""

    title = "Conflict"


class Unavailable(ClientError):
    """The service cannot be reached or timed out; retrying later may work."""

    title = "Unavailable"
    transient = True


class InvalidInput(ClientError):
    """The request itself is wrong (bad name, bad key, bad submit file)."""

    title = "Invalid input"


#: Progress callback for transfers: (bytes done, bytes total or None).
ProgressCallback = Callable[[int, int | None], None]


# --------------------------------------------------------------------------- services


class ServiceClient(Protocol):
    """What every client has: a label for the header and a way to release resources."""

    @property
    def backend_label(self) -> str:
        """Short name of the backend for the header badge, e.g. ``SANDBOX`` or a cloud name."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and files. Safe to call twice."""
        ...


@runtime_checkable
class CloudClient(ServiceClient, Protocol):
    """OpenStack: projects, flavors, images, key pairs, floating IPs and instances."""

    async def list_projects(self) -> Sequence[Project]: ...

    async def current_project(self) -> Project | None:
        """The project the client is scoped to, or None before one is chosen."""
        ...

    async def switch_project(self, project_id: str) -> Project:
        """Re-scope to another project of the user; raises NotFound for an unknown id."""
        ...

    async def get_quota(self) -> Quota: ...

    async def list_flavors(self) -> Sequence[Flavor]: ...

    async def list_images(self) -> Sequence[Image]:
        """Images and instance snapshots visible to the project."""
        ...

    async def delete_image(self, image_id: str) -> None:
        """Delete a snapshot; Conflict when an instance still uses it."""
        ...

    async def list_keypairs(self) -> Sequence[KeyPair]: ...

    async def import_keypair(self, name: str, public_key: str) -> KeyPair:
        """Register an SSH public key; InvalidInput for a malformed key, Conflict for a name."""
        ...

    async def delete_keypair(self, name: str) -> None: ...

    async def list_floating_ips(self) -> Sequence[FloatingIP]: ...

    async def allocate_floating_ip(self) -> FloatingIP:
        """Allocate from the external network; QuotaExceeded when the project's IPs are taken."""
        ...

    async def associate_floating_ip(self, floating_ip_id: str, instance_id: str) -> FloatingIP: ...

    async def disassociate_floating_ip(self, floating_ip_id: str) -> FloatingIP: ...

    async def release_floating_ip(self, floating_ip_id: str) -> None: ...

    async def list_instances(self) -> Sequence[Instance]: ...

    async def get_instance(self, instance_id: str) -> Instance: ...

    async def launch_instance(self, request: LaunchRequest) -> Instance: ...

    async def start_instance(self, instance_id: str) -> None: ...

    async def stop_instance(self, instance_id: str) -> None: ...

    async def reboot_instance(self, instance_id: str, *, hard: bool = False) -> None: ...

    async def delete_instance(self, instance_id: str) -> None: ...

    async def create_snapshot(self, instance_id: str, name: str) -> Image:
        """Start a snapshot; the image goes queued -> saving -> active."""
        ...


@runtime_checkable
class SupportsConsoleLog(Protocol):
    """A cloud backend that can show an instance's console output."""

    async def console_log(self, instance_id: str, *, lines: int = 200) -> str: ...


@runtime_checkable
class QueueClient(ServiceClient, Protocol):
    """HTCondor: jobs, batches, actions, submission and job events."""

    async def list_jobs(self, *, all_users: bool = False) -> Sequence[Job]: ...

    async def list_batches(self, *, all_users: bool = False) -> Sequence[Batch]: ...

    async def job_ad(self, job_id: JobId) -> Mapping[str, object]:
        """The job's full ClassAd, attribute name to value."""
        ...

    async def hold(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        """Hold jobs; returns how many changed."""
        ...

    async def release(self, job_ids: Sequence[JobId]) -> int: ...

    async def remove(self, job_ids: Sequence[JobId], reason: str = "") -> int: ...

    async def submit(
        self,
        description: str,
        *,
        itemdata: Sequence[Mapping[str, str]] | None = None,
        submit_dir: Path | None = None,
    ) -> SubmitResult:
        """Submit an HTCondor submit description; InvalidInput when it does not parse."""
        ...

    async def job_files(self, job_id: JobId) -> JobFiles: ...

    async def events_since(self, cursor: object | None) -> tuple[Sequence[JobEvent], object]:
        """Job events after ``cursor`` (None: from now) and the cursor to pass next time."""
        ...


@runtime_checkable
class SupportsHistory(Protocol):
    """A queue backend that remembers finished jobs."""

    async def history(self, *, limit: int = 100, all_users: bool = False) -> Sequence[Job]: ...


@runtime_checkable
class SupportsLocalJobs(Protocol):
    """A queue whose jobs run on this machine (the sandbox executor), several at once.

    Its jobs call this Python (``local_job_command``) with one detection worker each, instead
    of the snapshot's ``canfar-tui`` with every CPU of a batch VM.
    """

    def local_job_command(self) -> tuple[str, ...]: ...


@runtime_checkable
class SupportsQueueDefaults(Protocol):
    """A queue whose own configuration says whose jobs plain ``condor_q`` lists."""

    async def all_users_by_default(self) -> bool:
        """True when the pool lists every user's jobs by default (``CONDOR_Q_ONLY_MY_JOBS``
        False, as on CANFAR's batch host)."""
        ...


@runtime_checkable
class SupportsPoolMachines(Protocol):
    """A queue that can list its pool's machines' ``VMType`` (for "why idle")."""

    async def machine_vm_types(self) -> Sequence[str]: ...


#: Job attributes a user may change on a held or idle job of theirs (``condor_qedit``), with
#: their canonical spelling. Anything else (``Cmd``, ``Owner``, ``Iwd``, file names…) is refused:
#: changing it would make the job something else, so submit a new one instead.
EDITABLE_JOB_ATTRIBUTES: tuple[str, ...] = (
    "Arguments",
    "Environment",
    "RequestCpus",
    "RequestMemory",
    "RequestDisk",
    "Requirements",
    "VMImage",
    "VMInstanceType",
)


@runtime_checkable
class SupportsEditJob(Protocol):
    """A queue backend that can change a held or idle job before it runs (``condor_qedit``)."""

    async def edit_job(self, job_id: JobId, attributes: Mapping[str, str]) -> None:
        """Set ``attributes`` (name to ClassAd expression) of one of the user's jobs.

        Names come from :data:`EDITABLE_JOB_ATTRIBUTES` (any case, ``+VMImage`` allowed);
        values are ClassAd expressions, so text is quoted (:func:`classad_string`):
        ``{"Arguments": '"1056215p --fast"', "RequestMemory": "4096"}``. ``Arguments`` and
        ``Environment`` use HTCondor's new (V2) syntax, the ``Request*`` values are whole
        numbers (``RequestMemory`` in MB, ``RequestDisk`` in KiB), ``Requirements`` is any
        expression. Every value is checked before anything changes: InvalidInput for another
        attribute or a bad value, NotFound for an unknown job, AuthError for another user's
        job, Conflict for a job that is neither held nor idle. The job keeps its state: a held
        job runs with the new values once released.
        """
        ...


def editable_job_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """``attributes`` with canonical names, or InvalidInput naming the first refused one.

    Only the names are checked here (and that each value is non-empty text); the backends
    check the values.
    """
    canonical = {name.lower(): name for name in EDITABLE_JOB_ATTRIBUTES}
    result: dict[str, str] = {}
    for name, value in attributes.items():
        key = str(name).strip()
        key = key[1:] if key.startswith("+") else key
        key = key[3:] if key.lower().startswith("my.") else key
        found = canonical.get(key.lower())
        if found is None:
            allowed = ", ".join(EDITABLE_JOB_ATTRIBUTES)
            raise InvalidInput(f"{name} cannot be edited; only {allowed} can.")
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{found} needs a value (a ClassAd expression).")
        if found in result:
            raise InvalidInput(f"{found} is given twice.")
        result[found] = value.strip()
    if not result:
        raise InvalidInput("Nothing to change: no attribute was given.")
    return result


def classad_string(text: str) -> str:
    """``text`` as a ClassAd string literal (quotes and backslashes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@runtime_checkable
class StorageClient(ServiceClient, Protocol):
    """VOSpace: nodes, verified transfers and quota."""

    @property
    def home_uri(self) -> str:
        """The user's VOSpace root, e.g. ``vos:username``."""
        ...

    async def list_nodes(
        self, uri: str, *, limit: int | None = None, start_after: str | None = None
    ) -> Sequence[StorageNode]:
        """Children of a container, in name order, at most ``limit`` after ``start_after``."""
        ...

    async def stat(self, uri: str) -> StorageNode: ...

    async def mkdir(self, uri: str) -> StorageNode: ...

    async def delete(self, uri: str, *, recursive: bool = False) -> None: ...

    async def move(self, source_uri: str, destination_uri: str) -> StorageNode: ...

    async def upload(
        self, local_path: Path, uri: str, *, progress: ProgressCallback | None = None
    ) -> StorageNode:
        """Upload and verify the MD5 before returning; on failure nothing half-written stays."""
        ...

    async def download(
        self, uri: str, local_path: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        """Download to a temp file, verify the MD5, then rename into place."""
        ...

    async def quota(self) -> StorageQuota: ...


@runtime_checkable
class CredentialsClient(ServiceClient, Protocol):
    """CADC credentials: netrc entry and proxy certificate."""

    async def status(self) -> CredentialStatus: ...

    async def renew_certificate(self, *, days_valid: int = 10) -> CredentialStatus:
        """Obtain a new proxy certificate like ``cadc-get-cert -n``."""
        ...


def expiry_text(expires_at: datetime | None, now: datetime) -> str:
    """Human text for a certificate expiry: ``"9d 23h"``, ``"5h 12m"``, ``"expired"``."""
    if expires_at is None:
        return "no certificate"
    seconds = (expires_at - now).total_seconds()
    if seconds <= 0:
        return "expired"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m"
