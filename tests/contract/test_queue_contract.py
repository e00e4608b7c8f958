"""The QueueClient contract: what every queue backend (local sandbox executor, htcondor2) does.

The tests follow the CANFAR Batch Quick Start: submit ``do_catalogue.sub`` (``queue arguments
from`` four Megacam exposures), watch ``condor_q`` go idle -> running -> done, read the out,
err and log files, then hold / release / remove a long job and look at ``condor_q -all``.
They only assert what a real HTCondor pool also does and wait by polling (``queue.wait_*``):
finished jobs leave the queue, so a job is looked up in the queue and then in the history.

Backends and the harness live in ``queue_backends.py`` (see there to add the htcondor2 one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from queue_backends import (
    FINISHED,
    QUEUE_BACKENDS,
    SEED_IDS,
    SEED_SUBMIT,
    QueueBackend,
    QueueHarness,
    backend_params,
    catalogue_script,
    write_script,
)

from canfar_tui.clients.base import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    QueueClient,
    SupportsEditJob,
    SupportsHistory,
    classad_string,
)
from canfar_tui.models import JobEvent, JobEventKind, JobId, JobStatus

IN_QUEUE = (JobStatus.IDLE, JobStatus.RUNNING)

SLEEP_SUBMIT = """\
executable = /bin/sleep
transfer_executable = false
arguments = 300
output = sleep-$(Cluster).$(Process).out
error = sleep-$(Cluster).$(Process).err
log = sleep-$(Cluster).log
request_cpus = 1
request_memory = 256M
+VMImage = "catalogue-software-2023-08-21"
+VMInstanceType = "c2-7.5gb-30"
batch_name = {batch}
queue {count}
"""


@pytest.fixture(params=backend_params())
def queue_backend(request: pytest.FixtureRequest) -> QueueBackend:
    return QUEUE_BACKENDS[request.param]


@pytest.fixture
async def queue_client(queue_backend: QueueBackend, tmp_path: Path) -> AsyncIterator[QueueClient]:
    client = await queue_backend.factory(tmp_path)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def queue(
    queue_client: QueueClient, queue_backend: QueueBackend, tmp_path: Path
) -> AsyncIterator[QueueHarness]:
    job_dir = queue_backend.job_dir(tmp_path)
    job_dir.mkdir(parents=True, exist_ok=True)
    harness = QueueHarness(queue_client, queue_backend, job_dir)
    try:
        yield harness
    finally:
        await harness.cleanup()


async def submit_catalogue(queue: QueueHarness) -> tuple[int, list[JobId], Path]:
    """Submit the seed's do_catalogue.sub; its jobs wait until the returned gate exists."""
    gate = queue.job_dir / "gate"
    catalogue_script(queue.job_dir, gate)
    (queue.job_dir / "do_catalogue.sub").write_text(SEED_SUBMIT)
    cluster, ids = await queue.submit(SEED_SUBMIT)
    return cluster, ids, gate


async def submit_sleepers(
    queue: QueueHarness, count: int = 1, batch: str | None = None
) -> tuple[str, list[JobId]]:
    batch = batch or queue.unique("sleepers")
    _, ids = await queue.submit(SLEEP_SUBMIT.format(batch=batch, count=count))
    return batch, ids


def kinds_of(events: list[JobEvent], job_id: JobId) -> list[JobEventKind]:
    return [event.kind for event in events if event.job_id == job_id]


# --------------------------------------------------------------------------- basics


async def test_is_a_queue_client_with_history_and_a_label(queue_client: QueueClient) -> None:
    assert isinstance(queue_client, QueueClient)
    assert isinstance(queue_client, SupportsHistory)
    assert queue_client.backend_label.strip()


async def test_aclose_is_idempotent(queue_client: QueueClient) -> None:
    await queue_client.list_jobs()
    await queue_client.aclose()
    await queue_client.aclose()


# --------------------------------------------------------------------------- the Quick Start batch


