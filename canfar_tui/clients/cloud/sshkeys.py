"""Parse and validate OpenSSH public key lines before they are imported as key pairs.

Nova accepts almost any text as a key and fails late (``Keypair data is invalid``); both cloud
backends call :func:`parse_public_key` first so that a wrong file gets a clear, one-line reason:

* the line must be ``TYPE BASE64 [COMMENT]`` with a supported ``TYPE`` (ed25519, RSA, ECDSA on
  the NIST curves, and their FIDO ``sk-`` variants);
* the base64 must decode, and the key type written inside the blob must match the line's;
* the blob must be complete (no missing or trailing bytes), RSA keys at least 2048 bits;
* private keys, PEM/PKCS8 and RFC 4716 (``---- BEGIN SSH2 PUBLIC KEY ----``) exports, DSA keys
  and ``authorized_keys`` options are refused with a hint about what to do instead.

The fingerprints are the ones the cloud shows: MD5 colon-hex (what Nova stores and Horizon
displays) and ``SHA256:…`` (what ``ssh-keygen -l`` prints today).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import NamedTuple

from canfar_tui.clients.base import InvalidInput

__all__ = [
    "MIN_RSA_BITS",
    "SUPPORTED_KEY_TYPES",
    "PublicKeyInfo",
    "normalize_public_key",
    "parse_public_key",
]

#: The smallest RSA modulus accepted, in bits.
MIN_RSA_BITS = 2048

_ECDSA_CURVES = {
    "ecdsa-sha2-nistp256": ("nistp256", 65),
    "ecdsa-sha2-nistp384": ("nistp384", 97),
    "ecdsa-sha2-nistp521": ("nistp521", 133),
}
_SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
_SK_ED25519 = "sk-ssh-ed25519@openssh.com"

#: Key types :func:`parse_public_key` accepts.
SUPPORTED_KEY_TYPES: frozenset[str] = frozenset(
    {"ssh-ed25519", "ssh-rsa", *_ECDSA_CURVES, _SK_ECDSA, _SK_ED25519}
)

_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class PublicKeyInfo(NamedTuple):
    """What a valid public key line holds."""

    key_type: str
    fingerprint_md5: str
    fingerprint_sha256: str
    comment: str


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"not an SSH public key: {reason}")


def _key_line(text: str) -> str:
    """The one meaningful line of ``text``, or an InvalidInput saying why there is none."""
    if "PRIVATE KEY" in text:
        raise InvalidInput("looks like a PRIVATE key — choose the .pub file")
    if "BEGIN SSH2 PUBLIC KEY" in text:
        raise _invalid(
            "RFC 4716 (SSH2) format; convert it with 'ssh-keygen -i -f FILE' and import the output"
        )
    if "BEGIN PUBLIC KEY" in text or "BEGIN RSA PUBLIC KEY" in text:
        raise _invalid(
            "PEM format; convert it with 'ssh-keygen -i -m PKCS8 -f FILE' and import the output"
        )
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if not lines:
        raise _invalid("the text is empty")
    if len(lines) > 1:
        raise _invalid(f"the text holds {len(lines)} lines; paste exactly one key")
    return lines[0]


class _Reader:
    """Reads the SSH wire format (RFC 4251 strings and mpints) from a key blob."""

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self._pos = 0

    def string(self, what: str) -> bytes:
        if self._pos + 4 > len(self._blob):
            raise _invalid(f"the key data is truncated (no {what})")
        length = int.from_bytes(self._blob[self._pos : self._pos + 4], "big")
        start = self._pos + 4
        if start + length > len(self._blob):
            raise _invalid(f"the key data is truncated (short {what})")
        self._pos = start + length
        return self._blob[start : self._pos]

    def mpint(self, what: str) -> int:
        data = self.string(what)
        if data and data[0] & 0x80:
            raise _invalid(f"the key data has a negative {what}")
        return int.from_bytes(data, "big")

    def text(self, what: str) -> str:
        try:
            return self.string(what).decode("ascii")
        except UnicodeDecodeError:
            raise _invalid(f"the key data has a garbled {what}") from None

    def finish(self) -> None:
        if self._pos != len(self._blob):
            raise _invalid(f"the key data has {len(self._blob) - self._pos} unexpected extra bytes")


def _check_blob(key_type: str, blob: bytes) -> None:
    reader = _Reader(blob)
    embedded = reader.text("key type")
    if embedded != key_type:
        raise _invalid(f"the line says {key_type!r} but the key data says {embedded!r}")
    if key_type == "ssh-rsa":
        exponent = reader.mpint("RSA exponent")
        modulus = reader.mpint("RSA modulus")
        if exponent < 3 or exponent % 2 == 0:
            raise _invalid("the RSA exponent is invalid")
        bits = modulus.bit_length()
        if bits < MIN_RSA_BITS:
            raise InvalidInput(
                f"RSA key too short: {bits} bits (at least {MIN_RSA_BITS} needed); "
                "make a new one with 'ssh-keygen -t ed25519'"
            )
    elif key_type in (_SK_ED25519, "ssh-ed25519"):
        if len(reader.string("ed25519 key")) != 32:
            raise _invalid("the ed25519 key is not 32 bytes long")
        if key_type == _SK_ED25519:
            reader.text("security key application")
    else:
        curve_key = "ecdsa-sha2-nistp256" if key_type == _SK_ECDSA else key_type
        curve, point_length = _ECDSA_CURVES[curve_key]
        named = reader.text("curve name")
        if named != curve:
            raise _invalid(f"the key type {key_type!r} does not match its curve {named!r}")
        point = reader.string("curve point")
        if len(point) != point_length or point[0] != 0x04:
            raise _invalid(f"the {curve} point is malformed")
        if key_type == _SK_ECDSA:
            reader.text("security key application")
    reader.finish()


def _split(line: str) -> tuple[str, str, str]:
    """Split a key line into (type, base64, comment), explaining what is wrong if it is not."""
    if any(ord(char) < 32 and char != "\t" for char in line) or "\x7f" in line:
        raise _invalid("the text contains control characters")
    parts = line.split(None, 2)
    key_type = parts[0]
    if key_type not in SUPPORTED_KEY_TYPES:
        if key_type == "ssh-dss":
            raise InvalidInput(
                "DSA keys are no longer accepted; make a new key with 'ssh-keygen -t ed25519'"
            )
        if any(word in SUPPORTED_KEY_TYPES for word in line.split()[1:]):
            raise _invalid("remove the authorized_keys options before the key type")
        shown = key_type if len(key_type) <= 40 else key_type[:37] + "..."
        raise _invalid(f"unknown key type {shown!r}")
    if len(parts) < 2:
        raise _invalid("the key data after the key type is missing")
    comment = parts[2].strip() if len(parts) == 3 else ""
    return key_type, parts[1], comment


def _decode(key_type: str, encoded: str) -> bytes:
    if not _BASE64_RE.match(encoded) or len(encoded) % 4:
        raise _invalid("the key data is not valid base64 (was the line cut or wrapped?)")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("the key data is not valid base64 (was the line cut or wrapped?)") from None
    _check_blob(key_type, blob)
    return blob


def parse_public_key(text: str) -> PublicKeyInfo:
    """Validate one OpenSSH public key line and return its type, fingerprints and comment.

    Raises :class:`~canfar_tui.clients.base.InvalidInput` with a one-line reason otherwise.
    """
    key_type, encoded, comment = _split(_key_line(text))
    blob = _decode(key_type, encoded)
    md5_hex = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    md5 = ":".join(md5_hex[index : index + 2] for index in range(0, len(md5_hex), 2))
    sha256 = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PublicKeyInfo(key_type, md5, f"SHA256:{sha256}", comment)


def normalize_public_key(text: str) -> str:
    """The key as one clean ``TYPE BASE64 [COMMENT]`` line (validated like parse_public_key)."""
    key_type, encoded, comment = _split(_key_line(text))
    _decode(key_type, encoded)
    return f"{key_type} {encoded} {comment}".rstrip()
