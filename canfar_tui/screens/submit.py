"""The Submit screen: canfar_submit with a preview, from the Queue tab (key `b`).

Open a submit file (``ctrl+o``: a file picker over ``*.sub``; or type its path and press
enter; or ``ctrl+t`` for the Quick Start's ``do_catalogue.sub``, which runs
``do_catalogue.bash`` from the same folder: when that script is not there, the screen says that
the Pipeline tab's ``ctrl+g`` writes it), edit it in place, choose the
VM snapshot (the cloud's active images and snapshots; the remembered "use for batch" snapshot
first) and the flavor (the cloud's flavors; ``c2-7.5gb-30`` by default). While you type, the
screen shows:

* which form the installed ``canfar_submit`` accepts (0.3.x: ``JOB_FILE VM_IMAGE VM_FLAVOR``,
  0.4.x: ``JOB_FILE [VM_IMAGE]``) and the equivalent command on the batch host;
* the rewritten submit description, with ``+`` on added and ``~`` on replaced lines;
* the lint (every problem with its line) and a one-line dry run (how many jobs, their
  arguments);
* the **dry-run table** (``ctrl+r`` switches the right pane between the preview and it): one
  row per job the file queues, expanded without submitting anything (the sandbox executor's
  ``condor_submit`` expansion, :func:`~canfar_tui.clients.queue.submit_language.expand_submit`,
  run by the lint in a worker thread, where ``htcondor2`` is imported): PROC, ARGUMENTS,
  OUTPUT, ERROR, LOG (relative to the submit file's folder) and one column per item variable,
  at most :data:`DRY_RUN_ROWS` rows and then "… N more". ``$(Cluster)`` is not known before
  the schedd assigns it and shows as 0. When the file does not expand (a syntax error, an
  empty item list, an unknown macro…) the pane lists the lint errors with their line numbers
  instead.

``ctrl+s`` submits the rewritten description through the profile's QueueClient, unless the
lint found an error; the screen closes with the :class:`~canfar_tui.models.SubmitResult` and
the Queue tab jumps to the new batch. Nothing is written to your submit file.

| key      | action                                        |
|----------|-----------------------------------------------|
| `ctrl+o` | choose a submit file (``*.sub``)              |
| `ctrl+t` | start from the Quick Start's do_catalogue.sub |
| `ctrl+r` | right pane: the preview / the dry-run table   |
| `ctrl+s` | submit (when the lint has no error)           |
| `tab`    | next field                                    |
| `escape` | close without submitting (asks if you edited)  |
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from canfar_tui.batch.canfar_submit import CanfarSubmit, detect_canfar_submit, equivalent_command
from canfar_tui.batch.choices import (
    batch_flavors,
    batch_images,
    batch_proxy,
    default_flavor,
    default_image,
)
from canfar_tui.batch.lint import LintReport, lint_submit
from canfar_tui.batch.resources import scratch_gb
from canfar_tui.batch.rewrite import Rewrite, canfar_description, numbered_lines
from canfar_tui.batch.submission import choose_route, submit_batch
from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.clients.base import (
    ClientError,
    CloudClient,
    CredentialsClient,
    InvalidInput,
    QueueClient,
)
from canfar_tui.clients.files import atomic_write
from canfar_tui.clients.queue.submit_language import JobSpec
from canfar_tui.models import Flavor, Image, SubmitResult
from canfar_tui.preferences import FILE_NAME as PREFERENCES_FILE
from canfar_tui.preferences import PreferenceStore
from canfar_tui.screens.confirm import ConfirmScreen
from canfar_tui.screens.file_picker import FilePickerScreen

__all__ = ["DRY_RUN_ROWS", "DryRun", "SubmitScreen", "dry_run_table"]

#: Seconds of quiet typing before the preview and lint are computed again.
PREVIEW_DELAY = 0.25
#: Jobs whose arguments the dry-run line lists.
DRY_RUN_SHOWN = 6
#: Rows of the dry-run table at most; one "… N more" row says how many are not shown.
DRY_RUN_ROWS = 1000
#: The dry-run table's first columns; item variables follow.
DRY_RUN_COLUMNS = ("PROC", "ARGUMENTS", "OUTPUT", "ERROR", "LOG")
#: The executable the Quick Start's do_catalogue.sub runs.
TEMPLATE_SCRIPT = "do_catalogue.bash"
_CLUSTER_MACRO = re.compile(r"\$\(\s*cluster(?:id)?\s*\)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DryRun:
    """The dry-run table: its columns, its rows (at most :data:`DRY_RUN_ROWS`) and the total."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: How many jobs the file queues.
    total: int

    @property
    def more(self) -> int:
        """Jobs not in :attr:`rows`."""
        return self.total - len(self.rows)


