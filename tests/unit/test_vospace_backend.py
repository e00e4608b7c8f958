"""The vos backend's own promises: retries, verified transfers, error mapping, lazy import.

These need the loopback service's fault injection, so they are not part of the contract suite.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)
from canfar_tui.clients.bundle import start_sandbox_storage
from canfar_tui.clients.storage.loopback import RunningVOSpace, start_server
from canfar_tui.clients.storage.vospace import (
    ChecksumMismatch,
    RetryPolicy,
    VOSpaceStorage,
    map_error,
)

NO_WAIT = RetryPolicy(attempts=4, first_delay=0.0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningVOSpace]:
    running = start_server(tmp_path / "root")
    yield running
    running.stop()


@pytest.fixture
async def storage(server: RunningVOSpace, tmp_path: Path) -> AsyncIterator[VOSpaceStorage]:
    client = VOSpaceStorage.for_sandbox(server, tmp_path / "vos-home", retry=NO_WAIT)
    yield client
    await client.aclose()


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".tmp")))


# --------------------------------------------------------------------------- interrupted transfers


async def test_a_download_cut_off_mid_file_is_resumed_and_verified(
    server: RunningVOSpace, storage: VOSpaceStorage, tmp_path: Path
) -> None:
    md5 = random_file(tmp_path / "big.fits", 1_500_000)
    await storage.upload(tmp_path / "big.fits", f"{storage.home_uri}/big.fits")
    server.faults.cut_downloads(2, after_bytes=400_000)
    seen: list[int] = []

    path = await storage.download(
        f"{storage.home_uri}/big.fits", tmp_path / "back.fits", progress=lambda d, t: seen.append(d)
    )

    assert server.faults.downloads_cut == 2
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
    assert seen[-1] == 1_500_000
    assert leftovers(tmp_path) == []


async def test_a_download_that_keeps_failing_leaves_nothing(
    server: RunningVOSpace, storage: VOSpaceStorage, tmp_path: Path
) -> None:
    random_file(tmp_path / "big.fits", 600_000)
    await storage.upload(tmp_path / "big.fits", f"{storage.home_uri}/big.fits")
    server.faults.cut_downloads(50, after_bytes=1000)
    target = tmp_path / "out"
    target.mkdir()

    with pytest.raises(Unavailable) as caught:
        await storage.download(f"{storage.home_uri}/big.fits", target / "big.fits")

    assert caught.value.transient
    assert list(target.iterdir()) == []


async def test_an_upload_corrupted_in_transit_is_retried(
    server: RunningVOSpace, storage: VOSpaceStorage, tmp_path: Path
) -> None:
    md5 = random_file(tmp_path / "cat.fits", 300_000)
    server.faults.corrupt_uploads(1)
    node = await storage.upload(tmp_path / "cat.fits", f"{storage.home_uri}/cat.fits")
    assert server.faults.uploads_corrupted == 1
    assert node.md5 == md5
    stored = server.root / server.username / "cat.fits"
    assert hashlib.md5(stored.read_bytes()).hexdigest() == md5


async def test_an_upload_that_stays_corrupted_is_reported_and_nothing_is_kept(
    server: RunningVOSpace, storage: VOSpaceStorage, tmp_path: Path
) -> None:
    random_file(tmp_path / "cat.fits", 300_000)
    server.faults.corrupt_uploads(100)

    with pytest.raises(ChecksumMismatch) as caught:
        await storage.upload(tmp_path / "cat.fits", f"{storage.home_uri}/cat.fits")

    assert "MD5" in caught.value.message
    assert isinstance(caught.value, Unavailable)
    assert not (server.root / server.username / "cat.fits").exists()
    assert list((server.root / ".vospace-tmp").iterdir()) == []
    with pytest.raises(NotFound):
        await storage.stat(f"{storage.home_uri}/cat.fits")


async def test_transient_503_is_retried(server: RunningVOSpace, storage: VOSpaceStorage) -> None:
    await storage.stat(storage.home_uri)  # build the client first
    server.faults.fail_requests(503, times=2, endpoint="nodes")
    node = await storage.stat(storage.home_uri)
    assert node.is_container
    assert server.faults.requests_failed == 2


async def test_persistent_503_is_unavailable(
    server: RunningVOSpace, storage: VOSpaceStorage
) -> None:
    await storage.stat(storage.home_uri)
    server.faults.fail_requests(503, times=50, endpoint="nodes")
    with pytest.raises(Unavailable) as caught:
        await storage.stat(storage.home_uri)
    assert caught.value.transient
    assert "\n" not in caught.value.message


async def test_a_stopped_service_is_unavailable(
    server: RunningVOSpace, storage: VOSpaceStorage
) -> None:
    await storage.stat(storage.home_uri)
    server.stop()
    with pytest.raises(Unavailable):
        await storage.list_nodes(storage.home_uri)


async def test_no_service_at_all_is_unavailable(tmp_path: Path) -> None:
    with start_server(tmp_path / "root") as server:
        client = VOSpaceStorage.for_sandbox(server, tmp_path / "vos-home", retry=NO_WAIT)
    with pytest.raises(Unavailable):
        await client.stat(client.home_uri)
    await client.aclose()


# --------------------------------------------------------------------------- quota, auth, names


async def test_quota_usage_and_quota_exceeded(tmp_path: Path) -> None:
    with start_server(tmp_path / "root", quota_bytes=100_000) as server:
        client = VOSpaceStorage.for_sandbox(server, tmp_path / "vos-home", retry=NO_WAIT)
        try:
            random_file(tmp_path / "a", 60_000)
            await client.upload(tmp_path / "a", f"{client.home_uri}/a")
            quota = await client.quota()
            assert (quota.used_bytes, quota.quota_bytes) == (60_000, 100_000)
            with pytest.raises(QuotaExceeded):
                await client.upload(tmp_path / "a", f"{client.home_uri}/b")
            assert not (server.root / server.username / "b").exists()
        finally:
            await client.aclose()


async def test_token_authentication(tmp_path: Path) -> None:
    with start_server(tmp_path / "root", token="t0ken") as server:
        server.prepare_client_home(tmp_path / "vos-home")
        good = VOSpaceStorage(
            server.home_uri, token="t0ken", config_home=tmp_path / "vos-home", retry=NO_WAIT
        )
        bad = VOSpaceStorage(
            server.home_uri, token="wrong", config_home=tmp_path / "vos-home", retry=NO_WAIT
        )
        try:
            assert (await good.stat(server.home_uri)).is_container
            with pytest.raises(AuthError):
                await bad.stat(server.home_uri)
            assert "t0ken" not in repr(good)
        finally:
            await good.aclose()
            await bad.aclose()


async def test_a_missing_certificate_is_an_auth_error(tmp_path: Path) -> None:
    client = VOSpaceStorage("vos:someone", certificate=tmp_path / "nope.pem")
    with pytest.raises(AuthError):
        await client.stat("vos:someone")
    await client.aclose()


async def test_deleting_or_moving_the_home_is_refused(storage: VOSpaceStorage) -> None:
    with pytest.raises(InvalidInput):
        await storage.delete(storage.home_uri, recursive=True)
    with pytest.raises(InvalidInput):
        await storage.move(storage.home_uri, "vos:elsewhere")


async def test_paths_with_dot_dot_never_reach_the_service(
    server: RunningVOSpace, storage: VOSpaceStorage
) -> None:
    for uri in ("vos:sandbox-user/../x", "vos:sandbox-user/a/../../b", "vos:./x"):
        with pytest.raises(InvalidInput):
            await storage.stat(uri)


async def test_full_uris_are_accepted(server: RunningVOSpace, storage: VOSpaceStorage) -> None:
    await storage.mkdir(f"{storage.home_uri}/d")
    node = await storage.stat(server.node_uri(server.username, "d"))
    assert node.uri == f"{storage.home_uri}/d"


async def test_mkdir_conflict_message_is_one_line(storage: VOSpaceStorage) -> None:
    await storage.mkdir(f"{storage.home_uri}/x")
    with pytest.raises(Conflict) as caught:
        await storage.mkdir(f"{storage.home_uri}/x")
    assert "\n" not in caught.value.message


# --------------------------------------------------------------------------- threads and progress


async def test_progress_runs_on_the_event_loop_thread(
    storage: VOSpaceStorage, tmp_path: Path
) -> None:
    random_file(tmp_path / "f", 1_000_000)
    threads: set[int] = set()
    await storage.upload(
        tmp_path / "f",
        f"{storage.home_uri}/f",
        progress=lambda d, t: threads.add(threading.get_ident()),
    )
    await storage.download(
        f"{storage.home_uri}/f",
        tmp_path / "g",
        progress=lambda d, t: threads.add(threading.get_ident()),
    )
    assert threads == {threading.get_ident()}


async def test_a_cancelled_download_leaves_no_temp_file(
    server: RunningVOSpace, storage: VOSpaceStorage, tmp_path: Path
) -> None:
    random_file(tmp_path / "big", 2_000_000)
    await storage.upload(tmp_path / "big", f"{storage.home_uri}/big")
    target = tmp_path / "out"
    target.mkdir()
    server.faults.stall_downloads(1, after_bytes=512 * 1024)
    started = asyncio.Event()

    def on_progress(done: int, total: int | None) -> None:
        if done > 0:
            started.set()

    task = asyncio.create_task(
        storage.download(f"{storage.home_uri}/big", target / "big", progress=on_progress)
    )
    await started.wait()
    assert leftovers(target)  # the transfer is under way, into a temp file
    task.cancel()
    for _ in range(5):  # let the task run its cancellation (it flags the worker) ...
        await asyncio.sleep(0)
    server.faults.release()  # ... before the stalled bytes flow again
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(target.iterdir()) == []


async def test_a_closed_client_refuses_work(storage: VOSpaceStorage) -> None:
    await storage.aclose()
    await storage.aclose()
    with pytest.raises(Unavailable):
        await storage.stat(storage.home_uri)


async def test_the_registry_override_is_restored(storage: VOSpaceStorage) -> None:
    from cadcutils.net import ws
    from cadcutils.util import utils

    before = (ws.CACHE_LOCATION, utils.CADC_CACHE_DIR)
    await storage.stat(storage.home_uri)
    assert before == (ws.CACHE_LOCATION, utils.CADC_CACHE_DIR)


async def test_start_sandbox_owns_its_service(tmp_path: Path) -> None:
    client = start_sandbox_storage(tmp_path / "data", retry=NO_WAIT)
    random_file(tmp_path / "f", 10)
    node = await client.upload(tmp_path / "f", f"{client.home_uri}/f")
    assert (tmp_path / "data" / "vospace" / "sandbox-user" / "f").exists()
    assert node.size == 10
    await client.aclose()
    again = VOSpaceStorage.for_sandbox(
        start_server(tmp_path / "data" / "vospace"),
        tmp_path / "data" / "vos-client",
        owns_server=True,
        retry=NO_WAIT,
    )
    assert [n.name for n in await again.list_nodes(again.home_uri)] == ["f"]  # kept on disk
    await again.aclose()


def test_labels(server: RunningVOSpace, tmp_path: Path) -> None:
    assert VOSpaceStorage.for_sandbox(server, tmp_path / "vos-home").backend_label == "SANDBOX"
    assert VOSpaceStorage("vos:alice").backend_label == "CADC VOSpace"
    assert VOSpaceStorage("vos:alice", label="arbutus").backend_label == "arbutus"
    assert VOSpaceStorage("vos:alice").home_uri == "vos:alice"


def test_importing_the_backend_does_not_import_vos() -> None:
    code = (
        "import json, sys, canfar_tui.clients.storage.vospace,"
        " canfar_tui.clients.storage.loopback;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('vos', 'cadcutils', 'requests', 'textual'))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(output) == []


# --------------------------------------------------------------------------- error mapping


def test_error_mapping() -> None:
    import requests
    from cadcutils import exceptions as cadc

    cases: list[tuple[BaseException, type[ClientError]]] = [
        (cadc.NotFoundException("gone"), NotFound),
        (cadc.UnauthorizedException("who"), AuthError),
        (cadc.ForbiddenException("no"), AuthError),
        (cadc.AlreadyExistsException("dup"), Conflict),
        (cadc.ByteLimitException("full"), QuotaExceeded),
        (cadc.BadRequestException("bad"), InvalidInput),
        (cadc.InternalServerException("boom"), ClientError),
        (cadc.TransferException("cut"), Unavailable),
        (requests.ConnectionError("refused"), Unavailable),
        (requests.Timeout("slow"), Unavailable),
        (OSError(2, "vos://x: NodeNotFound"), NotFound),
        (OSError(14, "vos://x: DuplicateNode"), Conflict),
        (OSError(14, "vos://x: PermissionDenied"), AuthError),
        (RuntimeError("Expired cert. Update by running cadc-get-cert"), AuthError),
        (ValueError("surprise\nwith two lines"), ClientError),
    ]
    for exc, kind in cases:
        mapped = map_error(exc, "vos:alice/x", "testing")
        assert isinstance(mapped, kind), (exc, mapped)
        assert "\n" not in mapped.message
