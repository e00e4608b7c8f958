"""Security checks that SECURITY.md relies on: no secret in the log, private file modes, and
loopback-only sandbox services."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FixedCloud

from canfar_tui.clients.base import AuthError, ClientError, Unavailable
from canfar_tui.clients.bundle import build_clients
from canfar_tui.clients.cloud.openrc import load_openrc
from canfar_tui.clients.cloud.openstack import OpenStackCloud
from canfar_tui.clients.storage.loopback import start_server
from canfar_tui.config import Settings
from canfar_tui.logs import LOGGER_NAME, get_logger, redact, setup_logging
from canfar_tui.preferences import BatchImage, PreferenceStore

PASSWORD = "Xq7-secret-PASS-4242"
TOKEN = "gAAAAABtokenvalue0123456789"

# Horizon's template, plus lines nobody should have put there (one holds the token).
OPENRC = f"""\
#!/usr/bin/env bash
export OS_AUTH_URL=http://127.0.0.1:9/v3
export OS_PROJECT_ID=0123456789abcdef
export OS_PROJECT_NAME="canfar-batch-demo"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
unset OS_TENANT_ID
unset OS_TENANT_NAME
export OS_USERNAME="astro"
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
export OS_REGION_NAME="RegionOne"
curl -H "X-Auth-Token: {TOKEN}" https://example.org/
export OS_TOKEN=$(echo {TOKEN})
"""


@pytest.fixture
def log_file(settings: Settings) -> Iterator[Path]:
    """The session's log file, as the CLI sets it up; the handler is removed afterwards."""
    path = settings.paths.log_file
    logger = setup_logging(path)
    yield path
    for handler in list(logger.handlers):
        if getattr(handler, "baseFilename", None) == str(path):
            logger.removeHandler(handler)
            handler.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_redact_masks_passwords_tokens_and_keys() -> None:
    text = redact(
        f"OS_PASSWORD={PASSWORD} token: {TOKEN} X-Auth-Token: {TOKEN}\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
    )
    assert PASSWORD not in text and TOKEN not in text and "AAAA" not in text


async def test_a_session_with_a_password_and_an_openrc_leaves_no_secret_in_the_log(
    tmp_path: Path, log_file: Path, make_app: Any
) -> None:
    openrc = tmp_path / "canfar-batch-demo-openrc.sh"
    openrc.write_text(OPENRC)
    parsed = load_openrc(openrc)
    assert parsed.password_prompted and parsed.credentials().password is None
    assert all(TOKEN not in warning for warning in parsed.warnings)

    asked: list[int] = []

    def password_provider() -> str:
        asked.append(1)
        return PASSWORD

    cloud = OpenStackCloud.from_openrc(openrc, password_provider=password_provider)
    assert PASSWORD not in repr(cloud) and TOKEN not in repr(cloud)
    try:
        with pytest.raises(ClientError) as caught:
            await cloud.list_projects()  # nothing listens on 127.0.0.1:9
    finally:
        await cloud.aclose()
    assert isinstance(caught.value, Unavailable | AuthError)

    # The app's error path: one line on screen, details in the log.
    failing = FixedCloud()
    failing.failure = AuthError(
        "The cloud refused the password.",
        details=f"POST /v3/auth/tokens password={PASSWORD} X-Auth-Token: {TOKEN}",
    )
    app = make_app(cloud=failing)
    async with app.run_test() as pilot:
        await pilot.press("2")
        await pilot.pause(0.2)
        app.report_error(caught.value, context="login")
        app.report_error(failing.failure, context="login")
        screen_text = " ".join(n.message for n in app._notifications)
        assert "refused the password" in screen_text  # one line on screen, details not
        assert PASSWORD not in screen_text and TOKEN not in screen_text
        app.report_error(RuntimeError(f"token={TOKEN} password: {PASSWORD}"), context="bug")
        get_logger("test").info("login with password=%s and token %s", PASSWORD, f"{TOKEN}")

    text = log_file.read_text()
    assert "refused the password" in text  # the session did write to the log
    assert PASSWORD not in text
    assert "token=***" in text and "password=***" in text
    assert f"X-Auth-Token: {TOKEN}" not in text and f"token={TOKEN}" not in text
    assert mode(log_file) == 0o600
    assert mode(log_file.parent) & 0o077 == 0


def test_log_file_is_private_even_when_it_existed(settings: Settings) -> None:
    path = settings.paths.log_file
    path.parent.mkdir(parents=True)
    path.write_text("old\n")
    path.chmod(0o644)
    logger = setup_logging(path)
    try:
        assert mode(path) == 0o600
    finally:
        for handler in list(logging.getLogger(LOGGER_NAME).handlers):
            if getattr(handler, "baseFilename", None) == str(path):
                logger.removeHandler(handler)
                handler.close()


async def test_sandbox_state_and_preferences_are_private(settings: Settings) -> None:
    clients = build_clients(settings)
    try:
        assert clients.cloud is not None and clients.queue is not None
        await clients.cloud.list_projects()
        await clients.queue.list_jobs()
        credentials = clients.credentials
        assert credentials is not None
        await credentials.status()
    finally:
        await clients.aclose()
    sandbox = settings.paths.data_dir / "sandbox"
    state = [sandbox / "cloud.sqlite", *(sandbox / "queue").glob("*.sqlite*")]
    assert len(state) >= 2, sorted(p.name for p in sandbox.rglob("*"))
    for path in state:
        assert mode(path) == 0o600, path
    for certificate in (sandbox / "credentials").rglob("*.pem"):
        assert mode(certificate) & 0o077 == 0, certificate

    store = PreferenceStore.for_settings(settings)
    store.set_batch_image(BatchImage("img-1", "soak-snapshot"))
    assert mode(store.path) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "::1", "example.org"])
def test_the_loopback_vospace_service_refuses_other_hosts(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        start_server(tmp_path / "root", host=host)


def test_the_loopback_vospace_service_listens_on_127_0_0_1(tmp_path: Path) -> None:
    server = start_server(tmp_path / "root", host="localhost")
    try:
        assert server.host == "127.0.0.1"
        assert server.base_url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
