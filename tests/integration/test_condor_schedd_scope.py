"""The batch host's own schedd, its condor_q default, and "why idle" on the real pool (issue 13).

Against the pool of ``scripts/condor/start.sh`` (its schedd runs on this machine, like the
user's own schedd on CANFAR's batch host):

* a second schedd advertised into the collector *first* (``condor_advertise`` inside the
  pool's chroot, as root: the test user may not advertise) does not take the user away from
  this machine's schedd; with a configuration whose ``SCHEDD_NAME`` names no schedd here,
  two schedds are a one-line error and, once the stranger is gone, the pool's only schedd is
  used;
* ``CONDOR_Q_ONLY_MY_JOBS = False`` in the client's configuration (a copy the test writes)
  makes "all users" the default, as for plain ``condor_q`` there, in the client and in the
  Queue tab (whose status line says so until ``a`` changes it);
* a job in canfar_submit 0.3's form (``VMType``, no ``group_name``) whose VM type no machine
  has stays idle, and the job detail screen says why; so does a job without ``group_name``
  (kept idle here by a request no slot fits, so that the text is read while it is idle on
  any pool, faithful to cloudscheduler or not).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from condor_services import CondorService
from textual.app import App
from textual.widgets import Static

from canfar_tui.app import create_app
from canfar_tui.clients.base import SupportsPoolMachines, SupportsQueueDefaults, Unavailable
from canfar_tui.clients.bundle import Clients
from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.config import Settings
from canfar_tui.models import JobId, JobStatus
from canfar_tui.screens.job_detail import JobDetailScreen
from canfar_tui.widgets.queue.view import QueueView

pytestmark = pytest.mark.integration


def _chroot(service: CondorService) -> Path:
    """The pool's chroot (``$RUN/root``; the client config is ``$RUN/client/condor_config``)."""
    return service.config.parent.parent / "root"


def _advertise(service: CondorService, command: str, ad: str) -> None:
    root = _chroot(service)
    if os.geteuid() != 0 or not (root / "usr" / "sbin" / "condor_advertise").exists():
        pytest.skip("advertising a second schedd needs root and the pool's chroot")
    name = f"tmp/canfar-tui-{uuid.uuid4().hex[:8]}.ad"
    (root / name).write_text(ad, encoding="utf-8")
    try:
        done = subprocess.run(
            ["chroot", str(root), "condor_advertise", command, f"/{name}"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},  # the pool's own configuration
        )
        assert done.returncode == 0, done.stderr or done.stdout
    finally:
        (root / name).unlink(missing_ok=True)


@pytest.fixture
def stranger(condor_service: CondorService) -> Iterator[str]:
    """A second schedd in the collector (unreachable, listed before the real one)."""
    name = f"stranger-{uuid.uuid4().hex[:6]}@elsewhere.example"
    _advertise(
        condor_service,
        "UPDATE_SCHEDD_AD",
        f'MyType = "Scheduler"\nName = "{name}"\nMachine = "elsewhere.example"\n'
        'MyAddress = "<127.0.0.1:9?sock=nosuch>"\nScheddIpAddr = "<127.0.0.1:9?sock=nosuch>"\n'
        'CondorVersion = "$CondorVersion: 23.9.6 $"\nClassAdLifetime = 300\n',
    )
    try:
        yield name
    finally:
        _forget(condor_service, name)


def _forget(service: CondorService, name: str) -> None:
    with contextlib.suppress(subprocess.SubprocessError, AssertionError):
        _advertise(
            service,
            "INVALIDATE_SCHEDD_ADS",
            f'MyType = "Query"\nTargetType = "Scheduler"\nRequirements = Name == "{name}"\n',
        )


def _config_with(service: CondorService, tmp_path: Path, extra: str) -> Path:
    """A copy of the pool's client configuration with ``extra`` lines added."""
    path = tmp_path / "condor_config"
    path.write_text(service.config.read_text(encoding="utf-8") + "\n" + extra + "\n")
    return path


@contextlib.asynccontextmanager
async def _client(config: Path) -> AsyncIterator[CondorQueue]:
    client = CondorQueue(config, call_timeout=60.0)
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_schedd_on_this_machine_comes_before_one_listed_first(
    condor_service: CondorService, stranger: str
) -> None:
    async with _client(condor_service.config) as client:
        await client.list_jobs(all_users=True)  # the first schedd listed would not answer
        who = await client._call("whoami")
        assert who["schedd"] and who["schedd"] != stranger


async def test_no_schedd_here_uses_the_pools_only_one_and_several_are_one_line(
    condor_service: CondorService, stranger: str, tmp_path: Path
) -> None:
    config = _config_with(condor_service, tmp_path, "SCHEDD_NAME = nosuch-local-schedd")
    async with _client(config) as client:
        with pytest.raises(Unavailable) as error:
            await client.list_jobs()
        message = error.value.message
        assert "\n" not in message and "none runs on this machine" in message
        assert stranger in message and "schedd = NAME" in message
    _forget(condor_service, stranger)
    for _ in range(100):  # the collector drops the ad at once; allow it a moment
        async with _client(config) as client:
            try:
                await client.list_jobs(all_users=True)
            except Unavailable:
                await asyncio.sleep(0.2)
                continue
            who = await client._call("whoami")
            assert who["schedd"] != stranger
            return
    raise AssertionError("the pool's only schedd was never used")


