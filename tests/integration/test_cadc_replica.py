"""The real CADC clients against the local CADC replica (``scripts/cadc/start.sh``).

Every command is the installed one (``cadc-get-cert``, ``cadcget``, ``cadcinfo``, ``vcp``,
``vls``, ``vrm``), run as a subprocess in a fresh HOME holding only the replica's registry
cache (plus what the test writes there: ``~/.netrc``, the proxy certificate), over HTTPS
verified against the replica's test CA.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cadc_services import CadcService, cadc_service_or_skip

BIN = Path(sys.executable).parent
COMMANDS = ("cadc-get-cert", "cadcget", "cadcinfo", "vcp", "vls", "vrm")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not all((BIN / name).exists() for name in COMMANDS),
        reason="the CADC command-line tools are not installed next to this Python",
    ),
]


@pytest.fixture
def cadc_service() -> CadcService:
    """The running replica; skips without it (fails when services are required)."""
    return cadc_service_or_skip()


@dataclass
class CadcUser:
    """Runs CADC commands as one replica user in its own HOME and working folder."""

    service: CadcService
    home: Path
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=self.workdir,
            env=self.service.client_env(self.home),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def write_netrc(self, password: str) -> Path:
        netrc = self.home / ".netrc"
        fd = os.open(netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(
                f"machine {self.service.host} login {self.service.user} password {password}\n"
            )
        return netrc

    @property
    def proxy(self) -> Path:
        return self.home / ".ssl" / "cadcproxy.pem"

    def login(self) -> Path:
        """``cadc-get-cert -n`` with the right password in ``~/.netrc``."""
        self.write_netrc(self.service.password())
        self.ok("cadc-get-cert", "-n")
        return self.proxy


@pytest.fixture
def cadc_user(cadc_service: CadcService, tmp_path: Path) -> CadcUser:
    home = cadc_service.new_home(tmp_path / "cadc-home")
    workdir = tmp_path / "work"
    workdir.mkdir()
    return CadcUser(cadc_service, home, workdir)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_cadc_get_cert_with_netrc_writes_a_ten_day_proxy(cadc_user: CadcUser) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cadc_user.write_netrc(cadc_user.service.password())
    result = cadc_user.ok("cadc-get-cert", "-n")

    assert f"DONE. 10 day certificate saved in {cadc_user.proxy}" in result.stdout
    pem = cadc_user.proxy.read_bytes()
    assert b"PRIVATE KEY-----" in pem
    certificate = x509.load_pem_x509_certificate(pem)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [name.value for name in names] == [cadc_user.service.user]
    authority = x509.load_pem_x509_certificate(cadc_user.service.ca_cert.read_bytes())
    certificate.verify_directly_issued_by(authority)
    lifetime = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=9.9) < lifetime <= datetime.timedelta(days=10)


def test_cadc_get_cert_with_a_wrong_password_fails_like_cadc(cadc_user: CadcUser) -> None:
    cadc_user.write_netrc("not-the-password")
    result = cadc_user.run("cadc-get-cert", "-n")

    # cadcutils' own words (and exit status 0) for CADC's 401
    assert "FAILED: invalid username/password combination" in result.stderr
    assert not cadc_user.proxy.exists()


def test_cadcget_downloads_the_seed_exposure_with_its_md5(cadc_user: CadcUser) -> None:
    original = cadc_user.service.archive_root / "CFHT" / "1056213p.fits.fz"

    cadc_user.ok("cadcget", "cadc:CFHT/1056213p.fits.fz")

    downloaded = cadc_user.workdir / "1056213p.fits.fz"
    assert downloaded.stat().st_size == original.stat().st_size
    assert _md5(downloaded) == _md5(original)
    info = cadc_user.ok("cadcinfo", "cadc:CFHT/1056213p.fits.fz").stdout
    assert f"md5sum: {_md5(original)}" in info
    assert "name: 1056213p.fits.fz" in info


def test_cadcget_of_a_missing_file_says_not_found(cadc_user: CadcUser) -> None:
    result = cadc_user.run("cadcget", "cadc:CFHT/0000000p.fits.fz")

    assert result.returncode != 0
    assert "Not found" in result.stdout + result.stderr


def test_vcp_with_the_proxy_certificate_round_trips(cadc_user: CadcUser) -> None:
    user = cadc_user.service.user
    cadc_user.login()
    catalogue = cadc_user.workdir / "1056213p.cat"
    catalogue.write_text(f"# NUMBER X_IMAGE Y_IMAGE\n1 10.0 20.0\n# run {uuid.uuid4().hex}\n")
    try:
        cadc_user.ok("vcp", str(catalogue), f"vos:{user}/")

        stored = cadc_user.service.vault_root / user / "1056213p.cat"
        assert stored.read_bytes() == catalogue.read_bytes()
        assert "1056213p.cat" in cadc_user.ok("vls", f"vos:{user}").stdout.split()
        back = cadc_user.workdir / "back"
        back.mkdir()
        cadc_user.ok("vcp", f"vos:{user}/1056213p.cat", str(back))
        assert (back / "1056213p.cat").read_bytes() == catalogue.read_bytes()
    finally:
        cadc_user.run("vrm", f"vos:{user}/1056213p.cat")


def test_anonymous_vcp_to_a_home_is_refused(cadc_user: CadcUser) -> None:
    user = cadc_user.service.user
    name = f"anonymous-{uuid.uuid4().hex[:8]}.cat"
    source = cadc_user.workdir / name
    source.write_text("should never arrive\n")

    result = cadc_user.run("vcp", str(source), f"vos:{user}/")

    assert result.returncode != 0
    assert "PermissionDenied" in result.stdout + result.stderr
    assert not (cadc_user.service.vault_root / user / name).exists()


def test_a_user_cannot_write_into_another_home(cadc_user: CadcUser) -> None:
    cadc_user.login()
    other = "colleague" if cadc_user.service.user != "colleague" else "tuitester"
    name = f"intruder-{uuid.uuid4().hex[:8]}.cat"
    source = cadc_user.workdir / name
    source.write_text("not yours\n")

    result = cadc_user.run("vcp", str(source), f"vos:{other}/")

    assert result.returncode != 0
    assert "PermissionDenied" in result.stdout + result.stderr
    assert not (cadc_user.service.vault_root / other / name).exists()
