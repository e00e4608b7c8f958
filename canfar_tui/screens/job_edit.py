"""Edit a held (or idle) HTCondor job and release it: ``condor_qedit`` + ``condor_release``.

:class:`JobEditScreen` is a modal form over one job of the user. It reads the job's ClassAd
(``job_ad``), shows why the job is held (``HoldReason``) and the attributes a user may change
(:data:`~canfar_tui.clients.base.EDITABLE_JOB_ATTRIBUTES`) prefilled from the ad, in plain
words: arguments and environment in HTCondor's new syntax (``'…'`` groups words), CPUs, memory
and disk as numbers or sizes (``7G``), the ``Requirements`` expression, the VM image and
flavor. Saving checks every field first (one line naming the field when one is wrong, and
nothing is sent), then sends only the changed attributes with
:meth:`~canfar_tui.clients.base.SupportsEditJob.edit_job` and, when "Release now" is ticked
(the default for a held job), releases the job; one notification says what happened. In
read-only mode the form shows the values but refuses to save.

:func:`open_job_edit` is the entry point for views: it refuses (one notification) in
read-only mode, without a queue that can edit jobs, or for a job that is neither held nor idle,
and otherwise opens the form.

| key               | action                                  |
|-------------------|-----------------------------------------|
| `ctrl+s`, `enter` | check, save (and release)               |
| `tab`/`shift+tab` | next/previous field                     |
| `escape`          | close without changing anything         |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from canfar_tui.batch.resources import (
    parse_request_cpus,
    parse_request_disk_kb,
    parse_request_memory_mb,
)
from canfar_tui.clients.base import (
    ClientError,
    QueueClient,
    SupportsEditJob,
    classad_string,
)
from canfar_tui.clients.queue.edit_language import (
    join_v2_arguments,
    split_v1_arguments,
    split_v2_arguments,
    split_v2_environment,
)
from canfar_tui.models import Job, JobId, JobStatus

__all__ = [
    "FIELDS",
    "FieldError",
    "JobEditScreen",
    "edit_expressions",
    "form_values",
    "open_job_edit",
]

#: How long error notifications stay, seconds.
_ERROR_SECONDS = 12


@dataclass(frozen=True, slots=True)
class EditField:
    """One editable attribute: its ClassAd name, its label and a hint of what to type."""

    attribute: str
    label: str
    placeholder: str


#: The form's fields, in order (the attributes of EDITABLE_JOB_ATTRIBUTES).
FIELDS: tuple[EditField, ...] = (
    EditField("Arguments", "Arguments", "e.g. 1056215p --fast  ('two words' for one argument)"),
    EditField("Environment", "Environment", "NAME=value …  (NAME='a b' for spaces)"),
    EditField("RequestCpus", "CPUs", "request_cpus, e.g. 2"),
    EditField("RequestMemory", "Memory", "request_memory in MB, or with a unit: 7G"),
    EditField("RequestDisk", "Disk", "request_disk in KiB, or with a unit: 20G"),
    EditField("Requirements", "Requirements", "ClassAd expression, e.g. TARGET.Memory >= 4096"),
    EditField("VMImage", "VM image", "+VMImage: the snapshot the job's VM boots"),
    EditField("VMInstanceType", "VM flavor", "+VMInstanceType, e.g. c2-7.5gb-30"),
)
_LABELS = {field.attribute: field.label for field in FIELDS}


class FieldError(ValueError):
    """A field's value is wrong; ``message`` is one line that names the field."""

    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.message = message


def _text(value: object) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value)


def form_values(ad: Mapping[str, object]) -> dict[str, str]:
    """The form's text for each field, from a job ad.

    ``Arguments`` (new syntax) is shown as it is; an old-syntax ``Args`` is shown in the new
    syntax so that saving it back means the same argv.
    """
    values = {field.attribute: _text(ad.get(field.attribute)) for field in FIELDS}
    if not isinstance(ad.get("Arguments"), str) and isinstance(ad.get("Args"), str):
        values["Arguments"] = join_v2_arguments(split_v1_arguments(str(ad["Args"])))
    return values


