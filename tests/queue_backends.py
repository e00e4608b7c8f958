"""Backends and a waiting harness for the QueueClient contract suite.

Backends are registered in :data:`QUEUE_BACKENDS` by name. ``sandbox`` always runs (fresh state
in ``tmp_path``, two slots). ``condor`` is the htcondor2 backend against the minicondor pool
started by ``scripts/condor/start.sh``; it is marked ``integration`` and runs when that pool is
found (``CANFAR_TUI_CONDOR_CONFIG`` and friends, or ``.services/condor/env``; see
``tests/condor_services.py``); otherwise it skips, or fails when ``CANFAR_TUI_REQUIRE_SERVICES=1``.
Its jobs' files go to a fresh folder inside the job folder the chroot shares at the same path.

Tests talk to a backend through :class:`QueueHarness`: it polls with a timeout instead of
relying on timing (a real schedd takes seconds to match a job), finds a job in the queue or,
once it left it, in the history, and removes what a test left in the queue.
"""

from __future__ import annotations

import contextlib
import stat
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from polling import poll_until

from canfar_tui.clients.base import ClientError, QueueClient, SupportsHistory
from canfar_tui.models import Job, JobEvent, JobId, JobStatus

T = TypeVar("T")

#: The env variable naming the HTCondor config of the real pool for the integration run.
CONDOR_ENV = "CANFAR_TUI_CONDOR_CONFIG"

#: The four Megacam exposures of the Batch Quick Start.
SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")

#: The Quick Start's do_catalogue.sub, as the seed gives it.
SEED_SUBMIT = """\
executable = do_catalogue.bash

output = do_catalogue-$(arguments).out
error  = do_catalogue-$(arguments).err
log    = do_catalogue-$(arguments).log

queue arguments from (
  1056215p
  1056216p
  1056217p
  1056218p
)
"""

FINISHED = (JobStatus.COMPLETED, JobStatus.REMOVED)


@dataclass(frozen=True)
class QueueBackend:
    """How to build one queue backend for the suite and how patient to be with it."""

    name: str
    #: Builds a fresh client; receives the test's tmp_path.
    factory: Callable[[Path], Awaitable[QueueClient]]
    #: Longest wait for one state change (idle -> running, running -> completed), seconds.
    timeout: float
    #: Pause between two polls, seconds.
    poll_interval: float
    #: Owners whose jobs the backend shows under "all users" (the sandbox seeds some).
    other_owners: tuple[str, ...] = ()
    #: Where jobs' files go; a real pool needs the folder shared with its execute node.
    job_dir: Callable[[Path], Path] = lambda tmp_path: tmp_path / "job"
    marks: tuple[pytest.MarkDecorator, ...] = ()
    #: What the harness does to a description before submitting it (the real pool, like
    #: CANFAR, runs only what canfar_submit made: Requirements naming group_name).
    prepare: Callable[[str], str] = lambda text: text


# --------------------------------------------------------------------------- backends


async def _make_sandbox(tmp_path: Path) -> QueueClient:
    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    return SandboxQueue(
        tmp_path / "sandbox" / "queue",
        slots=2,
        owner="contract-user",
        kill_grace=1.0,
        poll_interval=0.02,
    )


async def _make_condor(tmp_path: Path) -> QueueClient:
    """The htcondor2 backend on the test pool, authenticated by the test user's IDTOKEN."""
    from condor_services import condor_service_or_skip

    from canfar_tui.clients.queue.condor.client import CondorQueue

    service = condor_service_or_skip()
    return CondorQueue(service.config, call_timeout=60.0)


def _as_canfar_submit(text: str) -> str:
    """The description as canfar_submit submits it (see ``tests/condor_services.py``)."""
    from condor_services import as_canfar_submit

    return as_canfar_submit(text)


def _condor_job_dir(tmp_path: Path) -> Path:
    """A fresh folder in the pool's shared job folder, owned by the user the jobs run as."""
    from condor_services import condor_service_or_skip

    return condor_service_or_skip().new_job_dir(tmp_path.name)


QUEUE_BACKENDS: dict[str, QueueBackend] = {
    "sandbox": QueueBackend(
        "sandbox",
        _make_sandbox,
        timeout=30.0,
        poll_interval=0.02,
        other_owners=("jdoe", "asmith"),
    ),
    "condor": QueueBackend(
        "condor",
        _make_condor,
        timeout=180.0,
        poll_interval=0.5,
        other_owners=("jdoe", "asmith"),  # queued by scripts/condor/start.sh
        job_dir=_condor_job_dir,
        prepare=_as_canfar_submit,
        marks=(pytest.mark.integration,),
    ),
}


