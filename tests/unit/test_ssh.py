"""SSH command construction and the connect plan (no real ssh is run).

The terminal hand-over's ctrl+c is checked with real processes: a child signals its whole
process group, as a terminal does, in a driver that runs in a session of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from canfar_tui.ssh import (
    SSH_CONNECTION_ERROR,
    SshStep,
    connect_plan,
    display_command,
    execute_plan,
    identity_for,
    ssh_command,
    validate_host,
    validate_ssh_option,
    validate_user,
)
from canfar_tui.vm_setup import setup_steps


def setup_commands(default_user: str, cadc_user: str, host: str) -> list[SshStep]:
    """The seed's set-up steps (canfar_tui.vm_setup), as a connect plan may start with them."""
    return setup_steps(default_user, cadc_user, host)


IP = "206.12.92.10"


def test_the_seed_command_is_plain_ssh_user_at_ip() -> None:
    assert ssh_command("ubuntu", IP) == ["ssh", f"ubuntu@{IP}"]
    assert ssh_command("rocky", IP) == ["ssh", f"rocky@{IP}"]


def test_identity_is_added_only_when_the_private_key_exists(tmp_path: Path) -> None:
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    assert identity_for("laptop", ssh_dir) is None
    (ssh_dir / "laptop").write_text("private")
    (ssh_dir / "laptop.pub").write_text("public")
    key = identity_for("laptop", ssh_dir)
    assert key == ssh_dir / "laptop"
    assert identity_for("laptop.pub", ssh_dir) == ssh_dir / "laptop", ".pub names are stripped"
    assert identity_for(None, ssh_dir) is None
    assert identity_for("../etc/passwd", ssh_dir) is None
    assert ssh_command("ubuntu", IP, identity=key) == ["ssh", "-i", str(key), f"ubuntu@{IP}"]


def test_remote_commands_are_one_quoted_argument_with_a_terminal() -> None:
    argv = ssh_command("ubuntu", IP, remote=("sudo", "canfar_create_user", "jdoe"), tty=True)
    assert argv == ["ssh", "-t", f"ubuntu@{IP}", "sudo canfar_create_user jdoe"]


@pytest.mark.parametrize("user", ["", "-oProxyCommand=x", "a b", "j;rm", ".hidden", "x" * 33])
def test_bad_users_are_refused(user: str) -> None:
    with pytest.raises(ValueError):
        validate_user(user)
    with pytest.raises(ValueError):
        ssh_command(user, IP)


@pytest.mark.parametrize("host", ["", "-oProxyCommand=x", "a b", "host;ls", "-1.2.3.4"])
def test_bad_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError):
        validate_host(host)


def test_good_users_and_hosts() -> None:
    assert validate_user("jdoe") == "jdoe"
    assert validate_user("j.doe-2_x") == "j.doe-2_x"
    assert validate_host("2001:db8::1") == "2001:db8::1"
    assert validate_host("vm-1.canfar.net") == "vm-1.canfar.net"


def test_display_shows_home_as_tilde_and_quotes_the_remote_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    argv = ssh_command(
        "ubuntu", IP, identity=home / ".ssh" / "id_ed25519", remote=("sudo", "canfar_setup_scratch")
    )
    assert display_command(argv, home) == (
        f"ssh -i ~/.ssh/id_ed25519 ubuntu@{IP} 'sudo canfar_setup_scratch'"
    )
    assert display_command(["ssh", f"ubuntu@{IP}"], home) == f"ssh ubuntu@{IP}"


def test_connect_plan_ends_with_the_interactive_login() -> None:
    setup = setup_commands("ubuntu", "jdoe", IP)
    plan = connect_plan("jdoe", IP, setup=setup)
    assert plan[:-1] == setup
    assert plan[-1].argv == ("ssh", f"jdoe@{IP}")
    assert not plan[-1].setup
    timed = connect_plan("jdoe", IP, options=("Port=2222",), connect_timeout=15)
    assert timed[-1].argv == ("ssh", "-o", "Port=2222", "-o", "ConnectTimeout=15", f"jdoe@{IP}")


def test_profile_options_come_first_so_that_they_win_and_batch_never_prompts() -> None:
    argv = ssh_command(
        "ubuntu",
        IP,
        identity=Path("/k/id"),
        remote_shell="sudo apt update -y && sudo apt install -y x",
        options=("ConnectTimeout=3", "Port=2222"),
        connect_timeout=15,
        batch=True,
    )
    options = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    assert options[:3] == ["ConnectTimeout=3", "Port=2222", "ConnectTimeout=15"]
    assert "BatchMode=yes" in options and "StrictHostKeyChecking=accept-new" in options
    assert argv[-3:] == ["/k/id", f"ubuntu@{IP}", "sudo apt update -y && sudo apt install -y x"]
    with pytest.raises(ValueError):
        ssh_command("ubuntu", IP, remote=("ls",), remote_shell="ls")