def _shown_path(path: str, submit_dir: Path) -> str:
    """A job file relative to the submit folder when it is inside it; "" for none."""
    if not path or path == os.devnull:
        return ""
    try:
        relative = os.path.relpath(path, submit_dir)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def dry_run_table(
    jobs: Sequence[JobSpec], submit_dir: Path, *, limit: int = DRY_RUN_ROWS
) -> DryRun:
    """The table of the jobs a submit file expands to (see the module docstring)."""
    fixed = {name.lower() for name in DRY_RUN_COLUMNS}
    variables: list[str] = []
    for job in jobs[:limit]:
        for name in job.item:
            if name.lower() not in fixed and name not in variables:
                variables.append(name)
    rows = tuple(
        (
            str(job.proc),
            job.arguments,
            _shown_path(job.output, submit_dir),
            _shown_path(job.error, submit_dir),
            _shown_path(job.log, submit_dir),
            *(job.item.get(name, "") for name in variables),
        )
        for job in jobs[:limit]
    )
    columns = (*DRY_RUN_COLUMNS, *(name.upper() for name in variables))
    return DryRun(columns, rows, len(jobs))


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything the preview depends on (compared to know whether it is current)."""

    text: str
    submit_dir: Path
    image: str | None
    flavor: Flavor | None
    proxy: Path | None
    proxy_problem: str | None


@dataclass(frozen=True, slots=True)
class _Preview:
    inputs: _Inputs
    rewrite: Rewrite | None
    report: LintReport
    dry_run: DryRun


def _flavor_label(flavor: Flavor) -> str:
    ram = flavor.ram_mb / 1024
    scratch = f"{scratch_gb(flavor)} GB scratch" if not flavor.is_persistent else "no scratch"
    return f"{flavor.name}  ({flavor.vcpus} CPU, {ram:g} GB, {scratch})"


def _image_label(image: Image) -> str:
    return f"{image.name}  ({image.kind.value})"


def fill_batch_choices(
    image_select: Select[str],
    flavor_select: Select[str],
    images: Sequence[Image],
    flavors: Sequence[Flavor],
    preference: str | None,
) -> tuple[list[Image], list[Flavor]]:
    """Offer the snapshots and flavors a batch can use, with the usual defaults chosen.

    Returns the images and flavors offered (the Submit screen's and the Pipeline tab's).
    """
    usable_images = batch_images(images)
    usable_flavors = batch_flavors(flavors)
    image_select.prompt = "choose a snapshot" if usable_images else "no active snapshot"
    flavor_select.prompt = "choose a flavor"
    image_select.set_options((_image_label(image), image.id) for image in usable_images)
    flavor_select.set_options((_flavor_label(flavor), flavor.id) for flavor in usable_flavors)
    chosen_image = default_image(usable_images, preference)
    chosen_flavor = default_flavor(usable_flavors)
    if chosen_image is not None:
        image_select.value = chosen_image.id
    if chosen_flavor is not None:
        flavor_select.value = chosen_flavor.id
    return usable_images, usable_flavors


class SubmitScreen(Screen[SubmitResult | None]):
    """Choose a submit file, snapshot and flavor; preview, lint, dry-run table and submit."""

    DEFAULT_CSS = """
    #submit-right {
        width: 1fr;
        height: 1fr;
    }
    #submit-right TabPane {
        padding: 0;
        height: 1fr;
    }
    #submit-dryrun-status {
        height: auto;
        max-height: 12;
        overflow-y: auto;
    }
    #submit-dryrun {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+o", "browse", "Open .sub", id="submit.browse", tooltip="Choose a submit file"
        ),
        Binding(
            "ctrl+t",
            "template",
            "Template",
            id="submit.template",
            tooltip="Start from the Quick Start's do_catalogue.sub",
        ),
        Binding(
            "ctrl+r",
            "toggle_dry_run",
            "Dry run",
            id="submit.dry_run",
            tooltip="Right pane: the preview or the table of the jobs the file queues",
        ),
        Binding(
            "ctrl+s",
            "submit",
            "Submit",
            id="submit.submit",
            tooltip="Submit the rewritten description (when the lint has no error)",
        ),
        Binding("escape", "cancel", "Close", id="submit.cancel", tooltip="Close; submit nothing"),
    ]

    def __init__(
        self,
        *,
        queue: QueueClient,
        cloud: CloudClient | None,
        credentials: CredentialsClient | None,
        data_dir: Path,
        start_dir: Path,
        path: Path | None = None,
        read_only: bool = False,
        no_cloud_reason: str = "",
        profile: str | None = None,
        sandbox: bool = True,
        openrc: Path | None = None,
        password_provider: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        self.profile = profile
        #: A real profile submits through the installed canfar_submit (batch.submission).
        self.sandbox = sandbox
        self.openrc = openrc
        self.password_provider = password_provider
        self.queue = queue
        self.cloud = cloud
        self.credentials = credentials
        self.data_dir = data_dir
        self.start_dir = start_dir
        self.path = path
        self.submit_dir = path.parent if path is not None else start_dir
        self.read_only = read_only
        self.no_cloud_reason = no_cloud_reason
        self.images: dict[str, Image] = {}
        self.flavors: dict[str, Flavor] = {}
        self.proxy: Path | None = None
        self.proxy_problem: str | None = None
        self.canfar_submit: CanfarSubmit | None = None
        self.canfar_submit_checked = False
        self.preview: _Preview | None = None
        self.submitting = False
        #: ctrl+s came while the check was running: submit when it is done (if it passes).
        self.submit_pending = False
        #: The snapshot and flavor lists (and the certificate) have been asked for and answered.
        self.choices_loaded = False
        self._timer: Timer | None = None
        #: What the dry-run pane shows now (to skip rebuilding an unchanged table).
        self._dry_run_shown: object = None
        self._loaded_text = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="submit-dialog"):
            yield Label("Submit a batch to CANFAR (canfar_submit)", classes="dialog-title")
            with Horizontal(id="submit-file-row", classes="submit-row"):
                yield Label("Submit file", classes="submit-label")
                yield Input(
                    str(self.path) if self.path else "",
                    placeholder="path to a .sub file, enter to open (ctrl+o browse, "
                    "ctrl+t Quick Start template)",
                    id="submit-path",
                )
            with Horizontal(id="submit-choices", classes="submit-row"):
                yield Label("Snapshot", classes="submit-label")
                yield Select[str]([], id="submit-image", prompt="loading snapshots…")
                yield Label("Flavor", classes="submit-label")
                yield Select[str]([], id="submit-flavor", prompt="loading flavors…")
            yield Static("Looking for canfar_submit…", id="submit-form", markup=False)
            with Horizontal(id="submit-body"):
                yield TextArea("", id="submit-editor", show_line_numbers=True, soft_wrap=False)
                with TabbedContent(initial="submit-pane-preview", id="submit-right"):
                    with (
                        TabPane("Preview", id="submit-pane-preview"),
                        VerticalScroll(id="submit-preview-scroll"),
                    ):
                        yield Static("", id="submit-preview")
                    with TabPane("Dry run", id="submit-pane-dryrun"):
                        yield Static("", id="submit-dryrun-status", markup=False)
                        yield DataTable(id="submit-dryrun", cursor_type="row", zebra_stripes=True)
            yield Static("", id="submit-lint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="submit-cancel", variant="default")
                yield Button("Submit", id="submit-go", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#submit-editor", TextArea).border_title = "submit file (editable)"
        self.query_one(
            "#submit-preview-scroll", VerticalScroll
        ).border_title = "what will be submitted"
        if self.path is not None:
            self.load(self.path)
            self.query_one("#submit-editor", TextArea).focus()
        else:
            self.query_one("#submit-path", Input).focus()
            self._show_waiting("Open a submit file (ctrl+o) or start from the template (ctrl+t).")
        self._load_choices()
        self._detect_canfar_submit()

    @on(TabbedContent.TabActivated)
    def _keep_tab_changes_here(self, event: TabbedContent.TabActivated) -> None:
        # The dashboard listens for TabActivated to switch its own tabs; these are not those.
        event.stop()

    def action_toggle_dry_run(self) -> None:
        tabs = self.query_one("#submit-right", TabbedContent)
        showing = tabs.active == "submit-pane-dryrun"
        tabs.active = "submit-pane-preview" if showing else "submit-pane-dryrun"

    # ------------------------------------------------------------------ inputs

    def load(self, path: Path) -> bool:
        """Put ``path``'s text in the editor; False (and a message) when it cannot be read."""
        path = path.expanduser()
        if not path.is_absolute():
            path = (self.start_dir / path).absolute()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self.notify(f"Cannot open {path}: {reason}", title="Submit file", severity="error")
            return False
        self.path = path
        self.submit_dir = path.parent
        self.query_one("#submit-path", Input).value = str(path)
        self._loaded_text = text
        self.query_one("#submit-editor", TextArea).load_text(text)
        self._schedule()
        return True

    @on(Input.Submitted, "#submit-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() and self.load(Path(event.value.strip())):
            self.query_one("#submit-editor", TextArea).focus()

    @on(TextArea.Changed, "#submit-editor")
    def _text_changed(self) -> None:
        self.submit_pending = False  # edited after ctrl+s: the user submits again when done
        self._schedule()

    @on(Select.Changed)
    def _choice_changed(self) -> None:
        self._schedule()

    def action_browse(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None and self.load(path):
                self.query_one("#submit-editor", TextArea).focus()

        start = self.path.parent if self.path is not None else self.start_dir
        self.app.push_screen(FilePickerScreen("Open a submit file", start, (".sub",)), chosen)

    def action_template(self) -> None:
        self.path = None
        self.submit_dir = self.start_dir
        self.query_one("#submit-path", Input).value = ""
        editor = self.query_one("#submit-editor", TextArea)
        self._loaded_text = DO_CATALOGUE_SUB
        editor.load_text(DO_CATALOGUE_SUB)
        editor.focus()
        missing = self._missing_template_script()
        if missing is None:
            self.notify(
                f"The Quick Start's do_catalogue.sub; it runs {TEMPLATE_SCRIPT} from "
                f"{self.start_dir}.",
                title="Template",
            )
        else:
            self.notify(
                f"The Quick Start's do_catalogue.sub. {missing}",
                title="Template",
                severity="warning",
                timeout=20,
            )
        self._schedule()

    def _missing_template_script(self) -> str | None:
        """Where to get ``do_catalogue.bash`` when the template runs it and it is not there.

        The template's script fetches, detects and stores one exposure; the Pipeline tab
        writes it (for the IDs and VOSpace folder given there) with its submit file.
        """
        if self.path is not None or TEMPLATE_SCRIPT not in self._loaded_text:
            return None
        if (self.submit_dir / TEMPLATE_SCRIPT).exists():
            return None
        return (
            f"{TEMPLATE_SCRIPT} is not in {self.submit_dir}: the Pipeline tab (8) writes it "
            "with its .sub (ctrl+g) and submits both (ctrl+s); or put your own there."
        )

    def action_cancel(self) -> None:
        editor = self.query_one("#submit-editor", TextArea)
        if editor.text == self._loaded_text or not editor.text.strip():
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmScreen(
                "Discard your edits?",
                "The submit file was edited here and nothing was submitted. Close anyway? "
                "(Your file on disk is unchanged.)",
                confirm_label="Discard",
            ),
            answered,
        )

    @on(Button.Pressed, "#submit-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#submit-go")
    def _submit_pressed(self) -> None:
        self.action_submit()

    # ------------------------------------------------------------------ loading

    @work(group="submit-choices", exit_on_error=False)
    async def _load_choices(self) -> None:
        """Fill the snapshot and flavor lists from the cloud, and read the certificate."""
        preference: str | None = None
        if self.profile is not None:
            store = PreferenceStore(self.data_dir / PREFERENCES_FILE, self.profile)
            remembered = await asyncio.to_thread(store.batch_image)
            preference = remembered.id if remembered is not None else None
        image_select = self.query_one("#submit-image", Select)
        flavor_select = self.query_one("#submit-flavor", Select)
        if self.credentials is not None:
            try:
                status = await self.credentials.status()
            except ClientError as error:
                self.proxy_problem = f"cannot read the proxy certificate: {error.message}"
            else:
                self.proxy, self.proxy_problem = batch_proxy(status)
        if self.cloud is None:
            reason = self.no_cloud_reason or "no cloud in this profile"
            image_select.prompt = flavor_select.prompt = "no cloud"
            self.notify(f"Cannot list snapshots and flavors: {reason}", severity="error")
            self.choices_loaded = True
            self._schedule()
            return
        try:
            images, flavors = await asyncio.gather(
                self.cloud.list_images(), self.cloud.list_flavors()
            )
        except ClientError as error:
            image_select.prompt = flavor_select.prompt = "unavailable"
            self.notify(error.message, title="Snapshots and flavors", severity="error")
            self.choices_loaded = True
            self._schedule()
            return
        usable_images, usable_flavors = fill_batch_choices(
            image_select, flavor_select, images, flavors, preference
        )
        self.images = {image.id: image for image in usable_images}
        self.flavors = {flavor.id: flavor for flavor in usable_flavors}
        self.choices_loaded = True
        self._schedule()

    @work(thread=True, group="submit-detect", exit_on_error=False)
    def _detect_canfar_submit(self) -> None:
        found = detect_canfar_submit()
        self.app.call_from_thread(self._detected, found)

    def _detected(self, found: CanfarSubmit | None) -> None:
        self.canfar_submit = found
        self.canfar_submit_checked = True
        self._show_form()

    # ------------------------------------------------------------------ preview

    @property
    def selected_image(self) -> Image | None:
        value = self.query_one("#submit-image", Select).value
        return self.images.get(value) if isinstance(value, str) else None

    @property
    def selected_flavor(self) -> Flavor | None:
        value = self.query_one("#submit-flavor", Select).value
        return self.flavors.get(value) if isinstance(value, str) else None

    def current_inputs(self) -> _Inputs:
        image = self.selected_image
        return _Inputs(
            self.query_one("#submit-editor", TextArea).text,
            self.submit_dir,
            image.name if image is not None else None,
            self.selected_flavor,
            self.proxy,
            self.proxy_problem,
        )

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._start_preview)

    def _start_preview(self) -> None:
        self._timer = None
        inputs = self.current_inputs()
        if not inputs.text.strip():
            self.preview = None
            self._show_waiting("Open a submit file (ctrl+o) or start from the template (ctrl+t).")
            return
        self._compute_preview(inputs)

    @work(thread=True, exclusive=True, group="submit-preview", exit_on_error=False)
    def _compute_preview(self, inputs: _Inputs) -> None:
        rewrite = None
        if inputs.image is not None and inputs.flavor is not None:
            rewrite = canfar_description(
                inputs.text, inputs.image, inputs.flavor, proxy=inputs.proxy
            )
        report = lint_submit(
            inputs.text,
            submit_dir=inputs.submit_dir,
            flavor=inputs.flavor,
            image=inputs.image,
            proxy_problem=inputs.proxy_problem,
        )
        dry_run = dry_run_table(report.jobs, inputs.submit_dir)
        self.app.call_from_thread(self._preview_ready, _Preview(inputs, rewrite, report, dry_run))

    def _preview_ready(self, preview: _Preview) -> None:
        if preview.inputs != self.current_inputs():
            return  # typed on meanwhile: a newer preview is on its way
        self.preview = preview
        self._show_preview(preview)
        if self.submit_pending:
            self.action_submit()

    def _show_waiting(self, message: str) -> None:
        self.query_one("#submit-preview", Static).update(Text(message))
        self.query_one("#submit-lint", Static).update("")
        self.query_one("#submit-go", Button).disabled = True
        self.query_one("#submit-dryrun-status", Static).update(Text(message))
        table = self.query_one("#submit-dryrun", DataTable)
        table.clear(columns=True)
        table.display = False
        self._dry_run_shown = None

    def _show_dry_run(self, preview: _Preview) -> None:
        """The dry-run pane: the jobs' table, or the lint errors when the file does not expand."""
        dry_run, report = preview.dry_run, preview.report
        shown = (dry_run, report.errors, bool(_CLUSTER_MACRO.search(preview.inputs.text)))
        if shown == self._dry_run_shown:
            return  # the same jobs: keep the table (and its cursor) as it is
        self._dry_run_shown = shown
        status = self.query_one("#submit-dryrun-status", Static)
        table = self.query_one("#submit-dryrun", DataTable)
        table.clear(columns=True)
        if not dry_run.total:
            message = Text("Nothing to show: the submit file does not expand to any job.")
            if report.errors:
                message = Text("No dry run: fix these first.", style="bold")
                for issue in report.errors:
                    message.append(f"\n  ✗ {issue}", style="not bold")
            status.update(message)
            table.display = False
            return
        plural = "s" if dry_run.total != 1 else ""
        head = f"{dry_run.total} job{plural}, nothing submitted"
        if _CLUSTER_MACRO.search(preview.inputs.text):
            head += "; $(Cluster) shows as 0 until the schedd assigns it"
        if report.errors:
            count = len(report.errors)
            head += f"; the lint found {count} error{'s' if count != 1 else ''} (below)"
        status.update(Text(head + "."))
        table.add_columns(*dry_run.columns)
        table.add_rows(dry_run.rows)
        if dry_run.more:
            filler = ("…", f"{dry_run.more} more", *([""] * (len(dry_run.columns) - 2)))
            table.add_row(*filler, key="more")
        table.display = True

    def dry_run_rows(self) -> list[tuple[str, ...]]:
        """The dry-run table's rows as shown (for tests and copying)."""
        table = self.query_one("#submit-dryrun", DataTable)
        return [
            tuple(str(cell) for cell in table.get_row_at(index)) for index in range(table.row_count)
        ]

    def _show_preview(self, preview: _Preview) -> None:
        rewrite, report = preview.rewrite, preview.report
        if rewrite is None:
            body = Text("Choose a snapshot and a flavor to see what will be submitted.")
        else:
            body = Text()
            width = len(str(rewrite.text.count("\n")))
            for number, marker, line in numbered_lines(rewrite):
                style = "bold" if marker != " " else ""
                body.append(f"{number:>{width}} {marker} ", style="dim")
                body.append(line + "\n", style=style)
        self.query_one("#submit-preview", Static).update(body)

        lines: list[Text] = []
        summary = Text(f"Lint: {report.summary()}", style="bold")
        lines.append(summary)
        for issue in report.issues:
            mark = "✗" if issue.severity == "error" else "!"
            lines.append(Text(f"  {mark} {issue}"))
        if report.jobs:
            count = len(report.jobs)
            shown = ", ".join(
                job.arguments or "(no arguments)" for job in report.jobs[:DRY_RUN_SHOWN]
            )
            more = f", … {count - DRY_RUN_SHOWN} more" if count > DRY_RUN_SHOWN else ""
            plural = "s" if count != 1 else ""
            lines.append(Text(f"Dry run: {count} job{plural}: {shown}{more} (ctrl+r: the table)"))
        self.query_one("#submit-lint", Static).update(Group(*lines))
        self._show_dry_run(preview)
        self.query_one("#submit-go", Button).disabled = (
            self.read_only or rewrite is None or not report.ok
        )
        self._show_form()

    def _show_form(self) -> None:
        if not self.canfar_submit_checked:
            return
        found = self.canfar_submit
        if found is None:
            text = "canfar_submit: not on PATH; canfar-tui submits the rewritten description."
        else:
            text = found.describe()
        inputs = self.current_inputs()
        if inputs.image and inputs.flavor:
            job_file = self.path.name if self.path is not None else "do_catalogue.sub"
            command = equivalent_command(found, job_file, inputs.image, inputs.flavor.name)
            text += f"\nOn the batch host: {shlex.join(command)}"
        text += "\n" + choose_route(found, sandbox=self.sandbox).reason
        self.query_one("#submit-form", Static).update(text)

    # ------------------------------------------------------------------ submitting

    def action_submit(self) -> None:
        if self.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        if self.submitting:
            return
        preview = self.preview
        if (
            preview is None
            or preview.inputs != self.current_inputs()
            or (preview.rewrite is None and not self.choices_loaded)
        ):
            # Still checking, or the snapshot and flavor lists are still loading.
            if not self.submit_pending:
                self.notify("Still checking the submit file; it goes when the check passes.")
            self.submit_pending = True
            self._schedule()
            return
        self.submit_pending = False
        if preview.rewrite is None:
            self.notify("Choose a snapshot and a flavor first.", severity="warning")
            return
        if not preview.report.ok:
            first = preview.report.errors[0]
            count = len(preview.report.errors)
            missing = self._missing_template_script()
            where = f" {missing}" if missing and TEMPLATE_SCRIPT in str(first) else ""
            self.notify(
                f"{first}" + (f" (and {count - 1} more)" if count > 1 else "") + where,
                title="Fix the submit file first",
                severity="error",
                timeout=20 if where else self.app.NOTIFICATION_TIMEOUT,
            )
            return
        self.submitting = True
        self.query_one("#submit-go", Button).disabled = True
        self._submit(preview)

    def _job_file(self, text: str) -> Path:
        """The file canfar_submit is given: the one on disk, or the edited text beside it.

        canfar_submit reads a file, and relative paths in it are relative to its folder: an
        edited text is written next to the original (``NAME.canfar-tui.sub``), which stays
        as the user wrote it. Blocking: call it in a worker thread.
        """
        path = self.path
        if path is not None and text == self._loaded_text:
            return path
        folder = path.parent if path is not None else self.submit_dir
        name = f"{path.stem if path is not None else 'batch'}.canfar-tui.sub"
        atomic_write(folder / name, text, mode=0o644)
        return folder / name

    @work(exclusive=True, group="submit-go", exit_on_error=False)
    async def _submit(self, preview: _Preview) -> None:
        route = choose_route(
            self.canfar_submit if self.canfar_submit_checked else None, sandbox=self.sandbox
        )
        inputs = preview.inputs
        try:
            assert preview.rewrite is not None and inputs.flavor is not None
            job_file = inputs.submit_dir / "submitted.sub"
            if route.canfar_submit is not None:
                job_file = await asyncio.to_thread(self._job_file, inputs.text)
            result = await submit_batch(
                route,
                self.queue,
                job_file=job_file,
                rewritten=preview.rewrite.text,
                image=preview.rewrite.image,
                flavor=inputs.flavor.name,
                openrc=self.openrc,
                password_provider=self.password_provider,
            )
        except (ClientError, OSError) as error:
            if isinstance(error, OSError):
                error = InvalidInput(f"cannot write the file for canfar_submit: {error}")
            self.submitting = False
            self.query_one("#submit-go", Button).disabled = False
            self.notify(error.message, title="Submit failed", severity="error", timeout=12)
            return
        self.dismiss(result)
