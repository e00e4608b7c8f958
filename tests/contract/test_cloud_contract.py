"""The CloudClient contract: what every cloud backend (sandbox, openstacksdk) must do.

The tests follow the CANFAR Batch Quick Start (choose a project, import a key, allocate the
project's floating IP, launch ``canfar-ubuntu-20.04`` on ``c2-7.5gb-30``, wait for Running,
associate the IP, snapshot, delete) plus the errors Horizon shows. They only assert what a
real OpenStack also does, and wait for states by polling (``cloud.wait_*``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from canfar_tui.clients.base import (
    ClientError,
    CloudClient,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SupportsConsoleLog,
)
from canfar_tui.models import ImageKind, LaunchRequest

# A real ed25519 public key and its fingerprint as `ssh-keygen -l -E md5` prints it.
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09XMBAQUBKMPuj3d "
    "contract@canfar-tui"
)
PUBLIC_KEY_MD5 = "49:81:e0:e8:1c:71:12:8e:a5:34:19:52:d2:9f:48:50"

QUOTA_RESOURCES = ("instances", "cores", "ram", "floating_ips")


def unknown_id() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- basics


async def test_is_a_cloud_client_with_a_label(cloud_client: CloudClient) -> None:
    assert isinstance(cloud_client, CloudClient)
    assert isinstance(cloud_client.backend_label, str)
    assert cloud_client.backend_label.strip()


async def test_aclose_is_idempotent(cloud_client: CloudClient) -> None:
    await cloud_client.list_projects()
    await cloud_client.aclose()
    await cloud_client.aclose()


# --------------------------------------------------------------------------- projects


async def test_lists_several_projects_and_switches_between_them(cloud: Any) -> None:
    client: CloudClient = cloud.client
    projects = await client.list_projects()
    assert len(projects) >= 2
    assert len({project.id for project in projects}) == len(projects)
    current = await client.current_project()
    assert current is not None
    assert current.id in {project.id for project in projects}

    other = next(project for project in projects if project.id != current.id)
    switched = await client.switch_project(other.id)
    assert switched.id == other.id
    assert switched.name == other.name
    now = await client.current_project()
    assert now is not None and now.id == other.id
    assert (await client.get_quota()).project_id == other.id

    await client.switch_project(current.id)
    back = await client.current_project()
    assert back is not None and back.id == current.id


async def test_switching_to_an_unknown_project_is_not_found_and_keeps_the_scope(
    cloud: Any,
) -> None:
    client: CloudClient = cloud.client
    before = await client.current_project()
    with pytest.raises(NotFound) as raised:
        await client.switch_project(uuid.uuid4().hex)
    assert raised.value.message and "\n" not in raised.value.message
    after = await client.current_project()
    assert before is not None and after is not None and after.id == before.id


async def test_quota_reports_instances_cores_ram_and_one_floating_ip(cloud: Any) -> None:
    client: CloudClient = cloud.client
    quota = await client.get_quota()
    assert quota.project_id == await cloud.project_id()
    for resource in QUOTA_RESOURCES:
        usage = quota.get(resource)
        assert usage is not None, f"quota has no {resource!r}: {quota.usages}"
        assert usage.used >= 0
    fips = quota.get("floating_ips")
    assert fips is not None and fips.limit == 1


# --------------------------------------------------------------------------- catalogue


async def test_flavors_include_the_canfar_batch_flavor(cloud: Any) -> None:
    flavors = await cloud.client.list_flavors()
    assert len({flavor.id for flavor in flavors}) == len(flavors)
    c2 = await cloud.flavor("c2-7.5gb-30")
    assert (c2.vcpus, c2.ram_mb, c2.ephemeral_gb) == (2, 7680, 31)
    assert not c2.is_persistent
    for flavor in flavors:
        if flavor.name.startswith("p"):
            assert flavor.ephemeral_gb == 0, f"{flavor.name} is persistent: no scratch"


async def test_images_include_the_canfar_images_with_their_login_users(cloud: Any) -> None:
    ubuntu = await cloud.image("canfar-ubuntu-20.04")
    rocky = await cloud.image("canfar-rocky-8")
    for image in (ubuntu, rocky):
        assert image.status == "active"
        assert image.kind is ImageKind.IMAGE
    assert ubuntu.default_login_user == "ubuntu"
    assert rocky.default_login_user == "rocky"


# --------------------------------------------------------------------------- key pairs


async def test_imports_lists_and_deletes_a_key_pair(cloud: Any) -> None:
    client: CloudClient = cloud.client
    name = cloud.unique("ct-key")
    keypair = await cloud.import_key(name, PUBLIC_KEY + "\n")
    assert keypair.name == name
    assert keypair.fingerprint == PUBLIC_KEY_MD5

    listed = {kp.name: kp for kp in await client.list_keypairs()}
    assert name in listed
    assert listed[name].fingerprint == PUBLIC_KEY_MD5

    with pytest.raises(Conflict):
        await client.import_keypair(name, PUBLIC_KEY)

    await client.delete_keypair(name)
    assert name not in {kp.name for kp in await client.list_keypairs()}
    with pytest.raises(NotFound):
        await client.delete_keypair(name)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "ssh-ed25519 not*base64 me@host",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6 truncated",
        # the ed25519 key data under an RSA label
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09XMBAQUBKMPuj3d x@y",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n",
    ],
    ids=["empty", "prose", "bad-base64", "truncated", "type-mismatch", "private-key"],
)
async def test_refuses_a_malformed_public_key(cloud: Any, text: str) -> None:
    client: CloudClient = cloud.client
    name = cloud.unique("ct-bad")
    with pytest.raises(InvalidInput) as raised:
        await cloud.import_key(name, text)
    assert "\n" not in raised.value.message
    assert name not in {kp.name for kp in await client.list_keypairs()}


async def test_key_pairs_belong_to_the_user_not_the_project(cloud: Any) -> None:
    client: CloudClient = cloud.client
    name = cloud.unique("ct-key")
    await cloud.import_key(name, PUBLIC_KEY)
    projects = await client.list_projects()
    for project in projects[:2]:
        await client.switch_project(project.id)
        assert name in {kp.name for kp in await client.list_keypairs()}


@pytest.mark.parametrize("name", ["", "   ", "bad\x07name", "k" * 256])
async def test_refuses_a_bad_key_pair_name(cloud: Any, name: str) -> None:
    with pytest.raises(InvalidInput):
        await cloud.import_key(name, PUBLIC_KEY)


# --------------------------------------------------------------------------- floating IPs


async def test_allocates_the_projects_floating_ip_then_quota_exceeded(cloud: Any) -> None:
    client: CloudClient = cloud.client
    quota = (await client.get_quota()).get("floating_ips")
    assert quota is not None
    free = int(quota.limit - quota.used)
    assert free >= 1, "the project's floating IP is already allocated; release it first"

    allocated = [await cloud.allocate_ip() for _ in range(free)]
    fip = allocated[0]
    assert fip.address
    assert fip.instance_id is None
    listed = {item.id: item for item in await client.list_floating_ips()}
    assert fip.id in listed and listed[fip.id].address == fip.address

    with pytest.raises(QuotaExceeded) as raised:
        await client.allocate_floating_ip()
    assert "quota" in raised.value.message.lower()
    assert "\n" not in raised.value.message

    usage = (await client.get_quota()).get("floating_ips")
    assert usage is not None and usage.used == usage.limit

    await client.release_floating_ip(fip.id)
    assert fip.id not in {item.id for item in await client.list_floating_ips()}
    with pytest.raises(NotFound):
        await client.release_floating_ip(fip.id)


async def test_floating_ips_are_scoped_to_the_project(cloud: Any) -> None:
    client: CloudClient = cloud.client
    home = await cloud.project_id()
    fip = await cloud.allocate_ip()
    other = next(p for p in await client.list_projects() if p.id != home)
    await client.switch_project(other.id)
    assert fip.id not in {item.id for item in await client.list_floating_ips()}
    with pytest.raises(NotFound):
        await client.release_floating_ip(fip.id)
    await client.switch_project(home)
    assert fip.id in {item.id for item in await client.list_floating_ips()}


# --------------------------------------------------------------------------- the seed's walk


async def test_walks_the_batch_quick_start(cloud: Any) -> None:
    client: CloudClient = cloud.client
    key_name = cloud.unique("ct-key")
    await cloud.import_key(key_name, PUBLIC_KEY)
    fip = await cloud.allocate_ip()
    image = await cloud.image("canfar-ubuntu-20.04")
    flavor = await cloud.flavor("c2-7.5gb-30")

    name = cloud.unique("ct-vm")
    launched = await cloud.launch(name=name, key_name=key_name, wait=False)
    assert launched.name == name
    assert launched.status in {"BUILD", "ACTIVE"}
    assert launched.image_id == image.id
    assert launched.id in {inst.id for inst in await client.list_instances()}
    usage = (await client.get_quota()).get("instances")
    assert usage is not None and usage.used >= 1

    instance = await cloud.wait_instance(launched.id, "ACTIVE")
    assert instance.power_state == "Running"
    assert instance.flavor_name == flavor.name
    assert instance.key_name == key_name
    assert instance.addresses

    associated = await client.associate_floating_ip(fip.id, instance.id)
    assert associated.instance_id == instance.id
    assert associated.address == fip.address
    assert associated.fixed_address in instance.addresses
    shown = await cloud.wait_for(
        lambda: client.get_instance(instance.id),
        lambda inst: inst.floating_ip == fip.address,
        "the instance to show its floating IP",
    )
    assert shown.floating_ip == fip.address
    listed = {item.id: item for item in await client.list_floating_ips()}
    assert listed[fip.id].instance_id == instance.id

    snapshot_name = cloud.unique("image-reduction")
    snapshot = await cloud.snapshot(instance.id, snapshot_name)
    assert snapshot.name == snapshot_name
    assert snapshot.kind is ImageKind.SNAPSHOT
    assert snapshot.status in {"queued", "saving", "active"}
    assert snapshot.source_instance_id == instance.id
    active = await cloud.wait_image(snapshot.id, "active")
    assert active.kind is ImageKind.SNAPSHOT
    assert active.name == snapshot_name
    await cloud.wait_instance(instance.id, "ACTIVE")

    released = await client.disassociate_floating_ip(fip.id)
    assert released.instance_id is None
    await cloud.wait_for(
        lambda: client.get_instance(instance.id),
        lambda inst: inst.floating_ip is None,
        "the instance to lose its floating IP",
    )
    await client.release_floating_ip(fip.id)

    await client.delete_instance(instance.id)
    await cloud.wait_gone(instance.id)
    assert instance.id not in {inst.id for inst in await client.list_instances()}
    with pytest.raises(NotFound):
        await client.delete_instance(instance.id)


async def test_a_snapshot_in_use_cannot_be_deleted(cloud: Any) -> None:
    client: CloudClient = cloud.client
    source = await cloud.launch()
    snapshot = await cloud.snapshot(source.id)
    await cloud.wait_image(snapshot.id, "active")

    worker = await cloud.launch(image_id=snapshot.id, wait=False)
    assert worker.image_id == snapshot.id
    with pytest.raises(Conflict) as raised:
        await client.delete_image(snapshot.id)
    assert "\n" not in raised.value.message
    assert await cloud.find_image(snapshot.id) is not None

    await client.delete_instance(worker.id)
    await cloud.wait_gone(worker.id)
    await client.delete_image(snapshot.id)
    await cloud.wait_for(
        lambda: cloud.find_image(snapshot.id), lambda img: img is None, "the snapshot to go"
    )
    with pytest.raises(NotFound):
        await client.delete_image(snapshot.id)


async def test_a_floating_ip_on_one_instance_cannot_go_to_another(cloud: Any) -> None:
    client: CloudClient = cloud.client
    fip = await cloud.allocate_ip()
    first = await cloud.launch()
    second = await cloud.launch()
    await client.associate_floating_ip(fip.id, first.id)
    with pytest.raises(Conflict):
        await client.associate_floating_ip(fip.id, second.id)
    listed = {item.id: item for item in await client.list_floating_ips()}
    assert listed[fip.id].instance_id == first.id


async def test_deleting_an_instance_frees_its_floating_ip(cloud: Any) -> None:
    client: CloudClient = cloud.client
    fip = await cloud.allocate_ip()
    instance = await cloud.launch()
    await client.associate_floating_ip(fip.id, instance.id)
    await client.delete_instance(instance.id)
    await cloud.wait_gone(instance.id)
    freed = await cloud.wait_for(
        client.list_floating_ips,
        lambda fips: any(item.id == fip.id and item.instance_id is None for item in fips),
        "the floating IP to be free again",
    )
    assert fip.id in {item.id for item in freed}


async def test_launching_beyond_the_instance_quota_is_refused(cloud: Any) -> None:
    client: CloudClient = cloud.client
    quota = (await client.get_quota()).get("instances")
    assert quota is not None
    if quota.limit < 0:
        pytest.skip("the project has no instance quota")
    before = {inst.id for inst in await client.list_instances()}
    request = LaunchRequest(
        name=cloud.unique("ct-many"),
        image_id=(await cloud.image()).id,
        flavor_id=(await cloud.flavor()).id,
        count=int(quota.limit) + 1,
    )
    with pytest.raises(QuotaExceeded) as raised:
        await client.launch_instance(request)
    assert "quota" in raised.value.message.lower()
    assert {inst.id for inst in await client.list_instances()} == before


async def test_stop_start_and_reboot(cloud: Any) -> None:
    client: CloudClient = cloud.client
    instance = await cloud.launch()
    with pytest.raises(Conflict):
        await client.start_instance(instance.id)

    await client.stop_instance(instance.id)
    stopped = await cloud.wait_instance(instance.id, "SHUTOFF")
    assert stopped.power_state != "Running"
    with pytest.raises(Conflict):
        await client.stop_instance(instance.id)
    with pytest.raises(Conflict):
        await client.reboot_instance(instance.id)

    await client.start_instance(instance.id)
    started = await cloud.wait_instance(instance.id, "ACTIVE")
    assert started.power_state == "Running"

    await client.reboot_instance(instance.id)
    await cloud.wait_instance(instance.id, "ACTIVE")
    await client.reboot_instance(instance.id, hard=True)
    rebooted = await cloud.wait_instance(instance.id, "ACTIVE")
    assert rebooted.power_state == "Running"


async def test_console_log_of_a_running_instance(cloud: Any) -> None:
    client = cloud.client
    if not isinstance(client, SupportsConsoleLog):
        pytest.skip("this backend has no console log")
    instance = await cloud.launch()
    text = await cloud.wait_for(
        lambda: client.console_log(instance.id, lines=50),
        lambda log: bool(log.strip()),
        "console output",
    )
    assert isinstance(text, str)
    assert len(text.splitlines()) <= 50
    with pytest.raises(NotFound):
        await client.console_log(unknown_id())


# --------------------------------------------------------------------------- invalid requests


@pytest.mark.parametrize("name", ["", "   ", "vm\x00one", "v" * 256])
async def test_refuses_a_bad_instance_name(cloud: Any, name: str) -> None:
    client: CloudClient = cloud.client
    before = {inst.id for inst in await client.list_instances()}
    request = LaunchRequest(
        name=name, image_id=(await cloud.image()).id, flavor_id=(await cloud.flavor()).id
    )
    with pytest.raises(InvalidInput):
        await client.launch_instance(request)
    assert {inst.id for inst in await client.list_instances()} == before


@pytest.mark.parametrize("missing", ["image", "flavor", "key"])
async def test_launch_with_an_unknown_reference_is_refused(cloud: Any, missing: str) -> None:
    request = LaunchRequest(
        name=cloud.unique("ct-vm"),
        image_id=unknown_id() if missing == "image" else (await cloud.image()).id,
        flavor_id=unknown_id() if missing == "flavor" else (await cloud.flavor()).id,
        key_name=cloud.unique("ct-nokey") if missing == "key" else None,
    )
    # Nova answers 400 for these; a backend may call that InvalidInput or NotFound.
    with pytest.raises((NotFound, InvalidInput)):
        await cloud.client.launch_instance(request)


async def test_snapshot_name_must_be_valid(cloud: Any) -> None:
    instance = await cloud.launch()
    with pytest.raises(InvalidInput):
        await cloud.client.create_snapshot(instance.id, "")


Call = Callable[[CloudClient, str], Awaitable[object]]

UNKNOWN_ID_CALLS: dict[str, Call] = {
    "get_instance": lambda c, i: c.get_instance(i),
    "delete_instance": lambda c, i: c.delete_instance(i),
    "start_instance": lambda c, i: c.start_instance(i),
    "stop_instance": lambda c, i: c.stop_instance(i),
    "reboot_instance": lambda c, i: c.reboot_instance(i),
    "create_snapshot": lambda c, i: c.create_snapshot(i, "ct-snap"),
    "delete_image": lambda c, i: c.delete_image(i),
    "disassociate_floating_ip": lambda c, i: c.disassociate_floating_ip(i),
    "release_floating_ip": lambda c, i: c.release_floating_ip(i),
    "associate_floating_ip": lambda c, i: c.associate_floating_ip(i, i),
    "delete_keypair": lambda c, i: c.delete_keypair(f"ct-missing-{i[:8]}"),
    "switch_project": lambda c, i: c.switch_project(i.replace("-", "")),
}


@pytest.mark.parametrize("call", list(UNKNOWN_ID_CALLS), ids=list(UNKNOWN_ID_CALLS))
async def test_unknown_ids_are_not_found(cloud: Any, call: str) -> None:
    with pytest.raises(NotFound) as raised:
        await UNKNOWN_ID_CALLS[call](cloud.client, unknown_id())
    error = raised.value
    assert isinstance(error, ClientError)
    assert error.message and "\n" not in error.message
    assert error.title == "Not found"


async def test_unknown_instance_for_a_real_floating_ip_is_not_found(cloud: Any) -> None:
    fip = await cloud.allocate_ip()
    with pytest.raises(NotFound):
        await cloud.client.associate_floating_ip(fip.id, unknown_id())
    listed = {item.id: item for item in await cloud.client.list_floating_ips()}
    assert listed[fip.id].instance_id is None
