"""What the Pipeline form needs without Textual: its texts, the job settings, its checks.

* :func:`format_overrides`, :func:`parse_overrides_text` and :func:`overrides_from_detect` —
  the ``detect --set`` values as the form shows them, and from the Detect tab's form;
  :func:`detect_setup` — the Detect tab's whole setup (its loaded ``.sex``, its columns, its
  format) as a batch job takes it;
* :func:`job_settings` — how the jobs call canfar-tui on the profile's queue (this Python
  with one worker on a :class:`~canfar_tui.clients.base.SupportsLocalJobs` queue);
* :func:`script_choice` — which kind of job script, and why: the seed's own steps unless the
  worker is known to have canfar-tui (the sandbox's jobs, a snapshot the user marked);
* :func:`snapshot_warning` — one line when the chosen snapshot cannot be booted or misses
  what changed on its instance since;
* :func:`script_syntax_problems` — ``bash -n`` on the job script.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    DEFAULT_COMMAND,
    SEED_STEPS,
    PipelineError,
    ScriptKind,
    detect_overrides,
    parse_overrides,
)
from canfar_tui.batch.pipeline_detect import BatchDetect, batch_detect
from canfar_tui.clients.base import QueueClient, SupportsLocalJobs
from canfar_tui.detection.params import DEFAULT_COLUMNS, DetectionParams, ParamError
from canfar_tui.models import Image, Instance

__all__ = [
    "SEED_TOOLS",
    "ScriptChoice",
    "detect_setup",
    "format_overrides",
    "job_settings",
    "overrides_from_detect",
    "parse_overrides_text",
    "script_choice",
    "script_syntax_problems",
    "snapshot_warning",
]


def format_overrides(overrides: Mapping[str, str]) -> str:
    """``{"DETECT_THRESH": "3"}`` as the form shows it: ``DETECT_THRESH=3`` (space-separated)."""
    return " ".join(f"{key}={value}" for key, value in overrides.items())


def parse_overrides_text(text: str, carried: Iterable[str] = ()) -> dict[str, str]:
    """The form's ``KEY=VALUE …`` text as checked ``detect --set`` values (PipelineError);
    ``carried`` names the files the job writes (a filter of the user's own)."""
    return parse_overrides(text.split(), carried)


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


def detect_setup(
    raw: Mapping[str, str],
    base: DetectionParams | None = None,
    columns: tuple[str, ...] | None = None,
    catalogue_format: str | None = None,
) -> tuple[BatchDetect, str | None]:
    """The Detect tab's setup for a batch job, and what stops it (one line, or None).

    ``raw`` are the form's typed values, ``base`` the loaded ``.sex``'s parameters,
    ``columns`` the ``.param`` specs (None: the defaults), ``catalogue_format`` the form's
    format. Typed values that are not valid come back as they are (generating the pipeline
    names the bad one); a setting no batch job can honour (a weight map) is the problem.
    """
    typed = {key.upper(): "".join(value.split()) for key, value in raw.items() if value.strip()}
    try:
        params = (base or DetectionParams()).with_overrides(typed)
        if columns is not None:
            params = params.with_columns(columns)
    except (ParamError, ValueError):
        return BatchDetect(typed, columns or DEFAULT_COLUMNS), None
    try:
        return batch_detect(params, catalogue_format), None
    except PipelineError as error:
        return BatchDetect(typed, columns or DEFAULT_COLUMNS), str(error)


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


#: The seed's own tools, as the Pipeline tab names them.
SEED_TOOLS: Final = "cadcget, funpack, source-extractor, vcp"


@dataclass(frozen=True, slots=True)
class ScriptChoice:
    """The kind of job script for a queue and snapshot, how it runs, and why (one line)."""

    steps: ScriptKind
    command: tuple[str, ...]
    workers: int | None
    install_proxy: bool
    reason: str


def script_choice(
    queue: QueueClient | None, image: Image | None, with_canfar_tui: Collection[str] = ()
) -> ScriptChoice:
    """canfar-tui on the worker only where it is known to be; else the seed's own steps.

    Known: the jobs of a :class:`SupportsLocalJobs` queue run on this machine (its Python,
    no certificate copied over the user's own), or ``image`` is one of ``with_canfar_tui``
    (the IDs of the snapshots the user marked). A real snapshot such as
    ``canfar-ubuntu-20.04`` (Python 3.8) cannot run canfar-tui.
    """
    command, workers = job_settings(queue)
    if isinstance(queue, SupportsLocalJobs):
        reason = "canfar-tui on the worker: the sandbox runs jobs on this machine"
        return ScriptChoice(CANFAR_TUI_STEPS, command, workers, False, reason)
    if image is not None and image.id in with_canfar_tui:
        reason = f"canfar-tui on the worker: you marked {image.name} as having canfar-tui"
        return ScriptChoice(CANFAR_TUI_STEPS, command, workers, True, reason)
    why = f"{image.name} has no canfar-tui" if image is not None else "no snapshot chosen"
    return ScriptChoice(
        SEED_STEPS, DEFAULT_COMMAND, None, True, f"Seed steps ({SEED_TOOLS}): {why}"
    )


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
