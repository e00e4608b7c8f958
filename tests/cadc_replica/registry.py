"""The replica's registry: resource IDs, their capabilities, and client homes that follow them.

The CADC clients resolve every ``ivo://`` resource ID through
``https://cadc-west-01.canfar.net/reg/resource-caps``, cached in
``$HOME/.config/cadc-registry/resource-caps``. :func:`prepare_client_home` writes that cache
(with an mtime far in the future, so it is never refreshed) listing the replica's services, and
the PyPI version caches that stop ``vos``/``cadcutils``/``cadcdata`` from asking PyPI.

Each service answers ``<base>/<path>/capabilities`` with a VOSI document built by
:func:`capabilities_document`: for every capability an anonymous interface (when the service
allows anonymous use) and one interface listing the security methods the real service lists.
``cadcutils`` picks the first interface matching the subject's methods (certificate, cookie,
BasicAA, token, in that order), else the anonymous one.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

CERT = "ivo://ivoa.net/sso#tls-with-certificate"
BASIC = "ivo://ivoa.net/sso#BasicAA"
COOKIE = "ivo://ivoa.net/sso#cookie"
TOKEN = "ivo://ivoa.net/sso#token"

CAPABILITIES = "ivo://ivoa.net/std/VOSI#capabilities"
AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"
CDP_PROXY = "ivo://ivoa.net/std/CDP#proxy-1.0"
UMS_LOGIN = "ivo://ivoa.net/std/UMS#login-0.1"
SI_FILES = "http://www.opencadc.org/std/storage#files-1.0"
SI_LOCATE = "http://www.opencadc.org/std/storage#locate-1.0"

CRED_ID = "ivo://cadc.nrc.ca/cred"
GMS_ID = "ivo://cadc.nrc.ca/gms"
DATA_ID = "ivo://cadc.nrc.ca/data"
RAVEN_ID = "ivo://cadc.nrc.ca/global/raven"
MINOC_ID = "ivo://cadc.nrc.ca/cadc/minoc"
VAULT_ID = "ivo://cadc.nrc.ca/vault"

#: Registry and version caches get an mtime this far in the future so cadcutils never refreshes.
CACHE_FUTURE_SECONDS = 10 * 365 * 86400


@dataclass(frozen=True)
class Feature:
    """One capability: its standard ID, the path below the service, who may use it."""

    standard_id: str
    path: str
    anonymous: bool
    secured: tuple[str, ...] = ()


def _vosi() -> tuple[Feature, ...]:
    return (
        Feature(CAPABILITIES, "capabilities", True),
        Feature(AVAILABILITY, "availability", True),
    )


#: resource ID → (service path, its features), as the real services publish them.
SERVICES: dict[str, tuple[str, tuple[Feature, ...]]] = {
    CRED_ID: ("cred", (*_vosi(), Feature(CDP_PROXY, "generate", False, (BASIC, CERT, COOKIE)))),
    GMS_ID: ("ac", (*_vosi(), Feature(UMS_LOGIN, "login", True))),
    DATA_ID: ("data", _vosi()),
    RAVEN_ID: (
        "raven",
        (
            *_vosi(),
            Feature(SI_FILES, "files", True, (CERT, COOKIE, TOKEN)),
            Feature(SI_LOCATE, "locate", True, (CERT, COOKIE, TOKEN)),
        ),
    ),
    MINOC_ID: ("minoc", (*_vosi(), Feature(SI_FILES, "files", True, (CERT, COOKIE, TOKEN)))),
    VAULT_ID: (
        "vault",
        (
            *_vosi(),
            *(
                Feature(standard_id, path, True, (CERT, TOKEN, COOKIE))
                for standard_id, path in (
                    ("ivo://ivoa.net/std/VOSpace/v2.0#nodes", "nodes"),
                    ("ivo://ivoa.net/std/VOSpace#sync-2.1", "synctrans"),
                    ("ivo://ivoa.net/std/VOSpace/v2.0#transfers", "transfers"),
                    ("ivo://ivoa.net/std/VOSpace#files-proto", "files"),
                    ("ivo://ivoa.net/std/VOSpace#recursive-delete-proto", "recursive-delete"),
                )
            ),
        ),
    ),
}


def service_base(base_url: str, resource_id: str) -> str:
    """``https://127.0.0.1:PORT/<path>``: the root of the service ``resource_id``."""
    return f"{base_url.rstrip('/')}/{SERVICES[resource_id][0]}"


