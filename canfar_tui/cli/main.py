"""Command line: ``canfar-tui`` (the dashboard) and its login, status, detect, submit, get, put.

Every failure a user can cause here ends with one line on stderr and a non-zero exit status,
never a traceback: 1 for a failed operation, 2 for bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from canfar_tui import __version__
from canfar_tui.clients.base import ClientError
from canfar_tui.config import ConfigError, Settings, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canfar-tui",
        description="A terminal dashboard for batch processing on CANFAR: OpenStack VMs, "
        "the HTCondor queue and VOSpace storage. Starts in the sandbox (a simulated CANFAR on "
        "this machine) until a real profile is configured.",
    )
    parser.add_argument("--version", action="version", version=f"canfar-tui {__version__}")
    parser.add_argument("--profile", metavar="NAME", help="profile from the config file")
    parser.add_argument(
        "--openrc",
        metavar="FILE",
        type=Path,
        help="an OpenStack RC file (*-openrc.sh); its password is asked once",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="hide and refuse every destructive action",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="config file (default: $XDG_CONFIG_HOME/canfar-tui/config.toml)",
    )
    parser.add_argument(
        "--tutorial",
        action="store_true",
        help="start with the guided walk through the Batch Quick Start (sandbox only)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("tui", help="the dashboard (the default)")
    login = commands.add_parser(
        "login",
        help="log in with your CADC account: proxy certificate, profiles (like cadc-get-cert -n)",
    )
    from canfar_tui.cli.login import add_login_arguments

    add_login_arguments(login)
    status = commands.add_parser("status", help="one-screen summary of every service")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    submit = commands.add_parser(
        "submit", help="submit a batch like canfar_submit, after a preview and a lint"
    )
    from canfar_tui.cli.submit import add_submit_arguments

    add_submit_arguments(submit)
    put = commands.add_parser("put", help="upload files to VOSpace (like vcp), verified by MD5")
    from canfar_tui.cli.put import add_put_arguments

    add_put_arguments(put)
    get = commands.add_parser("get", help="download CADC archive files (like cadcget)")
    from canfar_tui.cli.get import add_get_arguments

    add_get_arguments(get)
    detect = commands.add_parser(
        "detect", help="detect sources in FITS images (like source-extractor, reads .fz)"
    )
    try:
        from canfar_tui.cli.detect import add_detect_arguments
    except ImportError:  # the detection CLI is optional in this build
        detect.set_defaults(detect_missing=True)
    else:
        add_detect_arguments(detect)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        config_file=args.config, profile=args.profile, openrc=args.openrc, read_only=args.read_only
    )


def _terminal_password() -> str:
    """Ask for the cloud password on the terminal (never echoed, never stored)."""
    import getpass

    return getpass.getpass("OpenStack (CADC) password: ")


def run_status(settings: Settings, *, as_json: bool) -> int:
    from canfar_tui.cli.status import collect_status, status_exit_code, status_json, status_text
    from canfar_tui.clients.bundle import build_clients
    from canfar_tui.logs import setup_logging

    # what background threads (the sandbox queue's executor) log goes to the log file: the
    # report says what is wrong in one line per service, stderr gets no log lines
    with contextlib.suppress(OSError):
        setup_logging(settings.paths.log_file)
    clients = build_clients(settings, password_provider=_terminal_password)

    async def gather() -> list:  # type: ignore[type-arg]
        try:
            return await collect_status(clients)
        finally:
            await clients.aclose()

    statuses = asyncio.run(gather())
    if as_json:
        print(status_json(settings.profile.name, statuses))
    else:
        print(status_text(settings.profile.name, clients.mode_label, statuses))
    return status_exit_code(statuses)


def run_tui(settings: Settings, *, tutorial: bool = False) -> int:
    from canfar_tui.app import CanfarApp, create_app
    from canfar_tui.clients.bundle import build_clients
    from canfar_tui.logs import setup_logging

    setup_logging(settings.paths.log_file)
    apps: list[CanfarApp] = []
    clients = build_clients(settings, password_provider=lambda: apps[0].ask_password())
    app = create_app(settings, clients)
    app.start_tutorial = tutorial
    app.offer_login = settings.profile.is_sandbox and not settings.paths.config_file.exists()
    apps.append(app)
    app.run()
    if app.exit_message:
        print(
            f"canfar-tui: stopped after an {app.exit_message} "
            f"(details in {settings.paths.log_file})",
            file=sys.stderr,
        )
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``canfar-tui`` command line; return the exit status.

    Without ``argv`` (the process's own command line: the ``canfar-tui`` script), a
    finished ``detect`` ends the process at once (:func:`canfar_tui.cli.detect.exit_now`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "detect":
            if getattr(args, "detect_missing", False):
                print("canfar-tui: detection is not available in this build", file=sys.stderr)
                return 2
            from canfar_tui.cli.detect import exit_now, run_detect

            status = int(run_detect(args))
            if argv is None:
                exit_now(status)
            return status
        if args.command == "submit":
            from canfar_tui.cli.submit import run_submit

            return int(run_submit(args))
        if args.command == "put":
            from canfar_tui.cli.put import run_put

            return int(run_put(args))
        if args.command == "login":
            from canfar_tui.cli.login import run_login

            return int(run_login(args))
        if args.command == "get":
            from canfar_tui.cli.get import run_get

            return int(run_get(args))
        settings = _settings(args)
        if args.command == "status":
            return run_status(settings, as_json=args.json)
        return run_tui(settings, tutorial=args.tutorial)
    except ConfigError as error:
        print(f"canfar-tui: {error}", file=sys.stderr)
        return 2
    except ClientError as error:  # e.g. an unreadable openrc file
        print(f"canfar-tui: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("canfar-tui: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line here, the traceback in the log file
        return _report_unexpected(error)


def _report_unexpected(error: Exception) -> int:
    import traceback

    from canfar_tui.config import Paths
    from canfar_tui.logs import get_logger, setup_logging

    log_file = Paths.from_env().log_file
    where = "the log file"
    try:
        setup_logging(log_file)
        get_logger("cli").error("".join(traceback.format_exception(error)))
        where = str(log_file)
    except OSError:
        pass
    first_line = (str(error).splitlines() or [""])[0][:200]
    print(
        f"canfar-tui: unexpected {type(error).__name__}: {first_line} (details in {where})",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
