"""Sandbox queue specifics: submit expansion, the executor's processes, logs and persistence.

The contract suite (tests/contract/test_queue_contract.py) covers what every queue backend
does; these tests cover what only the local executor does: slots, scratch directories, the
HTCondor environment, file transfer, hold reasons for jobs that cannot start, user logs read
back by ``htcondor2.JobEventLog``, and that stopping, detaching from or killing the executor
loses no job and leaves no process behind. Waiting is always polling with a generous timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from canfar_tui.clients.base import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    QueueClient,
    SupportsEditJob,
    SupportsHistory,
    classad_string,
    editable_job_attributes,
)
from canfar_tui.clients.queue.edit_language import (
    join_v2_arguments,
    join_v2_environment,
    parse_job_edit,
    split_v1_arguments,
    split_v2_arguments,
    split_v2_environment,
)
from canfar_tui.clients.queue.sandbox.queue import SEEDED_OWNERS, SandboxQueue
from canfar_tui.clients.queue.sandbox.store import EVENT_PAGE
from canfar_tui.clients.queue.submit_language import expand_submit, parse_arguments
from canfar_tui.models import Job, JobEvent, JobEventKind, JobId, JobStatus

T = TypeVar("T")

TIMEOUT = 30.0
OWNER = "tester"
FINISHED = (JobStatus.COMPLETED, JobStatus.REMOVED)


# --------------------------------------------------------------------------- helpers


async def wait_for(
    fetch: Callable[[], Awaitable[T]],
    predicate: Callable[[T], bool],
    what: str,
    timeout: float = TIMEOUT,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.02)


async def find_job(queue: SandboxQueue, job_id: JobId) -> Job | None:
    for job in await queue.list_jobs(all_users=True):
        if job.id == job_id:
            return job
    for job in await queue.history(limit=10_000, all_users=True):
        if job.id == job_id:
            return job
    return None


async def wait_status(
    queue: SandboxQueue, ids: Iterable[JobId], allowed: Iterable[JobStatus], what: str
) -> dict[JobId, Job]:
    ids, allowed = list(ids), set(allowed)

    async def fetch() -> dict[JobId, Job | None]:
        return {job_id: await find_job(queue, job_id) for job_id in ids}

    found = await wait_for(
        fetch, lambda jobs: all(j is not None and j.status in allowed for j in jobs.values()), what
    )
    return {job_id: job for job_id, job in found.items() if job is not None}


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


async def wait_gone(pid: int, what: str) -> None:
    async def check() -> bool:
        return pid_gone(pid)

    await wait_for(check, bool, what)


async def read_pid(path: Path) -> int:
    async def fetch() -> str:
        return path.read_text().strip() if path.exists() else ""

    text = await wait_for(fetch, lambda text: text.isdigit(), f"the pid in {path}")
    return int(text)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip("\n"))
    path.chmod(0o755)
    return path


def gated(job_dir: Path, gate: Path, body: str = "") -> Path:
    """A job that writes its pid to pid-<arg>, waits for ``gate``, then runs ``body``."""
    return script(
        job_dir / "gated.sh",
        f"""
        echo $$ > "{job_dir}/pid-$1"
        while [ ! -e "{gate}" ]; do sleep 0.02; done
        {textwrap.dedent(body).strip()}
        echo "done $1"
        """,
    )


def gated_submit(count: int = 1, extra: str = "") -> str:
    return textwrap.dedent(
        """\
        executable = gated.sh
        arguments = $(Process)
        output = out-$(Process).txt
        error = err-$(Process).txt
        log = job.log
        {extra}
        queue {count}
        """
    ).format(count=count, extra=extra)


def log_events(path: Path) -> list[Any]:
    htcondor2 = pytest.importorskip("htcondor2")
    return list(htcondor2.JobEventLog(str(path)).events(stop_after=0))


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "job"
    directory.mkdir()
    return directory


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "queue"


@pytest.fixture
async def make_queue(state_dir: Path) -> AsyncIterator[Callable[..., SandboxQueue]]:
    made: list[SandboxQueue] = []

    def factory(**kwargs: Any) -> SandboxQueue:
        kwargs.setdefault("owner", OWNER)
        kwargs.setdefault("slots", 2)
        kwargs.setdefault("kill_grace", 1.0)
        kwargs.setdefault("poll_interval", 0.02)
        queue = SandboxQueue(kwargs.pop("state", state_dir), **kwargs)
        made.append(queue)
        return queue

    try:
        yield factory
    finally:
        for queue in reversed(made):
            queue.keep_running = False
            await queue.aclose()
        await sweep(state_dir)


async def sweep(state_dir: Path) -> None:
    """Stop whatever a failed test left running: an executor adopts it, then evicts it."""
    if not (state_dir / "queue.sqlite").exists():
        return
    sweeper = SandboxQueue(state_dir, owner=OWNER, slots=1, kill_grace=0.5)
    deadline = time.monotonic() + TIMEOUT
    while not sweeper.is_executor and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await sweeper.aclose()


@pytest.fixture
def queue(make_queue: Callable[..., SandboxQueue]) -> SandboxQueue:
    return make_queue()


# --------------------------------------------------------------------------- expansion


def test_expands_cluster_process_and_item_variables(job_dir: Path) -> None:
    text = textwrap.dedent(
        """\
        executable = /bin/echo
        arguments = $(Cluster).$(Process) $(ClusterId).$(ProcId) $(Step) $(ItemIndex)
        output = out-$(Cluster)-$(Process).txt
        error = err-$(ClusterId)-$(ProcId).txt
        log = log-$(Cluster).log
        queue 3
        """
    )
    submission = expand_submit(text, cluster=42, submit_dir=job_dir)
    assert [job.argv for job in submission.jobs] == [
        ("42.0", "42.0", "0", "0"),
        ("42.1", "42.1", "1", "0"),
        ("42.2", "42.2", "2", "0"),
    ]
    assert [Path(job.output).name for job in submission.jobs] == [
        "out-42-0.txt",
        "out-42-1.txt",
        "out-42-2.txt",
    ]
    assert Path(submission.jobs[2].error).name == "err-42-2.txt"
    assert {job.log for job in submission.jobs} == {str(job_dir / "log-42.log")}
    assert all(job.executable == "/bin/echo" for job in submission.jobs)


def test_expands_the_seed_submit_file(job_dir: Path) -> None:
    script(job_dir / "do_catalogue.bash", "echo $1\n")
    text = textwrap.dedent(
        """\
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
    )
    jobs = expand_submit(text, cluster=7, submit_dir=job_dir).jobs
    ids = ["1056215p", "1056216p", "1056217p", "1056218p"]
    assert [job.arguments for job in jobs] == ids
    assert [job.output for job in jobs] == [str(job_dir / f"do_catalogue-{i}.out") for i in ids]
    assert [job.log for job in jobs] == [str(job_dir / f"do_catalogue-{i}.log") for i in ids]
    assert {job.executable for job in jobs} == {str(job_dir / "do_catalogue.bash")}
    assert [job.item for job in jobs] == [{"arguments": i} for i in ids]


