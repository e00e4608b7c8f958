"""The seed's batch step on a real HTCondor pool, through the htcondor2 backend.

Runs against the minicondor pool started by ``scripts/condor/start.sh`` (Debian trixie's
HTCondor in a chroot, daemons on 127.0.0.1, the test user's IDTOKEN); skips without it, fails
without it when ``CANFAR_TUI_REQUIRE_SERVICES=1``.

The Batch Quick Start's ``do_catalogue.sub`` exactly as the seed writes it (``queue arguments
from`` the four Megacam exposures 1056215p…1056218p) with a tiny ``do_catalogue.bash`` standing
in for cadcget/funpack/source-extractor/vcp: submitted, watched idle → running → completed
through ``events_since`` (the user logs, like condor_watch_q), its out/err/log files and
catalogues checked; then hold / release / remove of a long job, the history, and ``condor_q
-all``.
"""

from __future__ import annotations

import asyncio
import stat
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest
from condor_services import CondorService, as_canfar_submit

from canfar_tui.clients.base import AuthError
from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.models import Job, JobEvent, JobEventKind, JobId, JobStatus

pytestmark = pytest.mark.integration

T = TypeVar("T")

SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
# The seed's do_catalogue.sub, word for word.
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
# Waiting for the pool is not what is tested: be patient, poll, fail with what was seen.
PATIENCE = 180.0
IN_QUEUE = (JobStatus.IDLE, JobStatus.RUNNING)


async def wait_until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    deadline = time.monotonic() + PATIENCE
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.5)


async def find_jobs(queue: CondorQueue, ids: Iterable[JobId]) -> dict[JobId, Job]:
    """The jobs from the queue, or from the history once they left it."""
    wanted = set(ids)
    found = {job.id: job for job in await queue.list_jobs() if job.id in wanted}
    if wanted - set(found):
        for job in await queue.history(limit=500):
            if job.id in wanted and job.id not in found:
                found[job.id] = job
    return found


async def statuses(queue: CondorQueue, ids: Iterable[JobId]) -> dict[JobId, JobStatus | None]:
    ids = list(ids)
    found = await find_jobs(queue, ids)
    return {job_id: found[job_id].status if job_id in found else None for job_id in ids}


async def collect_events(
    queue: CondorQueue, cursor: object, done: Callable[[list[JobEvent]], bool], what: str
) -> tuple[list[JobEvent], object]:
    collected: list[JobEvent] = []
    state = {"cursor": cursor}

    async def fetch() -> list[JobEvent]:
        events, state["cursor"] = await queue.events_since(state["cursor"])
        collected.extend(events)
        return collected

    await wait_until(fetch, done, what)
    return collected, state["cursor"]


def kinds(events: Iterable[JobEvent], job_id: JobId) -> list[JobEventKind]:
    return [event.kind for event in events if event.job_id == job_id]