def edit_expressions(original: Mapping[str, str], entered: Mapping[str, str]) -> dict[str, str]:
    """The ``edit_job`` attributes for the fields that changed; FieldError for a bad one."""
    changes: dict[str, str] = {}
    for field in FIELDS:
        name = field.attribute
        text = entered.get(name, "").strip()
        if text == original.get(name, "").strip():
            continue
        label = field.label
        if name == "Arguments":
            try:
                split_v2_arguments(text)
            except ValueError as error:
                raise FieldError(name, f"{label}: {error}.") from None
            changes[name] = classad_string(text)
        elif name == "Environment":
            try:
                split_v2_environment(text)
            except ValueError as error:
                raise FieldError(name, f"{label}: {error}.") from None
            changes[name] = classad_string(text)
        elif name == "RequestCpus":
            try:
                cpus = parse_request_cpus(text)
            except ValueError:
                raise FieldError(name, f"{label}: {text!r} is not a whole number.") from None
            if cpus < 1:
                raise FieldError(name, f"{label}: at least 1.")
            changes[name] = str(cpus)
        elif name == "RequestMemory":
            try:
                changes[name] = str(parse_request_memory_mb(text))
            except ValueError:
                raise FieldError(
                    name, f"{label}: {text!r} is not a size like 4096 (MB) or 4G."
                ) from None
        elif name == "RequestDisk":
            try:
                changes[name] = str(parse_request_disk_kb(text))
            except ValueError:
                raise FieldError(
                    name, f"{label}: {text!r} is not a size like 20971520 (KiB) or 20G."
                ) from None
        elif name == "Requirements":
            if not text:
                raise FieldError(name, f"{label}: empty; write true to require nothing.")
            changes[name] = text
        else:
            if not text:
                raise FieldError(name, f"{label}: cannot be empty.")
            changes[name] = classad_string(text)
    return changes


def _queue_of(app: App[Any]) -> QueueClient | None:
    clients = getattr(app, "clients", None)
    queue = getattr(clients, "queue", None) if clients is not None else None
    return queue if isinstance(queue, QueueClient) else None


def open_job_edit(
    app: App[Any], job: Job, *, on_done: Callable[[bool], None] | None = None
) -> None:
    """Open the edit form for ``job`` (the Queue tab's and the job detail's ``e``).

    Refuses with one notification in read-only mode, without a queue that can edit jobs, or
    when the job is neither held nor idle. ``on_done`` gets True when something was saved.
    """
    if getattr(app, "read_only", False):
        app.notify("Read-only mode: jobs cannot be edited.", severity="warning")
        return
    queue = _queue_of(app)
    if queue is None:
        app.notify("No HTCondor queue in this profile.", severity="warning")
        return
    if not isinstance(queue, SupportsEditJob):
        app.notify(f"The {queue.backend_label} queue cannot edit jobs.", severity="warning")
        return
    if job.status not in (JobStatus.HELD, JobStatus.IDLE):
        state = job.status.name.lower()
        app.notify(
            f"Job {job.id} is {state}; only held or idle jobs can be edited.", severity="warning"
        )
        return

    def done(saved: bool | None) -> None:
        if on_done is not None:
            on_done(bool(saved))

    app.push_screen(JobEditScreen(queue, job.id), done)