async def test_seed_batch_goes_idle_running_completed(queue: QueueHarness) -> None:
    cursor = (await queue.client.events_since(None))[1]
    _cluster, ids, gate = await submit_catalogue(queue)
    assert len(ids) == 4

    # While the gate is closed nothing can finish: every job is idle or running.
    jobs = await queue.jobs(ids)
    assert set(jobs) == set(ids)
    assert [jobs[job_id].arguments for job_id in ids] == list(SEED_IDS)
    assert all(job.status in IN_QUEUE for job in jobs.values())
    assert len({job.batch_name for job in jobs.values()}) == 1
    running = await queue.wait_for(
        lambda: queue.statuses(ids),
        lambda found: JobStatus.RUNNING in found.values(),
        "a job of the batch to run",
    )
    assert all(status in IN_QUEUE for status in running.values())

    gate.touch()
    final = await queue.wait_status(ids, FINISHED, "the batch to finish")
    assert set(final.values()) == {JobStatus.COMPLETED}

    events = await queue.events_until(
        cursor,
        lambda got: all(JobEventKind.TERMINATED in kinds_of(got, job_id) for job_id in ids),
        "a terminated event for every job",
    )
    for job_id in ids:
        kinds = [
            kind
            for kind in kinds_of(events, job_id)
            if kind in (JobEventKind.SUBMIT, JobEventKind.EXECUTE, JobEventKind.TERMINATED)
        ]
        assert kinds == [JobEventKind.SUBMIT, JobEventKind.EXECUTE, JobEventKind.TERMINATED]
    exits = {
        event.job_id: event.exit_code for event in events if event.kind == JobEventKind.TERMINATED
    }
    assert exits == {ids[0]: 0, ids[1]: 0, ids[2]: 0, ids[3]: 3}


async def test_seed_batch_writes_out_err_log_and_records_exit_codes(queue: QueueHarness) -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    _cluster, ids, gate = await submit_catalogue(queue)
    gate.touch()
    await queue.wait_status(ids, FINISHED, "the batch to finish")

    finished = await queue.jobs(ids)
    for job_id, exposure in zip(ids, SEED_IDS, strict=True):
        job = finished[job_id]
        assert job.status == JobStatus.COMPLETED
        assert job.exit_code == (3 if exposure == SEED_IDS[-1] else 0)
        assert job.submitted is not None and job.started is not None
        assert job.finished is not None and job.finished >= job.started >= job.submitted

        files = await queue.client.job_files(job_id)
        assert files.output == queue.job_dir / f"do_catalogue-{exposure}.out"
        assert files.error == queue.job_dir / f"do_catalogue-{exposure}.err"
        assert files.log == queue.job_dir / f"do_catalogue-{exposure}.log"
        assert files.output.read_text() == f"catalogue of {exposure}\n"
        assert files.error.read_text() == f"funpack -D {exposure}.fits.fz\n"
        # The catalogue the job wrote in its working directory comes back to the submit dir.
        assert (queue.job_dir / f"{exposure}.cat").read_text().split() == [
            "NUMBER",
            "MAG_AUTO",
            "X_IMAGE",
            "Y_IMAGE",
        ]

        events = list(htcondor2.JobEventLog(str(files.log)).events(stop_after=0))
        types = [event.type for event in events]
        assert types[0] == htcondor2.JobEventType.SUBMIT
        assert htcondor2.JobEventType.EXECUTE in types
        assert types[-1] == htcondor2.JobEventType.JOB_TERMINATED
        assert {(event.cluster, event.proc) for event in events} == {(job_id.cluster, job_id.proc)}
        assert events[-1]["ReturnValue"] == job.exit_code


async def test_batches_count_jobs_by_state_like_condor_q(queue: QueueHarness) -> None:
    cluster, ids, gate = await submit_catalogue(queue)
    default_name = f"ID: {cluster}"  # condor_q's name for a batch without batch_name

    batches = {b.name: b for b in await queue.client.list_batches()}
    assert default_name in batches, sorted(batches)
    ours = batches[default_name]
    assert ours.total == 4
    assert ours.done == 0
    assert ours.running + ours.idle + ours.held == 4
    assert set(ours.job_ids) == set(ids)
    assert ours.submitted is not None

    await queue.client.hold([ids[3]], "looking at 1056218p first")
    await queue.wait_status([ids[3]], [JobStatus.HELD], "the held job")
    ours = next(b for b in await queue.client.list_batches() if b.name == default_name)
    assert ours.held == 1
    assert ours.running + ours.idle == 3

    gate.touch()
    await queue.wait_status(ids[:3], FINISHED, "three jobs to finish")
    ours = next(b for b in await queue.client.list_batches() if b.name == default_name)
    assert (ours.done, ours.held, ours.running, ours.idle, ours.total) == (3, 1, 0, 0, 4)
    assert ours.job_ids == (ids[3],)

    await queue.client.remove([ids[3]])
    await queue.wait_status([ids[3]], FINISHED, "the removed job to leave the queue")
    names = {b.name for b in await queue.client.list_batches()}
    assert default_name not in names  # a batch with no job left in the queue is gone


