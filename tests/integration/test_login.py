"""``canfar-tui login`` and the login screen against the CADC replica (``scripts/cadc``).

The real-profile path, no sandbox: the CLI runs as a subprocess in a fresh HOME prepared from
the replica (its registry cache), with ``PYTHONPATH=$CANFAR_TUI_CADC_PYTHONPATH:<repo>`` so that
cadcutils trusts the test CA; the password goes in on stdin, never in argv. The screen runs
in-process, driven by Textual's pilot, with cadcutils' registry cache and CA bundle pointed
at the replica.
"""

from __future__ import annotations

import hashlib
import netrc
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cadc_services import CadcService, cadc_service_or_skip
from real_services import REPO

from canfar_tui.app import CanfarApp
from canfar_tui.clients.credentials import certificate_expiry
from canfar_tui.config import load_settings

OPENRC = """\
export OS_AUTH_URL=http://127.0.0.1:9/v3
export OS_PROJECT_NAME="{project}"
export OS_USER_DOMAIN_NAME="Default"
export OS_USERNAME=$OS_USERNAME_INPUT
echo "Please enter your OpenStack Password for project $OS_PROJECT_NAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=$OS_PASSWORD_INPUT
"""


@pytest.fixture
def cadc_service() -> CadcService:
    """The running replica; skips without it (fails when services are required)."""
    return cadc_service_or_skip()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def login_env(service: CadcService, home: Path) -> dict[str, str]:
    env = service.client_env(home)
    env["PYTHONPATH"] = f"{service.pythonpath}{os.pathsep}{REPO}"
    for name in list(env):
        if name.startswith(("XDG_", "OS_", "CANFAR_TUI_FAULTS")):
            del env[name]
    return env


