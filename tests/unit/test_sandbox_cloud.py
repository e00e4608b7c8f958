"""Sandbox cloud specifics: seed data, fake-clock state machine, quota maths, persistence."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from canfar_tui.clients.base import (
    CloudClient,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SupportsConsoleLog,
    Unavailable,
)
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.models import Image, ImageKind, Instance, LaunchRequest

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09XMBAQUBKMPuj3d "
    "contract@canfar-tui"
)
PUBLIC_KEY_MD5 = "49:81:e0:e8:1c:71:12:8e:a5:34:19:52:d2:9f:48:50"

BUILD = 3.0
SNAPSHOT = 8.0
STEP = BUILD / 3  # stop, start, reboot and delete take a third of a build


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sandbox" / "cloud.sqlite"


def open_cloud(state_path: Path, clock: FakeClock, username: str = "astro") -> SandboxCloud:
    return SandboxCloud(
        state_path, build_seconds=BUILD, snapshot_seconds=SNAPSHOT, clock=clock, username=username
    )


@pytest.fixture
async def cloud(state_path: Path, clock: FakeClock) -> AsyncIterator[SandboxCloud]:
    client = open_cloud(state_path, clock)
    yield client
    await client.aclose()


async def ids(cloud: SandboxCloud) -> tuple[str, str]:
    images = {image.name: image.id for image in await cloud.list_images()}
    flavors = {flavor.name: flavor.id for flavor in await cloud.list_flavors()}
    return images["canfar-ubuntu-20.04"], flavors["c2-7.5gb-30"]


async def launch(
    cloud: SandboxCloud,
    name: str = "vm",
    *,
    flavor: str = "c2-7.5gb-30",
    image: str = "canfar-ubuntu-20.04",
    key_name: str | None = None,
    count: int = 1,
) -> Instance:
    images = {item.name: item.id for item in await cloud.list_images()}
    flavors = {item.name: item.id for item in await cloud.list_flavors()}
    request = LaunchRequest(
        name=name,
        image_id=images.get(image, image),
        flavor_id=flavors[flavor],
        key_name=key_name,
        count=count,
    )
    return await cloud.launch_instance(request)


async def running(cloud: SandboxCloud, clock: FakeClock, name: str = "vm") -> Instance:
    instance = await launch(cloud, name)
    clock.advance(BUILD)
    return await cloud.get_instance(instance.id)


async def used(cloud: SandboxCloud, resource: str) -> float:
    usage = (await cloud.get_quota()).get(resource)
    assert usage is not None
    return usage.used


def state(instance: Instance) -> tuple[str, str, str | None]:
    return instance.status, instance.power_state, instance.task_state


async def find_image(cloud: SandboxCloud, image_id: str) -> Image:
    return next(image for image in await cloud.list_images() if image.id == image_id)


# --------------------------------------------------------------------------- seed


async def test_is_a_cloud_client_with_console_log(cloud: SandboxCloud) -> None:
    assert isinstance(cloud, CloudClient)
    assert isinstance(cloud, SupportsConsoleLog)
    assert cloud.backend_label == "SANDBOX"


async def test_seeds_two_projects_and_starts_in_the_first(cloud: SandboxCloud) -> None:
    projects = await cloud.list_projects()
    assert [p.name for p in projects] == ["canfar-batch-demo", "canfar-survey"]
    assert all(len(p.id) == 32 and p.enabled for p in projects)
    current = await cloud.current_project()
    assert current == projects[0]


async def test_seeds_the_canfar_flavors(cloud: SandboxCloud) -> None:
    flavors = {f.name: f for f in await cloud.list_flavors()}
    c2 = flavors["c2-7.5gb-30"]
    assert (c2.vcpus, c2.ram_mb, c2.disk_gb, c2.ephemeral_gb) == (2, 7680, 20, 31)
    scratch = [f for f in flavors.values() if f.name.startswith("c")]
    persistent = [f for f in flavors.values() if f.name.startswith("p")]
    assert len(scratch) >= 3 and len(persistent) >= 2
    assert all(f.ephemeral_gb > 0 and not f.is_persistent for f in scratch)
    assert all(f.ephemeral_gb == 0 and f.is_persistent for f in persistent)
    assert all(f.is_public for f in flavors.values())


async def test_seeds_the_canfar_images(cloud: SandboxCloud) -> None:
    images = {i.name: i for i in await cloud.list_images()}
    assert set(images) == {"canfar-ubuntu-20.04", "canfar-rocky-8"}
    ubuntu, rocky = images["canfar-ubuntu-20.04"], images["canfar-rocky-8"]
    assert (ubuntu.os_distro, rocky.os_distro) == ("ubuntu", "rocky")
    for image in (ubuntu, rocky):
        assert image.status == "active"
        assert image.kind is ImageKind.IMAGE
        assert image.visibility == "public"
        assert image.size_bytes is not None and image.size_bytes > 1 << 30


async def test_quotas_per_project(cloud: SandboxCloud) -> None:
    quota = await cloud.get_quota()
    limits = {u.resource: (u.used, u.limit, u.unit) for u in quota.usages}
    assert limits == {
        "instances": (0, 4, ""),
        "cores": (0, 8, "vCPU"),
        "ram": (0, 30720, "MB"),
        "floating_ips": (0, 1, ""),
    }
    survey = (await cloud.list_projects())[1]
    await cloud.switch_project(survey.id)
    quota = await cloud.get_quota()
    assert quota.project_id == survey.id
    cores = quota.get("cores")
    assert cores is not None and cores.limit == 32


async def test_the_same_ids_on_every_machine(tmp_path: Path, clock: FakeClock) -> None:
    first = open_cloud(tmp_path / "a.sqlite", clock)
    second = open_cloud(tmp_path / "b.sqlite", clock)
    try:
        assert await first.list_projects() == await second.list_projects()
        assert await first.list_flavors() == await second.list_flavors()
        assert await first.list_images() == await second.list_images()
    finally:
        await first.aclose()
        await second.aclose()


# --------------------------------------------------------------------------- state file


def test_constructor_does_not_touch_the_disk(state_path: Path) -> None:
    SandboxCloud(state_path)
    assert not state_path.parent.exists()


async def test_state_file_is_private(cloud: SandboxCloud, state_path: Path) -> None:
    await cloud.list_projects()
    await cloud.allocate_floating_ip()
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_path.parent.stat().st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        companion = state_path.with_name(state_path.name + suffix)
        assert companion.exists(), suffix  # WAL mode, while the client is open
        assert stat.S_IMODE(companion.stat().st_mode) == 0o600, suffix


async def test_an_existing_readable_file_is_made_private(
    state_path: Path, clock: FakeClock
) -> None:
    # an existing state file (an empty one is refused as damaged: see test_damaged_state.py)
    cloud = open_cloud(state_path, clock)
    await cloud.list_projects()
    await cloud.aclose()
    os.chmod(state_path, 0o644)
    cloud = open_cloud(state_path, clock)
    try:
        assert len(await cloud.list_projects()) == 2
    finally:
        await cloud.aclose()
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600


async def test_everything_survives_a_restart(state_path: Path, clock: FakeClock) -> None:
    cloud = open_cloud(state_path, clock)
    survey = (await cloud.list_projects())[1]
    await cloud.switch_project(survey.id)
    await cloud.import_keypair("laptop", PUBLIC_KEY)
    fip = await cloud.allocate_floating_ip()
    instance = await launch(cloud, "vm1", key_name="laptop")
    await cloud.associate_floating_ip(fip.id, instance.id)
    await cloud.aclose()

    clock.advance(BUILD)  # the instance finishes building while the app is closed
    cloud = open_cloud(state_path, clock)
    try:
        assert (await cloud.current_project()) == survey
        assert [kp.name for kp in await cloud.list_keypairs()] == ["laptop"]
        again = await cloud.get_instance(instance.id)
        assert state(again) == ("ACTIVE", "Running", None)
        assert again.floating_ip == fip.address
        assert again.key_name == "laptop"
        assert [f.instance_id for f in await cloud.list_floating_ips()] == [instance.id]
        assert await used(cloud, "instances") == 1
    finally:
        await cloud.aclose()


async def test_a_damaged_state_file_is_unavailable(state_path: Path, clock: FakeClock) -> None:
    state_path.parent.mkdir(parents=True)
    state_path.write_bytes(b"this is not a database" * 100)
    cloud = open_cloud(state_path, clock)
    try:
        with pytest.raises(Unavailable) as raised:
            await cloud.list_projects()
        assert "\n" not in raised.value.message
        assert raised.value.transient
    finally:
        await cloud.aclose()


async def test_aclose_twice_then_calls_are_unavailable(cloud: SandboxCloud) -> None:
    await cloud.list_projects()
    await cloud.aclose()
    await cloud.aclose()
    with pytest.raises(Unavailable):
        await cloud.list_projects()


async def test_async_context_manager(state_path: Path, clock: FakeClock) -> None:
    async with open_cloud(state_path, clock) as cloud:
        assert len(await cloud.list_projects()) == 2
    with pytest.raises(Unavailable):
        await cloud.list_projects()


# --------------------------------------------------------------------------- concurrency


async def test_two_clients_on_one_file_see_each_other(state_path: Path, clock: FakeClock) -> None:
    first, second = open_cloud(state_path, clock), open_cloud(state_path, clock)
    try:
        results = await asyncio.gather(
            first.allocate_floating_ip(),
            second.allocate_floating_ip(),
            return_exceptions=True,
        )
        assert sorted(type(result).__name__ for result in results) == [
            "FloatingIP",
            "QuotaExceeded",
        ]
        assert await first.list_floating_ips() == await second.list_floating_ips()
        instance = await launch(first, "shared")
        assert [i.id for i in await second.list_instances()] == [instance.id]
    finally:
        await first.aclose()
        await second.aclose()


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from canfar_tui.clients.base import QuotaExceeded
    from canfar_tui.clients.cloud.sandbox import SandboxCloud

    async def main():
        cloud = SandboxCloud(Path(sys.argv[1]))
        try:
            projects = await cloud.list_projects()
            for index in range(20):
                await cloud.import_keypair(f"{sys.argv[2]}-{index}", sys.argv[3])
            try:
                await cloud.allocate_floating_ip()
                won = "ip"
            except QuotaExceeded:
                won = "quota"
            print(len(projects), won)
        finally:
            await cloud.aclose()

    asyncio.run(main())
    """
)


