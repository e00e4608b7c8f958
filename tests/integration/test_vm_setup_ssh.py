"""The seed's VM set-up from the Instances tab, over a real ssh to a real sshd on 127.0.0.1.

Driven by keys through the real-profile code path: an InstancesView whose cloud is not the
sandbox (a fixed cloud whose instance's floating IP is 127.0.0.1, its key pair's private key
in ``~/.ssh``) and a profile whose ``ssh_options`` name the test's sshd port and known-hosts
file. The sshd (tests/ssh_server.py) is started by each test and killed by PID; stubs of
``canfar_create_user``, ``canfar_setup_scratch``, ``apt`` and ``sudo`` come first on its PATH
and record their arguments. So ssh itself, the connect timeout, the live output, the failures,
cancel (the ssh process group killed) and the return to the dashboard are all real.

Also: the sandbox sends nothing, even when an sshd listens where its instance points.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes import FixedCloud
from ssh_server import SshServer, keygen, sshd_or_skip, start_ssh_server
from textual.pilot import Pilot

from canfar_tui.app import CanfarApp, create_app
from canfar_tui.clients.bundle import Clients
from canfar_tui.config import Profile, Settings
from canfar_tui.preferences import InstanceLogin, PreferenceStore
from canfar_tui.screens.cloud_dialogs import FirstConnectionScreen
from canfar_tui.screens.vm_setup import VmSetupScreen
from canfar_tui.widgets.cloud.instances import InstancesView

SIZE = (120, 36)
KEY_NAME = "laptop"


class RealCloud(FixedCloud):
    """A cloud that is not the sandbox, with one ACTIVE instance at 127.0.0.1."""

    backend_label = "arbutus-canfar"

    def __init__(self, *, flavor: str = "c2-7.5gb-30") -> None:
        super().__init__(instances=1)
        self.instances = [
            replace(
                self.instances[0],
                name="catalogue-vm",
                status="ACTIVE",
                power_state="Running",
                floating_ip="127.0.0.1",
                flavor_name=flavor,
                key_name=KEY_NAME,
            )
        ]


class Notices:
    """Every notification the app raised."""

    def __init__(self, app: CanfarApp) -> None:
        self.seen: list[tuple[str, str, str]] = []
        original = app.notify

        def record(
            message: str, *, title: str = "", severity: Any = "information", **kw: Any
        ) -> None:
            self.seen.append((title, message, str(severity)))
            original(message, title=title, severity=severity, **kw)

        app.notify = record  # type: ignore[method-assign]

    def titled(self, title: str) -> list[str]:
        return [message for seen_title, message, _ in self.seen if seen_title == title]

    def containing(self, text: str) -> list[tuple[str, str, str]]:
        return [seen for seen in self.seen if text in seen[0] or text in seen[1]]


async def until(
    pilot: Pilot[Any], check: Callable[[], object], what: str, seconds: float = 30.0
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def client_key(isolated_home: Path) -> Path:
    """The key pair's private key where the Instances tab looks for it: ~/.ssh/laptop."""
    sshd_or_skip()
    return keygen(isolated_home / ".ssh" / KEY_NAME)


@pytest.fixture
def sshd(tmp_path: Path, client_key: Path) -> Iterator[SshServer]:
    server = start_ssh_server(tmp_path / "sshd", client_key.with_suffix(".pub"))
    try:
        yield server
    finally:
        server.stop()


def real_settings(settings: Settings, ssh_options: tuple[str, ...]) -> Settings:
    profile = Profile(name="arbutus", kind="canfar", username="jdoe", ssh_options=ssh_options)
    return replace(settings, profile=profile, profiles={**settings.profiles, "arbutus": profile})


def real_app(settings: Settings, cloud: FixedCloud) -> CanfarApp:
    clients = Clients(
        settings.profile.name,
        cloud=cloud,
        missing={
            "queue": "not in these tests",
            "storage": "not in these tests",
            "credentials": "not in these tests",
        },
        mode_label=str(cloud.backend_label).upper(),
    )
    return create_app(settings, clients)


async def instances_tab(pilot: Pilot[Any], app: CanfarApp) -> InstancesView:
    await pilot.press("2")
    await until(pilot, lambda: isinstance(app.view("instances"), InstancesView), "the tab")
    view = app.view("instances")
    assert isinstance(view, InstancesView)
    await until(pilot, lambda: view.table.row_count == 1, "the instance")
    return view


async def start_setup(pilot: Pilot[Any], app: CanfarApp, key: str = "o") -> VmSetupScreen:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, FirstConnectionScreen), "the offer")
    assert app.screen.query_one("#first-connection-user").value == "jdoe"  # type: ignore[attr-defined]
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, VmSetupScreen), "the set-up screen")
    screen = app.screen
    assert isinstance(screen, VmSetupScreen) and not screen.simulated
    return screen


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# --------------------------------------------------------------------------- the set-up


