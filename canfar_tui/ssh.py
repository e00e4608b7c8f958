"""SSH to an instance: the command lines the Instances tab shows, copies and runs.

The Batch Quick Start connects with ``ssh ubuntu@[floating ip]`` (``rocky`` on Rocky Linux
images), creates the CADC user with ``sudo canfar_create_user [username]``, logs back in as
that user and prepares the ephemeral disk with ``sudo canfar_setup_scratch``. This module
builds exactly those command lines (as argv lists, never through a shell on this side) and runs
a short plan of them in the terminal while the dashboard is suspended.

* :func:`identity_for` finds the private key of the instance's key pair: ``~/.ssh/<keyname>``
  when that file exists (``-i`` is added only then; otherwise ssh uses its defaults/agent).
* :func:`ssh_command` builds one ``ssh [-t] [-o OPTION…] [-i KEY] USER@HOST [COMMAND]`` argv;
  user, host and remote arguments are validated so that nothing from the cloud can become an
  ssh option. ``options`` are the profile's ``ssh_options`` (``Port=2222``…, written as ssh's
  ``-o`` takes them), placed first so that they win over canfar-tui's defaults;
  ``connect_timeout`` adds ``-o ConnectTimeout=N`` (connection and banner exchange) and
  ``batch`` the options of a session nobody types into (``BatchMode=yes``: never a prompt on
  the dashboard's terminal; new host keys accepted, changed ones refused; keep-alives).
* :func:`connect_plan` is what "connect" runs: optionally setup commands first, then the
  interactive login.
* :func:`execute_plan` runs a plan step by step in this terminal with injectable
  ``run``/``echo``/``pause`` functions, stops at the first failed setup step and keeps ssh's
  own error on screen. While ssh runs, ctrl+c reaches ssh only: canfar-tui ignores it (its
  handler is not inherited by ssh, which keeps the default), so the dashboard always returns.

No Textual here: the view suspends the app and calls :func:`execute_plan`; the seed's VM
set-up without a terminal hand-over is :mod:`canfar_tui.vm_setup`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BATCH_OPTIONS",
    "DEFAULT_CONNECT_TIMEOUT",
    "SSH_CONNECTION_ERROR",
    "PlanResult",
    "SshStep",
    "connect_plan",
    "display_command",
    "execute_plan",
    "identity_for",
    "ssh_command",
    "validate_host",
    "validate_ssh_option",
    "validate_user",
]

#: ssh exits with 255 when it could not connect (or authenticate), whatever the remote did.
SSH_CONNECTION_ERROR = 255

#: Seconds ssh may take to connect and exchange banners before it gives up (``ConnectTimeout``).
DEFAULT_CONNECT_TIMEOUT = 15

#: A session nobody types into: never prompt (no password, passphrase or host key question on
#: the dashboard's terminal), accept the host key of a new VM but refuse a changed one, and
#: notice a dead connection within a minute.
BATCH_OPTIONS = (
    "BatchMode=yes",
    "StrictHostKeyChecking=accept-new",
    "ServerAliveInterval=15",
    "ServerAliveCountMax=4",
)

_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:=|\s+)\S")


def validate_user(user: str) -> str:
    """A login name ssh and ``canfar_create_user`` accept; ValueError with a reason otherwise."""
    if not user:
        raise ValueError("the user name is empty")
    if not _USER_RE.match(user):
        raise ValueError(
            f"{user!r} is not a valid user name (letters, digits, '.', '_' and '-', "
            "at most 32, not starting with '.' or '-')"
        )
    return user


def validate_host(host: str) -> str:
    """An IP address or host name (never something ssh would read as an option)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST_RE.match(host):
        raise ValueError(f"{host!r} is not an IP address or host name")
    return host


def validate_ssh_option(option: str) -> str:
    """An option as ssh's ``-o`` takes it (``Port=2222``, ``ProxyJump bastion``)."""
    if any(ord(char) < 32 or ord(char) == 127 for char in option):
        raise ValueError(f"{option!r} contains a control character")
    if not _OPTION_RE.match(option):
        raise ValueError(
            f"{option!r} is not an ssh option like Port=2222 (a keyword, '=', a value)"
        )
    return option


