"""Issue 16's probes of the sandbox VOSpace service, reproduced: each one failed before.

* another local user (uid 65534, through ``setpriv``) can neither list, upload, read nor
  delete over HTTP, nor read what is stored on disk or the registry that names the service;
* a second service started on the same folder keeps the first one's upload in progress (and
  no process prints a traceback), while temp files of dead processes are removed;
* idle connections are closed, so they cannot starve a normal request;
* ``Range: bytes=5-2`` is answered 416;
* after a real SIGKILL of ``put`` mid-upload, the next ``put`` removes the ``.part`` file and
  the private ``canfar-tui-vos-*`` folder the killed one left.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from canfar_tui.clients.bundle import start_sandbox_storage
from canfar_tui.clients.storage.loopback import (
    CLIENT_HOME_PREFIX,
    TEMP_DIR_NAME,
    RunningVOSpace,
    remove_stale_client_homes,
    start_server,
)
from canfar_tui.clients.storage.loopback.store import STALE_UPLOAD_SECONDS

USER = "sandbox-user"
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder other users may enter (pytest's own tmp folders are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="vos-hardening-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- 1: access control

PROBE = r"""
import http.client, json, sys
port, secret_path, stored, registry, root = sys.argv[1:6]
results = {}
def ask(method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    headers = {"Content-Length": str(len(body or b""))}
    connection.request(method, path, body=body, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status
for prefix in ("/vault", "/" + "A" * 32 + "/vault", secret_path[:-6] + "x/vault"):
    results[prefix + " list"] = ask("GET", prefix + "/nodes/sandbox-user")
    results[prefix + " upload"] = ask("PUT", prefix + "/data/sandbox-user/evil.txt", b"evil")
    results[prefix + " read"] = ask("GET", prefix + "/data/sandbox-user/p/private.key")
    results[prefix + " delete"] = ask("DELETE", prefix + "/nodes/sandbox-user/p/private.key")
    results[prefix + " capabilities"] = ask("GET", prefix + "/capabilities")
for name, path in (("stored", stored), ("registry", registry)):
    try:
        open(path, "rb").read()
        results[name] = "read"
    except OSError as error:
        results[name] = type(error).__name__
try:
    __import__("os").listdir(root)
    results["root"] = "listed"
except OSError as error:
    results["root"] = type(error).__name__
print(json.dumps(results))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root")
def test_another_user_can_neither_use_the_service_nor_read_stored_files(
    shared_tmp: Path,
) -> None:
    private = shared_tmp / "private.key"
    private.write_text("X\n")
    old_umask = os.umask(0)  # the stored modes must not depend on the umask
    try:
        storage = start_sandbox_storage(shared_tmp / "data")

        async def upload() -> None:
            await storage.mkdir(f"vos:{USER}/p")
            await storage.upload(private, f"vos:{USER}/p/private.key")

        try:
            asyncio.run(upload())
            server = storage.sandbox_server
            assert server is not None
            config_home = storage._config_home
            assert config_home is not None
            stored = server.root / USER / "p" / "private.key"
            registry = config_home / ".config" / "cadc-registry" / "resource-caps"
            assert stored.read_text() == "X\n"
            assert mode(stored) == 0o600
            for folder in (server.root, server.root / USER, stored.parent):
                assert mode(folder) == 0o700, folder
            assert mode(registry) == 0o600
            assert mode(registry.parent) == 0o700 and mode(config_home) == 0o700
            assert server.service_path in registry.read_text()

            probe = subprocess.run(
                [
                    *NOBODY,
                    sys.executable,
                    "-I",
                    "-c",
                    PROBE,
                    str(server.port),
                    server.service_path,
                    str(stored),
                    str(registry),
                    str(server.root),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                cwd="/",
            )
            assert probe.returncode == 0, probe.stderr
            results = json.loads(probe.stdout)
            statuses = {key: value for key, value in results.items() if " " in key}
            assert set(statuses.values()) == {401}, statuses
            assert results["stored"] == "PermissionError"
            assert results["registry"] == "PermissionError"
            assert results["root"] == "PermissionError"
            assert stored.read_text() == "X\n"
            assert sorted(p.name for p in (server.root / USER).iterdir()) == ["p"]
        finally:
            asyncio.run(storage.aclose())
    finally:
        os.umask(old_umask)


def test_a_request_without_the_secret_is_refused_before_anything_else(tmp_path: Path) -> None:
    with start_server(tmp_path / "root") as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("GET", "/vault/nodes/sandbox-user")
        response = connection.getresponse()
        assert response.status == 401
        assert server.service_path.split("/")[1] not in response.read().decode()
        connection.close()


# --------------------------------------------------------------------------- 3: two services


def start_service_process(root: Path, work: Path, name: str) -> tuple[subprocess.Popen[str], str]:
    url_file = work / f"{name}.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canfar_tui.clients.storage.loopback",
            "--root",
            str(root),
            "--url-file",
            str(url_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not url_file.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    assert mode(url_file) == 0o600
    return process, url_file.read_text().strip()


def stop_service_process(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    return stderr


def test_a_second_service_keeps_the_first_ones_upload_in_progress(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first, first_url = start_service_process(root, tmp_path, "first")
    second: subprocess.Popen[str] | None = None
    try:
        data = os.urandom(2_000_000)
        address = urlsplit(first_url)
        assert address.port is not None
        with socket.create_connection(("127.0.0.1", address.port), timeout=30) as sock:
            sock.sendall(
                f"PUT {address.path}/data/{USER}/big.bin HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data[:1_000_000]
            )
            temp_dir = root / TEMP_DIR_NAME
            deadline = time.monotonic() + 30
            while not any(temp_dir.glob("*.part")):
                assert time.monotonic() < deadline, "the upload did not start"
                time.sleep(0.02)
            second, _ = start_service_process(root, tmp_path, "second")
            assert any(temp_dir.glob("*.part")), "the second service removed the upload"
            sock.sendall(data[1_000_000:])
            answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 201"), answer
        assert (root / USER / "big.bin").read_bytes() == data
        assert list(temp_dir.iterdir()) == []
    finally:
        stderr = stop_service_process(first)
        if second is not None:
            stderr += stop_service_process(second)
    assert "Traceback" not in stderr, stderr


def test_a_start_removes_only_stale_upload_temp_files(tmp_path: Path) -> None:
    temp_dir = tmp_path / "root" / TEMP_DIR_NAME
    temp_dir.mkdir(parents=True)
    live = temp_dir / f"{os.getpid()}-0123456789abcdef.part"
    dead = temp_dir / f"{dead_pid()}-0123456789abcdef.part"
    idle = temp_dir / f"{os.getpid()}-fedcba9876543210.part"
    legacy_recent = temp_dir / "0123456789abcdef0123456789abcdef.part"
    legacy_old = temp_dir / "fedcba9876543210fedcba9876543210.part"
    for path in (live, dead, idle, legacy_recent, legacy_old):
        path.write_bytes(b"partial")
    long_ago = time.time() - STALE_UPLOAD_SECONDS - 60
    for path in (idle, legacy_old):
        os.utime(path, (long_ago, long_ago))
    with start_server(tmp_path / "root"):
        pass
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted([live.name, legacy_recent.name])


# --------------------------------------------------------------------------- 11: idle connections


def limit_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def answered_while_idle_connections_are_open(tmp_path: Path, idle_timeout: str) -> bool:
    """Whether a request gets an answer with 200 idle connections open to a service with 64 fds."""
    url_file = tmp_path / f"url-{idle_timeout}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canfar_tui.clients.storage.loopback",
            "--root",
            str(tmp_path / "root"),
            "--url-file",
            str(url_file),
            "--idle-timeout",
            idle_timeout,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_open_files,
    )
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while not url_file.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        url = urlsplit(url_file.read_text().strip())
        assert url.port is not None
        for _ in range(200):
            sock = socket.socket()
            sock.settimeout(0.2)
            with contextlib.suppress(OSError):
                sock.connect(("127.0.0.1", url.port))
            idle.append(sock)
        connection = http.client.HTTPConnection("127.0.0.1", url.port, timeout=6)
        try:
            connection.request("GET", url.path + "/availability")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()
    finally:
        for sock in idle:
            sock.close()
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        assert "Traceback" not in stderr, stderr


def test_idle_connections_do_not_starve_a_request(tmp_path: Path) -> None:
    assert not answered_while_idle_connections_are_open(tmp_path, "0")  # the original problem
    assert answered_while_idle_connections_are_open(tmp_path, "0.5")


def test_connections_beyond_the_cap_are_closed_and_the_service_goes_on(tmp_path: Path) -> None:
    with start_server(tmp_path / "root", max_connections=3, idle_timeout=None) as running:
        address = ("127.0.0.1", running.port)
        held = [socket.create_connection(address, timeout=5) for _ in range(3)]
        try:
            time.sleep(0.2)  # the three are being served (waiting for a request line)
            extra = socket.create_connection(address, timeout=5)
            with extra:
                assert extra.recv(1) == b"", "a connection beyond the cap was kept open"
        finally:
            for sock in held:
                sock.close()
        # The slots come back as the held connections end: a request is answered again.
        deadline = time.monotonic() + 10
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
            try:
                connection.request("GET", urlsplit(running.base_url).path + "/availability")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "the service never recovered"
                time.sleep(0.1)
            finally:
                connection.close()


# --------------------------------------------------------------------------- ranges


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningVOSpace]:
    with start_server(tmp_path / "root") as running:
        yield running


def test_a_reversed_range_is_unsatisfiable(server: RunningVOSpace) -> None:
    (server.root / USER / "seven.txt").write_bytes(b"0123456")
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request(
        "GET", f"{server.service_path}/data/{USER}/seven.txt", headers={"Range": "bytes=5-2"}
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 416
    assert response.getheader("Content-Range") == "bytes */7"


# --------------------------------------------------------------------------- 12: SIGKILL of put


def test_stale_private_homes_of_dead_processes_are_removed(tmp_path: Path) -> None:
    live = tmp_path / f"{CLIENT_HOME_PREFIX}{os.getpid()}-abc"
    dead = tmp_path / f"{CLIENT_HOME_PREFIX}{dead_pid()}-abc"
    legacy_old = tmp_path / f"{CLIENT_HOME_PREFIX}old1234"
    legacy_new = tmp_path / f"{CLIENT_HOME_PREFIX}new1234"
    not_a_folder = tmp_path / f"{CLIENT_HOME_PREFIX}1-file"
    for folder in (live, dead, legacy_old, legacy_new):
        (folder / ".config").mkdir(parents=True)
    not_a_folder.write_text("x")
    os.utime(legacy_old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert remove_stale_client_homes(folder=tmp_path) == 2
    assert sorted(p.name for p in tmp_path.glob(f"{CLIENT_HOME_PREFIX}*")) == sorted(
        [live.name, legacy_new.name, not_a_folder.name]
    )


def put_process(tmp_path: Path, local: Path, destination: str) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CANFAR_TUI", "XDG_", "VOSPACE_"))
    }
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        TMPDIR=str(tmp_path / "tmpdir"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "canfar_tui.cli.put", str(local), destination],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_next_put_cleans_up_after_a_killed_put(tmp_path: Path) -> None:
    (tmp_path / "tmpdir").mkdir()
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        for _ in range(32):
            handle.write(os.urandom(4 * 1024 * 1024))
    temp_dir = tmp_path / "data" / "canfar-tui" / "sandbox" / "vospace" / TEMP_DIR_NAME
    killed = put_process(tmp_path, big, f"vos:{USER}/big.bin")
    try:
        deadline = time.monotonic() + 120
        while not (temp_dir.is_dir() and any(temp_dir.glob("*.part"))):
            assert killed.poll() is None, killed.communicate()
            assert time.monotonic() < deadline, "the upload did not start"
            time.sleep(0.01)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    assert [p.name for p in temp_dir.glob("*.part")] != []
    leftovers = [p.name for p in (tmp_path / "tmpdir").iterdir()]
    assert any(name.startswith(f"{CLIENT_HOME_PREFIX}{killed.pid}-") for name in leftovers)

    small = tmp_path / "small.txt"
    small.write_text("small\n")
    following = put_process(tmp_path, small, f"vos:{USER}/small.txt")
    out, err = following.communicate(timeout=120)
    assert following.returncode == 0, err
    assert out.startswith(f"vos:{USER}/small.txt  md5=")
    assert "Traceback" not in err
    assert list(temp_dir.iterdir()) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []
    assert not (temp_dir.parent / USER / "big.bin").exists()


def test_a_client_that_resets_mid_request_leaves_no_traceback(tmp_path: Path) -> None:
    """Seen in CI: a connection reset while the service read a request line printed
    socketserver's traceback on the service's stderr."""
    process, base = start_service_process(tmp_path / "root", tmp_path, "reset")
    url = urlsplit(base)
    assert url.port is not None
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", url.port), timeout=5)
            sock.sendall(b"GET " + url.path.encode() + b"/availability HT")
            # SO_LINGER 0: close() sends a reset, as a client that goes away does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        connection = http.client.HTTPConnection("127.0.0.1", url.port, timeout=10)
        connection.request("GET", url.path + "/availability")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        stderr = stop_service_process(process)
    assert "Traceback" not in stderr, stderr