def run_login(
    service: CadcService, home: Path, password: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "canfar_tui", "login", "--username", service.user, *args],
        input=password + "\n",
        env=login_env(service, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def registry_hosts(service: CadcService, home: Path) -> set[str]:
    """The hosts of every service the replica's registry (in the client HOME) names."""
    text = (home / ".config" / "cadc-registry" / "resource-caps").read_text()
    return {
        urlsplit(line.split("=", 1)[1].strip()).hostname or ""
        for line in text.splitlines()
        if "=" in line and not line.startswith("#")
    }


def snapshot(home: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``home`` (mode, SHA-256), but cadcutils' own registry cache."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(home.rglob("*")):
        relative = path.relative_to(home).as_posix()
        if relative.startswith(".config/cadc-registry") or not path.is_file():
            continue
        found[relative] = (mode(path), hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def test_login_writes_certificate_profile_and_netrc(
    cadc_service: CadcService, tmp_path: Path
) -> None:
    home = cadc_service.new_home(tmp_path / "home")
    password = cadc_service.password()

    result = run_login(cadc_service, home, password, "--password-stdin", "--netrc")

    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    certificate = home / ".ssl" / "cadcproxy.pem"
    assert mode(certificate) == 0o600 and mode(certificate.parent) == 0o700
    expires, common_name = certificate_expiry(certificate.read_bytes())
    assert common_name == cadc_service.user
    from datetime import UTC, datetime, timedelta

    assert timedelta(days=9.9) < expires - datetime.now(UTC) <= timedelta(days=10)

    config = home / ".config" / "canfar-tui" / "config.toml"
    text = config.read_text()
    assert password not in text and "password" not in text
    data = tomllib.loads(text)
    assert data["default_profile"] == cadc_service.user
    assert data["profiles"][cadc_service.user] == {
        "kind": "canfar",
        "username": cadc_service.user,
        "vospace": f"vos:{cadc_service.user}",
        "certificate": "~/.ssl/cadcproxy.pem",
    }

    dot_netrc = home / ".netrc"
    assert mode(dot_netrc) == 0o600
    parsed = netrc.netrc(str(dot_netrc))
    assert set(parsed.hosts) == registry_hosts(cadc_service, home) == {cadc_service.host}
    assert parsed.authenticators(cadc_service.host) == (cadc_service.user, "", password)
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["ok", "certificate"] for line in lines), result.stdout
    assert any("no OpenStack project found" in line for line in lines)

    # The netrc entry is the one the real cadc-get-cert -n looks up.
    certificate.unlink()
    real = subprocess.run(
        [str(Path(sys.executable).parent / "cadc-get-cert"), "-n"],
        env=login_env(cadc_service, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert "DONE" in real.stdout, real.stdout + real.stderr


def test_a_wrong_password_leaves_home_unchanged(cadc_service: CadcService, tmp_path: Path) -> None:
    home = cadc_service.new_home(tmp_path / "home")
    (home / "proj-openrc.sh").write_text(OPENRC.format(project="proj"))
    before = snapshot(home)

    result = run_login(cadc_service, home, "not-the-password", "--netrc")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "canfar-tui: login failed: CADC refused the username/password"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(home) == before


def test_openrc_files_become_profiles(cadc_service: CadcService, tmp_path: Path) -> None:
    home = cadc_service.new_home(tmp_path / "home")
    for project in ("canfar-batch", "survey"):
        (home / f"{project}-openrc.sh").write_text(OPENRC.format(project=project))
    config = home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('# mine\ntheme = "textual-light"\n')
    password = cadc_service.password()

    result = run_login(cadc_service, home, password, "--vospace", "vos:survey/")

    assert result.returncode == 0, result.stderr
    assert not (home / ".netrc").exists()
    text = config.read_text()
    assert text.startswith('default_profile = "canfar-batch"\n# mine\n')
    data = tomllib.loads(text)
    assert data["theme"] == "textual-light"
    assert sorted(data["profiles"]) == ["canfar-batch", "survey"]
    survey = data["profiles"]["survey"]
    assert survey["openrc"] == "~/survey-openrc.sh" and survey["vospace"] == "vos:survey/"
    settings = load_settings(config_file=config, env={"HOME": str(home)})
    assert settings.profile.openrc == home / "canfar-batch-openrc.sh"
    assert "canfar-batch (~/canfar-batch-openrc.sh)" in result.stdout

    # Again: the same names are refused in one line, nothing changes; --force replaces.
    before = snapshot(home)
    again = run_login(cadc_service, home, password)
    assert again.returncode == 2
    assert len(again.stderr.splitlines()) == 1 and "exists already" in again.stderr
    assert snapshot(home) == before
    forced = run_login(cadc_service, home, password, "--force", "--profile-name", "main")
    assert forced.returncode == 0, forced.stderr
    data = tomllib.loads(config.read_text())
    assert data["default_profile"] == "main"
    assert sorted(data["profiles"]) == ["canfar-batch", "main", "survey"]


# --------------------------------------------------------------------------- the screen


@pytest.fixture
def replica_home(
    cadc_service: CadcService, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The test HOME prepared from the replica; cadcutils in this process pointed at it."""
    import certifi
    import requests.adapters
    import requests.utils
    from cadcutils.net import ws

    cadc_service.new_home(isolated_home)
    bundle = str(cadc_service.ca_bundle)
    monkeypatch.setattr(certifi, "where", lambda: bundle)
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", bundle)
    monkeypatch.setattr(requests.utils, "DEFAULT_CA_BUNDLE_PATH", bundle)
    monkeypatch.setattr(ws, "CACHE_LOCATION", str(isolated_home / ".config" / "cadc-registry"))
    for name in [name for name in os.environ if name.startswith("OS_")]:
        monkeypatch.delenv(name)
    return isolated_home


async def test_the_login_screen_logs_in_against_the_replica(
    make_app: Callable[..., CanfarApp],
    cadc_service: CadcService,
    replica_home: Path,
) -> None:
    from textual.widgets import Checkbox, Input, Static

    from canfar_tui.screens.login import LoginScreen

    (replica_home / "proj-openrc.sh").write_text(OPENRC.format(project="proj"))
    app = make_app()
    app.offer_login = True  # the first start, as run_tui sets it without a config file
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            if isinstance(app.screen, LoginScreen):
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, LoginScreen)

        # A wrong password first: one line on the form, nothing written.
        screen.query_one("#login-username", Input).value = cadc_service.user
        screen.query_one("#login-password", Input).value = "wrong"
        screen.query_one("#login-netrc", Checkbox).value = True
        screen.query_one("#login-password", Input).focus()
        await pilot.press("enter")
        error = screen.query_one("#login-error", Static)
        for _ in range(400):
            if str(error.content):
                break
            await pilot.pause(0.05)
        assert str(error.content) == "Login failed: CADC refused the username/password"
        assert not (replica_home / ".ssl").exists() and not (replica_home / ".netrc").exists()
        assert screen.query_one("#login-password", Input).value == ""

        screen.query_one("#login-password", Input).value = cadc_service.password()
        screen.query_one("#login-password", Input).focus()
        await pilot.press("enter")
        for _ in range(400):
            if screen.result is not None or str(error.content):
                break
            await pilot.pause(0.05)
        assert screen.result is not None, str(error.content)
        shown = str(screen.query_one("#login-result", Static).content)
        assert "certificate" in shown and "proj" in shown
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, LoginScreen)
        assert app.unexpected_errors == 0

    pem = replica_home / ".ssl" / "cadcproxy.pem"
    assert mode(pem) == 0o600
    assert certificate_expiry(pem.read_bytes())[1] == cadc_service.user
    assert set(netrc.netrc(str(replica_home / ".netrc")).hosts) == {cadc_service.host}
    settings = load_settings()
    assert settings.profile.name == "proj"
    assert settings.profile.openrc == replica_home / "proj-openrc.sh"
    assert settings.profile.username == cadc_service.user


def test_an_unreachable_credential_service_is_one_line(
    cadc_service: CadcService, tmp_path: Path
) -> None:
    home = cadc_service.new_home(tmp_path / "home")
    registry = home / ".config" / "cadc-registry" / "resource-caps"
    port = urlsplit(cadc_service.url).port
    stamp = registry.stat()
    registry.write_text(registry.read_text().replace(f":{port}/", ":9/"))
    os.utime(registry, (stamp.st_atime, stamp.st_mtime))  # still fresh: never refreshed
    before = snapshot(home)

    result = run_login(cadc_service, home, cadc_service.password())

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "canfar-tui: login failed: Cannot reach the CADC credential service"
    ]
    assert snapshot(home) == before
