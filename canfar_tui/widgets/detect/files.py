"""The Detect tab's own SExtractor files: load a ``.sex`` and a ``.param``, edit the columns.

:class:`DetectFilesMixin` is the part of :class:`~canfar_tui.widgets.detect.view.DetectView`
that reads the form's third row: ``enter`` in the ``.sex`` field loads the configuration (its
values fill the form, its ``CATALOG_TYPE`` the format, its ``PARAMETERS_NAME`` the columns;
what canfar-tui ignores is listed one line each below the form); ``enter`` in the ``.param``
field loads the columns (those canfar-tui cannot compute are named, one line, and left out);
``ctrl+l`` opens the column editor
(:class:`~canfar_tui.screens.detect_columns.ColumnsScreen`). A bad file is one line in the
status bar and changes nothing. The detection package is imported only when a file is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import Input, Select, Static

CONFIG_SUFFIXES = (".sex", ".config", ".conf", ".cfg")
PARAM_SUFFIXES = (".param", ".params", ".par")

#: The catalogue formats (CATALOG_TYPE) the form offers: (label, format).
FORMAT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("ASCII_HEAD (.cat)", "ascii_head"),
    ("ASCII", "ascii"),
    ("ASCII_SKYCAT", "ascii_skycat"),
    ("FITS table", "fits"),
    ("FITS_LDAC", "fits_ldac"),
    ("ECSV", "ecsv"),
)

#: (SExtractor key, label, input id) of the parameters the form shows.
FORM_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("DETECT_THRESH", "σ", "detect-thresh"),
    ("DETECT_MINAREA", "min px", "detect-minarea"),
    ("BACK_SIZE", "back", "detect-backsize"),
    ("DEBLEND_MINCONT", "deblend", "detect-mincont"),
    ("MAG_ZEROPOINT", "ZP", "detect-zeropoint"),
)


class DetectFilesMixin(Widget):
    """Loading ``.sex``/``.param`` files and editing the output columns (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The output columns as .param specs (``MAG_APER(3)``); None: the default columns.
        self.columns: tuple[str, ...] | None = None
        #: Where the columns come from (shown in the form and the editor).
        self.columns_source = "default"
        #: The loaded .sex file and the parameters it gave; the loaded .param file.
        self.config_path: Path | None = None
        self.config_params: Any = None
        self.param_path: Path | None = None
        #: The last loading error (one line).
        self.last_load_error = ""
        #: One line per remark of the loaded .sex (ignored keys) and .param (columns left out).
        self.config_notes: list[str] = []
        self.param_notes: list[str] = []

    def _status(self, message: str) -> None:  # pragma: no cover - DetectView's
        raise NotImplementedError

    def _field_path(self, selector: str) -> Path | None:
        text = self.query_one(selector, Input).value.strip()
        return Path(text).expanduser() if text else None

    def _load_failed(self, message: str) -> bool:
        self.last_load_error = message
        self._status(f"Not loaded: {message}")
        self.notify(message, title="Detect", severity="error")
        return False

    def _load_config(self) -> bool:
        """Load the ``.sex`` file of the form: parameters, format, columns, remarks."""
        from canfar_tui.detection.params import (
            DetectionParams,
            ParamError,
            find_param_file,
            sex_catalogue_format,
            sex_parameters_name,
        )

        path = self._field_path("#detect-config")
        if path is None:
            self.config_path, self.config_params = None, None
            self._fill_form(DetectionParams())
            self.config_notes = []
            self._show_notes()
            self._status("default.sex parameters")
            return True
        try:
            params = DetectionParams.from_sex_file(path)
            fmt = sex_catalogue_format(path)
            param_name = sex_parameters_name(path)
        except (ParamError, OSError) as error:
            return self._load_failed(_one_line(error))
        self.config_path, self.config_params = path, params
        self._fill_form(params)
        if fmt is not None and fmt in dict((value, label) for label, value in FORMAT_OPTIONS):
            self.query_one("#detect-format", Select).value = fmt
        notes = [f"{path.name}: {warning}" for warning in params.warnings]
        loaded = f"{path.name} loaded"
        if param_name:
            try:
                param_path = find_param_file(param_name, path)
            except (ParamError, OSError) as error:
                notes.append(f"PARAMETERS_NAME {_one_line(error)}; columns unchanged")
            else:
                self.query_one("#detect-param", Input).value = str(param_path)
                if self._load_param(quiet=True):
                    loaded += f", columns from {param_path.name}"
                else:
                    notes.append(f"PARAMETERS_NAME: {self.last_load_error}")
        self.config_notes = notes
        self._show_notes()
        remarks = f", {len(notes)} remark(s)" if notes else ""
        self._status(f"{loaded}{remarks}")
        return True

    def _load_param(self, *, quiet: bool = False) -> bool:
        """Load the ``.param`` file of the form as the output columns."""
        from canfar_tui.detection.params import ParamError
        from canfar_tui.widgets.detect.columns import load_param_file

        path = self._field_path("#detect-param")
        if path is None:
            self.param_path, self.columns, self.columns_source = None, None, "default"
            self.param_notes = []
        else:
            try:
                specs, refused = load_param_file(path)
            except (ParamError, OSError) as error:
                if quiet:
                    self.last_load_error = _one_line(error)
                    return False
                return self._load_failed(_one_line(error))
            self.param_path, self.columns, self.columns_source = path, specs, path.name
            self.param_notes = [f"{path.name}: {_left_out(refused)}"] if refused else []
        self._show_notes()
        self._show_columns()
        if not quiet:
            self._status(f"{self._column_count()} columns from {self.columns_source}")
        return True

    def _fill_form(self, params: Any) -> None:
        """The form's parameters from ``params`` (empty where it keeps the default)."""
        from canfar_tui.detection.params import DetectionParams

        values, defaults = params.describe(), DetectionParams().describe()
        for key, _, input_id in FORM_PARAMETERS:
            value = values.get(key, "")
            if key == "BACK_SIZE" and len(set(value.split(","))) == 1:
                value = value.split(",")[0]
            shown = "" if values.get(key) == defaults.get(key) else value
            self.query_one(f"#{input_id}", Input).value = shown

    @property
    def notes(self) -> list[str]:
        """The remarks of the loaded .sex and .param files, one line each."""
        return [*self.config_notes, *self.param_notes]

    def _show_notes(self) -> None:
        """The remarks, one line each (at most three on screen, all in a notification)."""
        notes = self.notes
        panel = self.query_one("#detect-notes", Static)
        panel.display = bool(notes)
        shown = notes if len(notes) <= 3 else [*notes[:2], f"… and {len(notes) - 2} more"]
        text = Text(no_wrap=True, overflow="ellipsis", style="yellow")
        text.append("\n".join(shown))
        panel.update(text)
        if len(notes) > 3:
            self.notify("\n".join(notes), title="Detect: remarks", severity="warning", timeout=12)

    def _column_specs(self) -> tuple[str, ...]:
        from canfar_tui.detection.column_info import DEFAULT_COLUMNS

        return self.columns if self.columns is not None else DEFAULT_COLUMNS

    def _column_count(self) -> int:
        return len(self._column_specs())

    def _show_columns(self) -> None:
        """The count in the form; until a run, the column names where the results go."""
        self.query_one("#detect-columns", Static).update(f"{self._column_count()} columns ^l")
        listing = Text()
        listing.append("Output columns", style="bold")
        listing.append(f" ({self.columns_source})\n", style="dim")
        listing.append(" ".join(self._column_specs()))
        self.query_one("#detect-column-list", Static).update(listing)

    @on(Input.Submitted, "#detect-config")
    def _config_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._load_config()

    @on(Input.Submitted, "#detect-param")
    def _param_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._load_param()

    def action_edit_columns(self) -> None:
        """``ctrl+l``: the column editor; its list becomes the run's columns."""
        from canfar_tui.detection.column_info import DEFAULT_COLUMNS
        from canfar_tui.screens.detect_columns import ColumnsScreen

        specs = self.columns if self.columns is not None else DEFAULT_COLUMNS
        folder = (self.config_path.parent if self.config_path else None) or Path.cwd()
        save_path = self.param_path or folder / "default.param"
        screen = ColumnsScreen(specs, self.columns_source, save_path)

        def done(result: tuple[str, ...] | None) -> None:
            saved = screen.saved
            if saved is not None and screen.saved_specs == result:
                self.query_one("#detect-param", Input).value = str(saved)
                self.param_path, self.columns_source = saved, saved.name
            if result is None or tuple(result) == tuple(specs):
                self._show_columns()
                return
            self.columns = tuple(result)
            if saved is None or screen.saved_specs != result:
                base = self.columns_source
                self.columns_source = base if base.startswith("edited (") else f"edited ({base})"
            self._show_columns()
            self._status(f"{len(self.columns)} output columns ({self.columns_source})")

        self.app.push_screen(screen, done)


def _one_line(error: BaseException) -> str:
    """A one-line message for a loading error (an OSError names its file)."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    return " ".join(str(error).split())


def _left_out(refused: tuple[str, ...], shown: int = 8) -> str:
    """``not computed, left out: MAG_PSF, …`` (the first ``shown`` names, then how many)."""
    names = ", ".join(refused[:shown])
    if len(refused) > shown:
        return f"{len(refused)} columns not computed, left out: {names}, …"
    return f"not computed, left out: {names}"
