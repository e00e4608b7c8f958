"""OpenSSH public key validation: real keys from ssh-keygen, and every way a paste goes wrong."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.cloud.sshkeys import (
    SUPPORTED_KEY_TYPES,
    PublicKeyInfo,
    normalize_public_key,
    parse_public_key,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen is not installed")

ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09XMBAQUBKMPuj3d "
    "contract@canfar-tui"
)
ED25519_MD5 = "49:81:e0:e8:1c:71:12:8e:a5:34:19:52:d2:9f:48:50"


def keygen(
    tmp_path: Path, key_type: str, bits: int | None = None, comment: str = "me@host"
) -> Path:
    assert SSH_KEYGEN is not None
    path = tmp_path / f"id_{key_type}_{bits or 0}"
    command = [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        command += ["-b", str(bits)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def keygen_fingerprint(path: Path, hash_name: str) -> str:
    assert SSH_KEYGEN is not None
    output = subprocess.run(
        [SSH_KEYGEN, "-l", "-E", hash_name, "-f", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fingerprint = output.split()[1]
    return fingerprint.removeprefix("MD5:")


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def key_line(key_type: str, blob: bytes, comment: str = "x@y") -> str:
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}"


def reason(text: str) -> str:
    with pytest.raises(InvalidInput) as raised:
        parse_public_key(text)
    message = raised.value.message
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- valid keys


def test_known_ed25519_key() -> None:
    info = parse_public_key(ED25519)
    assert isinstance(info, PublicKeyInfo)
    key_type, md5, sha256, comment = info
    assert key_type == "ssh-ed25519"
    assert md5 == ED25519_MD5
    assert sha256.startswith("SHA256:") and not sha256.endswith("=")
    assert comment == "contract@canfar-tui"


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("key_type", "bits", "expected_type"),
    [
        ("ed25519", None, "ssh-ed25519"),
        ("rsa", 2048, "ssh-rsa"),
        ("rsa", 3072, "ssh-rsa"),
        ("ecdsa", 256, "ecdsa-sha2-nistp256"),
        ("ecdsa", 384, "ecdsa-sha2-nistp384"),
        ("ecdsa", 521, "ecdsa-sha2-nistp521"),
    ],
)
def test_keys_from_ssh_keygen_match_its_fingerprints(
    tmp_path: Path, key_type: str, bits: int | None, expected_type: str
) -> None:
    private = keygen(tmp_path, key_type, bits, comment="astro@canfar laptop")
    public = private.with_suffix(".pub")
    info = parse_public_key(public.read_text())
    assert info.key_type == expected_type
    assert info.fingerprint_md5 == keygen_fingerprint(public, "md5")
    assert info.fingerprint_sha256 == keygen_fingerprint(public, "sha256")
    assert info.comment == "astro@canfar laptop"


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("key_type", "blob_tail"),
    [
        ("sk-ssh-ed25519@openssh.com", ssh_string(b"\x11" * 32) + ssh_string(b"ssh:")),
        (
            "sk-ecdsa-sha2-nistp256@openssh.com",
            ssh_string(b"nistp256")
            + ssh_string(
                bytes.fromhex(
                    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
                )
            )
            + ssh_string(b"ssh:"),
        ),
    ],
)
def test_security_key_types(tmp_path: Path, key_type: str, blob_tail: bytes) -> None:
    line = key_line(key_type, ssh_string(key_type.encode()) + blob_tail, "yubikey")
    path = tmp_path / "sk.pub"
    path.write_text(line + "\n")
    info = parse_public_key(line)
    assert info.key_type == key_type
    assert info.fingerprint_md5 == keygen_fingerprint(path, "md5")
    assert info.fingerprint_sha256 == keygen_fingerprint(path, "sha256")


def test_supported_types() -> None:
    assert {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp521"} <= SUPPORTED_KEY_TYPES
    assert "ssh-dss" not in SUPPORTED_KEY_TYPES


def test_surrounding_blank_and_comment_lines_are_ignored() -> None:
    text = f"\n# my laptop key\n\n   {ED25519}   \r\n\n"
    assert parse_public_key(text).fingerprint_md5 == ED25519_MD5


def test_no_comment_and_tab_separators() -> None:
    key_type, data, _ = ED25519.split(" ", 2)
    info = parse_public_key(f"{key_type}\t{data}")
    assert info.comment == ""
    assert info.fingerprint_md5 == ED25519_MD5


def test_normalize_keeps_one_clean_line() -> None:
    key_type, data, _ = ED25519.split(" ", 2)
    assert normalize_public_key(f"  {key_type}   {data}  my  key \n") == (
        f"{key_type} {data} my  key"
    )
    assert normalize_public_key(f"{key_type} {data}\n") == f"{key_type} {data}"
    with pytest.raises(InvalidInput):
        normalize_public_key("nonsense")


# --------------------------------------------------------------------------- refused keys


@needs_ssh_keygen
def test_short_rsa_key_is_refused(tmp_path: Path) -> None:
    public = keygen(tmp_path, "rsa", 1024).with_suffix(".pub")
    message = reason(public.read_text())
    assert message.startswith("RSA key too short: 1024 bits")
    assert "2048" in message


@needs_ssh_keygen
def test_private_key_is_refused_with_a_hint(tmp_path: Path) -> None:
    private = keygen(tmp_path, "ed25519")
    assert reason(private.read_text()) == "looks like a PRIVATE key — choose the .pub file"
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n"
    assert "PRIVATE key" in reason(pem)


@needs_ssh_keygen
def test_rfc4716_and_pem_exports_are_explained(tmp_path: Path) -> None:
    assert SSH_KEYGEN is not None
    public = keygen(tmp_path, "rsa", 2048).with_suffix(".pub")
    rfc4716 = subprocess.run(
        [SSH_KEYGEN, "-e", "-f", str(public)], check=True, capture_output=True, text=True
    ).stdout
    assert "RFC 4716" in reason(rfc4716)
    pkcs8 = subprocess.run(
        [SSH_KEYGEN, "-e", "-m", "PKCS8", "-f", str(public)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "PEM" in reason(pkcs8)


def rsa_blob(exponent: int, modulus: int) -> bytes:
    def mpint(value: int) -> bytes:
        data = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return ssh_string(data)

    return ssh_string(b"ssh-rsa") + mpint(exponent) + mpint(modulus)


ED_BLOB = base64.b64decode(ED25519.split()[1])
MODULUS = (1 << 2047) | 12345


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "not an SSH public key: the text is empty"),
        ("   \n\t\n", "not an SSH public key: the text is empty"),
        ("# only a comment\n", "not an SSH public key: the text is empty"),
        ("hello world", "unknown key type 'hello'"),
        ("ssh-ed25519", "key data after the key type is missing"),
        ("ssh-ed25519 AAAA$$$$ me", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6JJ+l09X", "base64"),
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJPGVpicLKJbpWaNFHncnzp6 me",
            "truncated",
        ),
        (key_line("ssh-rsa", ED_BLOB), "the line says 'ssh-rsa' but the key data says"),
        (key_line("ssh-ed25519", ED_BLOB + b"\0\0"), "2 unexpected extra bytes"),
        (
            key_line("ssh-ed25519", ssh_string(b"ssh-ed25519") + ssh_string(b"\1" * 31)),
            "not 32 bytes",
        ),
        (
            key_line(
                "ecdsa-sha2-nistp256",
                ssh_string(b"ecdsa-sha2-nistp256")
                + ssh_string(b"nistp384")
                + ssh_string(b"\4" + b"\1" * 64),
            ),
            "does not match its curve",
        ),
        (
            key_line(
                "ecdsa-sha2-nistp256",
                ssh_string(b"ecdsa-sha2-nistp256")
                + ssh_string(b"nistp256")
                + ssh_string(b"\4" + b"\1" * 10),
            ),
            "point is malformed",
        ),
        (key_line("ssh-rsa", rsa_blob(65536, MODULUS)), "RSA exponent is invalid"),
        (
            key_line("ssh-rsa", ssh_string(b"ssh-rsa") + ssh_string(b"\x80\x01")),
            "negative RSA exponent",
        ),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP== old@box", "DSA keys are no longer accepted"),
        (f'from="10.0.0.0/8",no-pty {ED25519}', "remove the authorized_keys options"),
        (f"{ED25519}\n{ED25519}", "the text holds 2 lines"),
        (ED25519.replace("contract", "con\x1btract"), "control characters"),
        ("x" * 200 + " AAAA", "unknown key type 'xxxxxxxx"),
    ],
    ids=[
        "empty",
        "whitespace",
        "comment-only",
        "prose",
        "type-only",
        "bad-characters",
        "bad-length",
        "truncated-blob",
        "type-mismatch",
        "trailing-bytes",
        "short-ed25519",
        "wrong-curve",
        "bad-point",
        "even-exponent",
        "negative-mpint",
        "dsa",
        "options",
        "two-keys",
        "control-chars",
        "long-garbage",
    ],
)
def test_malformed_keys_get_a_one_line_reason(text: str, expected: str) -> None:
    message = reason(text)
    assert expected in message
    assert len(message) < 200


def test_valid_rsa_blob_built_by_hand_is_accepted() -> None:
    info = parse_public_key(key_line("ssh-rsa", rsa_blob(65537, MODULUS)))
    assert info.key_type == "ssh-rsa"
    assert len(info.fingerprint_md5.split(":")) == 16