@pytest.mark.parametrize("option", ["", "-p 22", "Port", "=22", "Port=22\nProxyCommand=x", "1=2"])
def test_bad_ssh_options_are_refused(option: str) -> None:
    with pytest.raises(ValueError):
        validate_ssh_option(option)
    with pytest.raises(ValueError):
        ssh_command("ubuntu", IP, options=(option,))


def test_good_ssh_options() -> None:
    for option in ("Port=2222", "ProxyJump bastion.example", "UserKnownHostsFile=/tmp/k h"):
        assert validate_ssh_option(option) == option


class Recorder:
    """Stands in for the terminal: records commands, answers with given exit statuses."""

    def __init__(self, codes: Sequence[int] = ()) -> None:
        self.codes = list(codes)
        self.ran: list[tuple[str, ...]] = []
        self.printed: list[str] = []
        self.pauses = 0

    def run(self, argv: Sequence[str]) -> int:
        self.ran.append(tuple(argv))
        return self.codes.pop(0) if self.codes else 0

    def pause(self) -> None:
        self.pauses += 1


def test_execute_runs_every_step_in_order() -> None:
    plan = connect_plan("jdoe", IP, setup=setup_commands("ubuntu", "jdoe", IP))
    terminal = Recorder()
    result = execute_plan(
        plan, run=terminal.run, echo=terminal.printed.append, pause=terminal.pause
    )
    assert terminal.ran == [step.argv for step in plan]
    assert result.returncode == 0 and result.failed is None and result.setup_ok
    assert terminal.pauses == 0
    assert any("sudo canfar_create_user jdoe" in line for line in terminal.printed)


def test_a_failed_setup_step_stops_the_plan_and_waits_for_enter() -> None:
    plan = connect_plan("jdoe", IP, setup=setup_commands("ubuntu", "jdoe", IP))
    terminal = Recorder(codes=[1])
    result = execute_plan(
        plan, run=terminal.run, echo=terminal.printed.append, pause=terminal.pause
    )
    assert len(terminal.ran) == 1
    assert result.failed == plan[0] and not result.setup_ok
    assert "create the user jdoe" in result.message
    assert terminal.pauses == 1


def test_a_connection_error_keeps_the_message_on_screen() -> None:
    terminal = Recorder(codes=[SSH_CONNECTION_ERROR])
    result = execute_plan(
        connect_plan("ubuntu", IP),
        run=terminal.run,
        echo=terminal.printed.append,
        pause=terminal.pause,
    )
    assert result.returncode == SSH_CONNECTION_ERROR
    assert result.setup_ok, "there was no setup to fail"
    assert terminal.pauses == 1
    assert "could not connect" in result.message


def test_the_remote_shell_exit_status_is_not_an_error() -> None:
    terminal = Recorder(codes=[3])
    result = execute_plan(
        connect_plan("ubuntu", IP),
        run=terminal.run,
        echo=terminal.printed.append,
        pause=terminal.pause,
    )
    assert result.returncode == 3 and result.failed is None and terminal.pauses == 0


def test_missing_ssh_is_one_clear_line() -> None:
    def missing(argv: Sequence[str]) -> int:
        raise FileNotFoundError(argv[0])

    printed: list[str] = []
    result = execute_plan(
        [SshStep(("ssh", f"ubuntu@{IP}"), "log in")],
        run=missing,
        echo=printed.append,
        pause=lambda: None,
    )
    assert result.returncode == 127
    assert "ssh is not installed" in result.message


def test_the_last_stderr_line_says_why_ssh_could_not_connect() -> None:
    printed: list[str] = []
    result = execute_plan(
        connect_plan("ubuntu", IP),
        run=lambda argv: (255, "ssh: connect to host 206.12.92.10 port 22: Connection timed out"),
        echo=printed.append,
        pause=lambda: None,
    )
    assert result.message == (
        "ssh could not connect (exit status 255): "
        "ssh: connect to host 206.12.92.10 port 22: Connection timed out"
    )


def test_ctrl_c_stops_ssh_and_comes_back_instead_of_quitting(tmp_path: Path) -> None:
    """Issue 15: ctrl+c during connect, then enter, closed canfar-tui with no message.

    The "ssh" here signals its whole process group with SIGINT, as the terminal does for
    ctrl+c. It must die of it (it keeps the default handler) while the plan comes back with a
    one-line result; the pause that follows survives a second ctrl+c.
    """
    driver = tmp_path / "driver.py"
    driver.write_text(
        textwrap.dedent(
            f"""
            import json, os, signal, sys
            sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
            from canfar_tui.ssh import SshStep, execute_plan

            child = [sys.executable, "-c",
                     "import os, signal, time; os.killpg(0, signal.SIGINT); time.sleep(5)"]

            def pause():
                os.killpg(0, signal.SIGINT)  # ctrl+c at "press enter"
                input()

            result = execute_plan([SshStep(tuple(child), "log in as ubuntu")], pause=pause)
            print(json.dumps([result.returncode, result.message]))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(driver)],
        input="\n",
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    returncode, message = json.loads(done.stdout.strip().splitlines()[-1])
    assert returncode == -2
    assert message == "log in as ubuntu: ssh was stopped (signal 2)"
