"""The command line: --version, --help, status (text and JSON), and one-line failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FixedCloud

from canfar_tui import __version__
from canfar_tui.cli.status import collect_status, status_exit_code, status_text
from canfar_tui.clients.base import Unavailable
from canfar_tui.clients.bundle import Clients


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "canfar_tui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_version_and_help(isolated_home: Path) -> None:
    result = run_cli("--version", home=isolated_home)
    assert result.returncode == 0 and result.stdout.strip() == f"canfar-tui {__version__}"
    result = run_cli("--help", home=isolated_home)
    assert result.returncode == 0
    for word in ("status", "detect", "--profile", "--openrc", "--read-only"):
        assert word in result.stdout


def test_status_json_in_the_sandbox(isolated_home: Path) -> None:
    result = run_cli("status", "--json", home=isolated_home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["profile"] == "sandbox"
    services = {service["service"]: service for service in report["services"]}
    assert services["cloud"]["reachable"] and services["cloud"]["backend"] == "SANDBOX"
    assert services["cloud"]["project"] == "canfar-batch-demo"
    assert services["cloud"]["floating_ips"] == 0
    assert services["storage"]["home"] == "vos:sandbox-user"
    assert services["credentials"]["certificate_left"].startswith("9d")
    assert set(services) == {"cloud", "queue", "storage", "credentials"}


def test_status_text_is_one_line_per_service(isolated_home: Path) -> None:
    result = run_cli("status", home=isolated_home)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("canfar-tui status — profile sandbox")
    assert len(lines) == 5
    assert "Traceback" not in result.stdout + result.stderr


async def test_unreachable_service_makes_status_fail() -> None:
    cloud = FixedCloud()
    cloud.failure = Unavailable("arbutus-canfar: connection refused")
    clients = Clients(profile_name="test", cloud=cloud)
    statuses = await collect_status(clients)
    assert status_exit_code(statuses) == 1
    text = status_text("test", "SANDBOX", statuses)
    assert "FAIL cloud" in text and "connection refused" in text
    cloud.failure = None
    assert status_exit_code(await collect_status(clients)) == 0


def test_bad_config_is_one_line_and_exit_2(isolated_home: Path) -> None:
    config = isolated_home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("read_only = 'maybe'\n")
    result = run_cli("status", home=isolated_home)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "read_only must be true or false" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_profile_is_exit_2(isolated_home: Path) -> None:
    result = run_cli("--profile", "nope", "status", home=isolated_home)
    assert result.returncode == 2 and "unknown profile 'nope'" in result.stderr


def test_unexpected_error_is_one_line_with_the_traceback_in_the_log(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import canfar_tui.cli.main as cli

    def explode(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk on fire\nmore")

    monkeypatch.setattr(cli, "run_status", explode)
    import io
    from contextlib import redirect_stderr

    stderr = io.StringIO()
    with redirect_stderr(stderr):
        assert cli.main(["status"]) == 1
    assert stderr.getvalue().count("\n") == 1
    assert "unexpected RuntimeError: disk on fire" in stderr.getvalue()
    log_file = isolated_home / ".local/state/canfar-tui/canfar-tui.log"
    assert "Traceback" in log_file.read_text()
    assert oct(log_file.stat().st_mode & 0o777) == "0o600"


def test_missing_openrc_is_one_line_exit_2(isolated_home: Path) -> None:
    result = run_cli(
        "--openrc", str(isolated_home / "nope-openrc.sh"), "status", home=isolated_home
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
