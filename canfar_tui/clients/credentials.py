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

The CADC hosts are the ones cadcutils looks up in a netrc, found through the CADC registry
(:func:`registry_netrc_hosts`): the host of the credential service (``cadc-get-cert -n``), of
the login service cadcdata trades the password at (``cadcget -n``) and of the VOSpace service
(``vcp`` without a certificate). On CADC that is ``ws-cadc.canfar.net``, ``ws-uv.canfar.net``…;
on a replica, whatever its registry says (``127.0.0.1``). :data:`CADC_NETRC_HOSTS`, the list of
``cadc_dotnetrc``, is only read when the registry cannot be asked (the status line).

cadcutils prompts with ``getpass()`` on the terminal when its subject has a username but no
password for a host; the subjects made here never do (:func:`password_subject`).

The sandbox variant (:meth:`CadcCredentials.for_sandbox`) needs no account: "renewing" issues a
self-signed, proxy-like certificate (``CN=<user>,OU=cadc,O=hia,C=ca``) valid for the requested
number of days, so the header can show the time left and the renewal key works offline.

``cadcutils`` and ``cryptography`` are imported on first use, in a worker thread.
"""

from __future__ import annotations

import asyncio
import netrc
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    InvalidInput,
    Unavailable,
)
from canfar_tui.clients.files import UnreadableFile, atomic_write, read_bounded
from canfar_tui.models import CredentialStatus

__all__ = [
    "CADC_NETRC_HOSTS",
    "NETRC_RESOURCES",
    "CadcCredentials",
    "CdpIssuer",
    "CertificateIssuer",
    "SelfSignedIssuer",
    "certificate_expiry",
    "map_issue_error",
    "password_subject",
    "registry_netrc_hosts",
]

T = TypeVar("T")

#: The hosts ``cadc_dotnetrc`` writes entries for; read only when the registry cannot be asked.
CADC_NETRC_HOSTS: tuple[str, ...] = (
    "ws.cadc-ccda.hia-iha.nrc-cnrc.gc.ca",
    "www.canfar.net",
    "ws-cadc.canfar.net",
    "ws-uv.canfar.net",
)
CRED_RESOURCE = "ivo://cadc.nrc.ca/cred"
GMS_RESOURCE = "ivo://cadc.nrc.ca/gms"
VAULT_RESOURCE = "ivo://cadc.nrc.ca/vault"
UMS_LOGIN = "ivo://ivoa.net/std/UMS#login-0.1"
#: The services whose CADC clients read a netrc (BasicAA), with the capability whose host is
#: the netrc ``machine``: None for the client's own host (the VOSI availability URL's host,
#: what ``BaseWsClient.host`` is), else a standard ID (cadcdata trades the password at the
#: UMS login of ``gms`` for a cookie).
NETRC_RESOURCES: tuple[tuple[str, str | None], ...] = (
    (CRED_RESOURCE, None),  # cadc-get-cert -n
    (GMS_RESOURCE, UMS_LOGIN),  # cadcget -n, cadcinfo -n
    (VAULT_RESOURCE, None),  # vcp, vls… with a netrc and no certificate
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

        _no_version_check()
        # No username in this subject: cadcutils never prompts, it reads the netrc only.
        subject = auth.Subject(netrc=str(self._netrc_path))
        text: str = auth.get_cert(subject, days_valid=days_valid, insecure=not self._verify_tls)
        return text.encode("ascii")

    def issue_with_password(self, days_valid: int, username: str, password: str) -> bytes:
        """Like :meth:`issue`, authenticated with a password typed in (never stored).

        The password goes to the one host cadcutils authenticates this request at (the
        credential service's, found through the registry); nothing is asked on the terminal.
        """
        from cadcutils import version
        from cadcutils.net import auth, ws

        _no_version_check()
        subject = password_subject(username, {})
        client = ws.BaseWsClient(
            auth.CRED_RESOURCE_ID,
            subject,
            agent=f"cadc-get-cert/{version.version}",
            retry=True,
            server_versions=auth.SUPPORTED_SERVER_VERSIONS,
            insecure=not self._verify_tls,
        )
        subject._hosts_auth[client.host] = (username, password)
        response = client.get(
            (auth.CRED_PROXY_FEATURE_ID, None), params={"daysValid": int(days_valid)}
        )
        text: str = response.text
        return text.encode("ascii")

    def netrc_hosts(self) -> tuple[str, ...]:
        """Blocking: the hosts cadcutils looks up in a netrc (see :func:`registry_netrc_hosts`)."""
        return registry_netrc_hosts(verify_tls=self._verify_tls)


def _no_version_check() -> None:
    """Stop cadcutils from asking PyPI for a newer version on each call."""
    from cadcutils.util import utils

    if "cadcutils" not in utils.check_version.checked:
        utils.check_version.checked.append("cadcutils")


def password_subject(username: str, hosts_auth: Mapping[str, tuple[str, str]]) -> Any:
    """A cadcutils ``Subject`` for ``username`` that never prompts on the terminal.

    cadcutils' own ``Subject.get_auth`` calls ``getpass()`` when it has a username and no
    password for the host asked; this one raises :class:`AuthError` instead (one line,
    naming the host), so a dashboard's terminal is never read.
    """
    from cadcutils.net import auth

    class _NoPromptSubject(auth.Subject):  # type: ignore[misc]
        def get_auth(self, realm: str) -> tuple[str, str]:
            found: tuple[str, str] | None = self._hosts_auth.get(realm)
            if found is None:
                raise AuthError(
                    f"CADC asked for a password for {realm}, which login did not expect"
                )
            return found

    subject = _NoPromptSubject(username=username)
    subject._hosts_auth.update(hosts_auth)
    return subject


def registry_netrc_hosts(*, verify_tls: bool = True) -> tuple[str, ...]:
    """Blocking: the hosts the CADC clients look up in a netrc, found through the registry.

    Like ``cadc_dotnetrc``'s list, but read from the registry (``~/.config/cadc-registry``
    cache, else CADC's ``resource-caps``) and the services' capabilities, exactly as
    cadcutils resolves them (:data:`NETRC_RESOURCES`). A service the registry does not list
    is skipped (no client will ask for it). Raises :class:`Unavailable` when the registry or
    the credential service's capabilities cannot be read.
    """
    from urllib.parse import urlsplit

    from cadcutils.net import auth, ws

    hosts: list[str] = []
    for resource_id, standard_id in NETRC_RESOURCES:
        try:
            if standard_id is None:
                # cadcutils' realm: the host of the availability URL, with a BasicAA subject.
                client = ws.BaseWsClient(
                    resource_id,
                    password_subject("netrc", {}),
                    agent="canfar-tui",
                    insecure=not verify_tls,
                )
                host = client.host
            else:
                client = ws.BaseWsClient(
                    resource_id, auth.Subject(), agent="canfar-tui", insecure=not verify_tls
                )
                host = urlsplit(client._get_url((standard_id, None))).hostname
        except AttributeError:  # "Resource ID … not found" in the registry
            if resource_id == CRED_RESOURCE:
                raise Unavailable("The CADC registry lists no credential service") from None
            continue
        except Exception as exc:
            text = " ".join(str(exc).split())[:200]
            raise Unavailable(
                "Cannot reach the CADC registry", details=f"{type(exc).__name__}: {text}"
            ) from exc
        if host and host not in hosts:
            hosts.append(str(host))
    return tuple(hosts)


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


#: Largest certificate file read (a CADC proxy certificate is a few kB).
MAX_CERTIFICATE_BYTES = 256 * 1024


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
    atomic_write(path, data, mode=0o600, folder_mode=0o700)


class CadcCredentials:
    """A :class:`~canfar_tui.clients.base.CredentialsClient` for CADC.

    ``issuer`` obtains certificates (default: :class:`CdpIssuer` with ``netrc_path``).
    """

    def __init__(
        self,
        *,
        certificate: Path | None = None,
        netrc_path: Path | None = None,
        hosts: Sequence[str] | None = None,
        issuer: CertificateIssuer | None = None,
        sandbox: bool = False,
        sandbox_username: str | None = None,
        label: str = "CADC",
        timeout: float = 60.0,
        verify_tls: bool = True,
    ) -> None:
        self._certificate = certificate or Path("~/.ssl/cadcproxy.pem").expanduser()
        self._netrc = netrc_path or Path("~/.netrc").expanduser()
        #: None: asked of the issuer (the registry) on first use.
        self._hosts: tuple[str, ...] | None = tuple(hosts) if hosts is not None else None
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

    async def netrc_hosts(self) -> tuple[str, ...]:
        """The hosts a netrc entry is written for (from the registry; Unavailable if not)."""
        return await self._run(self._netrc_hosts_sync, True)

    # ---- worker-thread parts

    def _netrc_hosts_sync(self, strict: bool = False) -> tuple[str, ...]:
        """The netrc hosts: given, else the issuer's (the registry), else cadc_dotnetrc's.

        ``strict``: a registry that cannot be asked is an error (when writing a netrc); else
        (reading one for the status) ``cadc_dotnetrc``'s list stands in, not remembered.
        """
        if self._hosts is not None:
            return self._hosts
        resolve = getattr(self._issuer, "netrc_hosts", None)
        if resolve is None:
            return CADC_NETRC_HOSTS
        try:
            self._hosts = tuple(resolve())
        except ClientError:
            if strict:
                raise
            return CADC_NETRC_HOSTS
        except Exception as exc:
            if strict:
                raise map_issue_error(exc) from exc
            return CADC_NETRC_HOSTS
        return self._hosts

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
        for host in self._netrc_hosts_sync():
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
            pem = read_bounded(self._certificate, MAX_CERTIFICATE_BYTES, "certificate")
        except FileNotFoundError:
            problem = problem or "No proxy certificate: renew it to use VOSpace and batch"
        except UnreadableFile as exc:
            if exc.missing:
                problem = problem or "No proxy certificate: renew it to use VOSpace and batch"
            else:
                problem = problem or str(exc)
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
            raise map_issue_error(exc, typed_password=password is not None) from exc
        try:
            _write_private(self._certificate, pem)
        except OSError as exc:
            raise InvalidInput(f"Cannot write {self._certificate}: {exc.strerror}") from exc
        return self._status_sync()

    def _save_netrc_sync(self, username: str, password: str) -> None:
        hosts = self._netrc_hosts_sync(strict=True)
        lines: list[str] = []
        if self._netrc.exists():
            try:
                existing = netrc.netrc(str(self._netrc))
            except (netrc.NetrcParseError, OSError) as exc:
                raise InvalidInput(
                    f"Cannot update {self._netrc}: {getattr(exc, 'msg', exc)}"
                ) from exc
            for host, (login, account, secret) in existing.hosts.items():
                if host in hosts:
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
        for host in hosts:
            lines.append(f"machine {host} login {_quote(username)} password {_quote(password)}")
        try:
            _write_private(self._netrc, ("\n".join(lines) + "\n").encode("utf-8"))
        except OSError as exc:
            raise InvalidInput(f"Cannot write {self._netrc}: {exc.strerror}") from exc


def map_issue_error(exc: BaseException, *, typed_password: bool = False) -> ClientError:
    """Translate an error of the credential service into the client error tree.

    ``typed_password``: the password was typed in (login, the renewal prompt), not read
    from the netrc, and the refusal message says so.
    """
    from cadcutils import exceptions as cadc

    text = " ".join(str(exc).split())[:200]
    details = f"{type(exc).__name__}: {text}"
    if isinstance(exc, cadc.UnauthorizedException | cadc.ForbiddenException):
        where = "" if typed_password else " in your netrc"
        return AuthError(f"CADC refused the username/password{where}", details=details)
    if isinstance(exc, AttributeError) and "not found" in text:  # cadcutils: not in the registry
        return Unavailable("The CADC registry lists no credential service", details=details)
    if isinstance(exc, ValueError):
        return AuthError(f"CADC returned no usable certificate: {text}", details=details)
    if isinstance(exc, OSError | TimeoutError | cadc.HttpException) or (
        isinstance(exc, RuntimeError) and text.startswith("Cannot get content")
    ):  # the last: cadcutils could not read the registry or the capabilities
        return Unavailable("Cannot reach the CADC credential service", details=details)
    return ClientError(f"Certificate renewal failed: {text}", details=details)
