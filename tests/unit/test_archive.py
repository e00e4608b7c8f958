"""CADC archive downloads: URI parsing, the sandbox archive, verified atomic writes, the CLI.

The sandbox archive is exercised for real (synthetic exposures generated with astropy, copied
with progress and MD5 checks). The CADC backend is exercised here on a stand-in for cadcdata's
public ``cadcinfo``/``cadcget`` (progress, MD5 against cadcinfo, retries resuming, cancellation,
error mapping, the profile's certificate); tests/integration/test_archive_replica.py runs it
against the CADC replica. Without ``cadcdata`` it must fail with one line saying how to get it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from canfar_tui.cli.get import add_get_arguments, run_get
from canfar_tui.clients.archive import cadc as cadc_module
from canfar_tui.clients.archive.base import (
    ArchiveChecksumMismatch,
    ArchiveClient,
    parse_archive_uri,
    receive_verified,
)
from canfar_tui.clients.archive.cadc import STAGING_SUFFIX, CadcArchive, map_archive_error
from canfar_tui.clients.archive.sandbox import SEED_FILE_IDS, SandboxArchive
from canfar_tui.clients.base import AuthError, InvalidInput, NotFound, Unavailable
from canfar_tui.clients.bundle import build_archive
from canfar_tui.config import Profile, Settings

SEED = "cadc:CFHT/1056213p.fits.fz"


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".tmp")))


@pytest.fixture(scope="module")
def generated_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox archive in which the seed exposure 1056213p has been generated once."""
    root = tmp_path_factory.mktemp("archive")
    asyncio.run(SandboxArchive(root).info(SEED))
    return root