async def test_the_seed_set_up_runs_over_ssh_with_its_output_live(
    settings: Settings, sshd: SshServer, isolated_home: Path
) -> None:
    chosen = real_settings(settings, sshd.client_options)
    app = real_app(chosen, RealCloud())
    notices = Notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await instances_tab(pilot, app)
        screen = await start_setup(pilot, app)
        # live: apt's first line is on screen while apt (and ssh) still run
        await until(
            pilot,
            lambda: any("Hit:1 http://archive.ubuntu.com" in line for line in screen.transcript),
            "apt's first line",
        )
        assert screen.running and screen.runner is not None and screen.runner.pid is not None
        assert not any("Reading package lists" in line for line in screen.transcript)
        await until(pilot, lambda: not screen.running, "the end of the set-up")
        assert screen.result is not None and screen.result.ok, screen.transcript
        assert sshd.calls == [
            "sudo canfar_create_user jdoe",
            "canfar_create_user jdoe",
            "sudo canfar_setup_scratch",
            "canfar_setup_scratch ",
            "sudo apt update -y",
            "apt update -y",
            "sudo apt install -y source-extractor libcfitsio-bin",
            "apt install -y source-extractor libcfitsio-bin",
        ]
        shown = screen.transcript
        order = [
            " >> canfar_create_user: creating the user jdoe",
            " >> canfar_setup_scratch: setting up scratch directory on /mnt/scratch",
            "Reading package lists...",
            "Setting up source-extractor (2.25.0+ds-2) ...",
            "── done: 3 step(s) succeeded",
        ]
        assert [shown.index(line) for line in order] == sorted(shown.index(line) for line in order)
        commands = [line[2:] for line in shown if line.startswith("$ ")]
        assert len(commands) == 3
        assert all(
            f"-o Port={sshd.port}" in command
            and "-o ConnectTimeout=15" in command
            and "-o BatchMode=yes" in command
            and f"-i ~/.ssh/{KEY_NAME} ubuntu@127.0.0.1" in command
            for command in commands
        )
        assert "Accepted publickey for ubuntu" in sshd.log
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, VmSetupScreen), "the dashboard")
        assert notices.titled("VM set-up") == ["catalogue-vm: 127.0.0.1 is set up. Log in as jdoe."]
        store = PreferenceStore.for_settings(chosen)
        assert store.instance_login("i-001") == InstanceLogin("jdoe", setup_done=True)

        # o now logs in as jdoe: the headless test terminal cannot be handed over, so the
        # command (with the profile's options and the connect timeout) is copied instead.
        await pilot.press("o")
        await until(pilot, lambda: notices.containing("cannot be handed over"), "the message")
        assert app.clipboard == (
            f"ssh -o Port={sshd.port} -o UserKnownHostsFile={sshd.folder / 'known_hosts'} "
            "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o ConnectTimeout=15 "
            f"-i ~/.ssh/{KEY_NAME} jdoe@127.0.0.1"
        )
    assert app.unexpected_errors == 0


async def test_a_failed_step_is_one_line_and_the_rest_is_not_run(
    settings: Settings, sshd: SshServer
) -> None:
    (sshd.stubs / "fail_scratch").touch()
    chosen = real_settings(settings, sshd.client_options)
    app = real_app(chosen, RealCloud())
    notices = Notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await instances_tab(pilot, app)
        screen = await start_setup(pilot, app)
        await until(pilot, lambda: not screen.running, "the failure")
        expected = (
            "prepare /mnt/scratch failed (exit status 1): canfar_setup_scratch ERROR: This is "
            "not a VM with ephemeral partition. Terminate and choose another flavor"
        )
        assert screen.result is not None and screen.result.message == expected
        assert "── the remaining 1 step(s) were not run" in screen.transcript
        assert not any(call.startswith("apt") for call in sshd.calls)
        await pilot.press("enter")  # no login after a failure
        assert isinstance(app.screen, VmSetupScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, VmSetupScreen), "the dashboard")
        errors = [message for _, message, severity in notices.seen if severity == "error"]
        assert errors == [f"catalogue-vm: {expected} (e: details)"]
        assert PreferenceStore.for_settings(chosen).instance_login("i-001") is None
    assert app.unexpected_errors == 0


