"""openstacksdk, keystoneauth and requests exceptions → the ClientError tree, in one place.

401 → AuthError, 404 → NotFound, "Quota exceeded" (403/409/413 from Nova or Neutron) →
QuotaExceeded, 409 and policy refusals → Conflict, other 400s → InvalidInput, connection
failures, timeouts and 5xx → Unavailable. The SDKs are imported only when an error is mapped
(by then they are loaded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from canfar_tui.clients.base import (
    AuthError,
    ClientError,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    Unavailable,
)
from canfar_tui.clients.cloud.openstack_convert import one_line

__all__ = ["map_sdk_error"]

_HTTP_STATUS_IN_TEXT = re.compile(r"\(HTTP (\d{3})\)")


def _chain(error: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def map_sdk_error(
    error: BaseException,
    what: str,
    *,
    label: str,
    user_label: str,
    quota_message: str | None = None,
) -> ClientError | None:
    """The ClientError for an SDK, keystoneauth or requests exception (None: not ours).

    ``what`` names the call in messages, ``label`` the cloud, ``user_label`` the user;
    ``quota_message`` replaces the cloud's own words when a quota is exceeded.
    """
    import requests
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions as sdk

    status: int | None = None
    detail = ""
    ours = False
    for exc in _chain(error):
        if isinstance(exc, sdk.HttpException):
            ours = True
            status = status or exc.status_code
            detail = detail or one_line(str(exc.details or exc.message or ""))
        elif isinstance(exc, ks.HttpError):
            ours = True
            status = status or exc.http_status
            detail = detail or one_line(str(exc.message or exc))
        elif isinstance(
            exc,
            (
                ks.ConnectFailure,
                ks.ConnectTimeout,
                ks.RequestTimeout,
                ks.SSLError,
                requests.ConnectionError,
                requests.Timeout,
                sdk.ResourceTimeout,
            ),
        ):
            return Unavailable(
                f"Cannot reach {label} ({what}); check the network and try again.",
                details=one_line(str(exc), 1000),
            )
        elif isinstance(exc, (ks.EndpointNotFound, sdk.EndpointNotFound)):
            return Unavailable(
                f"{label} offers no endpoint for this ({what}).",
                details=one_line(str(exc), 1000),
            )
        elif isinstance(exc, ks.DiscoveryFailure):
            return Unavailable(
                f"Cannot find the Keystone service of {label} ({what}).",
                details=one_line(str(exc), 1000),
            )
        elif isinstance(
            exc, (ks.MissingRequiredOptions, ks.MissingAuthPlugin, ks.NoMatchingPlugin)
        ):
            return AuthError(f"The {label} credentials are incomplete: {one_line(str(exc), 160)}")
        elif isinstance(exc, sdk.ConfigException):
            return AuthError(f"Cloud configuration problem: {one_line(str(exc), 200)}")
        elif isinstance(exc, (sdk.SDKException, ks.ClientException)):
            ours = True
            found = _HTTP_STATUS_IN_TEXT.search(str(exc))
            if found and status is None:
                status = int(found.group(1))
            detail = detail or one_line(str(exc))
    if not ours:
        return None
    details = one_line(str(error), 1000)
    detail = _HTTP_STATUS_IN_TEXT.sub("", detail).strip() or (
        f"HTTP {status}" if status else "error"
    )
    if status == 401:
        return AuthError(
            f"Login failed: {label} refused the username or password for "
            f"'{user_label}'. Check them and log in again.",
            details=details,
        )
    if status in (400, 403, 409, 413) and (
        "quota" in detail.lower() or "limit exceeded" in detail.lower()
    ):
        message = quota_message or detail
        if "quota" not in message.lower():
            message = f"Quota exceeded: {message}"
        return QuotaExceeded(message, details=details)
    if status == 404:
        return NotFound(f"{what}: not found ({detail}).", details=details)
    if status == 409:
        return Conflict(f"{what}: {detail}", details=details)
    if status == 403:
        return Conflict(f"{what}: not permitted ({detail}).", details=details)
    if status in (400, 413, 422):
        return InvalidInput(f"{what}: {detail}", details=details)
    if status is not None and (status >= 500 or status == 429):
        return Unavailable(f"{label} failed: {what} ({detail}).", details=details)
    return ClientError(f"{what} failed: {detail}", details=details)
