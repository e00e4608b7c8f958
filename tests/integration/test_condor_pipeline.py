"""The pipeline (issue 7) on a real HTCondor pool: jobs run ``canfar-tui`` on the execute node.

The real-HTCondor twin of ``tests/unit/test_pipeline.py::test_pipeline_end_to_end_in_the_sandbox``.
The seed's four IDs and one broken ID go through :func:`write_pipeline`, the ``canfar_submit``
rewrite (:func:`canfar_description`: vanilla universe, snapshot and flavor, ``request_*``,
files transferred to and from the execute node) and :meth:`CondorQueue.submit` to the
minicondor pool of ``scripts/condor/start.sh``. Each job runs the generated ``do_catalogue.bash``
inside the pool's chroot with the ``canfar-tui`` that ``scripts/condor/install_canfar_tui.sh``
installed there (``/opt/canfar-tui``, on the jobs' default PATH, like on a snapshot the user
marked as having canfar-tui): ``get`` from the synthetic archive, ``detect``, ``put`` to the
project's VOSpace service, with the profile named explicitly (``--profile sandbox``).

What the jobs are given, through the submit file's ``environment``:

* ``XDG_DATA_HOME``: a folder in the job folder (bind-mounted at the same path inside the
  chroot) holding the sandbox archive, whose exposures this test generates beforehand, so that
  ``canfar-tui get cadc:CFHT/ID.fits.fz`` reads them there;
* ``CANFAR_TUI_SANDBOX_VOSPACE``: a HOME-like folder whose ``vos`` registry names the VOSpace
  service this test runs on 127.0.0.1 on the host (the jobs share the host's network), so that
  ``canfar-tui put`` uploads there over HTTP. That registry names the service's URL, which
  holds its secret (written 0600 in 0700 folders); the jobs run as the pool's test user, so
  this test makes that one folder readable to them (on a real pool, jobs run as the submitter).

Then :func:`collect_outcome` against that service: four catalogues with MD5s matching the files
the jobs transferred back, the broken ID failed with the reason from its error file, and
resubmitting queues that ID alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from condor_services import CondorService, as_canfar_submit

from canfar_tui.batch.lint import lint_submit
from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    PipelineSpec,
    submit_file,
    write_pipeline,
)
from canfar_tui.batch.pipeline_run import collect_outcome, last_error_line
from canfar_tui.batch.rewrite import canfar_description
from canfar_tui.cli.put import SANDBOX_VOSPACE_ENV
from canfar_tui.cli.put import main as put_main
from canfar_tui.clients.archive.sandbox import SandboxArchive
from canfar_tui.clients.base import NotFound
from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.clients.storage.loopback import RunningVOSpace, start_server
from canfar_tui.clients.storage.vospace import VOSpaceStorage
from canfar_tui.detection.params import DetectionParams
from canfar_tui.models import Flavor, Job, JobStatus

pytestmark = pytest.mark.integration

SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
BROKEN = "9999999p"
FOLDER = "vos:sandbox-user/catalogues/"
#: The snapshot and flavor the canfar_submit rewrite names (the pool ignores +VMImage; the
#: flavor's requests must fit one of its slots: 1 CPU, 2 GB).
IMAGE = "canfar-tui-batch"
FLAVOR = Flavor(id="c1-1gb-4", name="c1-1gb-4", vcpus=1, ram_mb=1024, disk_gb=4)
#: Waiting for the pool is not what is tested: be patient, poll, fail with what was seen.
PATIENCE = 240.0
FINISHED = (JobStatus.COMPLETED, JobStatus.REMOVED)


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def vospace(tmp_path: Path) -> Iterator[RunningVOSpace]:
    """The project's VOSpace service on 127.0.0.1 on the host, over a folder of the test."""
    with start_server(tmp_path / "vospace") as server:
        yield server


def job_environment(job_dir: Path, server: RunningVOSpace) -> dict[str, str]:
    """What the jobs need, in folders they can read (created by root: 0755 and 0644)."""
    data_home = job_dir / "data"
    config_home = job_dir / "config"
    config_home.mkdir()
    vos_home = server.prepare_client_home(job_dir / "vos-home")
    for path in (vos_home, *vos_home.rglob("*")):  # the jobs run as another user
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {
        "XDG_DATA_HOME": str(data_home),
        "XDG_CONFIG_HOME": str(config_home),
        SANDBOX_VOSPACE_ENV: str(vos_home),
    }