@pytest.mark.parametrize(
    ("queue_line", "expected"),
    [
        ("queue x in (a b c)", ["a", "b", "c"]),
        ("queue x in [1:] (a, b, c)", ["b", "c"]),
        ("queue 2 x in (a b)", ["a", "a", "b", "b"]),
        ("queue x from (\n  a\n  b\n)", ["a", "b"]),
        ("queue x from [::2] (\n  a\n  b\n  c\n)", ["a", "c"]),
        ("queue x from items.txt", ["one", "two"]),
        ("queue x matching *.fz", ["a.fz", "b.fz"]),
        ("queue x matching files (*.fz *.cat)", ["a.fz", "b.fz", "c.cat"]),
        ("queue x matching dirs d*", ["data"]),
        ("N = 2\nqueue $(N) * 2", ["", "", "", ""]),
    ],
)
def test_queue_statement_forms(job_dir: Path, queue_line: str, expected: list[str]) -> None:
    for name in ("a.fz", "b.fz", "c.cat"):
        (job_dir / name).write_text(name)
    (job_dir / "data").mkdir()
    (job_dir / "items.txt").write_text("one\ntwo\n")
    variable = "$(x)" if " x " in queue_line else ""
    text = f"executable = /bin/echo\narguments = [{variable}]\n{queue_line}\n"
    jobs = expand_submit(text, cluster=1, submit_dir=job_dir).jobs
    assert [job.arguments for job in jobs] == [f"[{item}]" for item in expected]
    assert [job.proc for job in jobs] == list(range(len(expected)))


def test_queue_without_variable_name_uses_item(job_dir: Path) -> None:
    text = "executable = /bin/echo\narguments = $(Item) $(ITEM)\nqueue in (p q)\n"
    jobs = expand_submit(text, cluster=1, submit_dir=job_dir).jobs
    assert [job.argv for job in jobs] == [("p", "p"), ("q", "q")]


def test_several_variables_and_case_insensitive_macros(job_dir: Path) -> None:
    text = textwrap.dedent(
        """\
        Executable = /bin/echo
        Arguments = $(FILE) $(level) $(PROCESS)
        queue file, Level from (
          a.fits, 1
          b.fits  2
        )
        """
    )
    jobs = expand_submit(text, cluster=1, submit_dir=job_dir).jobs
    assert [job.argv for job in jobs] == [("a.fits", "1", "0"), ("b.fits", "2", "1")]


def test_itemdata_replaces_the_queue_items(job_dir: Path) -> None:
    text = "executable = /bin/echo\narguments = $(arguments)\nqueue arguments from (\n  x\n)\n"
    jobs = expand_submit(
        text,
        cluster=3,
        submit_dir=job_dir,
        itemdata=[{"arguments": "1056215p"}, {"arguments": "1056216p"}],
    ).jobs
    assert [job.arguments for job in jobs] == ["1056215p", "1056216p"]


def test_paths_resolve_like_condor_submit(job_dir: Path) -> None:
    script(job_dir / "run.sh", "true\n")
    for proc in range(2):
        (job_dir / f"run_{proc}").mkdir()
    text = textwrap.dedent(
        """\
        executable = run.sh
        initialdir = run_$(Process)
        output = out.txt
        error = /tmp/abs.err
        log = ../all.log
        input = in.txt
        transfer_input_files = data.fits, sub/, https://example.org/x.fits
        queue 2
        """
    )
    jobs = expand_submit(text, cluster=1, submit_dir=job_dir).jobs
    assert [job.iwd for job in jobs] == [str(job_dir / "run_0"), str(job_dir / "run_1")]
    assert jobs[1].executable == str(job_dir / "run.sh")  # relative to the submit dir
    assert jobs[1].output == str(job_dir / "run_1" / "out.txt")
    assert jobs[1].error == "/tmp/abs.err"
    assert Path(jobs[1].log).resolve() == (job_dir / "all.log").resolve()
    assert jobs[1].input == str(job_dir / "run_1" / "in.txt")
    assert jobs[1].transfer_input == (
        str(job_dir / "run_1" / "data.fits"),
        str(job_dir / "run_1" / "sub") + "/",
        "https://example.org/x.fits",
    )