class JobEditScreen(ModalScreen[bool]):
    """Change a held or idle job's arguments, environment, requests or VM; then release it."""

    DEFAULT_CSS = """
    JobEditScreen {
        align: center middle;
    }
    #job-edit-dialog {
        max-width: 110;
        max-height: 100%;
    }
    #job-edit-why {
        height: auto;
        max-height: 3;
        overflow-y: auto;
        color: $warning;
    }
    #job-edit-fields {
        height: auto;
        max-height: 9;
        padding-top: 1;
    }
    .job-edit-row {
        height: 1;
    }
    .job-edit-label {
        width: 14;
    }
    .job-edit-row Input {
        width: 1fr;
    }
    #job-edit-error {
        height: auto;
        color: $error;
    }
    #job-edit-dialog .dialog-buttons {
        padding-top: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="job_edit.save", tooltip="Check, save, release"),
        Binding("escape", "cancel", "Cancel", id="job_edit.cancel", tooltip="Change nothing"),
    ]

    def __init__(self, client: QueueClient, job_id: JobId, *, read_only: bool = False) -> None:
        super().__init__()
        self.client = client
        self.job_id = job_id
        self.read_only = read_only
        self.ad: Mapping[str, object] | None = None
        self.original: dict[str, str] = {}
        self.status: JobStatus | None = None
        self.saving = False
        #: The one-line problem shown under the form ("" when none).
        self.problem = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Vertical(id="job-edit-dialog", classes="dialog"):
            yield Label(f"Edit job {self.job_id}", id="job-edit-title", classes="dialog-title")
            yield Static("Reading the job…", id="job-edit-why", markup=False)
            with VerticalScroll(id="job-edit-fields"):
                for field in FIELDS:
                    with Horizontal(classes="job-edit-row"):
                        yield Label(field.label, classes="job-edit-label")
                        yield Input(
                            placeholder=field.placeholder,
                            id=f"job-edit-{field.attribute}",
                            compact=True,
                            disabled=True,
                        )
            yield Checkbox("Release now", True, id="job-edit-release", compact=True)
            yield Static("", id="job-edit-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="job-edit-cancel", compact=True)
                yield Button(
                    "Save (ctrl+s)",
                    id="job-edit-save",
                    variant="warning",
                    disabled=True,
                    compact=True,
                )

    def on_mount(self) -> None:
        if not isinstance(self.client, SupportsEditJob):
            self._set_problem(f"The {self.client.backend_label} queue cannot edit jobs.")
        self.query_one("#job-edit-cancel", Button).focus()
        self.load()

    def field(self, attribute: str) -> Input:
        """The input of one attribute."""
        return self.query_one(f"#job-edit-{attribute}", Input)

    # ------------------------------------------------------------------ loading

    @work(exclusive=True, group="job-edit-load", exit_on_error=False)
    async def load(self) -> None:
        """Read the job's ClassAd and fill the form."""
        try:
            ad = await self.client.job_ad(self.job_id)
        except ClientError as error:
            self.query_one("#job-edit-why", Static).update(Text(error.message))
            self._set_problem(error.message)
            return
        self.ad = ad
        raw = ad.get("JobStatus")
        try:
            self.status = JobStatus(int(raw)) if isinstance(raw, int) else None
        except ValueError:
            self.status = None
        self.original = form_values(ad)
        for field in FIELDS:
            self.field(field.attribute).value = self.original[field.attribute]
        held = self.status == JobStatus.HELD
        editable = self.status in (JobStatus.HELD, JobStatus.IDLE)
        why = self.query_one("#job-edit-why", Static)
        if held:
            reason = _text(ad.get("HoldReason")) or "no reason given"
            why.update(Text(f"Held: {reason}"))
            self.query_one("#job-edit-title", Label).update(f"Edit job {self.job_id} and release")
        elif self.status == JobStatus.IDLE:
            why.update(Text("Idle: the changes apply when it starts."))
        else:
            state = self.status.name.lower() if self.status is not None else "in an unknown state"
            why.update(Text(f"This job is {state}."))
        release = self.query_one("#job-edit-release", Checkbox)
        release.display = held
        if self.read_only:
            self._set_problem("Read-only mode: nothing can be changed.")
        elif not editable:
            self._set_problem(f"Job {self.job_id}: only held or idle jobs can be edited.")
        elif isinstance(self.client, SupportsEditJob):
            for field in FIELDS:
                self.field(field.attribute).disabled = False
            self.query_one("#job-edit-save", Button).disabled = False
            self.field("Arguments").focus()

    # ------------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#job-edit-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#job-edit-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def entered(self) -> dict[str, str]:
        """What the form holds now, by attribute."""
        return {field.attribute: self.field(field.attribute).value for field in FIELDS}

    def action_save(self) -> None:
        if self.read_only:
            self.notify("Read-only mode: jobs cannot be edited.", severity="warning")
            return
        if self.saving:
            return
        if self.ad is None or self.status not in (JobStatus.HELD, JobStatus.IDLE):
            self.notify(self.problem or "The job is still being read.", severity="warning")
            return
        if not isinstance(self.client, SupportsEditJob):
            self.notify(f"The {self.client.backend_label} queue cannot edit jobs.")
            return
        try:
            changes = edit_expressions(self.original, self.entered())
        except FieldError as error:
            self._set_problem(error.message)
            self.field(error.attribute).focus()
            return
        release = (
            self.status == JobStatus.HELD and self.query_one("#job-edit-release", Checkbox).value
        )
        if not changes and not release:
            self._set_problem("Nothing changed.")
            return
        self._set_problem("")
        self.saving = True
        self.query_one("#job-edit-save", Button).disabled = True
        self._save(self.client, changes, bool(release))

    @work(exclusive=True, group="job-edit-save", exit_on_error=False)
    async def _save(self, client: SupportsEditJob, changes: dict[str, str], release: bool) -> None:
        """edit_job, then release; one notification; the form stays open on a failure."""
        names = ", ".join(_LABELS[name].lower() for name in changes)
        if changes:
            try:
                await client.edit_job(self.job_id, changes)
            except ClientError as error:
                self._failed(error.message, "Edit failed")
                return
        released = 0
        if release:
            try:
                released = await self.client.release([self.job_id])
            except ClientError as error:
                saved = f"Saved ({names}), but " if changes else ""
                self._failed(f"{saved}the release failed: {error.message}", "Release failed")
                if changes:
                    self.original = self.entered()
                return
        if changes and release:
            message = f"Job {self.job_id}: changed {names}; " + (
                "released." if released else "it was no longer held."
            )
        elif changes:
            message = f"Job {self.job_id}: changed {names}."
        else:
            message = f"Job {self.job_id}: " + (
                "released." if released else "it was no longer held."
            )
        self.notify(message, title="Queue")
        self.dismiss(True)

    def _failed(self, message: str, title: str) -> None:
        self.saving = False
        self.query_one("#job-edit-save", Button).disabled = False
        self._set_problem(message)
        self.notify(message, title=title, severity="error", timeout=_ERROR_SECONDS)

    def _set_problem(self, message: str) -> None:
        self.problem = " ".join(message.split())
        self.query_one("#job-edit-error", Static).update(Text(self.problem))
