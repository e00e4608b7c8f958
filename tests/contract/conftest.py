"""Fixtures for the CloudClient contract suite: one set of tests, run against every backend.

Backends are registered in :data:`CLOUD_BACKENDS` by name. ``sandbox`` always runs (fresh
state in ``tmp_path``, short real delays). ``openstack`` is marked ``integration`` and runs when
the cloud started by ``scripts/openstack/start.sh`` is found (``CANFAR_TUI_OPENSTACK_CLOUD`` and
friends, or ``.services/openstack/env``; see ``tests/openstack_services.py``); otherwise it
skips, or fails when ``CANFAR_TUI_REQUIRE_SERVICES=1``.

Tests talk to the backend through :class:`CloudHarness` (fixture ``cloud``): it polls for state
changes with a timeout instead of relying on a fake clock, so a real OpenStack can pass the same
tests, and it deletes what a test created (a real cloud is shared by all tests and the project
has one floating IP).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from openstack_services import finish_snapshot, openstack_service_or_skip
from polling import poll_until

from canfar_tui.clients.base import ClientError, CloudClient, NotFound
from canfar_tui.models import Flavor, FloatingIP, Image, Instance, KeyPair, LaunchRequest

T = TypeVar("T")

SEED_IMAGE = "canfar-ubuntu-20.04"
SEED_FLAVOR = "c2-7.5gb-30"


@dataclass(frozen=True)
class CloudBackend:
    """How to build one backend for the contract suite and how patient to be with it."""

    name: str
    #: Builds a fresh client; receives the test's tmp_path.
    factory: Callable[[Path], Awaitable[CloudClient]]
    #: Longest wait for one state change (BUILD -> ACTIVE, saving -> active, deleted), seconds.
    timeout: float
    #: Pause between two polls, seconds.
    poll_interval: float
    #: Called right after create_snapshot with the new image's id. A real cloud whose compute
    #: driver uploads no bytes (nova's fake driver) uses it to upload some so the image can
    #: become active; None when the backend needs nothing.
    finish_snapshot: Callable[[CloudClient, str], Awaitable[None]] | None = None
    marks: tuple[pytest.MarkDecorator, ...] = ()


# --------------------------------------------------------------------------- backends


async def _make_sandbox(tmp_path: Path) -> CloudClient:
    from canfar_tui.clients.cloud.sandbox import SandboxCloud

    return SandboxCloud(
        tmp_path / "sandbox" / "cloud.sqlite",
        build_seconds=0.25,
        snapshot_seconds=0.4,
        username="contract-user",
    )


async def _make_openstack(tmp_path: Path) -> CloudClient:
    """The openstacksdk backend, logged in to the test cloud like a CANFAR user would be.

    The clouds.yaml cloud holds no password; the client asks its password provider, which
    reads this run's password file.
    """
    from canfar_tui.clients.cloud.openstack import OpenStackCloud

    service = openstack_service_or_skip()
    return OpenStackCloud.from_cloud(
        service.cloud,
        clouds_yaml=service.clouds_yaml,
        password_provider=service.password,
        call_timeout=120.0,
    )


async def _finish_openstack_snapshot(client: CloudClient, image_id: str) -> None:
    """Nova's fake driver uploads no snapshot bytes: upload some so the image turns active."""
    project = await client.current_project()
    assert project is not None
    await finish_snapshot(openstack_service_or_skip(), project.id, image_id)


CLOUD_BACKENDS: dict[str, CloudBackend] = {
    "sandbox": CloudBackend("sandbox", _make_sandbox, timeout=10.0, poll_interval=0.02),
    "openstack": CloudBackend(
        "openstack",
        _make_openstack,
        timeout=180.0,
        poll_interval=1.0,
        finish_snapshot=_finish_openstack_snapshot,
        marks=(pytest.mark.integration,),
    ),
}


@pytest.fixture(
    params=[pytest.param(name, marks=backend.marks) for name, backend in CLOUD_BACKENDS.items()]
)
def cloud_backend(request: pytest.FixtureRequest) -> CloudBackend:
    return CLOUD_BACKENDS[request.param]


@pytest.fixture
async def cloud_client(cloud_backend: CloudBackend, tmp_path: Path) -> AsyncIterator[CloudClient]:
    client = await cloud_backend.factory(tmp_path)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def cloud(cloud_client: CloudClient, cloud_backend: CloudBackend) -> AsyncIterator[Any]:
    harness = CloudHarness(cloud_client, cloud_backend)
    try:
        yield harness
    finally:
        await harness.cleanup()


# --------------------------------------------------------------------------- harness


@dataclass
class _Created:
    instances: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    floating_ips: list[tuple[str, str]] = field(default_factory=list)
    keypairs: list[str] = field(default_factory=list)


