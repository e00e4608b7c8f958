"""The real-profile archive (``CadcArchive`` on cadcdata's public API) against the CADC replica.

Every test goes through the path an astronomer's profile takes: :func:`build_archive` with
``Profile(kind="canfar", certificate=…)`` — the certificate made by the real ``cadc-get-cert``
from the replica's credential service — or the ``canfar-tui get`` command itself, as a
subprocess. cadcutils checks servers against ``certifi.where()`` (requests' default bundle) and
ignores ``REQUESTS_CA_BUNDLE``, so in this process the fixture :func:`trusting_the_replica`
points those at the replica's CA bundle, and the subprocesses get the replica's ``certifi``
on ``PYTHONPATH``. The replica's test archives (``CORRUPTED``, ``SLOW``, ``ENCODED``: see
``scripts/cadc/README.md``) reproduce what a network or a server can do to a download.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cadc_services import CadcService, cadc_service_or_skip

from canfar_tui.clients.archive.base import ArchiveChecksumMismatch
from canfar_tui.clients.archive.cadc import STAGING_SUFFIX, CadcArchive
from canfar_tui.clients.base import AuthError, NotFound, Unavailable
from canfar_tui.clients.bundle import build_archive
from canfar_tui.config import Profile, Settings, load_settings

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SEED = "cadc:CFHT/1056213p.fits.fz"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (BIN / "cadc-get-cert").exists(),
        reason="cadc-get-cert (cadcutils) is not installed next to this Python",
    ),
]


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.fixture
def cadc_service() -> CadcService:
    """The running replica; skips without it (fails when services are required)."""
    return cadc_service_or_skip()


@pytest.fixture
def cadc_home(cadc_service: CadcService, isolated_home: Path) -> Path:
    """The test's HOME holding the replica's registry and version caches (no secret)."""
    return cadc_service.new_home(isolated_home)


@pytest.fixture
def proxy_certificate(cadc_service: CadcService, cadc_home: Path) -> Path:
    """``~/.ssl/cadcproxy.pem`` made by the real ``cadc-get-cert -n`` (password in ~/.netrc)."""
    netrc = cadc_home / ".netrc"
    fd = os.open(netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            f"machine {cadc_service.host} login {cadc_service.user} "
            f"password {cadc_service.password()}\n"
        )
    result = subprocess.run(
        [str(BIN / "cadc-get-cert"), "-n"],
        env=cadc_service.client_env(cadc_home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    certificate = cadc_home / ".ssl" / "cadcproxy.pem"
    assert certificate.is_file(), (result.stdout, result.stderr)
    return certificate


def _point_cadcutils_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cadcutils read HOME at import: its registry and version caches go to ``home``."""
    import cadcutils.net.ws as ws
    import cadcutils.util.utils as cadc_util

    monkeypatch.setattr(ws, "CACHE_LOCATION", str(home / ".config" / "cadc-registry"))
    monkeypatch.setattr(cadc_util, "CADC_CACHE_DIR", str(home / ".config"))


