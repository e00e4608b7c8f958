"""The Pipeline tab: from the Detect tab's parameters to a batch of exposures on HTCondor.

The Batch Quick Start in one form (issue 7): type or paste observation IDs (``ctrl+o`` reads
them from a file), name the VOSpace folder for the catalogues and the detection parameters
(``detect --set`` values; by default those of the Detect tab's form, and ``p`` on the Detect
tab brings them here), then ``ctrl+g`` generates the job script (the seed's
``do_catalogue.bash`` running ``canfar-tui get``/``detect``/``put``) and the submit file (the
seed's ``do_catalogue.sub``). Both can be edited; what is in the editors is what gets
submitted. Every change is linted (:func:`~canfar_tui.batch.lint.lint_submit`, problems with
their line numbers; the script is checked with ``bash -n``).

Choose the snapshot (only active images are offered; a warning when the snapshot is not
active or the instance it was taken from is still running) and the flavor, then ``ctrl+s``
writes both files into a new submit directory (``$XDG_DATA_HOME/canfar-tui/pipeline/runs/``,
one folder per run) and submits them through the profile's QueueClient with
``canfar_submit``'s rewrite (:func:`~canfar_tui.batch.rewrite.canfar_description`), exactly
as the Submit screen of the Queue tab does, and shows the new batch on the Queue tab.

The view keeps watching the batch (also while another tab is shown). When no job of it is
left in the queue, :func:`~canfar_tui.batch.pipeline_run.collect_outcome` checks each ID: a
table lists ``✓`` the catalogues that arrived in VOSpace (URI, size, MD5) and ``✗`` the IDs
whose job failed with the reason from the job's error file; ``r`` submits the failed IDs
again, alone. The last run is kept in ``pipeline/last-run.json`` and shown again after a
restart (an unfinished batch is watched again).

In the sandbox the jobs run on this machine: they call this Python (``python -m canfar_tui``)
with one detection worker each (the executor already runs several jobs at once). On CANFAR
they call the ``canfar-tui`` installed on the snapshot, with all the VM's CPUs.

Read-only mode hides submit and resubmit. A profile without a queue says so in the status
line; without a VOSpace service the batch can still be submitted, but its catalogues cannot be
checked from here.

| key      | action                                                         |
|----------|----------------------------------------------------------------|
| `ctrl+o` | read the observation IDs from a file                           |
| `ctrl+g` | generate the job script and the submit file from the form      |
| `ctrl+s` | submit (when the lint has no error)                            |
| `ctrl+l` | show the last run's outcome / the files again                  |
| `escape` | leave the text field (then `1`…`8` switch tabs)                |
| `r`      | resubmit the failed IDs alone (on the outcome table)           |
| `enter`  | on the outcome table: the whole line (URI, MD5, reason)        |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Input, Label, Select, Static, TextArea

from canfar_tui.batch.choices import (
    batch_proxy,
    find_flavor,
    find_image,
)
from canfar_tui.batch.lint import LintReport, lint_submit
from canfar_tui.batch.pipeline import (
    PipelineError,
    PipelineSpec,
    detect_overrides,
    job_script,
    parse_ids,
    parse_overrides,
    submit_file,
    validate_ids,
    validate_vospace_folder,
)
from canfar_tui.batch.pipeline_run import Arrived, Failed, PipelineOutcome, collect_outcome
from canfar_tui.batch.rewrite import canfar_description
from canfar_tui.clients.base import ClientError, QueueClient, SupportsHistory
from canfar_tui.detection.params import DetectionParams, ParamError
from canfar_tui.logs import get_logger
from canfar_tui.models import Flavor, Image, Instance, SubmitResult
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import Column, ResourceTable

__all__ = [
    "OUTCOME_COLUMNS",
    "PipelineRun",
    "PipelineView",
    "format_overrides",
    "job_settings",
    "outcome_rows",
    "overrides_from_detect",
    "parse_overrides_text",
    "run_from_json",
    "run_to_json",
    "snapshot_warning",
]

log = get_logger("pipeline")

#: Seconds of quiet typing before the files are linted again.
PREVIEW_DELAY: Final = 0.25
#: Jobs whose arguments the dry-run line lists.
DRY_RUN_SHOWN: Final = 6
#: Largest ID list read with ctrl+o.
MAX_ID_FILE_BYTES: Final = 1 << 20
#: Suffixes the ID file picker shows.
ID_FILE_SUFFIXES: Final = (".txt", ".lst", ".list", ".ids", ".csv", ".dat")
#: Version of the last-run file.
RUN_FILE_VERSION: Final = 1

OUTCOME_COLUMNS: Final = (
    Column("mark", " ", width=1),
    Column("id", "ID"),
    Column("detail", "CATALOGUE / REASON"),
    Column("size", "SIZE", justify="right"),
    Column("md5", "MD5", width=32),
)


# --------------------------------------------------------------------------- pure helpers


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

    The sandbox executor runs the jobs on this machine, several at once: they use this
    Python and one worker each. On CANFAR a job has its VM: the snapshot's ``canfar-tui``,
    all CPUs.
    """
    from canfar_tui.batch.pipeline import DEFAULT_COMMAND

    if queue is not None:
        from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

        if isinstance(queue, SandboxQueue):
            return (sys.executable, "-m", "canfar_tui"), 1
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


