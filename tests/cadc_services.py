"""Finding the CADC replica started by ``scripts/cadc/start.sh`` for the integration tests.

``start.sh`` writes ``.services/cadc/env`` (``KEY=value`` lines, listed in that script). The
tests read those variables from the environment (the test command sources the file) or, when
they are not set, from that file directly. Without them the CADC tests skip, unless
``CANFAR_TUI_REQUIRE_SERVICES=1``: then they fail (:func:`cadc_service_or_skip`, and the hook in
``tests/conftest.py`` through :func:`is_cadc_test`).

:meth:`CadcService.client_env` is the environment of a real CADC command run as a user of the
replica: ``HOME`` (a copy of the replica's client HOME: registry and version caches),
``PYTHONPATH`` (the certifi whose bundle trusts the test CA: cadcutils ignores
``REQUESTS_CA_BUNDLE``) and ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from real_services import REPO, require_or_skip, service_settings

CADC_ENV = "CANFAR_TUI_CADC_URL"
DEFAULT_ENV_FILE = REPO / ".services" / "cadc" / "env"
_KEYS = (
    "CANFAR_TUI_CADC_URL",
    "CANFAR_TUI_CADC_REGISTRY_URL",
    "CANFAR_TUI_CADC_HOST",
    "CANFAR_TUI_CADC_CA_CERT",
    "CANFAR_TUI_CADC_CA_BUNDLE",
    "CANFAR_TUI_CADC_PYTHONPATH",
    "CANFAR_TUI_CADC_CLIENT_HOME",
    "CANFAR_TUI_CADC_USER",
    "CANFAR_TUI_CADC_PASSWORD_FILE",
    "CANFAR_TUI_CADC_OTHER_USER",
    "CANFAR_TUI_CADC_OTHER_PASSWORD_FILE",
    "CANFAR_TUI_CADC_ARCHIVE_ROOT",
    "CANFAR_TUI_CADC_VAULT_ROOT",
)
_OPTIONAL = ("CANFAR_TUI_CADC_OTHER_USER", "CANFAR_TUI_CADC_OTHER_PASSWORD_FILE")


@dataclass(frozen=True)
class CadcService:
    """Where the replica is and who its test users are."""

    url: str
    host: str
    ca_cert: Path
    ca_bundle: Path
    pythonpath: Path
    client_home: Path
    user: str
    password_file: Path
    archive_root: Path
    vault_root: Path

    def password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").strip()

    def new_home(self, home: Path) -> Path:
        """A copy of the replica's client HOME at ``home`` (mtimes kept: caches stay fresh)."""
        shutil.copytree(self.client_home, home, dirs_exist_ok=True)
        return home

    def login(self, home: Path) -> Path:
        """``cadc-get-cert -n`` (the installed one) in ``home`` with the user's ``~/.netrc``.

        Returns the proxy certificate, ``home/.ssl/cadcproxy.pem``.
        """
        netrc = home / ".netrc"
        fd = os.open(netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"machine {self.host} login {self.user} password {self.password()}\n")
        result = subprocess.run(
            [str(Path(sys.executable).parent / "cadc-get-cert"), "-n"],
            env=self.client_env(home),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        certificate = home / ".ssl" / "cadcproxy.pem"
        assert result.returncode == 0 and certificate.is_file(), (result.stdout, result.stderr)
        return certificate

    def trust_in_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this process's ``requests`` (hence cadcutils) trust the test CA.

        cadcutils turns ``trust_env`` off, so ``REQUESTS_CA_BUNDLE`` does not reach it; requests
        then verifies against ``requests.adapters.DEFAULT_CA_BUNDLE_PATH`` (``certifi.where()``,
        read once at import).
        """
        import certifi
        import requests.adapters

        bundle = str(self.ca_bundle)
        monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", bundle)
        monkeypatch.setattr(certifi, "where", lambda: bundle)

    def client_env(self, home: Path) -> dict[str, str]:
        """The environment of a CADC command run with ``HOME=home``."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VOSPACE_", "LOCAL_VOSPACE", "CADC_", "X509_"))
            and key not in ("PYTHONPATH", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        }
        env["HOME"] = str(home)
        env["PYTHONPATH"] = str(self.pythonpath)
        env["REQUESTS_CA_BUNDLE"] = str(self.ca_bundle)
        return env


def _settings() -> dict[str, str]:
    return service_settings(_KEYS, CADC_ENV, DEFAULT_ENV_FILE)


@cache
def _find() -> tuple[CadcService | None, str]:
    values = _settings()
    if not values.get(CADC_ENV):
        return None, (
            f"{CADC_ENV} is not set and {DEFAULT_ENV_FILE} does not exist "
            "(run scripts/cadc/start.sh)"
        )
    missing = [key for key in _KEYS if not values.get(key) and key not in _OPTIONAL]
    if missing:
        return None, f"the CADC replica's environment lacks {', '.join(missing)}"
    paths = {
        key: Path(values[key])
        for key in (
            "CANFAR_TUI_CADC_CA_CERT",
            "CANFAR_TUI_CADC_CA_BUNDLE",
            "CANFAR_TUI_CADC_PASSWORD_FILE",
            "CANFAR_TUI_CADC_PYTHONPATH",
            "CANFAR_TUI_CADC_CLIENT_HOME",
            "CANFAR_TUI_CADC_ARCHIVE_ROOT",
            "CANFAR_TUI_CADC_VAULT_ROOT",
        )
    }
    for path in paths.values():
        if not path.exists():
            return None, f"{path} is missing (was the replica stopped?)"
    url = values[CADC_ENV]
    parsed = urlsplit(url)
    address = (parsed.hostname or "127.0.0.1", parsed.port or 443)
    try:
        with socket.create_connection(address, 3):
            pass
    except OSError as error:
        return None, f"the CADC replica at {url} is down ({error})"
    service = CadcService(
        url=url,
        host=values["CANFAR_TUI_CADC_HOST"],
        ca_cert=paths["CANFAR_TUI_CADC_CA_CERT"],
        ca_bundle=paths["CANFAR_TUI_CADC_CA_BUNDLE"],
        pythonpath=paths["CANFAR_TUI_CADC_PYTHONPATH"],
        client_home=paths["CANFAR_TUI_CADC_CLIENT_HOME"],
        user=values["CANFAR_TUI_CADC_USER"],
        password_file=paths["CANFAR_TUI_CADC_PASSWORD_FILE"],
        archive_root=paths["CANFAR_TUI_CADC_ARCHIVE_ROOT"],
        vault_root=paths["CANFAR_TUI_CADC_VAULT_ROOT"],
    )
    return service, ""


def cadc_service_or_skip() -> CadcService:
    """The running replica; skips (or fails when required) when there is none."""
    service, reason = _find()
    if service is None:
        require_or_skip(reason)
    return service


def is_cadc_test(item: pytest.Item) -> bool:
    return "cadc_service" in getattr(item, "fixturenames", ())