def identity_for(key_name: str | None, ssh_dir: Path | None = None) -> Path | None:
    """The private key ``~/.ssh/<key_name>`` when it exists (``.pub`` names are stripped)."""
    if not key_name:
        return None
    name = key_name.removesuffix(".pub")
    if not name or "/" in name or name in (".", ".."):
        return None
    directory = ssh_dir if ssh_dir is not None else Path.home() / ".ssh"
    candidate = directory / name
    return candidate if candidate.is_file() else None


def ssh_command(
    user: str,
    host: str,
    *,
    identity: Path | None = None,
    remote: Sequence[str] = (),
    remote_shell: str | None = None,
    tty: bool = False,
    options: Sequence[str] = (),
    connect_timeout: int | None = None,
    batch: bool = False,
) -> list[str]:
    """``ssh [-t] [-o OPTION…] [-i KEY] USER@HOST [REMOTE…]`` as an argv list.

    ``remote`` words are shell-quoted into one remote command string, as the remote shell will
    split it again; ``remote_shell`` is a remote command line given as the remote shell reads
    it (``a && b``). ``tty`` asks for a terminal (``sudo`` may want one to prompt).
    ``options`` (the profile's) come before canfar-tui's own: ssh keeps the first value of an
    option, so the profile's win. ``connect_timeout`` and ``batch``: see the module docstring.
    """
    if remote and remote_shell is not None:
        raise ValueError("give remote words or a remote shell command, not both")
    argv = ["ssh"]
    if tty:
        argv.append("-t")
    chosen = [validate_ssh_option(option) for option in options]
    if connect_timeout is not None:
        chosen.append(f"ConnectTimeout={int(connect_timeout)}")
    if batch:
        chosen += BATCH_OPTIONS
    for option in chosen:
        argv += ["-o", option]
    if identity is not None:
        argv += ["-i", str(identity)]
    argv.append(f"{validate_user(user)}@{validate_host(host)}")
    if remote:
        argv.append(shlex.join(remote))
    elif remote_shell:
        argv.append(remote_shell)
    return argv


def display_command(argv: Sequence[str], home: Path | None = None) -> str:
    """The command as a user would type it, with the home directory shown as ``~``."""
    prefix = str(home if home is not None else Path.home()).rstrip("/") + "/"

    def shown(word: str) -> str:
        if prefix != "/" and word.startswith(prefix):
            rest = word[len(prefix) :]
            # "~/" must stay unquoted for the shell to expand it.
            if shlex.quote(rest) == rest:
                return f"~/{rest}"
        return shlex.quote(word)

    return " ".join(shown(word) for word in argv)


@dataclass(frozen=True, slots=True)
class SshStep:
    """One command of a plan; ``setup`` steps stop the plan when they fail."""

    argv: tuple[str, ...]
    description: str
    setup: bool = False


def connect_plan(
    user: str,
    host: str,
    *,
    identity: Path | None = None,
    setup: Sequence[SshStep] = (),
    options: Sequence[str] = (),
    connect_timeout: int | None = None,
) -> list[SshStep]:
    """The steps "connect" runs: any setup steps, then the interactive ``ssh USER@HOST``."""
    argv = ssh_command(
        user, host, identity=identity, options=options, connect_timeout=connect_timeout
    )
    login = SshStep(tuple(argv), f"log in as {user}")
    return [*setup, login]


@dataclass(frozen=True, slots=True)
class PlanResult:
    """How a plan went: the last exit status, and the step that failed (if one did)."""

    returncode: int
    failed: SshStep | None = None
    message: str = ""

    @property
    def setup_ok(self) -> bool:
        """True when no setup step failed (the login itself may still have ended badly)."""
        return self.failed is None or not self.failed.setup