@dataclass(slots=True)
class PipelineRun:
    """One submitted pipeline batch and, once it finished, its outcome.

    ``ids`` are the IDs this batch runs; ``order`` the pipeline's IDs in the order typed (a
    resubmission keeps the first run's order); ``kept`` the catalogues that arrived in the
    runs before a resubmission.
    """

    spec: PipelineSpec
    submit_dir: Path
    cluster: int
    num_jobs: int
    batch_name: str
    image: str
    flavor: str
    ids: tuple[str, ...]
    order: tuple[str, ...]
    kept: tuple[Arrived, ...] = ()
    outcome: PipelineOutcome | None = None
    progress: str = field(default="", compare=False)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def combined(self) -> PipelineOutcome | None:
        """This batch's outcome with the catalogues of the earlier runs, in ``order``."""
        if self.outcome is None:
            return None
        fresh = {item.obs_id for item in self.outcome.arrived} | set(self.outcome.to_resubmit())
        arrived = [item for item in self.kept if item.obs_id not in fresh]
        arrived += self.outcome.arrived
        rank = {obs_id: index for index, obs_id in enumerate(self.order)}

        def position(obs_id: str) -> int:
            return rank.get(obs_id, len(rank))

        return PipelineOutcome(
            tuple(sorted(arrived, key=lambda item: position(item.obs_id))),
            tuple(sorted(self.outcome.failed, key=lambda item: position(item.obs_id))),
        )


def outcome_rows(outcome: PipelineOutcome) -> dict[str, tuple[object, ...]]:
    """The outcome table's rows by ID: ``✓`` with URI, size, MD5; ``✗`` with the reason."""
    rows: dict[str, tuple[object, ...]] = {}
    for arrived in outcome.arrived:
        mark = Text("✓", style="bold green")
        rows[arrived.obs_id] = (mark, arrived.obs_id, arrived.uri, arrived.size, arrived.md5)
    for failed in outcome.failed:
        mark = Text("✗", style="bold red")
        rows[failed.obs_id] = (mark, failed.obs_id, failed.reason, None, None)
    return rows


def _arrived_json(item: Arrived) -> dict[str, object]:
    return {"obs_id": item.obs_id, "uri": item.uri, "md5": item.md5, "size": item.size}


def _arrived_from(data: Mapping[str, Any]) -> Arrived:
    size = data.get("size")
    md5 = data.get("md5")
    return Arrived(
        str(data["obs_id"]),
        str(data["uri"]),
        str(md5) if md5 is not None else None,
        int(size) if size is not None else None,
    )


def run_to_json(run: PipelineRun) -> dict[str, object]:
    """``run`` as JSON-ready data (see :func:`run_from_json`)."""
    spec = run.spec
    outcome = None
    if run.outcome is not None:
        outcome = {
            "arrived": [_arrived_json(item) for item in run.outcome.arrived],
            "failed": [{"obs_id": f.obs_id, "reason": f.reason} for f in run.outcome.failed],
        }
    return {
        "version": RUN_FILE_VERSION,
        "spec": {
            "ids": list(spec.ids),
            "vospace_folder": spec.vospace_folder,
            "overrides": dict(spec.overrides),
            "command": list(spec.command),
            "workers": spec.workers,
            "name": spec.name,
            "batch_name": spec.batch_name,
        },
        "submit_dir": str(run.submit_dir),
        "cluster": run.cluster,
        "num_jobs": run.num_jobs,
        "batch_name": run.batch_name,
        "image": run.image,
        "flavor": run.flavor,
        "ids": list(run.ids),
        "order": list(run.order),
        "kept": [_arrived_json(item) for item in run.kept],
        "outcome": outcome,
    }


def run_from_json(data: Mapping[str, Any]) -> PipelineRun:
    """The run saved by :func:`run_to_json`; ValueError (one line) for anything else."""
    try:
        if data.get("version") != RUN_FILE_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        raw = data["spec"]
        workers = raw.get("workers")
        spec = PipelineSpec(
            tuple(str(item) for item in raw["ids"]),
            str(raw["vospace_folder"]),
            {str(key): str(value) for key, value in dict(raw["overrides"]).items()},
            tuple(str(item) for item in raw["command"]),
            int(workers) if workers is not None else None,
            str(raw["name"]),
            str(raw["batch_name"]) if raw.get("batch_name") is not None else None,
        )
        outcome = None
        if data.get("outcome") is not None:
            outcome = PipelineOutcome(
                tuple(_arrived_from(item) for item in data["outcome"]["arrived"]),
                tuple(
                    Failed(str(item["obs_id"]), str(item["reason"]))
                    for item in data["outcome"]["failed"]
                ),
            )
        return PipelineRun(
            spec=spec,
            submit_dir=Path(str(data["submit_dir"])),
            cluster=int(data["cluster"]),
            num_jobs=int(data["num_jobs"]),
            batch_name=str(data["batch_name"]),
            image=str(data["image"]),
            flavor=str(data["flavor"]),
            ids=validate_ids(str(item) for item in data["ids"]),
            order=tuple(str(item) for item in data["order"]),
            kept=tuple(_arrived_from(item) for item in data["kept"]),
            outcome=outcome,
        )
    except (KeyError, TypeError, AttributeError, PipelineError) as error:
        raise ValueError(f"not a pipeline run: {error}") from None


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _script_check(script: str) -> list[str]:
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


