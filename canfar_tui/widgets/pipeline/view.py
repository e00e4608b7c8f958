"""The Pipeline tab: from the Detect tab's parameters to a batch of exposures on HTCondor.

The Batch Quick Start in one form (issue 7): type or paste observation IDs (``ctrl+o`` reads
them from a file), name the VOSpace folder for the catalogues and the detection parameters
(``detect --set`` values; by default those of the Detect tab's form, and ``p`` on the Detect
tab brings them here, with the rest of its setup: the loaded ``.sex``'s values, the edited
columns, which the job writes as ``default.param``, a filter of the user's own, written by the
job script too, and the catalogue format; the status line counts them), then ``ctrl+g``
generates the job script (the seed's
``do_catalogue.bash``) and the submit file (the seed's ``do_catalogue.sub``). Both can be
edited; what is in the editors is what gets submitted.

The job script runs the seed's own steps (``cadcget``, ``funpack``, ``source-extractor`` with
the detection parameters as options, ``vcp``, then the catalogue read back and compared),
which a real snapshot such as ``canfar-ubuntu-20.04`` (Python 3.8) can run; it runs
``canfar-tui --profile NAME get/detect/put`` with the active profile only where the worker is
known to have canfar-tui: the sandbox's jobs, and snapshots marked with ``ctrl+t``. A line
above the files says which and why. Every change is linted
(:func:`~canfar_tui.batch.lint.lint_submit`, problems with their line numbers; the script is
checked with ``bash -n``).

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
with one detection worker each (the executor already runs several jobs at once). On a
snapshot marked as having canfar-tui they call its ``canfar-tui``, with all the VM's CPUs.

Read-only mode hides submit and resubmit. A profile without a queue says so in the status
line; without a VOSpace service the batch can still be submitted, but its catalogues cannot be
checked from here.

| key      | action                                                         |
|----------|----------------------------------------------------------------|
| `ctrl+o` | read the observation IDs from a file                           |
| `ctrl+g` | generate the job script and the submit file from the form      |
| `ctrl+s` | submit (when the lint has no error)                            |
| `ctrl+t` | mark the chosen snapshot as having canfar-tui (or not)         |
| `ctrl+l` | show the last run's outcome / the files again                  |
| `escape` | leave the text field (then `1`…`8` switch tabs)                |
| `r`      | resubmit the failed IDs alone (on the outcome table)           |
| `enter`  | on the outcome table: the whole line (URI, MD5, reason)        |
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Input, Label, Select, Static, TextArea

from canfar_tui.widgets.pipeline.outcome import OUTCOME_COLUMNS
from canfar_tui.widgets.pipeline.submit import SubmitPart
from canfar_tui.widgets.resource_table import ResourceTable

__all__ = ["PipelineView"]


class PipelineView(SubmitPart, can_focus=True):
    """IDs, folder and parameters → job script and submit file → batch → outcome.

    The parts, each in its module: :class:`~canfar_tui.widgets.pipeline.preview.PreviewPart`
    (the lint), :class:`~canfar_tui.widgets.pipeline.inputs.InputsPart` (the form),
    :class:`~canfar_tui.widgets.pipeline.outcome.OutcomePart` (the run and its outcome) and
    :class:`~canfar_tui.widgets.pipeline.submit.SubmitPart` (submit and resubmit).
    """

    AREA: ClassVar[str] = "pipeline"
    TITLE: ClassVar[str] = "Pipeline"
    #: State-changing actions: hidden in read-only mode.
    DESTRUCTIVE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"submit", "resubmit"})

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
    #pipeline-kind {
        height: auto;
        padding: 0 1;
        color: $text-muted;
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
            "ctrl+t",
            "mark_canfar_tui",
            "canfar-tui on snapshot",
            id="pipeline.mark_canfar_tui",
            show=False,
            tooltip="Mark the chosen snapshot as having canfar-tui installed (or not)",
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
                yield Static("", id="pipeline-kind")
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
        self.query_one("#pipeline-kind", Static).display = False
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

    def set_active(self, active: bool) -> None:
        """Shown or hidden: refresh the parameters from the Detect tab when shown."""
        self.active = active
        if active:
            self._take_detect_params()
            self._show_status()

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