#: What a runner answers: ssh's exit status, or the status and ssh's last line on stderr.
RunResult = int | tuple[int, str]


@contextlib.contextmanager
def _sigint_to_the_child_only() -> Iterator[None]:
    """While ssh runs in this terminal, ctrl+c must stop ssh, never canfar-tui.

    The terminal sends SIGINT to its whole foreground process group. A Python handler (not
    SIG_IGN, which a child would inherit) is reset to the default in ssh when it starts, so
    ctrl+c still ends ssh while it connects, and canfar-tui carries on to the dashboard.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(argv: Sequence[str]) -> RunResult:
    """Run ssh on this terminal; its stderr is copied through, its last line kept."""
    process = subprocess.Popen(list(argv), stderr=subprocess.PIPE)
    last = ""

    def copy_stderr() -> None:
        nonlocal last
        assert process.stderr is not None
        for raw in iter(process.stderr.readline, b""):
            with contextlib.suppress(OSError):
                os.write(2, raw)  # the terminal's stderr, whatever sys.stderr is now
            text = raw.decode(errors="replace").strip()
            if text:
                last = text

    reader = threading.Thread(target=copy_stderr, name="ssh-stderr", daemon=True)
    reader.start()
    returncode = process.wait()
    reader.join(timeout=2)
    return returncode, last


def _pause() -> None:
    # No terminal to read (EOF, closed stdin) or ctrl+c: go back to the dashboard anyway.
    with contextlib.suppress(EOFError, KeyboardInterrupt, OSError):
        input()


def _with_reason(message: str, reason: str) -> str:
    return f"{message}: {reason}" if reason else message


def execute_plan(
    steps: Sequence[SshStep],
    *,
    run: Callable[[Sequence[str]], RunResult] = _run,
    echo: Callable[[str], None] = print,
    pause: Callable[[], None] = _pause,
) -> PlanResult:
    """Run the steps in this terminal, one after the other.

    A failing setup step stops the plan. When anything fails (or ssh cannot connect), the
    message stays on screen until enter is pressed, so the dashboard does not paint over it.
    ctrl+c stops ssh and comes back here (exit status -2), never out of canfar-tui.
    """
    with _sigint_to_the_child_only():
        return _execute(steps, run, echo, pause)


def _execute(
    steps: Sequence[SshStep],
    run: Callable[[Sequence[str]], RunResult],
    echo: Callable[[str], None],
    pause: Callable[[], None],
) -> PlanResult:
    returncode = 0
    for step in steps:
        echo(f"canfar-tui: {step.description}: {display_command(step.argv)}")
        try:
            answer = run(step.argv)
        except FileNotFoundError:
            message = "ssh is not installed on this machine (install openssh-client)."
            echo(f"canfar-tui: {message}")
            echo("Press enter to return to the dashboard.")
            pause()
            return PlanResult(127, step, message)
        except OSError as error:
            message = f"cannot start ssh: {error.strerror or error}"
            echo(f"canfar-tui: {message}")
            echo("Press enter to return to the dashboard.")
            pause()
            return PlanResult(126, step, message)
        returncode, reason = answer if isinstance(answer, tuple) else (answer, "")
        if returncode < 0:
            message = f"{step.description}: ssh was stopped (signal {-returncode})"
            echo(f"canfar-tui: {message}. Press enter to return to the dashboard.")
            pause()
            return PlanResult(returncode, step, message)
        if step.setup and returncode != 0:
            message = _with_reason(f"{step.description} failed (exit status {returncode})", reason)
            echo(f"canfar-tui: {message}; the remaining steps were not run.")
            echo("Press enter to return to the dashboard.")
            pause()
            return PlanResult(returncode, step, message)
        if not step.setup and returncode == SSH_CONNECTION_ERROR:
            message = _with_reason("ssh could not connect (exit status 255)", reason)
            echo(f"canfar-tui: {message}. Press enter to return to the dashboard.")
            pause()
            return PlanResult(returncode, step, message)
    return PlanResult(returncode)
