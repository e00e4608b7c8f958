"""The Detect tab: source detection on a local FITS / ``.fits.fz`` image, in the dashboard.

Choose an image (type a path or browse), adjust the SExtractor parameters, run. A grid shows
each extension's progress (``·`` waiting, ``…`` running, the source count when done, ``✗``
failed); when the run ends the summary gives sources per CCD, the time and one catalogue
column previewed (median and range, and its median in each CCD below the grid; ``v`` or
``<`` ``>`` choose it), a histogram shows a magnitude column (MAG_AUTO unless ``m`` chooses
MAG_APER[2], MAG_ISO…; above the grid, as wide as its column), and a quick-look draws one
CCD with its detections marked (turned a quarter when that makes it much larger). In a short
terminal (80×24) the form's fields are one line high. The catalogue is written atomically to
the output path (default: next to the image, ``1056213p.cat``).

The third row of the form loads a SExtractor configuration (``.sex``: its parameters fill
the form, its ``CATALOG_TYPE`` the format, its ``PARAMETERS_NAME`` the columns; what
canfar-tui ignores is listed one line each) and a ``.param`` column list (the columns
canfar-tui cannot compute are named and left out); ``enter`` in either field loads it,
``ctrl+o`` there browses for one. ``ctrl+l`` edits the columns
(:class:`~canfar_tui.screens.detect_columns.ColumnsScreen`: add any column canfar-tui
computes, remove, reorder, vector sizes, save as a ``.param`` file).

The detection engine (:mod:`canfar_tui.detection`) runs in a worker thread that drives its
own worker processes; the UI only receives progress events. Nothing heavy is imported until
the first run.

| key       | action                                  |
|-----------|-----------------------------------------|
| `ctrl+r`  | run detection                           |
| `ctrl+o`  | browse for an image (a .sex, a .param)  |
| `ctrl+l`  | edit the output columns                 |
| `escape`  | leave the text field; cancel the run    |
| `[` / `]` | quick-look of the previous / next CCD   |
| `v`       | choose the column the summary previews  |
| `<` / `>` | preview the previous / next column      |
| `m`       | choose the histogram's magnitude column |
| `p`       | batch: the Pipeline tab, this setup     |

The form's fields take every letter and digit typed into them; ``escape`` (or ``tab`` past the
last one) leaves them, and then the tab's keys and the dashboard's (``1``…``8``, ``q``) work.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from canfar_tui.logs import get_logger
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.detect.files import (
    CONFIG_SUFFIXES,
    FORM_PARAMETERS,
    FORMAT_OPTIONS,
    PARAM_SUFFIXES,
    DetectFilesMixin,
)

if TYPE_CHECKING:
    from canfar_tui.detection import DetectionResult, ExtensionInfo, ProgressEvent

log = get_logger("detect")

#: Below this height (an 80×24 terminal) the form's fields lose their borders.
SHORT_HEIGHT = 30

IMAGE_SUFFIXES = (".fits", ".fits.fz", ".fit", ".fz", ".fits.gz")
#: Columns never previewed first (counters, not measurements).
COUNTERS = ("NUMBER", "EXT_NUMBER")


class SegmentLines:
    """A Rich renderable made of ready-made lines of segments."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()


