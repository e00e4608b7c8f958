"""Issue 16, items 7, 8 and 9: ``canfar-tui status`` over damaged or insecure sandbox state.

Each probe of the issue, run as the user would: ``canfar-tui status`` as a subprocess over a
sandbox that a first ``status`` created, then damaged the way the probe did. Every problem is
a WARN or FAIL line with exit status 1; stderr carries no traceback (the background queue
executor's one line goes to the log file); an empty state file is refused like a damaged one,
never seeded afresh; a new sandbox (files created by the process itself) is fine.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from canfar_tui.clients._sqlite import open_state

SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"


def run_status(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "canfar_tui", "status", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def line_of(result: subprocess.CompletedProcess[str], service: str) -> str:
    return next(line for line in result.stdout.splitlines() if f" {service} " in line)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == "", result.stderr


@pytest.fixture
def sandbox(isolated_home: Path) -> Path:
    """A sandbox made by a first, healthy ``status``."""
    first = run_status(isolated_home)
    assert first.returncode == 0, first.stdout + first.stderr
    no_traceback(first)
    return isolated_home / ".local/share/canfar-tui/sandbox"


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_netrc_readable_by_others_is_a_warn_line(
    sandbox: Path, isolated_home: Path, mode: int
) -> None:
    netrc = sandbox / "credentials" / "netrc"
    netrc.write_text("machine ws-cadc.canfar.net login jdoe password secret\n")
    netrc.chmod(mode)
    result = run_status(isolated_home)
    assert result.returncode == 1
    line = line_of(result, "credentials")
    assert line.split()[0] == "WARN" and "readable by other users" in line
    assert "secret" not in result.stdout
    no_traceback(result)


def test_a_certificate_of_random_bytes_is_a_warn_line(sandbox: Path, isolated_home: Path) -> None:
    certificate = sandbox / "credentials" / "cadcproxy.pem"
    certificate.write_bytes(os.urandom(800))
    result = run_status(isolated_home)
    assert result.returncode == 1
    line = line_of(result, "credentials")
    assert line.split()[0] == "WARN" and "holds no readable certificate" in line
    json_result = run_status(isolated_home, "--json")
    assert json_result.returncode == 1 and '"problem":' in json_result.stdout
    no_traceback(result)


def test_a_vospace_folder_replaced_by_a_file_fails_the_storage_line(
    sandbox: Path, isolated_home: Path
) -> None:
    import shutil

    shutil.rmtree(sandbox / "vospace")
    (sandbox / "vospace").write_text("x\n")
    result = run_status(isolated_home)
    assert result.returncode == 1
    assert line_of(result, "storage").split()[0] == "FAIL"
    no_traceback(result)


# --------------------------------------------------------------------------- item 8


def overwrite_pages(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(4096)
        handle.write(os.urandom(8192))


def _write_random(path: Path) -> None:
    path.write_bytes(os.urandom(20000))


def _replace_by_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


QUEUE_DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "random bytes": (
        lambda queue: _write_random(queue / "queue.sqlite"),
        "FAIL",
        "damaged (file is not a database)",
    ),
    "overwritten pages": (
        lambda queue: overwrite_pages(queue / "queue.sqlite"),
        "FAIL",
        "damaged (database disk image is malformed)",
    ),
    "executor.lock a folder": (
        lambda queue: _replace_by_folder(queue / "executor.lock"),
        "WARN",
        "executor.lock is not a regular file",
    ),
}


@pytest.mark.parametrize("case", sorted(QUEUE_DAMAGE))
def test_a_damaged_queue_is_one_line_without_traceback(
    sandbox: Path, isolated_home: Path, case: str
) -> None:
    damage, mark, message = QUEUE_DAMAGE[case]
    queue = sandbox / "queue"
    for leftover in queue.glob("queue.sqlite-*"):
        leftover.unlink()
    damage(queue)
    result = run_status(isolated_home)
    assert result.returncode == 1
    line = line_of(result, "queue")
    assert line.split()[0] == mark and message in line, line
    no_traceback(result)
    log = isolated_home / ".local/state/canfar-tui/canfar-tui.log"
    assert not log.exists() or "Traceback" not in log.read_text()


def test_a_sandbox_folder_replaced_by_a_file_is_one_line_per_service(
    sandbox: Path, isolated_home: Path
) -> None:
    import shutil

    shutil.rmtree(sandbox)
    sandbox.write_text("x\n")
    result = run_status(isolated_home)
    assert result.returncode == 1
    for service in ("cloud", "queue", "storage", "credentials"):
        assert line_of(result, service).split()[0] == "FAIL"
    no_traceback(result)


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("relative", "service", "message"),
    [
        ("cloud.sqlite", "cloud", "The sandbox state file is damaged (cloud.sqlite is empty)"),
        (
            "queue/queue.sqlite",
            "queue",
            "The sandbox queue state is damaged (queue.sqlite is empty)",
        ),
    ],
)
def test_zero_byte_state_is_refused_not_seeded_afresh(
    sandbox: Path, isolated_home: Path, relative: str, service: str, message: str
) -> None:
    state = sandbox / relative
    for leftover in state.parent.glob(f"{state.name}-*"):
        leftover.unlink()
    state.write_bytes(b"")  # : > cloud.sqlite
    result = run_status(isolated_home)
    assert result.returncode == 1
    line = line_of(result, service)
    assert line.split()[0] == "FAIL" and message in line and "move it away" in line
    no_traceback(result)
    assert state.stat().st_size == 0, "the emptied file is left as found, not seeded"


def test_open_state_creates_a_new_file_whole_even_when_raced(tmp_path: Path) -> None:
    """Many openers of one new file: one creates it, all open it, none finds it empty."""
    path = tmp_path / "state" / "new.sqlite"
    seeded: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def seed(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta VALUES ('seeded', 'yes')")
        seeded.append(1)

    def opener() -> None:
        start.wait()
        try:
            conn = open_state(path, schema=SCHEMA, version="1", seed=seed, what="test state")
            assert conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()[0] == "yes"
            conn.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seeded  # built at least once (a loser's copy is discarded)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert sorted(item.name for item in path.parent.iterdir() if ".new-" in item.name) == []

    path.write_bytes(b"")
    with pytest.raises(sqlite3.DatabaseError, match=r"new\.sqlite is empty"):
        open_state(path, schema=SCHEMA, version="1", seed=seed, what="test state")


def test_a_stale_creation_left_by_a_killed_process_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    stale = tmp_path / ".state.sqlite.new-999-dead"
    fresh = tmp_path / ".state.sqlite.new-998-live"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (1, 1))
    open_state(path, schema=SCHEMA, version="1", seed=lambda conn: None, what="test").close()
    assert not stale.exists() and fresh.exists()