# --------------------------------------------------------------------------- the view


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What the lint depends on (compared to know whether a preview is current)."""

    script: str
    submit: str
    script_name: str
    image: str | None
    flavor: Flavor | None
    proxy_problem: str | None


@dataclass(frozen=True, slots=True)
class _Preview:
    inputs: _Inputs
    report: LintReport
    script_problems: tuple[str, ...]


class PipelineView(Vertical, can_focus=True):
    """IDs, folder and parameters → job script and submit file → batch → outcome."""

    AREA: ClassVar[str] = "pipeline"
    TITLE: ClassVar[str] = "Pipeline"
    #: State-changing actions: hidden in read-only mode.
    DESTRUCTIVE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"submit", "resubmit"})
    #: Seconds between two looks at the queue while a batch runs.
    WATCH_INTERVAL: ClassVar[float] = 1.0

    DEFAULT_CSS = """
    PipelineView {
        height: 1fr;
    }
    #pipeline-top {
        height: 6;
        padding: 0 1;
    }
    #pipeline-ids {
        width: 1fr;
        min-width: 20;
        height: 6;
        border: round $primary;
    }
    #pipeline-fields {
        width: 2fr;
        height: 6;
        padding: 1 0 0 1;
    }
    .pipeline-row {
        height: 1;
    }
    .pipeline-label {
        width: 9;
        color: $text-muted;
    }
    #pipeline-folder, #pipeline-overrides {
        width: 1fr;
    }
    #pipeline-image {
        width: 1fr;
    }
    #pipeline-flavor {
        width: 1fr;
    }
    #pipeline-warning {
        height: auto;
        padding: 0 1;
        color: $warning;
    }
    #pipeline-switcher {
        height: 1fr;
    }
    #pipeline-review {
        height: 1fr;
    }
    #pipeline-files {
        height: 1fr;
        min-height: 4;
    }
    #pipeline-script, #pipeline-submit {
        width: 1fr;
        border: round $secondary;
    }
    #pipeline-lint {
        height: auto;
        max-height: 5;
        padding: 0 1;
        overflow-y: auto;
    }
    #pipeline-run {
        height: 1fr;
    }
    #pipeline-run-status {
        height: auto;
        padding: 0 1;
    }
    #pipeline-outcome {
        height: 1fr;
    }
    #pipeline-row-detail {
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $panel;
    }
    """

    BINDINGS = [
        Binding(
            "ctrl+o",
            "read_ids",
            "IDs from file",
            id="pipeline.read_ids",
            tooltip="Read the observation IDs from a local file",
        ),
        Binding(
            "ctrl+g",
            "generate",
            "Generate",
            id="pipeline.generate",
            tooltip="Generate the job script and the submit file from the form",
        ),
        Binding(
            "ctrl+s",
            "submit",
            "Submit",
            id="pipeline.submit",
            tooltip="Submit the job script and submit file (when the lint has no error)",
        ),
        Binding(
            "ctrl+l",
            "toggle_run",
            "Last run",
            id="pipeline.last_run",
            tooltip="Show the last run's outcome, or the files again",
        ),
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            id="pipeline.leave_field",
            tooltip="Leave the text field, so that 1…8 switch tabs and r resubmits",
        ),
        Binding(
            "r",
            "resubmit",
            "Resubmit failed",
            id="pipeline.resubmit",
            tooltip="Submit the IDs that failed in the last run again, alone",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.active = False
        self.spec: PipelineSpec | None = None
        self.generated: tuple[str, str] | None = None
        self.preview: _Preview | None = None
        self.run: PipelineRun | None = None
        self.images: dict[str, Image] = {}
        self.flavors: dict[str, Flavor] = {}
        self.instances: dict[str, Instance] = {}
        self.choices_loaded = False
        self.proxy: Path | None = None
        self.proxy_problem: str | None = None
        self.submitting = False
        self._timer: Timer | None = None
        #: The overrides text last taken from the Detect tab (refreshed while not edited).
        self._detect_text: str | None = None
        self._outcome_keys: tuple[str, ...] = ()

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="pipeline-status", classes="view-status")
        with Horizontal(id="pipeline-top"):
            yield TextArea("", id="pipeline-ids", soft_wrap=True, show_line_numbers=False)
            with Vertical(id="pipeline-fields"):
                with Horizontal(classes="pipeline-row"):
                    yield Label("VOSpace", classes="pipeline-label")
                    yield Input(
                        placeholder="vos:USER/catalogues/", id="pipeline-folder", compact=True
                    )
                with Horizontal(classes="pipeline-row"):
                    yield Label("detect", classes="pipeline-label")
                    yield Input(
                        placeholder="defaults (KEY=VALUE … as detect --set)",
                        id="pipeline-overrides",
                        compact=True,
                    )
                with Horizontal(classes="pipeline-row"):
                    yield Label("snapshot", classes="pipeline-label")
                    yield Select[str](
                        [], id="pipeline-image", prompt="loading snapshots…", compact=True
                    )
                with Horizontal(classes="pipeline-row"):
                    yield Label("flavor", classes="pipeline-label")
                    yield Select[str](
                        [], id="pipeline-flavor", prompt="loading flavors…", compact=True
                    )
        yield Static("", id="pipeline-warning")
        with ContentSwitcher(initial="pipeline-review", id="pipeline-switcher"):
            with Vertical(id="pipeline-review"):
                with Horizontal(id="pipeline-files"):
                    yield TextArea("", id="pipeline-script", soft_wrap=False)
                    yield TextArea("", id="pipeline-submit", soft_wrap=False)
                yield Static("", id="pipeline-lint")
            with Vertical(id="pipeline-run"):
                yield Static("", id="pipeline-run-status")
                yield ResourceTable(OUTCOME_COLUMNS, id="pipeline-outcome")
                yield Static("", id="pipeline-row-detail")

    def on_mount(self) -> None:
        ids = self.query_one("#pipeline-ids", TextArea)
        ids.border_title = "IDs (ctrl+o: from a file)"
        self._title_files()
        self.query_one("#pipeline-warning", Static).display = False
        self.query_one("#pipeline-lint", Static).update(
            Text("Type the IDs, then ctrl+g generates the job script and the submit file.")
        )
        clients = self.context.clients
        storage = clients.storage
        if storage is not None:
            home = storage.home_uri.rstrip("/")
            self.query_one("#pipeline-folder", Input).value = f"{home}/catalogues/"
        self._take_detect_params()
        self._show_status()
        self._load_choices()
        self._restore_last_run()

    # ------------------------------------------------------------------ app plumbing

    def set_active(self, active: bool) -> None:
        """Shown or hidden: refresh the parameters from the Detect tab when shown."""
        self.active = active
        if active:
            self._take_detect_params()
            self._show_status()

    def focus_default(self) -> None:
        """The outcome table while it is shown, else the IDs."""
        switcher = self.query_one("#pipeline-switcher", ContentSwitcher)
        if switcher.current == "pipeline-run":
            self.query_one("#pipeline-outcome", ResourceTable).focus()
        else:
            self.query_one("#pipeline-ids", TextArea).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.DESTRUCTIVE_ACTIONS and self.context.read_only:
            return False
        if action in ("submit", "resubmit") and self.context.clients.queue is None:
            return None
        # Shown only when there is something to act on (the footer is short at 80 columns).
        if action == "resubmit":
            outcome = self.run.combined() if self.run is not None else None
            return outcome is not None and bool(outcome.failed)
        if action == "toggle_run":
            return self.run is not None
        return True

    def action_leave_field(self) -> None:
        self.focus()

    # ------------------------------------------------------------------ detection parameters

    def use_detect_overrides(self, raw: Mapping[str, str]) -> None:
        """Take the Detect form's parameters (``p`` on the Detect tab)."""
        text = format_overrides(overrides_from_detect(raw))
        self._detect_text = text
        self.query_one("#pipeline-overrides", Input).value = text
        shown = text or "the defaults"
        self.notify(f"Detection parameters from the Detect tab: {shown}", title="Pipeline")
        self._show_status()

    def _take_detect_params(self) -> None:
        """Fill the overrides from the Detect tab, unless the user typed their own."""
        from canfar_tui.widgets.detect_view import DetectView

        detect = self.context.navigation.view("detect")
        if not isinstance(detect, DetectView):
            return
        box = self.query_one("#pipeline-overrides", Input)
        if self._detect_text is not None and box.value != self._detect_text:
            return  # edited here: the user's values win
        if self._detect_text is None and box.value.strip():
            return
        text = format_overrides(overrides_from_detect(detect.form_overrides()))
        self._detect_text = text
        box.value = text

    # ------------------------------------------------------------------ status

    def _show_status(self, extra: str = "") -> None:
        clients = self.context.clients
        status = self.query_one("#pipeline-status", Static)
        if clients.queue is None:
            status.update(f"Pipeline · no batch queue: {clients.why_missing('queue')}")
            return
        parts = ["Pipeline"]
        folder = self.query_one("#pipeline-folder", Input).value.strip() or "?"
        text = self.query_one("#pipeline-ids", TextArea).text
        try:
            ids = parse_ids(text) if text.strip() else ()
        except PipelineError as error:
            # As you type: the first problem, without the explanation in parentheses.
            parts.append(f"! {str(error).split(' (', 1)[0]} → {folder}")
        else:
            parts.append(f"{len(ids)} ID{'s' if len(ids) != 1 else ''} → {folder}")
        overrides = self.query_one("#pipeline-overrides", Input).value.strip()
        parts.append(f"detect: {overrides or 'defaults'}")
        if clients.storage is None:
            parts.append(f"catalogues not checked: {clients.why_missing('storage')}")
        if extra:
            parts.append(extra)
        status.update(" · ".join(parts))

    @on(Input.Changed, "#pipeline-folder, #pipeline-overrides")
    @on(TextArea.Changed, "#pipeline-ids")
    def _form_changed(self) -> None:
        self._show_status()

    # ------------------------------------------------------------------ IDs from a file

    def action_read_ids(self) -> None:
        from canfar_tui.screens.file_picker import FilePickerScreen

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._read_ids_file(path)

        self.app.push_screen(
            FilePickerScreen("Read observation IDs from a file", Path.cwd(), ID_FILE_SUFFIXES),
            chosen,
        )

    def _read_ids_file(self, path: Path) -> None:
        try:
            if path.stat().st_size > MAX_ID_FILE_BYTES:
                raise PipelineError(f"{path.name} is larger than 1 MB: not a list of IDs")
            text = path.read_text(encoding="utf-8")
            ids = parse_ids(text)
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self.notify(f"Cannot read {path}: {reason}", title="Pipeline", severity="error")
            return
        except PipelineError as error:
            self.notify(f"{path.name}: {error}", title="Pipeline", severity="error")
            return
        area = self.query_one("#pipeline-ids", TextArea)
        area.load_text("\n".join(ids) + "\n")
        area.focus()
        self.notify(f"{len(ids)} IDs read from {path.name}", title="Pipeline")

    # ------------------------------------------------------------------ generate

    def form_spec(self) -> PipelineSpec:
        """The pipeline the form describes (PipelineError with one line when it cannot)."""
        ids = parse_ids(self.query_one("#pipeline-ids", TextArea).text)
        folder = self.query_one("#pipeline-folder", Input).value
        if not folder.strip():
            raise PipelineError("name the VOSpace folder for the catalogues (vos:USER/…/)")
        folder = validate_vospace_folder(folder)
        overrides = parse_overrides_text(self.query_one("#pipeline-overrides", Input).value)
        command, workers = job_settings(self.context.clients.queue)
        return PipelineSpec(ids, folder, overrides, command, workers)

    def action_generate(self) -> None:
        try:
            spec = self.form_spec()
        except PipelineError as error:
            self.notify(str(error), title="Pipeline", severity="error")
            self._show_status(f"not generated: {error}")
            return
        script, submit = job_script(spec), submit_file(spec)
        self.spec = spec
        self.generated = (script, submit)
        self.query_one("#pipeline-script", TextArea).load_text(script)
        self.query_one("#pipeline-submit", TextArea).load_text(submit)
        self._title_files()
        self.query_one("#pipeline-switcher", ContentSwitcher).current = "pipeline-review"
        self.refresh_bindings()
        self._schedule()

    def _title_files(self) -> None:
        spec = self.spec
        script_name = spec.script_name if spec is not None else "job script"
        submit_name = spec.submit_name if spec is not None else "submit file"
        texts = self._editor_texts()
        edited = self.generated is not None and texts != self.generated
        script_edited = edited and self.generated is not None and texts[0] != self.generated[0]
        submit_edited = edited and self.generated is not None and texts[1] != self.generated[1]
        self.query_one(
            "#pipeline-script", TextArea
        ).border_title = f"{script_name}{' (edited)' if script_edited else ''}"
        self.query_one(
            "#pipeline-submit", TextArea
        ).border_title = f"{submit_name}{' (edited)' if submit_edited else ''}"

    def _editor_texts(self) -> tuple[str, str]:
        return (
            self.query_one("#pipeline-script", TextArea).text,
            self.query_one("#pipeline-submit", TextArea).text,
        )

    @on(TextArea.Changed, "#pipeline-script, #pipeline-submit")
    def _files_changed(self) -> None:
        self._title_files()
        self._schedule()

    @on(Select.Changed, "#pipeline-image, #pipeline-flavor")
    def _choice_changed(self) -> None:
        self._show_warning()
        self._schedule()

    # ------------------------------------------------------------------ choices

    @work(group="pipeline-choices", exit_on_error=False)
    async def _load_choices(self) -> None:
        """Fill the snapshot and flavor lists from the cloud, and read the certificate."""
        from canfar_tui.preferences import FILE_NAME, PreferencesError, PreferenceStore

        context = self.context
        clients = context.clients
        image_select = self.query_one("#pipeline-image", Select)
        flavor_select = self.query_one("#pipeline-flavor", Select)
        preference: str | None = None
        store = PreferenceStore(
            context.settings.paths.data_dir / FILE_NAME, context.settings.profile.name
        )
        try:
            remembered = await asyncio.to_thread(store.batch_image)
        except (PreferencesError, OSError) as error:
            log.warning("%s", error)
        else:
            preference = remembered.id if remembered is not None else None
        credentials = clients.credentials
        if credentials is not None:
            try:
                status = await credentials.status()
            except ClientError as error:
                self.proxy_problem = f"cannot read the proxy certificate: {error.message}"
            else:
                self.proxy, self.proxy_problem = batch_proxy(status)
        cloud = clients.cloud
        if cloud is None:
            image_select.prompt = flavor_select.prompt = "no cloud"
            self._show_warning(f"No snapshots or flavors: {clients.why_missing('cloud')}")
            self.choices_loaded = True
            self._schedule()
            return
        try:
            images, flavors, instances = await asyncio.gather(
                cloud.list_images(), cloud.list_flavors(), cloud.list_instances()
            )
        except ClientError as error:
            image_select.prompt = flavor_select.prompt = "unavailable"
            self._show_warning(f"No snapshots or flavors: {error.message}")
            self.choices_loaded = True
            self._schedule()
            return
        from canfar_tui.screens.submit import fill_batch_choices

        usable_images, usable_flavors = fill_batch_choices(
            image_select, flavor_select, images, flavors, preference
        )
        self.images = {image.id: image for image in usable_images}
        self.flavors = {flavor.id: flavor for flavor in usable_flavors}
        self.instances = {instance.id: instance for instance in instances}
        self.choices_loaded = True
        self._show_warning()
        self._schedule()

    @property
    def selected_image(self) -> Image | None:
        value = self.query_one("#pipeline-image", Select).value
        return self.images.get(value) if isinstance(value, str) else None

    @property
    def selected_flavor(self) -> Flavor | None:
        value = self.query_one("#pipeline-flavor", Select).value
        return self.flavors.get(value) if isinstance(value, str) else None

    def _show_warning(self, message: str | None = None) -> None:
        text = (
            message
            if message is not None
            else snapshot_warning(self.selected_image, self.instances)
        )
        warning = self.query_one("#pipeline-warning", Static)
        warning.update(Text(f"! {text}") if text else "")
        warning.display = bool(text)

    # ------------------------------------------------------------------ lint

    def current_inputs(self) -> _Inputs:
        script, submit = self._editor_texts()
        image = self.selected_image
        spec = self.spec
        return _Inputs(
            script,
            submit,
            spec.script_name if spec is not None else "do_catalogue.bash",
            image.name if image is not None else None,
            self.selected_flavor,
            self.proxy_problem,
        )

    @property
    def preview_current(self) -> bool:
        """True when the lint on screen is the lint of what is in the editors."""
        return self.preview is not None and self.preview.inputs == self.current_inputs()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._start_preview)

    def _start_preview(self) -> None:
        self._timer = None
        if self.generated is None:
            return
        inputs = self.current_inputs()
        if not inputs.submit.strip():
            self.preview = None
            self.query_one("#pipeline-lint", Static).update(
                Text("The submit file is empty: ctrl+g generates it again.")
            )
            return
        self._lint(inputs, self.context.settings.paths.data_dir / "pipeline" / "draft")

    @work(thread=True, exclusive=True, group="pipeline-lint", exit_on_error=False)
    def _lint(self, inputs: _Inputs, draft: Path) -> None:
        # The lint checks that the executable exists next to the submit file: the draft
        # folder holds the script as it is in the editor.
        try:
            _write_atomically(draft / inputs.script_name, inputs.script, 0o755)
        except OSError as error:
            log.warning("cannot write the draft script: %s", error)
        report = lint_submit(
            inputs.submit,
            submit_dir=draft,
            flavor=inputs.flavor,
            image=inputs.image,
            proxy_problem=inputs.proxy_problem,
        )
        problems = tuple(_script_check(inputs.script))
        self.app.call_from_thread(self._preview_ready, _Preview(inputs, report, problems))

    def _preview_ready(self, preview: _Preview) -> None:
        if preview.inputs != self.current_inputs():
            return  # typed on meanwhile: a newer lint is on its way
        self.preview = preview
        report = preview.report
        lines: list[Text] = []
        head = Text()
        head.append(f"Lint: {report.summary()}", style="bold")
        if report.jobs:
            count = len(report.jobs)
            shown = ", ".join(job.arguments or "—" for job in report.jobs[:DRY_RUN_SHOWN])
            more = f", … {count - DRY_RUN_SHOWN} more" if count > DRY_RUN_SHOWN else ""
            head.append(f" · dry run: {count} job{'s' if count != 1 else ''}: {shown}{more}")
        lines.append(head)
        for issue in report.issues:
            mark = "✗" if issue.severity == "error" else "!"
            lines.append(Text(f"  {mark} submit file {issue}"))
        for problem in preview.script_problems:
            lines.append(Text(f"  ✗ script: {problem}"))
        self.query_one("#pipeline-lint", Static).update(Text("\n").join(lines))

    # ------------------------------------------------------------------ submit

    def action_submit(self) -> None:
        context = self.context
        if context.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        queue = context.clients.queue
        if queue is None:
            self.notify(context.clients.why_missing("queue"), severity="warning")
            return
        if self.submitting:
            return
        if self.generated is None or self.spec is None:
            self.action_generate()
            if self.generated is not None:
                self.notify("Review the job script and the submit file, then ctrl+s again.")
            return
        try:
            form = self.form_spec()
        except PipelineError as error:
            self.notify(str(error), title="Pipeline", severity="error")
            return
        if form != self.spec:
            self.notify(
                "The form changed after the files were generated: ctrl+g generates them again.",
                title="Pipeline",
                severity="warning",
            )
            return
        preview = self.preview
        if preview is None or preview.inputs != self.current_inputs():
            self.notify("Still checking the files; try again in a moment.")
            self._schedule()
            return
        image, flavor = self.selected_image, self.selected_flavor
        if image is None or flavor is None:
            self.notify("Choose a snapshot and a flavor first.", severity="warning")
            return
        problem = self._blocking_problem(preview)
        if problem is not None:
            self.notify(problem, title="Fix the files first", severity="error")
            return
        ids = self._submitted_ids(preview.report, self.spec)
        spec = self.spec if ids == self.spec.ids else self.spec.only(ids)
        self.submitting = True
        self._submit(
            spec,
            preview.inputs.script,
            preview.inputs.submit,
            image,
            flavor,
            order=self.spec.ids,
            kept=(),
        )

    @staticmethod
    def _blocking_problem(preview: _Preview) -> str | None:
        if not preview.report.ok:
            first = preview.report.errors[0]
            count = len(preview.report.errors)
            return f"submit file {first}" + (f" (and {count - 1} more)" if count > 1 else "")
        if preview.script_problems:
            return f"script: {preview.script_problems[0]}"
        return None

    @staticmethod
    def _submitted_ids(report: LintReport, spec: PipelineSpec) -> tuple[str, ...]:
        """The IDs the submit file queues (its dry run), when they are plain IDs."""
        arguments = [job.arguments.strip() for job in report.jobs]
        try:
            return validate_ids(arguments)
        except PipelineError:
            return spec.ids

    def _new_run_dir(self, name: str) -> Path:
        runs = self.context.settings.paths.data_dir / "pipeline" / "runs"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 100):
            suffix = "" if attempt == 1 else f"-{attempt}"
            candidate = runs / f"{stamp}-{name}{suffix}"
            try:
                candidate.mkdir(parents=True)
            except FileExistsError:
                continue
            return candidate
        raise OSError(f"cannot make a new run folder in {runs}")

    @work(exclusive=True, group="pipeline-submit", exit_on_error=False)
    async def _submit(
        self,
        spec: PipelineSpec,
        script: str,
        submit: str,
        image: Image,
        flavor: Flavor,
        *,
        order: tuple[str, ...],
        kept: tuple[Arrived, ...],
    ) -> None:
        context = self.context
        queue = context.clients.queue
        if queue is None:
            self.submitting = False
            return
        try:
            folder = await asyncio.to_thread(self._new_run_dir, spec.name)
        except OSError as error:
            self.submitting = False
            message = f"cannot make the submit folder: {error.strerror or error}"
            self.notify(message, title="Submit failed", severity="error", timeout=12)
            return
        try:

            def write() -> LintReport:
                _write_atomically(folder / spec.script_name, script, 0o755)
                _write_atomically(folder / spec.submit_name, submit)
                return lint_submit(
                    submit, submit_dir=folder, flavor=flavor, image=image.name, expand=False
                )

            report = await asyncio.to_thread(write)
            if not report.ok:
                raise PipelineError(f"submit file {report.errors[0]}")
            rewrite = canfar_description(submit, image.name, flavor, proxy=self.proxy)
            result = await queue.submit(rewrite.text, submit_dir=folder)
        except (ClientError, OSError, PipelineError) as error:
            # Nothing half-written stays: the run folder goes with the failed submission.
            await asyncio.to_thread(shutil.rmtree, folder, True)
            if isinstance(error, ClientError):
                message = error.message
            elif isinstance(error, OSError):
                message = f"cannot write the submit folder: {error.strerror or error}"
            else:
                message = str(error)
            self.notify(message, title="Submit failed", severity="error", timeout=12)
            return
        finally:
            self.submitting = False
        run = PipelineRun(
            spec=spec,
            submit_dir=folder,
            cluster=result.cluster,
            num_jobs=result.num_jobs,
            batch_name=result.batch_name,
            image=image.name,
            flavor=flavor.name,
            ids=spec.ids,
            order=order,
            kept=kept,
        )
        self._start_run(run)
        await self._jump_to_queue(result)

    async def _jump_to_queue(self, result: SubmitResult) -> None:
        from canfar_tui.widgets.queue.view import QueueView

        context = self.context
        queue_view = await context.navigation.ensure_view("queue")
        if isinstance(queue_view, QueueView):
            queue_view.submitted(result)
        context.navigation.show_tab("queue")

    # ------------------------------------------------------------------ the run

    def _start_run(self, run: PipelineRun) -> None:
        self.run = run
        self._save_run()
        self._show_run()
        self.query_one("#pipeline-switcher", ContentSwitcher).current = "pipeline-run"
        self.refresh_bindings()
        if not run.finished:
            self._watch(run)

    def action_toggle_run(self) -> None:
        if self.run is None:
            self.notify("No pipeline was submitted yet.")
            return
        switcher = self.query_one("#pipeline-switcher", ContentSwitcher)
        showing_run = switcher.current == "pipeline-run"
        switcher.current = "pipeline-review" if showing_run else "pipeline-run"
        self.focus_default()

    @work(exclusive=True, group="pipeline-watch", exit_on_error=False)
    async def _watch(self, run: PipelineRun) -> None:
        """Follow the batch until no job of it is left in the queue, then collect."""
        queue = self.context.clients.queue
        if queue is None:
            return
        delay = self.WATCH_INTERVAL
        while True:
            try:
                jobs = await queue.list_jobs()
            except ClientError as error:
                run.progress = f"cannot read the queue ({error.message}); trying again"
                self._show_run()
                delay = min(delay * 2, 30.0)
                await asyncio.sleep(delay)
                continue
            delay = self.WATCH_INTERVAL
            mine = [job for job in jobs if job.id.cluster == run.cluster]
            if not mine:
                break
            counts: dict[str, int] = {}
            for job in mine:
                name = job.status.name.lower().replace("_", " ")
                counts[name] = counts.get(name, 0) + 1
            left = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
            done = run.num_jobs - len(mine)
            run.progress = f"{done} of {run.num_jobs} done; {left}"
            self._show_run()
            await asyncio.sleep(delay)
        run.progress = "finished; checking the catalogues in VOSpace…"
        self._show_run()
        await self._collect(run)

    async def _collect(self, run: PipelineRun) -> None:
        clients = self.context.clients
        queue = clients.queue
        exit_codes: dict[str, int | None] | None = None
        if isinstance(queue, SupportsHistory):
            try:
                finished = await queue.history(limit=max(100, run.num_jobs * 2))
            except ClientError as error:
                log.warning("no history for batch %s: %s", run.cluster, error.message)
            else:
                codes = {
                    job.arguments.strip(): job.exit_code
                    for job in finished
                    if job.id.cluster == run.cluster
                }
                exit_codes = {obs_id: code for obs_id, code in codes.items() if obs_id in run.ids}
        storage = clients.storage
        if storage is None:
            run.progress = (
                f"finished; the catalogues cannot be checked: {clients.why_missing('storage')}"
            )
            self._show_run()
            return
        try:
            outcome = await collect_outcome(
                storage, run.spec, run.submit_dir, ids=run.ids, exit_codes=exit_codes
            )
        except ClientError as error:
            run.progress = f"finished; VOSpace could not be checked: {error.message} (ctrl+l)"
            self.context.report_error(error, context="Pipeline outcome")
            self._show_run()
            return
        run.outcome = outcome
        run.progress = ""
        if self.run is run:
            self._save_run()
            self._show_run()
            self.refresh_bindings()
        combined = run.combined() or outcome
        failed = len(combined.failed)
        message = f"Batch {run.cluster}: {len(combined.arrived)} catalogues in VOSpace"
        if failed:
            message += f", {failed} failed (Pipeline tab, r resubmits them)"
        self.app.notify(
            message, title="Pipeline finished", severity="warning" if failed else "information"
        )

    def _show_run(self) -> None:
        run = self.run
        status = self.query_one("#pipeline-run-status", Static)
        table = self.query_one("#pipeline-outcome", ResourceTable)
        if run is None:
            status.update("No pipeline was submitted yet.")
            table.replace_all({})
            return
        head = Text()
        head.append(f"Batch {run.cluster}", style="bold")
        plural = "s" if run.num_jobs != 1 else ""
        head.append(f" · {run.num_jobs} job{plural} on {run.image} / {run.flavor}")
        head.append(f" · {run.submit_dir}", style="dim")
        lines = [head]
        combined = run.combined()
        if combined is None:
            lines.append(Text(f"Running: {run.progress or 'waiting for the queue…'}"))
            self._fill_outcome(
                {obs_id: (Text("…", style="dim"), obs_id, "", None, None) for obs_id in run.ids}
            )
        else:
            summary = Text(f"{len(combined.arrived)} catalogues in {run.spec.vospace_folder}")
            if combined.failed:
                summary.append(f", {len(combined.failed)} failed", style="bold red")
                summary.append(" · r resubmits them alone")
            summary.append(" · ctrl+l: the files", style="dim")
            lines.append(summary)
            self._fill_outcome(outcome_rows(combined))
        status.update(Text("\n").join(lines))

    def _fill_outcome(self, rows: Mapping[str, Sequence[object]]) -> None:
        table = self.query_one("#pipeline-outcome", ResourceTable)
        keys = tuple(rows)
        if keys != self._outcome_keys:
            table.clear()  # other IDs or another order: rows show in the order given
            self._outcome_keys = keys
        table.replace_all(rows)
        self._show_row_detail(table.cursor_key)

    def row_details(self, obs_id: str) -> list[tuple[str, str]]:
        """Everything known about ``obs_id`` in the last run (label, value)."""
        run = self.run
        combined = run.combined() if run is not None else None
        if run is None or combined is None:
            return []
        for arrived in combined.arrived:
            if arrived.obs_id == obs_id:
                size = f"{arrived.size} bytes" if arrived.size is not None else "?"
                return [
                    ("ID", obs_id),
                    ("catalogue", arrived.uri),
                    ("MD5", arrived.md5 or "?"),
                    ("size", size),
                ]
        for failed in combined.failed:
            if failed.obs_id == obs_id:
                return [
                    ("ID", obs_id),
                    ("reason", failed.reason),
                    ("error file", str(run.submit_dir / run.spec.error_file(obs_id))),
                ]
        return []

    def _show_row_detail(self, key: object) -> None:
        """The highlighted ID's line in full (the table truncates long reasons)."""
        detail = self.query_one("#pipeline-row-detail", Static)
        rows = dict(self.row_details(str(key))) if key is not None else {}
        if "reason" in rows:
            text = Text(f"✗ {rows['ID']}: ", style="bold red")
            text.append(rows["reason"], style="not bold")
        elif "catalogue" in rows:
            text = Text(f"✓ {rows['catalogue']}  md5={rows['MD5']}  {rows['size']}")
        else:
            text = Text("")
        detail.update(text)
        detail.display = bool(text.plain)

    @on(ResourceTable.CursorMoved, "#pipeline-outcome")
    def _cursor_moved(self, event: ResourceTable.CursorMoved) -> None:
        self._show_row_detail(event.key)

    @on(ResourceTable.RowSelected, "#pipeline-outcome")
    def _row_selected(self, event: ResourceTable.RowSelected) -> None:
        from canfar_tui.screens.details import DetailsScreen

        rows = self.row_details(str(event.key))
        if rows:
            self.app.push_screen(DetailsScreen(f"Pipeline: {event.key}", rows))

    # ------------------------------------------------------------------ resubmit

    def action_resubmit(self) -> None:
        context = self.context
        if context.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        if context.clients.queue is None:
            self.notify(context.clients.why_missing("queue"), severity="warning")
            return
        run = self.run
        combined = run.combined() if run is not None else None
        if run is None or combined is None:
            self.notify("The last batch has not finished yet.")
            return
        failed = combined.to_resubmit()
        if not failed:
            self.notify("Nothing failed in the last batch.")
            return
        if self.submitting:
            return
        image = find_image(self.images.values(), run.image)
        flavor = find_flavor(self.flavors.values(), run.flavor)
        if image is None or flavor is None:
            missing = run.image if image is None else run.flavor
            self.notify(
                f"{missing} is no longer offered: choose another in the form, ctrl+g, ctrl+s.",
                title="Resubmit",
                severity="error",
            )
            return
        try:
            script = (run.submit_dir / run.spec.script_name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            script = job_script(run.spec)
        retry = run.spec.only(failed)
        self.submitting = True
        self._submit(
            retry,
            script,
            submit_file(retry),
            image,
            flavor,
            order=run.order,
            kept=combined.arrived,
        )

    # ------------------------------------------------------------------ persistence

    @property
    def run_file(self) -> Path:
        return self.context.settings.paths.data_dir / "pipeline" / "last-run.json"

    def _save_run(self) -> None:
        run = self.run
        if run is None:
            return
        try:
            _write_atomically(self.run_file, json.dumps(run_to_json(run), indent=1) + "\n")
        except OSError as error:
            log.warning("cannot save the pipeline run: %s", error)

    @work(group="pipeline-restore", exit_on_error=False)
    async def _restore_last_run(self) -> None:
        path = self.run_file

        def load() -> PipelineRun | None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return None
            except (OSError, ValueError) as error:
                log.warning("cannot read %s: %s", path, error)
                return None
            try:
                return run_from_json(data)
            except ValueError as error:
                log.warning("%s: %s", path, error)
                return None

        run = await asyncio.to_thread(load)
        if run is None or self.run is not None:
            return
        self.run = run
        self._show_run()
        self.refresh_bindings()
        if not run.finished and self.context.clients.queue is not None:
            # Still running when the dashboard stopped: show its progress, watch it again.
            self.query_one("#pipeline-switcher", ContentSwitcher).current = "pipeline-run"
            self._watch(run)