async def test_batch_name_groups_the_jobs(queue: QueueHarness) -> None:
    batch, ids = await submit_sleepers(queue, count=3)
    found = await queue.wait_for(
        queue.client.list_batches,
        lambda batches: any(b.name == batch for b in batches),
        f"batch {batch}",
    )
    ours = next(b for b in found if b.name == batch)
    assert ours.total == 3 and set(ours.job_ids) == set(ids)
    jobs = await queue.jobs(ids)
    assert {job.batch_name for job in jobs.values()} == {batch}
    assert await queue.client.remove(ids, "done looking") == 3
    await queue.wait_status(ids, FINISHED, "the removed jobs")


# --------------------------------------------------------------------------- actions


async def test_hold_release_remove_a_long_job(queue: QueueHarness) -> None:
    assert isinstance(queue.client, SupportsHistory)
    _, [job_id] = await submit_sleepers(queue)
    await queue.wait_status([job_id], [JobStatus.RUNNING], "the sleep job to run")

    assert await queue.client.hold([job_id], "checking the input first") == 1
    await queue.wait_status([job_id], [JobStatus.HELD], "the job to be held")
    [held] = [job for job in await queue.client.list_jobs() if job.id == job_id]
    assert held.hold_reason is not None and "checking the input first" in held.hold_reason
    ad = await queue.client.job_ad(job_id)
    assert ad["JobStatus"] == int(JobStatus.HELD)
    assert "checking the input first" in str(ad["HoldReason"])
    assert await queue.client.hold([job_id], "again") == 0  # already held

    assert await queue.client.release([job_id]) == 1
    await queue.wait_status([job_id], IN_QUEUE, "the released job to be idle or running")
    assert await queue.client.release([job_id]) == 0  # not held any more

    assert await queue.client.remove([job_id], "not needed") == 1
    await queue.wait_status([job_id], [JobStatus.REMOVED], "the job to be removed")
    assert job_id not in {job.id for job in await queue.client.list_jobs()}
    history = await queue.client.history(limit=50)
    [removed] = [job for job in history if job.id == job_id]
    assert removed.status == JobStatus.REMOVED


async def test_hold_and_remove_of_an_idle_job(queue: QueueHarness) -> None:
    _cluster, ids, _gate = await submit_catalogue(queue)
    # Hold everything at once, whatever state each job is in, then remove it all.
    assert await queue.client.hold(ids, "pause") == 4
    await queue.wait_status(ids, [JobStatus.HELD], "all jobs held")
    assert await queue.client.remove(ids) == 4
    await queue.wait_status(ids, [JobStatus.REMOVED], "all jobs removed")


async def test_job_ad_has_condor_attributes(queue: QueueHarness) -> None:
    batch, [job_id] = await submit_sleepers(queue)
    ad = await queue.client.job_ad(job_id)
    assert ad["ClusterId"] == job_id.cluster
    assert ad["ProcId"] == job_id.proc
    assert ad["JobStatus"] in (int(JobStatus.IDLE), int(JobStatus.RUNNING))
    assert isinstance(ad["Owner"], str) and ad["Owner"]
    assert str(ad["Cmd"]).endswith("sleep")
    assert ad.get("Args", ad.get("Arguments")) == "300"
    assert Path(str(ad["Iwd"])) == queue.job_dir
    assert Path(str(ad["Out"])) == queue.job_dir / f"sleep-{job_id}.out"
    assert Path(str(ad["Err"])) == queue.job_dir / f"sleep-{job_id}.err"
    assert Path(str(ad["UserLog"])) == queue.job_dir / f"sleep-{job_id.cluster}.log"
    assert ad["RequestCpus"] == 1
    assert ad["RequestMemory"] == 256
    assert ad["JobBatchName"] == batch
    assert ad["VMImage"] == "catalogue-software-2023-08-21"
    assert ad["VMInstanceType"] == "c2-7.5gb-30"
    assert isinstance(ad["QDate"], int) and ad["QDate"] > 0

    jobs = await queue.jobs([job_id])
    assert jobs[job_id].vm_image == "catalogue-software-2023-08-21"
    assert jobs[job_id].vm_flavor == "c2-7.5gb-30"
    assert jobs[job_id].request_memory_mb == 256
    assert jobs[job_id].command.endswith("sleep")


