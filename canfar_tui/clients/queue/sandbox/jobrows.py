"""A job row of the sandbox queue state as what the client hands out.

:func:`job_from_row` is the :class:`~canfar_tui.models.Job` of ``condor_q``/``condor_history``,
:func:`job_ad` the ClassAd-like dict of ``condor_q -l`` (HTCondor's attribute names) and
:func:`classad_text` its ``$_CONDOR_JOB_AD`` text. The job description a row stores (its
``spec`` column, JSON) is written by :func:`spec_json` and read by :func:`spec_of`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from canfar_tui.clients.queue.edit_language import join_v2_environment
from canfar_tui.clients.queue.submit_language import JobSpec
from canfar_tui.models import Job, JobId, JobStatus

__all__ = [
    "classad_text",
    "job_ad",
    "job_from_row",
    "spec_json",
    "spec_of",
    "text_or_none",
    "utc_datetime",
]


def utc_datetime(timestamp: float | None) -> datetime | None:
    """A stored Unix time as an aware datetime (None stays None)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def text_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def spec_json(spec: JobSpec) -> str:
    return json.dumps(
        {
            "executable": spec.executable,
            "arguments": spec.arguments,
            "argv": list(spec.argv),
            "iwd": spec.iwd,
            "input": spec.input,
            "transfer_executable": spec.transfer_executable,
            "should_transfer_files": spec.should_transfer_files,
            "transfer_input": list(spec.transfer_input),
            "transfer_output": None if spec.transfer_output is None else list(spec.transfer_output),
            "environment": [list(pair) for pair in spec.environment],
            "getenv": spec.getenv,
            "x509_proxy": spec.x509_proxy,
            "request_disk_kb": spec.request_disk_kb,
            "universe": spec.universe,
            "requirements": spec.requirements,
            "custom": dict(spec.custom),
            "item": dict(spec.item),
        }
    )


def spec_of(row: sqlite3.Row) -> dict[str, Any]:
    """The stored job description of a row (see :func:`spec_json`)."""
    value: dict[str, Any] = json.loads(row["spec"])
    return value


def job_from_row(row: sqlite3.Row) -> Job:
    status = JobStatus(row["status"])
    started = row["current_start"] if row["current_start"] is not None else row["first_start"]
    return Job(
        id=JobId(int(row["cluster"]), int(row["proc"])),
        owner=str(row["owner"]),
        status=status,
        command=str(row["cmd"]),
        arguments=str(row["args"]),
        batch_name=str(row["batch_name"]) or f"ID: {row['cluster']}",
        submitted=utc_datetime(row["qdate"]),
        started=utc_datetime(started),
        finished=utc_datetime(row["completion"]),
        exit_code=row["exit_code"] if status == JobStatus.COMPLETED else None,
        hold_reason=row["hold_reason"] if status == JobStatus.HELD else None,
        request_cpus=int(row["request_cpus"]),
        request_memory_mb=int(row["request_memory"]),
        vm_image=row["vm_image"],
        vm_flavor=row["vm_flavor"],
    )


def job_ad(row: sqlite3.Row, now: float) -> dict[str, object]:
    """A ClassAd-like dict with HTCondor's attribute names for one job row."""
    spec = spec_of(row)
    status = int(row["status"])
    cluster, proc = int(row["cluster"]), int(row["proc"])
    qdate = float(row["qdate"])
    wall = float(row["wall_clock"])
    if status == JobStatus.RUNNING and row["current_start"] is not None:
        wall += max(0.0, now - float(row["current_start"]))
    ad: dict[str, object] = {
        "ClusterId": cluster,
        "ProcId": proc,
        "GlobalJobId": f"sandbox#{cluster}.{proc}#{int(qdate)}",
        "Owner": str(row["owner"]),
        "User": f"{row['owner']}@sandbox",
        "JobStatus": status,
        "LastJobStatus": int(row["last_status"]),
        "EnteredCurrentStatus": int(row["entered_status"]),
        "JobUniverse": 12 if spec.get("universe") == "local" else 5,
        "Cmd": str(row["cmd"]),
        "Iwd": str(row["iwd"]),
        "In": spec.get("input") or "/dev/null",
        "Out": str(row["output"]) or "/dev/null",
        "Err": str(row["error"]) or "/dev/null",
        "QDate": int(qdate),
        "JobStartDate": int(row["first_start"]) if row["first_start"] is not None else None,
        "JobCurrentStartDate": (
            int(row["current_start"]) if row["current_start"] is not None else None
        ),
        "CompletionDate": int(row["completion"]) if row["completion"] is not None else 0,
        "NumJobStarts": int(row["num_starts"]),
        "JobRunCount": int(row["num_starts"]),
        "RemoteWallClockTime": round(wall, 3),
        "RemoteUserCpu": round(float(row["user_cpu"]), 3),
        "RemoteSysCpu": round(float(row["sys_cpu"]), 3),
        "RequestCpus": int(row["request_cpus"]),
        "RequestMemory": int(row["request_memory"]),
        "RequestDisk": int(spec.get("request_disk_kb") or 0),
        "ShouldTransferFiles": "YES" if spec.get("should_transfer_files", True) else "NO",
        "TransferExecutable": bool(spec.get("transfer_executable", True)),
    }
    written = str(spec.get("arguments", row["args"]))
    if len(written) >= 2 and written.startswith('"') and written.endswith('"'):
        # New syntax: HTCondor stores it as Arguments, without the quotes ("" is a quote).
        ad["Arguments"] = written[1:-1].replace('""', '"')
    else:
        ad["Args"] = str(row["args"])
    if row["log"]:
        ad["UserLog"] = str(row["log"])
    if row["batch_name"]:
        ad["JobBatchName"] = str(row["batch_name"])
    if spec.get("transfer_input"):
        ad["TransferInput"] = ",".join(spec["transfer_input"])
    if spec.get("transfer_output") is not None:
        ad["TransferOutput"] = ",".join(spec["transfer_output"])
    if spec.get("environment"):
        ad["Environment"] = join_v2_environment(spec["environment"])
    if spec.get("requirements"):
        ad["Requirements"] = spec["requirements"]
    if spec.get("x509_proxy"):
        ad["x509userproxy"] = spec["x509_proxy"]
    if status == JobStatus.RUNNING and row["slot"]:
        ad["RemoteHost"] = str(row["slot"])
    if status == JobStatus.HELD:
        ad["HoldReason"] = row["hold_reason"]
        ad["HoldReasonCode"] = row["hold_code"]
        ad["HoldReasonSubCode"] = row["hold_subcode"]
    if row["last_hold_reason"]:
        ad["LastHoldReason"] = row["last_hold_reason"]
    if row["remove_reason"]:
        ad["RemoveReason"] = row["remove_reason"]
    if status == JobStatus.COMPLETED:
        by_signal = row["exit_signal"] is not None
        ad["ExitBySignal"] = by_signal
        if by_signal:
            ad["ExitSignal"] = int(row["exit_signal"])
        else:
            ad["ExitCode"] = int(row["exit_code"] or 0)
            ad["ExitStatus"] = int(row["exit_code"] or 0)
    for name, value in (spec.get("custom") or {}).items():
        ad[str(name)] = value
    return {key: value for key, value in ad.items() if value is not None}


def classad_text(ad: Mapping[str, object]) -> str:
    """``Attr = value`` lines, the format of ``$_CONDOR_JOB_AD``."""
    lines = []
    for name, value in ad.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int | float):
            text = repr(value)
        else:
            text = json.dumps(str(value))
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"
