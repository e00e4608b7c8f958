"""``canfar-tui submit SUBFILE IMAGE FLAVOR [--dry-run]``: canfar_submit, with a preview.

Does what ``canfar_submit do_catalogue.sub image-reduction-2023-08-21 c2-7.5gb-30`` does on
the batch host, but shows it first:

1. finds the snapshot and flavor in the profile's cloud (a flavor name such as
   ``c2-7.5gb-30`` is also understood without a cloud);
2. prints which ``canfar_submit`` form the installed command accepts (if one is on PATH) and
   the equivalent command line;
3. prints the rewritten submit description (``+`` added, ``~`` replaced lines), the list of
   changes, the lint (every finding with its line) and the dry run (the jobs it queues);
4. with a real profile and ``canfar_submit`` on PATH (the batch host), prints what that command
   will hand to condor_submit in its form, and its objections;
5. unless ``--dry-run`` or a lint error, submits: with a real profile through the installed
   ``canfar_submit`` (``OS_*`` and the password in its environment, never in argv), else the
   rewritten description through the profile's QueueClient (the sandbox's local executor, or
   HTCondor), and prints the cluster. The sandbox says so on its result line.

Exit status: 0 submitted (or a clean dry run), 1 lint errors or a failed submission (nothing
is submitted), 2 bad usage (unreadable file, unknown snapshot or flavor, read-only mode).

The lead wires :func:`add_submit_arguments` and :func:`run_submit` as the ``submit``
subcommand of ``canfar_tui.cli.main``; the top-level ``--profile``, ``--openrc``,
``--config`` and ``--read-only`` options are honoured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from canfar_tui.batch.canfar_submit import (
    CanfarSubmit,
    detect_canfar_submit,
    equivalent_command,
)
from canfar_tui.batch.choices import batch_proxy, find_flavor, find_image
from canfar_tui.batch.lint import LintReport, lint_submit
from canfar_tui.batch.resources import flavor_from_name, flavor_requests, scratch_gb
from canfar_tui.batch.rewrite import Rewrite, canfar_description, numbered_lines
from canfar_tui.batch.submission import Route, choose_route, submit_batch
from canfar_tui.batch.submit_forms import FormOutput, form_output
from canfar_tui.clients.base import ClientError
from canfar_tui.clients.bundle import Clients, build_clients
from canfar_tui.clients.files import UnreadableFile, read_bounded
from canfar_tui.config import ConfigError, Profile, load_settings
from canfar_tui.models import Flavor

__all__ = ["add_submit_arguments", "format_preview", "run_submit"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Largest submit file read (a hand-written one is a few kB).
MAX_SUBMIT_FILE_BYTES = 1024 * 1024

#: Jobs listed by the dry run (the count is always given).
DRY_RUN_ROWS = 10


class _UsageError(Exception):
    """Bad input from the command line: exit status 2."""


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``submit`` arguments to ``parser`` (a subparser of ``canfar-tui``)."""
    parser.description = (
        "Submit an HTCondor submit file to CANFAR batch with a VM snapshot and flavor, like "
        "canfar_submit, after showing the rewritten submit description and its lint."
    )
    parser.add_argument("subfile", metavar="SUBFILE", type=Path, help="HTCondor submit file")
    parser.add_argument("image", metavar="IMAGE", help="the VM snapshot (name or id)")
    parser.add_argument("flavor", metavar="FLAVOR", help="the VM flavor, e.g. c2-7.5gb-30")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show the preview, the lint and the jobs; submit nothing",
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    rewrite: Rewrite
    report: LintReport
    found: CanfarSubmit | None
    route: Route
    #: What the installed canfar_submit will submit (when the route runs it).
    form: FormOutput | None = None


def _terminal_password() -> str:
    import getpass

    return getpass.getpass("OpenStack (CADC) password: ")


class RememberedPassword:
    """One password prompt per run for the cloud and ``canfar_submit`` together.

    The cloud asks through :meth:`for_cloud` (again after a refusal: each call asks); the
    0.3.x ``canfar_submit`` then takes the password the cloud last got (:meth:`for_submit`)
    instead of asking a second time. Held in memory for this run only.
    """

    def __init__(self, ask: Callable[[], str]) -> None:
        self._ask = ask
        self._last: str | None = None

    def for_cloud(self) -> str:
        self._last = self._ask()
        return self._last

    def for_submit(self) -> str:
        return self._last if self._last else self.for_cloud()


