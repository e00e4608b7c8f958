"""The Detect tab driven by keys: run on a small synthetic image, bad files, bad parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from canfar_tui.app import CanfarApp
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef
from canfar_tui.widgets.detect.view import DetectView


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "1056215p.fits.fz"
    write_synthetic_mef(
        path, SyntheticConfig(n_ccds=3, width=256, height=512, seed=3), compress=True
    )
    return path


async def open_detect(pilot: Pilot[None]) -> DetectView:
    await pilot.press("7")
    await pilot.pause()
    app = pilot.app
    assert isinstance(app, CanfarApp)
    view = app.view("detect")
    assert isinstance(view, DetectView)
    assert view.query_one("#detect-image", Input).has_focus
    return view


async def wait_idle(pilot: Pilot[None], view: DetectView) -> None:
    for _ in range(600):
        await pilot.pause(0.05)
        if not view.running:
            break
    await pilot.pause(0.1)


def text_of(view: DetectView, selector: str) -> str:
    return str(view.query_one(selector, Static).render())


async def test_run_reaches_100_percent_and_saves_the_catalogue(
    make_app: Callable[..., CanfarApp], tiny_image: Path, tmp_path: Path
) -> None:
    app = make_app()
    output = tmp_path / "out.cat"
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(tiny_image))
        await pilot.press("tab", *str(output))
        await pilot.press("tab", *"3.0")  # DETECT_THRESH
        await pilot.press("ctrl+r")
        await wait_idle(pilot, view)
        assert view.result is not None, text_of(view, "#detect-status")
        assert view.progress == 1.0
        assert "Extensions 100%" in text_of(view, "#detect-grid")
        assert view.result.params.detect_thresh == 3.0
        counts = [ext.n_sources for ext in view.result.extensions]
        assert len(counts) == 3 and all(count > 0 for count in counts)
        summary = text_of(view, "#detect-summary")
        assert f"{sum(counts)} sources in 3 CCDs" in summary
        assert str(output) in summary
        lines = output.read_text().splitlines()
        assert lines[0].startswith("#   1 NUMBER")
        data = [line for line in lines if not line.startswith("#")]
        assert len(data) == sum(counts)
        assert "peak" in text_of(view, "#detect-histogram")
        for _ in range(100):
            if view.quicklook_caption:
                break
            await pilot.pause(0.05)
        assert view.quicklook_caption.endswith("sources marked  ([ ] other CCDs)")
        await pilot.press("escape")  # leave the form so [ and ] reach the tab
        first = view.quicklook_caption
        view.focus()
        await pilot.press("right_square_bracket")
        for _ in range(100):
            if view.quicklook_caption != first:
                break
            await pilot.pause(0.05)
        assert view.quicklook_caption != first
        assert app.unexpected_errors == 0


async def test_a_file_that_is_not_fits_fails_in_one_line(
    make_app: Callable[..., CanfarApp], tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    bogus = folder / "notes.fits"
    bogus.write_text("these are not pixels\n" * 100)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(bogus), "ctrl+r")
        await wait_idle(pilot, view)
        status = text_of(view, "#detect-status")
        assert "Failed:" in status and "\n" not in status
        assert view.result is None
        assert list(folder.iterdir()) == [bogus], "no catalogue, no temp file"
        assert app.unexpected_errors == 0


async def test_bad_parameter_does_not_start(
    make_app: Callable[..., CanfarApp], tiny_image: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(tiny_image), "tab", "tab", *"lots", "ctrl+r")
        await pilot.pause(0.2)
        assert not view.running and view.result is None
        status = text_of(view, "#detect-status")
        assert "Not started" in status and "DETECT_THRESH" in status


async def test_missing_image_is_reported(
    make_app: Callable[..., CanfarApp], tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(tmp_path / "nope.fits.fz"), "ctrl+r")
        await pilot.pause(0.2)
        assert "no such file" in text_of(view, "#detect-status")


# --------------------------------------------------------------------------- keys at 80×24
# Issue 15 (2, 12): the form trapped the keyboard; 7, ctrl+o, escape, escape, 6 left "6" in
# the image path, and q, [, ], p were typed into it too.

SMALL = (80, 24)


def active_tab(pilot) -> str:  # type: ignore[no-untyped-def]
    return str(pilot.app.active_tab_id)


async def until_tab(pilot, tab: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if active_tab(pilot) == tab and pilot.app.view(tab) is not None:
            return
        await pilot.pause(0.02)


async def test_escape_leaves_the_field_and_the_number_keys_switch_tabs(make_app) -> None:  # type: ignore[no-untyped-def]
    from canfar_tui.screens.file_picker import FilePickerScreen

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        image = view.query_one("#detect-image", Input)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, FilePickerScreen)
        await pilot.press("escape")  # closes the picker: back in the field
        await pilot.pause()
        assert image.has_focus
        await pilot.press("escape")  # leaves the field
        await pilot.pause()
        assert app.focused is view
        await pilot.press("6")
        await pilot.pause()
        assert active_tab(pilot) == "vospace"
        assert image.value == ""
        assert app.unexpected_errors == 0


async def test_escape_leaves_any_field_of_the_form(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        for field in ("#detect-output", "#detect-thresh", "#detect-zeropoint"):
            view.query_one(field, Input).focus()
            await pilot.press("escape")
            await pilot.pause()
            assert app.focused is view, field
        view.query_one("#detect-image", Input).focus()
        await pilot.press("escape", "p")  # p: the Pipeline tab with these parameters
        await until_tab(pilot, "pipeline")
        assert active_tab(pilot) == "pipeline"
        assert view.query_one("#detect-image", Input).value == ""


async def test_tab_leaves_the_inputs(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        for _ in range(12):
            await pilot.press("tab")
            if not isinstance(app.focused, Input):
                break
        assert not isinstance(app.focused, Input), "14 tabs never left the inputs"
        assert isinstance(app.focused, Select)  # the catalogue format, after the fields
        await pilot.press("8")  # the hidden form used to take the focus and the tab back
        await until_tab(pilot, "pipeline")
        await pilot.pause(0.3)
        assert active_tab(pilot) == "pipeline"
        assert app.focused is None or view not in app.focused.ancestors
        assert all(not field.value for field in view.query(Input))
        await pilot.press("7")
        await until_tab(pilot, "detect")
        await pilot.press("escape", "1")  # from the view itself
        await until_tab(pilot, "projects")
        await pilot.pause(0.3)
        assert active_tab(pilot) == "projects"


async def test_q_quits_once_the_field_is_left_and_ctrl_q_always(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        await pilot.press("q")  # in the field: a letter of a path
        assert view.query_one("#detect-image", Input).value == "q"
        await pilot.press("escape", "q")
        await pilot.pause()
        assert not app.is_running
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*"1056213p", "ctrl+q")
        await pilot.pause()
        assert not app.is_running


# Issue 15 (4): at 80×24 the histogram's bars wrapped onto two lines, its magnitude axis and
# "peak" line were off screen, and the quick-look of a CCD twice as tall as wide was 11 columns.


@pytest.fixture(scope="module")
def seed_shaped_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two CCDs shaped like the seed's (1024 rows × 512 columns)."""
    path = tmp_path_factory.mktemp("detect-seed") / "1056213p.fits.fz"
    write_synthetic_mef(
        path, SyntheticConfig(n_ccds=2, width=512, height=1024, seed=5), compress=True
    )
    return path