async def test_the_pools_condor_q_default_decides_whose_jobs_show(
    condor_service: CondorService, tmp_path: Path
) -> None:
    async with _client(condor_service.config) as client:
        assert isinstance(client, SupportsQueueDefaults)
        assert await client.all_users_by_default() is False  # HTCondor's default: only mine
    config = _config_with(condor_service, tmp_path, "CONDOR_Q_ONLY_MY_JOBS = False")
    async with _client(config) as client:
        assert await client.all_users_by_default() is True  # as on CANFAR's batch host
        owners = {job.owner for job in await client.list_jobs(all_users=True)}
        assert set(condor_service.other_users) <= owners


def _condor_clients(settings: Settings, config: Path) -> Clients:
    from canfar_tui.clients.cloud.sandbox import SandboxCloud

    return Clients(
        settings.profile.name,
        cloud=SandboxCloud(settings.paths.data_dir / "sandbox" / "cloud.sqlite"),
        queue=lambda: CondorQueue(config, call_timeout=60.0),
    )


async def _queue_tab(settings: Settings, config: Path, press: str = "") -> tuple[bool, str]:
    """Open the Queue tab on the pool; its scope and status line once loaded."""
    app = create_app(settings, _condor_clients(settings, config))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        view = app.view("queue")
        assert isinstance(view, QueueView)

        def status() -> str:
            return str(view.query_one(".view-status", Static).content)

        await _wait(pilot, lambda: view.state in ("ready", "empty") and "(" in status(), "rows")
        if press:
            await pilot.press(press)
            await _wait(pilot, lambda: "(" not in status(), "the toggle")
        assert app.unexpected_errors == 0
        return view.all_users, status()


async def test_the_queue_tab_starts_as_condor_q_does_on_this_pool(
    condor_service: CondorService, settings: Settings, tmp_path: Path
) -> None:
    config = _config_with(condor_service, tmp_path, "CONDOR_Q_ONLY_MY_JOBS = False")
    everyone, status = await _queue_tab(settings, config)
    assert everyone is True
    assert "all users (as condor_q here)" in status
    mine, status = await _queue_tab(settings, config, press="a")
    assert mine is False and "mine" in status and "as condor_q here" not in status
    only_mine, status = await _queue_tab(settings, condor_service.config)
    assert only_mine is False and "mine (as condor_q here)" in status


class _DetailApp(App[None]):
    def __init__(self, client: CondorQueue, job_id: JobId) -> None:
        super().__init__()
        self.client, self.job_id = client, job_id
        self.detail = JobDetailScreen(client, job_id, follow_interval=3600)

    def on_mount(self) -> None:
        self.push_screen(self.detail)


async def _wait(pilot: Any, condition: Callable[[], object], what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _why_idle(queue: CondorQueue, job_id: JobId) -> str:
    app = _DetailApp(queue, job_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await _wait(pilot, lambda: "why idle:" in app.detail.text_of("summary"), "why idle")
        summary = app.detail.text_of("summary")
    line = next(line for line in summary.splitlines() if line.startswith("why idle:"))
    return line


def _write_job(job_dir: Path) -> None:
    script = job_dir / "hello.sh"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)


async def _submit_idle(queue: CondorQueue, job_dir: Path, lines: str) -> JobId:
    _write_job(job_dir)
    description = (
        "executable = hello.sh\noutput = hello.out\nerror = hello.err\nlog = hello.log\n"
        f"{lines}\nqueue\n"
    )
    result = await queue.submit(description, submit_dir=job_dir)
    job_id = JobId(result.cluster, 0)
    await asyncio.sleep(3)  # a negotiation cycle of the test pool
    ad = await queue.job_ad(job_id)
    assert ad["JobStatus"] == int(JobStatus.IDLE)
    return job_id


async def test_a_job_of_the_old_form_with_no_such_vm_stays_idle_and_says_why(
    queue: CondorQueue, job_dir: Path
) -> None:
    assert isinstance(queue, SupportsPoolMachines)
    assert "rrg-astro:no-such-snapshot" not in await queue.machine_vm_types()
    job_id = await _submit_idle(
        queue,
        job_dir,
        'Requirements = VMType =?= "rrg-astro:no-such-snapshot" && Arch == "x86_64"',
    )
    line = await _why_idle(queue, job_id)
    assert 'a VM of type "rrg-astro:no-such-snapshot"' in line
    assert "no such VM is in the pool" in line
    assert 'group_name =?= "canfar" && Arch == "x86_64"' in line


async def test_a_job_without_group_name_says_the_cloud_scheduler_ignores_it(
    queue: CondorQueue, job_dir: Path
) -> None:
    # A plain condor_submit: the pool (faithful to the cloud scheduler) never starts it.
    job_id = await _submit_idle(queue, job_dir, "# no Requirements, as condor_submit sends it")
    line = await _why_idle(queue, job_id)
    assert "Its Requirements do not name group_name" in line
    assert "foreign job" in line and "idle for ever" in line
    assert "canfar_submit" in line
