"""The seed's Batch Quick Start, every OpenStack step, through the openstacksdk backend.

Runs against the real OpenStack started by ``scripts/openstack/start.sh`` (keystone, glance,
placement, neutron, nova with the fake compute driver) and seeded like arbutus-canfar; skips
without it, fails without it when ``CANFAR_TUI_REQUIRE_SERVICES=1``.

Log in with the username and password, choose among the projects, import an SSH key, allocate
the project's floating IP (a second one is "Quota exceeded"), launch ``canfar-ubuntu-20.04`` on
``c2-7.5gb-30``, wait for Running, associate the IP, snapshot it (saving → active), delete the
instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from openstack_services import OpenStackService, finish_snapshot, openstack_service_or_skip

from canfar_tui.clients.base import AuthError, ClientError, NotFound, QuotaExceeded
from canfar_tui.clients.cloud.openstack import OpenStackCloud
from canfar_tui.logs import setup_logging
from canfar_tui.models import ImageKind, LaunchRequest

pytestmark = pytest.mark.integration

T = TypeVar("T")

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09XMBAQUBKMPuj3d "
    "contract@canfar-tui"
)
PUBLIC_KEY_MD5 = "49:81:e0:e8:1c:71:12:8e:a5:34:19:52:d2:9f:48:50"
# Waiting for the cloud is not what is tested: be patient, poll, fail with what was seen.
PATIENCE = 180.0


async def wait_until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    deadline = time.monotonic() + PATIENCE
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(1.0)


@pytest.fixture
def openstack_service() -> OpenStackService:
    return openstack_service_or_skip()


@pytest.fixture
async def logged_in(openstack_service: OpenStackService) -> AsyncIterator[OpenStackCloud]:
    """Logged in the way the login screen does it: username and password, no project."""
    client = OpenStackCloud.from_password(
        openstack_service.auth_url,
        openstack_service.username,
        openstack_service.password(),
        call_timeout=120.0,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def test_walks_the_batch_quick_start(
    logged_in: OpenStackCloud, openstack_service: OpenStackService
) -> None:
    client = logged_in
    suffix = uuid.uuid4().hex[:6]
    created_instance: str | None = None
    created_image: str | None = None
    created_ip: str | None = None
    key_name = f"walk-key-{suffix}"
    try:
        # Log in and choose a project.
        projects = {project.name: project for project in await client.list_projects()}
        assert {"canfar-batch-demo", "canfar-survey"} <= set(projects)
        first = await client.current_project()
        assert first is not None and first.name == "canfar-batch-demo"
        survey = await client.switch_project(projects["canfar-survey"].id)
        assert survey.name == "canfar-survey"
        current = await client.current_project()
        assert current is not None and current.id == survey.id
        quota = await client.get_quota()
        assert quota.project_id == survey.id
        fip_quota = quota.get("floating_ips")
        assert fip_quota is not None and (fip_quota.used, fip_quota.limit) == (0, 1)

        # Import an SSH key.
        keypair = await client.import_keypair(key_name, PUBLIC_KEY)
        assert keypair.fingerprint == PUBLIC_KEY_MD5
        assert key_name in {kp.name for kp in await client.list_keypairs()}

        # Allocate the project's floating IP; there is no second one.
        fip = await client.allocate_floating_ip()
        created_ip = fip.id
        assert fip.address and fip.instance_id is None
        assert fip.network == "Public-Network"
        with pytest.raises(QuotaExceeded) as refused:
            await client.allocate_floating_ip()
        assert refused.value.message.startswith("Quota exceeded")
        assert "canfar-survey" in refused.value.message
        assert [item.id for item in await client.list_floating_ips()] == [fip.id]

        # Launch canfar-ubuntu-20.04 on c2-7.5gb-30 with the key, wait for Running.
        image = next(i for i in await client.list_images() if i.name == "canfar-ubuntu-20.04")
        flavor = next(f for f in await client.list_flavors() if f.name == "c2-7.5gb-30")
        assert (flavor.vcpus, flavor.ram_mb, flavor.ephemeral_gb) == (2, 7680, 31)
        launched = await client.launch_instance(
            LaunchRequest(f"walk-vm-{suffix}", image.id, flavor.id, key_name=key_name)
        )
        created_instance = launched.id
        assert launched.project_id == survey.id
        running = await wait_until(
            lambda: client.get_instance(launched.id),
            lambda inst: inst.status == "ACTIVE" and inst.task_state is None,
            "the instance to be ACTIVE",
        )
        assert running.power_state == "Running"
        assert running.image_name == "canfar-ubuntu-20.04"
        assert running.flavor_name == "c2-7.5gb-30"
        assert running.key_name == key_name
        assert any(address.startswith("192.168.") for address in running.addresses)

        # Associate the floating IP: the SSH command is ubuntu@IP.
        associated = await client.associate_floating_ip(fip.id, running.id)
        assert associated.instance_id == running.id
        assert associated.fixed_address in running.addresses
        shown = await client.get_instance(running.id)
        assert shown.floating_ip == fip.address
        assert f"{image.default_login_user}@{shown.floating_ip}" == f"ubuntu@{fip.address}"

        # Snapshot it and see it become active.
        snapshot = await client.create_snapshot(running.id, f"walk-snap-{suffix}")
        created_image = snapshot.id
        assert snapshot.kind is ImageKind.SNAPSHOT
        assert snapshot.source_instance_id == running.id
        assert snapshot.status in {"queued", "saving", "active"}
        await finish_snapshot(openstack_service, survey.id, snapshot.id)
        images = await wait_until(
            client.list_images,
            lambda found: any(i.id == snapshot.id and i.status == "active" for i in found),
            "the snapshot to be active",
        )
        active = next(i for i in images if i.id == snapshot.id)
        assert active.kind is ImageKind.SNAPSHOT and active.os_distro == "ubuntu"

        # Delete the instance; its floating IP is free again.
        await client.delete_instance(running.id)

        async def gone() -> bool:
            try:
                await client.get_instance(running.id)
            except NotFound:
                return True
            return False

        await wait_until(gone, bool, "the instance to be deleted")
        created_instance = None
        freed = {item.id: item for item in await client.list_floating_ips()}
        assert freed[fip.id].instance_id is None
    finally:
        with contextlib.suppress(ClientError):
            if created_instance is not None:
                await client.delete_instance(created_instance)
                await asyncio.sleep(3)
        with contextlib.suppress(ClientError):
            if created_image is not None:
                await client.delete_image(created_image)
        with contextlib.suppress(ClientError):
            if created_ip is not None:
                await client.release_floating_ip(created_ip)
        with contextlib.suppress(ClientError):
            await client.delete_keypair(key_name)


async def test_the_openrc_file_asks_once_and_a_wrong_password_is_refused(
    openstack_service: OpenStackService, tmp_path: Path
) -> None:
    log_file = tmp_path / "canfar-tui.log"
    logger = setup_logging(log_file, level=logging.DEBUG)
    answers = ["wrong-" + uuid.uuid4().hex, openstack_service.password()]
    asked: list[str] = []

    def prompt() -> str:
        asked.append(answers[len(asked)])
        return asked[-1]

    client = OpenStackCloud.from_openrc(openstack_service.openrc, password_provider=prompt)
    try:
        assert client.openrc_warnings == ()
        with pytest.raises(AuthError) as refused:
            await client.list_projects()
        assert "refused the username or password" in refused.value.message
        assert openstack_service.username in refused.value.message

        names = {project.name for project in await client.list_projects()}
        assert {"canfar-batch-demo", "canfar-survey"} <= names
        await client.get_quota()
        await client.list_instances()
        assert len(asked) == 2, "asked once, and once more only after the refusal"
    finally:
        await client.aclose()
        for handler in list(logger.handlers):
            if getattr(handler, "baseFilename", "") == str(log_file):
                logger.removeHandler(handler)
                handler.close()
    text = log_file.read_text(encoding="utf-8")
    assert "logged in to" in text
    for password in asked:
        assert password not in text