class DetectView(DetectFilesMixin, Vertical, can_focus=True):
    """Local source detection with a parameter form, progress grid and results."""

    AREA: ClassVar[str] = "detect"
    TITLE: ClassVar[str] = "Detect"
    DESTRUCTIVE_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    BINDINGS = [
        Binding("ctrl+r", "run", "Run", id="detect.run", tooltip="Run source detection"),
        Binding(
            "ctrl+o",
            "browse",
            "Browse",
            id="detect.browse",
            tooltip="Choose an image (in the .sex or .param field: one of those)",
        ),
        Binding(
            "ctrl+l",
            "edit_columns",
            "Columns",
            id="detect.columns",
            tooltip="Edit the output columns (add, remove, reorder, sizes; save a .param)",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="detect.cancel",
            tooltip="Leave the text field (then 1…8, [ ] and p work); cancel a run",
        ),
        Binding(
            "left_square_bracket",
            "show_ccd(-1)",
            "Prev CCD",
            id="detect.previous_ccd",
            tooltip="Quick-look of the previous CCD",
            show=False,
        ),
        Binding(
            "right_square_bracket",
            "show_ccd(1)",
            "Next CCD",
            id="detect.next_ccd",
            tooltip="Quick-look of the next CCD",
            show=False,
        ),
        Binding(
            "v",
            "choose_preview",
            "Preview…",
            id="detect.preview",
            tooltip="Choose the catalogue column the summary previews",
            show=False,
        ),
        Binding(
            "less_than_sign",
            "cycle_preview(-1)",
            "Prev column",
            id="detect.previous_column",
            tooltip="Preview the previous catalogue column",
            show=False,
        ),
        Binding(
            "greater_than_sign",
            "cycle_preview(1)",
            "Next column",
            id="detect.next_column",
            tooltip="Preview the next catalogue column",
            show=False,
        ),
        Binding(
            "m",
            "choose_histogram",
            "Histogram…",
            id="detect.histogram",
            tooltip="Choose the magnitude column of the histogram",
            show=False,
        ),
        Binding(
            "p,ctrl+b",
            "batch",
            "Batch…",
            id="detect.batch",
            tooltip="Run these parameters on many exposures: the Pipeline tab",
        ),
    ]

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.cancel_event = threading.Event()
        self.running = False
        self.extensions: list[ExtensionInfo] = []
        self.cells: dict[int, str] = {}
        self.result: DetectionResult | None = None
        self.catalogue_path: Path | None = None
        self.image_path: Path | None = None
        self.quicklook_index = 0
        self.last_error: str | None = None
        self.runner: Any = None
        self.quicklook_caption = ""
        #: The histogram's values (the last run's magnitude column; drawn again on resize).
        self.magnitudes: list[float] = []
        #: The catalogue column the summary previews and the histogram's column.
        self.preview_field: str | None = None
        self.histogram_field: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            "Detect · choose an image and press ctrl+r", id="detect-status", classes="view-status"
        )
        with Vertical(id="detect-form"):
            with Horizontal(id="detect-paths"):
                yield Input(
                    placeholder="image: path to .fits or .fits.fz (ctrl+o: browse)",
                    id="detect-image",
                )
                yield Input(placeholder="catalogue: next to the image", id="detect-output")
            with Horizontal(id="detect-params"):
                for key, label, input_id in FORM_PARAMETERS:
                    yield Label(label)
                    yield Input(placeholder=_default_text(key), id=input_id)
                yield Select(
                    list(FORMAT_OPTIONS),
                    value="ascii_head",
                    allow_blank=False,
                    id="detect-format",
                )
            with Horizontal(id="detect-files"):
                yield Input(placeholder=".sex config (enter: load)", id="detect-config")
                yield Input(placeholder=".param columns (enter: load)", id="detect-param")
                yield Static("", id="detect-columns")
        yield Static("", id="detect-notes")
        with Horizontal(id="detect-body"):
            with VerticalScroll(id="detect-left"):
                # The results first, so that a short terminal shows them: the grid
                # (the run's progress) is alone at the top while the run lasts.
                yield Static("", id="detect-column-list")
                yield Static("", id="detect-summary")
                yield Static("", id="detect-histogram")
                yield Static("", id="detect-grid")
            yield Static("", id="detect-quicklook")

    def set_active(self, active: bool) -> None:
        """Detect has no poller; nothing to pause."""

    def on_mount(self) -> None:
        for result_id in ("#detect-summary", "#detect-histogram", "#detect-notes"):
            self.query_one(result_id, Static).display = False
        self._show_columns()

    def on_resize(self) -> None:
        """A short terminal (80×24) gets the one-line form and a shorter histogram."""
        short = self.size.height < SHORT_HEIGHT
        if short != self.has_class("-short"):
            self.set_class(short, "-short")
            for field in self.query("#detect-form Input, #detect-form Select"):
                if isinstance(field, Input | Select):
                    field.compact = short
            self._draw_summary()
        self.call_after_refresh(self._draw_histogram)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Keep a hidden form from taking the focus back (and the tab with it).

        When the tab is left, the focused field is hidden and Textual hands the focus to a
        sibling field, hidden too; the tabs would then switch back here. The focus goes to
        the tab now shown instead.
        """
        if all(node.display for node in self.ancestors_with_self if isinstance(node, Widget)):
            return
        event.stop()
        self.screen.set_focus(None)
        shown: Any = getattr(self.app, "active_view", None)
        if shown is not None and shown is not self:
            shown.focus_default()

    def on_unmount(self) -> None:
        self.cancel_event.set()
        if self.runner is not None:
            self.runner.close()

    def focus_default(self) -> None:
        """Focus the image path, the first thing to fill in."""
        self.query_one("#detect-image", Input).focus()

    # ------------------------------------------------------------------ actions

    def action_browse(self) -> None:
        """``ctrl+o``: a file picker for the field in use (image, ``.sex`` or ``.param``)."""
        from canfar_tui.screens.file_picker import FilePickerScreen

        focused = self.screen.focused
        field_id = focused.id if isinstance(focused, Input) else None
        title = "Choose a FITS image"
        suffixes: tuple[str, ...] = IMAGE_SUFFIXES
        if field_id == "detect-config":
            title, suffixes = "Choose a SExtractor configuration (.sex)", CONFIG_SUFFIXES
        elif field_id == "detect-param":
            title, suffixes = "Choose a SExtractor parameter file (.param)", PARAM_SUFFIXES
        else:
            field_id = "detect-image"
        field = self.query_one(f"#{field_id}", Input)
        current = field.value.strip() or self.query_one("#detect-image", Input).value.strip()
        start = Path(current).expanduser().parent if current else Path.cwd()

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            field.value = str(path)
            if field_id == "detect-config":
                self._load_config()
            elif field_id == "detect-param":
                self._load_param()

        self.app.push_screen(FilePickerScreen(title, start, suffixes), chosen)

    def action_cancel(self) -> None:
        """``escape``: leave the form's field for the view itself; cancel a run."""
        focused = self.screen.focused
        if focused is not None and focused is not self and self in focused.ancestors:
            self.focus()
        if self.running:
            self.cancel_event.set()
            self._status("Cancelling…")

    def action_run(self) -> None:
        if self.running:
            self.notify("A detection is already running (escape cancels it).", severity="warning")
            return
        try:
            image, output, fmt, params = self._read_form()
        except ValueError as error:
            self.notify(str(error), title="Detect", severity="error")
            self._status(f"Not started: {error}")
            return
        self.running = True
        self.cancel_event = threading.Event()
        self.result = None
        self.extensions = []
        self.cells = {}
        self.image_path = image
        self.catalogue_path = output
        self.last_error = None
        for widget_id in (
            "#detect-grid",
            "#detect-summary",
            "#detect-histogram",
            "#detect-quicklook",
        ):
            self.query_one(widget_id, Static).update("")
        self.magnitudes = []
        self.query_one("#detect-column-list", Static).display = False
        for result_id in ("#detect-summary", "#detect-histogram"):
            self.query_one(result_id, Static).display = False
        self._status(f"Opening {image.name}…")
        self._detect(image, output, fmt, params, self.cancel_event)

    def action_show_ccd(self, step: int) -> None:
        if self.result is None or not self.extensions:
            return
        self.quicklook_index = (self.quicklook_index + step) % len(self.extensions)
        self._load_quicklook(self.quicklook_index)

    # ------------------------------------------------------------------ form

    def _read_form(self) -> tuple[Path, Path, str, Any]:
        """Validate the form; raises ValueError with a one-line message."""
        from canfar_tui.detection import DetectionParams, ParamError, catalogue_path_for

        text = self.query_one("#detect-image", Input).value.strip()
        if not text:
            raise ValueError("choose an image first (type a path or press ctrl+o)")
        image = Path(text).expanduser()
        if not image.is_file():
            raise ValueError(f"{image}: no such file")
        # A .sex or .param path typed but not yet loaded (no enter) is loaded now.
        if self._field_path("#detect-config") != self.config_path and not self._load_config():
            raise ValueError(self.last_load_error)
        if self._field_path("#detect-param") != self.param_path and not self._load_param():
            raise ValueError(self.last_load_error)
        fmt = str(self.query_one("#detect-format", Select).value)
        try:
            params = (self.config_params or DetectionParams()).with_overrides(self.form_overrides())
            if self.columns is not None:
                params = params.with_columns(self.columns)
        except ParamError as error:
            raise ValueError(str(error)) from None
        output_text = self.query_one("#detect-output", Input).value.strip()
        if not output_text:
            output = catalogue_path_for(image, image.parent, fmt)
        else:
            output = Path(output_text).expanduser()
            if output.is_dir():
                output = catalogue_path_for(image, output, fmt)
        if not output.parent.is_dir():
            raise ValueError(f"{output.parent}: no such folder for the catalogue")
        return image, output, fmt, params

    # ------------------------------------------------------------------ worker

    @work(thread=True, exclusive=True, group="detect", exit_on_error=False)
    def _detect(
        self, image: Path, output: Path, fmt: str, params: Any, cancel: threading.Event
    ) -> None:
        from canfar_tui.detection import (
            DetectionError,
            DetectionRunner,
            ImageFinished,
            write_catalogue,
        )

        if self.runner is None:
            # start() restores the real stderr while it starts the worker processes (Textual
            # has replaced sys.stderr with an object multiprocessing cannot hand on).
            self.runner = DetectionRunner(None)
            self.runner.start()
        try:
            for event in self.runner.run(image, params, cancel):
                if isinstance(event, ImageFinished):
                    try:
                        write_catalogue(event.result, output, fmt)  # type: ignore[arg-type]
                    except (DetectionError, OSError) as error:
                        message = f"catalogue not written: {error}"
                        self.app.call_from_thread(self._finished_with_error, message)
                        return
                self.app.call_from_thread(self._on_event, event)
        finally:
            self.app.call_from_thread(self._stopped)

    def _stopped(self) -> None:
        self.running = False

    def _finished_with_error(self, message: str) -> None:
        self.last_error = message
        self._status(message)
        self.notify(message, title="Detect", severity="error")

    def _on_event(self, event: ProgressEvent) -> None:
        from canfar_tui.detection import (
            ExtensionFailed,
            ExtensionFinished,
            ExtensionStarted,
            ImageCancelled,
            ImageFailed,
            ImageFinished,
            ImageOpened,
        )

        if isinstance(event, ImageOpened):
            self.extensions = list(event.extensions)
            self.cells = {ext.ext_number: "·" for ext in self.extensions}
            skipped = f" ({len(event.skipped)} HDU skipped)" if event.skipped else ""
            self._status(f"{Path(event.path).name}: {len(self.extensions)} extensions{skipped}")
        elif isinstance(event, ExtensionStarted):
            self.cells[event.extension.ext_number] = "…"
        elif isinstance(event, ExtensionFinished):
            self.cells[event.extension.ext_number] = str(event.n_sources)
            self._status(f"{event.done}/{event.total} extensions done")
        elif isinstance(event, ExtensionFailed):
            self.cells[event.extension.ext_number] = "✗"
            self.notify(event.message, title="Extension skipped", severity="warning")
        elif isinstance(event, ImageFinished):
            self.result = event.result
            self._show_result(event.result)
        elif isinstance(event, ImageFailed):
            self.last_error = event.message
            self._status(f"Failed: {event.message}")
            self.notify(event.message, title="Detect", severity="error")
        elif isinstance(event, ImageCancelled):
            self._status("Cancelled; no catalogue was written.")
        self._draw_grid()

    # ------------------------------------------------------------------ drawing

    @property
    def progress(self) -> float:
        """Share of extensions finished (done or failed), 0–1."""
        if not self.cells:
            return 0.0
        finished = sum(1 for cell in self.cells.values() if cell not in ("·", "…"))
        return finished / len(self.cells)

    def _status(self, message: str) -> None:
        self.query_one("#detect-status", Static).update(f"Detect · {message}")

    def _draw_grid(self) -> None:
        text = Text()
        text.append(f"Extensions {self.progress:.0%}\n", style="bold")
        for index, ext in enumerate(self.extensions):
            cell = self.cells.get(ext.ext_number, "·")
            style = "red" if cell == "✗" else ("dim" if cell in ("·", "…") else "")
            text.append(f"{ext.ext_number:>2}:", style="dim")
            text.append(f"{cell:>5} ", style=style)
            if index % 6 == 5:
                text.append("\n")
        self._append_medians(text)
        self.query_one("#detect-grid", Static).update(text)

    def _append_medians(self, text: Text) -> None:
        """After a run: the previewed column's median in each CCD, below the counts."""
        result, field = self.result, self.preview_field
        if result is None or field is None or not self.extensions:
            return
        from canfar_tui.widgets.detect.columns import per_extension_medians

        medians = per_extension_medians(
            result.catalogue, field, [ext.ext_number for ext in self.extensions]
        )
        if medians is None:
            return
        if not text.plain.endswith("\n"):
            text.append("\n")
        text.append(f"{field} median per CCD\n", style="bold")
        width = max(self.query_one("#detect-grid", Static).content_size.width, 13)
        per_row = max(1, width // 13)
        for index, (ext, median) in enumerate(zip(self.extensions, medians, strict=True)):
            text.append(f"{ext.ext_number:>2}:", style="dim")
            text.append(f"{median:>9} ")
            if index % per_row == per_row - 1 and index < len(medians) - 1:
                text.append("\n")

    def _show_result(self, result: DetectionResult) -> None:
        from canfar_tui.widgets.detect.columns import catalogue_fields, magnitude_fields

        fields = catalogue_fields(result.catalogue, result.params.columns)
        if self.preview_field not in fields:
            measured = [name for name in fields if name not in COUNTERS]
            self.preview_field = "MAG_AUTO" if "MAG_AUTO" in fields else (measured or fields)[0]
        magnitudes = magnitude_fields(result.catalogue, result.params.columns)
        if self.histogram_field not in magnitudes:
            first = magnitudes[0] if magnitudes else None
            self.histogram_field = "MAG_AUTO" if "MAG_AUTO" in magnitudes else first
        self._draw_summary()
        self._set_histogram(self.histogram_field)
        self._status(f"Done: {result.n_sources} sources, catalogue saved")
        if any(ext.ok for ext in result.extensions):
            best = max(range(len(result.extensions)), key=lambda i: result.extensions[i].n_sources)
            self.quicklook_index = best
            self._load_quicklook(best)

    def _draw_summary(self) -> None:
        """Sources per CCD, time, the previewed column's median and range, the catalogue."""
        result = self.result
        if result is None:
            return
        from canfar_tui.widgets.detect.columns import field_values, is_magnitude, value_stats

        failed = len(result.failed)
        per_ccd = [ext.n_sources for ext in result.extensions if ext.ok]
        summary = Text()
        summary.append(f"{result.n_sources} sources", style="bold")
        summary.append(f" in {len(per_ccd)} CCDs, {result.seconds:.1f} s\n")
        if per_ccd and not self.has_class("-short"):
            summary.append(
                f"per CCD: min {min(per_ccd)}, median {sorted(per_ccd)[len(per_ccd) // 2]}"
                f", max {max(per_ccd)}\n"
            )
        if failed:
            summary.append(f"{failed} extension(s) skipped\n", style="red")
        field = self.preview_field
        if field is not None:
            values = field_values(result.catalogue, field)
            stats = value_stats(values, magnitude=is_magnitude(field))
            summary.append(f"{field}", style="bold")
            summary.append(f" {stats}\n")
            self._draw_grid()  # its medians per CCD
        catalogue = f"catalogue: {self.catalogue_path}"
        width = self.query_one("#detect-left").content_size.width
        if self.has_class("-short") and width > 20 and len(catalogue) > width:
            catalogue = "catalogue: …" + str(self.catalogue_path)[-(width - 12) :]
        summary.append(catalogue, style="dim")
        panel = self.query_one("#detect-summary", Static)
        panel.update(summary)
        panel.display = True

    def _set_histogram(self, field: str | None) -> None:
        """Draw the histogram of the magnitude column ``field`` (hidden when there is none)."""
        result = self.result
        panel = self.query_one("#detect-histogram", Static)
        self.histogram_field = field
        if result is None or field is None:
            self.magnitudes = []
            panel.display = False
            return
        from canfar_tui.widgets.detect.columns import field_values

        self.magnitudes = [float(value) for value in field_values(result.catalogue, field)]
        panel.display = True
        self._draw_histogram()
        self.call_after_refresh(self._draw_histogram)  # at the width it was laid out to

    def _draw_histogram(self) -> None:
        """The magnitude histogram, as wide as its column (bars never wrap)."""
        if not self.magnitudes:
            return
        from canfar_tui.widgets.quicklook import histogram_text

        panel = self.query_one("#detect-histogram", Static)
        width = panel.content_size.width or self.query_one("#detect-left").content_size.width
        height = 3 if self.has_class("-short") else 5
        panel.update(
            histogram_text(
                self.magnitudes,
                width=max(width, 1),
                height=height,
                label=self.histogram_field or "",
            )
        )

    # ------------------------------------------------------------------ preview choices

    def _preview_fields(self) -> list[str]:
        from canfar_tui.widgets.detect.columns import catalogue_fields

        if self.result is None:
            return []
        return catalogue_fields(self.result.catalogue, self.result.params.columns)

    def action_choose_preview(self) -> None:
        """``v``: choose the catalogue column the summary previews."""
        from canfar_tui.screens.detect_columns import ColumnChoiceScreen

        fields = self._preview_fields()
        if not fields:
            self.notify("Run a detection first (ctrl+r).", title="Detect")
            return

        def chosen(field: str | None) -> None:
            if field is not None:
                self.preview_field = field
                self._draw_summary()

        screen = ColumnChoiceScreen("Preview which column?", fields, self.preview_field)
        self.app.push_screen(screen, chosen)

    def action_cycle_preview(self, step: int) -> None:
        """``<`` / ``>``: preview the previous / next catalogue column."""
        fields = self._preview_fields()
        if not fields:
            return
        index = fields.index(self.preview_field) if self.preview_field in fields else -step
        self.preview_field = fields[(index + step) % len(fields)]
        self._draw_summary()

    def action_choose_histogram(self) -> None:
        """``m``: choose the magnitude column of the histogram."""
        from canfar_tui.screens.detect_columns import ColumnChoiceScreen
        from canfar_tui.widgets.detect.columns import magnitude_fields

        result = self.result
        if result is None:
            self.notify("Run a detection first (ctrl+r).", title="Detect")
            return
        names = magnitude_fields(result.catalogue, result.params.columns)
        if not names:
            self.notify("This catalogue has no magnitude column.", title="Detect")
            return
        screen = ColumnChoiceScreen("Histogram of which magnitude?", names, self.histogram_field)

        def chosen(field: str | None) -> None:
            if field is not None:
                self._set_histogram(field)

        self.app.push_screen(screen, chosen)

    def _load_quicklook(self, index: int) -> None:
        panel = self.query_one("#detect-quicklook", Static)
        size = panel.content_size
        columns, rows = max(size.width, 10), max(size.height - 1, 5)
        self._quicklook(index, columns, rows)

    @work(thread=True, exclusive=True, group="quicklook", exit_on_error=False)
    def _quicklook(self, index: int, columns: int, rows: int) -> None:
        from canfar_tui.detection import DetectionError
        from canfar_tui.detection.reader import read_pixels
        from canfar_tui.widgets.quicklook import render_quicklook, turn_pays

        result, image = self.result, self.image_path
        if result is None or image is None or index >= len(self.extensions):
            return
        ext = self.extensions[index]
        try:
            pixels = read_pixels(image, ext)
        except (DetectionError, OSError) as error:
            self.app.call_from_thread(
                self.query_one("#detect-quicklook", Static).update, f"no quick-look: {error}"
            )
            return
        catalogue = result.catalogue
        mine = catalogue[catalogue["EXT_NUMBER"] == ext.ext_number]
        positions: Sequence[tuple[float, float]] = list(
            zip(mine["X_IMAGE"].tolist(), mine["Y_IMAGE"].tolist(), strict=True)
        )
        turned = turn_pays(pixels.data.shape, columns, rows)
        lines = render_quicklook(pixels.data, positions, columns=columns, rows=rows, turned=turned)
        label = f"{ext.label}, turned (y →)" if turned else ext.label
        caption_text = f"{label}: {len(mine)} sources marked  ([ ] other CCDs)"
        caption = Text(caption_text, style="dim")

        def show() -> None:
            self.quicklook_caption = caption_text
            panel = self.query_one("#detect-quicklook", Static)
            from rich.console import Group

            panel.update(Group(caption, SegmentLines(lines)))

        self.app.call_from_thread(show)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.running = False
            report = getattr(self.app, "report_error", None)
            if report is not None:
                report(event.worker.error, context=event.worker.name)

    @on(Input.Submitted, "#detect-image")
    def _image_submitted(self) -> None:
        self.action_run()

    def form_overrides(self) -> dict[str, str]:
        """The parameters typed in the form (SExtractor key → text), not yet checked."""
        return {
            key: value
            for key, _, input_id in FORM_PARAMETERS
            if (value := self.query_one(f"#{input_id}", Input).value.strip())
        }

    async def action_batch(self) -> None:
        """Open the Pipeline tab with this form's parameters (``p`` / ``ctrl+b``)."""
        # Duck-typed: importing the app or the Pipeline tab here would make an import cycle.
        app: Any = self.app
        ensure_view = getattr(app, "ensure_view", None)
        if ensure_view is None:
            return
        pipeline = await ensure_view("pipeline")
        use = getattr(pipeline, "use_detect_setup", None)
        if use is not None:
            use(*self.batch_source())
        app.show_tab("pipeline")

    def batch_source(self) -> tuple[dict[str, str], Any, tuple[str, ...] | None, str]:
        """What a batch job takes from here: the typed values, the loaded ``.sex``'s
        parameters, the columns (None: the defaults) and the catalogue format."""
        fmt = str(self.query_one("#detect-format", Select).value)
        return self.form_overrides(), self.config_params, self.columns, fmt


def _default_text(key: str) -> str:
    defaults = {
        "DETECT_THRESH": "1.5",
        "DETECT_MINAREA": "3",
        "BACK_SIZE": "64",
        "DEBLEND_MINCONT": "0.005",
        "MAG_ZEROPOINT": "0",
    }
    return defaults[key]
