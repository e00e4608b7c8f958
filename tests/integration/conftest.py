"""Fixtures of the tests against the real HTCondor pool (``scripts/condor/start.sh``) and the
CADC replica (``scripts/cadc/start.sh``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cadc_services import cadc_service_or_skip
from condor_services import (
    CondorService,
    PoolWithCadc,
    cadc_variables,
    condor_service_or_skip,
)
from real_services import require_or_skip

from canfar_tui.clients.base import ClientError
from canfar_tui.clients.queue.condor.client import CondorQueue


@pytest.fixture
def condor_service() -> CondorService:
    """The running pool; skips without it (fails when services are required)."""
    return condor_service_or_skip()


@pytest.fixture
def job_dir(condor_service: CondorService, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh job folder, shared with the pool's chroot; removed afterwards."""
    path = condor_service.new_job_dir(request.node.name)
    yield path
    condor_service.remove_job_dir(path)


@pytest.fixture
async def queue(condor_service: CondorService) -> AsyncIterator[CondorQueue]:
    """The htcondor2 backend on the pool; the test user's jobs are removed afterwards."""
    client = CondorQueue(condor_service.config, call_timeout=60.0)
    try:
        yield client
    finally:
        with contextlib.suppress(ClientError):
            mine = [job.id for job in await client.list_jobs()]
            if mine:
                await client.remove(mine, "integration test cleanup")
        await client.aclose()


@pytest.fixture(scope="session")
def pool_with_cadc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PoolWithCadc]:
    """The seed's snapshot on the pool: once per session, the jobs' owner gets the replica's
    registry cache and the user's proxy certificate (``cadc-get-cert -n``, as the seed ran it on
    its VM before the snapshot) in its home in the chroot, and the chroot's CADC tools trust the
    replica's test CA (``scripts/condor/trust_cadc_replica.sh``); undone at the end."""
    condor = condor_service_or_skip()
    cadc = cadc_service_or_skip()
    if os.geteuid() != 0:
        require_or_skip("setting the pool's chroot up for the CADC replica needs root")
    home = cadc.new_home(tmp_path_factory.mktemp("pool-cadc") / "home")
    certificate = cadc.login(home)
    variables = cadc_variables(cadc)
    condor.trust_cadc_replica(variables, certificate)
    try:
        yield PoolWithCadc(condor, cadc, home, certificate)
    finally:
        condor.trust_cadc_replica(variables, undo=True)
