"""CADC credentials: the ``~/.netrc`` entry and the proxy certificate, as a CredentialsClient.

:class:`CadcCredentials` implements :class:`~canfar_tui.clients.base.CredentialsClient`:

* ``status()`` reads the proxy certificate (``~/.ssl/cadcproxy.pem`` by default) and its expiry,
  and whether ``~/.netrc`` holds an entry for one of the CADC hosts. A netrc or certificate
  readable by group or others is reported as a problem, and such a netrc is never used.
* ``renew_certificate(days_valid)`` obtains a new proxy certificate like ``cadc-get-cert -n``:
  the CADC credential delegation service (``ivo://cadc.nrc.ca/cred``, through ``cadcutils``)
  is asked with the username/password of the netrc entry. The certificate is written
  atomically with mode 0600. ``renew_certificate(password=…)`` (the dashboard's prompt after
  a service refused an expired certificate) uses that password instead, for the username of
  the netrc entry or of the current certificate; it is held for that one request only.
* ``save_netrc_entry(username, password)`` creates or updates the entries like
  ``cadc_dotnetrc`` does: one ``machine`` line per CADC host, other hosts kept, written
  atomically with mode 0600. The password is never logged, never put in argv, never kept.

The sandbox variant (:meth:`CadcCredentials.for_sandbox`) needs no account: "renewing" issues a
self-signed, proxy-like certificate (``CN=<user>,OU=cadc,O=hia,C=ca``) valid for the requested
number of days, so the header can show the time left and the renewal key works offline.

``cadcutils`` and ``cryptography`` are imported on first use, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import netrc
import os
import stat
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    Unavailable,
)
from canfar_tui.models import CredentialStatus

__all__ = [
    "CADC_NETRC_HOSTS",
    "CadcCredentials",
    "CdpIssuer",
    "CertificateIssuer",
    "SelfSignedIssuer",
    "certificate_expiry",
]

T = TypeVar("T")

#: The hosts ``cadc_dotnetrc`` writes entries for (CADC and CANFAR web services).
CADC_NETRC_HOSTS: tuple[str, ...] = (
    "ws-cadc.canfar.net",
    "ws-uv.canfar.net",
    "www.canfar.net",
    "www.cadc-ccda.hia-iha.nrc-cnrc.gc.ca",
    "ws.cadc-ccda.hia-iha.nrc-cnrc.gc.ca",
    "www.canfar.phys.uvic.ca",
)
MAX_DAYS_VALID = 30
#: Under this much time left, the status carries a warning (the header turns to a warning).
WARN_BELOW = timedelta(hours=24)


class CertificateIssuer(Protocol):
    """Something that issues a proxy certificate (PEM: certificate and private key)."""

    def issue(self, days_valid: int) -> bytes:
        """Blocking: return the PEM bytes of a new certificate valid ``days_valid`` days."""
        ...


class CdpIssuer:
    """The CADC credential delegation service, authenticated with a netrc file (``-n``)."""

    def __init__(self, netrc_path: Path, *, verify_tls: bool = True) -> None:
        self._netrc_path = netrc_path
        self._verify_tls = verify_tls

    @property
    def verify_tls(self) -> bool:
        """Whether the service's TLS certificate is checked (``insecure=`` for cadcutils)."""
        return self._verify_tls

    def issue(self, days_valid: int) -> bytes:
        from cadcutils.net import auth
        from cadcutils.util import utils

        if "cadcutils" not in utils.check_version.checked:
            utils.check_version.checked.append("cadcutils")  # no PyPI look-ups
        subject = auth.Subject(netrc=str(self._netrc_path))
        text: str = auth.get_cert(subject, days_valid=days_valid, insecure=not self._verify_tls)
        return text.encode("ascii")

    def issue_with_password(self, days_valid: int, username: str, password: str) -> bytes:
        """Like :meth:`issue`, authenticated with a password typed in (never stored)."""
        from cadcutils.net import auth
        from cadcutils.util import utils

        if "cadcutils" not in utils.check_version.checked:
            utils.check_version.checked.append("cadcutils")
        subject = auth.Subject(username=username)
        for host in CADC_NETRC_HOSTS:  # what cadcutils would otherwise ask on the terminal
            subject._hosts_auth[host] = (username, password)
        text: str = auth.get_cert(subject, days_valid=days_valid, insecure=not self._verify_tls)
        return text.encode("ascii")