async def test_two_processes_share_the_state_safely(state_path: Path) -> None:
    async def child(tag: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            str(state_path),
            tag,
            PUBLIC_KEY,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode().strip()

    outputs = await asyncio.wait_for(asyncio.gather(child("a"), child("b")), 60)
    assert sorted(outputs) == ["2 ip", "2 quota"]
    cloud = SandboxCloud(state_path)
    try:
        assert len(await cloud.list_projects()) == 2
        assert len(await cloud.list_keypairs()) == 40
        assert len(await cloud.list_floating_ips()) == 1
    finally:
        await cloud.aclose()


# --------------------------------------------------------------------------- state machine


async def test_build_then_active(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await launch(cloud)
    assert state(instance) == ("BUILD", "No State", "spawning")
    assert instance.is_transitional
    clock.advance(BUILD - 0.01)
    assert state(await cloud.get_instance(instance.id))[0] == "BUILD"
    clock.advance(0.01)
    active = await cloud.get_instance(instance.id)
    assert state(active) == ("ACTIVE", "Running", None)
    assert not active.is_transitional
    assert active.addresses == ("192.168.1.10",)
    assert active.flavor_name == "c2-7.5gb-30"
    assert active.image_name == "canfar-ubuntu-20.04"
    assert active.created_at is not None and active.created_at.timestamp() == clock.now - BUILD


async def test_stop_start_reboot(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await running(cloud, clock)
    await cloud.stop_instance(instance.id)
    assert state(await cloud.get_instance(instance.id)) == ("ACTIVE", "Running", "powering-off")
    with pytest.raises(Conflict, match="powering-off"):
        await cloud.stop_instance(instance.id)
    clock.advance(STEP)
    assert state(await cloud.get_instance(instance.id)) == ("SHUTOFF", "Shut Down", None)

    with pytest.raises(Conflict):
        await cloud.reboot_instance(instance.id)
    await cloud.start_instance(instance.id)
    assert state(await cloud.get_instance(instance.id)) == ("SHUTOFF", "Shut Down", "powering-on")
    clock.advance(STEP)
    assert state(await cloud.get_instance(instance.id)) == ("ACTIVE", "Running", None)

    await cloud.reboot_instance(instance.id)
    assert state(await cloud.get_instance(instance.id)) == ("REBOOT", "Running", "rebooting")
    clock.advance(STEP)
    await cloud.stop_instance(instance.id)
    clock.advance(STEP)
    await cloud.reboot_instance(instance.id, hard=True)  # a hard reboot also starts it
    assert state(await cloud.get_instance(instance.id)) == (
        "HARD_REBOOT",
        "Shut Down",
        "rebooting_hard",
    )
    clock.advance(STEP)
    assert state(await cloud.get_instance(instance.id)) == ("ACTIVE", "Running", None)


async def test_actions_on_a_building_instance_conflict(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    instance = await launch(cloud)
    for action in (
        cloud.stop_instance(instance.id),
        cloud.start_instance(instance.id),
        cloud.reboot_instance(instance.id),
        cloud.create_snapshot(instance.id, "too-early"),
    ):
        with pytest.raises(Conflict, match=r"BUILD \(spawning\)"):
            await action
    assert [i.name for i in await cloud.list_images()] == ["canfar-rocky-8", "canfar-ubuntu-20.04"]


async def test_delete_is_brief_then_gone(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await running(cloud, clock)
    await cloud.delete_instance(instance.id)
    deleting = await cloud.get_instance(instance.id)
    assert state(deleting) == ("ACTIVE", "Running", "deleting")
    assert await used(cloud, "instances") == 1
    await cloud.delete_instance(instance.id)  # deleting twice is fine, like Nova
    with pytest.raises(Conflict):
        await cloud.create_snapshot(instance.id, "late")
    clock.advance(STEP)
    with pytest.raises(NotFound):
        await cloud.get_instance(instance.id)
    assert await cloud.list_instances() == []
    assert await used(cloud, "instances") == 0
    with pytest.raises(NotFound):
        await cloud.delete_instance(instance.id)


async def test_a_building_instance_can_be_deleted(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await launch(cloud)
    await cloud.delete_instance(instance.id)
    assert state(await cloud.get_instance(instance.id)) == ("BUILD", "No State", "deleting")
    clock.advance(STEP)
    assert await cloud.list_instances() == []


async def test_snapshot_queued_saving_active(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await running(cloud, clock)
    snapshot = await cloud.create_snapshot(instance.id, "image-reduction-2023-08-21")
    assert (snapshot.status, snapshot.kind, snapshot.visibility) == (
        "queued",
        ImageKind.SNAPSHOT,
        "private",
    )
    assert snapshot.size_bytes is None
    assert snapshot.source_instance_id == instance.id
    assert snapshot.os_distro == "ubuntu"
    assert (await cloud.get_instance(instance.id)).task_state == "image_snapshot"
    with pytest.raises(Conflict, match="image_snapshot"):
        await cloud.create_snapshot(instance.id, "second")
    with pytest.raises(Conflict):
        await cloud.stop_instance(instance.id)

    clock.advance(SNAPSHOT / 4)
    assert (await find_image(cloud, snapshot.id)).status == "saving"
    assert (await cloud.get_instance(instance.id)).task_state == "image_uploading"
    assert (await cloud.get_instance(instance.id)).is_transitional

    clock.advance(SNAPSHOT * 3 / 4)
    active = await find_image(cloud, snapshot.id)
    assert active.status == "active"
    assert active.size_bytes is not None and active.size_bytes > 1 << 30
    assert state(await cloud.get_instance(instance.id)) == ("ACTIVE", "Running", None)


async def test_snapshot_of_a_stopped_instance(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await running(cloud, clock)
    await cloud.stop_instance(instance.id)
    clock.advance(STEP)
    snapshot = await cloud.create_snapshot(instance.id, "cold")
    assert (await cloud.get_instance(instance.id)).status == "SHUTOFF"
    clock.advance(SNAPSHOT)
    assert (await find_image(cloud, snapshot.id)).status == "active"


async def test_deleting_during_a_snapshot_drops_the_unfinished_image(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    instance = await running(cloud, clock)
    snapshot = await cloud.create_snapshot(instance.id, "doomed")
    await cloud.delete_instance(instance.id)
    assert snapshot.id not in {image.id for image in await cloud.list_images()}


async def test_launch_from_a_snapshot_keeps_the_distro(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    source = await launch(cloud, "rocky-vm", image="canfar-rocky-8")
    clock.advance(BUILD)
    snapshot = await cloud.create_snapshot(source.id, "rocky-snap")
    with pytest.raises(Conflict, match="not active yet"):
        await launch(cloud, "too-soon", image=snapshot.id)
    clock.advance(SNAPSHOT)
    worker = await launch(cloud, "worker", image=snapshot.id)
    assert worker.image_name == "rocky-snap"
    clock.advance(BUILD)
    assert "for user rocky" in await cloud.console_log(worker.id)


# --------------------------------------------------------------------------- quotas


async def test_cores_quota(cloud: SandboxCloud, clock: FakeClock) -> None:
    await launch(cloud, "big", flavor="p4-7.5gb")
    await launch(cloud, "big2", flavor="p4-7.5gb")
    with pytest.raises(QuotaExceeded) as raised:
        await launch(cloud, "one-more", flavor="p1-1.5gb")
    assert raised.value.message == (
        "Quota exceeded for vCPUs: requested 1, but 8 of 8 are already in use."
    )
    usage = {u.resource: u.used for u in (await cloud.get_quota()).usages}
    assert usage == {"instances": 2, "cores": 8, "ram": 15360, "floating_ips": 0}


async def test_ram_quota(cloud: SandboxCloud) -> None:
    survey = (await cloud.list_projects())[1]
    await cloud.switch_project(survey.id)
    await launch(cloud, "big", flavor="c8-30gb-186", count=2)
    with pytest.raises(QuotaExceeded, match="for RAM: requested 1536 MB"):
        await launch(cloud, "small", flavor="p1-1.5gb")


async def test_instances_quota_and_multi_launch(cloud: SandboxCloud) -> None:
    with pytest.raises(QuotaExceeded, match="for instances: requested 5, but 0 of 4"):
        await launch(cloud, "many", flavor="p1-1.5gb", count=5)
    assert await cloud.list_instances() == []
    first = await launch(cloud, "batch", flavor="p1-1.5gb", count=4)
    assert first.name == "batch-1"
    names = sorted(i.name for i in await cloud.list_instances())
    assert names == ["batch-1", "batch-2", "batch-3", "batch-4"]
    addresses = {i.addresses[0] for i in await cloud.list_instances()}
    assert len(addresses) == 4
    with pytest.raises(QuotaExceeded):
        await launch(cloud, "fifth", flavor="p1-1.5gb")
    with pytest.raises(InvalidInput):
        await launch(cloud, "none", count=0)


async def test_quota_is_per_project(cloud: SandboxCloud) -> None:
    demo, survey = await cloud.list_projects()
    await launch(cloud, "demo-vm")
    fip = await cloud.allocate_floating_ip()
    await cloud.switch_project(survey.id)
    assert await cloud.list_instances() == []
    assert await used(cloud, "instances") == 0
    other = await cloud.allocate_floating_ip()  # each project has its own floating IP
    assert other.address != fip.address
    with pytest.raises(QuotaExceeded, match=r"\(1 of 1 in use\)"):
        await cloud.allocate_floating_ip()
    await cloud.switch_project(demo.id)
    assert [f.id for f in await cloud.list_floating_ips()] == [fip.id]


# --------------------------------------------------------------------------- floating IPs


def add_floating_ip_quota(state_path: Path) -> None:
    with sqlite3.connect(state_path) as conn:
        conn.execute("UPDATE projects SET quota_floating_ips = 2")
    conn.close()


async def test_floating_ip_lifecycle(cloud: SandboxCloud, clock: FakeClock) -> None:
    fip = await cloud.allocate_floating_ip()
    assert (fip.status, fip.network, fip.instance_id, fip.fixed_address) == (
        "DOWN",
        "Public-Network",
        None,
        None,
    )
    assert fip.address.startswith("206.12.")
    instance = await running(cloud, clock)
    on = await cloud.associate_floating_ip(fip.id, instance.id)
    assert (on.status, on.instance_id, on.fixed_address) == ("ACTIVE", instance.id, "192.168.1.10")
    assert await cloud.associate_floating_ip(fip.id, instance.id) == on  # idempotent
    shown = await cloud.get_instance(instance.id)
    assert shown.floating_ip == fip.address
    assert shown.addresses == ("192.168.1.10", fip.address)
    off = await cloud.disassociate_floating_ip(fip.id)
    assert (off.status, off.instance_id, off.fixed_address) == ("DOWN", None, None)
    assert (await cloud.get_instance(instance.id)).floating_ip is None


async def test_an_instance_takes_one_floating_ip(
    cloud: SandboxCloud, clock: FakeClock, state_path: Path
) -> None:
    await cloud.list_projects()
    add_floating_ip_quota(state_path)
    first, second = await cloud.allocate_floating_ip(), await cloud.allocate_floating_ip()
    instance = await running(cloud, clock)
    await cloud.associate_floating_ip(first.id, instance.id)
    with pytest.raises(Conflict, match=f"already has floating IP {first.address}"):
        await cloud.associate_floating_ip(second.id, instance.id)


async def test_a_taken_floating_ip_names_its_instance(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    fip = await cloud.allocate_floating_ip()
    first = await running(cloud, clock, "first")
    second = await running(cloud, clock, "second")
    await cloud.associate_floating_ip(fip.id, first.id)
    with pytest.raises(Conflict) as raised:
        await cloud.associate_floating_ip(fip.id, second.id)
    assert raised.value.message == (
        f"Floating IP {fip.address} is already associated with instance 'first'; "
        "disassociate it first."
    )


async def test_releasing_an_associated_ip_frees_the_instance(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    fip = await cloud.allocate_floating_ip()
    instance = await running(cloud, clock)
    await cloud.associate_floating_ip(fip.id, instance.id)
    await cloud.release_floating_ip(fip.id)
    assert (await cloud.get_instance(instance.id)).floating_ip is None
    again = await cloud.allocate_floating_ip()
    assert again.address == fip.address


async def test_a_deleting_instance_cannot_take_an_ip(cloud: SandboxCloud, clock: FakeClock) -> None:
    fip = await cloud.allocate_floating_ip()
    instance = await running(cloud, clock)
    await cloud.delete_instance(instance.id)
    with pytest.raises(Conflict, match="being deleted"):
        await cloud.associate_floating_ip(fip.id, instance.id)


# --------------------------------------------------------------------------- images


async def test_shared_images_cannot_be_deleted(cloud: SandboxCloud) -> None:
    image_id, _ = await ids(cloud)
    with pytest.raises(Conflict, match="shared CANFAR image"):
        await cloud.delete_image(image_id)


async def test_snapshots_belong_to_their_project(cloud: SandboxCloud, clock: FakeClock) -> None:
    instance = await running(cloud, clock)
    snapshot = await cloud.create_snapshot(instance.id, "mine")
    clock.advance(SNAPSHOT)
    survey = (await cloud.list_projects())[1]
    await cloud.switch_project(survey.id)
    assert snapshot.id not in {image.id for image in await cloud.list_images()}
    with pytest.raises(NotFound):
        await cloud.delete_image(snapshot.id)
    with pytest.raises(NotFound):
        await launch(cloud, "thief", image=snapshot.id)


async def test_snapshot_in_use_names_the_instance(cloud: SandboxCloud, clock: FakeClock) -> None:
    source = await running(cloud, clock, "source")
    snapshot = await cloud.create_snapshot(source.id, "pipeline")
    clock.advance(SNAPSHOT)
    worker = await launch(cloud, "worker", image=snapshot.id)
    with pytest.raises(Conflict) as raised:
        await cloud.delete_image(snapshot.id)
    assert raised.value.message == (
        "Snapshot pipeline is in use by instance(s) worker; delete them first."
    )
    await cloud.delete_instance(worker.id)  # a deleting instance no longer holds it
    await cloud.delete_image(snapshot.id)


# --------------------------------------------------------------------------- key pairs


async def test_key_pairs(cloud: SandboxCloud, state_path: Path, clock: FakeClock) -> None:
    keypair = await cloud.import_keypair("my laptop_key.v2@home", PUBLIC_KEY + "\n")
    assert keypair.fingerprint == PUBLIC_KEY_MD5
    assert keypair.public_key == PUBLIC_KEY
    assert keypair.key_type == "ssh"
    with pytest.raises(Conflict, match="already exists"):
        await cloud.import_keypair("my laptop_key.v2@home", PUBLIC_KEY)
    with pytest.raises(InvalidInput, match="characters Nova refuses"):
        await cloud.import_keypair("bad/name", PUBLIC_KEY)
    with pytest.raises(InvalidInput, match="PRIVATE"):
        await cloud.import_keypair("private", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
    other_user = open_cloud(state_path, clock, username="someone-else")
    try:
        assert await other_user.list_keypairs() == []
        with pytest.raises(NotFound):
            await other_user.delete_keypair("my laptop_key.v2@home")
    finally:
        await other_user.aclose()
    assert [kp.name for kp in await cloud.list_keypairs()] == ["my laptop_key.v2@home"]


async def test_launch_needs_an_existing_key(cloud: SandboxCloud) -> None:
    with pytest.raises(NotFound, match="Key pair 'nope' not found"):
        await launch(cloud, key_name="nope")


# --------------------------------------------------------------------------- console log


async def test_console_log_follows_the_instance(cloud: SandboxCloud, clock: FakeClock) -> None:
    await cloud.import_keypair("laptop", PUBLIC_KEY)
    instance = await launch(cloud, "My VM", key_name="laptop")
    assert await cloud.console_log(instance.id) == ""
    clock.advance(BUILD)
    log = await cloud.console_log(instance.id)
    assert "Linux version 5.4.0" in log
    assert "eth0  | True | 192.168.1.10" in log
    assert f"| ssh-ed25519 | {PUBLIC_KEY_MD5} | - | contract@canfar-tui |" in log
    assert "for user ubuntu" in log
    assert "canfar_setup_scratch" in log
    assert "Cloud-init v. 23.1.2 finished at" in log
    assert log.endswith("my-vm login: ")
    assert len((await cloud.console_log(instance.id, lines=3)).splitlines()) == 3
    with pytest.raises(InvalidInput):
        await cloud.console_log(instance.id, lines=0)

    await cloud.stop_instance(instance.id)
    clock.advance(STEP)
    assert (await cloud.console_log(instance.id)).endswith("reboot: Power down")
    await cloud.start_instance(instance.id)
    clock.advance(STEP)
    log = await cloud.console_log(instance.id, lines=1000)
    assert log.count("Linux version") == 2


async def test_console_log_of_a_persistent_flavor_has_no_scratch(
    cloud: SandboxCloud, clock: FakeClock
) -> None:
    instance = await launch(cloud, flavor="p2-3gb")
    clock.advance(BUILD)
    log = await cloud.console_log(instance.id)
    assert "canfar_setup_scratch" not in log
    assert "(vdb)" not in log
    assert "no authorized SSH keys" in log


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("tab\tname", "control characters"),
        ("x" * 256, "256 characters long"),
        (" padded", "starts or ends with a space"),
    ],
)
async def test_bad_names(cloud: SandboxCloud, clock: FakeClock, name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await launch(cloud, name)
    instance = await running(cloud, clock, "ok")
    with pytest.raises(InvalidInput, match=reason):
        await cloud.create_snapshot(instance.id, name)
    assert len(await cloud.list_instances()) == 1


async def test_list_instances_newest_first(cloud: SandboxCloud, clock: FakeClock) -> None:
    await launch(cloud, "old")
    clock.advance(1)
    await launch(cloud, "new")
    assert [i.name for i in await cloud.list_instances()] == ["new", "old"]


async def test_state_from_another_version_is_refused(state_path: Path, clock: FakeClock) -> None:
    cloud = open_cloud(state_path, clock)
    await cloud.list_projects()
    await cloud.aclose()
    with sqlite3.connect(state_path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema'")
    conn.close()
    cloud = open_cloud(state_path, clock)
    try:
        with pytest.raises(Unavailable, match="another version of canfar-tui"):
            await cloud.list_projects()
    finally:
        await cloud.aclose()
