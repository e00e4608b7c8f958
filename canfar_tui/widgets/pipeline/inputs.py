"""The Pipeline tab's form: IDs, VOSpace folder, detection parameters, snapshot and flavor.

The IDs are typed, pasted or read from a file (``ctrl+o``); the detection parameters come
from the Detect tab until edited here; the snapshots and flavors are the cloud's, with a
warning for a snapshot that cannot be booted or misses later changes. ``ctrl+g`` makes the
job script and the submit file from the form (:meth:`InputsPart.form_spec`): the seed's own
steps, or canfar-tui with the active profile where the worker is known to have it
(:func:`~canfar_tui.batch.pipeline_inputs.script_choice`); one line above the files says
which and why. ``ctrl+t`` marks the chosen snapshot as having canfar-tui (or not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from rich.text import Text
from textual import on, work
from textual.widgets import ContentSwitcher, Input, Select, Static, TextArea

from canfar_tui.batch.choices import batch_proxy
from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    PipelineError,
    PipelineSpec,
    job_script,
    parse_ids,
    submit_file,
    validate_vospace_folder,
)
from canfar_tui.batch.pipeline_inputs import (
    ScriptChoice,
    detect_setup,
    format_overrides,
    parse_overrides_text,
    script_choice,
    snapshot_warning,
)
from canfar_tui.clients.base import ClientError
from canfar_tui.detection.params import DEFAULT_COLUMNS, DetectionParams
from canfar_tui.logs import get_logger
from canfar_tui.widgets.pipeline.preview import PreviewPart

__all__ = ["ID_FILE_SUFFIXES", "MAX_ID_FILE_BYTES", "InputsPart"]

log = get_logger("pipeline")

#: Largest ID list read with ctrl+o.
MAX_ID_FILE_BYTES: Final = 1 << 20
#: Suffixes the ID file picker shows.
ID_FILE_SUFFIXES: Final = (".txt", ".lst", ".list", ".ids", ".csv", ".dat")


class InputsPart(PreviewPart):
    """The form: IDs, folder, parameters, snapshot and flavor; generating the files."""

    def use_detect_overrides(self, raw: Mapping[str, str]) -> None:
        """Take the Detect form's typed parameters only (the default columns)."""
        self.use_detect_setup(raw)

    def use_detect_setup(
        self,
        raw: Mapping[str, str],
        base: DetectionParams | None = None,
        columns: tuple[str, ...] | None = None,
        catalogue_format: str | None = None,
    ) -> None:
        """Take the Detect tab's setup (``p`` there): its values, .sex, columns and format."""
        self._set_detect(raw, base, columns, catalogue_format)
        self.query_one("#pipeline-overrides", Input).value = self._detect_text or ""
        text = self._detect_text or "the defaults"
        setup = self.detect_batch
        extra = [*setup.notes, *([self.detect_problem] if self.detect_problem else [])]
        self.notify(
            "\n".join([f"Detection from the Detect tab: {text}{self._setup_summary()}", *extra]),
            title="Pipeline",
            severity="warning" if self.detect_problem else "information",
        )
        self._show_status()

    def _set_detect(
        self,
        raw: Mapping[str, str],
        base: DetectionParams | None,
        columns: tuple[str, ...] | None,
        catalogue_format: str | None,
    ) -> None:
        setup, problem = detect_setup(raw, base, columns, catalogue_format)
        self.detect_batch, self.detect_problem = setup, problem
        self._detect_text = format_overrides(setup.overrides)

    def _setup_summary(self) -> str:
        """``, 30 columns, FITS_LDAC, 1 file`` — what the job takes besides the values."""
        setup = self.detect_batch
        parts = []
        if setup.columns != DEFAULT_COLUMNS:
            parts.append(f"{len(setup.columns)} columns")
        if setup.catalog_type is not None:
            parts.append(setup.catalog_type)
        if setup.files:
            parts.append(", ".join(name for name, _ in setup.files))
        return "".join(f", {part}" for part in parts)

    def _take_detect_params(self) -> None:
        """Take the Detect tab's setup; its values fill the overrides unless typed here."""
        from canfar_tui.widgets.detect.view import DetectView

        detect = self.context.navigation.view("detect")
        if not isinstance(detect, DetectView):
            return
        box = self.query_one("#pipeline-overrides", Input)
        edited = (self._detect_text is not None and box.value != self._detect_text) or (
            self._detect_text is None and bool(box.value.strip())
        )
        previous = self._detect_text
        self._set_detect(*detect.batch_source())  # columns, files, format: always the tab's
        if edited:
            self._detect_text = previous
            return  # edited here: the user's values win
        box.value = self._detect_text or ""

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
        parts.append(f"detect: {overrides or 'defaults'}{self._setup_summary()}")
        if self.detect_problem:
            parts.append(f"! {self.detect_problem}")
        if clients.storage is None:
            parts.append(f"catalogues not checked: {clients.why_missing('storage')}")
        if extra:
            parts.append(extra)
        status.update(" · ".join(parts))

    @on(Input.Changed, "#pipeline-folder, #pipeline-overrides")
    @on(TextArea.Changed, "#pipeline-ids")
    def _form_changed(self) -> None:
        self._show_status()

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

    def form_spec(self) -> PipelineSpec:
        """The pipeline the form describes (PipelineError with one line when it cannot)."""
        ids = parse_ids(self.query_one("#pipeline-ids", TextArea).text)
        folder = self.query_one("#pipeline-folder", Input).value
        if not folder.strip():
            raise PipelineError("name the VOSpace folder for the catalogues (vos:USER/…/)")
        folder = validate_vospace_folder(folder)
        if self.detect_problem:
            raise PipelineError(f"on the Detect tab: {self.detect_problem}")
        setup = self.detect_batch
        carried = [name for name, _ in setup.files]
        text = self.query_one("#pipeline-overrides", Input).value
        overrides = parse_overrides_text(text, carried)
        choice = self.script_choice()
        return PipelineSpec(
            ids,
            folder,
            overrides,
            choice.command,
            choice.workers,
            profile=self.context.settings.profile.name,
            steps=choice.steps,
            install_proxy=choice.install_proxy,
            columns=setup.columns,
            files=setup.files,
            catalog_type=setup.catalog_type,
        )

    def script_choice(self) -> ScriptChoice:
        """The kind of job script for the profile's queue and the chosen snapshot."""
        return script_choice(
            self.context.clients.queue, self.selected_image, self.canfar_tui_images
        )

    def _show_script_kind(self) -> None:
        """One line above the files: which kind of job script was generated, and why."""
        line = self.query_one("#pipeline-kind", Static)
        if self.spec is None:
            line.display = False
            return
        choice = self.script_choice()
        text = choice.reason
        if choice.steps != self.spec.steps:
            text = f"{text} · ctrl+g makes the job script again"
        elif self.selected_image is not None and choice.install_proxy:
            has = "has not" if choice.steps == CANFAR_TUI_STEPS else "has"
            text = f"{text} · ctrl+t: it {has}"
        line.update(Text(text))
        line.display = True

    def action_mark_canfar_tui(self) -> None:
        """Mark the chosen snapshot as having canfar-tui installed, or not any more."""
        image = self.selected_image
        if image is None:
            self.notify("Choose a snapshot first.", title="Pipeline", severity="warning")
            return
        self._mark_canfar_tui(image.id, image.name, image.id not in self.canfar_tui_images)

    @work(group="pipeline-mark", exit_on_error=False)
    async def _mark_canfar_tui(self, image_id: str, name: str, has_it: bool) -> None:
        from canfar_tui.preferences import PreferencesError, PreferenceStore

        store = PreferenceStore.for_settings(self.context.settings)
        try:
            await asyncio.to_thread(store.set_canfar_tui_image, image_id, has_it)
        except PreferencesError as error:
            self.notify(str(error), title="Pipeline", severity="error")
            return
        marked = set(self.canfar_tui_images)
        if has_it:
            marked.add(image_id)
        else:
            marked.discard(image_id)
        self.canfar_tui_images = frozenset(marked)
        what = "has canfar-tui" if has_it else "has no canfar-tui"
        self.notify(f"{name} {what}: ctrl+g makes the job script for it.", title="Pipeline")
        self._show_script_kind()

    def action_generate(self) -> None:
        try:
            spec = self.form_spec()
        except PipelineError as error:
            self.notify(str(error), title="Pipeline", severity="error")
            self._show_status(f"not generated: {error}")
            return
        script, submit = job_script(spec), submit_file(spec, proxy=self.job_proxy)
        self.spec = spec
        self.generated = (script, submit)
        self.query_one("#pipeline-script", TextArea).load_text(script)
        self.query_one("#pipeline-submit", TextArea).load_text(submit)
        self._title_files()
        self._show_script_kind()
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

    @on(TextArea.Changed, "#pipeline-script, #pipeline-submit")
    def _files_changed(self) -> None:
        self._title_files()
        self._schedule()

    @on(Select.Changed, "#pipeline-image, #pipeline-flavor")
    def _choice_changed(self) -> None:
        self._show_warning()
        self._show_script_kind()
        self._schedule()

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
        try:
            self.canfar_tui_images = await asyncio.to_thread(store.canfar_tui_images)
        except (PreferencesError, OSError) as error:
            log.warning("%s", error)
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

    def _show_warning(self, message: str | None = None) -> None:
        text = (
            message
            if message is not None
            else snapshot_warning(self.selected_image, self.instances)
        )
        warning = self.query_one("#pipeline-warning", Static)
        warning.update(Text(f"! {text}") if text else "")
        warning.display = bool(text)
