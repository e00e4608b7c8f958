"""How a batch reaches the pool: through the installed ``canfar_submit``, or straight to a schedd.

On the batch host ``canfar_submit`` is on PATH, and it is what makes CANFAR's cloud scheduler
boot VMs (it shares or transfers the snapshot and adds the Requirements the scheduler needs),
so a real profile submits through it, in the form it accepts, on the user's own file. Without
it (a laptop, a test pool) the rewritten description (:mod:`canfar_tui.batch.rewrite`, which
adds what the current form adds) goes to the profile's schedd. The sandbox never runs
``canfar_submit``: it sends nothing anywhere.

:func:`canfar_submit_environment` builds the command's environment: this process's, plus the
profile's openrc variables, plus the password (asked once, only for the 0.3.x form, which
checks ``OS_PASSWORD``). The password lives in that mapping only; it never reaches argv, a
file or a log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from canfar_tui.batch.canfar_submit import (
    CanfarSubmit,
    SubmitForm,
    Submitted,
    run_canfar_submit,
)
from canfar_tui.batch.submitfile import scan_submit_file
from canfar_tui.clients.base import InvalidInput, QueueClient, Unavailable
from canfar_tui.clients.cloud.openrc import load_openrc
from canfar_tui.models import SubmitResult

__all__ = ["Route", "canfar_submit_environment", "choose_route", "submit_batch"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a submission goes, and the one line that says so in the preview."""

    #: The ``canfar_submit`` to run, or None: the rewrite goes to the schedd.
    canfar_submit: CanfarSubmit | None
    reason: str


def choose_route(found: CanfarSubmit | None, *, sandbox: bool) -> Route:
    """Submit through ``found`` when it is usable and the profile is real."""
    if sandbox:
        if found is not None:
            return Route(
                None,
                f"Sandbox: {found.path} is not run; the sandbox's own pool takes the "
                "rewritten description.",
            )
        return Route(None, "Sandbox: the sandbox's own pool takes the rewritten description.")
    if found is None:
        return Route(
            None,
            "canfar_submit is not on PATH: the rewritten description goes to the schedd "
            "(it carries what canfar_submit would add).",
        )
    if found.form is None:
        return Route(None, f"{found.describe()} The rewritten description goes to the schedd.")
    return Route(found, f"Submitting with {found.path} ({found.form.series} form).")


def canfar_submit_environment(
    found: CanfarSubmit,
    *,
    openrc: Path | None,
    password_provider: Callable[[], str] | None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment to run ``found`` in (``OS_*`` from ``openrc`` over ``base``).

    For the 0.3.x form a password is needed: ``OS_PASSWORD`` from ``base`` or the file, else
    ``password_provider()``; without one, :class:`InvalidInput` (one line).
    """
    environment = dict(os.environ if base is None else base)
    if openrc is not None:
        parsed = load_openrc(openrc)
        environment.update(parsed.variables)
    if found.form is SubmitForm.IMAGE_AND_FLAVOR and not environment.get("OS_PASSWORD"):
        password = password_provider() if password_provider is not None else ""
        if not password:
            raise InvalidInput(
                "canfar_submit (0.3.x) needs your OpenStack password: source your "
                "project's openrc file or run canfar-tui on a terminal."
            )
        environment["OS_PASSWORD"] = password
    return environment


async def submit_batch(
    route: Route,
    queue: QueueClient | None,
    *,
    job_file: Path,
    rewritten: str,
    image: str,
    flavor: str,
    openrc: Path | None = None,
    password_provider: Callable[[], str] | None = None,
) -> SubmitResult:
    """Submit one batch the way ``route`` says.

    Through ``canfar_submit``: the user's file ``job_file`` (already written) is handed to
    it in its folder (the password, when its form needs one, is asked in a worker thread).
    Otherwise ``rewritten`` (what canfar_submit would add, already added) goes to ``queue``
    with ``job_file``'s folder as the submit directory. Failures are ClientErrors (one line).
    """
    found = route.canfar_submit
    if found is None:
        if queue is None:
            raise Unavailable("No HTCondor queue in this profile: nothing was submitted.")
        return await queue.submit(rewritten, submit_dir=job_file.parent)

    def run() -> tuple[Submitted, str]:
        environment = canfar_submit_environment(
            found, openrc=openrc, password_provider=password_provider
        )
        submitted = run_canfar_submit(found, job_file, image, flavor, environment=environment)
        named = scan_submit_file(job_file.read_text(encoding="utf-8")).find("batch_name")
        return submitted, named.value.strip().strip('"') if named is not None else ""

    submitted, batch_name = await asyncio.to_thread(run)
    return SubmitResult(
        cluster=submitted.cluster,
        num_jobs=submitted.num_jobs,
        batch_name=batch_name or f"ID: {submitted.cluster}",
    )
