"""The real ``vos`` commands (vmkdir, vcp, vls, vmv, vrm) against the project's VOSpace service.

Each command runs as a subprocess with HOME set to a directory prepared by
``prepare_client_home``: the registry cache there points ``ivo://cadc.nrc.ca/vault`` (the
``vos:`` scheme) at the loopback service, and the version cache stops PyPI look-ups.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from canfar_tui.clients.storage.loopback import RunningVOSpace, start_server

BIN = Path(sys.executable).parent
COMMANDS = ("vls", "vcp", "vmkdir", "vrm", "vmv")

pytestmark = pytest.mark.skipif(
    not all((BIN / name).exists() for name in COMMANDS),
    reason="the vos command-line tools are not installed next to this Python",
)


@dataclass
class Vos:
    """Runs vos commands as a user whose HOME points at the loopback service."""

    server: RunningVOSpace
    home: Path
    workdir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VOSPACE_", "LOCAL_VOSPACE", "CADC_"))
        }
        env["HOME"] = str(self.home)
        result = subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    @property
    def user_dir(self) -> Path:
        return self.server.root / self.server.username


@pytest.fixture
def vos_cli(tmp_path: Path) -> Iterator[Vos]:
    with start_server(tmp_path / "service-root") as server:
        home = server.prepare_client_home(tmp_path / "vos-home")
        workdir = tmp_path / "work"
        workdir.mkdir()
        yield Vos(server, home, workdir)


def test_vmkdir_vcp_vls_round_trip(vos_cli: Vos) -> None:
    small = vos_cli.workdir / "catalogue.cat"
    small.write_text("# NUMBER X_IMAGE Y_IMAGE\n1 10.0 20.0\n")
    big = vos_cli.workdir / "image.fits.fz"
    big.write_bytes(os.urandom(6 * 1024 * 1024 + 3))  # above vos' MD5-precompute threshold

    vos_cli.run("vmkdir", "-p", "vos:sandbox-user/results/run1")
    vos_cli.run("vcp", str(small), "vos:sandbox-user/results/run1/")
    vos_cli.run("vcp", str(big), "vos:sandbox-user/results/run1/image.fits.fz")

    stored = vos_cli.user_dir / "results" / "run1"
    assert (stored / "catalogue.cat").read_text() == small.read_text()
    assert (stored / "image.fits.fz").read_bytes() == big.read_bytes()

    listing = vos_cli.run("vls", "vos:sandbox-user/results/run1").stdout.split()
    assert listing == ["catalogue.cat", "image.fits.fz"]
    long_listing = vos_cli.run("vls", "-l", "vos:sandbox-user/results/run1").stdout
    assert str(big.stat().st_size) in long_listing
    assert "sandbox-user" in long_listing

    back = vos_cli.workdir / "back"
    back.mkdir()
    vos_cli.run("vcp", "vos:sandbox-user/results/run1/image.fits.fz", str(back))
    copied = back / "image.fits.fz"
    assert hashlib.md5(copied.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    assert sorted(p.name for p in back.iterdir()) == ["image.fits.fz"]


def test_vmv_and_vrm(vos_cli: Vos) -> None:
    source = vos_cli.workdir / "a.txt"
    source.write_text("some text\n")
    vos_cli.run("vmkdir", "vos:sandbox-user/keep")
    vos_cli.run("vcp", str(source), "vos:sandbox-user/a.txt")

    vos_cli.run("vmv", "vos:sandbox-user/a.txt", "vos:sandbox-user/renamed.txt")
    assert sorted(p.name for p in vos_cli.user_dir.iterdir()) == ["keep", "renamed.txt"]
    vos_cli.run("vmv", "vos:sandbox-user/renamed.txt", "vos:sandbox-user/keep")
    assert (vos_cli.user_dir / "keep" / "renamed.txt").read_text() == "some text\n"

    vos_cli.run("vrm", "vos:sandbox-user/keep/renamed.txt")
    assert list((vos_cli.user_dir / "keep").iterdir()) == []

    vos_cli.run("vmkdir", "-p", "vos:sandbox-user/tree/a/b")
    vos_cli.run("vcp", str(source), "vos:sandbox-user/tree/a/b/")
    vos_cli.run("vrm", "-R", "vos:sandbox-user/tree")
    assert not (vos_cli.user_dir / "tree").exists()


def test_errors_are_reported_by_the_commands(vos_cli: Vos) -> None:
    missing = vos_cli.run("vls", "vos:sandbox-user/not-there", check=False)
    assert missing.returncode != 0
    assert "NodeNotFound" in missing.stderr or "not found" in missing.stderr.lower()

    failed = vos_cli.run("vcp", "vos:sandbox-user/not-there.fits", "out.fits", check=False)
    assert failed.returncode != 0
    assert sorted(p.name for p in vos_cli.workdir.iterdir()) == []

    outside = vos_cli.run("vls", "vos:sandbox-user/../../etc", check=False)
    assert outside.returncode != 0