def write_catalogue_script(job_dir: Path, gate: Path) -> None:
    """do_catalogue.bash without the network: waits for the gate, then 'detects' and writes."""
    script = job_dir / "do_catalogue.bash"
    script.write_text(
        "#!/bin/bash\n"
        + textwrap.dedent(
            f"""\
            id=$1
            while [ ! -e "{gate}" ]; do sleep 0.1; done
            echo "catalogue of ${{id}}"
            echo "funpack -D ${{id}}.fits.fz" >&2
            printf 'NUMBER\\nMAG_AUTO\\nX_IMAGE\\nY_IMAGE\\n' > "${{id}}.cat"
            echo "uid $(id -u)" >> "${{id}}.cat.who"
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


async def test_the_seed_batch_runs_on_the_real_pool(
    queue: CondorQueue, job_dir: Path, condor_service: CondorService
) -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    gate = job_dir / "gate"
    write_catalogue_script(job_dir, gate)
    (job_dir / "do_catalogue.sub").write_text(SEED_SUBMIT)
    _, cursor = await queue.events_since(None)

    # As canfar_submit hands it to condor_submit: without its Requirements the pool (like
    # cloudscheduler) never starts the jobs.
    text = as_canfar_submit((job_dir / "do_catalogue.sub").read_text())
    result = await queue.submit(text, submit_dir=job_dir)
    assert result.num_jobs == 4
    assert result.batch_name == f"ID: {result.cluster}"
    ids = [JobId(result.cluster, proc) for proc in range(4)]

    # condor_q: one batch of four, nothing done; condor_q -nobatch: the four exposures.
    batch = next(b for b in await queue.list_batches() if b.name == result.batch_name)
    assert (batch.owner, batch.total, batch.done) == (condor_service.user, 4, 0)
    assert set(batch.job_ids) == set(ids)
    jobs = {job.id: job for job in await queue.list_jobs() if job.id in ids}
    assert [jobs[job_id].arguments for job_id in ids] == list(SEED_IDS)
    assert all(job.status in IN_QUEUE for job in jobs.values())
    assert all(job.command == str(job_dir / "do_catalogue.bash") for job in jobs.values())

    # Idle -> running: the pool matches the jobs (they wait for the gate).
    await wait_until(
        lambda: statuses(queue, ids),
        lambda found: JobStatus.RUNNING in found.values(),
        "a job of the seed batch to run",
    )
    gate.touch()

    # Running -> completed, seen in the user logs like condor_watch_q.
    events, _ = await collect_events(
        queue,
        cursor,
        lambda got: all(JobEventKind.TERMINATED in kinds(got, job_id) for job_id in ids),
        "a terminated event for every exposure",
    )
    for job_id in ids:
        main = [
            kind
            for kind in kinds(events, job_id)
            if kind in (JobEventKind.SUBMIT, JobEventKind.EXECUTE, JobEventKind.TERMINATED)
        ]
        assert main == [JobEventKind.SUBMIT, JobEventKind.EXECUTE, JobEventKind.TERMINATED]
    assert {
        e.job_id: e.exit_code for e in events if e.kind == JobEventKind.TERMINATED
    } == dict.fromkeys(ids, 0)
    assert {event.job_id for event in events} == set(ids)

    # Completed jobs leave condor_q and are in condor_history.
    final = await wait_until(
        lambda: statuses(queue, ids),
        lambda found: all(status == JobStatus.COMPLETED for status in found.values()),
        "the seed batch in the history",
    )
    assert set(final.values()) == {JobStatus.COMPLETED}
    assert not {job.id for job in await queue.list_jobs()} & set(ids)
    assert result.batch_name not in {b.name for b in await queue.list_batches()}
    history = {job.id: job for job in await queue.history(limit=100) if job.id in ids}
    assert set(history) == set(ids)
    for job_id, exposure in zip(ids, SEED_IDS, strict=True):
        job = history[job_id]
        assert (job.exit_code, job.arguments, job.owner) == (0, exposure, condor_service.user)
        assert job.submitted and job.started and job.finished

        # The files, where the job ad says they are, written by the test user's uid.
        files = await queue.job_files(job_id)
        assert files.output == job_dir / f"do_catalogue-{exposure}.out"
        assert files.error == job_dir / f"do_catalogue-{exposure}.err"
        assert files.log == job_dir / f"do_catalogue-{exposure}.log"
        assert files.output.read_text() == f"catalogue of {exposure}\n"
        assert files.error.read_text() == f"funpack -D {exposure}.fits.fz\n"
        assert files.output.stat().st_uid == condor_service.uid
        catalogue = job_dir / f"{exposure}.cat"
        assert catalogue.read_text().split() == ["NUMBER", "MAG_AUTO", "X_IMAGE", "Y_IMAGE"]
        assert (job_dir / f"{exposure}.cat.who").read_text() == f"uid {condor_service.uid}\n"
        log_events = list(htcondor2.JobEventLog(str(files.log)).events(stop_after=0))
        assert log_events[0].type == htcondor2.JobEventType.SUBMIT
        assert log_events[-1].type == htcondor2.JobEventType.JOB_TERMINATED
        assert log_events[-1]["ReturnValue"] == 0

        ad = await queue.job_ad(job_id)  # from the history now
        assert ad["JobStatus"] == int(JobStatus.COMPLETED)
        assert ad["Args"] == exposure
        assert ad["Out"] == str(files.output)


async def test_hold_release_remove_and_history(queue: CondorQueue, job_dir: Path) -> None:
    _, cursor = await queue.events_since(None)
    result = await queue.submit(
        as_canfar_submit(
            "executable = /bin/sleep\n"
            "transfer_executable = false\n"
            "arguments = 600\n"
            "log = sleep.log\n"
            "batch_name = long-sleep\n"
            "request_memory = 64M\n"
            "queue\n"
        ),
        submit_dir=job_dir,
    )
    [job_id] = [JobId(result.cluster, 0)]
    assert result.batch_name == "long-sleep"
    await wait_until(
        lambda: statuses(queue, [job_id]),
        lambda found: found[job_id] == JobStatus.RUNNING,
        "the sleep job to run",
    )
    # "Running" starts with the input transfer to the job's scratch folder (the pool's execute
    # side is a file system of its own, as a batch VM is): hold it once it executes.
    started, cursor = await collect_events(
        queue, cursor, lambda got: JobEventKind.EXECUTE in kinds(got, job_id), "the execute event"
    )

    assert await queue.hold([job_id], "checking the input first") == 1
    [held] = [job for job in await queue.list_jobs() if job.id == job_id]
    assert held.status == JobStatus.HELD
    assert held.hold_reason is not None and "checking the input first" in held.hold_reason
    batch = next(b for b in await queue.list_batches() if b.name == "long-sleep")
    assert (batch.held, batch.total) == (1, 1)
    assert await queue.hold([job_id], "again") == 0  # already held: nothing changes
    # The held event is written once the running job has stopped (a release before that
    # leaves no held event in the log at all: real HTCondor 23 behaviour), so wait for it.
    events, cursor = await collect_events(
        queue, cursor, lambda got: JobEventKind.HELD in kinds(got, job_id), "the held event"
    )
    events = started + events
    held_event = next(event for event in events if event.kind == JobEventKind.HELD)
    assert "checking the input first" in held_event.text

    assert await queue.release([job_id]) == 1
    assert await queue.release([job_id]) == 0
    await wait_until(
        lambda: statuses(queue, [job_id]),
        lambda found: found[job_id] in IN_QUEUE,
        "the released job back in the queue",
    )
    later, cursor = await collect_events(
        queue, cursor, lambda got: JobEventKind.RELEASED in kinds(got, job_id), "the release"
    )
    events += later

    assert await queue.remove([job_id], "not needed") == 1
    final = await wait_until(
        lambda: statuses(queue, [job_id]),
        lambda found: found[job_id] == JobStatus.REMOVED,
        "the removed job in the history",
    )
    assert final[job_id] == JobStatus.REMOVED
    assert job_id not in {job.id for job in await queue.list_jobs()}
    assert await queue.remove([job_id]) == 0  # gone: nothing to remove
    ad = await queue.job_ad(job_id)
    assert ad["JobStatus"] == int(JobStatus.REMOVED)
    assert "not needed" in str(ad.get("RemoveReason"))
    later, _ = await collect_events(
        queue, cursor, lambda got: JobEventKind.ABORTED in kinds(got, job_id), "the removal"
    )
    events += later

    # The user log tells the same story, in order.
    story = [
        kind
        for kind in kinds(events, job_id)
        if kind in (JobEventKind.SUBMIT, JobEventKind.HELD, JobEventKind.RELEASED)
        or kind == JobEventKind.ABORTED
    ]
    assert story == [
        JobEventKind.SUBMIT,
        JobEventKind.HELD,
        JobEventKind.RELEASED,
        JobEventKind.ABORTED,
    ]
    assert kinds(events, job_id).index(JobEventKind.EXECUTE) < kinds(events, job_id).index(
        JobEventKind.HELD
    )
    aborted = next(event for event in events if event.kind == JobEventKind.ABORTED)
    assert "not needed" in aborted.text

    # condor_history: newest first, mine within everyone's, the limit honoured.
    [newest] = await queue.history(limit=1)
    assert newest.id == job_id
    assert job_id in {job.id for job in await queue.history(all_users=True, limit=50)}


async def test_condor_q_all_shows_the_other_users(
    queue: CondorQueue, condor_service: CondorService
) -> None:
    everyone = await queue.list_batches(all_users=True)
    others = {b.owner for b in everyone} - {condor_service.user}
    assert set(condor_service.other_users) <= others
    mine = await queue.list_batches()
    assert {b.owner for b in mine} <= {condor_service.user}
    [calibration] = [b for b in everyone if b.name == "calibration-2023"]
    assert (calibration.owner, calibration.held, calibration.total) == ("jdoe", 2, 2)
    [tiles] = [b for b in everyone if b.name == "survey-tiles"]
    assert (tiles.owner, tiles.idle) == ("asmith", 2)

    target = calibration.job_ids[0]
    with pytest.raises(AuthError) as raised:
        await queue.release([target])
    assert "Permission denied" in raised.value.message
    [after] = [job for job in await queue.list_jobs(all_users=True) if job.id == target]
    assert after.status == JobStatus.HELD