async def test_unknown_job_is_not_found(queue: QueueHarness) -> None:
    with pytest.raises(NotFound):
        await queue.client.job_ad(JobId(987654, 0))


# --------------------------------------------------------------------------- all users


async def test_all_users_shows_mine_and_other_owners(queue: QueueHarness) -> None:
    _, ids = await submit_sleepers(queue, count=2)
    mine = await queue.client.list_jobs()
    everyone = await queue.client.list_jobs(all_users=True)
    assert set(ids) <= {job.id for job in mine}
    assert {job.id for job in mine} <= {job.id for job in everyone}
    owners_mine = {job.owner for job in mine}
    assert len(owners_mine) == 1
    owners_all = {job.owner for job in everyone}
    for owner in queue.backend.other_owners:
        assert owner in owners_all
        assert owner not in owners_mine
    batch_owners = {b.owner for b in await queue.client.list_batches(all_users=True)}
    assert set(queue.backend.other_owners) <= batch_owners
    assert {b.owner for b in await queue.client.list_batches()} <= owners_mine
    assert isinstance(queue.client, SupportsHistory)
    my_history = {job.id for job in await queue.client.history(limit=500)}
    all_history = {job.id for job in await queue.client.history(all_users=True, limit=500)}
    assert my_history <= all_history


async def test_other_users_jobs_cannot_be_touched(queue: QueueHarness) -> None:
    if not queue.backend.other_owners:
        pytest.skip("this backend shows no other user's jobs")
    others = [
        job
        for job in await queue.client.list_jobs(all_users=True)
        if job.owner in queue.backend.other_owners
    ]
    assert others
    target = others[0]
    for action in (queue.client.hold, queue.client.remove):
        with pytest.raises(AuthError) as raised:
            await action([target.id])
        assert "Permission denied" in raised.value.message
    with pytest.raises(AuthError):
        await queue.client.release([target.id])
    [after] = [job for job in await queue.client.list_jobs(all_users=True) if job.id == target.id]
    assert after.status == target.status


# --------------------------------------------------------------------------- events


async def test_events_since_none_starts_from_now(queue: QueueHarness) -> None:
    _, ids = await submit_sleepers(queue)
    events, cursor = await queue.client.events_since(None)
    assert list(events) == []
    assert await queue.client.hold(ids, "event test") == 1
    got = await queue.events_until(
        cursor,
        lambda collected: any(e.kind == JobEventKind.HELD for e in collected),
        "the held event",
    )
    assert all(event.job_id in ids for event in got)
    assert JobEventKind.SUBMIT not in {event.kind for event in got}
    held = next(event for event in got if event.kind == JobEventKind.HELD)
    assert "event test" in held.text
    assert held.time.tzinfo is not None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "description",
    [
        "executable = /bin/echo\nthis line is not a command\nqueue\n",
        "executable = /bin/echo\nqueue arguments from (\n  a\n  b\n",
        "executable = /bin/echo\nqueue blah blah blah\n",
        "executable = /bin/echo\narguments = $(no_such_macro)\nqueue\n",
        "executable = /bin/echo\nqueue arguments from (\n)\n",
    ],
    ids=["syntax", "unterminated-list", "bad-queue", "unknown-macro", "empty-list"],
)
async def test_malformed_submit_is_invalid_input_and_queues_nothing(
    queue: QueueHarness, description: str
) -> None:
    before = {job.id for job in await queue.client.list_jobs()}
    with pytest.raises(InvalidInput) as raised:
        await queue.submit(description)
    message = raised.value.message
    assert message and "\n" not in message
    assert {job.id for job in await queue.client.list_jobs()} == before


# --------------------------------------------------------------------------- edit and release

#: A job submitted on hold that prints its arguments (one per line) and $GREETING.
HELD_SUBMIT = """\
executable = show_args.bash
arguments = first run
output = show-$(Cluster).$(Process).out
error = show-$(Cluster).$(Process).err
log = show-$(Cluster).log
request_cpus = 1
request_memory = 128M
+VMImage = "catalogue-software-2023-08-21"
hold = true
queue
"""


async def submit_held(queue: QueueHarness) -> JobId:
    write_script(
        queue.job_dir / "show_args.bash",
        """
        for arg in "$@"; do echo "arg: $arg"; done
        echo "greeting: $GREETING"
        """,
    )
    _, [job_id] = await queue.submit(HELD_SUBMIT)
    await queue.wait_status([job_id], [JobStatus.HELD], "the job submitted on hold")
    return job_id


