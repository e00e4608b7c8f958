"""The loopback VOSpace service on its own: path safety, verified uploads, paging, binding.

Requests are sent with ``http.client`` so that paths reach the service exactly as written
(no client-side normalisation of ``..`` or percent-encoding).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest

from canfar_tui.clients.storage.loopback import (
    CACHE_FUTURE_SECONDS,
    RunningVOSpace,
    prepare_client_home,
    start_server,
)

VOS = "{http://www.ivoa.net/xml/VOSpace/v2.0}"
NODE = "vos://cadc.nrc.ca!vault"
USER = "sandbox-user"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the service root that must never change."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("do not touch")
    return path


@pytest.fixture
def server(tmp_path: Path, outside: Path) -> Iterator[RunningVOSpace]:
    with start_server(tmp_path / "root") as running:
        yield running


def request(
    server: RunningVOSpace,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, secret_path(server, path), body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def secret_path(server: RunningVOSpace, path: str) -> str:
    """``path`` written as ``/vault/…`` on the service's secret path (``/SECRET/vault/…``)."""
    if path.startswith("/vault/") or path == "/vault":
        return server.service_path + path[len("/vault") :]
    return path


def md5_header(data: bytes) -> str:
    return "md5=" + base64.b64encode(hashlib.md5(data).digest()).decode()


def put_data(
    server: RunningVOSpace, path: str, data: bytes, *, md5_of: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Length": str(len(data))}
    if md5_of is not None:
        headers["Digest"] = md5_header(md5_of)
    return request(server, "PUT", f"/vault/data/{path}", data, headers)


def mkdir(server: RunningVOSpace, path: str) -> int:
    body = (
        '<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'uri="{NODE}/{path}" xsi:type="vos:ContainerNode"/>'
    ).encode()
    return request(server, "PUT", f"/vault/nodes/{path}", body)[0]


def child_names(xml: bytes) -> list[str]:
    root = ET.fromstring(xml)
    nodes = root.find(f"{VOS}nodes")
    assert nodes is not None
    return [str(node.get("uri")).rsplit("/", 1)[1] for node in nodes.findall(f"{VOS}node")]


def snapshot(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def temp_dir_entries(server: RunningVOSpace) -> list[str]:
    return sorted(p.name for p in (server.root / ".vospace-tmp").iterdir())


# --------------------------------------------------------------------------- path traversal

TRAVERSALS = [
    "/vault/nodes/../../outside/secret.txt",
    "/vault/nodes/sandbox-user/../../outside",
    "/vault/nodes/%2e%2e/outside/secret.txt",
    "/vault/nodes/sandbox-user/%2E%2E/%2E%2E/outside",
    "/vault/nodes/sandbox-user/..%2f..%2foutside",
    "/vault/nodes/%2Ftmp",
    "/vault/nodes//etc/passwd",
    "/vault/nodes/sandbox-user/%252e%252e/x",
    "/vault/nodes/sandbox-user/.",
    "/vault/nodes/sandbox-user/a%00b",
    "/vault/data/../outside/secret.txt",
    "/vault/data/%2e%2e%2foutside%2fsecret.txt",
    "/vault/files/sandbox-user/../../outside/secret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_reading_outside_the_root_is_refused(
    server: RunningVOSpace, outside: Path, path: str
) -> None:
    status, _, body = request(server, "GET", path)
    assert status in (400, 403, 404)
    assert b"do not touch" not in body
    assert b"<vos:node" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/vault/data/sandbox-user/../../outside/evil.txt",
        "/vault/data/sandbox-user/%2e%2e/%2e%2e/outside/evil.txt",
        "/vault/data/sandbox-user/..%2F..%2Foutside%2Fevil.txt",
        "/vault/data/%2Foutside%2Fevil.txt",
        "/vault/data//outside/evil.txt",
        "/vault/nodes/sandbox-user/../../outside/evil",
    ],
)
def test_writing_outside_the_root_is_refused(
    server: RunningVOSpace, outside: Path, path: str
) -> None:
    before = snapshot(outside.parent)
    status, _, _ = request(server, "PUT", path, b"evil bytes", {"Content-Length": "10"})
    assert status in (400, 403, 404)
    assert snapshot(outside.parent) == before
    assert (outside / "secret.txt").read_text() == "do not touch"


