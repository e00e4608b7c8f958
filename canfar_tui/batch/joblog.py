"""Reading a job for people: the tail of its files, a summary of its ClassAd, why it waits.

Used by the job detail screen (and usable from a script): :func:`read_tail` reads the end of
an out/err/log file without loading it whole and makes it safe to print;
:func:`job_summary` picks the attributes people look at first out of a full ClassAd
(``condor_q -long``); :func:`idle_explanation` says in words why an idle job has not started
(Requirements the cloud scheduler ignores, its requests against the flavor it waits for, or
against the local executor's slots).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from canfar_tui.batch.resources import flavor_from_name, scratch_gb
from canfar_tui.clients.base import InvalidInput
from canfar_tui.clients.queue.cloudscheduler import requirements_problem
from canfar_tui.models import JobStatus

__all__ = [
    "FileTail",
    "duration_text",
    "idle_explanation",
    "job_summary",
    "read_tail",
    "status_name",
]

#: Bytes read from the end of a file at most.
TAIL_BYTES: Final = 64 * 1024
#: Lines kept at most.
TAIL_LINES: Final = 400

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class FileTail:
    """The end of one file, ready to print."""

    path: Path | None
    text: str
    size: int = 0
    exists: bool = False
    #: The file holds more than :attr:`text` shows.
    truncated: bool = False
    #: Why it could not be read (one line), else None.
    error: str | None = None


def read_tail(
    path: Path | None, *, max_bytes: int = TAIL_BYTES, max_lines: int = TAIL_LINES
) -> FileTail:
    """The last ``max_lines`` lines within the last ``max_bytes`` bytes of ``path``.

    Never raises: a missing file (the job has not started) or an unreadable one comes back
    with ``exists``/``error`` set. Control characters (a progress bar's ``\\r``, escape
    sequences) are replaced so the text cannot drive the terminal.
    """
    if path is None:
        return FileTail(None, "", error="the job has no such file (it is /dev/null)")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            start = max(0, size - max_bytes)
            handle.seek(start)
            data = handle.read(max_bytes)
    except FileNotFoundError:
        return FileTail(path, "", error="not written yet (the job has not started here)")
    except OSError as error:
        return FileTail(path, "", error=f"cannot read it: {error.strerror or error}")
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    if start > 0 and "\n" in text:
        text = text.split("\n", 1)[1]  # drop the partial first line
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    truncated = start > 0 or len(lines) > max_lines
    lines = lines[-max_lines:]
    clean = "\n".join(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", line) for line in lines)
    return FileTail(path, clean, size, True, truncated)


def status_name(value: object) -> str:
    """``"R running"`` for a JobStatus value, the value itself when unknown."""
    try:
        status = JobStatus(int(str(value)))
    except ValueError:
        return str(value)
    return f"{status.letter} {status.name.lower().replace('_', ' ')}"


def duration_text(seconds: float) -> str:
    """condor_q's RUN_TIME format: ``0+01:02:03`` (days+hours:minutes:seconds)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}+{hours:02d}:{minutes:02d}:{secs:02d}"