class CloudHarness:
    """A client plus waiting helpers and a record of what the test created."""

    def __init__(self, client: CloudClient, backend: CloudBackend) -> None:
        self.client = client
        self.backend = backend
        self._created = _Created()

    # ----------------------------------------------------------------- waiting

    async def wait_for(
        self,
        fetch: Callable[[], Awaitable[T]],
        predicate: Callable[[T], bool],
        what: str,
        *,
        timeout: float | None = None,
    ) -> T:
        """Poll ``fetch`` until ``predicate`` holds; fail the test with ``what`` on timeout."""
        return await poll_until(fetch, predicate, what, self.backend, timeout=timeout)

    async def wait_instance(self, instance_id: str, status: str) -> Instance:
        """Wait until the instance has ``status`` and no task in progress."""
        return await self.wait_for(
            lambda: self.client.get_instance(instance_id),
            lambda inst: inst.status == status and inst.task_state is None,
            f"instance {instance_id} to be {status}",
        )

    async def wait_gone(self, instance_id: str) -> None:
        async def gone() -> bool:
            try:
                await self.client.get_instance(instance_id)
            except NotFound:
                return True
            return False

        await self.wait_for(gone, bool, f"instance {instance_id} to be deleted")

    async def find_image(self, image_id: str) -> Image | None:
        return next((img for img in await self.client.list_images() if img.id == image_id), None)

    async def wait_image(self, image_id: str, status: str) -> Image:
        image = await self.wait_for(
            lambda: self.find_image(image_id),
            lambda img: img is not None and img.status == status,
            f"image {image_id} to be {status}",
        )
        assert image is not None
        return image

    # ----------------------------------------------------------------- lookups

    @staticmethod
    def unique(prefix: str = "ct") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    async def flavor(self, name: str = SEED_FLAVOR) -> Flavor:
        flavors = {flavor.name: flavor for flavor in await self.client.list_flavors()}
        assert name in flavors, f"flavor {name} missing; have {sorted(flavors)}"
        return flavors[name]

    async def image(self, name: str = SEED_IMAGE) -> Image:
        images = {image.name: image for image in await self.client.list_images()}
        assert name in images, f"image {name} missing; have {sorted(images)}"
        return images[name]

    async def project_id(self) -> str:
        project = await self.client.current_project()
        assert project is not None
        return project.id

    # ----------------------------------------------------------------- creating (tracked)

    async def launch(
        self,
        *,
        name: str | None = None,
        image_id: str | None = None,
        flavor_name: str = SEED_FLAVOR,
        key_name: str | None = None,
        wait: bool = True,
    ) -> Instance:
        request = LaunchRequest(
            name=name or self.unique("ct-vm"),
            image_id=image_id or (await self.image()).id,
            flavor_id=(await self.flavor(flavor_name)).id,
            key_name=key_name,
        )
        instance = await self.client.launch_instance(request)
        self._created.instances.append((await self.project_id(), instance.id))
        if wait:
            instance = await self.wait_instance(instance.id, "ACTIVE")
        return instance

    async def allocate_ip(self) -> FloatingIP:
        fip = await self.client.allocate_floating_ip()
        self._created.floating_ips.append((await self.project_id(), fip.id))
        return fip

    async def import_key(self, name: str, public_key: str) -> KeyPair:
        keypair = await self.client.import_keypair(name, public_key)
        self._created.keypairs.append(name)
        return keypair

    async def snapshot(self, instance_id: str, name: str | None = None) -> Image:
        image = await self.client.create_snapshot(instance_id, name or self.unique("ct-snap"))
        self._created.images.append((await self.project_id(), image.id))
        if self.backend.finish_snapshot is not None:
            await self.backend.finish_snapshot(self.client, image.id)
        return image

    # ----------------------------------------------------------------- cleanup

    async def _in_project(self, project_id: str) -> None:
        if await self.project_id() != project_id:
            await self.client.switch_project(project_id)

    async def cleanup(self) -> None:
        """Delete what the test created, in every project it used; errors are ignored."""
        created = self._created
        quiet = contextlib.suppress(ClientError, pytest.fail.Exception, AssertionError)
        for project_id, instance_id in created.instances:
            with quiet:
                await self._in_project(project_id)
                await self.client.delete_instance(instance_id)
        for project_id, instance_id in created.instances:
            with quiet:
                await self._in_project(project_id)
                await self.wait_gone(instance_id)
        for project_id, image_id in created.images:
            with quiet:
                await self._in_project(project_id)
                await self.client.delete_image(image_id)
        for project_id, fip_id in created.floating_ips:
            with quiet:
                await self._in_project(project_id)
                await self.client.release_floating_ip(fip_id)
        for name in created.keypairs:
            with quiet:
                await self.client.delete_keypair(name)
