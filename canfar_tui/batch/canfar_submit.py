"""Find an installed ``canfar_submit`` and tell which of its two forms it accepts.

``canfar_submit`` exists in two incompatible versions:

* **0.3.x** (and the 0.2 series before it): ``canfar_submit JOB_FILE VM_IMAGE VM_FLAVOR`` —
  the form the Batch Quick Start documents; ``-v`` is ``--version``;
* **0.4.x**: ``canfar_submit JOB_FILE [VM_IMAGE]`` — the flavor comes from the file's
  ``request_cpus``/``request_memory``/``request_disk``, and its argument check sends the
  three-argument form to the usage text; ``-V`` is ``--version``.

:func:`detect_canfar_submit` finds the command on ``PATH`` and runs it with ``--help`` (both
versions print their usage and exit; neither submits anything without a job file) and with
``--version`` (a long option both accept), each in its own session with a timeout, stdin
closed. The usage line decides the form; the version decides when the usage is unclear.
Results are cached per executable (path, size and modification time).

:func:`run_canfar_submit` runs the command on a job file in its detected form, with the
``OS_*`` variables (password included) in its *environment* — never in argv — and reads the
cluster from condor_submit's "N job(s) submitted to cluster C." line.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from canfar_tui.clients.base import ClientError

# Re-exported: the cloud scheduler's group and the Requirements the current form writes.
from canfar_tui.clients.queue.cloudscheduler import CANFAR_GROUP, CANFAR_REQUIREMENTS

__all__ = [
    "CANFAR_GROUP",
    "CANFAR_REQUIREMENTS",
    "PROBE_TIMEOUT",
    "SUBMIT_TIMEOUT",
    "CanfarSubmit",
    "CanfarSubmitFailed",
    "SubmitForm",
    "Submitted",
    "detect_canfar_submit",
    "equivalent_command",
    "probe_canfar_submit",
    "run_canfar_submit",
]

#: Seconds each probe (``--help``, ``--version``) may take.
PROBE_TIMEOUT: Final = 5.0

#: Seconds ``canfar_submit`` may take to submit (it talks to the cloud and the schedd).
SUBMIT_TIMEOUT: Final = 300.0

_SUBMITTED: Final = re.compile(r"(\d+) job\(s\) submitted to cluster (\d+)")
_USAGE: Final = re.compile(r"usage:\s*\S*canfar_submit\S*\s+(.*)", re.IGNORECASE)
_VERSION: Final = re.compile(r"\b(\d+)\.(\d+)(?:\.(\d+))?\b")


class SubmitForm(enum.StrEnum):
    """The command line a ``canfar_submit`` accepts."""

    #: 0.3.x: ``canfar_submit JOB_FILE VM_IMAGE VM_FLAVOR``.
    IMAGE_AND_FLAVOR = "JOB_FILE VM_IMAGE VM_FLAVOR"
    #: 0.4.x: ``canfar_submit JOB_FILE [VM_IMAGE]``; the flavor from ``request_*``.
    IMAGE_ONLY = "JOB_FILE [VM_IMAGE]"

    @property
    def series(self) -> str:
        return "0.3.x" if self is SubmitForm.IMAGE_AND_FLAVOR else "0.4.x"


@dataclass(frozen=True, slots=True)
class CanfarSubmit:
    """An installed ``canfar_submit`` and what the probes found."""

    path: Path
    version: str | None
    #: None when neither the usage nor the version told.
    form: SubmitForm | None
    #: The usage line it printed ("" when none).
    usage: str = ""
    #: Why the probe could not tell (timeout, not executable…), else None.
    problem: str | None = None

    def describe(self) -> str:
        """One line for the preview: which form applies and what it means."""
        name = f"canfar_submit {self.version}" if self.version else "canfar_submit"
        where = f"{name} ({self.path})"
        if self.form is SubmitForm.IMAGE_AND_FLAVOR:
            return f"{where} takes the 0.3.x form: canfar_submit JOB_FILE VM_IMAGE VM_FLAVOR."
        if self.form is SubmitForm.IMAGE_ONLY:
            return (
                f"{where} takes the 0.4.x form: canfar_submit JOB_FILE [VM_IMAGE]; the flavor "
                "comes from request_cpus/memory/disk (the 3-argument form only prints usage)."
            )
        reason = f": {self.problem}" if self.problem else ""
        return f"{where}: could not tell which form it accepts{reason}."


def equivalent_command(
    found: CanfarSubmit | None, job_file: str, image: str, flavor: str
) -> list[str]:
    """The ``canfar_submit`` command line that submits the same batch on the batch host."""
    if found is not None and found.form is SubmitForm.IMAGE_ONLY:
        return ["canfar_submit", job_file, image]
    return ["canfar_submit", job_file, image, flavor]


def _run(
    argv: Sequence[str], timeout: float, env: Mapping[str, str] | None
) -> tuple[int | None, str]:
    """Run ``argv`` in its own session; (exit status or None on timeout, stdout+stderr)."""
    environment = dict(os.environ if env is None else env)
    environment["LC_ALL"] = "C"
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The probe's own session: whatever it started goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, ""
    return process.returncode, output.decode("utf-8", "replace")


def _form_from_usage(text: str) -> tuple[str, SubmitForm | None]:
    for line in text.splitlines():
        match = _USAGE.search(line)
        if match is None:
            continue
        arguments = match.group(1).upper()
        if "VM_FLAVOR" in arguments or "FLAVOR" in arguments:
            return line.strip(), SubmitForm.IMAGE_AND_FLAVOR
        if "JOB_FILE" in arguments:
            return line.strip(), SubmitForm.IMAGE_ONLY
        return line.strip(), None
    return "", None


def _form_from_version(version: str | None) -> SubmitForm | None:
    if version is None:
        return None
    match = _VERSION.search(version)
    if match is None:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return SubmitForm.IMAGE_ONLY if (major, minor) >= (0, 4) else SubmitForm.IMAGE_AND_FLAVOR


def probe_canfar_submit(
    executable: Path,
    *,
    timeout: float = PROBE_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> CanfarSubmit:
    """Run ``executable --help`` and ``--version`` and tell its form (never raises)."""
    try:
        status, help_text = _run([str(executable), "--help"], timeout, env)
        if status is None:
            return CanfarSubmit(
                executable, None, None, problem=f"'--help' did not finish in {timeout:g} s"
            )
        usage, form = _form_from_usage(help_text)
        status, version_text = _run([str(executable), "--version"], timeout, env)
    except OSError as error:
        return CanfarSubmit(
            executable, None, None, problem=f"cannot run it: {error.strerror or error}"
        )
    version = None
    if status is not None:
        for line in version_text.splitlines():
            match = _VERSION.search(line)
            if match is not None and not _USAGE.search(line):
                version = match.group(0)
                break
    if form is None:
        form = _form_from_version(version)
    problem = None if form is not None else "neither --help nor --version said"
    return CanfarSubmit(executable, version, form, usage, problem)


@functools.lru_cache(maxsize=8)
def _cached_probe(path: str, mtime_ns: int, size: int, timeout: float) -> CanfarSubmit:
    return probe_canfar_submit(Path(path), timeout=timeout)


def detect_canfar_submit(
    *, search_path: str | None = None, timeout: float = PROBE_TIMEOUT
) -> CanfarSubmit | None:
    """The ``canfar_submit`` on ``search_path`` (default ``$PATH``), probed; None if absent.

    Blocking (it runs the command): call it from a worker thread.
    """
    found = shutil.which("canfar_submit", path=search_path)
    if found is None:
        return None
    path = Path(found).absolute()
    try:
        info = path.stat()
    except OSError:
        return None
    return _cached_probe(str(path), info.st_mtime_ns, info.st_size, timeout)


class CanfarSubmitFailed(ClientError):
    """``canfar_submit`` refused or failed; the message is one line, with no secret in it."""

    title = "canfar_submit"


@dataclass(frozen=True, slots=True)
class Submitted:
    """What ``canfar_submit`` reported."""

    cluster: int
    num_jobs: int
    #: Its whole output (stdout and stderr), secrets removed, for the details view.
    output: str


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def _failure_line(output: str) -> str:
    """The line that says why: the last ``ERROR`` line, else the last non-empty one."""
    lines = [line.strip(" !>#\t") for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line.upper() or "usage" in line.lower()]
    chosen = errors[-1] if errors else (lines[-1] if lines else "")
    return chosen[:300]


def run_canfar_submit(
    found: CanfarSubmit,
    job_file: Path,
    image: str,
    flavor: str,
    *,
    environment: Mapping[str, str],
    timeout: float = SUBMIT_TIMEOUT,
) -> Submitted:
    """Run ``found`` on ``job_file`` in its form, in the file's folder; blocking.

    ``environment`` is the whole environment of the command (``OS_*`` and the password
    included: they never go in argv). Raises :class:`CanfarSubmitFailed` with one line
    (the command's own error, or a timeout) when it did not submit.
    """
    if found.form is None:
        raise CanfarSubmitFailed(found.describe())
    argv = [str(found.path), job_file.name, image]
    if found.form is SubmitForm.IMAGE_AND_FLAVOR:
        argv.append(flavor)
    secrets = [value for key, value in environment.items() if "PASSWORD" in key or "SECRET" in key]
    try:
        process = subprocess.Popen(
            argv,
            cwd=job_file.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(environment),
            start_new_session=True,
        )
    except OSError as error:
        raise CanfarSubmitFailed(f"cannot run {found.path}: {error.strerror or error}") from None
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise CanfarSubmitFailed(f"canfar_submit did not finish in {timeout:g} s") from None
    output = _redact(raw.decode("utf-8", "replace"), secrets)
    matches = list(_SUBMITTED.finditer(output))
    match = matches[-1] if matches else None
    if process.returncode != 0 or match is None:
        why = _failure_line(output) or f"exit status {process.returncode}"
        raise CanfarSubmitFailed(f"canfar_submit failed: {why}")
    return Submitted(cluster=int(match.group(2)), num_jobs=int(match.group(1)), output=output)