class SelfSignedIssuer:
    """The sandbox's issuer: a self-signed, proxy-like certificate for ``username``."""

    def __init__(self, username: str, *, validity: timedelta | None = None) -> None:
        self._username = username
        self._validity = validity

    def issue(self, days_valid: int) -> bytes:
        return self.issue_for(self._validity or timedelta(days=days_valid))

    def issue_for(self, validity: timedelta) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "ca"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hia"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "cadc"),
                x509.NameAttribute(NameOID.COMMON_NAME, self._username),
            ]
        )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + validity)
            .sign(key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


def certificate_expiry(pem: bytes) -> tuple[datetime, str | None]:
    """The expiry (UTC) and common name of the first certificate in ``pem``.

    Raises ValueError when ``pem`` holds no readable certificate.
    """
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    certificates = x509.load_pem_x509_certificates(pem)
    if not certificates:
        raise ValueError("no certificate in the file")
    first = certificates[0]
    names = first.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else None
    return first.not_valid_after_utc, common_name


def _readable_by_others(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _quote(token: str) -> str:
    if token and not any(ch.isspace() or ch in "\"\\'#" for ch in token):
        return token
    return '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path`` with mode 0600 (parent created 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


class CadcCredentials:
    """A :class:`~canfar_tui.clients.base.CredentialsClient` for CADC.

    ``issuer`` obtains certificates (default: :class:`CdpIssuer` with ``netrc_path``).
    """

    def __init__(
        self,
        *,
        certificate: Path | None = None,
        netrc_path: Path | None = None,
        hosts: Sequence[str] = CADC_NETRC_HOSTS,
        issuer: CertificateIssuer | None = None,
        sandbox: bool = False,
        sandbox_username: str | None = None,
        label: str = "CADC",
        timeout: float = 60.0,
        verify_tls: bool = True,
    ) -> None:
        self._certificate = certificate or Path("~/.ssl/cadcproxy.pem").expanduser()
        self._netrc = netrc_path or Path("~/.netrc").expanduser()
        self._hosts = tuple(hosts)
        self._issuer: CertificateIssuer = issuer or CdpIssuer(self._netrc, verify_tls=verify_tls)
        self._sandbox = sandbox
        self._sandbox_username = sandbox_username
        self._label = label
        self._timeout = timeout
        self._lock = asyncio.Lock()

    @classmethod
    def for_sandbox(
        cls,
        folder: Path,
        *,
        username: str = "sandbox-user",
        initial_validity: timedelta | None = None,
    ) -> CadcCredentials:
        """Credentials that live in ``folder``; renewal issues a self-signed certificate.

        With ``initial_validity``, a first certificate valid that long is issued if there is
        none yet (e.g. 20 hours, to show the expiry warning in a demo).
        """
        client = cls(
            certificate=folder / "cadcproxy.pem",
            netrc_path=folder / "netrc",
            issuer=SelfSignedIssuer(username),
            sandbox=True,
            sandbox_username=username,
        )
        if initial_validity is not None and not client._certificate.exists():
            pem = SelfSignedIssuer(username).issue_for(initial_validity)
            _write_private(client._certificate, pem)
        return client

    def __repr__(self) -> str:
        return f"CadcCredentials(certificate={str(self._certificate)!r}, sandbox={self._sandbox})"

    # ---- ServiceClient

    @property
    def backend_label(self) -> str:
        return "SANDBOX" if self._sandbox else self._label

    @property
    def certificate_path(self) -> Path:
        return self._certificate

    @property
    def issuer(self) -> CertificateIssuer:
        """What renews the certificate (the credential delegation service, or the sandbox's)."""
        return self._issuer

    async def aclose(self) -> None:
        return None

    # ---- CredentialsClient

    async def status(self) -> CredentialStatus:
        return await self._run(self._status_sync)

    async def renew_certificate(
        self, *, days_valid: int = 10, password: str | None = None
    ) -> CredentialStatus:
        """A new proxy certificate; with ``password``, authenticated by it instead of netrc."""
        if not 1 <= days_valid <= MAX_DAYS_VALID:
            raise InvalidInput(f"A certificate can be valid 1 to {MAX_DAYS_VALID} days")
        if password is not None and (not password or "\n" in password):
            raise InvalidInput("The password must be one non-empty line")
        async with self._lock:
            return await self._run(self._renew_sync, days_valid, password)

    async def save_netrc_entry(self, username: str, password: str) -> CredentialStatus:
        """Create or update the netrc entries for the CADC hosts (like ``cadc_dotnetrc``)."""
        if not username.strip() or any(ch.isspace() for ch in username):
            raise InvalidInput("The CADC username must be one word")
        if not password or "\n" in password:
            raise InvalidInput("The password must be one non-empty line")
        async with self._lock:
            await self._run(self._save_netrc_sync, username.strip(), password)
        return await self.status()

    # ---- worker-thread parts

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.wait_for(asyncio.to_thread(function, *args), self._timeout)
        except TimeoutError:
            raise Unavailable(f"CADC did not answer within {self._timeout:.0f} s") from None

    def _netrc_state(self) -> tuple[str | None, str | None]:
        """(username of the CADC entry, problem) for the netrc file."""
        try:
            st = os.stat(self._netrc)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"Cannot read {self._netrc}: {exc.strerror}"
        if _readable_by_others(st):
            return None, (
                f"{self._netrc} is readable by other users; it is ignored until you run "
                f"chmod 600 {self._netrc}"
            )
        try:
            parsed = netrc.netrc(str(self._netrc))
        except (netrc.NetrcParseError, OSError) as exc:
            return None, f"Cannot parse {self._netrc}: {getattr(exc, 'msg', exc)}"
        for host in self._hosts:
            entry = parsed.authenticators(host)
            if entry is not None and entry[0]:
                return entry[0], None
        return None, None

    def _status_sync(self) -> CredentialStatus:
        netrc_user, problem = self._netrc_state()
        username = netrc_user
        expires_at: datetime | None = None
        certificate: Path | None = None
        try:
            st = os.stat(self._certificate)
            pem = self._certificate.read_bytes()
        except FileNotFoundError:
            problem = problem or "No proxy certificate: renew it to use VOSpace and batch"
        except OSError as exc:
            problem = problem or f"Cannot read {self._certificate}: {exc.strerror}"
        else:
            certificate = self._certificate
            try:
                expires_at, common_name = certificate_expiry(pem)
            except ValueError:
                problem = problem or f"{self._certificate} holds no readable certificate"
            else:
                username = username or common_name
                left = expires_at - datetime.now(UTC)
                if left <= timedelta(0):
                    problem = problem or "The proxy certificate has expired: renew it"
                elif left < WARN_BELOW:
                    problem = problem or "The proxy certificate expires within 24 hours"
            if _readable_by_others(st):
                problem = f"{self._certificate} is readable by other users: chmod 600 it"
        if self._sandbox:
            username = username or self._sandbox_username
        return CredentialStatus(
            username=username,
            certificate_path=certificate,
            expires_at=expires_at,
            netrc_has_entry=netrc_user is not None,
            problem=problem,
        )

    def _renew_sync(self, days_valid: int, password: str | None = None) -> CredentialStatus:
        with_password = getattr(self._issuer, "issue_with_password", None)
        username: str | None = None
        if not self._sandbox:
            username, problem = self._netrc_state()
            if password is not None and with_password is not None:
                username = username or self._status_sync().username
                if username is None:
                    raise AuthError(
                        f"No CADC username known (no netrc entry, no certificate): "
                        f"save your CADC username and password in {self._netrc} first"
                    )
            elif problem is not None:
                raise AuthError(problem)
            elif username is None:
                raise AuthError(
                    f"No CADC entry in {self._netrc}: save your CADC username and password first"
                )
        try:
            if password is not None and with_password is not None and username is not None:
                pem = with_password(days_valid, username, password)
            else:
                pem = self._issuer.issue(days_valid)
            certificate_expiry(pem)
        except ClientError:
            raise
        except Exception as exc:
            raise _map_issue_error(exc) from exc
        try:
            _write_private(self._certificate, pem)
        except OSError as exc:
            raise InvalidInput(f"Cannot write {self._certificate}: {exc.strerror}") from exc
        return self._status_sync()

    def _save_netrc_sync(self, username: str, password: str) -> None:
        lines: list[str] = []
        if self._netrc.exists():
            try:
                existing = netrc.netrc(str(self._netrc))
            except (netrc.NetrcParseError, OSError) as exc:
                raise InvalidInput(
                    f"Cannot update {self._netrc}: {getattr(exc, 'msg', exc)}"
                ) from exc
            for host, (login, account, secret) in existing.hosts.items():
                if host in self._hosts:
                    continue
                head = "default" if host == "default" else f"machine {_quote(host)}"
                entry = [head]
                if login:
                    entry.append(f"login {_quote(login)}")
                if account:
                    entry.append(f"account {_quote(account)}")
                if secret:
                    entry.append(f"password {_quote(secret)}")
                lines.append(" ".join(entry))
            for name, body in existing.macros.items():
                lines.append(f"macdef {name}\n" + "".join(body).rstrip("\n") + "\n")
        for host in self._hosts:
            lines.append(f"machine {host} login {_quote(username)} password {_quote(password)}")
        try:
            _write_private(self._netrc, ("\n".join(lines) + "\n").encode("utf-8"))
        except OSError as exc:
            raise InvalidInput(f"Cannot write {self._netrc}: {exc.strerror}") from exc


def _map_issue_error(exc: BaseException) -> ClientError:
    """Translate an error of the credential service into the client error tree."""
    from cadcutils import exceptions as cadc

    text = " ".join(str(exc).split())[:200]
    details = f"{type(exc).__name__}: {text}"
    if isinstance(exc, cadc.UnauthorizedException | cadc.ForbiddenException):
        return AuthError("CADC refused the username/password in your netrc", details=details)
    if isinstance(exc, ValueError):
        return AuthError(f"CADC returned no usable certificate: {text}", details=details)
    if isinstance(exc, OSError | TimeoutError | cadc.HttpException):
        return Unavailable("Cannot reach the CADC credential service", details=details)
    return ClientError(f"Certificate renewal failed: {text}", details=details)
