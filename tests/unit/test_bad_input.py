"""Bad input, all in one place: each category's exact one-line message, and nothing changed.

Issue 8 lists the inputs a user (or a damaged file) can hand canfar-tui: corrupt or truncated
FITS, malformed submit files, invalid SSH public keys, names with control characters or too
long, VOSpace path traversal, a config file with wrong types, an openrc file with unexpected
lines. Each category is one parametrized test over the public functions (and the real sandbox
backends) that take that input: the message must be exactly the expected line (no newline,
no traceback), and what the input would have changed must be unchanged (no catalogue written,
no job queued, no key pair, instance, snapshot or node created, no file read outside the
VOSpace root, no command run).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from canfar_tui.cli.detect import main as detect_main
from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.cloud.names import check_keypair_name, check_name
from canfar_tui.clients.cloud.openrc import load_openrc
from canfar_tui.clients.cloud.sandbox import SandboxCloud
from canfar_tui.clients.cloud.sshkeys import parse_public_key
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.clients.storage.loopback import (
    PathRefused,
    RunningVOSpace,
    split_url_path,
    start_server,
    validate_name,
)
from canfar_tui.clients.storage.vospace import RetryPolicy, VOSpaceStorage
from canfar_tui.config import ConfigError, load_settings
from canfar_tui.detection.errors import InputError
from canfar_tui.detection.reader import scan_image
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef
from canfar_tui.models import LaunchRequest

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message, message
    return message


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its content (what "nothing was written" compares)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --------------------------------------------------------------------------- FITS


@pytest.fixture(scope="module")
def good_fits(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real (synthetic, few sources) tile-compressed MEF of two CCDs: 37440 bytes."""
    path = tmp_path_factory.mktemp("fits") / "good.fits.fz"
    config = SyntheticConfig(
        n_ccds=2,
        width=64,
        height=128,
        seed=3,
        stars_per_ccd=5,
        galaxies_per_ccd=5,
        cosmic_rays_per_ccd=0,
    )
    write_synthetic_mef(path, config)
    return path.read_bytes()


def fits_cases(folder: Path, data: bytes) -> dict[str, tuple[Path, str]]:
    """Damaged copies of the good MEF and the line each gets."""
    assert len(data) == 37440
    cases: dict[str, tuple[bytes, str]] = {
        "empty": (b"", "{path}: empty file (0 bytes)"),
        "not_fits": (
            b"<html>404 Not Found</html>\n" * 200,
            "{name}: not a FITS file (it does not start with a SIMPLE card)",
        ),
        "truncated": (
            data[:32440],
            "{name}: truncated file: 32440 bytes, its headers describe 35345 "
            "(incomplete download or copy?)",
        ),
        "only_a_header": (
            data[:2880],
            "{name}: no image data (the file has only header(s))",
        ),
    }
    result = {}
    for case, (content, message) in cases.items():
        path = folder / f"{case}.fits.fz"
        path.write_bytes(content)
        result[case] = (path, message.format(path=path, name=path.name))
    return result


@pytest.mark.parametrize("case", ["empty", "not_fits", "truncated", "only_a_header"])
def test_corrupt_or_truncated_fits(
    case: str,
    good_fits: bytes,
    tmp_path: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (isolated_home / ".config").mkdir(exist_ok=True)  # astropy warns when XDG's is missing
    folder = tmp_path / "images"
    folder.mkdir()
    path, expected = fits_cases(folder, good_fits)[case]
    with pytest.raises(InputError) as caught:
        scan_image(path)
    assert one_line(str(caught.value)) == expected
    before = listing(folder)
    capsys.readouterr()
    assert detect_main([str(path)]) == 1  # the CLI: exit 1, one line, no catalogue
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"canfar-tui detect: error: {expected}"]
    assert listing(folder) == before


# --------------------------------------------------------------------------- submit files