@pytest.fixture
def trusting_the_replica(
    cadc_service: CadcService, cadc_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """cadcutils in this process trusts the replica's test CA and reads its registry."""
    import certifi
    import requests.adapters
    import requests.utils

    bundle = str(cadc_service.ca_bundle)
    monkeypatch.setattr(certifi, "where", lambda: bundle)
    # requests read certifi.where() when it was imported; cadcutils verifies with that path.
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", bundle)
    monkeypatch.setattr(requests.utils, "DEFAULT_CA_BUNDLE_PATH", bundle)
    _point_cadcutils_at(cadc_home, monkeypatch)
    return cadc_home


def real_settings(certificate: Path, *, verify_tls: bool = True) -> Settings:
    """The settings of an astronomer's CANFAR profile holding ``certificate``."""
    profile = Profile(name="canfar", kind="canfar", certificate=certificate, verify_tls=verify_tls)
    return replace(load_settings(), profile=profile)


def real_archive(certificate: Path, *, verify_tls: bool = True) -> CadcArchive:
    archive = build_archive(real_settings(certificate, verify_tls=verify_tls))
    assert isinstance(archive, CadcArchive)
    assert archive.certificate == certificate and archive.verify_tls is verify_tls
    return archive


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


@pytest.fixture
def test_archive(cadc_service: CadcService) -> Iterator[Path]:
    """Files placed in the replica's test archives are removed afterwards."""
    placed: list[Path] = []

    class Placer:
        def put(self, archive: str, name: str, data: bytes) -> str:
            folder = cadc_service.archive_root / archive
            folder.mkdir(exist_ok=True)
            path = folder / name
            path.write_bytes(data)
            placed.append(path)
            return f"cadc:{archive}/{name}"

    yield Placer()  # type: ignore[misc]
    for path in placed:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # another test may still use the folder
            path.parent.rmdir()


def unique(suffix: str) -> str:
    return f"t{uuid.uuid4().hex[:10]}{suffix}"


def everything_in(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def seed_bytes(cadc_service: CadcService) -> bytes:
    return (cadc_service.archive_root / "CFHT" / "1056213p.fits.fz").read_bytes()


# --------------------------------------------------------------------------- CadcArchive


@pytest.mark.usefixtures("trusting_the_replica")
async def test_a_real_profile_downloads_the_seed_exposure_with_its_md5(
    cadc_service: CadcService, proxy_certificate: Path, scratch: Path
) -> None:
    archive = real_archive(proxy_certificate)
    seen: list[tuple[int, int | None]] = []
    try:
        info = await archive.info(SEED)
        path = await archive.download(SEED, scratch, progress=lambda d, t: seen.append((d, t)))
    finally:
        await archive.aclose()

    original = cadc_service.archive_root / "CFHT" / "1056213p.fits.fz"
    assert path == scratch / "1056213p.fits.fz"
    assert md5_of(path) == md5_of(original) == info.md5
    assert path.stat().st_size == original.stat().st_size == info.size
    assert seen[0] == (0, info.size) and seen[-1] == (info.size, info.size)
    assert everything_in(scratch) == ["1056213p.fits.fz"], "no temp file or folder is left"


@pytest.mark.usefixtures("trusting_the_replica")
async def test_a_missing_file_is_one_line_not_found(proxy_certificate: Path, scratch: Path) -> None:
    archive = real_archive(proxy_certificate)
    with pytest.raises(NotFound) as caught:
        await archive.download("cadc:CFHT/0000000p.fits.fz", scratch)
    assert caught.value.message == "Not in the CADC archive: cadc:CFHT/0000000p.fits.fz"
    assert everything_in(scratch) == []


@pytest.mark.usefixtures("trusting_the_replica")
async def test_bytes_corrupted_in_transit_leave_nothing_at_the_destination(
    cadc_service: CadcService, proxy_certificate: Path, scratch: Path, test_archive: object
) -> None:
    name = unique(".fits.fz")
    uri = test_archive.put("CORRUPTED", name, seed_bytes(cadc_service))  # type: ignore[attr-defined]
    earlier = scratch / name
    earlier.write_bytes(b"the copy the user had before")
    archive = real_archive(proxy_certificate)

    with pytest.raises(ArchiveChecksumMismatch) as caught:
        await archive.download(uri, scratch)

    assert caught.value.message == (
        f"{uri}: the bytes received do not match the archive's MD5; nothing was kept"
    )
    assert everything_in(scratch) == [name], "no temp file or folder is left"
    assert earlier.read_bytes() == b"the copy the user had before"


@pytest.mark.usefixtures("trusting_the_replica")
async def test_a_content_encoding_is_not_decoded(
    proxy_certificate: Path, scratch: Path, test_archive: object
) -> None:
    stored = gzip.compress(b"NUMBER X_IMAGE Y_IMAGE\n1 10.0 20.0\n" * 200)
    name = unique(".cat.gz")
    uri = test_archive.put("ENCODED", name, stored)  # type: ignore[attr-defined]
    archive = real_archive(proxy_certificate)

    path = await archive.download(uri, scratch)

    assert path.read_bytes() == stored, "the archive's bytes, as stored (MD5 and size match)"


@pytest.mark.usefixtures("trusting_the_replica")
async def test_a_slow_download_reports_progress_and_cancelling_keeps_nothing(
    cadc_service: CadcService, proxy_certificate: Path, scratch: Path, test_archive: object
) -> None:
    data = seed_bytes(cadc_service)  # about 2 MB: 4 s at the SLOW archive's pace
    name = unique(".fits.fz")
    uri = test_archive.put("SLOW", name, data)  # type: ignore[attr-defined]
    archive = real_archive(proxy_certificate)
    halfway = asyncio.Event()
    seen: list[int] = []

    def progress(done: int, total: int | None) -> None:
        seen.append(done)
        if total and total // 4 < done < total:
            halfway.set()

    task = asyncio.create_task(archive.download(uri, scratch, progress=progress))
    await asyncio.wait_for(halfway.wait(), 30)
    staging = [p for p in everything_in(scratch) if p.endswith(STAGING_SUFFIX)]
    assert len(staging) == 1 and staging[0].startswith(f".{name}.")
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert time.monotonic() - started < 2, "cancelling returns at once"
    assert len(set(seen)) > 2, "progress was reported while the bytes arrived"
    # The abandoned transfer runs on until cadcutils ends it; nothing ever takes the name.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert not (scratch / name).exists()
        if not everything_in(scratch):
            break
        await asyncio.sleep(0.2)
    assert everything_in(scratch) == []
    await asyncio.sleep(len(data) / (512 * 1024))  # past the end of the abandoned transfer
    assert everything_in(scratch) == []


@pytest.mark.usefixtures("trusting_the_replica")
async def test_the_profile_certificate_is_presented(
    tmp_path: Path, scratch: Path, cadc_service: CadcService
) -> None:
    from cadc_replica.pki import Pki

    stranger = Pki(tmp_path / "other-ca")  # a CA the replica does not know
    stranger.ensure()
    certificate = tmp_path / "stranger.pem"
    certificate.write_text(stranger.proxy_certificate(cadc_service.user, 10))
    archive = real_archive(certificate)

    with pytest.raises(AuthError) as caught:
        await archive.download(SEED, scratch)

    assert caught.value.message == (
        f"The CADC archive refused your certificate for {SEED}: renew it with cadc-get-cert"
    )
    assert everything_in(scratch) == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_verify_tls_false_is_insecure_and_true_checks_the_server(
    cadc_service: CadcService,
    cadc_home: Path,
    proxy_certificate: Path,
    scratch: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This process does not trust the replica's CA: only verify_tls = false gets through.
    _point_cadcutils_at(cadc_home, monkeypatch)
    with pytest.raises(Unavailable) as refused:
        await real_archive(proxy_certificate).download(SEED, scratch)
    assert refused.value.message == (
        f"Cannot reach the CADC archive for {SEED}: "
        f"{cadc_service.url}/raven/capabilities did not answer"
    )

    path = await real_archive(proxy_certificate, verify_tls=False).download(SEED, scratch)
    assert everything_in(scratch) == ["1056213p.fits.fz"] and path.stat().st_size > 0

    # With the services' descriptions now cached, the check fails on the file itself.
    path.unlink()
    with pytest.raises(AuthError) as caught:
        await real_archive(proxy_certificate).download(SEED, scratch)
    assert caught.value.message == (
        f"TLS failure while fetching {SEED}: the CADC server's certificate could not be verified"
    )
    assert everything_in(scratch) == []


# --------------------------------------------------------------------------- canfar-tui get


def run_cli_get(
    cadc_service: CadcService, home: Path, certificate: Path, *argv: str
) -> subprocess.CompletedProcess[str]:
    """``canfar-tui get`` with a real profile holding ``certificate``, as a user runs it."""
    config = home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        'default_profile = "canfar"\n\n'
        "[profiles.canfar]\n"
        'kind = "canfar"\n'
        f'certificate = "{certificate}"\n'
    )
    env = cadc_service.client_env(home)
    env["PYTHONPATH"] = f"{cadc_service.pythonpath}{os.pathsep}{REPO}"
    for variable, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        env[variable] = str(home / sub)
    env.pop("CANFAR_TUI_FAULTS", None)
    return subprocess.run(
        [sys.executable, "-m", "canfar_tui", "get", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_cli_get_with_a_real_profile_fetches_from_cadc(
    cadc_service: CadcService, cadc_home: Path, proxy_certificate: Path, scratch: Path
) -> None:
    result = run_cli_get(cadc_service, cadc_home, proxy_certificate, SEED, "-o", str(scratch))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(scratch / "1056213p.fits.fz")
    assert "sandbox" not in result.stderr
    original = cadc_service.archive_root / "CFHT" / "1056213p.fits.fz"
    assert md5_of(scratch / "1056213p.fits.fz") == md5_of(original)
    assert not (cadc_home / ".local" / "share" / "canfar-tui" / "sandbox").exists()


def test_cli_get_uses_the_profile_certificate_and_never_the_sandbox(
    cadc_service: CadcService, cadc_home: Path, tmp_path: Path, scratch: Path
) -> None:
    from cadc_replica.pki import Pki

    stranger = Pki(tmp_path / "other-ca")
    stranger.ensure()
    certificate = tmp_path / "stranger.pem"
    certificate.write_text(stranger.proxy_certificate(cadc_service.user, 10))

    # The sandbox holds 1056213p and 1056215p; a silent fallback would have "succeeded".
    result = run_cli_get(
        cadc_service, cadc_home, certificate, SEED, "CFHT/0000000p.fits.fz", "-o", str(scratch)
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"canfar-tui: The CADC archive refused your certificate for {SEED}: "
        "renew it with cadc-get-cert",
        "canfar-tui: The CADC archive refused your certificate for cadc:CFHT/0000000p.fits.fz: "
        "renew it with cadc-get-cert",
    ]
    assert everything_in(scratch) == []
    assert not (cadc_home / ".local" / "share" / "canfar-tui" / "sandbox").exists()


def test_cli_get_of_a_missing_file_says_cadc_not_sandbox(
    cadc_service: CadcService, cadc_home: Path, proxy_certificate: Path, scratch: Path
) -> None:
    result = run_cli_get(
        cadc_service, cadc_home, proxy_certificate, "cadc:CFHT/0000000p.fits.fz", "-o", str(scratch)
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "canfar-tui: Not in the CADC archive: cadc:CFHT/0000000p.fits.fz"
    ]
    assert everything_in(scratch) == []
    shutil.rmtree(scratch)
