"""The StorageClient contract: what every VOSpace backend must do, tested through the Protocol.

The ``storage`` fixture is parametrised over backends. Today: the ``vos`` backend (the real
``vos`` client library) against the project's loopback VOSpace service, and a real profile's
VOSpace (:func:`~canfar_tui.clients.bundle.build_real_storage`: HTTPS, the proxy certificate
from the installed ``cadc-get-cert -n``, the user's registry cache) against the CADC replica's
vault (``scripts/cadc/start.sh``; ``vault-replica`` skips without it). A real service is
added by setting ``CANFAR_TUI_TEST_VOSPACE`` to a folder the tests may fill and empty (e.g.
``vos:alice/canfar-tui-tests``) and, optionally, ``CANFAR_TUI_TEST_VOSPACE_CERT`` (default
``~/.ssl/cadcproxy.pem``). Every test works inside its own scratch folder (``storage.base``),
which is deleted afterwards.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cadc_services import CadcService, cadc_service_or_skip

from canfar_tui.clients.base import (
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    StorageClient,
)
from canfar_tui.clients.bundle import build_real_storage
from canfar_tui.clients.storage.loopback import start_server
from canfar_tui.clients.storage.vospace import RetryPolicy, VOSpaceStorage
from canfar_tui.config import Profile
from canfar_tui.models import StorageNode, StorageQuota

REAL_VOSPACE = os.environ.get("CANFAR_TUI_TEST_VOSPACE")
BACKENDS = [
    "vos-loopback",
    pytest.param("vault-replica", marks=pytest.mark.integration),
] + (["vos-real"] if REAL_VOSPACE else [])


@pytest.fixture(scope="module")
def replica_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[CadcService, Path]:
    """The CADC replica and a HOME logged in to it (``cadc-get-cert -n``), once per module."""
    service = cadc_service_or_skip()
    home = service.new_home(tmp_path_factory.mktemp("vault-replica") / "home")
    service.login(home)
    return service, home


@dataclass
class StorageCase:
    """A backend under test and the scratch folder the test may use."""

    client: StorageClient
    base: str

    def uri(self, *names: str) -> str:
        return "/".join((self.base, *names))


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageCase]:
    if request.param == "vos-loopback":
        server = start_server(tmp_path / "service-root")
        client: StorageClient = VOSpaceStorage.for_sandbox(
            server, tmp_path / "client-home", retry=RetryPolicy(first_delay=0.0)
        )
        base = f"{client.home_uri}/contract"
        try:
            await client.mkdir(base)
            yield StorageCase(client, base)
        finally:
            await client.aclose()
            server.stop()
    elif request.param == "vault-replica":
        service, home = request.getfixturevalue("replica_home")
        service.trust_in_process(request.getfixturevalue("monkeypatch"))
        profile = Profile(
            name="cadc",
            kind="canfar",
            username=service.user,
            certificate=home / ".ssl" / "cadcproxy.pem",
        )
        client = build_real_storage(profile, home=home)
        base = f"{client.home_uri}/contract-{uuid.uuid4().hex[:8]}"
        try:
            await client.mkdir(base)
            yield StorageCase(client, base)
        finally:
            try:
                await client.delete(base, recursive=True)
            finally:
                await client.aclose()
    else:
        assert REAL_VOSPACE is not None
        certificate = Path(
            os.environ.get("CANFAR_TUI_TEST_VOSPACE_CERT", "~/.ssl/cadcproxy.pem")
        ).expanduser()
        home = REAL_VOSPACE.split("/", 1)[0]
        client = VOSpaceStorage(home, certificate=certificate)
        base = f"{REAL_VOSPACE.rstrip('/')}/contract-{uuid.uuid4().hex[:8]}"
        try:
            await client.mkdir(base)
            yield StorageCase(client, base)
        finally:
            try:
                await client.delete(base, recursive=True)
            finally:
                await client.aclose()


def write_file(path: Path, size: int, seed: int = 1) -> str:
    """Write ``size`` reproducible bytes; return their MD5."""
    block = hashlib.sha256(str(seed).encode()).digest() * 4096
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def names(nodes: list[StorageNode] | tuple[StorageNode, ...] | object) -> list[str]:
    assert isinstance(nodes, list | tuple)
    return [node.name for node in nodes]


# --------------------------------------------------------------------------- identity


async def test_is_a_storage_client_with_a_home_folder(storage: StorageCase) -> None:
    client = storage.client
    assert isinstance(client, StorageClient)
    assert client.backend_label
    home = await client.stat(client.home_uri)
    assert home.is_container
    assert home.uri == client.home_uri
    base = await client.stat(storage.base)
    assert base.is_container and base.name == storage.base.rsplit("/", 1)[1]


# --------------------------------------------------------------------------- folders


async def test_mkdir_creates_a_listed_folder(storage: StorageCase) -> None:
    created = await storage.client.mkdir(storage.uri("raw"))
    assert created.is_container
    assert created.uri == storage.uri("raw")
    assert created.name == "raw"
    assert names(await storage.client.list_nodes(storage.base)) == ["raw"]
    assert (await storage.client.stat(storage.uri("raw"))).is_container


async def test_mkdir_of_an_existing_node_is_a_conflict(storage: StorageCase) -> None:
    await storage.client.mkdir(storage.uri("raw"))
    with pytest.raises(Conflict):
        await storage.client.mkdir(storage.uri("raw"))


async def test_mkdir_without_parent_is_not_found(storage: StorageCase) -> None:
    with pytest.raises(NotFound):
        await storage.client.mkdir(storage.uri("missing", "child"))


async def test_stat_of_a_missing_node_is_not_found(storage: StorageCase) -> None:
    with pytest.raises(NotFound) as caught:
        await storage.client.stat(storage.uri("nothing-here"))
    assert "\n" not in caught.value.message
    assert isinstance(caught.value, ClientError)


async def test_list_is_in_name_order_and_pages(storage: StorageCase) -> None:
    wanted = ["c", "a", "g", "e", "b", "f", "d"]
    for name in wanted:
        await storage.client.mkdir(storage.uri(name))
    everything = names(await storage.client.list_nodes(storage.base))
    assert everything == sorted(wanted)
    assert names(await storage.client.list_nodes(storage.base, limit=3)) == ["a", "b", "c"]
    assert names(await storage.client.list_nodes(storage.base, limit=0)) == []
    after_c = await storage.client.list_nodes(storage.base, limit=3, start_after="c")
    assert names(after_c) == ["d", "e", "f"]
    assert names(await storage.client.list_nodes(storage.base, start_after="f")) == ["g"]
    assert names(await storage.client.list_nodes(storage.base, start_after="g")) == []

    paged: list[str] = []
    start: str | None = None
    while True:
        page = await storage.client.list_nodes(storage.base, limit=2, start_after=start)
        paged.extend(names(page))
        if len(page) < 2:
            break
        start = page[-1].name
    assert paged == sorted(wanted)


async def test_listing_a_missing_folder_is_not_found(storage: StorageCase) -> None:
    with pytest.raises(NotFound):
        await storage.client.list_nodes(storage.uri("missing"))


async def test_listing_a_file_is_invalid_input(storage: StorageCase, tmp_path: Path) -> None:
    write_file(tmp_path / "one.txt", 10)
    await storage.client.upload(tmp_path / "one.txt", storage.uri("one.txt"))
    with pytest.raises(InvalidInput):
        await storage.client.list_nodes(storage.uri("one.txt"))


# --------------------------------------------------------------------------- transfers


async def test_upload_verifies_md5_reports_progress_and_is_listed(
    storage: StorageCase, tmp_path: Path
) -> None:
    local = tmp_path / "catalogue.cat"
    size = 3 * 1024 * 1024 + 17
    md5 = write_file(local, size)
    seen: list[tuple[int, int | None]] = []

    node = await storage.client.upload(
        local, storage.uri("catalogue.cat"), progress=lambda d, t: seen.append((d, t))
    )

    assert node.md5 == md5
    assert node.size == size
    assert not node.is_container
    assert node.uri == storage.uri("catalogue.cat")
    assert seen[-1] == (size, size)
    done = [d for d, _ in seen]
    assert max(done) == size
    listed = await storage.client.list_nodes(storage.base)
    assert [(n.name, n.md5, n.size) for n in listed] == [("catalogue.cat", md5, size)]


async def test_upload_into_a_folder_keeps_the_file_name(
    storage: StorageCase, tmp_path: Path
) -> None:
    md5 = write_file(tmp_path / "image.fits", 5000)
    node = await storage.client.upload(tmp_path / "image.fits", storage.base)
    assert node.uri == storage.uri("image.fits")
    assert node.md5 == md5


async def test_upload_replaces_an_existing_file(storage: StorageCase, tmp_path: Path) -> None:
    write_file(tmp_path / "a.txt", 100, seed=1)
    await storage.client.upload(tmp_path / "a.txt", storage.uri("a.txt"))
    md5 = write_file(tmp_path / "a.txt", 300, seed=2)
    node = await storage.client.upload(tmp_path / "a.txt", storage.uri("a.txt"))
    assert (node.md5, node.size) == (md5, 300)


async def test_empty_file_round_trip(storage: StorageCase, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    node = await storage.client.upload(tmp_path / "empty", storage.uri("empty"))
    assert node.size == 0
    back = await storage.client.download(storage.uri("empty"), tmp_path / "back")
    assert back.read_bytes() == b""


async def test_upload_of_a_missing_local_file_is_invalid_input(
    storage: StorageCase, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput):
        await storage.client.upload(tmp_path / "absent.txt", storage.uri("absent.txt"))
    assert names(await storage.client.list_nodes(storage.base)) == []


async def test_download_is_identical_and_reports_progress(
    storage: StorageCase, tmp_path: Path
) -> None:
    local = tmp_path / "up.bin"
    size = 2 * 1024 * 1024 + 5
    md5 = write_file(local, size, seed=7)
    await storage.client.upload(local, storage.uri("up.bin"))
    target_dir = tmp_path / "downloads"
    target_dir.mkdir()
    seen: list[tuple[int, int | None]] = []

    path = await storage.client.download(
        storage.uri("up.bin"), target_dir / "copy.bin", progress=lambda d, t: seen.append((d, t))
    )

    assert path == target_dir / "copy.bin"
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5
    assert seen[-1] == (size, size)
    assert sorted(p.name for p in target_dir.iterdir()) == ["copy.bin"]  # no temp file left


async def test_download_into_a_folder_uses_the_node_name(
    storage: StorageCase, tmp_path: Path
) -> None:
    write_file(tmp_path / "x.dat", 1000)
    await storage.client.upload(tmp_path / "x.dat", storage.uri("x.dat"))
    target = tmp_path / "into"
    target.mkdir()
    path = await storage.client.download(storage.uri("x.dat"), target)
    assert path == target / "x.dat"
    assert path.read_bytes() == (tmp_path / "x.dat").read_bytes()


async def test_download_of_a_missing_node_leaves_nothing(
    storage: StorageCase, tmp_path: Path
) -> None:
    target = tmp_path / "into"
    target.mkdir()
    with pytest.raises(NotFound):
        await storage.client.download(storage.uri("missing.fits"), target / "missing.fits")
    assert list(target.iterdir()) == []


async def test_download_of_a_folder_is_invalid_input(storage: StorageCase, tmp_path: Path) -> None:
    await storage.client.mkdir(storage.uri("folder"))
    with pytest.raises(InvalidInput):
        await storage.client.download(storage.uri("folder"), tmp_path / "folder")


# --------------------------------------------------------------------------- delete and move


async def test_delete_a_file(storage: StorageCase, tmp_path: Path) -> None:
    write_file(tmp_path / "f", 10)
    await storage.client.upload(tmp_path / "f", storage.uri("f"))
    await storage.client.delete(storage.uri("f"))
    with pytest.raises(NotFound):
        await storage.client.stat(storage.uri("f"))


async def test_delete_of_a_missing_node_is_not_found(storage: StorageCase) -> None:
    with pytest.raises(NotFound):
        await storage.client.delete(storage.uri("ghost"))


async def test_delete_of_a_full_folder_needs_recursive(
    storage: StorageCase, tmp_path: Path
) -> None:
    await storage.client.mkdir(storage.uri("run"))
    await storage.client.mkdir(storage.uri("run", "deep"))
    write_file(tmp_path / "f", 10)
    await storage.client.upload(tmp_path / "f", storage.uri("run", "deep", "f"))

    with pytest.raises(Conflict):
        await storage.client.delete(storage.uri("run"))
    assert names(await storage.client.list_nodes(storage.uri("run"))) == ["deep"]

    await storage.client.delete(storage.uri("run"), recursive=True)
    assert names(await storage.client.list_nodes(storage.base)) == []


async def test_delete_of_an_empty_folder(storage: StorageCase) -> None:
    await storage.client.mkdir(storage.uri("empty"))
    await storage.client.delete(storage.uri("empty"))
    assert names(await storage.client.list_nodes(storage.base)) == []


async def test_move_renames(storage: StorageCase, tmp_path: Path) -> None:
    md5 = write_file(tmp_path / "f", 1234)
    await storage.client.upload(tmp_path / "f", storage.uri("old.txt"))
    moved = await storage.client.move(storage.uri("old.txt"), storage.uri("new.txt"))
    assert moved.uri == storage.uri("new.txt")
    assert moved.md5 == md5
    assert names(await storage.client.list_nodes(storage.base)) == ["new.txt"]


async def test_move_into_a_folder(storage: StorageCase, tmp_path: Path) -> None:
    write_file(tmp_path / "f", 10)
    await storage.client.upload(tmp_path / "f", storage.uri("f.txt"))
    await storage.client.mkdir(storage.uri("archive"))
    moved = await storage.client.move(storage.uri("f.txt"), storage.uri("archive"))
    assert moved.uri == storage.uri("archive", "f.txt")
    assert names(await storage.client.list_nodes(storage.uri("archive"))) == ["f.txt"]


async def test_move_a_folder(storage: StorageCase) -> None:
    await storage.client.mkdir(storage.uri("a"))
    await storage.client.mkdir(storage.uri("a", "inner"))
    moved = await storage.client.move(storage.uri("a"), storage.uri("b"))
    assert moved.is_container
    assert names(await storage.client.list_nodes(storage.uri("b"))) == ["inner"]


async def test_move_onto_an_existing_file_is_a_conflict(
    storage: StorageCase, tmp_path: Path
) -> None:
    write_file(tmp_path / "f", 10)
    await storage.client.upload(tmp_path / "f", storage.uri("one"))
    await storage.client.upload(tmp_path / "f", storage.uri("two"))
    with pytest.raises(Conflict):
        await storage.client.move(storage.uri("one"), storage.uri("two"))
    assert names(await storage.client.list_nodes(storage.base)) == ["one", "two"]


async def test_move_of_a_missing_node_is_not_found(storage: StorageCase) -> None:
    with pytest.raises(NotFound):
        await storage.client.move(storage.uri("ghost"), storage.uri("still-ghost"))


async def test_move_of_a_folder_into_itself_is_refused(storage: StorageCase) -> None:
    await storage.client.mkdir(storage.uri("loop"))
    with pytest.raises(InvalidInput):
        await storage.client.move(storage.uri("loop"), storage.uri("loop", "inner"))


# --------------------------------------------------------------------------- quota and names


async def test_quota_reports_usage(storage: StorageCase, tmp_path: Path) -> None:
    quota = await storage.client.quota()
    assert isinstance(quota, StorageQuota)
    assert quota.used_bytes >= 0
    assert quota.quota_bytes is None or quota.quota_bytes > 0


async def test_dot_dot_in_a_path_is_refused(storage: StorageCase) -> None:
    with pytest.raises(InvalidInput):
        await storage.client.stat(storage.uri("..", "..", "etc"))
    with pytest.raises(InvalidInput):
        await storage.client.mkdir(storage.uri("a", "..", "b"))