SUBMIT_CASES = {
    "syntax_error": (
        "executable = run.sh\nthis is not valid\nqueue\n",
        "Line 2: expected 'command = value' or 'queue …', found 'this is not valid'.",
    ),
    "bad_queue_count": (
        "executable = run.sh\nqueue 1 2 3\n",
        "Line 2: the queue count '1 2 3' is not a whole number.",
    ),
    "no_executable": (
        "arguments = 1056215p\nqueue\n",
        "The submit description has no 'executable' command.",
    ),
    "missing_executable": (
        "executable = missing.sh\nqueue\n",
        "Line 1: the executable {job}/missing.sh does not exist.",
    ),
    "empty_item_list_from": (
        "executable = run.sh\narguments = $(exposure)\nqueue exposure from (\n)\n",
        "Line 3: the 'queue … from' item list is empty; nothing to submit.",
    ),
    "empty_item_list_in": (
        "executable = run.sh\nqueue exposure in ()\n",
        "Line 2: the 'queue … in' item list is empty; nothing to submit.",
    ),
    "unknown_macro": (
        "executable = run.sh\narguments = $(exposre)\nqueue\n",
        "Line 2: $(exposre) is not defined (no such command or queue variable).",
    ),
}


@pytest.fixture
async def sandbox_queue(tmp_path: Path) -> AsyncIterator[SandboxQueue]:
    queue = SandboxQueue(tmp_path / "queue", slots=1, seed=False)
    yield queue
    await queue.aclose()


@pytest.mark.parametrize("case", sorted(SUBMIT_CASES))
async def test_malformed_submit_files(
    case: str, sandbox_queue: SandboxQueue, tmp_path: Path
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "run.sh").write_text("#!/bin/sh\necho ok\n")
    (job / "run.sh").chmod(0o755)
    text, expected = SUBMIT_CASES[case]
    before = listing(job)
    with pytest.raises(InvalidInput) as caught:
        await sandbox_queue.submit(text, submit_dir=job)
    assert one_line(caught.value.message) == expected.format(job=job)
    assert await sandbox_queue.list_jobs(all_users=True) == []
    assert await sandbox_queue.history(all_users=True) == []
    assert listing(job) == before, "no log, no output file"


# --------------------------------------------------------------------------- SSH public keys

KEY_CASES = {
    "empty": ("", "not an SSH public key: the text is empty"),
    "type_only": ("ssh-rsa", "not an SSH public key: the key data after the key type is missing"),
    "bad_base64": (
        "ssh-rsa AAAA!! me@laptop",
        "not an SSH public key: the key data is not valid base64 (was the line cut or wrapped?)",
    ),
    "unknown_type": (
        "ssh-foo AAAAB3NzaC1yc2E= x",
        "not an SSH public key: unknown key type 'ssh-foo'",
    ),
    "private_key": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n-----END OPENSSH PRIVATE KEY-----\n",
        "looks like a PRIVATE key — choose the .pub file",
    ),
    "truncated": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== me",
        "not an SSH public key: the key data is truncated (short ed25519 key)",
    ),
    "type_mismatch": (
        "ssh-rsa " + ED25519.split()[1],
        "not an SSH public key: the line says 'ssh-rsa' but the key data says 'ssh-ed25519'",
    ),
}


@pytest.mark.parametrize("case", sorted(KEY_CASES))
async def test_invalid_ssh_public_keys(case: str, tmp_path: Path) -> None:
    text, expected = KEY_CASES[case]
    with pytest.raises(InvalidInput) as caught:
        parse_public_key(text)
    assert one_line(caught.value.message) == expected
    cloud = SandboxCloud(tmp_path / "cloud.sqlite")
    try:
        before = await cloud.list_keypairs()
        with pytest.raises(InvalidInput) as imported:
            await cloud.import_keypair("laptop", text)
        assert imported.value.message == expected
        assert await cloud.list_keypairs() == before
    finally:
        await cloud.aclose()


# --------------------------------------------------------------------------- names