def backend_params() -> list[object]:
    return [pytest.param(name, marks=backend.marks) for name, backend in QUEUE_BACKENDS.items()]


# --------------------------------------------------------------------------- job files


def write_script(path: Path, body: str) -> Path:
    """Write an executable bash script."""
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def catalogue_script(job_dir: Path, gate: Path) -> Path:
    """A stand-in for the Quick Start's do_catalogue.bash: waits for ``gate``, then works.

    It writes a line per exposure to stdout and stderr, a ``<id>.cat`` file in its working
    directory and exits 3 for the last exposure (so exit codes are told apart).
    """
    return write_script(
        job_dir / "do_catalogue.bash",
        f"""
        id=$1
        while [ ! -e "{gate}" ]; do sleep 0.05; done
        echo "catalogue of ${{id}}"
        printf 'NUMBER\\nMAG_AUTO\\nX_IMAGE\\nY_IMAGE\\n' > "${{id}}.cat"
        echo "funpack -D ${{id}}.fits.fz" >&2
        if [ "$id" = "{SEED_IDS[-1]}" ]; then exit 3; fi
        exit 0
        """,
    )


# --------------------------------------------------------------------------- harness


class QueueHarness:
    """A queue client plus waiting helpers and the clusters the test submitted."""

    def __init__(self, client: QueueClient, backend: QueueBackend, job_dir: Path) -> None:
        self.client = client
        self.backend = backend
        self.job_dir = job_dir
        self.clusters: list[int] = []

    @staticmethod
    def unique(prefix: str = "ct") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    async def submit(
        self, description: str, *, itemdata: Sequence[Mapping[str, str]] | None = None
    ) -> tuple[int, list[JobId]]:
        """Submit from the job folder; returns the cluster and the ids of its jobs."""
        result = await self.client.submit(
            self.backend.prepare(description), itemdata=itemdata, submit_dir=self.job_dir
        )
        self.clusters.append(result.cluster)
        return result.cluster, [JobId(result.cluster, proc) for proc in range(result.num_jobs)]

    async def wait_for(
        self,
        fetch: Callable[[], Awaitable[T]],
        predicate: Callable[[T], bool],
        what: str,
        *,
        timeout: float | None = None,
    ) -> T:
        """Poll ``fetch`` until ``predicate`` holds; fail the test with ``what`` on timeout."""
        return await poll_until(fetch, predicate, what, self.backend, timeout=timeout)

    async def jobs(self, ids: Iterable[JobId]) -> dict[JobId, Job]:
        """The jobs with these ids: from the queue, or from the history once they left it."""
        wanted = set(ids)
        found = {job.id: job for job in await self.client.list_jobs() if job.id in wanted}
        missing = wanted - set(found)
        if missing:
            assert isinstance(self.client, SupportsHistory)
            for job in await self.client.history(limit=1000):
                if job.id in missing:
                    found[job.id] = job
        return found

    async def statuses(self, ids: Iterable[JobId]) -> dict[JobId, JobStatus | None]:
        ids = list(ids)
        found = await self.jobs(ids)
        return {job_id: (found[job_id].status if job_id in found else None) for job_id in ids}

    async def wait_status(
        self, ids: Iterable[JobId], allowed: Iterable[JobStatus], what: str
    ) -> dict[JobId, JobStatus | None]:
        ids, allowed = list(ids), set(allowed)
        return await self.wait_for(
            lambda: self.statuses(ids),
            lambda found: all(status in allowed for status in found.values()),
            what,
        )

    async def events_until(
        self, cursor: object, predicate: Callable[[list[JobEvent]], bool], what: str
    ) -> list[JobEvent]:
        """Collect events from ``cursor`` on until ``predicate`` holds for all collected."""
        collected: list[JobEvent] = []
        state = {"cursor": cursor}

        async def fetch() -> list[JobEvent]:
            events, state["cursor"] = await self.client.events_since(state["cursor"])
            collected.extend(events)
            return collected

        return await self.wait_for(fetch, predicate, what)

    async def cleanup(self) -> None:
        """Remove every job the test left in the queue; errors are ignored."""
        if not self.clusters:
            return
        with contextlib.suppress(ClientError, pytest.fail.Exception, AssertionError):
            left = [
                job.id for job in await self.client.list_jobs() if job.id.cluster in self.clusters
            ]
            if left:
                await self.client.remove(left, "contract test cleanup")
