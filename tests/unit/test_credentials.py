"""CADC credentials: netrc entries, certificate expiry, renewal (sandbox and a stub CDP)."""

from __future__ import annotations

import netrc
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canfar_tui.clients.base import (
    AuthError,
    CredentialsClient,
    InvalidInput,
    Unavailable,
)
from canfar_tui.clients.credentials import (
    CADC_NETRC_HOSTS,
    CadcCredentials,
    SelfSignedIssuer,
    certificate_expiry,
)

HOST = CADC_NETRC_HOSTS[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_netrc(path: Path, text: str, file_mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, file_mode)
    return path


class StubIssuer:
    """Stands in for the CADC credential service."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.calls: list[int] = []

    def issue(self, days_valid: int) -> bytes:
        self.calls.append(days_valid)
        if self.error is not None:
            raise self.error
        return SelfSignedIssuer("alice_123").issue(days_valid)


def real_like(tmp_path: Path, issuer: StubIssuer) -> CadcCredentials:
    return CadcCredentials(
        certificate=tmp_path / ".ssl" / "cadcproxy.pem",
        netrc_path=tmp_path / ".netrc",
        issuer=issuer,
    )


# --------------------------------------------------------------------------- netrc


async def test_netrc_entry_for_a_cadc_host_is_found(tmp_path: Path) -> None:
    write_netrc(tmp_path / ".netrc", f"machine {HOST} login alice password pw\n")
    status = await real_like(tmp_path, StubIssuer()).status()
    assert status.netrc_has_entry
    assert status.username == "alice"


async def test_a_netrc_readable_by_others_is_refused(tmp_path: Path) -> None:
    write_netrc(tmp_path / ".netrc", f"machine {HOST} login alice password pw\n", 0o644)
    issuer = StubIssuer()
    client = real_like(tmp_path, issuer)
    status = await client.status()
    assert not status.netrc_has_entry
    assert status.problem is not None and "chmod 600" in status.problem
    with pytest.raises(AuthError) as caught:
        await client.renew_certificate()
    assert "chmod 600" in caught.value.message
    assert issuer.calls == []


async def test_save_netrc_entry_writes_0600_and_keeps_other_hosts(tmp_path: Path) -> None:
    write_netrc(
        tmp_path / ".netrc",
        f"machine example.org login bob password other\nmachine {HOST} login old password oldpw\n",
    )
    client = real_like(tmp_path, StubIssuer())
    status = await client.save_netrc_entry("alice", 'pa ss"word')
    assert status.netrc_has_entry and status.username == "alice"
    assert mode(tmp_path / ".netrc") == 0o600
    parsed = netrc.netrc(str(tmp_path / ".netrc"))
    assert parsed.authenticators("example.org") == ("bob", "", "other")
    for host in CADC_NETRC_HOSTS:
        assert parsed.authenticators(host) == ("alice", "", 'pa ss"word')
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert "pa ss" not in repr(client)


async def test_save_netrc_entry_creates_the_file(tmp_path: Path) -> None:
    client = real_like(tmp_path, StubIssuer())
    await client.save_netrc_entry("alice", "secret")
    assert mode(tmp_path / ".netrc") == 0o600
    with pytest.raises(InvalidInput):
        await client.save_netrc_entry("two words", "secret")
    with pytest.raises(InvalidInput):
        await client.save_netrc_entry("alice", "")


# --------------------------------------------------------------------------- certificates


async def test_renewal_with_the_credential_service(tmp_path: Path) -> None:
    write_netrc(tmp_path / ".netrc", f"machine {HOST} login alice password pw\n")
    issuer = StubIssuer()
    client = real_like(tmp_path, issuer)
    assert (await client.status()).expires_at is None

    status = await client.renew_certificate(days_valid=7)

    assert issuer.calls == [7]
    pem = tmp_path / ".ssl" / "cadcproxy.pem"
    assert mode(pem) == 0o600
    assert status.certificate_path == pem
    assert status.expires_at is not None
    left = status.time_left_seconds(datetime.now(UTC))
    assert left is not None and 6.9 * 86400 < left <= 7 * 86400
    assert status.problem is None
    assert isinstance(client, CredentialsClient)


async def test_renewal_without_a_netrc_entry_is_an_auth_error(tmp_path: Path) -> None:
    with pytest.raises(AuthError):
        await real_like(tmp_path, StubIssuer()).renew_certificate()


async def test_service_errors_are_mapped(tmp_path: Path) -> None:
    from cadcutils import exceptions as cadc

    write_netrc(tmp_path / ".netrc", f"machine {HOST} login alice password pw\n")
    with pytest.raises(AuthError):
        await real_like(tmp_path, StubIssuer(cadc.UnauthorizedException("no"))).renew_certificate()
    with pytest.raises(Unavailable):
        await real_like(tmp_path, StubIssuer(ConnectionError("down"))).renew_certificate()
    assert not (tmp_path / ".ssl" / "cadcproxy.pem").exists()


async def test_days_valid_is_checked(tmp_path: Path) -> None:
    client = CadcCredentials.for_sandbox(tmp_path)
    for days in (0, -1, 31):
        with pytest.raises(InvalidInput):
            await client.renew_certificate(days_valid=days)


async def test_expired_and_expiring_certificates_are_reported(tmp_path: Path) -> None:
    pem = tmp_path / "cadcproxy.pem"
    pem.write_bytes(SelfSignedIssuer("alice").issue_for(timedelta(hours=5)))
    os.chmod(pem, 0o600)
    client = CadcCredentials(certificate=pem, netrc_path=tmp_path / "none", issuer=StubIssuer())
    status = await client.status()
    assert status.problem is not None and "24 hours" in status.problem
    assert status.username == "alice"
    pem.write_bytes(SelfSignedIssuer("alice").issue_for(timedelta(seconds=-60)))
    assert "expired" in ((await client.status()).problem or "")
    os.chmod(pem, 0o644)
    assert "readable by other users" in ((await client.status()).problem or "")


async def test_garbage_certificate_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    pem = tmp_path / "cadcproxy.pem"
    pem.write_text("not a certificate")
    client = CadcCredentials(certificate=pem, netrc_path=tmp_path / "none", issuer=StubIssuer())
    status = await client.status()
    assert status.expires_at is None
    assert status.problem is not None


def test_certificate_expiry_reads_the_first_certificate() -> None:
    pem = SelfSignedIssuer("bob").issue(3)
    expires, name = certificate_expiry(pem)
    assert name == "bob"
    assert timedelta(days=2.9) < expires - datetime.now(UTC) <= timedelta(days=3)
    with pytest.raises(ValueError):
        certificate_expiry(b"nothing")


# --------------------------------------------------------------------------- sandbox


async def test_sandbox_starts_with_a_short_certificate_and_renews(tmp_path: Path) -> None:
    client = CadcCredentials.for_sandbox(tmp_path / "creds", initial_validity=timedelta(hours=20))
    assert client.backend_label == "SANDBOX"
    before = await client.status()
    left = before.time_left_seconds(datetime.now(UTC))
    assert left is not None and left < 24 * 3600
    assert before.problem is not None and "24 hours" in before.problem
    assert before.username == "sandbox-user"

    after = await client.renew_certificate(days_valid=10)

    left = after.time_left_seconds(datetime.now(UTC))
    assert left is not None and left > 9.9 * 86400
    assert after.problem is None
    assert mode(tmp_path / "creds" / "cadcproxy.pem") == 0o600
    assert mode(tmp_path / "creds") == 0o700


async def test_sandbox_without_certificate(tmp_path: Path) -> None:
    status = await CadcCredentials.for_sandbox(tmp_path / "creds").status()
    assert status.expires_at is None
    assert status.certificate_path is None
    assert status.username == "sandbox-user"
