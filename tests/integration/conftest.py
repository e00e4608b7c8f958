"""Fixtures of the tests against the real HTCondor pool (``scripts/condor/start.sh``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from condor_services import CondorService, condor_service_or_skip

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
