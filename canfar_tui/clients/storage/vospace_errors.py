"""How the VOSpace backend names failures: the vos/cadcutils/requests error mapping.

:func:`map_error` turns whatever ``vos``, ``cadcutils``, ``requests`` or ``urllib3`` raised into
the client error tree of :mod:`canfar_tui.clients.base` (one line for the user, details for the
log); :func:`is_transient` says which failures are worth another try. The libraries are imported
only when a failure is mapped, never at import time.
"""

from __future__ import annotations

import errno
from pathlib import Path

from canfar_tui.clients._blocking import Cancelled
from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)

__all__ = [
    "ChecksumMismatch",
    "TransferCancelled",
    "TransientMismatch",
    "first_line",
    "is_transient",
    "local_write_error",
    "map_error",
    "status_of",
]


class ChecksumMismatch(Unavailable):
    """Bytes arrived corrupted (MD5 mismatch) and retries did not help; nothing was kept."""

    title = "Checksum mismatch"


class TransferCancelled(Cancelled):
    """Raised inside a worker thread when the transfer's task was cancelled."""


class TransientMismatch(Unavailable):
    """One transfer attempt was corrupted in transit; it is retried."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri}: MD5 mismatch in transit")


def local_write_error(exc: OSError, destination: Path) -> InvalidInput:
    """One line for a failed local write; a full disk (or quota) names the folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InvalidInput(
            f"No space left on {destination.parent} for {destination.name}; nothing was kept",
            details=f"{type(exc).__name__}: {exc}",
        )
    return InvalidInput(f"Cannot write {destination}: {exc.strerror or exc}")


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind a cadcutils/requests exception, if there is one."""
    for candidate in (exc, getattr(exc, "orig_exception", None)):
        response = getattr(candidate, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def first_line(text: object) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def is_transient(exc: BaseException) -> bool:
    """Connection problems, timeouts, cut-off bodies and 5xx answers: worth another try."""
    if isinstance(exc, ClientError):
        return exc.transient and not isinstance(exc, ChecksumMismatch)
    import requests
    import urllib3.exceptions
    from cadcutils import exceptions as cadc

    if isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.HTTPError
        | cadc.TransferException
        | ConnectionError
        | TimeoutError,
    ):
        return True
    if isinstance(exc, cadc.SslException):
        return False
    status = status_of(exc)
    if status is not None:
        return status >= 500 or status in (408, 429)
    if isinstance(exc, cadc.HttpException):
        orig = exc.orig_exception
        return isinstance(orig, requests.ConnectionError | requests.Timeout | ConnectionError)
    return isinstance(exc, OSError) and exc.errno in (503, 504, 502, 500, errno.EAGAIN)


def map_error(exc: BaseException, subject: str, action: str) -> ClientError:
    """Translate a vos/cadcutils/requests exception into the client error tree."""
    if isinstance(exc, ClientError):
        return exc
    import requests
    import urllib3.exceptions
    from cadcutils import exceptions as cadc

    details = f"{type(exc).__name__}: {exc}"
    text = str(exc)
    status = status_of(exc)
    if isinstance(exc, cadc.SslException):
        if "expired" in text.lower() or "certificate" in text.lower():
            return AuthError(
                f"TLS failure while {action}: check or renew your CADC certificate", details=details
            )
        return Unavailable(f"TLS failure while {action}", details=details)
    if isinstance(exc, RuntimeError) and "cert" in text.lower():
        return AuthError("Your CADC certificate has expired: renew it", details=details)
    if isinstance(exc, cadc.NotFoundException) or status == 404:
        return NotFound(f"Not found: {subject}", details=details)
    if isinstance(exc, cadc.UnauthorizedException) or status == 401:
        return AuthError(
            f"Authentication required for {subject}: renew your CADC certificate", details=details
        )
    if isinstance(exc, cadc.ForbiddenException) or status == 403:
        return AuthError(f"Permission denied: {subject}", details=details)
    if isinstance(exc, cadc.AlreadyExistsException) or status == 409:
        return Conflict(f"Conflict on {subject}: {first_line(text) or 'already exists'}")
    if isinstance(exc, cadc.ByteLimitException) or status == 413:
        return QuotaExceeded(f"VOSpace quota exceeded while {action}", details=details)
    if isinstance(exc, cadc.PreconditionFailedException) or status == 412:
        return ChecksumMismatch(
            f"{subject}: the service received corrupted bytes (MD5 mismatch)", details=details
        )
    if isinstance(exc, cadc.BadRequestException) or status == 400:
        return InvalidInput(f"Invalid request for {subject}: {first_line(text)}", details=details)
    if status is not None and status >= 500:
        return Unavailable(f"VOSpace error {status} while {action}", details=details)
    if isinstance(exc, requests.Timeout | TimeoutError):
        return Unavailable(f"VOSpace timed out while {action}", details=details)
    if isinstance(
        exc,
        requests.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.HTTPError
        | ConnectionError
        | cadc.HttpException,
    ):
        return Unavailable(f"Cannot reach VOSpace while {action}", details=details)
    for marker, kind, message in (
        ("NodeNotFound", NotFound, f"Not found: {subject}"),
        ("ContainerNotFound", NotFound, f"Folder not found for {subject}"),
        ("DuplicateNode", Conflict, f"Already exists: {subject}"),
        ("ContainerNotEmpty", Conflict, f"Folder not empty: {subject}"),
        ("PermissionDenied", AuthError, f"Permission denied: {subject}"),
        ("QuotaExceeded", QuotaExceeded, f"VOSpace quota exceeded while {action}"),
        ("RequestEntityTooLarge", QuotaExceeded, f"VOSpace quota exceeded while {action}"),
        ("InvalidArgument", InvalidInput, f"Invalid request for {subject}"),
        ("InvalidURI", InvalidInput, f"Invalid node name: {subject}"),
    ):
        if marker in text:
            return kind(message, details=details)
    if isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
        if code in (errno.ENOENT, 404):
            return NotFound(f"Not found: {subject}", details=details)
        if code in (errno.EEXIST, 409):
            return Conflict(f"Already exists: {subject}", details=details)
        if code in (errno.EACCES, errno.EPERM, 401, 403):
            return AuthError(f"Permission denied: {subject}", details=details)
        if code in (errno.E2BIG, 413):
            return QuotaExceeded(f"VOSpace quota exceeded while {action}", details=details)
        if code in (errno.EINVAL, 400):
            return InvalidInput(f"Invalid request for {subject}", details=details)
        if code >= 500 or code in (errno.EAGAIN, errno.ETIMEDOUT, errno.EIO, errno.EFAULT):
            return Unavailable(f"VOSpace failed while {action}", details=details)
    if isinstance(exc, AttributeError) and "resource ID" in text:
        return Unavailable(
            f"Cannot find the VOSpace service for {subject} (registry or network)", details=details
        )
    if isinstance(exc, ValueError) and "ertificate" in text:
        return AuthError(f"Unusable CADC certificate: {first_line(text)}", details=details)
    return ClientError(f"VOSpace failed while {action}: {first_line(text)}", details=details)