@pytest.fixture
def archive_copy(generated_root: Path, tmp_path: Path) -> Path:
    """A private copy of the generated archive (tests may damage it)."""
    root = tmp_path / "archive"
    shutil.copytree(generated_root, root)
    return root


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("text", "scheme", "archive", "path", "name"),
    [
        (SEED, "cadc", "CFHT", "1056213p.fits.fz", "1056213p.fits.fz"),
        ("CFHT/1056215p.fits.fz", "cadc", "CFHT", "1056215p.fits.fz", "1056215p.fits.fz"),
        ("  mast:HST/product/x.fits ", "mast", "HST", "product/x.fits", "x.fits"),
    ],
)
def test_archive_uris_parse_like_cadcget(
    text: str, scheme: str, archive: str, path: str, name: str
) -> None:
    uri = parse_archive_uri(text)
    assert (uri.scheme, uri.archive, uri.path, uri.file_name) == (scheme, archive, path, name)
    assert str(uri) == f"{scheme}:{archive}/{path}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cadc:",
        "cadc:CFHT",
        "cadc:CFHT/",
        "cadc:CFHT/../etc/passwd",
        "cadc:CFHT/./x",
        "cadc://CFHT/x",
        "cadc:CFHT/x.fits?cutout=[1]",
        "cadc:CFHT/x\nfits",
        "cadc:CFHT\\x",
        ":CFHT/x",
    ],
)
def test_bad_archive_uris_are_one_line_errors(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_archive_uri(text)
    assert "\n" not in caught.value.message
    assert "cadc:CFHT/1056213p.fits.fz" in caught.value.message


# --------------------------------------------------------------------------- sandbox archive


async def test_the_seed_exposure_is_generated_on_first_use_and_downloaded_verified(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    archive = SandboxArchive(root)
    assert isinstance(archive, ArchiveClient)
    assert not root.exists(), "nothing is generated before it is asked for"
    dest = tmp_path / "scratch"
    dest.mkdir()
    seen: list[tuple[int, int | None]] = []

    path = await archive.download(SEED, dest, progress=lambda d, t: seen.append((d, t)))

    served = root / "CFHT" / "1056213p.fits.fz"
    assert path == dest / "1056213p.fits.fz"
    assert md5_of(path) == md5_of(served)
    info = await archive.info(SEED)
    assert info.md5 == md5_of(path) and info.size == path.stat().st_size
    assert seen[0][0] == 0 and seen[-1] == (info.size, info.size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert leftovers(dest) == [] and sorted(os.listdir(dest)) == ["1056213p.fits.fz"]
    assert sorted(p.name for p in (root / "CFHT").iterdir() if not p.name.startswith(".")) == [
        "1056213p.fits.fz"
    ], "only the exposure asked for is generated"
    assert not [p for p in (root / "CFHT").iterdir() if p.name.startswith(".generate-")]

    from astropy.io import fits

    with fits.open(path) as hdus:
        assert len(hdus) == 5
        assert [hdu.header["EXTNAME"] for hdu in hdus[1:]] == ["ccd00", "ccd01", "ccd02", "ccd03"]
        assert hdus[1].data.shape == (1024, 512)
        assert hdus[0].header["INSTRUME"] == "MegaPrime"


async def test_an_identical_local_copy_is_not_downloaded_again(
    archive_copy: Path, tmp_path: Path
) -> None:
    archive = SandboxArchive(archive_copy)
    dest = tmp_path / "scratch"
    dest.mkdir()
    first = await archive.download(SEED, dest)
    stamp = first.stat().st_mtime_ns
    again = await archive.download(SEED, dest)
    assert again == first and again.stat().st_mtime_ns == stamp
    first.write_bytes(b"stale")  # a different file of that name is replaced atomically
    replaced = await archive.download(SEED, dest)
    assert md5_of(replaced) == md5_of(archive_copy / "CFHT" / "1056213p.fits.fz")


async def test_a_file_the_archive_does_not_hold_is_not_found(
    archive_copy: Path, tmp_path: Path
) -> None:
    archive = SandboxArchive(archive_copy)
    with pytest.raises(NotFound) as caught:
        await archive.download("cadc:CFHT/9999999p.fits.fz", tmp_path)
    assert "1056213p" in caught.value.message and "\n" not in caught.value.message
    assert list(tmp_path.glob("9999999p*")) == []


async def test_any_file_placed_in_the_archive_folder_is_served(
    archive_copy: Path, tmp_path: Path
) -> None:
    (archive_copy / "JCMT").mkdir()
    (archive_copy / "JCMT" / "scan.sdf").write_bytes(b"scan bytes")
    path = await SandboxArchive(archive_copy).download("cadc:JCMT/scan.sdf", tmp_path)
    assert path.read_bytes() == b"scan bytes"


async def test_a_missing_destination_folder_is_invalid_input(archive_copy: Path) -> None:
    with pytest.raises(InvalidInput, match="No such local folder"):
        await SandboxArchive(archive_copy).download(SEED, archive_copy / "nowhere")


async def test_bytes_that_do_not_match_the_archive_md5_are_not_kept(
    archive_copy: Path, tmp_path: Path
) -> None:
    archive = SandboxArchive(archive_copy)
    await archive.info(SEED)  # the archive records the checksum
    served = archive_copy / "CFHT" / "1056213p.fits.fz"
    st = served.stat()
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0x01  # bit rot: same size, same time stamp
    served.write_bytes(bytes(data))
    os.utime(served, ns=(st.st_atime_ns, st.st_mtime_ns))

    dest = tmp_path / "scratch"
    dest.mkdir()
    with pytest.raises(ArchiveChecksumMismatch) as caught:
        await archive.download(SEED, dest)

    assert "MD5" in caught.value.message and "nothing was kept" in caught.value.message
    assert list(dest.iterdir()) == []


def test_receive_verified_refuses_a_short_transfer(tmp_path: Path) -> None:
    dest = tmp_path / "scratch"
    dest.mkdir()
    with pytest.raises(ArchiveChecksumMismatch, match="received 3 bytes"):
        receive_verified(
            [b"abc"],
            dest / "x.fits",
            expected_md5=None,
            expected_size=10,
            report=lambda *a, **k: None,
            cancel=threading.Event(),
            subject="cadc:CFHT/x.fits",
        )
    assert list(dest.iterdir()) == []


async def test_cancelling_a_download_leaves_no_partial_file(
    archive_copy: Path, tmp_path: Path
) -> None:
    archive = SandboxArchive(archive_copy, bytes_per_second=400_000, chunk_size=32 * 1024)
    dest = tmp_path / "scratch"
    dest.mkdir()
    progressed = asyncio.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            progressed.set()

    task = asyncio.create_task(archive.download(SEED, dest, progress=progress))
    await asyncio.wait_for(progressed.wait(), 20)
    assert leftovers(dest), "the download is under way, in a temp file"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(dest.iterdir()) == []


async def test_two_fetches_of_a_new_exposure_generate_it_once(tmp_path: Path) -> None:
    archive = SandboxArchive(tmp_path / "archive")
    uri = "cadc:CFHT/1056215p.fits.fz"
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    a, b = await asyncio.gather(archive.download(uri, first), archive.download(uri, second))
    assert md5_of(a) == md5_of(b)
    assert len(list((tmp_path / "archive" / "CFHT").glob("*.fits.fz"))) == 1


_KILLED_MID_GENERATION = """
import asyncio, os, sys, time
from pathlib import Path
import canfar_tui.detection.synthetic as synthetic
from canfar_tui.clients.archive.sandbox import SandboxArchive

def stuck(path, *args, **kwargs):  # writes part of the exposure, then hangs until killed
    path.with_name(f".{path.name}.{os.getpid()}.tmp").write_bytes(b"partial" * 1000)
    print("writing", flush=True)
    time.sleep(120)

synthetic.write_synthetic_mef = stuck
asyncio.run(SandboxArchive(Path(sys.argv[1])).info(sys.argv[2]))
"""


async def test_a_generation_killed_by_sigkill_is_cleaned_by_the_next_start(
    tmp_path: Path,
) -> None:
    """Issue 16 item 12: ``get`` killed mid-generation left ``.generate-*/….tmp`` for good."""
    root = tmp_path / "archive"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_GENERATION, str(root), SEED],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    finally:
        child.kill()  # SIGKILL: no finally clause of the child runs
        child.wait(timeout=30)
    partial = list((root / "CFHT").glob(".generate-*/*.tmp"))
    assert len(partial) == 1, "the probe's leftover: a partial exposure in a generation folder"
    # a generation in progress in a live process (this one's child) is left alone
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        live = root / "CFHT" / f".generate-{sleeper.pid}-busy"
        live.mkdir()
        info = await SandboxArchive(root).info(SEED)
        assert info.size and info.size > 0
        assert not partial[0].parent.exists(), "the dead process's folder is removed"
        assert live.is_dir(), "a live process's generation is not touched"
    finally:
        sleeper.kill()
        sleeper.wait(timeout=30)
    assert [p.name for p in (root / "CFHT").iterdir() if not p.name.startswith(".")] == [
        "1056213p.fits.fz"
    ]


def test_the_sandbox_holds_the_seed_ids() -> None:
    assert SandboxArchive.seed_uris() == [f"cadc:CFHT/{i}.fits.fz" for i in SEED_FILE_IDS]
    assert SEED_FILE_IDS == ("1056213p", "1056215p", "1056216p", "1056217p", "1056218p")


# --------------------------------------------------------------------------- CADC backend


def test_the_profile_chooses_the_archive(settings: Settings) -> None:
    sandbox = build_archive(settings)
    assert isinstance(sandbox, SandboxArchive)
    assert sandbox.root == settings.paths.data_dir / "sandbox" / "archive"
    real = build_archive(replace(settings, profile=Profile(name="arbutus", kind="canfar")))
    assert isinstance(real, CadcArchive) and real.backend_label == "CADC"


@pytest.mark.skipif(
    importlib.util.find_spec("cadcdata") is not None, reason="cadcdata is installed"
)
async def test_without_cadcdata_the_real_archive_says_how_to_get_it(tmp_path: Path) -> None:
    dest = tmp_path / "scratch"
    dest.mkdir()
    with pytest.raises(Unavailable) as caught:
        await CadcArchive(certificate=tmp_path / "none.pem").download(SEED, dest)
    assert "pip install cadcdata" in caught.value.message
    assert list(dest.iterdir()) == []


def test_archive_errors_map_to_one_line_client_errors() -> None:
    import requests

    response = requests.Response()
    response.status_code = 404
    assert isinstance(map_archive_error(requests.HTTPError(response=response), SEED), NotFound)
    response.status_code = 403
    assert isinstance(map_archive_error(requests.HTTPError(response=response), SEED), AuthError)
    response.status_code = 503
    unavailable = map_archive_error(requests.HTTPError(response=response), SEED)
    assert isinstance(unavailable, Unavailable) and unavailable.transient
    assert isinstance(map_archive_error(requests.ConnectionError("reset"), SEED), Unavailable)
    other = map_archive_error(RuntimeError("first line\nsecond line"), SEED)
    assert other.message == f"Fetching {SEED} failed: first line"


class FakeInventory:
    """cadcdata's StorageInventoryClient as CadcArchive uses it: cadcinfo and cadcget(dest=)."""

    def __init__(self, data: bytes, *, served: bytes | None = None) -> None:
        self.info = types.SimpleNamespace(
            size=len(data),
            md5sum=hashlib.md5(data).hexdigest(),
            name=None,
            lastmod=None,
            file_type="application/fits",
        )
        self.served = data if served is None else served
        self.calls: list[str] = []
        self.found: list[int] = []  # the bytes already in the partial file at each call
        self.failures: list[BaseException] = []
        self.release = threading.Event()
        self.release.set()

    def cadcinfo(self, uri: str) -> types.SimpleNamespace:
        return self.info

    def cadcget(self, uri: str, dest: str) -> None:
        """What cadcutils does: NAME-MD5.part beside dest, then a rename to dest."""
        self.calls.append(uri)
        part = Path(f"{dest}-{self.info.md5sum}.part")
        with open(part, "ab") as handle:
            self.found.append(handle.tell())
            half = len(self.served) // 2
            handle.write(self.served[handle.tell() : half])
            handle.flush()
            if self.failures:
                raise self.failures.pop(0)
            self.release.wait(30)
            handle.write(self.served[half:])
        os.rename(part, dest)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def fake_cadc(monkeypatch: pytest.MonkeyPatch, inventory: FakeInventory) -> CadcArchive:
    archive = CadcArchive(certificate=None, attempts=2)
    monkeypatch.setattr(archive, "_inventory", lambda uri: inventory)
    monkeypatch.setattr(cadc_module, "POLL_SECONDS", 0.01)
    return archive


async def test_cadc_download_is_verified_against_cadcinfo_and_renamed_into_place(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    data = os.urandom(300_000)
    inventory = FakeInventory(data)
    seen: list[tuple[int, int | None]] = []
    path = await fake_cadc(monkeypatch, inventory).download(
        SEED, scratch, progress=lambda d, t: seen.append((d, t))
    )
    assert path == scratch / "1056213p.fits.fz" and path.read_bytes() == data
    assert os.listdir(scratch) == ["1056213p.fits.fz"], "the private folder is gone"
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))


async def test_cadc_bytes_that_do_not_match_cadcinfo_are_not_kept(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    # cadcutils checked the bytes against the GET's own Digest; cadcinfo says otherwise.
    data = os.urandom(100_000)
    damaged = bytearray(data)
    damaged[50_000] ^= 1
    earlier = scratch / "1056213p.fits.fz"
    earlier.write_bytes(b"before")
    archive = fake_cadc(monkeypatch, FakeInventory(data, served=bytes(damaged)))
    with pytest.raises(ArchiveChecksumMismatch) as caught:
        await archive.download(SEED, scratch)
    assert caught.value.message == (
        f"{SEED}: the bytes received do not match the archive's MD5; nothing was kept"
    )
    assert os.listdir(scratch) == ["1056213p.fits.fz"] and earlier.read_bytes() == b"before"


async def test_cadc_transient_failure_is_retried_and_resumes_the_partial_file(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    data = os.urandom(200_000)
    inventory = FakeInventory(data)
    inventory.failures.append(ConnectionResetError("reset by peer"))
    monkeypatch.setattr(cadc_module, "FIRST_RETRY_DELAY", 0.01)
    path = await fake_cadc(monkeypatch, inventory).download(SEED, scratch)
    assert path.read_bytes() == data and inventory.calls == [SEED, SEED]
    assert inventory.found == [0, 100_000], "the second cadcget found the partial file"
    assert os.listdir(scratch) == ["1056213p.fits.fz"]


async def test_cadc_errors_of_cadcget_are_one_line(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    from cadcutils import exceptions

    inventory = FakeInventory(b"x" * 1000)
    archive = fake_cadc(monkeypatch, inventory)
    inventory.failures.append(
        exceptions.TransferException("Downloaded file is corrupted: expected md5(a) != (b)")
    )
    with pytest.raises(ArchiveChecksumMismatch, match="nothing was kept"):
        await archive.download(SEED, scratch)
    assert inventory.calls == [SEED], "cadcutils already retried a corrupted transfer"
    inventory.failures.append(exceptions.NotFoundException(SEED))
    with pytest.raises(NotFound, match=r"^Not in the CADC archive: cadc:CFHT/1056213p.fits.fz$"):
        await archive.download(SEED, scratch)
    assert os.listdir(scratch) == []


async def test_cancelling_a_cadc_download_returns_at_once_and_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch, scratch: Path
) -> None:
    data = os.urandom(1_000_000)
    inventory = FakeInventory(data)
    inventory.release.clear()  # the transfer stalls halfway, like a slow network
    progressed = asyncio.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            progressed.set()

    task = asyncio.create_task(
        fake_cadc(monkeypatch, inventory).download(SEED, scratch, progress=progress)
    )
    await asyncio.wait_for(progressed.wait(), 10)
    [staging] = os.listdir(scratch)
    assert staging.startswith(".1056213p.fits.fz.") and staging.endswith(STAGING_SUFFIX)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert os.listdir(scratch) == [], "the partial file went with its folder"
    inventory.release.set()  # the abandoned transfer ends; its rename finds no folder
    for _ in range(100):
        await asyncio.sleep(0.02)
        assert os.listdir(scratch) == []


def test_the_profile_certificate_is_used_like_cadcget_cert(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import cadcdata

    made: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(
        cadcdata,
        "StorageInventoryClient",
        lambda subject, **options: made.append((subject, options)),
    )
    certificate = tmp_path / "cadcproxy.pem"
    certificate.write_text("PEM")
    uri = parse_archive_uri(SEED)
    CadcArchive(certificate=certificate, verify_tls=False)._inventory(uri)
    CadcArchive(certificate=tmp_path / "absent.pem")._inventory(uri)
    (with_cert, insecure), (anonymous, secure) = made
    assert with_cert.certificate == str(certificate) and with_cert.validate_certificate
    assert insecure == {"insecure": True} and secure == {"insecure": False}
    assert anonymous.anon


def test_cadc_tls_and_certificate_failures_map_to_one_line() -> None:
    from cadcutils import exceptions

    def ssl(text: str) -> Exception:
        error: Exception = exceptions.SslException(
            "SSL certificate verification failed", OSError(text)
        )
        return error

    verify = ssl("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    refused = ssl("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    eof = ssl("EOF occurred in violation of protocol")
    server = "the CADC server's certificate could not be verified"
    assert server in map_archive_error(verify, SEED, with_certificate=True).message
    for closed in (refused, eof):
        error = map_archive_error(closed, SEED, with_certificate=True)
        assert isinstance(error, AuthError) and "refused your certificate" in error.message
    assert map_archive_error(eof, SEED).message == f"TLS failure while fetching {SEED}"
    expired = ValueError(
        "Client certificate (/h/.ssl/cadcproxy.pem) expired on 2026-01-01. Run: cadc-get-cert"
    )
    error = map_archive_error(expired, SEED)
    assert isinstance(error, AuthError) and error.message == (
        "Client certificate (/h/.ssl/cadcproxy.pem) expired on 2026-01-01: renew your CADC "
        f"certificate with cadc-get-cert (fetching {SEED})"
    )
    caps = RuntimeError("Cannot get content from https://ws.example/raven/capabilities")
    unreachable = map_archive_error(caps, SEED)
    assert isinstance(unreachable, Unavailable) and unreachable.message == (
        f"Cannot reach the CADC archive for {SEED}: "
        "https://ws.example/raven/capabilities did not answer"
    )


def test_the_archive_module_imports_no_textual_and_no_heavy_sdk() -> None:
    code = (
        "import json, sys, canfar_tui.clients.archive.cadc; print(json.dumps(sorted(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(output)}
    assert not loaded & {"textual", "astropy", "cadcdata", "vos", "numpy"}


# --------------------------------------------------------------------------- CLI


def get_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="canfar-tui get")
    add_get_arguments(parser)
    return parser.parse_args(argv)


def test_cli_get_fetches_into_the_output_folder(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scratch"
    out.mkdir()
    assert run_get(get_args("cadc:CFHT/1056213p.fits.fz", "-o", str(out))) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out / "1056213p.fits.fz")
    # Not a terminal: no progress line; only the line saying the sandbox answered.
    assert printed.err == (
        "canfar-tui get: sandbox: 1056213p.fits.fz is a synthetic exposure from the sandbox "
        "archive, not CADC's (no CANFAR profile in use)\n"
    )
    served = settings.paths.data_dir / "sandbox" / "archive" / "CFHT" / "1056213p.fits.fz"
    assert md5_of(out / "1056213p.fits.fz") == md5_of(served)


def test_cli_get_reports_each_failure_in_one_line(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_get(get_args("cadc:CFHT/nope.fits.fz", "cadc:CFHT/..", "-o", str(tmp_path))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("canfar-tui: ") for line in err)
    assert "Not in the sandbox archive" in err[0]
    assert run_get(get_args(SEED, "-o", str(tmp_path / "missing"))) == 2
    assert "no such folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]


def test_cli_get_with_a_real_profile_uses_its_certificate_and_no_sandbox(
    isolated_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    certificate = tmp_path / "proxy.pem"
    config = isolated_home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        'default_profile = "canfar"\n[profiles.canfar]\nkind = "canfar"\n'
        f'certificate = "{certificate}"\nverify_tls = false\n'
    )
    used: list[tuple[Path | None, bool]] = []

    async def download(self: CadcArchive, uri: str, dest_dir: Path, **_: Any) -> Path:
        used.append((self.certificate, self.verify_tls))
        raise NotFound(f"Not in the CADC archive: {uri}")

    monkeypatch.setattr(CadcArchive, "download", download)
    out = tmp_path / "scratch"
    out.mkdir()
    assert run_get(get_args(SEED, "-o", str(out))) == 1
    assert used == [(certificate, False)]
    assert capsys.readouterr().err == f"canfar-tui: Not in the CADC archive: {SEED}\n"
    assert not (isolated_home / ".local" / "share" / "canfar-tui" / "sandbox").exists()
