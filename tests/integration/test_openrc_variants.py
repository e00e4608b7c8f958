"""openrc files as CANFAR users have them, logged in for real against the test OpenStack.

* an application-credential file (``OS_AUTH_TYPE=v3applicationcredential``): no user, no
  password, the credential made by Keystone itself for the test user's project;
* a file that asks for the user name as well as the password (``OS_USERNAME=$OS_USERNAME_INPUT``):
  the profile's ``username`` (the CADC username) fills it in;
* a shell where the openrc file was already sourced (``. project-openrc.sh``): a real profile
  with neither ``cloud`` nor ``openrc`` logs in with those variables.

All through :func:`~canfar_tui.clients.bundle.build_clients` with a real (non-sandbox) profile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from openstack_services import OpenStackService, openstack_service_or_skip

from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.bundle import build_clients
from canfar_tui.clients.cloud.openrc import load_openrc
from canfar_tui.config import Profile, Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def service() -> OpenStackService:
    return openstack_service_or_skip()


def _variables(service: OpenStackService) -> dict[str, str]:
    return dict(load_openrc(service.openrc).variables)


@pytest.fixture
def application_credential(service: OpenStackService) -> Iterator[tuple[str, str]]:
    """(id, secret) of an application credential of the test user, deleted afterwards."""
    import openstack

    conn = openstack.connection.Connection(
        config=openstack.config.OpenStackConfig(
            config_files=[str(service.clouds_yaml)], load_envvars=False
        ).get_one(cloud=service.cloud, auth={"password": service.password()})
    )
    user_id = conn.current_user_id
    assert user_id is not None
    identity = conn.identity
    assert isinstance(identity, openstack.identity.v3._proxy.Proxy)  # Keystone has only v3
    credential = identity.create_application_credential(
        user=user_id, name=f"canfar-tui-test-{uuid.uuid4().hex[:8]}"
    )
    try:
        yield credential.id, credential.secret
    finally:
        identity.delete_application_credential(user=user_id, application_credential=credential)
        conn.close()


async def _project_names(settings: Settings) -> list[str]:
    clients = build_clients(settings, password_provider=None)
    try:
        assert clients.cloud is not None, clients.why_missing("cloud")
        return [project.name for project in await clients.cloud.list_projects()]
    finally:
        await clients.aclose()


def _profile(settings: Settings, **fields: object) -> Settings:
    return replace(settings, profile=Profile(name="arbutus", kind="canfar", **fields))  # type: ignore[arg-type]


async def test_an_application_credential_file_logs_in_without_user_or_password(
    service: OpenStackService,
    application_credential: tuple[str, str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    credential_id, secret = application_credential
    variables = _variables(service)
    openrc = tmp_path / "rrg-astro-openrc.sh"
    openrc.write_text(
        "#!/usr/bin/env bash\n"
        "export OS_AUTH_TYPE=v3applicationcredential\n"
        f"export OS_AUTH_URL={variables['OS_AUTH_URL']}\n"
        "export OS_IDENTITY_API_VERSION=3\n"
        f"export OS_REGION_NAME={variables.get('OS_REGION_NAME', 'RegionOne')}\n"
        'export OS_INTERFACE="public"\n'
        f"export OS_APPLICATION_CREDENTIAL_ID={credential_id}\n"
        f"export OS_APPLICATION_CREDENTIAL_SECRET={secret}\n"
    )
    openrc.chmod(0o600)
    names = await _project_names(_profile(settings, openrc=openrc))
    assert names, "logged in, and the credential's project is listed"


async def test_a_file_asking_for_the_user_name_takes_the_profiles_username(
    service: OpenStackService, settings: Settings, tmp_path: Path
) -> None:
    variables = _variables(service)
    openrc = tmp_path / "rrg-astro-openrc.sh"
    lines = [
        f"export OS_AUTH_URL={variables['OS_AUTH_URL']}",
        f"export OS_PROJECT_NAME={variables.get('OS_PROJECT_NAME', '')}",
        "export OS_USER_DOMAIN_NAME=Default",
        'echo "Please enter your OpenStack Username: "',
        "read -r OS_USERNAME_INPUT",
        "export OS_USERNAME=$OS_USERNAME_INPUT",
        'echo "Please enter your OpenStack Password: "',
        "read -sr OS_PASSWORD_INPUT",
        "export OS_PASSWORD=$OS_PASSWORD_INPUT",
    ]
    openrc.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput, match="asks for the user name: set username in the profile"):
        build_clients(_profile(settings, openrc=openrc))

    asked: list[str] = []

    def provider() -> str:
        asked.append("password")
        return service.password()

    real = _profile(settings, openrc=openrc, username=service.username)
    clients = build_clients(real, password_provider=provider)
    try:
        assert clients.cloud is not None, clients.why_missing("cloud")
        assert await clients.cloud.list_projects()
    finally:
        await clients.aclose()
    assert asked == ["password"]


async def test_a_sourced_openrc_is_used_by_a_profile_without_cloud_or_openrc(
    service: OpenStackService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _variables(service).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OS_PASSWORD", service.password())  # what `. openrc.sh` leaves
    names = await asyncio.wait_for(_project_names(_profile(settings)), 120)
    assert names