@pytest.mark.parametrize(
    "target",
    [
        f"{NODE}/sandbox-user/../../outside/evil.txt",
        f"{NODE}/sandbox-user/%2e%2e/%2e%2e/outside/evil.txt",
        f"{NODE}//outside/evil.txt",
        "vos://elsewhere.org~vault/sandbox-user/x",
        "file:///etc/passwd",
    ],
)
def test_transfer_targets_outside_the_root_are_refused(
    server: RunningVOSpace, outside: Path, target: str
) -> None:
    before = snapshot(outside.parent)
    for direction in ("pushToVoSpace", "pullFromVoSpace"):
        document = (
            '<vos:transfer xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" version="2.1">'
            f"<vos:target>{target}</vos:target><vos:direction>{direction}</vos:direction>"
            "</vos:transfer>"
        ).encode()
        status, _, _ = request(server, "POST", "/vault/synctrans", document)
        assert status == 400
    move = (
        '<vos:transfer xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" version="2.1">'
        f"<vos:target>{NODE}/sandbox-user</vos:target><vos:direction>{target}</vos:direction>"
        "<vos:keepBytes>false</vos:keepBytes></vos:transfer>"
    ).encode()
    assert request(server, "POST", "/vault/transfers", move)[0] == 400
    form = f"target={target}".encode()
    assert request(server, "POST", "/vault/recursive-delete", form)[0] == 400
    params = f"/vault/synctrans?TARGET={target}&DIRECTION=pullFromVoSpace&REQUEST=redirect"
    assert request(server, "GET", params)[0] == 400
    assert snapshot(outside.parent) == before


def test_symbolic_links_are_not_followed(server: RunningVOSpace, outside: Path) -> None:
    os.symlink(outside, server.root / USER / "escape")
    os.symlink(outside / "secret.txt", server.root / USER / "secret-link")
    status, _, body = request(server, "GET", "/vault/nodes/sandbox-user")
    assert status == 200
    assert child_names(body) == []
    for path in (
        "/vault/nodes/sandbox-user/escape",
        "/vault/nodes/sandbox-user/escape/secret.txt",
        "/vault/data/sandbox-user/secret-link",
        "/vault/data/sandbox-user/escape/secret.txt",
    ):
        status, _, body = request(server, "GET", path)
        assert status in (403, 404)
        assert b"do not touch" not in body
    status, _, _ = put_data(server, "sandbox-user/escape/new.txt", b"x")
    assert status in (403, 404)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_writes_outside_the_home_are_refused(server: RunningVOSpace) -> None:
    assert mkdir(server, "someone-else") == 403
    assert put_data(server, "top.txt", b"data")[0] == 403
    assert request(server, "DELETE", "/vault/nodes/sandbox-user")[0] == 403
    assert not (server.root / "someone-else").exists()
    assert not (server.root / "top.txt").exists()


# --------------------------------------------------------------------------- uploads


def test_upload_stores_bytes_and_answers_with_their_md5(server: RunningVOSpace) -> None:
    data = os.urandom(200_000)
    status, headers, _ = put_data(server, "sandbox-user/a.bin", data, md5_of=data)
    assert status == 201
    assert headers["Digest"] == md5_header(data)
    assert (server.root / USER / "a.bin").read_bytes() == data
    assert temp_dir_entries(server) == []


def test_upload_with_a_wrong_md5_leaves_nothing(server: RunningVOSpace) -> None:
    status, _, body = put_data(server, "sandbox-user/bad.bin", b"real bytes", md5_of=b"other")
    assert status == 412
    assert b"ChecksumMismatch" in body
    assert not (server.root / USER / "bad.bin").exists()
    assert temp_dir_entries(server) == []


def test_a_bad_upload_does_not_replace_the_existing_file(server: RunningVOSpace) -> None:
    assert put_data(server, "sandbox-user/keep.txt", b"original", md5_of=b"original")[0] == 201
    assert put_data(server, "sandbox-user/keep.txt", b"newer!", md5_of=b"newer?")[0] == 412
    assert (server.root / USER / "keep.txt").read_bytes() == b"original"


def test_corruption_in_transit_is_caught_by_the_md5(server: RunningVOSpace) -> None:
    server.faults.corrupt_uploads(1)
    data = b"0123456789" * 1000
    assert put_data(server, "sandbox-user/c.bin", data, md5_of=data)[0] == 412
    assert not (server.root / USER / "c.bin").exists()
    assert put_data(server, "sandbox-user/c.bin", data, md5_of=data)[0] == 201
    assert server.faults.uploads_corrupted == 1


