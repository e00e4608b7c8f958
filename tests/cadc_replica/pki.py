"""The replica's certificates: a test CA, the server certificate, and users' proxy certificates.

Everything is made with the ``cryptography`` package. The CA and the server certificate are
kept in the run folder and reused while they are valid (so client homes and bundles made
earlier stay good); private keys are written 0600.

A "proxy certificate" here is what the credential service hands out for ``cadc-get-cert``:
one PEM file holding a certificate for ``CN=<user>,OU=cadc,O=hia,C=ca`` signed by the test CA
and its unencrypted RSA key (CADC's files hold a real RFC 3820 proxy, its key, then the user's
certificate; the clients only need the first certificate and the key).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "canfar-tui CADC replica test CA"
#: The server certificate is renewed when it has less than this left.
RENEW_BEFORE = datetime.timedelta(days=30)
MAX_PROXY_DAYS = 30


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temp, mode)
    os.replace(temp, path)


def user_subject(user: str) -> x509.Name:
    """``CN=<user>,OU=cadc,O=hia,C=ca``: the distinguished name CADC gives its users."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ca"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hia"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "cadc"),
            x509.NameAttribute(NameOID.COMMON_NAME, user),
        ]
    )


@dataclass(frozen=True)
class Pki:
    """The files of the replica's PKI under one folder."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def ensure(self) -> None:
        """Make the CA and the server certificate unless valid ones exist."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        if not self._valid(self.ca_cert, self.ca_key):
            self._make_ca()
            self.server_cert.unlink(missing_ok=True)
        if not self._valid(self.server_cert, self.server_key, issuer=self._load_ca()[0]):
            self._make_server()

    def _valid(
        self, cert_path: Path, key_path: Path, *, issuer: x509.Certificate | None = None
    ) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError):
            return False
        if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
            return False
        if issuer is not None:
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, Exception):
                return False
        return True

    def _load_ca(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cert, key

    def _make_ca(self) -> None:
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write(self.ca_key, _key_pem(key), 0o600)
        _write(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _issue(
        self,
        subject: x509.Name,
        key: rsa.RSAPrivateKey,
        days: float,
        usage: x509.ObjectIdentifier,
        alt_names: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        ca_cert, ca_key = self._load_ca()
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), False)
        return builder.sign(ca_key, hashes.SHA256())

    def _make_server(self) -> None:
        key = _new_key()
        cert = self._issue(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
            key,
            365,
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
        )
        _write(self.server_key, _key_pem(key), 0o600)
        _write(self.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def proxy_certificate(self, user: str, days: float) -> str:
        """A PEM certificate for ``user`` valid for ``days`` (at most 30), then its key."""
        days = min(max(days, 1 / 24), MAX_PROXY_DAYS)
        key = _new_key()
        cert = self._issue(user_subject(user), key, days, ExtendedKeyUsageOID.CLIENT_AUTH)
        return (cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key)).decode("ascii")

    def write_bundle(self, path: Path, base_bundle: Path | None) -> Path:
        """``base_bundle``'s CAs (e.g. certifi's) followed by the test CA, as one PEM file."""
        data = base_bundle.read_bytes() if base_bundle is not None else b""
        if data and not data.endswith(b"\n"):
            data += b"\n"
        data += b"# " + CA_NAME.encode() + b"\n" + self.ca_cert.read_bytes()
        _write(path, data, 0o644)
        return path
