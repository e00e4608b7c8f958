"""HTCondor user event log ("user log") text, as the sandbox executor writes it.

Each function returns the text of one event in the format the schedd and shadow write to the
file named by a job's ``log =`` command: a header line ``NNN (cluster.proc.subproc) date time
text``, tab-indented detail lines, and a ``...`` separator. ``htcondor2.JobEventLog`` reads these
files (the sandbox tests check that), so ``condor_wait``, ``condor_watch_q`` and the real
htcondor2 backend can follow a sandbox job's log just like a log written by HTCondor.

Dates use HTCondor's default ISO format in local time (``2025-01-02 10:00:00``).

Only the events the executor produces exist here: 000 Submit, 001 Execute, 004 Evicted,
005 Terminated, 009 Aborted, 012 Held and 013 Released.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

__all__ = [
    "EXECUTE_HOST",
    "SUBMIT_HOST",
    "aborted_event",
    "append_event",
    "evicted_event",
    "execute_event",
    "held_event",
    "released_event",
    "submit_event",
    "terminated_event",
]

#: The sinful strings the events name: the local machine, no daemon port.
SUBMIT_HOST: Final = "<127.0.0.1:0?addrs=127.0.0.1-0&alias=sandbox>"
EXECUTE_HOST: Final = "<127.0.0.1:0?addrs=127.0.0.1-0&alias=sandbox>"

_SEPARATOR: Final = "...\n"


def _header(code: int, cluster: int, proc: int, when: float, text: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    return f"{code:03d} ({cluster:03d}.{proc:03d}.000) {stamp} {text}\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage(seconds: float) -> str:
    """``Usr``/``Sys`` times print as ``D HH:MM:SS``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} {hours:02d}:{minutes:02d}:{secs:02d}"


def _usage_line(user: float, system: float, label: str) -> str:
    return f"\t\tUsr {_usage(user)}, Sys {_usage(system)}  -  {label}\n"


def submit_event(cluster: int, proc: int, when: float) -> str:
    """000: the job entered the queue."""
    return _header(0, cluster, proc, when, f"Job submitted from host: {SUBMIT_HOST}") + _SEPARATOR


def execute_event(cluster: int, proc: int, when: float, slot: str) -> str:
    """001: the job started on ``slot`` (``slot1@sandbox``)."""
    return (
        _header(1, cluster, proc, when, f"Job executing on host: {EXECUTE_HOST}")
        + f"\tSlotName: {slot}\n"
        + _SEPARATOR
    )


def evicted_event(cluster: int, proc: int, when: float, user_cpu: float, sys_cpu: float) -> str:
    """004: the job stopped running without finishing and goes back to idle."""
    return (
        _header(4, cluster, proc, when, "Job was evicted.")
        + "\t(0) Job was not checkpointed.\n"
        + _usage_line(user_cpu, sys_cpu, "Run Remote Usage")
        + _usage_line(0, 0, "Run Local Usage")
        + "\t0  -  Run Bytes Sent By Job\n"
        + "\t0  -  Run Bytes Received By Job\n"
        + _SEPARATOR
    )


def terminated_event(
    cluster: int,
    proc: int,
    when: float,
    *,
    exit_code: int | None,
    signal: int | None,
    user_cpu: float,
    sys_cpu: float,
    total_user_cpu: float,
    total_sys_cpu: float,
) -> str:
    """005: the job exited with ``exit_code`` (normal) or was killed by ``signal``."""
    if signal is not None:
        how = f"\t(0) Abnormal termination (signal {signal})\n\t(0) No core file\n"
    else:
        how = f"\t(1) Normal termination (return value {exit_code or 0})\n"
    return (
        _header(5, cluster, proc, when, "Job terminated.")
        + how
        + _usage_line(user_cpu, sys_cpu, "Run Remote Usage")
        + _usage_line(0, 0, "Run Local Usage")
        + _usage_line(total_user_cpu, total_sys_cpu, "Total Remote Usage")
        + _usage_line(0, 0, "Total Local Usage")
        + "\t0  -  Run Bytes Sent By Job\n"
        + "\t0  -  Run Bytes Received By Job\n"
        + "\t0  -  Total Bytes Sent By Job\n"
        + "\t0  -  Total Bytes Received By Job\n"
        + _SEPARATOR
    )


def held_event(cluster: int, proc: int, when: float, reason: str, code: int, subcode: int) -> str:
    """012: the job was put on hold with ``HoldReason``, ``HoldReasonCode`` and subcode."""
    return (
        _header(12, cluster, proc, when, "Job was held.")
        + f"\t{_one_line(reason)}\n"
        + f"\tCode {code} Subcode {subcode}\n"
        + _SEPARATOR
    )


def released_event(cluster: int, proc: int, when: float, reason: str) -> str:
    """013: the job was released from hold."""
    return (
        _header(13, cluster, proc, when, "Job was released.")
        + f"\t{_one_line(reason)}\n"
        + _SEPARATOR
    )


def aborted_event(cluster: int, proc: int, when: float, reason: str) -> str:
    """009: the job was removed from the queue."""
    return (
        _header(9, cluster, proc, when, "Job was aborted.")
        + f"\t{_one_line(reason)}\n"
        + _SEPARATOR
    )


def append_event(path: Path, text: str) -> None:
    """Append one event with a single ``write`` (``O_APPEND``), creating the file ``0644``.

    Several jobs may share one log; each event lands whole because it is one write.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = text.encode()
        while data:
            written = os.write(descriptor, data)
            data = data[written:]
    finally:
        os.close(descriptor)
