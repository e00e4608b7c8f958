"""A profile's ``verify_tls`` reaches the real clients ``build_clients`` makes (no network).

``verify_tls = false`` turns certificate checks off for the OpenStack SDK session (from an
openrc file or a clouds.yaml cloud) and for the CADC credential service; ``true`` (the default)
leaves the file's own choice in force (``OS_INSECURE``, ``OS_CACERT``, clouds.yaml ``verify``).
The VOSpace backend hands its setting to ``vos`` (``insecure=``), which sets its requests
sessions. Building the bundle stays cheap: no SDK is imported until a client is used.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from canfar_tui.clients.bundle import build_clients
from canfar_tui.clients.cloud.openstack import OpenStackCloud
from canfar_tui.clients.credentials import CadcCredentials, CdpIssuer
from canfar_tui.clients.storage.loopback import RunningVOSpace, start_server
from canfar_tui.clients.storage.vospace import VOSpaceStorage
from canfar_tui.config import load_settings

OPENRC = """\
export OS_AUTH_URL=https://arbutus.cloud.computecanada.ca:5000/v3
export OS_PROJECT_NAME="canfar-batch-demo"
export OS_USER_DOMAIN_NAME="Default"
export OS_PROJECT_DOMAIN_NAME="Default"
export OS_USERNAME="astro"
export OS_PASSWORD="not-a-real-password"
export OS_REGION_NAME="RegionOne"
{extra}
"""

CLOUDS_YAML = """\
clouds:
  arbutus:
    auth:
      auth_url: https://arbutus.cloud.computecanada.ca:5000/v3
      username: astro
      password: not-a-real-password
      project_name: canfar-batch-demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    verify: {verify}
"""


def profile_settings(home: Path, *, source: str, verify_tls: bool | None) -> Any:
    """Settings whose default profile 'arbutus' reads ``source`` (openrc=… or cloud=…)."""
    config = home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    line = "" if verify_tls is None else f"verify_tls = {str(verify_tls).lower()}\n"
    config.write_text(f'default_profile = "arbutus"\n[profiles.arbutus]\n{source}\n{line}')
    return load_settings()


def sdk_verify(cloud: object) -> object:
    """What the openstacksdk/keystoneauth session would pass to requests as ``verify``."""
    assert isinstance(cloud, OpenStackCloud)
    return cloud._cloud_config({}).get_session().verify


def issuer_verify(credentials: object) -> bool:
    assert isinstance(credentials, CadcCredentials)
    issuer = credentials.issuer
    assert isinstance(issuer, CdpIssuer)
    return issuer.verify_tls


def write_openrc(home: Path, extra: str = "") -> Path:
    path = home / "canfar-batch-demo-openrc.sh"
    path.write_text(OPENRC.format(extra=extra))
    return path


@pytest.mark.filterwarnings("ignore:You are specifying a cacert")
@pytest.mark.parametrize(
    ("verify_tls", "extra", "expected"),
    [
        (None, "", True),  # the default: verified
        (True, "", True),
        (False, "", False),
        (True, "export OS_INSECURE=true", False),  # the openrc's own choice stands
        (False, "export OS_CACERT=/etc/ssl/arbutus-ca.pem", False),  # the profile wins
        (True, "export OS_CACERT=/etc/ssl/arbutus-ca.pem", "/etc/ssl/arbutus-ca.pem"),
    ],
    ids=["default", "true", "false", "openrc-insecure", "false-with-cacert", "cacert"],
)
def test_openrc_profile_verify_reaches_the_sdk_session_and_the_credential_service(
    isolated_home: Path, verify_tls: bool | None, extra: str, expected: object
) -> None:
    openrc = write_openrc(isolated_home, extra)
    settings = profile_settings(isolated_home, source=f'openrc = "{openrc}"', verify_tls=verify_tls)
    clients = build_clients(settings)
    assert sdk_verify(clients.cloud) == expected
    assert issuer_verify(clients.credentials) is (verify_tls is not False)


@pytest.mark.parametrize(
    ("verify_tls", "yaml_verify", "expected"),
    [(None, "true", True), (False, "true", False), (True, "false", False)],
    ids=["default", "profile-off", "yaml-off"],
)
def test_clouds_yaml_profile_verify_reaches_the_sdk_session(
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    verify_tls: bool | None,
    yaml_verify: str,
    expected: bool,
) -> None:
    from openstack.config import loader

    clouds = isolated_home / ".config" / "openstack" / "clouds.yaml"
    clouds.parent.mkdir(parents=True)
    clouds.write_text(CLOUDS_YAML.format(verify=yaml_verify))
    # openstacksdk computed its search path from the real HOME when it was imported.
    monkeypatch.setattr(loader, "CONFIG_FILES", [str(clouds)])
    settings = profile_settings(isolated_home, source='cloud = "arbutus"', verify_tls=verify_tls)
    clients = build_clients(settings)
    assert sdk_verify(clients.cloud) is expected
    assert issuer_verify(clients.credentials) is (verify_tls is not False)


def test_building_the_bundle_imports_no_sdk(isolated_home: Path) -> None:
    """The plumbing keeps the factories lazy: no openstack, cadcutils or vos at build time."""
    openrc = write_openrc(isolated_home)
    profile_settings(isolated_home, source=f'openrc = "{openrc}"', verify_tls=False)
    script = textwrap.dedent(
        """
        import sys
        from canfar_tui.clients.bundle import build_clients
        from canfar_tui.config import load_settings
        clients = build_clients(load_settings())
        heavy = [m for m in ("openstack", "keystoneauth1", "cadcutils", "vos") if m in sys.modules]
        print(",".join(heavy) or "none")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "none"


@pytest.fixture
def vospace(tmp_path: Path) -> Any:
    server = start_server(tmp_path / "root")
    yield server
    server.stop()


@pytest.fixture
async def insecure_storage(
    vospace: RunningVOSpace, tmp_path: Path
) -> AsyncIterator[VOSpaceStorage]:
    client = VOSpaceStorage.for_sandbox(vospace, tmp_path / "vos-client", verify_tls=False)
    yield client
    await client.aclose()


async def test_vospace_verify_reaches_the_vos_requests_sessions(
    insecure_storage: VOSpaceStorage, vospace: RunningVOSpace, tmp_path: Path
) -> None:
    await insecure_storage.stat(insecure_storage.home_uri)  # builds the vos client
    full = insecure_storage._full(insecure_storage.home_uri)
    assert insecure_storage._session(full).verify is False
    assert insecure_storage._data_session(full).verify is False
    checked = VOSpaceStorage.for_sandbox(vospace, tmp_path / "vos-client-2")
    try:
        await checked.stat(checked.home_uri)
        assert checked._session(checked._full(checked.home_uri)).verify is True
    finally:
        await checked.aclose()
