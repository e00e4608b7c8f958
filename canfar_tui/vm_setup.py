"""The seed's set-up of a new VM, run over ssh from the dashboard with its output shown live.

The Batch Quick Start prepares an interactive VM by hand: ``sudo canfar_create_user
[username]``, ``sudo canfar_setup_scratch`` and ``sudo apt install -y source-extractor
libcfitsio-bin``. :func:`setup_steps` builds those as separate ``ssh`` commands, all as the
image's default user (``ubuntu`` / ``rocky``: the account the cloud put the key pair in and
that may ``sudo`` without a password), each with a connect timeout and in batch mode (ssh never
prompts on the dashboard's terminal).

* Creating the user is skipped (with a line saying so) when the account exists already, so
  the set-up can be run again after a later step failed.
* ``canfar_setup_scratch`` only makes ``/mnt/scratch`` world-writable on the ephemeral disk:
  who runs it does not matter; persistent (``p…``) flavors have no ephemeral disk and skip it.
* Ubuntu/Debian images: ``sudo apt update -y && sudo apt install -y source-extractor
  libcfitsio-bin``, word for word from the seed. Rocky/Alma/CentOS images (the seed shows no
  command for them): ``sudo dnf install -y epel-release && sudo dnf install -y sextractor
  cfitsio-utils`` — EPEL's packages of SExtractor and of the CFITSIO tools (``funpack``).

:class:`SshRun` runs one step: ssh in its own process group with stdin closed, stdout and
stderr read as they come and handed over line by line (``\\r``-separated progress lines too),
and :meth:`SshRun.cancel` ends the whole group (SIGTERM, then SIGKILL). :func:`run_steps` runs
the steps in order and stops at the first failure, which is one line
(:func:`failure_line`: the step, the exit status, ssh's or the command's last stderr line).

In the sandbox nothing is sent: :func:`simulated_transcript` is what would run, said plainly.
No Textual here; the screen is :mod:`canfar_tui.screens.vm_setup`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from canfar_tui.ssh import (
    DEFAULT_CONNECT_TIMEOUT,
    SSH_CONNECTION_ERROR,
    SshStep,
    display_command,
    ssh_command,
    validate_user,
)

__all__ = [
    "APT_INSTALL",
    "DNF_INSTALL",
    "SetupResult",
    "SshRun",
    "StepOutcome",
    "failure_line",
    "install_command",
    "run_steps",
    "setup_steps",
    "simulated_transcript",
]

#: The seed's software installation on Ubuntu images, word for word.
APT_INSTALL = "sudo apt update -y && sudo apt install -y source-extractor libcfitsio-bin"
#: The same on Rocky Linux images: EPEL's SExtractor and CFITSIO tools (funpack).
DNF_INSTALL = "sudo dnf install -y epel-release && sudo dnf install -y sextractor cfitsio-utils"

#: Default users of the images that use dnf.
_DNF_USERS = frozenset({"rocky", "almalinux", "centos", "cloud-user", "fedora", "ec2-user"})

#: Seconds between SIGTERM and SIGKILL when a run is cancelled.
KILL_GRACE_SECONDS = 2.0

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

#: (line, from_stderr) as the process writes it.
LineSink = Callable[[str, bool], None]


def install_command(default_user: str) -> str:
    """The package installation for the image whose default user is ``default_user``."""
    return DNF_INSTALL if default_user in _DNF_USERS else APT_INSTALL


def _create_user_command(cadc_user: str) -> str:
    quoted = shlex.quote(cadc_user)
    return (
        f"if id -u {quoted} >/dev/null 2>&1; then echo "
        f"{shlex.quote(f'the user {cadc_user} exists already: canfar_create_user skipped')}; "
        f"else sudo canfar_create_user {quoted}; fi"
    )


def setup_steps(
    default_user: str,
    cadc_user: str,
    host: str,
    *,
    identity: Path | None = None,
    options: Sequence[str] = (),
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    scratch: bool = True,
    install: bool = True,
) -> list[SshStep]:
    """The seed's set-up of a new VM: create the CADC user, scratch, software; one ssh each."""
    validate_user(cadc_user)

    def step(remote: str, description: str) -> SshStep:
        argv = ssh_command(
            default_user,
            host,
            identity=identity,
            remote_shell=remote,
            options=options,
            connect_timeout=connect_timeout,
            batch=True,
        )
        return SshStep(tuple(argv), description, setup=True)

    steps = [step(_create_user_command(cadc_user), f"create the user {cadc_user}")]
    if scratch:
        steps.append(step("sudo canfar_setup_scratch", "prepare /mnt/scratch"))
    if install:
        steps.append(step(install_command(default_user), "install source-extractor and funpack"))
    return steps


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one step ended: ssh's exit status (None: cancelled) and the last stderr line."""

    returncode: int | None
    last_error: str = ""

    @property
    def cancelled(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def failure_line(step: SshStep, outcome: StepOutcome, host: str) -> str:
    """One line saying why ``step`` failed: exit status and the last line on stderr."""
    if outcome.cancelled:
        return f"{step.description}: cancelled (ssh was stopped)"
    reason = outcome.last_error or "no error output"
    if outcome.returncode == SSH_CONNECTION_ERROR:
        line = f"{step.description}: ssh could not connect to {host} (exit status 255): {reason}"
        if "host key verification failed" in reason.lower():
            line += f" (a new VM at a reused address? ssh-keygen -R {host})"
        return line
    if outcome.returncode is not None and outcome.returncode < 0:
        return f"{step.description}: ssh ended by signal {-outcome.returncode}: {reason}"
    return f"{step.description} failed (exit status {outcome.returncode}): {reason}"


def clean_line(text: str) -> str:
    """A line of remote output without terminal escapes or control characters."""
    return _CONTROL_RE.sub("", _ANSI_RE.sub("", text)).rstrip()


class SshRun:
    """Runs one command (ssh) at a time, streaming its output; :meth:`cancel` stops it."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.cancelled = False

    @property
    def pid(self) -> int | None:
        """The running process's id (also its process group's), or None."""
        process = self.process
        return process.pid if process is not None and process.returncode is None else None

    async def run(self, argv: Sequence[str], on_line: LineSink) -> StepOutcome:
        """Run ``argv`` to the end (or until cancelled), handing over each line as it comes.

        Raises FileNotFoundError / OSError when the command cannot start.
        """
        if self.cancelled:
            return StepOutcome(None)
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.process = process
        last_error = ""

        def stderr_line(line: str, from_stderr: bool) -> None:
            nonlocal last_error
            if from_stderr and line.strip():
                last_error = line.strip()
            on_line(line, from_stderr)

        assert process.stdout is not None and process.stderr is not None
        try:
            await asyncio.gather(
                _pump(process.stdout, stderr_line, from_stderr=False),
                _pump(process.stderr, stderr_line, from_stderr=True),
            )
            returncode = await process.wait()
        except asyncio.CancelledError:
            await self._stop(process)
            raise
        finally:
            self.process = None
        return StepOutcome(None if self.cancelled else returncode, last_error)

    def cancel(self) -> None:
        """Stop the running command's whole process group (SIGTERM, SIGKILL if it lingers)."""
        self.cancelled = True
        process = self.process
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(KILL_GRACE_SECONDS, _kill_if_running, process)

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        self.cancelled = True
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                _kill_if_running(process)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _kill_if_running(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader, on_line: LineSink, *, from_stderr: bool) -> None:
    """Read ``stream`` to its end, handing over every line (``\\n`` or ``\\r`` ended)."""
    pending = ""
    while True:
        chunk = await stream.read(4096)
        if not chunk:
            break
        pending += chunk.decode(errors="replace")
        *lines, pending = re.split(r"\r\n|\r|\n", pending)
        for line in lines:
            on_line(clean_line(line), from_stderr)
    if pending:
        on_line(clean_line(pending), from_stderr)


