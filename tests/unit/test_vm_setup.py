"""The seed's VM set-up: the commands, the one-line failures, and the streaming runner.

The runner is checked on real local processes (``sh -c …`` stands in for ssh): lines arrive
while the process still runs, stderr's last line is kept, and cancel ends the whole process
group, grandchildren included. The same runner over a real sshd is in
tests/integration/test_vm_setup_ssh.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from canfar_tui.ssh import SshStep, display_command
from canfar_tui.vm_setup import (
    APT_INSTALL,
    DNF_INSTALL,
    SshRun,
    StepOutcome,
    clean_line,
    failure_line,
    install_command,
    run_steps,
    setup_steps,
    simulated_transcript,
)

IP = "206.12.92.10"
BATCH = (
    "-o",
    "ConnectTimeout=15",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=4",
)
CREATE_JDOE = (
    "if id -u jdoe >/dev/null 2>&1; then echo 'the user jdoe exists already: "
    "canfar_create_user skipped'; else sudo canfar_create_user jdoe; fi"
)


def test_the_seed_steps_run_as_the_image_user_one_ssh_each() -> None:
    steps = setup_steps("ubuntu", "jdoe", IP, identity=Path("/k/id"))
    assert [step.argv for step in steps] == [
        ("ssh", *BATCH, "-i", "/k/id", f"ubuntu@{IP}", CREATE_JDOE),
        ("ssh", *BATCH, "-i", "/k/id", f"ubuntu@{IP}", "sudo canfar_setup_scratch"),
        ("ssh", *BATCH, "-i", "/k/id", f"ubuntu@{IP}", APT_INSTALL),
    ]
    assert (
        APT_INSTALL == "sudo apt update -y && sudo apt install -y source-extractor libcfitsio-bin"
    )
    assert all(step.setup for step in steps)
    assert [step.description for step in steps] == [
        "create the user jdoe",
        "prepare /mnt/scratch",
        "install source-extractor and funpack",
    ]


def test_rocky_uses_dnf_and_persistent_flavors_have_no_scratch() -> None:
    steps = setup_steps("rocky", "jdoe", IP, scratch=False, options=("Port=2222",))
    assert [step.argv[-1] for step in steps] == [CREATE_JDOE, DNF_INSTALL]
    assert steps[0].argv[:3] == ("ssh", "-o", "Port=2222"), "the profile's options first"
    assert install_command("rocky") == DNF_INSTALL
    assert install_command("ubuntu") == APT_INSTALL
    with pytest.raises(ValueError):
        setup_steps("ubuntu", "bad user", IP)


def test_failures_are_one_line_with_the_exit_status_and_the_last_stderr_line() -> None:
    step = SshStep(("ssh", f"ubuntu@{IP}", "sudo canfar_setup_scratch"), "prepare /mnt/scratch")
    assert failure_line(step, StepOutcome(1, "canfar_setup_scratch ERROR: no disk"), IP) == (
        "prepare /mnt/scratch failed (exit status 1): canfar_setup_scratch ERROR: no disk"
    )
    assert failure_line(step, StepOutcome(1), IP) == (
        "prepare /mnt/scratch failed (exit status 1): no error output"
    )
    timeout = "ssh: connect to host 206.12.92.10 port 22: Connection timed out"
    assert failure_line(step, StepOutcome(255, timeout), IP) == (
        f"prepare /mnt/scratch: ssh could not connect to {IP} (exit status 255): {timeout}"
    )
    changed = failure_line(step, StepOutcome(255, "Host key verification failed."), IP)
    assert changed.endswith(f"(a new VM at a reused address? ssh-keygen -R {IP})")
    assert failure_line(step, StepOutcome(None), IP) == (
        "prepare /mnt/scratch: cancelled (ssh was stopped)"
    )
    assert "\n" not in changed


def test_the_sandbox_transcript_says_nothing_was_sent() -> None:
    steps = setup_steps("ubuntu", "jdoe", IP)
    lines = simulated_transcript(steps, IP)
    assert lines[0].startswith("SANDBOX: nothing is sent anywhere.")
    assert IP in lines[0] and "no ssh is started" in lines[0]
    for step in steps:
        assert f"     $ {display_command(step.argv)}" in lines
    assert lines[-1].startswith("Nothing was sent: these 3 command(s) were not run.")


def test_clean_line_drops_terminal_escapes() -> None:
    assert clean_line("\x1b[1;32mReading\x1b[0m lists\x07  ") == "Reading lists"


# --------------------------------------------------------------------------- the runner


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers: look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


async def test_lines_arrive_while_the_process_runs_and_stderr_is_kept() -> None:
    seen: list[tuple[float, str, bool]] = []
    script = "echo one; echo warn >&2; sleep 0.6; printf 'two\\rthree\\n'; echo last >&2; exit 3"
    started = time.monotonic()
    outcome = await SshRun().run(
        ["sh", "-c", script], lambda line, err: seen.append((time.monotonic(), line, err))
    )
    assert outcome == StepOutcome(3, "last")
    assert [(line, err) for _, line, err in seen] == [
        ("one", False),
        ("warn", True),
        ("two", False),
        ("three", False),
        ("last", True),
    ]
    assert seen[0][0] - started < 0.5, "the first line came before the process ended"


async def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    runner = SshRun()
    lines: list[str] = []
    script = f"sleep 60 & echo $! > {pid_file}; echo started; wait"
    task = asyncio.create_task(runner.run(["sh", "-c", script], lambda line, _: lines.append(line)))
    for _ in range(100):
        if lines and pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    leader = runner.pid
    assert leader is not None
    grandchild = int(pid_file.read_text())
    runner.cancel()
    outcome = await asyncio.wait_for(task, 10)
    assert outcome.cancelled
    for _ in range(100):
        if gone(grandchild):
            break
        await asyncio.sleep(0.05)
    assert gone(leader) and gone(grandchild)


async def test_run_steps_stops_at_the_first_failure_in_one_line() -> None:
    steps = [
        SshStep(("sh", "-c", "echo made"), "create the user jdoe", setup=True),
        SshStep(("sh", "-c", "echo 'no disk' >&2; exit 1"), "prepare /mnt/scratch", setup=True),
        SshStep(("sh", "-c", "echo never"), "install source-extractor and funpack", setup=True),
    ]
    lines: list[str] = []
    result = await run_steps(steps, IP, SshRun(), on_line=lambda line, _: lines.append(line))
    assert not result.ok and result.failed == steps[1]
    assert result.message == "prepare /mnt/scratch failed (exit status 1): no disk"
    assert result.done == steps[:1]
    assert lines == ["made", "no disk"]


async def test_a_missing_ssh_is_one_line() -> None:
    step = SshStep(("/nonexistent/ssh", f"ubuntu@{IP}"), "create the user jdoe", setup=True)
    result = await run_steps([step], IP, SshRun(), on_line=lambda *_: None)
    assert result.message == "ssh is not installed on this machine (install openssh-client)"
