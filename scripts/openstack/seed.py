"""Seed the test OpenStack started by ``scripts/openstack/start.sh`` like CANFAR's Arbutus cloud.

Run by start.sh with the project's Python (it needs openstacksdk and the ``canfar_tui`` package
on ``sys.path``); every secret is read from a file under ``$CANFAR_OS_SECRETS`` (mode 0700),
never from argv. Steps:

``register``
    the service project, the service users (glance, placement, nova, neutron) and the catalog.
``canfar``
    what a CANFAR user sees: the projects, the user (member of both), the flavors and images of
    the sandbox (the seeds are read from :mod:`canfar_tui.clients.cloud.sandbox_seed`, so the two
    backends cannot drift apart), the external network ``Public-Network``, a private network
    and router per project, and the quotas (one floating IP per project).
``wait-compute``
    wait until nova-compute has reported its resources to placement and nova sees it up.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import openstack

from canfar_tui.clients.cloud import sandbox_seed
from canfar_tui.clients.cloud.quotas import EXTERNAL_NETWORK

AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
DEMO_USER = os.environ.get("CANFAR_OS_USER", "canfar-demo")
SERVICES = (
    ("glance", "image", "http://127.0.0.1:9292"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "network", "http://127.0.0.1:9696"),
)
# Small stand-ins for the CANFAR images: the fake compute driver never reads them.
IMAGE_BYTES = b"\0" * 4096


def secret(name: str) -> str:
    return (Path(os.environ["CANFAR_OS_SECRETS"]) / name).read_text(encoding="utf-8").strip()


def log(message: str) -> None:
    print(f"seed: {message}", flush=True)


def admin() -> openstack.connection.Connection:
    return openstack.connect(
        auth_url=AUTH_URL,
        username="admin",
        password=secret("admin-password"),
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        load_yaml_config=False,
        load_envvars=False,
    )


def register() -> None:
    conn = admin()
    identity = conn.identity
    service_project = identity.create_project(
        name="service", domain_id="default", description="OpenStack services"
    )
    admin_role = identity.find_role("admin", ignore_missing=False)
    password = secret("service-password")
    for name, service_type, url in SERVICES:
        user = identity.create_user(name=name, password=password, domain_id="default")
        identity.assign_project_role_to_user(service_project, user, admin_role)
        service = identity.create_service(name=name, type=service_type)
        for interface in ("public", "internal", "admin"):
            identity.create_endpoint(
                service_id=service.id, interface=interface, url=url, region_id=REGION
            )
    log("service users and catalog registered")


def _projects(conn: openstack.connection.Connection) -> dict[str, Any]:
    identity = conn.identity
    member = identity.find_role("member", ignore_missing=False)
    user = identity.create_user(
        name=DEMO_USER,
        password=secret("user-password"),
        domain_id="default",
        description="CANFAR user of the canfar-tui integration tests",
    )
    projects = {}
    for seed in sandbox_seed.SEED_PROJECTS:
        project = identity.create_project(
            name=seed.name, domain_id="default", description=seed.description
        )
        identity.assign_project_role_to_user(project, user, member)
        projects[seed.name] = project
    log(f"user {DEMO_USER} is a member of {', '.join(projects)}")
    return projects


def _quotas(conn: openstack.connection.Connection, projects: dict[str, Any]) -> None:
    for seed in sandbox_seed.SEED_PROJECTS:
        project_id = projects[seed.name].id
        conn.compute.put(
            f"/os-quota-sets/{project_id}",
            json={
                "quota_set": {
                    "instances": seed.instances,
                    "cores": seed.cores,
                    "ram": seed.ram_mb,
                }
            },
        ).raise_for_status()
        conn.network.put(
            f"/quotas/{project_id}", json={"quota": {"floatingip": seed.floating_ips}}
        ).raise_for_status()
    log("quotas set")


def _catalogue(conn: openstack.connection.Connection) -> None:
    for name, vcpus, ram_mb, disk_gb, ephemeral_gb in sandbox_seed.SEED_FLAVORS:
        conn.compute.create_flavor(
            name=name,
            vcpus=vcpus,
            ram=ram_mb,
            disk=disk_gb,
            ephemeral=ephemeral_gb,
            is_public=True,
        )
    for name, distro, _size in sandbox_seed.SEED_IMAGES:
        image = conn.image.create_image(
            name=name,
            disk_format="qcow2",
            container_format="bare",
            visibility="public",
            os_distro=distro,
        )
        conn.image.put(
            f"/images/{image.id}/file",
            data=IMAGE_BYTES,
            headers={"Content-Type": "application/octet-stream"},
        ).raise_for_status()
    log("flavors and images created")


def _networks(conn: openstack.connection.Connection, projects: dict[str, Any]) -> None:
    network = conn.network
    public = network.create_network(
        name=EXTERNAL_NETWORK,
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network="public",
    )
    network.create_subnet(
        network_id=public.id,
        name=f"{EXTERNAL_NETWORK}-subnet",
        ip_version=4,
        cidr="206.12.92.0/24",
        gateway_ip="206.12.92.1",
        allocation_pools=[{"start": "206.12.92.10", "end": "206.12.92.250"}],
        is_dhcp_enabled=False,
    )
    for index, seed in enumerate(sandbox_seed.SEED_PROJECTS, start=1):
        project_id = projects[seed.name].id
        private = network.create_network(name=f"{seed.name}-network", project_id=project_id)
        subnet = network.create_subnet(
            network_id=private.id,
            project_id=project_id,
            name=f"{seed.name}-subnet",
            ip_version=4,
            cidr=f"192.168.{index}.0/24",
        )
        router = network.create_router(
            name=f"{seed.name}-router",
            project_id=project_id,
            external_gateway_info={"network_id": public.id},
        )
        network.add_interface_to_router(router, subnet_id=subnet.id)
    log(f"{EXTERNAL_NETWORK}, private networks and routers created")


def canfar() -> None:
    conn = admin()
    projects = _projects(conn)
    _catalogue(conn)
    _networks(conn, projects)
    _quotas(conn, projects)


def wait_compute(timeout: float = 180.0) -> None:
    conn = admin()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        providers = list(conn.placement.resource_providers())
        services = [
            service
            for service in conn.compute.services(binary="nova-compute")
            if service.state == "up"
        ]
        if providers and services:
            log(f"compute ready: {providers[0].name}")
            return
        time.sleep(1.0)
    raise SystemExit("seed: nova-compute did not report to placement in time")


def main(argv: list[str]) -> int:
    steps = {"register": register, "canfar": canfar, "wait-compute": wait_compute}
    if len(argv) != 2 or argv[1] not in steps:
        print(f"usage: {argv[0]} {{{'|'.join(steps)}}}", file=sys.stderr)
        return 2
    steps[argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