NAME_CASES = {
    "control_characters": ("vm\x1b[31m-red", "The {what} name contains control characters."),
    "newline": ("catalogue\nvm", "The {what} name contains control characters."),
    "too_long": ("v" * 300, "The {what} name is 300 characters long (at most 255)."),
    "empty": ("", "The {what} name is empty."),
    "blank": ("   ", "The {what} name is empty."),
    "outer_space": (" catalogue-vm", "The {what} name starts or ends with a space."),
}


@pytest.mark.parametrize("case", sorted(NAME_CASES))
async def test_instance_key_and_snapshot_names(case: str, tmp_path: Path) -> None:
    name, expected = NAME_CASES[case]
    for what in ("instance", "key pair", "snapshot"):
        with pytest.raises(InvalidInput) as caught:
            check_name(what, name)
        assert one_line(caught.value.message) == expected.format(what=what)
    cloud = SandboxCloud(tmp_path / "cloud.sqlite")
    try:
        image = (await cloud.list_images())[0]
        flavor = (await cloud.list_flavors())[0]
        launched = await cloud.launch_instance(
            LaunchRequest(name="catalogue-vm", image_id=image.id, flavor_id=flavor.id)
        )
        state = (
            await cloud.list_instances(),
            await cloud.list_keypairs(),
            await cloud.list_images(),
        )
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "instance": lambda: cloud.launch_instance(
                LaunchRequest(name=name, image_id=image.id, flavor_id=flavor.id)
            ),
            "key pair": lambda: cloud.import_keypair(name, ED25519),
            "snapshot": lambda: cloud.create_snapshot(launched.id, name),
        }
        for what, call in calls.items():
            with pytest.raises(InvalidInput) as refused:
                await call()
            assert refused.value.message == expected.format(what=what)
        after = (
            await cloud.list_instances(),
            await cloud.list_keypairs(),
            await cloud.list_images(),
        )
        assert [i.id for i in after[0]] == [i.id for i in state[0]]
        assert after[1:] == state[1:]
    finally:
        await cloud.aclose()


def test_unicode_names_nova_accepts_and_key_pairs_refuse() -> None:
    assert check_name("instance", "réduction-vm") == "réduction-vm"  # Nova takes unicode
    with pytest.raises(InvalidInput) as caught:
        check_keypair_name("clé")
    assert caught.value.message == (
        "The key pair name has characters Nova refuses ('é'); use letters, digits, spaces "
        "and . _ - @"
    )


@pytest.fixture
def vospace(tmp_path: Path) -> Any:
    server = start_server(tmp_path / "root")
    yield server
    server.stop()


@pytest.fixture
async def storage(vospace: RunningVOSpace, tmp_path: Path) -> AsyncIterator[VOSpaceStorage]:
    client = VOSpaceStorage.for_sandbox(vospace, tmp_path / "vos-client", retry=RetryPolicy(1, 0.0))
    yield client
    await client.aclose()


LONG = "x" * 300
NODE_NAME_CASES = {
    # (name, the server's refusal, the client's one line for mkdir)
    "control_character": (
        "bad\x01name",
        "invalid character in node name 'bad\\x01name'",
        "Invalid VOSpace path: 'vos:sandbox-user/bad\\x01name'",
    ),
    "too_long": (
        LONG,
        "node name too long",
        f"Invalid request for vos:sandbox-user/{LONG}: InvalidURI: node name too long",
    ),
    "percent": (
        "a%2fb",
        "invalid character in node name 'a%2fb'",
        "Invalid request for vos:sandbox-user/a%2fb",
    ),
    "dot_dot": ("..", "invalid node name '..'", "Invalid VOSpace path: 'vos:sandbox-user/..'"),
}


@pytest.mark.parametrize("case", sorted(NODE_NAME_CASES))
async def test_vospace_node_names(
    case: str, storage: VOSpaceStorage, vospace: RunningVOSpace
) -> None:
    name, server_says, client_says = NODE_NAME_CASES[case]
    with pytest.raises(PathRefused) as refused:
        validate_name(name)
    assert one_line(str(refused.value)) == server_says
    before = listing(vospace.root)
    with pytest.raises(InvalidInput) as caught:
        await storage.mkdir(f"{storage.home_uri}/{name}")
    assert one_line(caught.value.message) == client_says
    assert listing(vospace.root) == before
    assert await storage.list_nodes(storage.home_uri) == []