@dataclass(slots=True)
class SetupResult:
    """How a set-up went: the steps that succeeded, and the one that failed (if one did)."""

    done: list[SshStep] = field(default_factory=list)
    failed: SshStep | None = None
    message: str = ""
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.failed is None and not self.cancelled


async def run_steps(
    steps: Sequence[SshStep],
    host: str,
    runner: SshRun,
    *,
    on_line: LineSink,
    on_step: Callable[[int, SshStep], None] = lambda _index, _step: None,
) -> SetupResult:
    """Run the steps in order with ``runner``; the first failure stops them (one line)."""
    result = SetupResult()
    for index, step in enumerate(steps):
        on_step(index, step)
        try:
            outcome = await runner.run(step.argv, on_line)
        except FileNotFoundError:
            result.failed = step
            result.message = "ssh is not installed on this machine (install openssh-client)"
            return result
        except OSError as error:
            result.failed = step
            result.message = f"cannot start ssh: {error.strerror or error}"
            return result
        if not outcome.ok:
            result.failed = step
            result.cancelled = outcome.cancelled
            result.message = failure_line(step, outcome, host)
            return result
        result.done.append(step)
    return result


def simulated_transcript(steps: Sequence[SshStep], host: str) -> list[str]:
    """What would run on a real instance, said plainly: the sandbox sends nothing."""
    lines = [
        f"SANDBOX: nothing is sent anywhere. {host} is a simulated address; no ssh is started.",
        "On a real instance, canfar-tui would run:",
    ]
    for number, step in enumerate(steps, start=1):
        lines.append(f"  {number}. {step.description}")
        lines.append(f"     $ {display_command(step.argv)}")
    lines.append(
        f"Nothing was sent: these {len(steps)} command(s) were not run. With a real profile "
        "they run over ssh and their output is shown here as it comes."
    )
    return lines
