"""VOSpace URIs as users type them — ``vos:``, ``vault:``, ``arc:``, ``cavern:``, ``vos://`` — and
the VOSpace home of a profile.

How the real ``vos`` client reads a URI (``vos/vos.py``, ``Client.get_endpoints`` and
``Client.fix_uri``): a short scheme names the service's resource ID, ``ivo://cadc.nrc.ca/<scheme>``,
except ``vos:``, which is its shortcut for vault — so ``vos:jdoe/x`` and ``vault:jdoe/x`` are the
same node of ``ivo://cadc.nrc.ca/vault``, while ``arc:`` and ``cavern:`` name other services. A
full URI names the resource ID in its authority, ``/`` written ``!`` (or ``~``):
``vos://cadc.nrc.ca!vault/jdoe/x`` is that node again, and it is the form the service answers with.

This module gives every node one public name, the one ``vls`` prints: vault's nodes are
``vos:PATH``, arc's and cavern's ``arc:PATH`` and ``cavern:PATH``, and a full URI of any other
service stays as it is. :func:`normalise_vospace_uri` turns what a user typed into that name;
:func:`public_vospace_uri` names what the service answered. Nothing here imports ``vos``.
"""

from __future__ import annotations

__all__ = [
    "LEGACY_VOSPACE_SETTINGS",
    "SHORT_SCHEMES",
    "is_vospace_uri",
    "normalise_vospace_uri",
    "public_vospace_uri",
    "vospace_home",
]

#: The short schemes ``vos`` resolves (``vault`` and ``vos`` are the same service).
SHORT_SCHEMES = ("vos", "vault", "arc", "cavern")
#: Profile ``vospace`` values that name the vault service rather than a folder in it: they
#: mean "the user's home" (``ivo://cadc.nrc.ca/vault`` was the documented default).
LEGACY_VOSPACE_SETTINGS = frozenset({"", "ivo://cadc.nrc.ca/vault", "vos:", "vault:"})

#: The authority of CADC's services in full URIs (``ivo://cadc.nrc.ca/NAME``, ``/`` as ``!``).
_CADC_AUTHORITY = "cadc.nrc.ca!"


def public_vospace_uri(full_uri: str) -> str:
    """The public name of a node the service named ``vos://AUTHORITY/PATH``.

    ``vos://cadc.nrc.ca!vault/P`` is ``vos:P``, ``vos://cadc.nrc.ca!NAME/P`` is ``NAME:P`` (the
    short form ``vos`` resolves back to the same service); any other authority stays full.
    """
    if not full_uri.startswith("vos://"):
        return full_uri
    authority, _, path = full_uri[len("vos://") :].partition("/")
    authority = authority.replace("~", "!")
    if not authority.startswith(_CADC_AUTHORITY):
        return full_uri
    name = authority[len(_CADC_AUTHORITY) :]
    if not name or not name.isalnum():
        return full_uri
    return f"{'vos' if name == 'vault' else name}:{path}"


def normalise_vospace_uri(text: str) -> str:
    """``text`` under its public name: ``vault:jdoe/x`` → ``vos:jdoe/x``.

    Leading slashes of the path go (``vos:/jdoe`` is ``vos:jdoe`` to ``vos``), a trailing one
    stays (it says "a folder" to ``put``). Raises ValueError (one line) for anything that is
    not a VOSpace URI: another scheme, a registry ID (``ivo://…``), no scheme at all.
    """
    value = text.strip()
    scheme, separator, rest = value.partition(":")
    scheme = scheme.lower()
    if not separator or not scheme:
        raise ValueError(f"not a VOSpace URI: {text!r} (expected e.g. vos:USER/folder)")
    if scheme == "ivo":
        raise ValueError(
            f"{text!r} names a service, not a VOSpace folder (expected e.g. vos:USER/folder)"
        )
    if rest.startswith("//"):
        if scheme != "vos":
            raise ValueError(f"not a VOSpace URI: {text!r} (expected e.g. vos:USER/folder)")
        return public_vospace_uri(f"vos:{rest}")
    if scheme not in SHORT_SCHEMES:
        raise ValueError(
            f"not a VOSpace URI: {text!r} (expected vos:, vault:, arc: or cavern:, "
            "e.g. vos:USER/folder)"
        )
    if scheme == "vault":
        scheme = "vos"
    return f"{scheme}:{rest.lstrip('/')}"


def is_vospace_uri(text: str) -> bool:
    """True for a VOSpace URI naming a node (``vos:`` alone names none)."""
    try:
        normalised = normalise_vospace_uri(text)
    except ValueError:
        return False
    if normalised.startswith("vos://"):
        return bool(normalised[len("vos://") :].partition("/")[2].strip("/"))
    return bool(normalised.partition(":")[2].strip("/"))


def vospace_home(setting: str | None, username: str | None) -> str:
    """The VOSpace home of a profile: its ``vospace`` setting, or ``vos:<username>``.

    ``setting`` may name a home (``vos:jdoe``, ``vault:jdoe``, a project space ``vos:project/``)
    or be one of :data:`LEGACY_VOSPACE_SETTINGS` ("the user's home"). Raises ValueError (one
    line) for a setting that is not a VOSpace folder, or when the user's home is wanted and
    ``username`` is unknown.
    """
    value = (setting or "").strip()
    if value.rstrip("/") in LEGACY_VOSPACE_SETTINGS:
        if not username:
            raise ValueError("canfar-tui does not know your CADC username")
        return f"vos:{username}"
    try:
        home = normalise_vospace_uri(value)
    except ValueError as error:
        raise ValueError(f"vospace = {value!r}: {error}") from None
    if not is_vospace_uri(home):
        raise ValueError(f"vospace = {value!r} names no folder (expected e.g. vos:USER)")
    return home.rstrip("/")
