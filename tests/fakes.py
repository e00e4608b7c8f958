"""Test doubles for the shell tests: fixed cloud and queue rows; the cloud can be told to fail.

The sandbox backend is what users run and is tested on its own (tests/contract, tests/unit);
the shell's snapshot tests need rows that never change between runs (no clock, no random ids),
and the error-handler tests need a client that fails on demand. That is all this does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from canfar_tui.clients.base import ClientError, NotFound
from canfar_tui.models import (
    Batch,
    Flavor,
    FloatingIP,
    Image,
    ImageKind,
    Instance,
    Job,
    JobEvent,
    JobFiles,
    JobId,
    JobStatus,
    KeyPair,
    LaunchRequest,
    Project,
    Quota,
    QuotaUsage,
    SubmitResult,
)

FIXED_TIME = datetime(2026, 11, 24, 9, 30, 0)


class FixedCloud:
    """A CloudClient over fixed data; set ``failure`` to make every read raise it."""

    backend_label = "SANDBOX"

    def __init__(self, instances: int = 3) -> None:
        self.failure: ClientError | None = None
        self.calls = 0
        self.deleted: list[str] = []
        self.projects = [
            Project("p-demo", "canfar-batch-demo", "Batch processing demo"),
            Project("p-survey", "canfar-survey", "Survey reductions"),
        ]
        self.current = self.projects[0]
        self.instances = [
            Instance(
                id=f"i-{n:03d}",
                name=f"catalogue-vm-{n}",
                status="ACTIVE" if n % 2 else "SHUTOFF",
                power_state="Running" if n % 2 else "Shutdown",
                addresses=(f"192.168.0.{10 + n}",),
                floating_ip="206.12.0.5" if n == 1 else None,
                flavor_name="c2-7.5gb-30",
                image_name="canfar-ubuntu-20.04",
                key_name="laptop",
                created_at=FIXED_TIME,
                project_id="p-demo",
            )
            for n in range(1, instances + 1)
        ]

    def _check(self) -> None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure

    async def aclose(self) -> None:
        return None

    async def list_projects(self) -> Sequence[Project]:
        self._check()
        return self.projects

    async def current_project(self) -> Project | None:
        self._check()
        return self.current

    async def switch_project(self, project_id: str) -> Project:
        self._check()
        for project in self.projects:
            if project.id == project_id:
                self.current = project
                return project
        raise NotFound(f"no project {project_id}")

    async def get_quota(self) -> Quota:
        self._check()
        return Quota(self.current.id, (QuotaUsage("instances", len(self.instances), 10),))

    async def list_flavors(self) -> Sequence[Flavor]:
        self._check()
        return [Flavor("f1", "c2-7.5gb-30", 2, 7680, 20, 31)]

    async def list_images(self) -> Sequence[Image]:
        self._check()
        return [
            Image(
                "img-1",
                "canfar-ubuntu-20.04",
                "active",
                visibility="public",
                size_bytes=2_500_000_000,
                created_at=FIXED_TIME,
                os_distro="ubuntu",
            ),
            Image(
                "img-2",
                "image-reduction-2023-08-21",
                "active",
                kind=ImageKind.SNAPSHOT,
                size_bytes=3_100_000_000,
                created_at=FIXED_TIME,
                source_instance_id="i-001",
            ),
        ]

    async def delete_image(self, image_id: str) -> None:
        self._check()

    async def list_keypairs(self) -> Sequence[KeyPair]:
        self._check()
        return [KeyPair("laptop", "aa:bb")]

    async def import_keypair(self, name: str, public_key: str) -> KeyPair:
        raise NotImplementedError

    async def delete_keypair(self, name: str) -> None:
        raise NotImplementedError

    async def list_floating_ips(self) -> Sequence[FloatingIP]:
        self._check()
        return [FloatingIP("fip-1", "206.12.0.5", "ACTIVE", "ext-net", "192.168.0.11", "i-001")]

    async def allocate_floating_ip(self) -> FloatingIP:
        raise NotImplementedError

    async def associate_floating_ip(self, floating_ip_id: str, instance_id: str) -> FloatingIP:
        raise NotImplementedError

    async def disassociate_floating_ip(self, floating_ip_id: str) -> FloatingIP:
        raise NotImplementedError

    async def release_floating_ip(self, floating_ip_id: str) -> None:
        self._check()

    async def list_instances(self) -> Sequence[Instance]:
        self._check()
        return list(self.instances)

    async def get_instance(self, instance_id: str) -> Instance:
        self._check()
        for instance in self.instances:
            if instance.id == instance_id:
                return instance
        raise NotFound(f"no instance {instance_id}")

    async def launch_instance(self, request: LaunchRequest) -> Instance:
        raise NotImplementedError

    async def start_instance(self, instance_id: str) -> None:
        raise NotImplementedError

    async def stop_instance(self, instance_id: str) -> None:
        raise NotImplementedError

    async def reboot_instance(self, instance_id: str, *, hard: bool = False) -> None:
        raise NotImplementedError

    async def delete_instance(self, instance_id: str) -> None:
        self._check()
        self.deleted.append(instance_id)
        self.instances = [i for i in self.instances if i.id != instance_id]

    async def create_snapshot(self, instance_id: str, name: str) -> Image:
        raise NotImplementedError


class FixedQueue:
    """A QueueClient over a fixed batch of the seed's four exposures (for snapshots)."""

    backend_label = "SANDBOX"

    def __init__(self) -> None:
        statuses = (JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.RUNNING, JobStatus.IDLE)
        self.jobs = [
            Job(
                id=JobId(42, proc),
                owner="sandbox-user",
                status=status,
                command="do_catalogue.bash",
                arguments=exposure,
                batch_name="do_catalogue",
                submitted=FIXED_TIME,
            )
            for proc, (exposure, status) in enumerate(
                zip(("1056215p", "1056216p", "1056217p", "1056218p"), statuses, strict=True)
            )
        ]

    async def aclose(self) -> None:
        return None

    async def list_jobs(self, *, all_users: bool = False) -> Sequence[Job]:
        return [job for job in self.jobs if job.status is not JobStatus.COMPLETED]

    async def list_batches(self, *, all_users: bool = False) -> Sequence[Batch]:
        queued = await self.list_jobs()
        return [
            Batch(
                owner="sandbox-user",
                name="do_catalogue",
                submitted=FIXED_TIME,
                done=1,
                running=2,
                idle=1,
                held=0,
                total=4,
                job_ids=tuple(job.id for job in queued),
            )
        ]

    async def history(self, *, limit: int = 100, all_users: bool = False) -> Sequence[Job]:
        return [job for job in self.jobs if job.status is JobStatus.COMPLETED]

    async def job_ad(self, job_id: JobId) -> Mapping[str, object]:
        return {"ClusterId": job_id.cluster, "ProcId": job_id.proc}

    async def hold(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return 0

    async def release(self, job_ids: Sequence[JobId]) -> int:
        return 0

    async def remove(self, job_ids: Sequence[JobId], reason: str = "") -> int:
        return 0

    async def submit(
        self,
        description: str,
        *,
        itemdata: Sequence[Mapping[str, str]] | None = None,
        submit_dir: Path | None = None,
    ) -> SubmitResult:
        raise NotImplementedError

    async def job_files(self, job_id: JobId) -> JobFiles:
        return JobFiles()

    async def events_since(self, cursor: object | None) -> tuple[Sequence[JobEvent], object]:
        return [], cursor
