"""Every small file canfar-tui reads is read with a bound (issue 16 item 6).

``certificate = "/dev/zero"`` drove ``status`` to 24 GB; ``--config /dev/zero``,
``detect -c /dev/zero``, ``--params /dev/zero`` and ``submit /dev/zero`` ended in
"unexpected MemoryError". Each now ends in one line naming the file (the ``detect`` entry
points are tested in tests/unit/detection/test_detect_hardening.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.cli.submit import add_submit_arguments, run_submit
from canfar_tui.clients.credentials import CadcCredentials, SelfSignedIssuer
from canfar_tui.clients.files import UnreadableFile, read_bounded
from canfar_tui.clients.storage.vospace_certificate import certificate_problem
from canfar_tui.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    """A 4 GiB file that takes no disk space (sparse)."""
    path = tmp_path / "huge"
    with path.open("wb") as handle:
        handle.truncate(4 * 2**30)
    return path


def one_line(text: str) -> bool:
    return "\n" not in text.strip() and "MemoryError" not in text and "Traceback" not in text


# ----------------------------------------------------------------------------- the helper


def test_read_bounded(tmp_path: Path, huge: Path) -> None:
    exact = tmp_path / "exact"
    exact.write_bytes(b"x" * 100)
    assert read_bounded(exact, 100, "thing") == b"x" * 100
    for path in (Path("/dev/zero"), huge):
        with pytest.raises(UnreadableFile) as caught:
            read_bounded(path, 100, "thing")
        assert str(caught.value) == f"{path}: too large for a thing (more than 100 bytes)"
    with pytest.raises(UnreadableFile, match="thing not found") as missing:
        read_bounded(tmp_path / "nope", 100, "thing")
    assert missing.value.missing
    with pytest.raises(UnreadableFile, match="is a directory, not a thing") as folder:
        read_bounded(tmp_path, 100, "thing")
    assert not folder.value.missing


def test_read_bounded_refuses_a_named_pipe_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(UnreadableFile) as caught:
        read_bounded(pipe, 100, "thing")
    assert str(caught.value) == f"{pipe}: is a pipe or socket, not a thing"


# ----------------------------------------------------------------------------- --config


@pytest.mark.parametrize("kind", ["dev_zero", "huge"])
def test_config_file_dev_zero_or_huge(kind: str, huge: Path) -> None:
    path = Path("/dev/zero") if kind == "dev_zero" else huge
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file=path)
    assert str(caught.value) == f"{path}: too large for a configuration file (more than 1 MiB)"


def test_config_file_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not valid TOML \\(not UTF-8 text\\)"):
        load_settings(config_file=path)


def test_cli_config_dev_zero_in_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "canfar_tui", "--config", "/dev/zero", "status"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "canfar-tui: /dev/zero: too large for a configuration file (more than 1 MiB)\n"
    )


# ----------------------------------------------------------------------------- submit FILE


def _submit_args(path: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--read-only", action="store_true", default=None)
    add_submit_arguments(parser)
    return parser.parse_args([path, "canfar-ubuntu-20.04", "c2-7.5gb-30"])


@pytest.mark.parametrize("kind", ["dev_zero", "huge"])
def test_submit_dev_zero_or_huge(kind: str, huge: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = "/dev/zero" if kind == "dev_zero" else str(huge)
    assert run_submit(_submit_args(path)) == 2
    err = capsys.readouterr().err
    assert err == f"canfar-tui submit: {path}: too large for a submit file (more than 1 MiB)\n"


# ----------------------------------------------------------------------------- certificate


@pytest.mark.parametrize("kind", ["dev_zero", "huge"])
async def test_certificate_dev_zero_or_huge_is_a_problem(
    kind: str, huge: Path, tmp_path: Path
) -> None:
    path = Path("/dev/zero") if kind == "dev_zero" else huge
    client = CadcCredentials(
        certificate=path, netrc_path=tmp_path / "none", issuer=SelfSignedIssuer("alice")
    )
    status = await client.status()
    assert status.problem == f"{path}: too large for a certificate (more than 256 KiB)"
    problem = certificate_problem(path)
    assert problem is not None and one_line(problem)
    assert problem.startswith(f"{path}: too large for a CADC certificate (more than 256 KiB)")
