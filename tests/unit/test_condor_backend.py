"""The htcondor2 backend's parts that need no HTCondor pool, and its worker process.

Conversions (job ads to Job and Batch rows, user-log events to JobEvent), constraints, error
mapping, submit preparation (offline, with the real ``htcondor2.Submit``), the user-log reader
(on logs in HTCondor's event format, read by the real ``htcondor2.JobEventLog``) and the worker
process against a collector that is down or never answers. The pool itself is exercised by
``tests/contract`` (``condor``) and ``tests/integration/test_condor_seed_batch.py``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    NotFound,
    QueueClient,
    SupportsHistory,
    Unavailable,
)
from canfar_tui.clients.queue.condor.ads import (
    EventCursor,
    LogPosition,
    batches_from_ads,
    cursor_reply,
    event_from_record,
    ids_constraint,
    job_from_ad,
    owner_constraint,
    resolve_job_path,
)
from canfar_tui.clients.queue.condor.client import CondorQueue, map_condor_error
from canfar_tui.clients.queue.condor.worker import (
    LogReader,
    plain_ad,
    prepare_submit,
    track_new_logs,
)
from canfar_tui.clients.queue.sandbox import eventlog
from canfar_tui.models import JobEventKind, JobId, JobStatus

htcondor2 = pytest.importorskip("htcondor2")
classad2 = pytest.importorskip("classad2")

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

T0 = 1_750_000_000  # a fixed Unix time for the ads


# --------------------------------------------------------------------------- module hygiene


def test_importing_the_backend_imports_no_htcondor() -> None:
    code = (
        "import json, sys, canfar_tui.clients.queue.condor.client, "
        "canfar_tui.clients.queue.condor.worker; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('htcondor2', 'htcondor', 'classad2', 'classad', 'textual'))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(output) == []


def test_the_client_is_a_queue_client_with_history() -> None:
    client = CondorQueue(config_file="/dev/null")
    assert isinstance(client, QueueClient)
    assert isinstance(client, SupportsHistory)
    assert client.backend_label == "HTCONDOR"
    assert client.worker_pid is None  # nothing started before the first call


# --------------------------------------------------------------------------- job ads


def test_a_completed_job_ad_becomes_a_history_row() -> None:
    job = job_from_ad(
        {
            "ClusterId": 42,
            "ProcId": 3,
            "Owner": "astro",
            "JobStatus": 4,
            "Cmd": "/home/astro/do_catalogue.bash",
            "Args": "1056218p",
            "QDate": T0,
            "JobStartDate": T0 + 10,
            "CompletionDate": T0 + 70,
            "ExitCode": 3,
            "ExitBySignal": False,
            "RequestCpus": 1,
            "RequestMemory": 256,
            "VMImage": "catalogue-software-2023-08-21",
            "VMInstanceType": "c2-7.5gb-30",
        }
    )
    assert job.id == JobId(42, 3)
    assert job.status == JobStatus.COMPLETED
    assert job.batch_name == "ID: 42"  # condor_q's name for a cluster without batch_name
    assert job.arguments == "1056218p"
    assert job.exit_code == 3
    assert job.submitted == datetime.fromtimestamp(T0, UTC)
    assert job.started == datetime.fromtimestamp(T0 + 10, UTC)
    assert job.finished == datetime.fromtimestamp(T0 + 70, UTC)
    assert (job.vm_image, job.vm_flavor, job.request_memory_mb) == (
        "catalogue-software-2023-08-21",
        "c2-7.5gb-30",
        256,
    )


def test_held_removed_and_signalled_jobs() -> None:
    held = job_from_ad(
        {"ClusterId": 1, "ProcId": 0, "JobStatus": 5, "HoldReason": "disk full (by user x)"}
    )
    assert held.hold_reason == "disk full (by user x)"
    assert held.exit_code is None
    idle = job_from_ad({"ClusterId": 1, "ProcId": 1, "JobStatus": 1, "HoldReason": "old"})
    assert idle.hold_reason is None  # only a held job shows its reason
    removed = job_from_ad(
        {
            "ClusterId": 1,
            "ProcId": 2,
            "JobStatus": 3,
            "CompletionDate": 0,
            "EnteredCurrentStatus": T0,
        }
    )
    assert removed.finished == datetime.fromtimestamp(T0, UTC)
    signalled = job_from_ad(
        {"ClusterId": 1, "ProcId": 3, "JobStatus": 4, "ExitBySignal": True, "ExitCode": 0}
    )
    assert signalled.exit_code is None
    new_syntax = job_from_ad(
        {
            "ClusterId": 1,
            "ProcId": 4,
            "JobStatus": 1,
            "Arguments": "'a b' c",
            "JobBatchName": "tiles",
            "RequestMemory": "ifthenelse(x, 1, 2)",
        }
    )
    assert new_syntax.arguments == "'a b' c"
    assert new_syntax.batch_name == "tiles"
    assert new_syntax.request_memory_mb == 0  # an expression nobody evaluated


def test_batches_are_grouped_and_counted_like_condor_q() -> None:
    def ad(
        cluster: int, proc: int, status: int, owner: str = "astro", **more: object
    ) -> dict[str, object]:
        return {
            "ClusterId": cluster,
            "ProcId": proc,
            "Owner": owner,
            "JobStatus": status,
            "QDate": T0 + cluster,
            "TotalSubmitProcs": 4,
            **more,
        }

    ads = [
        # cluster 10: 4 procs submitted, 1 already left the queue, 1 removed (leaving)
        ad(10, 1, 2),
        ad(10, 2, 5),
        ad(10, 3, 3),
        # clusters 11 and 12 share a batch name: one row
        ad(11, 0, 1, JobBatchName="tiles", TotalSubmitProcs=2),
        ad(11, 1, 1, JobBatchName="tiles", TotalSubmitProcs=2),
        ad(12, 0, 7, JobBatchName="tiles", TotalSubmitProcs=1),
        # the same batch name under another owner is another row
        ad(13, 0, 1, owner="jdoe", JobBatchName="tiles", TotalSubmitProcs=1),
        # a cluster whose jobs all left (completed, waiting to be cleaned up) is not shown
        ad(14, 0, 4, TotalSubmitProcs=1),
    ]
    batches = {(b.owner, b.name): b for b in batches_from_ads(ads)}
    assert set(batches) == {("astro", "ID: 10"), ("astro", "tiles"), ("jdoe", "tiles")}
    first = batches[("astro", "ID: 10")]
    assert (first.done, first.running, first.idle, first.held, first.total) == (2, 1, 0, 1, 4)
    assert first.job_ids == (JobId(10, 1), JobId(10, 2))
    assert first.submitted == datetime.fromtimestamp(T0 + 10, UTC)
    tiles = batches[("astro", "tiles")]
    assert (tiles.done, tiles.running, tiles.idle, tiles.held, tiles.total) == (0, 0, 2, 1, 3)
    assert tiles.submitted == datetime.fromtimestamp(T0 + 11, UTC)
    assert set(tiles.job_ids) == {JobId(11, 0), JobId(11, 1), JobId(12, 0)}
    assert batches[("jdoe", "tiles")].total == 1


def test_file_attributes_resolve_against_iwd() -> None:
    assert resolve_job_path("out.txt", "/jobs/a") == Path("/jobs/a/out.txt")
    assert resolve_job_path("/abs/err", "/jobs/a") == Path("/abs/err")
    assert resolve_job_path("/dev/null", "/jobs/a") is None
    assert resolve_job_path(None, "/jobs/a") is None
    assert resolve_job_path("", "/jobs/a") is None


def test_plain_ad_turns_classad_values_into_json_values() -> None:
    ad = classad2.ClassAd(
        '[ ClusterId = 7; Owner = "astro"; Req = RequestCpus > 0; Nothing = undefined;'
        " List = {1, 2}; Nested = [ Cpus = 1 ]; RequestCpus = 2; Twice = RequestCpus * 2 ]"
    )
    plain = plain_ad(ad, evaluate=["Twice"])
    assert plain["ClusterId"] == 7
    assert plain["Owner"] == "astro"
    assert plain["Req"] == "RequestCpus > 0"  # an expression stays text
    assert plain["Nothing"] is None
    assert plain["List"] == [1, 2]
    assert plain["Nested"] == {"Cpus": 1}
    assert plain["Twice"] == 4  # evaluated on request
    json.dumps(plain)


# --------------------------------------------------------------------------- constraints


def test_constraints_select_exactly_the_jobs_meant() -> None:
    constraint = classad2.ExprTree(ids_constraint([JobId(3, 0), JobId(3, 2), JobId(5, 1)]))

    def matches(cluster: int, proc: int) -> bool:
        return constraint.eval(classad2.ClassAd({"ClusterId": cluster, "ProcId": proc})) is True

    assert matches(3, 0) and matches(3, 2) and matches(5, 1)
    assert not matches(3, 1) and not matches(5, 0) and not matches(4, 0)
    assert ids_constraint([]) == "false"

    tricky = 'a"b\\c'
    mine = classad2.ExprTree(owner_constraint(tricky))
    assert mine.eval(classad2.ClassAd({"Owner": tricky})) is True
    assert mine.eval(classad2.ClassAd({"Owner": "a"})) is False


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("op", "kind", "message", "expected"),
    [
        ("query", "HTCondorException", "Failed to connect to schedd", Unavailable),
        ("query", "HTCondorException", "Failed communication with collector.", Unavailable),
        ("start", "HTCondorException", "Unable to locate local daemon.", Unavailable),
        ("act", "HTCondorException", "AUTHENTICATE: no token found", AuthError),
        ("submit", "HTCondorException", "Permission denied for user x", AuthError),
        ("submit", "HTCondorException", "SUBMIT_REQUIREMENT not met:\nbad", InvalidInput),
        ("submit", "InvalidInput", "Line 3: $(x) is not defined.", InvalidInput),
        ("job_ad", "NotFound", "Job 1.0 does not exist.", NotFound),
        ("start", "ModuleNotFoundError", "No module named 'htcondor2'", Unavailable),
        ("query", "KeyError", "weird", Unavailable),
    ],
)
def test_htcondor_errors_map_to_the_error_tree(
    op: str, kind: str, message: str, expected: type[ClientError]
) -> None:
    error = map_condor_error(op, kind, message)
    assert type(error) is expected
    assert error.message and "\n" not in error.message


# --------------------------------------------------------------------------- submit preparation


def test_the_seed_description_is_made_independent_of_the_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "do_catalogue.bash").write_text("#!/bin/bash\n")
    prepared = prepare_submit(SEED_SUBMIT, tmp_path)
    assert prepared.num_jobs == 4
    assert prepared.overrides == {
        "initialdir": str(tmp_path),
        "executable": f"{tmp_path}/do_catalogue.bash",
    }
    assert prepared.queue is None and prepared.itemdata is None  # the bindings queue it
    assert prepared.batch_name == ""

    submit = htcondor2.Submit(SEED_SUBMIT)
    for key, value in prepared.overrides.items():
        submit[key] = value
    assert submit.expand("executable") == f"{tmp_path}/do_catalogue.bash"
    assert [row["arguments"] for row in submit.itemdata()] == [
        "1056215p",
        "1056216p",
        "1056217p",
        "1056218p",
    ]


def test_relative_and_absolute_initialdir(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    relative = prepare_submit(
        "executable = /bin/echo\ninitialdir = run\nbatch_name = b1\nqueue 3\n", tmp_path
    )
    assert relative.overrides == {"initialdir": f"{tmp_path}/run"}
    assert (relative.num_jobs, relative.batch_name) == (3, "b1")
    absolute = prepare_submit(f"executable = /bin/echo\ninitialdir = {tmp_path}\nqueue\n", tmp_path)
    assert absolute.overrides == {}


def test_matching_is_resolved_in_the_submit_directory(tmp_path: Path) -> None:
    for name in ("1056216p.fits.fz", "1056215p.fits.fz", "notes.txt"):
        (tmp_path / name).write_text("x")
    prepared = prepare_submit(
        "executable = /bin/echo\narguments = $(image)\nqueue 2 image matching *.fz\n", tmp_path
    )
    assert prepared.itemdata == (
        {"image": "1056215p.fits.fz"},
        {"image": "1056216p.fits.fz"},
    )
    assert (prepared.count, prepared.num_jobs) == (2, 4)


def test_an_item_file_is_read_from_the_submit_directory(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("1056215p\n1056216p\n")
    prepared = prepare_submit(
        "executable = /bin/echo\narguments = $(id)\nqueue id from ids.txt\n", tmp_path
    )
    assert prepared.queue == f"id from {tmp_path}/ids.txt"
    assert prepared.num_jobs == 2


def test_given_item_data_replaces_the_queue_items(tmp_path: Path) -> None:
    prepared = prepare_submit(
        "executable = /bin/echo\narguments = $(x)\nqueue 3 x from (\n  a\n)\n",
        tmp_path,
        [{"x": "p"}, {"x": "q"}],
    )
    assert prepared.itemdata == ({"x": "p"}, {"x": "q"})
    assert (prepared.count, prepared.num_jobs) == (3, 6)


@pytest.mark.parametrize(
    ("description", "line"),
    [
        ("executable = /bin/echo\nthis line is not a command\nqueue\n", "Line 2"),
        ("executable = /bin/echo\narguments = $(nope)\nqueue\n", "Line 2"),
        ("executable = /bin/echo\nqueue arguments from (\n)\n", "Line 2"),
        ("executable = missing.bash\nqueue\n", "Line 1"),
    ],
)
def test_bad_descriptions_are_invalid_input_with_a_line(
    tmp_path: Path, description: str, line: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        prepare_submit(description, tmp_path)
    assert raised.value.message.startswith(line)


# --------------------------------------------------------------------------- user logs


def write_log(path: Path, *events: str) -> None:
    for text in events:
        eventlog.append_event(path, text)


def test_user_log_events_become_job_events(tmp_path: Path) -> None:
    log = tmp_path / "do_catalogue-1056218p.log"
    write_log(
        log,
        eventlog.submit_event(42, 3, T0),
        eventlog.execute_event(42, 3, T0 + 5, "slot1@vm"),
        eventlog.held_event(42, 3, T0 + 6, "checking the input first", 1, 0),
        eventlog.released_event(42, 3, T0 + 7, "via condor_release"),
        eventlog.terminated_event(
            42,
            3,
            T0 + 9,
            exit_code=3,
            signal=None,
            user_cpu=0,
            sys_cpu=0,
            total_user_cpu=0,
            total_sys_cpu=0,
        ),
        eventlog.aborted_event(42, 4, T0 + 10, "not needed"),
        eventlog.evicted_event(42, 5, T0 + 11, 0, 0),
    )
    reader = LogReader()
    records, moved = reader.read([LogPosition(str(log), 0)], limit=100)
    events = [event_from_record(record) for record in records]
    assert [(event.job_id, event.kind) for event in events] == [
        (JobId(42, 3), JobEventKind.SUBMIT),
        (JobId(42, 3), JobEventKind.EXECUTE),
        (JobId(42, 3), JobEventKind.HELD),
        (JobId(42, 3), JobEventKind.RELEASED),
        (JobId(42, 3), JobEventKind.TERMINATED),
        (JobId(42, 4), JobEventKind.ABORTED),
        (JobId(42, 5), JobEventKind.EVICTED),
    ]
    assert events[0].time == datetime.fromtimestamp(T0, UTC)
    assert all(event.time.tzinfo is not None for event in events)
    assert "slot1@vm" in events[1].text
    assert events[2].text == "checking the input first"
    assert events[3].text == "via condor_release"
    assert events[4].exit_code == 3
    assert events[5].text == "not needed"
    assert moved == [LogPosition(str(log), log.stat().st_size)]
    reader.close()


def test_reading_resumes_at_the_offset_even_in_a_new_process(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    write_log(log, eventlog.submit_event(7, 0, T0))
    first, [position] = LogReader().read([LogPosition(str(log), 0)], limit=100)
    assert [record["type"] for record in first] == ["SUBMIT"]

    # Nothing new: nothing read, the position stays.
    again, [same] = LogReader().read([position], limit=100)
    assert again == [] and same == position

    # Half an event is not an event yet.
    with log.open("a") as handle:
        handle.write(eventlog.execute_event(7, 0, T0 + 1, "slot1@vm")[:30])
    partial, [still] = LogReader().read([position], limit=100)
    assert partial == [] and still.offset == position.offset
    with log.open("a") as handle:
        handle.write(eventlog.execute_event(7, 0, T0 + 1, "slot1@vm")[30:])
    # A fresh reader (as in a restarted worker) opens the file at the saved offset.
    rest, [end] = LogReader().read([still], limit=100)
    assert [record["type"] for record in rest] == ["EXECUTE"]
    assert end.offset == log.stat().st_size


def test_one_reader_keeps_its_logs_open_between_calls(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    write_log(log, eventlog.submit_event(7, 0, T0))
    reader = LogReader(capacity=1)
    _, [position] = reader.read([LogPosition(str(log), 0)], limit=10)
    write_log(log, eventlog.execute_event(7, 0, T0 + 1, "slot1@vm"))
    got, [position] = reader.read([position], limit=10)
    assert [record["type"] for record in got] == ["EXECUTE"]
    # Truncated (a new run reusing the name): read again from the start.
    log.write_text("")
    write_log(log, eventlog.submit_event(8, 0, T0 + 5))
    got, [position] = reader.read([position], limit=10)
    assert [(record["cluster"], record["type"]) for record in got] == [(8, "SUBMIT")]
    reader.close()


def test_limit_floor_and_since(tmp_path: Path) -> None:
    shared = tmp_path / "shared.log"
    write_log(
        shared,
        eventlog.submit_event(5, 0, T0 - 100),  # an old cluster
        eventlog.submit_event(9, 0, T0 - 100),  # a new cluster number, but before the cursor
        eventlog.submit_event(9, 1, T0 + 1),
        eventlog.submit_event(9, 2, T0 + 2),
        eventlog.submit_event(9, 3, T0 + 3),
    )
    records, [position] = LogReader().read(
        [LogPosition(str(shared), 0, floor=5, since=T0)], limit=2
    )
    assert [(r["cluster"], r["proc"]) for r in records] == [(9, 1), (9, 2)]
    more, [position] = LogReader().read([position], limit=10)
    assert [(r["cluster"], r["proc"]) for r in more] == [(9, 3)]
    assert position.floor == 5 and position.since == T0


def test_events_of_several_logs_come_in_time_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write_log(a, eventlog.submit_event(1, 0, T0), eventlog.execute_event(1, 0, T0 + 4, "s1"))
    write_log(b, eventlog.submit_event(2, 0, T0 + 1), eventlog.execute_event(2, 0, T0 + 2, "s2"))
    records, _ = LogReader().read([LogPosition(str(a), 0), LogPosition(str(b), 0)], limit=10)
    assert [(r["cluster"], r["type"]) for r in records] == [
        (1, "SUBMIT"),
        (2, "SUBMIT"),
        (2, "EXECUTE"),
        (1, "EXECUTE"),
    ]
    missing, [pos] = LogReader().read([LogPosition(str(tmp_path / "nope.log"), 0)], limit=10)
    assert missing == [] and pos.offset == 0


def test_new_logs_join_the_cursor_from_their_start_for_new_clusters_only() -> None:
    known = [LogPosition("/jobs/a.log", 120, -1, 0.0)]
    merged = track_new_logs(
        known, {"/jobs/a.log": 11, "/jobs/b.log": 12}, last_cluster=10, started_at=T0
    )
    assert merged == [known[0], LogPosition("/jobs/b.log", 0, 10, float(T0))]


def test_the_cursor_round_trips_through_the_worker_form() -> None:
    positions = [LogPosition("/jobs/a.log", 120, -1, 0.0), LogPosition("/j/b.log", 0, 10, 5.0)]
    cursor = EventCursor.from_reply(cursor_reply(positions, 12, T0 + 1.5, T0), "astro")
    assert cursor.logs == tuple(positions)
    assert (cursor.last_cluster, cursor.checked_at, cursor.started_at) == (12, T0 + 1.5, T0)
    assert EventCursor.from_reply(cursor.as_request(), "astro") == cursor
    json.dumps(cursor.as_request())


# --------------------------------------------------------------------------- the worker process


def client_config(path: Path, collector: str) -> Path:
    path.write_text(
        f"COLLECTOR_HOST = {collector}\nSEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS\n"
        f"SEC_TOKEN_DIRECTORY = {path.parent / 'tokens.d'}\n"
    )
    return path


@pytest.fixture
async def silent_collector() -> AsyncIterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never says anything."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_pool_that_is_down_is_unavailable(tmp_path: Path) -> None:
    config = client_config(tmp_path / "condor_config", f"127.0.0.1:{closed_port()}")
    client = CondorQueue(config, call_timeout=60)
    try:
        with pytest.raises(Unavailable) as raised:
            await client.list_jobs()
        assert raised.value.message and "\n" not in raised.value.message
        assert raised.value.transient
        # The worker survives a failed call and answers the next one.
        pid = client.worker_pid
        assert pid is not None
        with pytest.raises(Unavailable):
            await client.history(limit=5)
        assert client.worker_pid == pid
    finally:
        await client.aclose()
    assert client.worker_pid is None


async def test_a_silent_pool_times_out_without_freezing_the_event_loop(
    tmp_path: Path, silent_collector: int
) -> None:
    config = client_config(tmp_path / "condor_config", f"127.0.0.1:{silent_collector}")
    client = CondorQueue(config, call_timeout=3)
    try:
        call = asyncio.create_task(client.list_batches(all_users=True))
        ticks = 0
        while not call.done() and ticks < 3:
            await asyncio.sleep(0.05)  # the loop keeps running while the worker waits
            ticks += 1
        assert ticks == 3 and not call.done()
        with pytest.raises(Unavailable) as raised:
            await call
        assert "did not answer" in raised.value.message
        first = client.worker_pid
        assert first is None  # the stuck worker was killed
        with pytest.raises(Unavailable):
            await client.list_jobs(all_users=True)  # a new worker, the same silence
    finally:
        await client.aclose()


async def test_closing_aborts_a_call_that_waits(tmp_path: Path, silent_collector: int) -> None:
    config = client_config(tmp_path / "condor_config", f"127.0.0.1:{silent_collector}")
    client = CondorQueue(config, call_timeout=600)
    call = asyncio.create_task(client.list_jobs(all_users=True))
    while client.worker_pid is None and not call.done():
        await asyncio.sleep(0.05)
    await client.aclose()
    with pytest.raises(Unavailable) as raised:
        await call
    assert "did not answer" not in raised.value.message  # ended by aclose, not the timeout
    assert client.worker_pid is None


async def test_bad_submit_files_fail_before_any_schedd_is_needed(tmp_path: Path) -> None:
    config = client_config(tmp_path / "condor_config", f"127.0.0.1:{closed_port()}")
    async with CondorQueue(config, call_timeout=60) as client:
        with pytest.raises(InvalidInput) as raised:
            await client.submit(
                "executable = /bin/echo\nqueue arguments from (\n)\n", submit_dir=tmp_path
            )
        assert raised.value.message.startswith("Line 2")
        with pytest.raises(InvalidInput):
            await client.submit("executable = /bin/echo\nqueue\n", submit_dir=tmp_path / "no")
        with pytest.raises(InvalidInput):
            await client.events_since("not a cursor")
        with pytest.raises(InvalidInput):
            await client.hold(["1.0"])  # type: ignore[list-item]
        assert await client.release([]) == 0


async def test_a_closed_client_refuses_calls() -> None:
    client = CondorQueue(config_file="/dev/null")
    await client.aclose()
    await client.aclose()
    with pytest.raises(Unavailable):
        await client.list_jobs()


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CondorQueue(call_timeout=0)


def test_the_worker_speaks_one_json_line_per_request(tmp_path: Path) -> None:
    config = client_config(tmp_path / "condor_config", f"127.0.0.1:{closed_port()}")
    (tmp_path / "x.bash").write_text("#!/bin/bash\n")
    requests = [
        {
            "op": "submit",
            "args": {
                "description": "executable = x.bash\nqueue nope nope\n",
                "submit_dir": str(tmp_path),
            },
        },
        {"op": "query", "args": {"constraint": "true", "projection": ["ClusterId"]}},
        {"op": "no_such_op", "args": {}},
    ]
    output = subprocess.run(
        [sys.executable, "-m", "canfar_tui.clients.queue.condor.client"],
        input="".join(json.dumps(request) + "\n" for request in requests),
        capture_output=True,
        text=True,
        env={
            "CONDOR_CONFIG": str(config),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        timeout=120,
        check=True,
    ).stdout
    replies = [json.loads(line) for line in output.splitlines()]
    assert "ready" in replies[0]
    assert replies[1]["error"]["kind"] == "InvalidInput"
    assert replies[2]["error"]["kind"] == "HTCondorException"
    assert replies[3]["error"]["kind"] == "AttributeError"
    assert len(replies) == 4
