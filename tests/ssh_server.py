"""A real OpenSSH server on 127.0.0.1 for the VM set-up tests, started and stopped by the test.

:func:`start_ssh_server` runs Debian's ``/usr/sbin/sshd`` as a non-daemon child (``-D``) on a
free port with a throwaway host key and one authorized key, all in a temporary folder, and
:meth:`SshServer.stop` kills it by PID. The images' default users (``ubuntu``, ``rocky``) do not
exist on this machine: nss_wrapper (``LD_PRELOAD``) shows sshd a passwd file where they are the
account running the test, with a home in the temporary folder. Nothing is added to the system
(as root, sshd needs its privilege-separation folder ``/run/sshd``, made when missing, as the
Debian service does).

The remote PATH starts with stubs of ``sudo``, ``canfar_create_user``, ``canfar_setup_scratch``
and ``apt`` (the real ones need root and a network). Each appends its name and arguments to
``calls.log``; files in the stub folder change their behaviour: ``fail_scratch`` makes
``canfar_setup_scratch`` fail as the real one does on a VM without an ephemeral disk,
``slow_apt`` makes ``apt update`` print a progress line every 0.2 s for a minute (its PID in
``apt.pid``). ``scripts/install_ssh_server.sh`` installs sshd and nss_wrapper.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
REQUIRE_ENV = "CANFAR_TUI_REQUIRE_TOOLS"

STUBS = {
    "sudo": """#!/bin/sh
echo "sudo $*" >> "$CALLS"
exec "$@"
""",
    "canfar_create_user": """#!/bin/sh
echo "canfar_create_user $*" >> "$CALLS"
echo " >> canfar_create_user: creating the user $1"
""",
    "canfar_setup_scratch": """#!/bin/sh
echo "canfar_setup_scratch $*" >> "$CALLS"
echo " >> canfar_setup_scratch: setting up scratch directory on /mnt/scratch"
if [ -e "$STUBS/fail_scratch" ]; then
    echo " >> canfar_setup_scratch: ephemeral partition not mounted trying"
    echo "mount: /mnt: special device /dev/vdb does not exist." >&2
    why="This is not a VM with ephemeral partition."
    echo "canfar_setup_scratch ERROR: $why Terminate and choose another flavor" >&2
    exit 1
fi
""",
    "apt": """#!/bin/sh
echo "apt $*" >> "$CALLS"
echo "WARNING: apt does not have a stable CLI interface. Use with caution in scripts." >&2
if [ "$1" = update ]; then
    echo "Hit:1 http://archive.ubuntu.com/ubuntu focal InRelease"
    if [ -e "$STUBS/slow_apt" ]; then
        echo $$ > "$STUBS/apt.pid"
        i=0
        while [ $i -lt 300 ]; do
            i=$((i + 1))
            echo "Get:$i http://archive.ubuntu.com/ubuntu focal-updates InRelease [114 kB]"
            sleep 0.2
        done
    fi
    sleep 0.5
    echo "Reading package lists..."
else
    echo "Setting up source-extractor (2.25.0+ds-2) ..."
    echo "Setting up libcfitsio-bin (3.470-3) ..."
fi
""",
}


def nss_wrapper_library() -> Path | None:
    for candidate in sorted(Path("/usr/lib").glob("*/libnss_wrapper.so")):
        return candidate
    fallback = Path("/usr/lib/libnss_wrapper.so")
    return fallback if fallback.exists() else None


def sshd_or_skip() -> tuple[Path, Path]:
    """sshd and nss_wrapper; skip without them (fail when the tools are required)."""
    library = nss_wrapper_library()
    missing = [
        name
        for name, present in (
            ("/usr/sbin/sshd", SSHD.exists()),
            ("ssh", shutil.which("ssh") is not None),
            ("ssh-keygen", shutil.which("ssh-keygen") is not None),
            ("libnss_wrapper.so", library is not None),
        )
        if not present
    ]
    if missing:
        reason = f"{', '.join(missing)} missing (bash scripts/install_ssh_server.sh)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    assert library is not None
    return SSHD, library


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def keygen(path: Path) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class SshServer:
    """One running sshd; ``client_options`` are what a profile's ``ssh_options`` need."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log_path: Path

    @property
    def stubs(self) -> Path:
        return self.folder / "stubs"

    @property
    def calls(self) -> list[str]:
        path = self.folder / "calls.log"
        return path.read_text().splitlines() if path.exists() else []

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def client_options(self) -> tuple[str, ...]:
        return (
            f"Port={self.port}",
            f"UserKnownHostsFile={self.folder / 'known_hosts'}",
            "GlobalKnownHostsFile=/dev/null",
            "IdentitiesOnly=yes",
        )

    def stop(self) -> None:
        """Kill sshd by its PID (and wait for it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        pid_file = self.stubs / "apt.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.kill(int(pid_file.read_text()), 9)


def start_ssh_server(folder: Path, authorized_key: Path) -> SshServer:
    """Start sshd on a free port of 127.0.0.1 that accepts ``authorized_key`` for ubuntu/rocky."""
    sshd, library = sshd_or_skip()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_ed25519")
    authorized = folder / "authorized_keys"
    authorized.write_text(authorized_key.read_text())
    authorized.chmod(0o600)
    remote_home = folder / "remote-home"
    remote_home.mkdir(exist_ok=True)
    stubs = folder / "stubs"
    stubs.mkdir(exist_ok=True)
    for name, text in STUBS.items():
        stub = stubs / name
        stub.write_text(text)
        stub.chmod(0o755)
    uid, gid = os.getuid(), os.getgid()
    entries = [f"{user}:x:{uid}:{gid}:{user}:{remote_home}:/bin/sh" for user in ("ubuntu", "rocky")]
    (folder / "passwd").write_text("\n".join(entries) + "\n" + Path("/etc/passwd").read_text())
    (folder / "group").write_text(Path("/etc/group").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {host_key}",
                "PidFile none",
                f"AuthorizedKeysFile {authorized}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "LogLevel VERBOSE",
                f"SetEnv PATH={stubs}:/usr/local/bin:/usr/bin:/bin "
                f"CALLS={folder / 'calls.log'} STUBS={stubs}",
                "",
            ]
        )
    )
    if uid == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/bin",
        "LD_PRELOAD": str(library),
        "NSS_WRAPPER_PASSWD": str(folder / "passwd"),
        "NSS_WRAPPER_GROUP": str(folder / "group"),
    }
    log_path = folder / "sshd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(sshd), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = SshServer(process, port, folder, log_path)
    deadline = time.monotonic() + 15
    while "Server listening" not in server.log:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"sshd did not start: {server.log}")
        time.sleep(0.05)
    return server
