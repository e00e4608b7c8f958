"""The openstacksdk backend without a cloud: lazy import, sources, labels and the error mapping.

Its behaviour against a real OpenStack is in tests/contract (the ``openstack`` backend) and
tests/integration/test_openstack_seed_walk.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    CloudClient,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SupportsConsoleLog,
    Unavailable,
)
from canfar_tui.clients.cloud.openrc import OpenStackCredentials
from canfar_tui.clients.cloud.openstack import OpenStackCloud

CREDENTIALS = OpenStackCredentials(
    auth_url="https://arbutus.cloud.example.ca:5000/v3", username="someone"
)


def test_importing_the_backend_loads_no_sdk_and_no_textual() -> None:
    code = (
        "import json, sys, canfar_tui.clients.cloud.openstack, canfar_tui.clients.cloud.openrc; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(output)}
    assert not loaded & {"openstack", "keystoneauth1", "requests", "textual"}


def test_is_a_cloud_client_with_a_console_log() -> None:
    client = OpenStackCloud(CREDENTIALS)
    assert isinstance(client, CloudClient)
    assert isinstance(client, SupportsConsoleLog)


def test_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError):
        OpenStackCloud()
    with pytest.raises(ValueError):
        OpenStackCloud(CREDENTIALS, cloud="arbutus-canfar")


def test_labels_name_the_cloud() -> None:
    assert OpenStackCloud.from_cloud("arbutus-canfar").backend_label == "arbutus-canfar"
    assert OpenStackCloud(CREDENTIALS).backend_label == "arbutus"
    local = OpenStackCredentials(auth_url="http://127.0.0.1:5000/v3", username="u")
    assert OpenStackCloud(local).backend_label == "OpenStack"
    regional = OpenStackCredentials(
        auth_url="http://127.0.0.1:5000/v3", username="u", region_name="RegionOne"
    )
    assert OpenStackCloud(regional).backend_label == "RegionOne"
    assert OpenStackCloud(CREDENTIALS, label="arbutus-canfar").backend_label == "arbutus-canfar"


def test_from_environment_reads_os_variables_or_os_cloud(tmp_path: Path) -> None:
    client = OpenStackCloud.from_environment(
        {
            "OS_AUTH_URL": "https://arbutus.cloud.example.ca:5000/v3",
            "OS_USERNAME": "someone",
            "OS_PASSWORD": "pw-in-memory",
            "OS_PROJECT_NAME": "canfar-batch-demo",
        }
    )
    assert client.backend_label == "arbutus"
    assert "pw-in-memory" not in repr(client)
    by_name = OpenStackCloud.from_environment(
        {"OS_CLOUD": "arbutus-canfar", "OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml")}
    )
    assert by_name.backend_label == "arbutus-canfar"
    with pytest.raises(InvalidInput, match="OS_AUTH_URL"):
        OpenStackCloud.from_environment({"HOME": "/home/someone"})


async def test_an_unknown_clouds_yaml_cloud_is_an_auth_error(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  other:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n")
    client = OpenStackCloud.from_cloud("arbutus-canfar", clouds_yaml=clouds)
    try:
        with pytest.raises(AuthError) as raised:
            await client.list_projects()
        assert "arbutus-canfar" in raised.value.message
    finally:
        await client.aclose()


async def test_calls_after_aclose_are_unavailable() -> None:
    client = OpenStackCloud(CREDENTIALS)
    await client.aclose()
    await client.aclose()
    with pytest.raises(Unavailable):
        await client.list_instances()


# --------------------------------------------------------------------------- error mapping


def _http(status: int, details: str) -> Exception:
    from openstack import exceptions

    return exceptions.HttpException(
        message=f"Client Error for url: http://x/, {details}", details=details, http_status=status
    )


@pytest.mark.parametrize(
    ("status", "details", "expected"),
    [
        (401, "The request you have made requires authentication.", AuthError),
        (404, "Instance abc could not be found.", NotFound),
        (409, "Quota exceeded for resources: ['floatingip'].", QuotaExceeded),
        (403, "Quota exceeded for instances: Requested 5, but already used 0 of 4", QuotaExceeded),
        (413, "Quota exceeded for cores", QuotaExceeded),
        (409, "Cannot 'stop' instance abc while it is in vm_state stopped", Conflict),
        (403, "Policy doesn't allow image:delete to be performed.", Conflict),
        (400, "Invalid key_name provided.", InvalidInput),
        (503, "Service Unavailable", Unavailable),
        (500, "Unexpected API Error.", Unavailable),
    ],
)
def test_http_errors_map_to_the_error_tree(
    status: int, details: str, expected: type[ClientError]
) -> None:
    client = OpenStackCloud(CREDENTIALS)
    mapped = client._map_error(_http(status, details), "Doing it")
    assert type(mapped) is expected
    assert mapped is not None
    assert mapped.message and "\n" not in mapped.message
    if expected is QuotaExceeded:
        assert "quota" in mapped.message.lower()


def test_connection_failures_are_unavailable() -> None:
    from keystoneauth1 import exceptions as ks

    client = OpenStackCloud(CREDENTIALS)
    for error in (ks.ConnectFailure("refused"), ks.ConnectTimeout("slow")):
        mapped = client._map_error(error, "Listing instances")
        assert isinstance(mapped, Unavailable)
        assert mapped.transient


def test_a_keystone_401_wrapped_by_the_sdk_is_an_auth_error() -> None:
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions

    try:
        try:
            raise ks.Unauthorized("The request you have made requires authentication.")
        except ks.Unauthorized as inner:
            raise exceptions.SDKException(str(inner)) from inner
    except exceptions.SDKException as outer:
        mapped = OpenStackCloud(CREDENTIALS)._map_error(outer, "Logging in")
    assert isinstance(mapped, AuthError)
    assert "someone" in mapped.message


def test_errors_that_are_not_the_sdks_are_left_alone() -> None:
    assert OpenStackCloud(CREDENTIALS)._map_error(KeyError("x"), "Doing it") is None
