"""The proxy certificate a real VOSpace backend presents: present, readable, not expired.

A real profile's VOSpace (CADC's vault) authenticates with the CADC proxy certificate
(``~/.ssl/cadcproxy.pem`` unless the profile names another). :class:`CertificateCheck` looks at
it before every VOSpace call — a ``stat`` each time, the file parsed again only when it changed,
so a certificate renewed meanwhile (``c`` on the dashboard, ``cadc-get-cert -n`` in another
shell) is used at once — and answers a missing, unreadable or expired one with one line that
says how to get a new one, instead of a TLS handshake failure deep in ``vos``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from canfar_tui.clients.base import AuthError

__all__ = ["GET_CERTIFICATE", "CertificateCheck", "certificate_problem", "certificate_user"]

#: How a user gets a (new) proxy certificate, for the end of a one-line message.
GET_CERTIFICATE = "canfar-tui login, c on the dashboard, or cadc-get-cert -n"


def _shown(path: Path) -> str:
    """``path`` with the home folder written ``~`` (shorter, and no user name in logs)."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _read(path: Path) -> tuple[datetime, str | None] | str:
    """(expiry, common name) of the certificate at ``path``, or the one-line problem."""
    from canfar_tui.clients.credentials import MAX_CERTIFICATE_BYTES, certificate_expiry
    from canfar_tui.clients.files import UnreadableFile, read_bounded

    try:
        pem = read_bounded(path, MAX_CERTIFICATE_BYTES, "CADC certificate")
    except UnreadableFile as error:
        if error.missing:
            return f"No CADC certificate at {_shown(path)}: get one with {GET_CERTIFICATE}"
        return f"{error}: get a new one with {GET_CERTIFICATE}"
    try:
        return certificate_expiry(pem)
    except ValueError:
        return (
            f"{_shown(path)} holds no readable CADC certificate: "
            f"get a new one with {GET_CERTIFICATE}"
        )


def _expired(path: Path, expires: datetime) -> str:
    return (
        f"Your CADC certificate {_shown(path)} expired on {expires:%Y-%m-%d %H:%M} UTC: "
        f"renew it with {GET_CERTIFICATE}"
    )


def certificate_problem(path: Path, now: datetime | None = None) -> str | None:
    """One line when the certificate at ``path`` cannot be used (missing, unreadable, expired)."""
    read = _read(path)
    if isinstance(read, str):
        return read
    expires, _ = read
    if expires <= (now or datetime.now(UTC)):
        return _expired(path, expires)
    return None


def certificate_user(path: Path) -> str | None:
    """The CADC username the certificate at ``path`` names (its CN), if it can be read."""
    read = _read(path)
    return None if isinstance(read, str) else read[1]


class CertificateCheck:
    """Raises :class:`AuthError` (one line) while the certificate at ``path`` is unusable.

    Thread-safe; the file is parsed again only when its size or modification time changed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._read: tuple[datetime, str | None] | str = ""

    def __call__(self, now: datetime | None = None) -> None:
        try:
            status = self.path.stat()
            seen: tuple[int, int] | None = (status.st_mtime_ns, status.st_size)
        except OSError:
            seen = None
        with self._lock:
            if seen is None or seen != self._seen:
                self._read = _read(self.path)
                self._seen = seen
            read = self._read
        if isinstance(read, str):
            raise AuthError(read)
        expires, _ = read
        if expires <= (now or datetime.now(UTC)):
            raise AuthError(_expired(self.path, expires))