def screen_rows(app) -> list[str]:  # type: ignore[no-untyped-def]
    """What the terminal shows, row by row."""
    update = app.screen._compositor.render_full_update()
    return ["".join(segment.text for segment in strip) for strip in update.strips]


async def test_histogram_and_quicklook_fit_80x24(make_app, seed_shaped_image: Path) -> None:  # type: ignore[no-untyped-def]
    from canfar_tui.widgets.quicklook import BAR_EIGHTHS, UPPER_HALF

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(seed_shaped_image), "ctrl+r")
        await wait_idle(pilot, view)
        assert view.result is not None, text_of(view, "#detect-status")
        for _ in range(100):
            if view.quicklook_caption:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        histogram = view.query_one("#detect-histogram", Static)
        lines = str(histogram.render()).splitlines()
        bars = [line for line in lines if line.strip(BAR_EIGHTHS[1:] + " ") == ""]
        assert bars and all(len(line) <= histogram.content_size.width for line in lines)
        assert histogram.content_size.height == len(lines), "a bar row wrapped"
        rows = screen_rows(app)
        assert len(rows) == 24
        axis = [row for row in rows if " mag" in row and "peak" not in row]
        assert axis, "the magnitude axis is off screen"
        assert any("peak" in row and "mag bin" in row for row in rows), "no peak line"
        quicklook_width = max(row.count(UPPER_HALF) for row in rows)
        assert quicklook_width >= 30, f"the quick-look is {quicklook_width} columns wide"
        assert "turned" in view.quicklook_caption
        assert app.unexpected_errors == 0


def test_the_histogram_fits_the_width_it_is_given() -> None:
    from canfar_tui.widgets.quicklook import histogram_text

    magnitudes = [20 + (index % 37) / 5 for index in range(2000)]
    for width in (20, 36, 47, 48, 120):
        lines = histogram_text(magnitudes, width=width, height=3).plain.splitlines()
        assert len(lines) == 5
        assert all(len(line) <= max(width, 20) for line in lines), (width, lines)
        assert lines[3].endswith(" mag") and lines[4].startswith("peak ")


def test_a_turned_quicklook_marks_the_same_sources() -> None:
    import numpy as np

    from canfar_tui.widgets.quicklook import MARK_COLOR, render_quicklook, turn_pays

    data = np.zeros((1024, 512), dtype=np.float32)
    assert turn_pays(data.shape, 38, 14) and not turn_pays(data.shape, 100, 45)
    # one source near the top-left corner as ds9 shows it (small x, large y)
    lines = render_quicklook(data, [(10.0, 1000.0)], columns=38, rows=14, turned=True)
    marked = [
        (row, column)
        for row, line in enumerate(lines)
        for column, segment in enumerate(line)
        if segment.style is not None and MARK_COLOR in (segment.style.color, segment.style.bgcolor)
    ]
    # turned a quarter clockwise: the top edge goes to the right, the left edge to the top
    assert marked == [(0, len(lines[0]) - 1)]
    upright = render_quicklook(data, [(10.0, 1000.0)], columns=38, rows=14)
    assert len(upright[0]) < len(lines[0])
