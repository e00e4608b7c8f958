"""What the Pipeline form needs without Textual: its texts, the job settings, its checks.

* :func:`format_overrides`, :func:`parse_overrides_text` and :func:`overrides_from_detect` —
  the ``detect --set`` values as the form shows them, and from the Detect tab's form;
* :func:`job_settings` — how the jobs call canfar-tui on the profile's queue (this Python
  with one worker on a :class:`~canfar_tui.clients.base.SupportsLocalJobs` queue);
* :func:`snapshot_warning` — one line when the chosen snapshot cannot be booted or misses
  what changed on its instance since;
* :func:`script_syntax_problems` — ``bash -n`` on the job script.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

from canfar_tui.batch.pipeline import (
    DEFAULT_COMMAND,
    PipelineError,
    detect_overrides,
    parse_overrides,
)
from canfar_tui.clients.base import QueueClient, SupportsLocalJobs
from canfar_tui.detection.params import DetectionParams, ParamError
from canfar_tui.models import Image, Instance

__all__ = [
    "format_overrides",
    "job_settings",
    "overrides_from_detect",
    "parse_overrides_text",
    "script_syntax_problems",
    "snapshot_warning",
]


def format_overrides(overrides: Mapping[str, str]) -> str:
    """``{"DETECT_THRESH": "3"}`` as the form shows it: ``DETECT_THRESH=3`` (space-separated)."""
    return " ".join(f"{key}={value}" for key, value in overrides.items())


def parse_overrides_text(text: str) -> dict[str, str]:
    """The form's ``KEY=VALUE …`` text as checked ``detect --set`` values (PipelineError)."""
    return parse_overrides(text.split())


def overrides_from_detect(raw: Mapping[str, str]) -> dict[str, str]:
    """The ``--set`` values for the Detect form's typed parameters (key → text).

    Valid values are normalised through :class:`DetectionParams` (only the keys that differ
    from the defaults are kept); when a value is not valid, the typed values are returned as
    they are, so that generating the pipeline names the bad one.
    """
    typed = {key.upper(): "".join(value.split()) for key, value in raw.items() if value.strip()}
    try:
        return detect_overrides(DetectionParams().with_overrides(typed))
    except (ParamError, PipelineError, ValueError):
        return typed


def job_settings(queue: QueueClient | None) -> tuple[tuple[str, ...], int | None]:
    """How the jobs call canfar-tui, and with how many detection workers.

    A queue whose jobs run on this machine (:class:`SupportsLocalJobs`, the sandbox executor)
    runs several at once: they call its :meth:`~SupportsLocalJobs.local_job_command` (this
    Python) with one worker each. On CANFAR a job has its VM: the snapshot's ``canfar-tui``,
    all CPUs.
    """
    if isinstance(queue, SupportsLocalJobs):
        return queue.local_job_command(), 1
    return DEFAULT_COMMAND, None


def snapshot_warning(image: Image | None, instances: Mapping[str, Instance]) -> str:
    """One line when ``image`` is not active or its source instance is still running."""
    if image is None:
        return ""
    if image.status.lower() != "active":
        return f"{image.name} is {image.status.lower()}, not active: batch VMs cannot boot it."
    source = instances.get(image.source_instance_id or "")
    if source is not None and source.status.upper() == "ACTIVE":
        return (
            f"{image.name} was taken from {source.name}, which is still running: "
            "changes made there since are not in the snapshot."
        )
    return ""


def script_syntax_problems(script: str) -> list[str]:
    """``bash -n`` on the job script: its complaints (empty when it parses)."""
    bash = shutil.which("bash")
    if bash is None:
        return []
    try:
        result = subprocess.run(
            [bash, "-n"], input=script, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode == 0:
        return []
    return [
        line.removeprefix("bash: ").strip() for line in result.stderr.splitlines() if line.strip()
    ][:4] or ["bash cannot parse the script"]