def test_a_cut_off_upload_leaves_nothing(server: RunningVOSpace) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(
            b"PUT "
            + secret_path(server, "/vault/data/sandbox-user/cut.bin").encode()
            + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"x" * 5000
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # the service gives up on the body and closes
    assert not (server.root / USER / "cut.bin").exists()
    assert temp_dir_entries(server) == []


def test_chunked_upload(server: RunningVOSpace) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    chunks = [b"abc" * 1000, b"def" * 2000]
    connection.request(
        "PUT",
        secret_path(server, "/vault/data/sandbox-user/chunked.bin"),
        body=iter(chunks),
        headers={"Transfer-Encoding": "chunked", "Digest": md5_header(b"".join(chunks))},
        encode_chunked=True,
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 201
    assert (server.root / USER / "chunked.bin").read_bytes() == b"".join(chunks)


def test_quota_is_enforced(tmp_path: Path) -> None:
    with start_server(tmp_path / "root", quota_bytes=1000) as server:
        assert put_data(server, "sandbox-user/a", b"x" * 600, md5_of=b"x" * 600)[0] == 201
        status, _, body = put_data(server, "sandbox-user/b", b"y" * 600)
        assert status == 413
        assert not (server.root / USER / "b").exists()
        assert put_data(server, "sandbox-user/a", b"z" * 900)[0] == 201  # replacing is fine
        status, _, body = request(server, "GET", "/vault/nodes/sandbox-user?limit=0")
        props = {
            p.get("uri", "").rsplit("#", 1)[1]: p.text
            for p in ET.fromstring(body).iter(f"{VOS}property")
        }
        assert props["quota"] == "1000"
        assert props["length"] == "900"


# --------------------------------------------------------------------------- downloads


def test_download_headers_carry_the_md5_and_ranges_resume(server: RunningVOSpace) -> None:
    data = os.urandom(10_000)
    put_data(server, "sandbox-user/d.bin", data)
    status, headers, body = request(server, "GET", "/vault/data/sandbox-user/d.bin")
    assert status == 200 and body == data
    assert headers["Digest"] == md5_header(data)
    assert headers["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = request(
        server, "GET", "/vault/data/sandbox-user/d.bin", headers={"Range": "bytes=4000-"}
    )
    assert status == 206
    assert body == data[4000:]
    assert headers["Content-Range"] == "bytes 4000-9999/10000"
    assert headers["Digest"] == md5_header(data)  # the whole file's MD5, as cadcutils expects
    status, _, _ = request(
        server, "GET", "/vault/data/sandbox-user/d.bin", headers={"Range": "bytes=20000-"}
    )
    assert status == 416


def test_files_endpoint_redirects_to_the_bytes(server: RunningVOSpace) -> None:
    put_data(server, "sandbox-user/r.txt", b"redirect me")
    status, headers, _ = request(server, "GET", "/vault/files/sandbox-user/r.txt")
    assert status == 303
    assert headers["Location"] == f"{server.base_url}/data/sandbox-user/r.txt"


def test_a_cut_download_stops_early(server: RunningVOSpace) -> None:
    data = os.urandom(300_000)
    put_data(server, "sandbox-user/cut.bin", data)
    server.faults.cut_downloads(1, after_bytes=1000)
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    connection.request("GET", secret_path(server, "/vault/data/sandbox-user/cut.bin"))
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()
    assert server.faults.downloads_cut == 1
    assert request(server, "GET", "/vault/data/sandbox-user/cut.bin")[2] == data


# --------------------------------------------------------------------------- listings


def test_listing_honours_limit_and_pages_from_uri(server: RunningVOSpace) -> None:
    for name in ["e", "b", "a", "d", "c"]:
        assert mkdir(server, f"sandbox-user/{name}") == 201
    base = "/vault/nodes/sandbox-user"
    assert child_names(request(server, "GET", base)[2]) == ["a", "b", "c", "d", "e"]
    assert child_names(request(server, "GET", f"{base}?limit=0")[2]) == []
    assert child_names(request(server, "GET", f"{base}?limit=2")[2]) == ["a", "b"]
    page = request(server, "GET", f"{base}?limit=2&uri={NODE}/sandbox-user/b")[2]
    assert child_names(page) == ["b", "c"]  # a page starts AT uri, as CADC's services do
    assert child_names(request(server, "GET", f"{base}?order=desc&limit=2")[2]) == ["e", "d"]
    assert request(server, "GET", f"{base}?limit=-1")[0] == 400
    assert request(server, "GET", f"{base}?limit=ten")[0] == 400
    assert request(server, "GET", f"{base}?uri={NODE}/elsewhere/b")[0] == 400


def test_listing_sorts_by_length(server: RunningVOSpace) -> None:
    put_data(server, "sandbox-user/big", b"x" * 300)
    put_data(server, "sandbox-user/small", b"x" * 3)
    put_data(server, "sandbox-user/mid", b"x" * 30)
    query = "sort=ivo://ivoa.net/vospace/core%23length&order=desc"
    names = child_names(request(server, "GET", f"/vault/nodes/sandbox-user?{query}")[2])
    assert names == ["big", "mid", "small"]


def test_node_properties(server: RunningVOSpace) -> None:
    data = b"hello vospace"
    put_data(server, "sandbox-user/p.txt", data)
    status, _, body = request(server, "GET", "/vault/nodes/sandbox-user/p.txt")
    assert status == 200
    root = ET.fromstring(body)
    assert root.get("uri") == f"{NODE}/sandbox-user/p.txt"
    props = {p.get("uri", "").rsplit("#", 1)[1]: p.text for p in root.iter(f"{VOS}property")}
    assert props["length"] == str(len(data))
    assert props["MD5"] == hashlib.md5(data).hexdigest()
    creator, date = props["creator"], props["date"]
    assert creator is not None and creator.startswith("CN=sandbox-user,")
    assert date is not None and date[:4].isdigit()


def test_delete_of_a_full_container_is_a_conflict(server: RunningVOSpace) -> None:
    mkdir(server, "sandbox-user/full")
    put_data(server, "sandbox-user/full/f", b"x")
    assert request(server, "DELETE", "/vault/nodes/sandbox-user/full")[0] == 409
    assert (server.root / USER / "full" / "f").exists()


# --------------------------------------------------------------------------- binding, tokens


def test_binds_to_loopback_only(tmp_path: Path) -> None:
    with start_server(tmp_path / "root") as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        secret = server.service_path.split("/")[1]
        assert len(secret) >= 32
        assert server.base_url == f"http://127.0.0.1:{server.port}/{secret}/vault"
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(ValueError):
            start_server(tmp_path / "root", host=host)


def test_a_token_is_required_when_configured(tmp_path: Path) -> None:
    with start_server(tmp_path / "root", token="s3cret") as server:
        assert request(server, "GET", "/vault/capabilities")[0] == 200
        assert request(server, "GET", "/vault/nodes/sandbox-user")[0] == 401
        wrong = {"Authorization": "Bearer nope"}
        assert request(server, "GET", "/vault/nodes/sandbox-user", headers=wrong)[0] == 401
        right = {"Authorization": "Bearer s3cret"}
        assert request(server, "GET", "/vault/nodes/sandbox-user", headers=right)[0] == 200


def test_stop_is_idempotent_and_closes_the_port(tmp_path: Path) -> None:
    server = start_server(tmp_path / "root")
    port = server.port
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# --------------------------------------------------------------------------- client home


def test_prepare_client_home_points_vos_at_the_service(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stale = home / ".config" / "cadc-registry" / "cadc.nrc.ca" / ".vault"
    stale.parent.mkdir(parents=True)
    stale.write_text("capabilities of an earlier port")
    prepare_client_home(home, "http://127.0.0.1:1234/vault")
    registry = home / ".config" / "cadc-registry" / "resource-caps"
    lines = [line for line in registry.read_text().splitlines() if not line.startswith("#")]
    assert lines == ["ivo://cadc.nrc.ca/vault = http://127.0.0.1:1234/vault/capabilities"]
    assert registry.stat().st_mtime > time.time() + CACHE_FUTURE_SECONDS / 2
    versions = home / ".config" / "vos" / "caches" / ".pypi_versions.json"
    assert json.loads(versions.read_text()) == {"releases": {}}
    assert versions.stat().st_mtime > time.time() + CACHE_FUTURE_SECONDS / 2
    assert not stale.exists()


def test_command_line_entry_writes_pidfile_and_stops_on_sigterm(tmp_path: Path) -> None:
    pidfile = tmp_path / "vospace.pid"
    url_file = tmp_path / "vospace.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canfar_tui.clients.storage.loopback",
            "--root",
            str(tmp_path / "root"),
            "--port",
            "0",
            "--pidfile",
            str(pidfile),
            "--url-file",
            str(url_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("VOSPACE_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert url_file.read_text().strip() == url
        assert pidfile.read_text().strip() == str(process.pid)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", urlsplit(url).path + "/availability")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not pidfile.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