async def test_cancel_kills_ssh_and_the_remote_command_stops(
    settings: Settings, sshd: SshServer
) -> None:
    (sshd.stubs / "slow_apt").touch()
    chosen = real_settings(settings, sshd.client_options)
    app = real_app(chosen, RealCloud())
    notices = Notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await instances_tab(pilot, app)
        screen = await start_setup(pilot, app, key="v")
        await until(
            pilot, lambda: any(line.startswith("Get:3 ") for line in screen.transcript), "apt"
        )
        assert screen.runner is not None
        ssh_pid = screen.runner.pid
        assert ssh_pid is not None
        remote_apt = int((sshd.stubs / "apt.pid").read_text())
        started = time.monotonic()
        await pilot.press("escape")
        await until(pilot, lambda: not screen.running, "the cancel", seconds=10)
        assert time.monotonic() - started < 5
        assert not alive(ssh_pid)
        assert screen.result is not None and screen.result.cancelled
        assert screen.result.message == (
            "install source-extractor and funpack: cancelled (ssh was stopped)"
        )
        await until(pilot, lambda: not alive(remote_apt), "the remote apt to stop", seconds=15)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, VmSetupScreen), "the dashboard")
        assert notices.titled("VM set-up") == [
            "catalogue-vm: install source-extractor and funpack: cancelled (ssh was stopped)"
        ]
    assert app.unexpected_errors == 0


async def test_an_unanswering_host_times_out_in_one_line(
    settings: Settings, sshd: SshServer
) -> None:
    """A server that accepts the connection and never speaks: ssh gives up after the timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        options = (f"Port={port}", "ConnectTimeout=2", *sshd.client_options[1:])
        chosen = real_settings(settings, options)
        app = real_app(chosen, RealCloud())
        async with app.run_test(size=SIZE) as pilot:
            await instances_tab(pilot, app)
            started = time.monotonic()
            screen = await start_setup(pilot, app)
            await until(pilot, lambda: not screen.running, "the timeout", seconds=20)
            elapsed = time.monotonic() - started
            assert screen.result is not None
            message = screen.result.message
            assert message.startswith(
                "create the user jdoe: ssh could not connect to 127.0.0.1 (exit status 255): "
            )
            assert "timed out" in message.lower(), message
            assert elapsed < 10, elapsed
            assert "ConnectTimeout=2" in screen.transcript[1]
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, VmSetupScreen), "back")
        assert app.unexpected_errors == 0
    assert sshd.calls == []


# --------------------------------------------------------------------------- connect


async def test_connect_hands_the_terminal_to_ssh_and_always_comes_back(
    settings: Settings, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real "o" (skip the set-up, log in as ubuntu): ssh runs on the terminal and returns.

    A headless test has no terminal to give away, so only ``App.suspend`` is replaced; ssh
    runs for real with the test's stdin (no terminal: the remote shell reads end of file).
    Then a login that cannot connect: one line on the dashboard, the app still running.
    """
    import contextlib

    # No terminal to answer ssh's question about a new host key: accept it (the set-up, in
    # batch mode, does the same).
    options = (*sshd.client_options, "StrictHostKeyChecking=accept-new")
    chosen = real_settings(settings, options)
    app = real_app(chosen, RealCloud())
    notices = Notices(app)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=SIZE) as pilot:
        await instances_tab(pilot, app)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FirstConnectionScreen), "the offer")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: notices.titled("Connect"), "the return")
        assert notices.titled("Connect") == ["Back from catalogue-vm."]
        assert "Accepted publickey for ubuntu" in sshd.log
        # the remembered user is the image's; a stopped sshd: ssh fails in one line
        sshd.stop()
        await pilot.press("o")
        await until(
            pilot,
            lambda: [m for _, m, s in notices.seen if s == "error"],
            "the one-line failure",
        )
        errors = [message for _, message, severity in notices.seen if severity == "error"]
        assert errors == [
            "catalogue-vm: ssh could not connect (exit status 255): ssh: connect to host "
            f"127.0.0.1 port {sshd.port}: Connection refused (e: details)"
        ]
        assert app.is_running
    assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- the sandbox


async def test_the_sandbox_sends_nothing_even_to_a_listening_sshd(
    settings: Settings, sshd: SshServer
) -> None:
    """A sandbox profile whose instance points at a live sshd: no connection ever reaches it."""
    profile = replace(settings.profile, ssh_options=sshd.client_options)
    assert profile.is_sandbox
    chosen = replace(settings, profile=profile)
    cloud = RealCloud()
    cloud.backend_label = "SANDBOX"
    app = real_app(chosen, cloud)
    notices = Notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await instances_tab(pilot, app)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FirstConnectionScreen), "the offer")
        await pilot.press(*"jdoe", "enter")  # no username in this profile, no certificate
        await until(pilot, lambda: isinstance(app.screen, VmSetupScreen), "the transcript")
        screen = app.screen
        assert isinstance(screen, VmSetupScreen) and screen.simulated and screen.runner is None
        assert screen.transcript[0].startswith("SANDBOX: nothing is sent anywhere.")
        await pilot.press("escape")
        await pilot.press("o")  # remembered now: the login, simulated too
        await until(pilot, lambda: isinstance(app.screen, VmSetupScreen), "the login transcript")
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert len(notices.titled("VM set-up (sandbox)")) == 1
        assert len(notices.titled("Connect (sandbox)")) == 1
    assert "Connection from" not in sshd.log
    assert sshd.calls == []
    assert app.unexpected_errors == 0