async def fill_archive(data_home: Path, ids: Iterable[str]) -> None:
    """The sandbox archive's synthetic exposures, generated once here for the jobs to read."""
    archive = SandboxArchive(data_home / "canfar-tui" / "sandbox" / "archive")
    try:
        await asyncio.gather(*(archive.info(f"cadc:CFHT/{obs_id}.fits.fz") for obs_id in ids))
    finally:
        await archive.aclose()


def condor_submit_text(spec: PipelineSpec, environment: dict[str, str], job_dir: Path) -> str:
    """The generated submit file with the jobs' environment (lint-clean), rewritten as
    canfar_submit does."""
    text = submit_file(spec)
    words = " ".join(f"{key}={value}" for key, value in environment.items())
    assert all(" " not in value and "'" not in value for value in environment.values())
    with_env = text.replace(
        "\nqueue arguments from (", f'\nenvironment = "{words}"\n\nqueue arguments from (', 1
    )
    assert with_env != text
    assert lint_submit(with_env, submit_dir=job_dir).ok
    # Until the rewrite adds it itself: the Requirements canfar_submit adds, without which the
    # pool (like cloudscheduler) never starts the jobs.
    return as_canfar_submit(canfar_description(with_env, IMAGE, FLAVOR).text)


async def wait_finished(queue: CondorQueue, cluster: int, count: int) -> list[Job]:
    """The cluster's jobs once all have left the queue and are in the history."""
    deadline = time.monotonic() + PATIENCE
    seen: list[Job] = []
    while time.monotonic() < deadline:
        queued = [job for job in await queue.list_jobs() if job.id.cluster == cluster]
        held = [job for job in queued if job.status == JobStatus.HELD]
        if held:
            pytest.fail(f"a pipeline job was held: {held[0].hold_reason}")
        if not queued:
            seen = [job for job in await queue.history(limit=200) if job.id.cluster == cluster]
            if len(seen) == count and all(job.status in FINISHED for job in seen):
                return sorted(seen, key=lambda job: job.id.proc)
        else:
            seen = queued
        await asyncio.sleep(0.5)
    pytest.fail(f"the batch {cluster} did not finish in {PATIENCE:.0f} s: {seen!r}")


def error_lines(job_dir: Path, spec: PipelineSpec, ids: Iterable[str]) -> dict[str, str | None]:
    return {obs_id: last_error_line(job_dir / spec.error_file(obs_id)) for obs_id in ids}


# --------------------------------------------------------------------------- put's option