# --------------------------------------------------------------------------- path traversal

CLIENT_TRAVERSAL = ["../other-user", "raw/../../other-user", "./raw", "raw/./x"]


@pytest.mark.parametrize("path", CLIENT_TRAVERSAL)
async def test_vospace_path_traversal_client_side(
    path: str, storage: VOSpaceStorage, vospace: RunningVOSpace, tmp_path: Path
) -> None:
    (vospace.root / "sandbox-user" / "raw").mkdir()
    source = tmp_path / "f.cat"
    source.write_bytes(b"catalogue")
    before = listing(vospace.root)
    uri = f"{storage.home_uri}/{path}"
    expected = f"Invalid VOSpace path: {uri!r}"
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: storage.stat(uri),
        lambda: storage.mkdir(uri),
        lambda: storage.upload(source, uri),
        lambda: storage.delete(uri),
    ]
    for call in calls:
        with pytest.raises(InvalidInput) as caught:
            await call()
        assert one_line(caught.value.message) == expected
    assert listing(vospace.root) == before


SERVER_TRAVERSAL = {
    "dot_dot": ("/nodes/sandbox-user/%2e%2e/secret.txt", "InvalidURI: invalid node name '..'"),
    "encoded_slashes": (
        "/nodes/sandbox-user/..%2f..%2fsecret.txt",
        "InvalidURI: invalid character in node name '../../secret.txt'",
    ),
    "data_endpoint": (
        "/data/sandbox-user/%2e%2e/%2e%2e/secret.txt",
        "InvalidURI: invalid node name '..'",
    ),
    "double_encoded": (
        "/data/sandbox-user/%252e%252e/secret.txt",
        "InvalidURI: invalid character in node name '%2e%2e'",
    ),
    "empty_name": ("/nodes/sandbox-user//secret.txt", "InvalidURI: invalid node name ''"),
}


