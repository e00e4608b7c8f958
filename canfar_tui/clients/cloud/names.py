"""Nova's naming rules, checked before a request is sent (by every cloud backend).

Nova itself accepts some names it should not (a key pair called "   "), so the sandbox and
the openstacksdk backend both check here and raise the same one-line InvalidInput.
"""

from __future__ import annotations

from typing import Final

from canfar_tui.clients.base import InvalidInput

MAX_NAME: Final = 255
KEYPAIR_NAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.@-"
)


def check_name(what: str, name: str) -> str:
    """Display names: 1-255 printable characters, no outer spaces. Returns ``name``."""
    if not name or not name.strip():
        raise InvalidInput(f"The {what} name is empty.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InvalidInput(f"The {what} name contains control characters.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"The {what} name is {len(name)} characters long (at most {MAX_NAME}).")
    if name != name.strip():
        raise InvalidInput(f"The {what} name starts or ends with a space.")
    return name


def check_keypair_name(name: str) -> str:
    """Key pair names: a display name made of letters, digits, spaces and ``. _ - @``."""
    check_name("key pair", name)
    bad = sorted({char for char in name if char not in KEYPAIR_NAME_CHARS})
    if bad:
        raise InvalidInput(
            f"The key pair name has characters Nova refuses ({''.join(bad[:5])!r}); "
            "use letters, digits, spaces and . _ - @"
        )
    return name
