"""The seed's ``do_catalogue.bash`` and ``do_catalogue.sub``, word for word, on the pool against
the CADC replica.

The Batch Quick Start's two files, exactly as it prints them (``[VOSpace]`` replaced by the
replica user's name, as the seed tells its reader to do), submitted from a job folder with the
current ``canfar_submit`` stand-in (``canfar_submit do_catalogue.sub IMAGE``). The pool's jobs
run in a scratch folder of their own, as on a batch VM, with what the seed's snapshot has: the
tools (``cadcget``, ``funpack``, ``source-extractor``, ``vcp``), the user's proxy certificate
in ``~/.ssl/cadcproxy.pem`` and the CADC clients' caches (``pool_with_cadc``:
``scripts/condor/trust_cadc_replica.sh``). Four jobs run; four catalogues arrive in the
replica's vault, and the bytes are checked three ways: the vault's own MD5 of each node, the
file the vault stored, the catalogue HTCondor brought back from the job's scratch folder —
all equal to a source-extractor run of the same exposure made here by the test.

Needs the pool, the replica and root (the stand-ins run the pool's condor_submit in its chroot);
skips without them, fails without them when ``CANFAR_TUI_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from cadc_services import CadcService, cadc_service_or_skip
from condor_services import CondorService, PoolWithCadc

from canfar_tui.clients.queue.condor.client import CondorQueue
from canfar_tui.models import Job, JobId, JobStatus

pytestmark = pytest.mark.integration

SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
#: The snapshot named on canfar_submit's command line (the stand-in runs any image).
SNAPSHOT = "image-reduction-2023-08-21"
#: The seed's ~/do_catalogue.bash, word for word ("Remember to substitute [VOSpace]").
SEED_SCRIPT = """\
#!/bin/bash
id=$1
cadcget cadc:CFHT/${id}.fits.fz
funpack -D ${id}.fits.fz
cp /usr/share/source-extractor/default* .
echo 'NUMBER
MAG_AUTO
X_IMAGE
Y_IMAGE' > default.param
source-extractor ${id}.fits -CATALOG_NAME ${id}.cat
vcp ${id}.cat vos:[VOSpace]/
"""
#: The seed's do_catalogue.sub, word for word (with the blank lines around it).
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
SUBMITTED = re.compile(r"^(\d+) job\(s\) submitted to cluster (\d+)\.$", re.MULTILINE)
PATIENCE = 240.0


@pytest.fixture
def cadc_service() -> CadcService:
    return cadc_service_or_skip()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def canfar_submit(
    condor: CondorService, form: str, args: list[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """``canfar_submit ARGS`` in ``cwd`` with the stand-in of ``form`` first on PATH."""
    folder = condor.canfar_submit_dir(form)
    environment = {key: value for key, value in env.items() if not key.startswith("OS_")}
    environment["PATH"] = f"{folder}{os.pathsep}{environment.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(
        ["canfar_submit", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def wait_finished(queue: CondorQueue, ids: list[JobId]) -> dict[JobId, Job]:
    """The jobs once all of them left the queue (completed, or anything else final)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        found = {job.id: job for job in await queue.history(limit=200) if job.id in ids}
        if len(found) == len(ids):
            return found
        if time.monotonic() > deadline:
            queued = [job for job in await queue.list_jobs() if job.id in ids]
            pytest.fail(f"timed out waiting for the seed's jobs; still queued: {queued!r}")
        await asyncio.sleep(1.0)


async def test_the_seeds_files_run_word_for_word_against_the_replica(
    pool_with_cadc: PoolWithCadc,
    condor_service: CondorService,
    cadc_service: CadcService,
    queue: CondorQueue,
    job_dir: Path,
) -> None:
    pool = pool_with_cadc
    user = cadc_service.user
    uris = [f"vos:{user}/{obs_id}.cat" for obs_id in SEED_IDS]
    await asyncio.to_thread(pool.vault, "remove", uris)
    script = job_dir / "do_catalogue.bash"
    script.write_text(SEED_SCRIPT.replace("[VOSpace]", user), encoding="utf-8")
    script.chmod(0o755)
    (job_dir / "do_catalogue.sub").write_text(SEED_SUBMIT, encoding="utf-8")
    assert "[VOSpace]" not in script.read_text() and f"vos:{user}/" in script.read_text()

    # canfar_submit do_catalogue.sub IMAGE, from the job folder, as on the batch host.
    result = await asyncio.to_thread(
        canfar_submit,
        condor_service,
        "current",
        ["do_catalogue.sub", SNAPSHOT],
        job_dir,
        os.environ,
    )
    found = SUBMITTED.search(result.stdout)
    assert result.returncode == 0 and found, (result.stdout, result.stderr)
    assert int(found.group(1)) == 4
    cluster = int(found.group(2))
    ids = [JobId(cluster, proc) for proc in range(4)]
    references = await asyncio.to_thread(pool.reference_catalogues, job_dir / "reference")

    # Four jobs run to completion, one per exposure, each with exit status 0 (vcp's).
    finished = await wait_finished(queue, ids)
    for job_id, obs_id in zip(ids, SEED_IDS, strict=True):
        job = finished[job_id]
        error = job_dir / f"do_catalogue-{obs_id}.err"
        assert (job.status, job.exit_code, job.arguments) == (JobStatus.COMPLETED, 0, obs_id), (
            error.read_text(errors="replace")[-2000:] if error.exists() else "no error file"
        )
        assert (job_dir / f"do_catalogue-{obs_id}.out").is_file()
        assert (job_dir / f"do_catalogue-{obs_id}.log").is_file()

    # Four catalogues in the vault, the bytes the jobs wrote, the seed's catalogue of each
    # exposure: the vault's MD5 of the node, the stored file, the job's own file (sent back
    # from its scratch folder) and the reference made here agree.
    stored_md5 = await asyncio.to_thread(pool.vault, "md5", uris)
    for obs_id, uri in zip(SEED_IDS, uris, strict=True):
        expected = md5_of(references[obs_id])
        stored = cadc_service.vault_root / user / f"{obs_id}.cat"
        returned = job_dir / f"{obs_id}.cat"
        assert stored_md5.get(uri) == expected, f"{uri}: the vault says {stored_md5.get(uri)}"
        assert md5_of(stored) == expected
        assert md5_of(returned) == expected
        header = [line for line in stored.read_text().splitlines() if line.startswith("#")]
        assert [line.split()[2] for line in header] == [
            "NUMBER",
            "MAG_AUTO",
            "X_IMAGE",
            "Y_IMAGE",
        ]
        assert len(stored.read_text().splitlines()) > len(header) + 10
    # The four catalogues differ: each job processed its own exposure.
    assert len({md5_of(path) for path in references.values()}) == 4
    await asyncio.to_thread(pool.vault, "remove", uris)
