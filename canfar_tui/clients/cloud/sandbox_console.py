"""The sandbox cloud's console log: what an Ubuntu or Rocky CANFAR VM prints as it boots.

An instance row keeps the console events of its life (boots, shutdowns, reboots) with their
times; :func:`console_text` replays those that have happened, the way ``openstack console log
show`` answers for a real VM: kernel lines, cloud-init's network and SSH key tables, the scratch
disk note of the ``c…`` flavors, and the login prompt.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime

__all__ = ["console_text"]

_UBUNTU_BOOT = (
    "[    0.000000] Linux version 5.4.0-169-generic (buildd@lcy02-amd64-102) "
    "(gcc version 9.4.0 (Ubuntu 9.4.0-1ubuntu1~20.04.2)) #187-Ubuntu SMP",
    "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-5.4.0-169-generic "
    "root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0",
    "[    0.000000] KERNEL supported cpus:",
    "[    0.412311] x86/mm: Memory block size: 128MB",
    "[    1.902554] EXT4-fs (vda1): mounted filesystem with ordered data mode. Opts: (null)",
    "[    3.117420] systemd[1]: Detected virtualization kvm.",
    "[    3.118109] systemd[1]: Set hostname to <ubuntu>.",
)
_ROCKY_BOOT = (
    "[    0.000000] Linux version 4.18.0-513.9.1.el8_9.x86_64 "
    "(mockbuild@iad1-prod-build001.bld.equ.rockylinux.org) (gcc version 8.5.0 20210514)",
    "[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt3)/vmlinuz-4.18.0-513.9.1.el8_9.x86_64 "
    "root=UUID=7c1ea4b0-5fa2-4b13-9b8e-53bbd2ec3e6b ro console=ttyS0,115200n8 no_timer_check",
    "[    0.000000] KERNEL supported cpus:",
    "[    0.398105] x86/mm: Memory block size: 128MB",
    "[    2.014472] XFS (vda4): Mounting V5 Filesystem",
    "[    3.201954] systemd[1]: Detected virtualization kvm.",
    "[    3.203376] systemd[1]: Set hostname to <localhost.localdomain>.",
)


def _boot_lines(row: sqlite3.Row, when: float) -> list[str]:
    """What one boot of the instance ``row`` (at ``when``) prints: kernel, cloud-init, login."""
    rocky = "rocky" in f"{row['os_distro']} {row['image_name']}".lower()
    user = "rocky" if rocky else "ubuntu"
    stamp = datetime.fromtimestamp(when, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    mac_hex = hashlib.sha1(str(row["id"]).encode()).hexdigest()
    mac = "fa:16:3e:" + ":".join(mac_hex[index : index + 2] for index in (0, 2, 4))
    hostname = "".join(ch if ch.isalnum() else "-" for ch in str(row["name"]).lower())[:63]
    scratch = int(row["ephemeral_gb"]) > 0
    lines = list(_ROCKY_BOOT if rocky else _UBUNTU_BOOT)
    if scratch:
        lines.append(
            "[    4.702118] EXT4-fs (vdb): mounted filesystem with ordered data mode. Opts: (null)"
        )
    lines += [
        f"Cloud-init v. 23.1.2 running 'init-local' at {stamp}. Up 5.12 seconds.",
        f"Cloud-init v. 23.1.2 running 'init' at {stamp}. Up 6.48 seconds.",
        "ci-info: ++++++++++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++++",
        "ci-info: | Device |  Up  |    Address     |      Mask     | Scope  |     Hw-Address    |",
        f"ci-info: |  eth0  | True | {row['fixed_address']:<14} | 255.255.255.0 | global | {mac} |",
        "ci-info: |   lo   | True |   127.0.0.1    |   255.0.0.0   |  host  |         .         |",
    ]
    if row["key_name"]:
        lines += [
            f"ci-info: ++++++++Authorized keys from /home/{user}/.ssh/authorized_keys "
            f"for user {user}++++++++",
            "ci-info: | Keytype | Fingerprint (md5) | Options | Comment |",
            f"ci-info: | {row['key_type']} | {row['key_fingerprint']} | - | "
            f"{row['key_comment'] or '-'} |",
        ]
    else:
        lines.append(f"ci-info: no authorized SSH keys fingerprints found for user {user}.")
    lines += [
        "Generating public/private ed25519 key pair.",
        "Your identification has been saved in /etc/ssh/ssh_host_ed25519_key",
        f"Cloud-init v. 23.1.2 running 'modules:config' at {stamp}. Up 12.30 seconds.",
    ]
    if scratch:
        lines.append(
            f"Ephemeral disk ({row['ephemeral_gb']} GB) mounted on /mnt; "
            "run 'sudo canfar_setup_scratch' for /mnt/scratch"
        )
    lines += [
        f"Cloud-init v. 23.1.2 running 'modules:final' at {stamp}. Up 14.87 seconds.",
        f"Cloud-init v. 23.1.2 finished at {stamp}. Datasource DataSourceOpenStackLocal "
        "[net,ver=2].  Up 15.02 seconds",
        "",
        f"{hostname} login: ",
    ]
    return lines


_SHUTDOWN_LINES = (
    "[  OK  ] Stopped target Cloud-init target.",
    "[  OK  ] Stopped Execute cloud user/final scripts.",
    "[  OK  ] Reached target Power-Off.",
    "[ 9021.114702] reboot: Power down",
)
_REBOOT_LINES = (
    "[  OK  ] Stopped target Cloud-init target.",
    "[  OK  ] Reached target Reboot.",
    "[ 9021.104410] reboot: Restarting system",
)


def console_text(row: sqlite3.Row, now: float, lines: int) -> str:
    """The last ``lines`` lines of the console of instance ``row`` at ``now``.

    The row's ``console_events`` is a JSON list of ``[when, kind]`` (``boot``, ``shutdown``,
    ``reboot``); the events up to ``now`` are replayed.
    """
    output: list[str] = []
    for when, kind in json.loads(row["console_events"]):
        if when > now:
            break
        if kind == "boot":
            output += _boot_lines(row, when)
        elif kind == "shutdown":
            output += _SHUTDOWN_LINES
        elif kind == "reboot":
            output += _REBOOT_LINES
    return "\n".join(output[-lines:])
