"""The test pool as CANFAR's batch system: cloudscheduler's rule and both ``canfar_submit`` forms.

``scripts/condor`` makes the minicondor pool faithful to CANFAR's cloud scheduler: a job whose
Requirements names neither ``group_name`` nor ``VMType`` (a "foreign job" to cloudscheduler,
for which no VM would boot) stays idle for ever; jobs with the Requirements ``canfar_submit``
adds run. ``start.sh`` installs stand-ins of both ``canfar_submit`` forms (the current
``JOB_FILE [VM_IMAGE]`` and 0.3's ``JOB_FILE VM_IMAGE VM_FLAVOR``), each as ``canfar_submit`` in
a folder of its own that a test puts first on PATH; they submit with the pool's condor_submit
as the test user and log the image transfer/share. The pool's chroot is set up like the seed's
snapshot: ``source-extractor``, ``funpack``, ``cadcget``, ``vcp`` on a job's PATH.

The stand-ins run the chroot's condor_submit, so these tests run as root (like start.sh).
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from condor_services import CondorService, as_canfar_submit

from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.models import Job, JobId, JobStatus

pytestmark = pytest.mark.integration

T = TypeVar("T")

SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
#: The seed's do_catalogue.sub, word for word (its executable is a trivial stand-in here).
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
#: A job that does nothing, with no Requirements of its own.
TRUE_SUBMIT = """\
executable = /bin/true
transfer_executable = false
log = {name}.log
batch_name = {name}
request_memory = 64M
queue
"""
OPENSTACK = {
    "OS_AUTH_URL": "http://127.0.0.1:5000/v3",
    "OS_PROJECT_ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "OS_PROJECT_NAME": "catalogue-project",
    "OS_USERNAME": "astro",
    "OS_USER_DOMAIN_NAME": "Default",
}
SUBMITTED = re.compile(r"^(\d+) job\(s\) submitted to cluster (\d+)\.$", re.MULTILINE)
PATIENCE = 180.0


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


async def wait_completed(queue: CondorQueue, ids: list[JobId], what: str) -> dict[JobId, Job]:
    def done(found: dict[JobId, Job]) -> bool:
        return all(
            job_id in found and found[job_id].status == JobStatus.COMPLETED for job_id in ids
        )

    return await wait_until(lambda: find_jobs(queue, ids), done, what)


def write_script(path: Path, body: str, uid: int) -> None:
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)


async def canfar_submit(
    service: CondorService,
    form: str,
    args: list[str],
    cwd: Path,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``canfar_submit ARGS`` run in ``cwd`` with the stand-in of ``form`` first on PATH."""
    folder = service.canfar_submit_dir(form)
    if os.geteuid() != 0:
        pytest.skip("the canfar_submit stand-ins run the pool's condor_submit in its chroot (root)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra_env or {})
    return await asyncio.to_thread(
        subprocess.run,
        ["canfar_submit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def submitted(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """(jobs, cluster) from condor_submit's last line, as canfar_submit passes it on."""
    found = SUBMITTED.search(result.stdout)
    assert found, f"no 'N job(s) submitted to cluster C.' in {result.stdout!r} ({result.stderr!r})"
    return int(found.group(1)), int(found.group(2))


def slot_ads(service: CondorService) -> list[Any]:
    """The execute slots' ads, straight from the collector (reads need no token)."""
    htcondor2 = pytest.importorskip("htcondor2")
    collector = htcondor2.Collector(f"{service.collector[0]}:{service.collector[1]}")
    return list(collector.query(htcondor2.AdType.Startd))


# --------------------------------------------------------------------------- cloudscheduler's rule


async def test_a_job_without_group_name_stays_idle_while_a_canfar_job_runs(
    queue: CondorQueue, job_dir: Path, condor_service: CondorService
) -> None:
    classad2 = pytest.importorskip("classad2")
    foreign = await queue.submit(TRUE_SUBMIT.format(name="foreign"), submit_dir=job_dir)
    canfar = await queue.submit(
        as_canfar_submit(TRUE_SUBMIT.format(name="canfar")), submit_dir=job_dir
    )
    foreign_id, canfar_id = JobId(foreign.cluster, 0), JobId(canfar.cluster, 0)

    # The job with CANFAR's Requirements runs to completion: the pool is matching.
    await wait_completed(queue, [canfar_id], "the job with CANFAR's Requirements to complete")

    # The foreign job was considered and refused: the schedd records the failed match …
    async def foreign_ad() -> Mapping[str, object]:
        return await queue.job_ad(foreign_id)

    ad = await wait_until(
        foreign_ad, lambda found: bool(found.get("LastRejMatchReason")), "a failed match"
    )
    assert ad["JobStatus"] == int(JobStatus.IDLE)
    assert "no match found" in str(ad["LastRejMatchReason"])
    # … and the slots say why: their START needs a Requirements naming group_name (or VMType).
    refused = classad2.ClassAd()
    refused["Requirements"] = classad2.ExprTree(str(ad["Requirements"]))
    refused["CanfarCloudJob"] = classad2.ExprTree(str(ad["CanfarCloudJob"]))
    accepted_ad = await queue.job_ad(canfar_id)
    accepted = classad2.ClassAd()
    accepted["Requirements"] = classad2.ExprTree(str(accepted_ad["Requirements"]))
    accepted["CanfarCloudJob"] = classad2.ExprTree(str(accepted_ad["CanfarCloudJob"]))
    slots = await asyncio.to_thread(slot_ads, condor_service)
    assert slots
    for slot in slots:
        assert slot["group_name"] == "canfar"
        start = classad2.ExprTree(str(slot.lookup("START")))
        assert start.eval(slot, refused) is False
        assert classad2.ExprTree("TARGET.CanfarCloudJob").eval(slot, refused) is False
        assert start.eval(slot, accepted) is True

    # Still idle a few negotiation cycles later (the pool negotiates every 2 s).
    await asyncio.sleep(6)
    found = await find_jobs(queue, [foreign_id])
    assert found[foreign_id].status == JobStatus.IDLE


# --------------------------------------------------------------------------- canfar_submit


@pytest.mark.parametrize("form", ["current", "0.3"])
async def test_canfar_submit_runs_the_seed_batch(
    queue: CondorQueue, job_dir: Path, condor_service: CondorService, form: str
) -> None:
    write_script(job_dir / "do_catalogue.bash", 'echo "catalogue of $1"\n', condor_service.uid)
    (job_dir / "do_catalogue.sub").write_text(SEED_SUBMIT)
    image = f"catalogue-software-{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    if form == "current":
        args, extra = ["do_catalogue.sub", image], {}
    else:
        args, extra = (
            ["do_catalogue.sub", image, "c2-7.5gb-30"],
            {
                **OPENSTACK,
                "OS_PASSWORD": password,
                "HOME": str(job_dir),  # no ~/.ssl/cadcproxy.pem: submitted without a proxy
            },
        )

    result = await canfar_submit(condor_service, form, args, job_dir, extra)

    assert result.returncode == 0, result.stderr
    jobs, cluster = submitted(result)
    assert jobs == 4
    assert password not in result.stdout + result.stderr
    log = condor_service.canfar_submit_log
    assert log is not None
    lines = [line for line in log.read_text().splitlines() if image in line]
    assert password not in log.read_text()
    ad = await queue.job_ad(JobId(cluster, 0))
    assert ad["Owner"] == condor_service.user
    if form == "current":
        assert any(
            f"cloudscheduler image transfer -tc batch-arbutus -in {image}" in line for line in lines
        ), lines
        assert "group_name" in str(ad["Requirements"])
        assert ad["VMImage"] == image
    else:
        vmtype = f"{OPENSTACK['OS_PROJECT_NAME']}:{image}"
        assert any("glance share" in line and f"vmtype={vmtype}" in line for line in lines), lines
        assert f'VMType is "{vmtype}"' in str(ad["Requirements"])
        assert str(ad["VMAMI"]).startswith("cc-arbutus:")
        assert str(ad["VMInstanceType"]).startswith("cc-arbutus:")
        assert str(ad["VMAMIConfig"]).startswith("/var/cache/canfar/cloudinit/")
        assert ad["PreCmd"] == "canfar_batch_cert"
        assert ad["RunAsOwner"] is True

    ids = [JobId(cluster, proc) for proc in range(4)]
    await wait_completed(queue, ids, f"the seed batch submitted by canfar_submit ({form})")
    for obs_id in SEED_IDS:
        output = job_dir / f"do_catalogue-{obs_id}.out"
        assert output.read_text().strip() == f"catalogue of {obs_id}"


async def test_canfar_submit_usage_and_refusals(
    job_dir: Path, condor_service: CondorService
) -> None:
    write_script(job_dir / "do_catalogue.bash", "true\n", condor_service.uid)
    (job_dir / "do_catalogue.sub").write_text(SEED_SUBMIT)
    password = f"pw-{uuid.uuid4().hex}"

    # Usage (exit status 0, like the real scripts) on a wrong number of arguments.
    current = await canfar_submit(condor_service, "current", [], job_dir)
    assert current.stdout.startswith("Usage: canfar_submit [OPTION] JOB_FILE VM_IMAGE\n")
    old = await canfar_submit(condor_service, "0.3", ["do_catalogue.sub", "image"], job_dir)
    assert old.stdout.startswith("Usage: canfar_submit [OPTION] JOB_FILE VM_IMAGE VM_FLAVOR\n")
    assert "submitted" not in current.stdout + old.stdout

    # The current form needs an image: on the command line or as +VMImage in the file.
    no_image = await canfar_submit(condor_service, "current", ["do_catalogue.sub"], job_dir)
    assert no_image.returncode == 1
    assert "A VM image name is required" in no_image.stderr

    # The 0.3 form refuses without the OpenStack variables (here: no password) …
    no_openstack = await canfar_submit(
        condor_service,
        "0.3",
        ["do_catalogue.sub", "image", "c2-7.5gb-30"],
        job_dir,
        {**OPENSTACK, "HOME": str(job_dir)},
    )
    assert no_openstack.returncode == 1
    assert "OpenStack environment variables not set" in no_openstack.stderr
    assert "submitted" not in no_openstack.stdout
    # … and without the user's domain, never printing the password it was given.
    no_domain = await canfar_submit(
        condor_service,
        "0.3",
        ["do_catalogue.sub", "image", "c2-7.5gb-30"],
        job_dir,
        {
            **{k: v for k, v in OPENSTACK.items() if k != "OS_USER_DOMAIN_NAME"},
            "OS_PASSWORD": password,
            "HOME": str(job_dir),
        },
    )
    assert no_domain.returncode == 1
    assert "OS_USER_DOMAIN_NAME" in no_domain.stderr
    assert password not in no_domain.stdout + no_domain.stderr
    # A job file that sets Requirements itself is refused by the 0.3 form.
    (job_dir / "own.sub").write_text(as_canfar_submit(SEED_SUBMIT))
    own = await canfar_submit(
        condor_service,
        "0.3",
        ["own.sub", "image", "c2-7.5gb-30"],
        job_dir,
        {**OPENSTACK, "OS_PASSWORD": password, "HOME": str(job_dir)},
    )
    assert own.returncode == 1
    assert "jobfile should not contain parameter 'Requirements'" in own.stderr


# --------------------------------------------------------------------------- the seed's snapshot


async def test_the_seed_tools_are_on_a_jobs_path(
    queue: CondorQueue, job_dir: Path, condor_service: CondorService
) -> None:
    tools = ("source-extractor", "funpack", "cadcget", "cadc-get-cert", "vcp", "vls")
    write_script(
        job_dir / "tools.bash",
        f"""
        for tool in {" ".join(tools)}; do
            echo "$tool=$(command -v "$tool" || echo MISSING)"
        done
        source-extractor --version
        vcp --help > /dev/null && echo "vcp runs"
        cadcget --help > /dev/null && echo "cadcget runs"
        """,
        condor_service.uid,
    )
    (job_dir / "tools.sub").write_text(
        "executable = tools.bash\noutput = tools.out\nerror = tools.err\nlog = tools.log\nqueue\n"
    )

    result = await canfar_submit(condor_service, "current", ["tools.sub", "snapshot"], job_dir)

    assert result.returncode == 0, result.stderr
    _, cluster = submitted(result)
    await wait_completed(queue, [JobId(cluster, 0)], "the job listing the tools")
    output = (job_dir / "tools.out").read_text()
    found = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    assert all(found.get(tool, "MISSING") != "MISSING" for tool in tools), output
    assert "Source Extractor version" in output
    assert "vcp runs" in output and "cadcget runs" in output
