"""``canfar-tui login``: a CADC account in, a proxy certificate and profiles out.

Asks the CADC username (``--username``, else a prompt) and password (``getpass`` on a
terminal; one line from stdin with ``--password-stdin`` or when stdin is not a terminal —
never from argv), then does what :func:`canfar_tui.clients.login.login` describes and prints
one line per service. Exit status: 0 logged in (lines marked ``warn`` say what is missing),
1 the login failed (wrong password, CADC unreachable: nothing written), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from canfar_tui.clients.base import ClientError
from canfar_tui.config import ConfigError, Paths

USERNAME_ENV = "CANFAR_TUI_CADC_USERNAME"


def add_login_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", metavar="NAME", help="your CADC username")
    parser.add_argument(
        "--netrc",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also save the username and password in ~/.netrc (0600) for the hosts the CADC "
        "clients ask, as cadc_dotnetrc does (default: no)",
    )
    parser.add_argument(
        "--vospace",
        metavar="URI",
        help="the VOSpace home of the profile (default vos:USERNAME; a project space "
        "vos:PROJECT/ works too)",
    )
    parser.add_argument(
        "--profile-name",
        metavar="NAME",
        help="name of the default profile (default: the OpenStack project, else the username)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace profiles of the same name in the config"
    )
    parser.add_argument(
        "--days",
        metavar="N",
        type=int,
        default=10,
        help="days the proxy certificate is valid (default 10, at most 30)",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (also when stdin is not a terminal)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="do not check CADC's TLS certificate (test services only)",
    )


def _username(args: argparse.Namespace, interactive: bool) -> str:
    if args.username:
        return str(args.username).strip()
    if not interactive:
        raise ConfigError("--username is needed when the password comes from stdin")
    return input("CADC username: ").strip()


def _password(args: argparse.Namespace, interactive: bool) -> str:
    if not interactive:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    import getpass

    return getpass.getpass("CADC password: ")


def run_login(args: argparse.Namespace) -> int:
    """The ``login`` command; returns the exit status."""
    from canfar_tui.clients.login import LoginRequest, Places, login

    # A terminal always gets a prompt without echo, even with --password-stdin.
    interactive = sys.stdin.isatty()
    username = _username(args, interactive)
    password = _password(args, interactive)
    request = LoginRequest(
        username=username,
        password=password,
        days=args.days,
        netrc=args.netrc,
        vospace=args.vospace,
        profile_name=args.profile_name,
        force=args.force,
    )
    del password
    home = Path(os.environ.get("HOME") or Path.home())
    config_file = args.config or Paths.from_env().config_file
    places = Places.for_home(home, config_file)
    try:
        result = asyncio.run(login(request, places, verify_tls=not args.insecure))
    except ClientError as error:
        print(f"canfar-tui: login failed: {error.message}", file=sys.stderr)
        return 1
    print(f"canfar-tui login — {username}")
    for line in result.lines:
        print(line.text())
    print(f"Start the dashboard with: canfar-tui   (profile {result.default})")
    return 0