def registry_text(base_url: str) -> str:
    """The ``resource-caps`` document: one ``ID = capabilities URL`` line per service."""
    lines = ["# canfar-tui CADC replica: resource ID = capabilities URL"]
    lines += [f"{rid} = {service_base(base_url, rid)}/capabilities" for rid in SERVICES]
    return "\n".join(lines) + "\n"


def capabilities_document(base_url: str, resource_id: str) -> bytes:
    """The VOSI capabilities of ``resource_id`` served under ``base_url``."""
    base = service_base(base_url, resource_id)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<vosi:capabilities'
        ' xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">'
    ]
    for feature in SERVICES[resource_id][1]:
        parts.append(f'<capability standardID="{escape(feature.standard_id)}">')
        url = escape(f"{base}/{feature.path}")
        if feature.anonymous:
            parts.append(
                '<interface xsi:type="vs:ParamHTTP" role="std">'
                f'<accessURL use="base">{url}</accessURL></interface>'
            )
        if feature.secured:
            methods = "".join(f'<securityMethod standardID="{m}"/>' for m in feature.secured)
            parts.append(
                '<interface xsi:type="vs:ParamHTTP" role="std">'
                f'<accessURL use="base">{url}</accessURL>{methods}</interface>'
            )
        parts.append("</capability>")
    parts.append("</vosi:capabilities>\n")
    return "".join(parts).encode()


def _write_atomic(path: Path, text: str, *, mtime: float | None = None, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.chmod(temp, mode)
        if mtime is not None:
            os.utime(temp, (mtime, mtime))
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def prepare_client_home(home: Path, base_url: str) -> Path:
    """Make ``home`` a HOME in which the CADC clients find the replica at ``base_url``.

    Writes ``.config/cadc-registry/resource-caps`` (every replica service) and the PyPI
    version caches, all dated in the future; removes capabilities cached for another port.
    No secret is written. Returns ``home``.
    """
    home = Path(home)
    future = time.time() + CACHE_FUTURE_SECONDS
    registry = home / ".config" / "cadc-registry"
    _write_atomic(registry / "resource-caps", registry_text(base_url), mtime=future)
    for resource_id in SERVICES:
        parsed = urlsplit(resource_id)
        name = parsed.path.strip("/")
        head, _, tail = name.rpartition("/")
        cached = registry / parsed.netloc / head / f".{tail}"
        with contextlib.suppress(FileNotFoundError):
            cached.unlink()
    for package in ("vos", "cadcutils", "cadcdata"):
        _write_atomic(
            home / ".config" / package / "caches" / ".pypi_versions.json",
            '{"releases": {}}\n',
            mtime=future,
        )
    return home


CERTIFI_SHIM = '''"""certifi for clients of the canfar-tui CADC replica (scripts/cadc/start.sh).

cadcutils turns off requests' ``trust_env``, so ``REQUESTS_CA_BUNDLE`` never reaches it and
requests verifies servers against ``certifi.where()``. With this folder first on PYTHONPATH,
that is the replica's bundle: certifi's CAs followed by the replica's test CA.
"""

BUNDLE = {bundle!r}
__version__ = "0+canfar.tui.cadc.replica"


def where() -> str:
    return BUNDLE


def contents() -> str:
    with open(BUNDLE, encoding="ascii") as handle:
        return handle.read()
'''


def write_certifi_shim(folder: Path, bundle: Path) -> Path:
    """A ``certifi`` package in ``folder`` whose ``where()`` is ``bundle``; returns ``folder``."""
    _write_atomic(folder / "certifi" / "__init__.py", CERTIFI_SHIM.format(bundle=str(bundle)))
    return folder