def editor(queue: QueueHarness) -> SupportsEditJob:
    assert isinstance(queue.client, SupportsEditJob)
    return queue.client


async def test_edit_a_held_job_then_release_it_runs_with_the_new_values(
    queue: QueueHarness,
) -> None:
    job_id = await submit_held(queue)
    await editor(queue).edit_job(
        job_id,
        {
            "Arguments": classad_string("second 'run two'"),
            "environment": classad_string("GREETING='hello there'"),
            "RequestMemory": "256",
            "+VMImage": classad_string("edited-snapshot"),
        },
    )
    ad = await queue.client.job_ad(job_id)
    assert ad["JobStatus"] == int(JobStatus.HELD)  # an edit does not release
    assert ad["Arguments"] == "second 'run two'"
    assert "GREETING='hello there'" in str(ad["Environment"])
    assert ad["RequestMemory"] == 256
    assert ad["VMImage"] == "edited-snapshot"
    job = (await queue.jobs([job_id]))[job_id]
    assert job.arguments == "second 'run two'"
    assert (job.request_memory_mb, job.vm_image) == (256, "edited-snapshot")

    assert await queue.client.release([job_id]) == 1
    final = await queue.wait_status([job_id], FINISHED, "the edited job to finish")
    assert final[job_id] == JobStatus.COMPLETED
    output = queue.job_dir / f"show-{job_id}.out"
    assert output.read_text().splitlines() == [
        "arg: second",
        "arg: run two",
        "greeting: hello there",
    ]


@pytest.mark.parametrize(
    "attributes",
    [
        {"Cmd": classad_string("/bin/false")},
        {"Owner": classad_string("root")},
        {"Arguments": classad_string("fine"), "Iwd": classad_string("/tmp")},
        {"Arguments": "unquoted words"},
        {"Arguments": classad_string("'unterminated")},
        {"Environment": classad_string("NOT AN ASSIGNMENT")},
        {"RequestMemory": classad_string("lots")},
        {"RequestCpus": "0"},
        {"Arguments": classad_string("fine"), "RequestDisk": "1.5"},
        {"Requirements": "TARGET.Memory >="},
        {},
    ],
    ids=[
        "cmd",
        "owner",
        "one-refused-among-good",
        "unquoted-text",
        "bad-quoting",
        "bad-environment",
        "text-for-a-number",
        "zero-cpus",
        "fraction-after-a-good-one",
        "bad-expression",
        "nothing",
    ],
)
async def test_edit_refuses_other_attributes_and_bad_values_and_changes_nothing(
    queue: QueueHarness, attributes: dict[str, str]
) -> None:
    job_id = await submit_held(queue)
    before = await queue.client.job_ad(job_id)
    with pytest.raises(InvalidInput) as raised:
        await editor(queue).edit_job(job_id, attributes)
    assert raised.value.message and "\n" not in raised.value.message
    after = await queue.client.job_ad(job_id)
    for name in ("Args", "Arguments", "Cmd", "Owner", "Iwd", "RequestCpus", "RequestMemory"):
        assert after.get(name) == before.get(name), name
    assert after["JobStatus"] == int(JobStatus.HELD)


async def test_edit_refuses_running_finished_unknown_and_other_users_jobs(
    queue: QueueHarness,
) -> None:
    change = {"Arguments": classad_string("600")}
    _, [running] = await submit_sleepers(queue)
    await queue.wait_status([running], [JobStatus.RUNNING], "the sleep job to run")
    with pytest.raises(Conflict) as raised:
        await editor(queue).edit_job(running, change)
    assert "hold it first" in raised.value.message
    assert (await queue.client.job_ad(running)).get("Arguments") in (None, "300")

    held = await submit_held(queue)
    assert await queue.client.remove([held], "not needed") == 1
    await queue.wait_status([held], [JobStatus.REMOVED], "the removed job")
    with pytest.raises(Conflict) as raised:
        await editor(queue).edit_job(held, change)
    assert "left the queue" in raised.value.message

    with pytest.raises(NotFound):
        await editor(queue).edit_job(JobId(987654, 0), change)

    others = [
        job
        for job in await queue.client.list_jobs(all_users=True)
        if job.owner in queue.backend.other_owners
    ]
    if others:
        with pytest.raises(AuthError) as denied:
            await editor(queue).edit_job(others[0].id, change)
        assert "Permission denied" in denied.value.message