def _when(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return ""


def job_summary(ad: Mapping[str, object]) -> list[tuple[str, str]]:
    """(label, text) pairs of the attributes people read first, in a fixed order."""
    rows: list[tuple[str, str]] = []

    def add(label: str, *keys: str, render: object = None) -> None:
        for key in keys:
            if key in ad and ad[key] not in (None, ""):
                value = ad[key]
                text = render(value) if callable(render) else str(value)
                if text:
                    rows.append((label, text))
                return

    cluster, proc = ad.get("ClusterId"), ad.get("ProcId")
    if cluster is not None:
        rows.append(("job", f"{cluster}.{proc if proc is not None else 0}"))
    add("status", "JobStatus", render=status_name)
    add("owner", "Owner")
    add("batch", "JobBatchName")
    add("command", "Cmd")
    add("arguments", "Arguments", "Args")
    add("directory", "Iwd")
    add("submitted", "QDate", render=_when)
    add("started", "JobCurrentStartDate", "JobStartDate", render=_when)
    add("completed", "CompletionDate", render=_when)
    add("exit code", "ExitCode")
    add("exit signal", "ExitSignal")
    add("running on", "RemoteHost")
    add("hold reason", "HoldReason")
    add("hold code", "HoldReasonCode")
    add("last hold reason", "LastHoldReason")
    add("remove reason", "RemoveReason")
    add("requests", "RequestCpus", render=lambda _: _requests_text(ad))
    add("VM image", "VMImage")
    add("VM flavor", "VMInstanceType")
    add("starts", "NumJobStarts")
    add("wall clock", "RemoteWallClockTime", render=lambda value: duration_text(float(value)))
    add("output", "Out")
    add("error", "Err")
    add("log", "UserLog")
    add("proxy", "x509userproxy")
    return rows


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    with contextlib.suppress(ValueError):
        return float(str(value))
    return None


def _requests_text(ad: Mapping[str, object]) -> str:
    cpus = _number(ad.get("RequestCpus"))
    memory = _number(ad.get("RequestMemory"))
    disk = _number(ad.get("RequestDisk"))
    parts = []
    if cpus is not None:
        parts.append(f"{int(cpus)} CPU{'s' if cpus != 1 else ''}")
    if memory:
        parts.append(f"{int(memory)} MB of memory")
    if disk:
        parts.append(f"{disk / 1024 / 1024:.1f} GB of disk")
    return ", ".join(parts)


def idle_explanation(
    ad: Mapping[str, object],
    *,
    now: datetime | None = None,
    executor_slots: int | None = None,
    running_elsewhere: int | None = None,
    vm_types: Collection[str] | None = None,
) -> str | None:
    """Why an idle job waits, in a few sentences; None when the job is not idle.

    ``executor_slots`` is how many jobs a local executor runs at once (the sandbox) and
    ``running_elsewhere`` how many of them run now; without them the text explains the
    CANFAR cloud scheduler's part, first of all a ``Requirements`` it ignores
    (:func:`~canfar_tui.clients.queue.cloudscheduler.requirements_problem`; ``vm_types``
    are the pool's machines' ``VMType``, when known).
    """
    if _number(ad.get("JobStatus")) != float(JobStatus.IDLE):
        return None
    current = now or datetime.now(UTC)
    parts: list[str] = []
    since = _number(ad.get("EnteredCurrentStatus")) or _number(ad.get("QDate"))
    if since:
        waited = current.timestamp() - since
        parts.append(f"Idle for {duration_text(waited)}.")
    problem = None
    if executor_slots is None and "Requirements" in ad:
        problem = requirements_problem(ad.get("Requirements"), vm_types=vm_types)
        if problem:
            parts.append(problem)
    requests = _requests_text(ad)
    if requests:
        parts.append(f"It asks for {requests}.")
    flavor_name = ad.get("VMInstanceType")
    image = ad.get("VMImage")
    if isinstance(flavor_name, str) and flavor_name and problem:
        parts.append(_flavor_fit(ad, flavor_name))
    elif isinstance(flavor_name, str) and flavor_name:
        parts.append(_flavor_fit(ad, flavor_name))
        where = f" from snapshot {image}" if isinstance(image, str) and image else ""
        parts.append(
            f"It starts once the cloud scheduler has booted a {flavor_name} VM{where} "
            "(usually a few minutes) and HTCondor has matched the job to it. If it stays "
            "idle, check that the snapshot is active and shared with the batch project."
        )
    if executor_slots is not None:
        busy = running_elsewhere or 0
        parts.append(
            f"The local executor runs {executor_slots} job{'s' if executor_slots != 1 else ''} "
            f"at a time; {busy} {'is' if busy == 1 else 'are'} running now."
        )
    if _number(ad.get("NumJobStarts")):
        parts.append(
            f"It has started {int(_number(ad.get('NumJobStarts')) or 0)} time(s) before "
            "(evicted or released)."
        )
    return " ".join(parts) if parts else "Idle: waiting for a slot."


def _flavor_fit(ad: Mapping[str, object], flavor_name: str) -> str:
    try:
        flavor = flavor_from_name(flavor_name)
    except InvalidInput:
        return f"It waits for a VM of flavor {flavor_name}."
    too_big = []
    cpus = _number(ad.get("RequestCpus"))
    memory = _number(ad.get("RequestMemory"))
    disk = _number(ad.get("RequestDisk"))
    if cpus is not None and cpus > flavor.vcpus:
        too_big.append(f"{int(cpus)} CPUs > {flavor.vcpus}")
    if memory is not None and memory > flavor.ram_mb:
        too_big.append(f"{int(memory)} MB > {flavor.ram_mb} MB")
    if disk is not None and disk > scratch_gb(flavor) * 1024 * 1024:
        too_big.append(f"{disk / 1024 / 1024:.0f} GB > {scratch_gb(flavor)} GB")
    if too_big:
        return (
            f"It can never start on {flavor_name}: {', '.join(too_big)}. Remove it and "
            "submit with a larger flavor."
        )
    return f"Its requests fit a {flavor_name} VM."