def test_requests_environment_and_custom_attributes(job_dir: Path) -> None:
    text = textwrap.dedent(
        """\
        executable = /bin/echo
        request_cpus = 2
        request_memory = 7.5 GB
        request_disk = 30G
        environment = "OBS=$(Process) GREETING='hello world'"
        getenv = true
        batch_name = catalogue
        +VMImage = "catalogue-software-2023-08-21"
        +VMInstanceType = "c2-7.5gb-30"
        MY.Priority = 5
        +Ratio = 0.5
        +Flag = true
        +Expr = RequestCpus * 2
        hold = true
        queue
        """
    )
    [job] = expand_submit(text, cluster=1, submit_dir=job_dir).jobs
    assert (job.request_cpus, job.request_memory_mb, job.request_disk_kb) == (2, 7680, 31457280)
    assert job.environment == (("OBS", "0"), ("GREETING", "hello world"))
    assert job.getenv == "true"
    assert job.batch_name == "catalogue"
    assert job.on_hold
    assert job.custom == {
        "VMImage": "catalogue-software-2023-08-21",
        "VMInstanceType": "c2-7.5gb-30",
        "Priority": 5,
        "Ratio": 0.5,
        "Flag": True,
        "Expr": "RequestCpus * 2",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a b  c", ("a", "b", "c")),
        ("\"a 'b c' d\"", ("a", "b c", "d")),
        ('"it\'\'s ""quoted"""', ("its", '"quoted"')),
        ("\"'it''s' x\"", ("it's", "x")),
        ("", ()),
    ],
)
def test_arguments_are_split_like_htcondor(value: str, expected: tuple[str, ...]) -> None:
    assert parse_arguments(value) == expected


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("executable = /bin/echo\nthis is not valid\nqueue\n", "Line 2: expected"),
        ("executable : /bin/echo\nqueue\n", "Line 1: expected"),
        ("executable = /bin/echo\nqueue x from (\n  a\n", "Line 2: "),
        ("executable = /bin/echo\nqueue x from (\n)\n", "Line 2: the 'queue … from' item"),
        ("executable = /bin/echo\n\narguments = $(nope)\nqueue\n", "Line 3: $(nope) is not"),
        ("executable = /bin/echo\nqueue blah blah\n", "Line 2: the queue count"),
        ("executable = /bin/echo\nqueue 0\n", "Line 2: 'queue 0'"),
        ("executable = /bin/echo\nqueue\narguments = x\nqueue\n", "Line 3: "),
        ("executable = /bin/echo\nqueue x matching *.nothing\n", "Line 2: no file"),
        ("executable = /bin/echo\nqueue x from missing.txt\n", "Line 2: cannot read"),
        ("executable = /bin/echo\nqueue x from ls |\n", "Line 2: item data from a command"),
        ("arguments = 1\nqueue\n", "no 'executable'"),
        ("\n\nexecutable = nope.sh\nqueue\n", "Line 3: the executable"),
        ("universe = docker\nexecutable = /bin/echo\nqueue\n", "Line 1: universe 'docker'"),
        ("executable = /bin/echo\noutput = no/such/dir/o.txt\nqueue\n", "Line 2: cannot write"),
        ("executable = /bin/echo\nrequest_memory = lots\nqueue\n", "Line 2: request_memory"),
        ("executable = /bin/echo\n+Attr = (( bad\nqueue\n", "Line 2: +Attr"),
        ('executable = /bin/echo\narguments = "a \'b"\nqueue\n', "Line 2: bad arguments"),
        ("executable = /bin/echo\ninitialdir = nowhere\nqueue\n", "Line 2: initialdir"),
    ],
)
def test_malformed_descriptions_name_the_line(
    job_dir: Path, description: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        expand_submit(description, cluster=1, submit_dir=job_dir)
    assert raised.value.message.startswith(message) or message in raised.value.message, (
        raised.value.message
    )
    assert "\n" not in raised.value.message


def test_importing_the_client_loads_neither_htcondor_nor_textual() -> None:
    code = (
        "import json, sys, canfar_tui.clients.queue.sandbox.queue;"
        " print(json.dumps(sorted(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(output))
    assert not {name for name in loaded if name.split(".")[0] in ("htcondor2", "htcondor")}
    assert not {name for name in loaded if name.split(".")[0] == "textual"}


# --------------------------------------------------------------------------- the client


async def test_is_a_queue_client_and_keeps_state_private(
    queue: SandboxQueue, state_dir: Path, job_dir: Path
) -> None:
    assert isinstance(queue, QueueClient)
    assert isinstance(queue, SupportsHistory)
    assert queue.backend_label == "SANDBOX"
    script(job_dir / "ok.sh", "echo ok\n")
    result = await queue.submit("executable = ok.sh\nqueue\n", submit_dir=job_dir)
    await wait_status(queue, [JobId(result.cluster, 0)], [JobStatus.COMPLETED], "the job")
    assert stat.S_IMODE((state_dir / "queue.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "scratch").stat().st_mode) == 0o700
    assert queue.is_executor
    # The scratch directory of a finished job is gone.
    assert list((state_dir / "scratch").iterdir()) == []


async def test_timestamps_come_from_the_clock(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    queue = make_queue(clock=lambda: 1_700_000_000.0)
    script(job_dir / "ok.sh", "true\n")
    result = await queue.submit("executable = ok.sh\nqueue\n", submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    done = await wait_status(queue, [job_id], [JobStatus.COMPLETED], "the job")
    submitted = done[job_id].submitted
    assert submitted is not None
    assert submitted.timestamp() == 1_700_000_000.0
    ad = await queue.job_ad(job_id)
    assert ad["QDate"] == ad["CompletionDate"] == 1_700_000_000


async def test_slots_limit_how_many_jobs_run(queue: SandboxQueue, job_dir: Path) -> None:
    gate = job_dir / "gate"
    gated(
        job_dir,
        gate,
        body=f"""
        echo "$(date +%s%N) $1 start" >> "{job_dir}/times"
        sleep 0.1
        echo "$(date +%s%N) $1 end" >> "{job_dir}/times"
        """,
    )
    result = await queue.submit(gated_submit(count=3), submit_dir=job_dir)
    ids = [JobId(result.cluster, proc) for proc in range(3)]

    async def counts() -> tuple[int, int]:
        jobs = [job for job in await queue.list_jobs() if job.id in ids]
        running = sum(job.status == JobStatus.RUNNING for job in jobs)
        return running, sum(job.status == JobStatus.IDLE for job in jobs)

    assert await wait_for(counts, lambda c: c == (2, 1), "two running, one idle") == (2, 1)
    for _ in range(10):  # and it stays that way while the gate is closed
        assert await counts() == (2, 1)
        await asyncio.sleep(0.02)
    assert sorted(p.name for p in job_dir.glob("pid-*")) == ["pid-0", "pid-1"]

    gate.touch()
    await wait_status(queue, ids, [JobStatus.COMPLETED], "all three jobs")
    events = []
    for line in (job_dir / "times").read_text().splitlines():
        stamp, _, what = line.split()
        events.append((int(stamp), 1 if what == "start" else -1))
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    assert peak <= 2


async def test_job_runs_in_scratch_with_condor_environment(
    queue: SandboxQueue, job_dir: Path, state_dir: Path
) -> None:
    (job_dir / "data").mkdir()
    (job_dir / "data" / "image.fits").write_text("SIMPLE = T")
    (job_dir / "conf").mkdir()
    (job_dir / "conf" / "default.sex").write_text("DETECT_THRESH 1.5")
    (job_dir / "cadcproxy.pem").write_text("-----BEGIN CERTIFICATE-----")
    script(
        job_dir / "env.sh",
        """
        echo "cwd=$PWD"
        for name in _CONDOR_SCRATCH_DIR _CONDOR_SLOT _CONDOR_JOB_AD TMPDIR OMP_NUM_THREADS \\
                    BATCH_SYSTEM OBS X509_USER_PROXY; do
          echo "$name=${!name}"
        done
        ls -1
        grep -E '^(ClusterId|Owner|VMImage) =' "$_CONDOR_JOB_AD"
        cat image.fits > copy.fits
        echo "new" > catalogue.cat
        echo "changed" >> image.fits
        """,
    )
    text = textwrap.dedent(
        """\
        executable = env.sh
        output = env.out
        error = env.err
        transfer_input_files = data/image.fits, conf/
        environment = "OBS=1056215p"
        x509userproxy = cadcproxy.pem
        request_cpus = 2
        +VMImage = "catalogue-software-2023-08-21"
        queue
        """
    )
    result = await queue.submit(text, submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    done = await wait_status(queue, [job_id], [JobStatus.COMPLETED], "the env job")
    assert done[job_id].exit_code == 0
    values = dict(
        line.split("=", 1) for line in (job_dir / "env.out").read_text().splitlines() if "=" in line
    )
    scratch = Path(values["cwd"])
    assert scratch.parent == state_dir / "scratch"
    assert values["_CONDOR_SCRATCH_DIR"] == str(scratch)
    assert values["TMPDIR"] == str(scratch)
    assert values["_CONDOR_SLOT"].startswith("slot")
    assert values["_CONDOR_JOB_AD"].startswith(str(scratch))
    assert values["OMP_NUM_THREADS"] == "2"
    assert values["BATCH_SYSTEM"] == "HTCondor"
    assert values["OBS"] == "1056215p"
    assert values["X509_USER_PROXY"] == str(scratch / "cadcproxy.pem")
    listing = (job_dir / "env.out").read_text()
    for name in ("env.sh", "image.fits", "default.sex", "cadcproxy.pem"):
        assert f"\n{name}\n" in listing
    assert f"ClusterId = {result.cluster}" in listing
    assert f'Owner = "{OWNER}"' in listing
    assert 'VMImage = "catalogue-software-2023-08-21"' in listing
    # New and changed top-level files come back to the submit dir; untouched inputs do not.
    assert (job_dir / "copy.fits").read_text() == "SIMPLE = T"
    assert (job_dir / "catalogue.cat").read_text() == "new\n"
    assert (job_dir / "image.fits").read_text() == "SIMPLE = Tchanged\n"
    assert not (job_dir / "default.sex").exists()
    assert (job_dir / "data" / "image.fits").read_text() == "SIMPLE = T"
    assert not scratch.exists()


async def test_transfer_output_files_lists_what_comes_back(
    queue: SandboxQueue, job_dir: Path
) -> None:
    script(job_dir / "make.sh", "echo a > a.cat\necho b > b.cat\n")
    base = "executable = make.sh\ntransfer_output_files = {files}\nqueue\n"
    ok = await queue.submit(base.format(files="a.cat"), submit_dir=job_dir)
    await wait_status(queue, [JobId(ok.cluster, 0)], [JobStatus.COMPLETED], "the job")
    assert (job_dir / "a.cat").exists() and not (job_dir / "b.cat").exists()

    missing = await queue.submit(base.format(files="a.cat, nothing.cat"), submit_dir=job_dir)
    job_id = JobId(missing.cluster, 0)
    held = await wait_status(queue, [job_id], [JobStatus.HELD], "the job to be held")
    hold_reason = held[job_id].hold_reason
    assert hold_reason is not None
    assert "Transfer output files failure" in hold_reason
    assert (await queue.job_ad(job_id))["HoldReasonCode"] == 12


@pytest.mark.parametrize(
    ("setup", "extra", "reason", "code"),
    [
        ("noexec", "transfer_executable = false", "Permission denied", 6),
        ("noshebang", "", "Exec format error", 6),
        ("missing_input", "transfer_input_files = nothing.fits", "Transfer input files", 13),
        ("deleted", "", "Failed to transfer the executable", 13),
        ("url_input", "transfer_input_files = https://example.org/a.fits", "URL", 13),
        ("output_dir_gone", "output = out/o.txt", "as standard output", 7),
    ],
)
async def test_jobs_that_cannot_start_go_on_hold(
    queue: SandboxQueue, job_dir: Path, setup: str, extra: str, reason: str, code: int
) -> None:
    executable = job_dir / "job.sh"
    if setup == "noshebang":
        executable.write_text("echo no interpreter line\n")
        executable.chmod(0o644)
    else:
        script(executable, "echo hello\n")
    if setup == "noexec":
        executable.chmod(0o644)
    if setup == "output_dir_gone":
        (job_dir / "out").mkdir()
    text = f"executable = {executable}\n{extra}\nqueue\n"
    if setup in ("deleted", "output_dir_gone"):
        # Accepted at submit time, gone by the time the job starts.
        gate_text = f"executable = {executable}\n{extra}\nhold = true\nqueue\n"
        submitted = await queue.submit(gate_text, submit_dir=job_dir)
        if setup == "deleted":
            executable.unlink()
        else:
            (job_dir / "out").rmdir()
        await queue.release([JobId(submitted.cluster, 0)])
    else:
        submitted = await queue.submit(text, submit_dir=job_dir)
    job_id = JobId(submitted.cluster, 0)
    held = await wait_status(queue, [job_id], [JobStatus.HELD], "the job to go on hold")
    hold_reason = held[job_id].hold_reason
    assert hold_reason is not None and reason in hold_reason
    ad = await queue.job_ad(job_id)
    assert ad["HoldReasonCode"] == code
    assert ad["NumJobStarts"] == 1
    # The executor carries on: another job still runs.
    script(job_dir / "fine.sh", "true\n")
    fine = await queue.submit("executable = fine.sh\nqueue\n", submit_dir=job_dir)
    await wait_status(queue, [JobId(fine.cluster, 0)], [JobStatus.COMPLETED], "a good job")


async def test_hold_and_remove_kill_the_process(queue: SandboxQueue, job_dir: Path) -> None:
    gated(job_dir, job_dir / "never")
    result = await queue.submit(gated_submit(count=2), submit_dir=job_dir)
    ids = [JobId(result.cluster, proc) for proc in range(2)]
    await wait_status(queue, ids, [JobStatus.RUNNING], "both jobs to run")
    pids = [await read_pid(job_dir / f"pid-{proc}") for proc in range(2)]

    assert await queue.hold([ids[0]], "wrong calibration") == 1
    await wait_gone(pids[0], "the held job's process to stop")
    assert await queue.remove([ids[1]], "not needed") == 1
    await wait_gone(pids[1], "the removed job's process to stop")

    ad = await queue.job_ad(ids[0])
    assert ad["HoldReason"] == "wrong calibration"
    assert ad["HoldReasonCode"] == 1
    wall_clock = ad["RemoteWallClockTime"]
    assert isinstance(wall_clock, int | float) and wall_clock >= 0
    removed = await queue.job_ad(ids[1])
    assert removed["JobStatus"] == int(JobStatus.REMOVED)
    assert removed["RemoveReason"] == "not needed"

    assert await queue.release([ids[0]]) == 1
    await wait_status(queue, [ids[0]], [JobStatus.RUNNING], "the released job to run again")
    assert (await queue.job_ad(ids[0]))["NumJobStarts"] == 2
    assert (await queue.job_ad(ids[0]))["LastHoldReason"] == "wrong calibration"


async def test_a_job_ignoring_sigterm_is_killed_after_the_grace_period(
    queue: SandboxQueue, job_dir: Path
) -> None:
    script(job_dir / "stubborn.sh", f"trap '' TERM\necho $$ > \"{job_dir}/pid\"\nsleep 300\n")
    result = await queue.submit("executable = stubborn.sh\nqueue\n", submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    await wait_status(queue, [job_id], [JobStatus.RUNNING], "the job to run")
    pid = await read_pid(job_dir / "pid")
    assert await queue.remove([job_id]) == 1
    await wait_gone(pid, "the stubborn job (SIGKILL after kill_grace)")


async def test_job_killed_by_a_signal_completes_abnormally(
    queue: SandboxQueue, job_dir: Path
) -> None:
    script(job_dir / "crash.sh", "kill -9 $$\n")
    text = "executable = crash.sh\nlog = crash.log\nqueue\n"
    result = await queue.submit(text, submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    done = await wait_status(queue, [job_id], [JobStatus.COMPLETED], "the crashing job")
    assert done[job_id].exit_code is None
    ad = await queue.job_ad(job_id)
    assert ad["ExitBySignal"] is True and ad["ExitSignal"] == 9
    terminated = log_events(job_dir / "crash.log")[-1]
    assert terminated["TerminatedNormally"] is False
    assert terminated["TerminatedBySignal"] == 9


async def test_user_log_is_read_by_htcondor_through_a_whole_life(
    queue: SandboxQueue, job_dir: Path
) -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    types = htcondor2.JobEventType
    gate = job_dir / "gate"
    gated(job_dir, gate, body="exit 4")
    first = await queue.submit(gated_submit(count=1), submit_dir=job_dir)
    job_id = JobId(first.cluster, 0)
    await wait_status(queue, [job_id], [JobStatus.RUNNING], "the job to run")
    await queue.hold([job_id], "check the flat field")
    await queue.release([job_id])
    await wait_status(queue, [job_id], [JobStatus.RUNNING], "the job to run again")
    gate.touch()
    await wait_status(queue, [job_id], [JobStatus.COMPLETED], "the job to finish")

    # A second cluster in the same log: submitted on hold, then removed.
    second = await queue.submit(gated_submit(count=1, extra="hold = true"), submit_dir=job_dir)
    other = JobId(second.cluster, 0)
    await queue.remove([other], "changed my mind")
    await wait_status(queue, [other], [JobStatus.REMOVED], "the removal")

    events = log_events(job_dir / "job.log")
    mine = [(e.type, e) for e in events if (e.cluster, e.proc) == (job_id.cluster, 0)]
    assert [kind for kind, _ in mine] == [
        types.SUBMIT,
        types.EXECUTE,
        types.JOB_HELD,
        types.JOB_RELEASED,
        types.EXECUTE,
        types.JOB_TERMINATED,
    ]
    held = dict(mine[2][1].items())
    assert held["HoldReason"] == "check the flat field"
    assert held["HoldReasonCode"] == 1
    assert mine[-1][1]["ReturnValue"] == 4
    assert mine[-1][1]["TerminatedNormally"] is True
    assert mine[1][1]["SlotName"].endswith("@sandbox")
    theirs = [e for e in events if e.cluster == other.cluster]
    assert [e.type for e in theirs] == [types.SUBMIT, types.JOB_HELD, types.JOB_ABORTED]
    assert theirs[1]["HoldReasonCode"] == 15
    assert theirs[2]["Reason"] == "changed my mind"
    # Event times are the job's: submission first, termination last.
    assert mine[0][1].timestamp <= mine[-1][1].timestamp


async def test_other_users_jobs_are_seeded_and_protected(
    queue: SandboxQueue, job_dir: Path
) -> None:
    everyone = await queue.list_jobs(all_users=True)
    assert {job.owner for job in everyone} == set(SEEDED_OWNERS)
    assert await queue.list_jobs() == []
    seeded = {job.id: job.status for job in everyone}
    assert JobStatus.RUNNING in seeded.values() and JobStatus.HELD in seeded.values()
    batches = await queue.list_batches(all_users=True)
    assert {(b.owner, b.name) for b in batches} >= {("jdoe", "ngvs-tiles"), ("asmith", "ID: 102")}
    ngvs = next(b for b in batches if b.name == "ngvs-tiles")
    assert (ngvs.done, ngvs.running, ngvs.idle, ngvs.held, ngvs.total) == (3, 2, 3, 0, 8)
    held = next(job for job in everyone if job.status == JobStatus.HELD)
    assert held.hold_reason and "memory" in held.hold_reason
    assert held.vm_image and held.vm_flavor
    assert {job.owner for job in await queue.history(all_users=True)} == {"jdoe"}

    # Mine can be acted on, theirs cannot, and a mixed request changes nothing.
    gated(job_dir, job_dir / "gate")
    result = await queue.submit(gated_submit(extra="hold = true"), submit_dir=job_dir)
    mine = JobId(result.cluster, 0)
    with pytest.raises(AuthError):
        await queue.release([mine, held.id])
    assert (await queue.job_ad(mine))["JobStatus"] == int(JobStatus.HELD)
    with pytest.raises(NotFound):
        await queue.remove([mine, JobId(99999, 0)])
    assert (await queue.job_ad(mine))["JobStatus"] == int(JobStatus.HELD)
    assert await queue.remove([mine, mine]) == 1

    # Simulated jobs never run or change, however long the executor works.
    script(job_dir / "ok.sh", "true\n")
    ok = await queue.submit("executable = ok.sh\nqueue 3\n", submit_dir=job_dir)
    await wait_status(
        queue, [JobId(ok.cluster, p) for p in range(3)], [JobStatus.COMPLETED], "my jobs"
    )
    after = {job.id: job.status for job in await queue.list_jobs(all_users=True)}
    assert after == seeded


async def test_events_since_pages_and_rejects_foreign_cursors(
    queue: SandboxQueue, job_dir: Path
) -> None:
    _, cursor = await queue.events_since(None)
    with pytest.raises(InvalidInput):
        await queue.events_since("not a cursor")
    script(job_dir / "ok.sh", "true\n")
    count = EVENT_PAGE // 2 + 10  # two events each (submit and held) -> more than a page
    result = await queue.submit(
        f"executable = ok.sh\nhold = true\nqueue {count}\n", submit_dir=job_dir
    )
    pages: list[list[JobEvent]] = []
    while True:
        events, cursor = await queue.events_since(cursor)
        if not events:
            break
        pages.append(list(events))
    assert [len(page) for page in pages] == [EVENT_PAGE, 2 * count - EVENT_PAGE]
    everything = [event for page in pages for event in page]
    assert {event.job_id.cluster for event in everything} == {result.cluster}
    assert [e.kind for e in everything[:2]] == [JobEventKind.SUBMIT, JobEventKind.HELD]


async def test_history_is_newest_first_and_limited(queue: SandboxQueue, job_dir: Path) -> None:
    script(job_dir / "ok.sh", "true\n")
    ids = []
    for _ in range(3):
        result = await queue.submit("executable = ok.sh\nqueue\n", submit_dir=job_dir)
        ids.append(JobId(result.cluster, 0))
        await wait_status(queue, [ids[-1]], [JobStatus.COMPLETED], "the job")
    history = await queue.history(limit=2)
    assert [job.id for job in history] == [ids[2], ids[1]]
    assert await queue.history(limit=0) == []


async def test_submit_dir_must_exist(queue: SandboxQueue, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        await queue.submit("executable = /bin/true\nqueue\n", submit_dir=tmp_path / "nowhere")
    assert await queue.list_jobs() == []


# --------------------------------------------------------------------------- stop and restart


async def test_aclose_evicts_running_jobs_and_a_restart_runs_them_again(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    gate = job_dir / "gate"
    gated(job_dir, gate)
    first = make_queue()
    result = await first.submit(gated_submit(count=3), submit_dir=job_dir)
    ids = [JobId(result.cluster, proc) for proc in range(3)]
    await wait_for(
        first.list_jobs,
        lambda jobs: sum(job.status == JobStatus.RUNNING for job in jobs) == 2,
        "two running jobs",
    )
    pids = [await read_pid(job_dir / f"pid-{proc}") for proc in range(2)]
    await first.aclose()
    for pid in pids:
        assert pid_gone(pid)

    second = make_queue()
    await wait_for(second.list_jobs, lambda jobs: len(jobs) == 3, "the three jobs")
    gate.touch()
    done = await wait_status(second, ids, [JobStatus.COMPLETED], "all jobs after the restart")
    assert all(job.exit_code == 0 for job in done.values())
    starts = [(await second.job_ad(job_id))["NumJobStarts"] for job_id in ids]
    assert all(isinstance(start, int) for start in starts)
    assert sorted(cast("list[int]", starts)) == [1, 2, 2]
    kinds = [e.type.name for e in log_events(job_dir / "job.log") if e.proc == 0]
    assert kinds == ["SUBMIT", "EXECUTE", "JOB_EVICTED", "EXECUTE", "JOB_TERMINATED"]


async def test_keep_running_detaches_and_the_next_queue_adopts(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    gate = job_dir / "gate"
    gated(job_dir, gate, body='echo "adopted $1"; exit 5')
    first = make_queue(keep_running=True)
    result = await first.submit(gated_submit(), submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    await wait_status(first, [job_id], [JobStatus.RUNNING], "the job to run")
    pid = await read_pid(job_dir / "pid-0")
    await first.aclose()
    assert not pid_gone(pid)

    second = make_queue()
    gate.touch()
    done = await wait_status(second, [job_id], [JobStatus.COMPLETED], "the adopted job")
    assert done[job_id].exit_code == 5
    assert (await second.job_ad(job_id))["NumJobStarts"] == 1
    assert (job_dir / "out-0.txt").read_text() == "adopted 0\n"
    kinds = [e.type.name for e in log_events(job_dir / "job.log")]
    assert kinds == ["SUBMIT", "EXECUTE", "JOB_TERMINATED"]


async def test_a_killed_executor_loses_no_job(
    make_queue: Callable[..., SandboxQueue], job_dir: Path, state_dir: Path
) -> None:
    """SIGKILL the process running the executor: one job's process survives (adopted), the
    other's is lost too (it runs again); both complete."""
    gate = job_dir / "gate"
    gated(job_dir, gate)
    runner = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
        from canfar_tui.models import JobStatus

        async def main():
            queue = SandboxQueue(Path({str(state_dir)!r}), slots=2, owner={OWNER!r},
                                 poll_interval=0.02)
            await queue.submit(sys.stdin.read(), submit_dir=Path({str(job_dir)!r}))
            while sum(j.status == JobStatus.RUNNING for j in await queue.list_jobs()) < 2:
                await asyncio.sleep(0.02)
            print("running", flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", runner],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(gated_submit(count=2))
        process.stdin.close()
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), TIMEOUT)
        assert line.strip() == "running"
        survivor, lost = [await read_pid(job_dir / f"pid-{proc}") for proc in range(2)]
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        os.killpg(os.getpgid(lost), signal.SIGKILL)
        await wait_gone(lost, "the lost job's process")
        (job_dir / "pid-1").unlink()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    queue = make_queue()
    jobs = await wait_for(queue.list_jobs, lambda found: len(found) == 2, "both jobs")
    cluster = jobs[0].id.cluster
    ids = [JobId(cluster, 0), JobId(cluster, 1)]
    await wait_status(queue, ids, [JobStatus.RUNNING], "the adopted and the restarted job")
    assert not pid_gone(survivor)
    assert await read_pid(job_dir / "pid-1") != lost
    gate.touch()
    done = await wait_status(queue, ids, [JobStatus.COMPLETED], "both jobs")
    assert [done[job_id].exit_code for job_id in ids] == [0, 0]
    assert [(await queue.job_ad(job_id))["NumJobStarts"] for job_id in ids] == [1, 2]
    assert (job_dir / "out-0.txt").read_text() == "done 0\n"
    assert (job_dir / "out-1.txt").read_text() == "done 1\n"


async def test_no_process_outlives_aclose(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    script(
        job_dir / "spawner.sh",
        f"""
        sleep 300 &
        echo $! > "{job_dir}/bg-$1"
        echo $$ > "{job_dir}/pid-$1"
        trap '' TERM
        wait
        """,
    )
    queue = make_queue()
    text = "executable = spawner.sh\narguments = $(Process)\nqueue 2\n"
    await queue.submit(text, submit_dir=job_dir)
    pids = [await read_pid(job_dir / f"{kind}-{proc}") for kind in ("pid", "bg") for proc in (0, 1)]
    await queue.aclose()
    for pid in pids:
        await wait_gone(pid, f"process {pid}")


async def test_leftover_background_processes_are_killed_when_a_job_ends(
    queue: SandboxQueue, job_dir: Path
) -> None:
    script(job_dir / "leaky.sh", f'sleep 300 &\necho $! > "{job_dir}/bg"\n')
    result = await queue.submit("executable = leaky.sh\nqueue\n", submit_dir=job_dir)
    await wait_status(queue, [JobId(result.cluster, 0)], [JobStatus.COMPLETED], "the job")
    await wait_gone(await read_pid(job_dir / "bg"), "the leftover sleep")


async def test_two_clients_share_a_directory_and_hand_over(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    first = make_queue()
    second = make_queue()

    async def executors() -> list[bool]:
        return [first.is_executor, second.is_executor]

    roles = await wait_for(executors, lambda r: sorted(r) == [False, True], "one executor")
    executor, observer = (first, second) if roles[0] else (second, first)

    # The observer's hold stops a process the executor started.
    gated(job_dir, job_dir / "never")
    held = await observer.submit(gated_submit(), submit_dir=job_dir)
    held_id = JobId(held.cluster, 0)
    await wait_status(observer, [held_id], [JobStatus.RUNNING], "the gated job to run")
    pid = await read_pid(job_dir / "pid-0")
    assert await observer.hold([held_id], "from the other client") == 1
    await wait_gone(pid, "the held job's process")

    script(job_dir / "ok.sh", "echo $1\n")
    text = "executable = ok.sh\narguments = $(Process)\noutput = o$(Process)\nqueue 2\n"
    result = await observer.submit(text, submit_dir=job_dir)
    ids = [JobId(result.cluster, proc) for proc in range(2)]
    await wait_status(observer, ids, [JobStatus.COMPLETED], "jobs submitted by the observer")

    await executor.aclose()

    async def observer_role() -> bool:
        return observer.is_executor

    await wait_for(observer_role, bool, "the other client to take over")
    later = await observer.submit(text, submit_dir=job_dir)
    await wait_status(
        observer, [JobId(later.cluster, p) for p in range(2)], [JobStatus.COMPLETED], "more jobs"
    )


# --------------------------------------------------------------------------- edit (condor_qedit)


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("3 simple arguments", ("3", "simple", "arguments")),
        # The example of the condor_submit manual, as HTCondor stores it in Arguments.
        (
            """one "two" 'spacey ''quoted'' argument'""",
            ("one", '"two"', "spacey 'quoted' argument"),
        ),
        ("  ''  x''y  ", ("", "xy")),
        ("", ()),
    ],
)
def test_v2_arguments_split_and_join_back(text: str, argv: tuple[str, ...]) -> None:
    assert split_v2_arguments(text) == argv
    assert split_v2_arguments(join_v2_arguments(argv)) == argv


def test_v1_v2_and_environment_syntaxes() -> None:
    assert split_v1_arguments('a \\"b\\" c') == ("a", '"b"', "c")
    assert join_v2_arguments(["plain", "two words", "it's", ""]) == "plain 'two words' 'it''s' ''"
    with pytest.raises(ValueError, match="unterminated"):
        split_v2_arguments("'open")
    pairs = (("A", "1"), ("B", "x y"), ("C", ""), ("D", "it's"))
    assert join_v2_environment(pairs) == "A=1 B='x y' C= D='it''s'"
    assert split_v2_environment(join_v2_environment(pairs)) == pairs
    with pytest.raises(ValueError, match="NAME=value"):
        split_v2_environment("A=1 oops")
    with pytest.raises(ValueError, match="NAME=value"):
        split_v2_environment("1A=x")


def test_edit_names_are_checked_and_canonical() -> None:
    assert editable_job_attributes(
        {"arguments": "1", "+VMImage": "2", "MY.vminstancetype": "3", "requestmemory": "4"}
    ) == {"Arguments": "1", "VMImage": "2", "VMInstanceType": "3", "RequestMemory": "4"}
    with pytest.raises(InvalidInput, match="Iwd cannot be edited"):
        editable_job_attributes({"Arguments": "1", "Iwd": '"/tmp"'})
    with pytest.raises(InvalidInput, match="given twice"):
        editable_job_attributes({"Arguments": "1", "arguments": "2"})
    with pytest.raises(InvalidInput, match="needs a value"):
        editable_job_attributes({"RequestCpus": "  "})
    assert classad_string('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'


def test_edit_values_are_decoded() -> None:
    edit = parse_job_edit(
        {
            "Arguments": classad_string("a 'b c'"),
            "Environment": classad_string("X='1 2'"),
            "RequestMemory": "2 * 1024",
            "RequestDisk": "10485760",
            "Requirements": "TARGET.Memory >= 4096",
            "VMInstanceType": classad_string("c4-15gb-83"),
        }
    )
    assert edit.argv == ("a", "b c")
    assert edit.environment == (("X", "1 2"),)
    assert edit.values["RequestMemory"] == 2048
    assert edit.values["RequestDisk"] == 10485760
    assert edit.expressions["Requirements"] == "TARGET.Memory >= 4096"
    assert edit.values["VMInstanceType"] == "c4-15gb-83"
    for bad, message in [
        ({"VMImage": '""'}, "cannot be empty"),
        ({"RequestMemory": "true"}, "whole number of MB"),
        ({"RequestCpus": "1.5"}, "whole number of CPUs"),
        ({"Arguments": "42"}, "text in double quotes"),
        ({"Requirements": "(("}, "not a ClassAd expression"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            parse_job_edit(bad)


async def test_job_ad_shows_arguments_and_environment_in_htcondor_syntax(
    queue: SandboxQueue, job_dir: Path
) -> None:
    text = (
        "executable = /bin/true\ntransfer_executable = false\nhold = true\n"
        "environment = \"A=1 B='x y'\"\n"
    )
    new = await queue.submit(
        text + 'arguments = "one ""two"" \'x y\'"\nqueue\n', submit_dir=job_dir
    )
    old = await queue.submit(text + "arguments = a b\nqueue\n", submit_dir=job_dir)
    new_ad = await queue.job_ad(JobId(new.cluster, 0))
    old_ad = await queue.job_ad(JobId(old.cluster, 0))
    assert new_ad["Arguments"] == """one "two" 'x y'""" and "Args" not in new_ad
    assert old_ad["Args"] == "a b" and "Arguments" not in old_ad
    assert split_v2_environment(str(new_ad["Environment"])) == (("A", "1"), ("B", "x y"))


async def test_edit_an_idle_job_changes_how_it_runs(
    make_queue: Callable[..., SandboxQueue], job_dir: Path
) -> None:
    queue = make_queue(slots=1)
    assert isinstance(queue, SupportsEditJob)
    gate = job_dir / "gate"
    gated(job_dir, gate)
    first = await queue.submit(gated_submit(), submit_dir=job_dir)
    await wait_status(queue, [JobId(first.cluster, 0)], [JobStatus.RUNNING], "the first job")
    script(job_dir / "show.sh", 'echo "$# args: $*"; echo "cpus=$OMP_NUM_THREADS mode=$MODE"\n')
    waiting = await queue.submit(
        "executable = show.sh\narguments = old\noutput = show.out\nqueue\n", submit_dir=job_dir
    )
    job_id = JobId(waiting.cluster, 0)
    assert (await find_job(queue, job_id)) is not None
    assert (await queue.job_ad(job_id))["JobStatus"] == int(JobStatus.IDLE)

    await queue.edit_job(
        job_id,
        {
            "Arguments": classad_string("new 'and improved'"),
            "RequestCpus": "3",
            "Environment": classad_string("MODE=fast"),
            "Requirements": "TARGET.Memory >= 1024",
            "RequestDisk": "2048",
        },
    )
    ad = await queue.job_ad(job_id)
    assert ad["JobStatus"] == int(JobStatus.IDLE)
    assert ad["Arguments"] == "new 'and improved'"
    assert (ad["RequestCpus"], ad["RequestDisk"]) == (3, 2048)
    assert ad["Requirements"] == "TARGET.Memory >= 1024"

    gate.touch()
    await wait_status(queue, [job_id], [JobStatus.COMPLETED], "the edited job")
    assert (job_dir / "show.out").read_text().splitlines() == [
        "2 args: new and improved",
        "cpus=3 mode=fast",
    ]


async def test_edits_survive_a_restart_and_refusals_change_nothing(
    make_queue: Callable[..., SandboxQueue], job_dir: Path, state_dir: Path
) -> None:
    script(job_dir / "echo.sh", 'echo "$*"\n')
    queue = make_queue()
    held = await queue.submit(
        "executable = echo.sh\narguments = before\noutput = echo.out\nhold = true\nqueue\n",
        submit_dir=job_dir,
    )
    job_id = JobId(held.cluster, 0)
    await queue.edit_job(job_id, {"Arguments": classad_string("after the edit")})
    with pytest.raises(InvalidInput):
        await queue.edit_job(job_id, {"Arguments": classad_string("nope"), "RequestCpus": "0"})
    with pytest.raises(InvalidInput, match="JobId"):
        await queue.edit_job("1.0", {"Arguments": classad_string("x")})  # type: ignore[arg-type]
    other = next(job for job in await queue.list_jobs(all_users=True) if job.owner != OWNER)
    with pytest.raises(AuthError):
        await queue.edit_job(other.id, {"RequestCpus": "2"})
    await queue.aclose()

    again = make_queue()
    ad = await again.job_ad(job_id)
    assert ad["Args" if "Args" in ad else "Arguments"] == "after the edit"
    assert ad["JobStatus"] == int(JobStatus.HELD)
    assert await again.release([job_id]) == 1
    await wait_status(again, [job_id], [JobStatus.COMPLETED], "the released job")
    assert (job_dir / "echo.out").read_text() == "after the edit\n"
    with pytest.raises(Conflict, match="left the queue"):
        await again.edit_job(job_id, {"Arguments": classad_string("too late")})