def test_put_uploads_to_the_running_service_the_environment_names(
    tmp_path: Path,
    vospace: RunningVOSpace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalogue = tmp_path / "a.cat"
    catalogue.write_text("#   1 NUMBER\n1\n", encoding="utf-8")
    monkeypatch.setenv(SANDBOX_VOSPACE_ENV, str(vospace.prepare_client_home(tmp_path / "vh")))
    assert put_main([str(catalogue), FOLDER]) == 0
    stored = vospace.root / "sandbox-user" / "catalogues" / "a.cat"
    assert stored.read_bytes() == catalogue.read_bytes()
    assert capsys.readouterr().out.strip() == (
        f"{FOLDER}a.cat  md5={md5_of(catalogue)}  {catalogue.stat().st_size} bytes  (sandbox)"
    )
    # vos cached the capabilities in a private copy of the registry, not in the named folder.
    assert not (tmp_path / "vh" / ".config" / "cadc-registry" / "cadc.nrc.ca").exists()
    # Nothing went to the sandbox's own VOSpace folder.
    sandbox = Path(os.environ["XDG_DATA_HOME"]) / "canfar-tui" / "sandbox" / "vospace"
    assert not (sandbox / "sandbox-user" / "catalogues").exists()

    monkeypatch.setenv(SANDBOX_VOSPACE_ENV, str(tmp_path / "nowhere"))
    assert put_main([str(catalogue), FOLDER]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"canfar-tui put: {SANDBOX_VOSPACE_ENV}={tmp_path / 'nowhere'}: no VOSpace registry "
        "there (.config/cadc-registry/resource-caps)"
    ]


# --------------------------------------------------------------------------- end to end


async def test_pipeline_on_the_real_pool(
    queue: CondorQueue,
    job_dir: Path,
    condor_service: CondorService,
    vospace: RunningVOSpace,
    tmp_path: Path,
) -> None:
    chroot = condor_service.job_dir.parent / "root"
    if chroot.is_dir() and not os.path.lexists(chroot / "usr/local/bin/canfar-tui"):
        pytest.fail(f"no canfar-tui in the pool's chroot {chroot}: run scripts/condor/install.sh")
    ids = (*SEED_IDS, BROKEN)
    params = DetectionParams().with_overrides({"DETECT_THRESH": "3"})
    # The default command: the console script on the worker's PATH, as on a snapshot marked
    # as having canfar-tui; the jobs name the sandbox profile.
    spec = PipelineSpec.from_params(
        params, ids, FOLDER, workers=1, steps=CANFAR_TUI_STEPS, profile="sandbox"
    )
    environment = job_environment(job_dir, vospace)
    await fill_archive(Path(environment["XDG_DATA_HOME"]), SEED_IDS)
    write_pipeline(spec, job_dir)
    text = condor_submit_text(spec, environment, job_dir)
    commands = {
        name.strip(): value.strip()
        for name, sep, value in (line.partition("=") for line in text.splitlines())
        if sep
    }
    assert (commands["universe"], commands["should_transfer_files"]) == ("vanilla", "YES")

    result = await queue.submit(text, submit_dir=job_dir)
    assert result.num_jobs == 5
    jobs = await wait_finished(queue, result.cluster, 5)
    exit_codes = {job.arguments: job.exit_code for job in jobs}
    reasons = error_lines(job_dir, spec, ids)
    assert exit_codes == {**dict.fromkeys(SEED_IDS, 0), BROKEN: 1}, reasons
    assert {job.owner for job in jobs} == {condor_service.user}

    storage = VOSpaceStorage.for_sandbox(vospace, tmp_path / "host-vos-home")
    try:
        outcome = await collect_outcome(storage, spec, job_dir, exit_codes=exit_codes)
        without_codes = await collect_outcome(storage, spec, job_dir)
        with pytest.raises(NotFound):
            await storage.stat(spec.catalogue_uri(BROKEN))
    finally:
        await storage.aclose()

    assert without_codes == outcome
    assert [a.obs_id for a in outcome.arrived] == list(SEED_IDS)
    stored_dir = vospace.root / vospace.username / "catalogues"
    assert sorted(path.name for path in stored_dir.iterdir()) == [f"{i}.cat" for i in SEED_IDS]
    for arrived in outcome.arrived:
        local = job_dir / f"{arrived.obs_id}.cat"  # transferred back from the execute node
        assert local.read_text(encoding="utf-8").startswith("#   1 NUMBER")
        assert local.stat().st_uid == condor_service.uid
        assert arrived.md5 == md5_of(local) == md5_of(stored_dir / local.name)
        assert arrived.uri == f"{FOLDER}{arrived.obs_id}.cat"
        assert arrived.size == local.stat().st_size
        # get, put and the script's last word, from the execute node's scratch folder
        fetched, put, done = (
            (job_dir / spec.output_file(arrived.obs_id)).read_text(encoding="utf-8").splitlines()
        )
        assert fetched.startswith("/var/lib/condor/execute/dir_")
        assert fetched.endswith(f"/{arrived.obs_id}.fits.fz")
        assert put == f"{arrived.uri}  md5={arrived.md5}  {arrived.size} bytes  (sandbox)"
        assert done == (
            f"do_catalogue {arrived.obs_id}: {arrived.obs_id}.cat stored in {FOLDER} (MD5 verified)"
        )
        assert not (job_dir / f"{arrived.obs_id}.fits.fz").exists()  # stays on the worker

    assert outcome.to_resubmit() == (BROKEN,)
    (failed,) = outcome.failed
    assert failed.reason.startswith(f"do_catalogue {BROKEN}: fetch failed (exit 1): ")
    assert f"cadc:CFHT/{BROKEN}.fits.fz" in failed.reason
    assert "Not in the sandbox archive" in failed.reason
    assert failed.reason == reasons[BROKEN]

    # Resubmitting queues the failed ID alone (and it fails again, for the same reason).
    retry = spec.only(outcome.to_resubmit())
    write_pipeline(retry, job_dir)
    again = condor_submit_text(retry, environment, job_dir)
    assert "queue arguments from (\n  9999999p\n)\n" in again
    second = await queue.submit(again, submit_dir=job_dir)
    assert second.num_jobs == 1
    (job,) = await wait_finished(queue, second.cluster, 1)
    assert (job.arguments, job.exit_code) == (BROKEN, 1)
    assert last_error_line(job_dir / retry.error_file(BROKEN)) == failed.reason
    assert sorted(path.name for path in stored_dir.iterdir()) == [f"{i}.cat" for i in SEED_IDS]
