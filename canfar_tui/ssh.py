"""SSH to an instance: the command lines the Instances tab shows, copies and runs.

The Batch Quick Start connects with ``ssh ubuntu@[floating ip]`` (``rocky`` on Rocky Linux
images), creates the CADC user with ``sudo canfar_create_user [username]``, logs back in as
that user and prepares the ephemeral disk with ``sudo canfar_setup_scratch``. This module
builds exactly those command lines (as argv lists, never through a shell on this side) and runs
a short plan of them in the terminal while the dashboard is suspended.

* :func:`identity_for` finds the private key of the instance's key pair: ``~/.ssh/<keyname>``
  when that file exists (``-i`` is added only then; otherwise ssh uses its defaults/agent).
* :func:`ssh_command` builds one ``ssh [-t] [-i KEY] USER@HOST [COMMAND]`` argv; user, host and
  remote arguments are validated so that nothing from the cloud can become an ssh option.
* :func:`connect_plan` is what "connect" runs: optionally the two setup commands first (the
  first connection to a new instance), then the interactive login.
* :func:`execute_plan` runs a plan step by step with injectable ``run``/``echo``/``pause``
  functions, stops at the first failed setup step and keeps ssh's own error on screen.

No Textual here: the view suspends the app and calls :func:`execute_plan`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SSH_CONNECTION_ERROR",
    "PlanResult",
    "SshStep",
    "connect_plan",
    "display_command",
    "execute_plan",
    "identity_for",
    "setup_commands",
    "ssh_command",
    "validate_host",
    "validate_user",
]

#: ssh exits with 255 when it could not connect (or authenticate), whatever the remote did.
SSH_CONNECTION_ERROR = 255

_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


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
    tty: bool = False,
) -> list[str]:
    """``ssh [-t] [-i KEY] USER@HOST [REMOTE…]`` as an argv list.

    ``remote`` words are shell-quoted into one remote command string, as the remote shell will
    split it again. ``tty`` asks for a terminal (``sudo`` may want one to prompt).
    """
    argv = ["ssh"]
    if tty:
        argv.append("-t")
    if identity is not None:
        argv += ["-i", str(identity)]
    argv.append(f"{validate_user(user)}@{validate_host(host)}")
    if remote:
        argv.append(shlex.join(remote))
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


def setup_commands(
    default_user: str,
    cadc_user: str,
    host: str,
    *,
    identity: Path | None = None,
    scratch: bool = True,
) -> list[SshStep]:
    """The seed's first steps on a new VM: create the CADC user, then set up the scratch disk.

    ``canfar_create_user`` runs as the image's default user; ``canfar_setup_scratch`` runs as
    the new user (so ``/mnt/scratch`` belongs to it). Persistent (``p…``) flavors have no
    ephemeral disk: pass ``scratch=False``.
    """
    validate_user(cadc_user)
    steps = [
        SshStep(
            tuple(
                ssh_command(
                    default_user,
                    host,
                    identity=identity,
                    remote=("sudo", "canfar_create_user", cadc_user),
                    tty=True,
                )
            ),
            f"create the user {cadc_user} (as {default_user})",
            setup=True,
        )
    ]
    if scratch:
        steps.append(
            SshStep(
                tuple(
                    ssh_command(
                        cadc_user,
                        host,
                        identity=identity,
                        remote=("sudo", "canfar_setup_scratch"),
                        tty=True,
                    )
                ),
                "prepare /mnt/scratch",
                setup=True,
            )
        )
    return steps


def connect_plan(
    user: str,
    host: str,
    *,
    identity: Path | None = None,
    setup: Sequence[SshStep] = (),
) -> list[SshStep]:
    """The steps "connect" runs: any setup steps, then the interactive ``ssh USER@HOST``."""
    login = SshStep(tuple(ssh_command(user, host, identity=identity)), f"log in as {user}")
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


def _run(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False).returncode


def _pause() -> None:
    with contextlib.suppress(EOFError):
        input()


def execute_plan(
    steps: Sequence[SshStep],
    *,
    run: Callable[[Sequence[str]], int] = _run,
    echo: Callable[[str], None] = print,
    pause: Callable[[], None] = _pause,
) -> PlanResult:
    """Run the steps in this terminal, one after the other.

    A failing setup step stops the plan. When anything fails (or ssh cannot connect), the
    message stays on screen until enter is pressed, so the dashboard does not paint over it.
    """
    returncode = 0
    for step in steps:
        echo(f"canfar-tui: {step.description}: {display_command(step.argv)}")
        try:
            returncode = run(step.argv)
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
        if step.setup and returncode != 0:
            message = f"{step.description} failed (exit status {returncode})"
            echo(f"canfar-tui: {message}; the remaining steps were not run.")
            echo("Press enter to return to the dashboard.")
            pause()
            return PlanResult(returncode, step, message)
        if not step.setup and returncode == SSH_CONNECTION_ERROR:
            message = "ssh could not connect (exit status 255)"
            echo(f"canfar-tui: {message}. Press enter to return to the dashboard.")
            pause()
            return PlanResult(returncode, step, message)
    return PlanResult(returncode)
