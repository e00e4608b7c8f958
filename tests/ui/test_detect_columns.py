"""The Detect tab's .sex/.param loading, column editor, summary preview and histogram column."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_detect_tab import open_detect, screen_rows, text_of, wait_idle
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from canfar_tui.app import CanfarApp
from canfar_tui.detection.column_info import COLUMN_INFO, ColumnInfo
from canfar_tui.detection.params import read_param_file
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef
from canfar_tui.screens.detect_columns import ColumnChoiceScreen, ColumnsScreen
from canfar_tui.widgets.detect.columns import field_values, value_stats
from canfar_tui.widgets.detect.view import DetectView
from canfar_tui.widgets.quicklook import histogram_text

AppFactory = Callable[..., CanfarApp]
SMALL = (80, 24)

PARAM = """# my columns
NUMBER
EXT_NUMBER
X_IMAGE
Y_IMAGE
MAG_APER(3)     # three apertures
MAG_PSF         # needs PSFEx: left out
FLUX_APER (3)
MAG_AUTO
#FLAGS
"""

SEX = """# my.sex
DETECT_THRESH    3.0
DETECT_MINAREA   5
PHOT_APERTURES   4, 8, 16
PARAMETERS_NAME  my.param
CATALOG_TYPE     FITS_1.0
DETECT_TYPE      PHOTO
DETECT_MAXAREA   500
"""


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("detect-columns") / "1056216p.fits.fz"
    write_synthetic_mef(
        path, SyntheticConfig(n_ccds=2, width=256, height=512, seed=7), compress=True
    )
    return path


def config_files(folder: Path) -> tuple[Path, Path]:
    sex, param = folder / "my.sex", folder / "my.param"
    sex.write_text(SEX)
    param.write_text(PARAM)
    return sex, param


async def type_into(pilot: Pilot[None], view: DetectView, selector: str, text: str) -> None:
    field = view.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text, "enter")
    await pilot.pause(0.1)


async def choose(pilot: Pilot[None], name: str) -> None:
    """In a ColumnChoiceScreen, move to ``name`` by keys and press enter."""
    screen = pilot.app.screen
    assert isinstance(screen, ColumnChoiceScreen)
    options = screen.query_one(OptionList)
    target = screen.names.index(name)
    current = options.highlighted or 0
    await pilot.press(*(["down"] * (target - current) or ["up"] * (current - target)))
    await pilot.press("enter")
    await pilot.pause(0.1)


# --------------------------------------------------------------------------- loading


async def test_a_sex_file_fills_the_form_and_its_param_file_the_columns(
    make_app: AppFactory, tmp_path: Path
) -> None:
    sex, param = config_files(tmp_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await type_into(pilot, view, "#detect-config", str(sex))
        assert view.query_one("#detect-thresh", Input).value == "3"
        assert view.query_one("#detect-minarea", Input).value == "5"
        assert view.query_one("#detect-format", Select).value == "fits"
        assert view.query_one("#detect-param", Input).value == str(param)
        assert view.columns == (
            "NUMBER",
            "EXT_NUMBER",
            "X_IMAGE",
            "Y_IMAGE",
            "MAG_APER(3)",
            "FLUX_APER(3)",
            "MAG_AUTO",
        )
        assert "8 columns" not in text_of(view, "#detect-columns")
        assert "7 columns" in text_of(view, "#detect-columns")
        notes = text_of(view, "#detect-notes").splitlines()
        assert any("DETECT_TYPE PHOTO" in line for line in notes), notes
        assert any("DETECT_MAXAREA" in line for line in notes), notes
        assert any("MAG_PSF" in line and "left out" in line for line in notes), notes
        assert len(notes) == 3 == len(view.notes)
        assert "my.sex loaded, columns from my.param" in text_of(view, "#detect-status")
        # A .param loaded on its own replaces the columns and keeps the .sex remarks.
        other = tmp_path / "short.param"
        other.write_text("NUMBER\nMAG_ISO\n")
        await type_into(pilot, view, "#detect-param", str(other))
        assert view.columns == ("NUMBER", "MAG_ISO")
        assert len(view.notes) == 2 and "2 columns from short.param" in text_of(
            view, "#detect-status"
        )
        assert app.unexpected_errors == 0


BAD_FILES: dict[str, tuple[str, bytes | str, str]] = {
    "binary .sex": ("#detect-config", b"\x00\x01\x02SIMPLE", "binary content"),
    "bad value": ("#detect-config", "DETECT_THRESH lots\n", "DETECT_THRESH"),
    "missing filter": ("#detect-config", "FILTER_NAME nowhere.conv\n", "nowhere.conv"),
    "missing .param": ("#detect-param", "", "not found"),
    "only PSF columns": ("#detect-param", "MAG_PSF\nSPREAD_MODEL\n", "SPREAD_MODEL"),
    "empty .param": ("#detect-param", "# nothing\n\n", "no columns"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_a_bad_file_is_one_line_and_changes_nothing(
    make_app: AppFactory, tmp_path: Path, case: str
) -> None:
    selector, content, expected = BAD_FILES[case]
    path = tmp_path / ("bad.sex" if selector == "#detect-config" else "bad.param")
    if case != "missing .param":
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await type_into(pilot, view, selector, str(path))
        status = text_of(view, "#detect-status")
        assert status.startswith("Detect · Not loaded: ") and "\n" not in status, status
        assert expected in status and "Traceback" not in status
        assert view.columns is None and view.config_params is None
        assert view.query_one("#detect-thresh", Input).value == ""
        # ctrl+r with the bad file still in its field does not start a run
        image = tmp_path / "x.fits"
        image.write_text("not read: the run stops at the bad file\n")
        view.query_one("#detect-image", Input).value = str(image)
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert not view.running and "Not started: " in text_of(view, "#detect-status")
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- editing


async def test_the_column_editor_adds_removes_reorders_resizes_and_saves(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The list of columns is read from COLUMN_INFO when the editor opens: a column added to
    # the detection package (here a made-up one) is offered without a change to the tab.
    monkeypatch.setitem(
        COLUMN_INFO, "ZZ_NEW", ColumnInfo("ZZ_NEW", "A column added later", "%5d", "", "i4")
    )
    param = tmp_path / "cols.param"
    param.write_text("NUMBER\nX_IMAGE\nY_IMAGE\nMAG_APER\n")
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        await type_into(pilot, view, "#detect-param", str(param))
        await pilot.press("ctrl+l")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ColumnsScreen)
        offered = [
            str(option.prompt) for option in screen.query_one("#columns-all", OptionList).options
        ]
        assert "ZZ_NEW" in offered and "MAG_ISO" in offered and "X_IMAGE" not in offered
        assert set(offered) | {"NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_APER"} == set(COLUMN_INFO)
        chosen = screen.query_one("#columns-chosen", OptionList)
        assert chosen.has_focus and chosen.highlighted == 0
        await pilot.press("down", "d")  # remove X_IMAGE
        assert screen.specs == ["NUMBER", "Y_IMAGE", "MAG_APER"]
        await pilot.press("down", "plus", "plus", "minus", "plus")  # MAG_APER(3)
        assert screen.specs == ["NUMBER", "Y_IMAGE", "MAG_APER(3)"]
        await pilot.press("K")  # up: before Y_IMAGE
        assert screen.specs == ["NUMBER", "MAG_APER(3)", "Y_IMAGE"]
        await pilot.press("shift+down", "shift+down")  # back down (the last stays last)
        assert screen.specs == ["NUMBER", "Y_IMAGE", "MAG_APER(3)"]
        await pilot.press("up", "up")  # on NUMBER: add after it
        await pilot.press("tab", *"dKJ+-")  # in the filter these keys are typed, not run
        filter_field = screen.query_one("#columns-filter", Input)
        assert filter_field.value == "dKJ+-"
        assert screen.specs == ["NUMBER", "Y_IMAGE", "MAG_APER(3)"]
        filter_field.value = ""
        await pilot.press(*"mag_iso", "enter")  # the first match of the filter
        assert screen.specs == ["NUMBER", "MAG_ISO", "Y_IMAGE", "MAG_APER(3)"]
        # MAG_ISO left the list; the next match, MAG_ISOCOR, is highlighted and described
        about = str(screen.query_one("#columns-about", Static).render())
        assert "MAG_ISOCOR" in about and "isophotal magnitude" in about, about
        await pilot.press("escape")  # leaves the filter, the dialog stays
        assert isinstance(app.screen, ColumnsScreen) and chosen.has_focus
        await pilot.press("plus")  # MAG_ISO is not a vector: nothing changes
        assert screen.specs == ["NUMBER", "MAG_ISO", "Y_IMAGE", "MAG_APER(3)"]
        # save into a folder that does not exist: one line, nothing written
        save = screen.query_one("#columns-save", Input)
        assert save.value == str(param)
        save.focus()
        save.value = str(tmp_path / "nowhere" / "x.param")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert screen.saved is None and not (tmp_path / "nowhere").exists()
        save.value = str(tmp_path / "edited.param")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert screen.saved == tmp_path / "edited.param"
        # source-extractor's reader (canfar-tui's, the same rules) reads it back
        assert read_param_file(tmp_path / "edited.param") == (
            "NUMBER",
            "MAG_ISO",
            "Y_IMAGE",
            "MAG_APER(3)",
        )
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert app.screen is not screen
        assert view.columns == ("NUMBER", "MAG_ISO", "Y_IMAGE", "MAG_APER(3)")
        assert view.query_one("#detect-param", Input).value == str(tmp_path / "edited.param")
        assert "4 columns" in text_of(view, "#detect-columns")
        # escape (outside a text field) closes without changing anything
        view.focus()
        await pilot.press("ctrl+l")
        await pilot.pause(0.1)
        await pilot.press("d", "escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ColumnsScreen)
        assert view.columns == ("NUMBER", "MAG_ISO", "Y_IMAGE", "MAG_APER(3)")
        # enter in the list of columns adds the highlighted one after the current column
        await pilot.press("ctrl+l")
        await pilot.pause(0.1)
        await pilot.press("down", "tab", *"flux_max", "tab")
        available = app.screen.query_one("#columns-all", OptionList)
        assert available.has_focus and available.highlighted == 0
        assert str(available.get_option_at_index(0).prompt) == "FLUX_MAX"
        await pilot.press("enter", "ctrl+s")
        await pilot.pause(0.1)
        assert view.columns == ("NUMBER", "MAG_ISO", "FLUX_MAX", "Y_IMAGE", "MAG_APER(3)")
        assert "edited (edited.param)" in text_of(view, "#detect-status")
        assert app.unexpected_errors == 0


async def test_escape_leaves_the_sex_and_param_fields(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        for selector in ("#detect-config", "#detect-param"):
            view.query_one(selector, Input).focus()
            await pilot.press("m", "escape")
            await pilot.pause()
            assert view.query_one(selector, Input).value == "m"
            assert app.focused is view, selector
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- a run


async def test_a_run_with_the_loaded_columns_previews_any_column_and_histograms_any_magnitude(
    make_app: AppFactory, tmp_path: Path, tiny_image: Path
) -> None:
    sex, _ = config_files(tmp_path)
    output = tmp_path / "out.cat"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await type_into(pilot, view, "#detect-config", str(sex))
        view.query_one("#detect-format", Select).value = "ascii_head"
        view.query_one("#detect-output", Input).value = str(output)
        view.query_one("#detect-image", Input).value = str(tiny_image)
        await pilot.press("ctrl+r")
        await wait_idle(pilot, view)
        result = view.result
        assert result is not None, text_of(view, "#detect-status")
        assert not view.query_one("#detect-column-list", Static).display  # the results instead
        assert result.params.detect_thresh == 3.0 and result.params.detect_minarea == 5
        assert result.params.phot_apertures == (4.0, 8.0, 16.0)
        header = [line.split()[2] for line in output.read_text().splitlines() if line[0] == "#"]
        assert header == [
            "NUMBER",
            "EXT_NUMBER",
            "X_IMAGE",
            "Y_IMAGE",
            "MAG_APER",
            "FLUX_APER",
            "MAG_AUTO",
        ]
        catalogue = result.catalogue
        # the summary previews MAG_AUTO first
        assert view.preview_field == "MAG_AUTO"
        mag_auto = value_stats(catalogue["MAG_AUTO"], magnitude=True)
        assert f"MAG_AUTO {mag_auto}" in text_of(view, "#detect-summary")
        # > and < walk the catalogue's columns, vectors one value at a time
        view.focus()
        await pilot.press("greater_than_sign")
        assert view.preview_field == "NUMBER"
        await pilot.press("less_than_sign", "less_than_sign")
        assert view.preview_field == "FLUX_APER[3]"
        # v: choose any column, here the second aperture's flux
        await pilot.press("v")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ColumnChoiceScreen)
        assert app.screen.names == [
            "NUMBER",
            "EXT_NUMBER",
            "X_IMAGE",
            "Y_IMAGE",
            "MAG_APER[1]",
            "MAG_APER[2]",
            "MAG_APER[3]",
            "FLUX_APER[1]",
            "FLUX_APER[2]",
            "FLUX_APER[3]",
            "MAG_AUTO",
        ]
        await choose(pilot, "FLUX_APER[2]")
        assert view.preview_field == "FLUX_APER[2]"
        second = value_stats(catalogue["FLUX_APER"][:, 1])
        assert second != value_stats(catalogue["FLUX_APER"][:, 0])
        assert f"FLUX_APER[2] {second}" in text_of(view, "#detect-summary")
        # below the grid, the second aperture's median flux in each CCD
        grid = text_of(view, "#detect-grid").split("FLUX_APER[2] median per CCD\n")
        assert len(grid) == 2, grid
        cells = dict(re.findall(r"(\d+):\s+(\S+)", grid[1]))
        for ext in (1, 2):
            mine = catalogue["FLUX_APER"][catalogue["EXT_NUMBER"] == ext, 1]
            assert float(cells[str(ext)]) == pytest.approx(float(np.median(mine)), rel=1e-3)
        # the ASCII catalogue's FLUX_APER second column holds the same values
        rows = np.loadtxt(output, comments="#", ndmin=2)
        assert np.allclose(rows[:, 8], catalogue["FLUX_APER"][:, 1], rtol=1e-6)
        # m: the histogram of any magnitude column, here the largest aperture
        assert view.histogram_field == "MAG_AUTO"
        await pilot.press("m")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ColumnChoiceScreen)
        assert app.screen.names == ["MAG_APER[1]", "MAG_APER[2]", "MAG_APER[3]", "MAG_AUTO"]
        await choose(pilot, "MAG_APER[3]")
        await pilot.pause(0.2)
        assert view.histogram_field == "MAG_APER[3]"
        expected = field_values(catalogue, "MAG_APER[3]")
        assert view.magnitudes == [float(value) for value in expected]
        panel = view.query_one("#detect-histogram", Static)
        drawn = str(panel.render())
        assert drawn.splitlines()[-1].startswith("MAG_APER[3]: peak ")
        assert (
            drawn
            == histogram_text(
                expected, width=panel.content_size.width, height=5, label="MAG_APER[3]"
            ).plain
        )
        assert (
            drawn
            != histogram_text(
                catalogue["MAG_AUTO"], width=panel.content_size.width, height=5, label="MAG_APER[3]"
            ).plain
        )
        # escape in the chooser changes nothing
        await pilot.press("m", "escape")
        await pilot.pause(0.1)
        assert view.histogram_field == "MAG_APER[3]"
        assert app.unexpected_errors == 0


# --------------------------------------------------------------------------- 80×24


async def test_the_new_controls_are_on_screen_at_80x24(
    make_app: AppFactory, tmp_path: Path
) -> None:
    sex, _ = config_files(tmp_path)
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        rows = screen_rows(app)
        assert len(rows) == 24
        assert any(".sex config" in row and ".param columns" in row for row in rows), rows
        assert any("11 columns ^l" in row for row in rows), rows
        assert any("Output columns (default)" in row for row in rows), rows
        assert any(row.split()[:3] == ["NUMBER", "EXT_NUMBER", "MAG_AUTO"] for row in rows)
        assert "^l Columns" in rows[-1], rows[-1]
        await type_into(pilot, view, "#detect-config", str(sex))
        await pilot.pause(0.2)
        rows = screen_rows(app)
        assert any("7 columns ^l" in row for row in rows)
        assert any("Output columns (my.param)" in row for row in rows), "\n".join(rows)
        assert any("MAG_APER(3) FLUX_APER(3)" in row for row in rows), rows
        for remark in ("DETECT_TYPE PHOTO", "DETECT_MAXAREA", "MAG_PSF"):
            assert sum(remark in row for row in rows) == 1, "\n".join(rows)
        view.focus()
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        rows = screen_rows(app)
        assert len(rows) == 24
        text = "\n".join(rows)
        for shown in (
            "Output columns · 7 · my.param",
            "MAG_APER(3)",  # the chosen list
            "FLUX_ISO",  # the list of every other column
            "filter:",
            "save as",
            "ctrl+s use",
            "esc cancel",
        ):
            assert shown in text, (shown, text)
        assert app.unexpected_errors == 0