def run_submit(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run ``canfar-tui submit``; returns the exit status (never raises for user errors)."""
    stdout = out or sys.stdout
    try:
        settings = load_settings(
            config_file=getattr(args, "config", None),
            profile=getattr(args, "profile", None),
            openrc=getattr(args, "openrc", None),
            read_only=getattr(args, "read_only", None),
        )
    except ConfigError as error:
        print(f"canfar-tui submit: {error}", file=sys.stderr)
        return EXIT_USAGE
    subfile: Path = args.subfile.expanduser()
    try:
        text = read_bounded(subfile, MAX_SUBMIT_FILE_BYTES, "submit file").decode("utf-8")
    except UnreadableFile as error:
        reason = "No such file or directory" if error.missing else None
        shown = f"cannot read {subfile}: {reason}" if reason else str(error)
        print(f"canfar-tui submit: {shown}", file=sys.stderr)
        return EXIT_USAGE
    except UnicodeDecodeError as error:
        print(f"canfar-tui submit: cannot read {subfile}: {error}", file=sys.stderr)
        return EXIT_USAGE
    password = RememberedPassword(_terminal_password)
    try:
        clients = build_clients(settings, password_provider=password.for_cloud)
    except ClientError as error:
        print(f"canfar-tui submit: {error.message}", file=sys.stderr)
        return EXIT_USAGE

    async def go() -> int:
        try:
            return await _submit(
                clients,
                text,
                subfile,
                args.image,
                args.flavor,
                dry_run=bool(args.dry_run),
                read_only=settings.read_only,
                profile=settings.profile,
                out=stdout,
                password_provider=password.for_submit,
            )
        finally:
            await clients.aclose()

    try:
        return asyncio.run(go())
    except _UsageError as error:
        print(f"canfar-tui submit: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as error:
        print(f"canfar-tui submit: {error.message}", file=sys.stderr)
        return EXIT_FAILED


async def _resolve(clients: Clients, image_name: str, flavor_name: str) -> tuple[str, Flavor]:
    cloud = clients.cloud
    if cloud is None:
        try:
            return image_name, flavor_from_name(flavor_name)
        except ClientError as error:
            raise _UsageError(error.message) from None
    images = await cloud.list_images()
    image = find_image(images, image_name)
    if image is None:
        names = sorted({i.name for i in images if i.status.lower() == "active"})
        raise _UsageError(
            f"no snapshot or image named {image_name!r} in this project"
            + (f" (active: {', '.join(names)})" if names else "")
        )
    if image.status.lower() != "active":
        raise _UsageError(f"snapshot {image.name} is {image.status}, not active yet")
    flavors = await cloud.list_flavors()
    flavor = find_flavor(flavors, flavor_name)
    if flavor is None:
        offered = ", ".join(f.name for f in flavors)
        raise _UsageError(f"no flavor named {flavor_name!r} (flavors: {offered})")
    return image.name, flavor


async def _prepare(
    clients: Clients, text: str, subfile: Path, image: str, flavor: Flavor, profile: Profile
) -> _Prepared:
    proxy, problem = None, None
    if clients.credentials is not None:
        try:
            status = await clients.credentials.status()
        except ClientError as error:
            problem = f"cannot read the proxy certificate: {error.message}"
        else:
            proxy, problem = batch_proxy(status)
    rewrite = canfar_description(text, image, flavor, proxy=proxy)
    submit_dir = subfile.parent.absolute()
    report = await asyncio.to_thread(
        lint_submit, text, submit_dir=submit_dir, flavor=flavor, image=image, proxy_problem=problem
    )
    found = await asyncio.to_thread(detect_canfar_submit)
    route = choose_route(found, sandbox=profile.is_sandbox)
    form = None
    if route.canfar_submit is not None and route.canfar_submit.form is not None:
        environment = _environment_for_preview(profile)
        form = form_output(
            route.canfar_submit.form,
            text,
            image,
            flavor.name,
            submit_dir=submit_dir,
            project=environment.get("OS_PROJECT_NAME") or profile.project,
            proxy=proxy,
            environment=environment,
        )
    return _Prepared(rewrite, report, found, route, form)


def _environment_for_preview(profile: Profile) -> dict[str, str]:
    """The OS_* variables canfar_submit will see; a password to be asked counts as given."""
    environment = {key: value for key, value in os.environ.items() if key.startswith("OS_")}
    if profile.openrc is not None:
        from canfar_tui.clients.cloud.openrc import load_openrc

        try:
            parsed = load_openrc(profile.openrc)
        except ClientError:
            return environment
        environment.update(parsed.variables)
        if parsed.password_prompted:
            environment.setdefault("OS_PASSWORD", "(asked)")
    return environment


def format_preview(
    rewrite: Rewrite,
    report: LintReport,
    found: CanfarSubmit | None,
    subfile: str,
    *,
    route: Route | None = None,
    form: FormOutput | None = None,
) -> list[str]:
    """The text ``canfar-tui submit`` prints before it submits (or instead, with --dry-run)."""
    flavor = rewrite.flavor
    requests = flavor_requests(flavor)
    lines = [
        f"Submit file: {subfile}",
        f"VM snapshot: {rewrite.image}",
        f"VM flavor:   {flavor.name} ({flavor.vcpus} CPUs, {flavor.ram_mb} MB RAM, "
        f"{scratch_gb(flavor)} GB scratch; jobs may request up to {requests.cpus} CPUs, "
        f"{requests.memory_mb} MB, {requests.disk_text})",
    ]
    if found is None:
        lines.append(
            "canfar_submit: not on PATH; canfar-tui submits the rewritten description itself."
        )
    else:
        lines.append(found.describe())
    command = equivalent_command(found, subfile, rewrite.image, flavor.name)
    lines.append(f"Equivalent on the batch host: {shlex.join(command)}")
    if route is not None:
        lines.append(route.reason)
    if form is not None:
        lines.append("")
        lines.append(f"What canfar_submit ({form.form.series}) will hand to condor_submit:")
        lines += [f"  {line}".rstrip() for line in form.text.splitlines()]
        lines += [f"  problem: {problem}" for problem in form.problems]
        lines += [f"  warning: {warning}" for warning in form.warnings]
    if form is None:
        # canfar-tui submits its own rewrite only when canfar_submit does not: showing both
        # would leave the user guessing which description reaches the pool.
        lines.append("")
        lines.append("Rewritten submit description (+ added, ~ replaced):")
        width = len(str(len(rewrite.text.splitlines())))
        for number, marker, text in numbered_lines(rewrite):
            lines.append(f"{number:>{width}} {marker} {text}".rstrip())
        lines.append("")
        lines.append("Changes:")
        lines += [f"  {change}" for change in rewrite.changes] or ["  none"]
    lines.append("")
    lines.append(f"Lint: {report.summary()}")
    lines += [f"  {issue}" for issue in report.issues]
    if report.jobs:
        lines.append("")
        count = len(report.jobs)
        lines.append(f"Dry run: {count} job{'s' if count != 1 else ''}")
        for job in report.jobs[:DRY_RUN_ROWS]:
            output = Path(job.output).name if job.output else "-"
            lines.append(
                f"  proc {job.proc}: {Path(job.executable).name} {job.arguments}  > {output}"
            )
        if count > DRY_RUN_ROWS:
            lines.append(f"  … and {count - DRY_RUN_ROWS} more")
    return lines


async def _submit(
    clients: Clients,
    text: str,
    subfile: Path,
    image_name: str,
    flavor_name: str,
    *,
    dry_run: bool,
    read_only: bool,
    profile: Profile,
    out: TextIO,
    password_provider: Callable[[], str] = _terminal_password,
) -> int:
    image, flavor = await _resolve(clients, image_name, flavor_name)
    prepared = await _prepare(clients, text, subfile, image, flavor, profile)
    preview = format_preview(
        prepared.rewrite,
        prepared.report,
        prepared.found,
        str(subfile),
        route=prepared.route,
        form=prepared.form,
    )
    for line in preview:
        print(line, file=out)
    if not prepared.report.ok:
        errors = len(prepared.report.errors)
        print(
            f"canfar-tui submit: {errors} error{'s' if errors != 1 else ''} in {subfile}; "
            "nothing submitted.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if dry_run:
        print("Dry run: nothing submitted.", file=out)
        return EXIT_OK
    if read_only:
        raise _UsageError("read-only mode: nothing submitted (use --dry-run to preview)")
    found = prepared.route.canfar_submit
    if found is not None and prepared.form is not None and prepared.form.problems:
        print(
            f"canfar-tui submit: {prepared.form.problems[0]}; nothing submitted.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    queue = clients.queue
    if found is None and queue is None:
        print(f"canfar-tui submit: {clients.why_missing('queue')}", file=sys.stderr)
        return EXIT_FAILED
    try:
        result = await submit_batch(
            prepared.route,
            queue,
            job_file=await asyncio.to_thread(subfile.absolute),
            rewritten=prepared.rewrite.text,
            image=image,
            flavor=flavor.name,
            openrc=profile.openrc,
            password_provider=password_provider,
        )
    except ClientError as error:
        print(f"canfar-tui submit: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    jobs = f"{result.num_jobs} job{'s' if result.num_jobs != 1 else ''}"
    if found is not None:
        print(
            f"Submitted {jobs} to cluster {result.cluster} with {found.path}; "
            "the cloud scheduler boots VMs for them.",
            file=out,
        )
        return EXIT_OK
    where = " in the sandbox" if profile.is_sandbox else ""
    print(
        f"Submitted {jobs} to cluster {result.cluster} (batch {result.batch_name}){where}.",
        file=out,
    )
    if profile.is_sandbox:
        print(
            "The sandbox runs its jobs while canfar-tui is open: watch them on the Queue tab.",
            file=out,
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m canfar_tui.cli.submit``: the same as ``canfar-tui submit``."""
    parser = argparse.ArgumentParser(prog="canfar-tui submit")
    parser.add_argument("--profile", metavar="NAME")
    parser.add_argument("--config", metavar="FILE", type=Path)
    parser.add_argument("--openrc", metavar="FILE", type=Path)
    parser.add_argument("--read-only", action="store_true", default=None)
    add_submit_arguments(parser)
    return run_submit(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
