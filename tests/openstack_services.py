"""Finding the real OpenStack started by ``scripts/openstack/start.sh`` for the integration tests.

``start.sh`` writes ``.services/openstack/env`` (``KEY=value`` lines). The tests read those
variables from the environment (the test command sources the file) or, when they are not set,
from that file directly, so a developer who ran ``start.sh`` can run ``pytest`` as is:

* ``CANFAR_TUI_OPENSTACK_CLOUD`` / ``CANFAR_TUI_OPENSTACK_CLOUDS_YAML``: the clouds.yaml cloud;
* ``CANFAR_TUI_OPENSTACK_PASSWORD_FILE``: the user's password for this run (0600);
* ``CANFAR_TUI_OPENSTACK_OPENRC``, ``CANFAR_TUI_OPENSTACK_AUTH_URL``,
  ``CANFAR_TUI_OPENSTACK_USERNAME``.

Without them the OpenStack tests skip, unless ``CANFAR_TUI_REQUIRE_SERVICES=1``: then a missing
or unreachable cloud FAILS them (:func:`require_or_skip`), and the hook in ``tests/conftest.py``
turns any skip of an OpenStack test (:func:`is_openstack_test`) into a failure, so a CI run
cannot pass without them.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from real_services import REPO, require_or_skip, service_settings

OPENSTACK_ENV = "CANFAR_TUI_OPENSTACK_CLOUD"
DEFAULT_ENV_FILE = REPO / ".services" / "openstack" / "env"
_KEYS = (
    "CANFAR_TUI_OPENSTACK_CLOUD",
    "CANFAR_TUI_OPENSTACK_CLOUDS_YAML",
    "CANFAR_TUI_OPENSTACK_PASSWORD_FILE",
    "CANFAR_TUI_OPENSTACK_OPENRC",
    "CANFAR_TUI_OPENSTACK_AUTH_URL",
    "CANFAR_TUI_OPENSTACK_USERNAME",
)


@dataclass(frozen=True)
class OpenStackService:
    """Where the test cloud is and how to log in to it."""

    cloud: str
    clouds_yaml: Path
    password_file: Path
    openrc: Path
    auth_url: str
    username: str

    def password(self) -> str:
        """The user's password (a password_provider for OpenStackCloud)."""
        return self.password_file.read_text(encoding="utf-8").strip()


def _settings() -> dict[str, str]:
    return service_settings(_KEYS, OPENSTACK_ENV, DEFAULT_ENV_FILE)


@cache
def _find() -> tuple[OpenStackService | None, str]:
    values = _settings()
    if not values.get(OPENSTACK_ENV):
        return None, (
            f"{OPENSTACK_ENV} is not set and {DEFAULT_ENV_FILE} does not exist "
            "(run scripts/openstack/install.sh and start.sh)"
        )
    missing = [key for key in _KEYS if not values.get(key)]
    if missing:
        return None, f"the OpenStack test environment lacks {', '.join(missing)}"
    service = OpenStackService(
        cloud=values["CANFAR_TUI_OPENSTACK_CLOUD"],
        clouds_yaml=Path(values["CANFAR_TUI_OPENSTACK_CLOUDS_YAML"]),
        password_file=Path(values["CANFAR_TUI_OPENSTACK_PASSWORD_FILE"]),
        openrc=Path(values["CANFAR_TUI_OPENSTACK_OPENRC"]),
        auth_url=values["CANFAR_TUI_OPENSTACK_AUTH_URL"],
        username=values["CANFAR_TUI_OPENSTACK_USERNAME"],
    )
    for path in (service.clouds_yaml, service.password_file, service.openrc):
        if not path.is_file():
            return None, f"{path} is missing (was the cloud stopped?)"
    parts = urlsplit(service.auth_url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5000), 3):
            pass
    except OSError as error:
        return None, f"Keystone at {service.auth_url} is not answering ({error})"
    return service, ""


def openstack_service_or_skip() -> OpenStackService:
    """The running test cloud; skips (or fails when required) when there is none."""
    service, reason = _find()
    if service is None:
        require_or_skip(reason)
    return service


def openstack_configured() -> bool:
    """Whether the environment names a test cloud (cheap: reads variables and one file)."""
    return bool(_settings().get(OPENSTACK_ENV))


async def finish_snapshot(service: OpenStackService, project_id: str, image_id: str) -> None:
    """Do what nova's fake compute driver leaves undone: give the snapshot image its bytes.

    The fake driver creates the image record and uploads nothing, so the image would stay
    ``queued`` for ever. Set its formats and PUT a few bytes, as the owner, so it turns
    ``active`` the way a real snapshot does once its upload ends.
    """

    def upload() -> None:
        import openstack

        conn = openstack.connection.Connection(
            config=openstack.config.OpenStackConfig(
                config_files=[str(service.clouds_yaml)], load_envvars=False
            ).get_one(
                cloud=service.cloud,
                auth={"password": service.password(), "project_id": project_id},
            )
        )
        try:
            images = conn.image
            assert isinstance(images, openstack.image.v2._proxy.Proxy)  # Glance has only v2
            image = images.get_image(image_id)
            if image.status == "queued":
                if not image.disk_format or not image.container_format:
                    images.update_image(image, disk_format="qcow2", container_format="bare")
                images.put(
                    f"/images/{image_id}/file",
                    data=b"canfar-tui fake snapshot\n" * 64,
                    headers={"Content-Type": "application/octet-stream"},
                ).raise_for_status()
        finally:
            conn.close()

    await asyncio.to_thread(upload)


def is_openstack_test(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("cloud_backend") == "openstack":
        return True
    return "openstack_service" in getattr(item, "fixturenames", ())