@pytest.mark.parametrize("case", sorted(SERVER_TRAVERSAL))
async def test_vospace_path_traversal_server_side(
    case: str, vospace: RunningVOSpace, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("not for VOSpace clients")
    (vospace.root / "secret.txt").write_text("outside the home")
    path, expected = SERVER_TRAVERSAL[case]
    with pytest.raises(PathRefused):
        split_url_path(path.split("/", 2)[2])

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(vospace.base_url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, body = await asyncio.to_thread(get)
    assert (status, body) == (400, expected + "\n")
    assert "not for" not in body and "outside" not in body


# --------------------------------------------------------------------------- config files

CONFIG_CASES = {
    "bool_as_string": ('read_only = "yes"\n', "read_only must be true or false, got 'yes'"),
    "number_as_string": (
        '[refresh]\ninstances = "fast"\n',
        "refresh.instances must be a number, got 'fast'",
    ),
    "table_as_number": ("refresh = 5\n", "refresh must be a table, got 5"),
    "string_as_list": ('default_profile = ["a"]\n', "default_profile must be a string, got ['a']"),
    "profile_bool": (
        '[profiles.arbutus]\nverify_tls = "no"\n',
        "profiles.arbutus.verify_tls must be true or false, got 'no'",
    ),
    "profile_path_as_number": (
        "[profiles.arbutus]\nopenrc = 5\n",
        "profiles.arbutus.openrc must be a string, got 5",
    ),
    "keymap_value": ('[keymap]\n"app.quit" = 1\n', "keymap.app.quit must be a string, got 1"),
    "not_toml": ("theme = [\n", "not valid TOML (Invalid value (at end of document))"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_file_with_wrong_types(case: str, isolated_home: Path) -> None:
    text, expected = CONFIG_CASES[case]
    config = isolated_home / ".config" / "canfar-tui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(text)
    before = listing(isolated_home)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert one_line(str(caught.value)) == f"{config}: {expected}"
    assert listing(isolated_home) == before, "the file is not rewritten, nothing is created"


# --------------------------------------------------------------------------- openrc files

OPENRC_HEAD = "export OS_AUTH_URL=https://arbutus.cloud.computecanada.ca:5000\n"
OPENRC_CASES = {
    "command_substitution": (
        "export FOO=$(touch {sentinel})",
        "line 2: assignment to 'FOO' ignored (only OS_* variables are read)",
    ),
    "os_command_substitution": (
        "export OS_PROJECT_NAME=$(touch {sentinel})",
        "line 2: OS_PROJECT_NAME uses command substitution (not evaluated); ignored",
    ),
    "backticks": (
        "export OS_USERNAME=`touch {sentinel}`",
        "line 2: OS_USERNAME uses command substitution (not evaluated); ignored",
    ),
    "source": ("source {sentinel}-openrc.sh", "line 2: unexpected 'source' line ignored"),
    "dot_source": (". ./{sentinel}", "line 2: unexpected '.' line ignored"),
    "function": ("evil() {{ touch {sentinel}; }}", "line 2: unexpected 'evil()' line ignored"),
    "function_keyword": (
        "function evil {{ touch {sentinel}; }}",
        "line 2: unexpected 'function' line ignored",
    ),
    "command": ("touch {sentinel}", "line 2: unexpected 'touch' line ignored"),
    "garbage": ("#!!! ~~~ garbage", None),  # a comment: nothing to say
    "garbage_words": ("%%% @@@ {sentinel} !!!", "line 2: unexpected '%%%' line ignored"),
}


@pytest.mark.parametrize("case", sorted(OPENRC_CASES))
def test_openrc_with_unexpected_lines_is_parsed_never_run(case: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    line, expected = OPENRC_CASES[case]
    path = tmp_path / "canfar-batch-demo-openrc.sh"
    path.write_text(OPENRC_HEAD + line.format(sentinel=sentinel) + '\nexport OS_REGION_NAME="R1"\n')
    parsed = load_openrc(path)
    assert parsed.warnings == (() if expected is None else (expected,))
    assert all(one_line(warning) for warning in parsed.warnings)
    assert dict(parsed.variables) == {
        "OS_AUTH_URL": "https://arbutus.cloud.computecanada.ca:5000",
        "OS_REGION_NAME": "R1",
    }
    assert not sentinel.exists(), "nothing in the file was run"
    assert str(sentinel) not in " ".join(parsed.warnings), "the line's text is not echoed"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x7fELF\x00\x01", "{path} is a binary file, not an openrc file."),
        (b"x" * (2 * 1024 * 1024), "{path} is too large to be an openrc file."),
    ],
    ids=["binary", "huge"],
)
def test_openrc_files_that_are_not_openrc_files(
    content: bytes, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "openrc.sh"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        load_openrc(path)
    assert one_line(caught.value.message) == expected.format(path=path)


# --------------------------------------------------------------------------- put: not a file


def test_put_names_a_folder_or_fifo_instead_of_no_such_file(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: ``put`` on a folder or FIFO said "no such file"; it says what the path is."""
    import argparse
    import io
    import os

    from canfar_tui.cli.put import add_put_arguments, run_put

    folder = tmp_path / "a-folder"
    folder.mkdir()
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    parser = argparse.ArgumentParser()
    add_put_arguments(parser)
    words = [str(folder), str(fifo), str(tmp_path / "missing"), "vos:sandbox-user/p/"]
    out = io.StringIO()
    assert run_put(parser.parse_args(words), out=out) == 1
    assert out.getvalue() == ""
    assert capsys.readouterr().err.splitlines() == [
        f"canfar-tui put: {folder}: is a folder (put uploads files; name the files inside it)",
        f"canfar-tui put: {fifo}: is not a regular file (a device, FIFO or socket): "
        "nothing uploaded",
        f"canfar-tui put: {tmp_path / 'missing'}: no such file",
    ]
