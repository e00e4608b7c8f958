"""The Detect tab driven by keys: run on a small synthetic image, bad files, bad parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef
from canfar_tui.widgets.detect.view import DetectView


@pytest.fixture(scope="module")
def tiny_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "1056215p.fits.fz"
    write_synthetic_mef(
        path, SyntheticConfig(n_ccds=3, width=256, height=512, seed=3), compress=True
    )
    return path


async def open_detect(pilot) -> DetectView:  # type: ignore[no-untyped-def]
    await pilot.press("7")
    await pilot.pause()
    view = pilot.app.view("detect")
    assert isinstance(view, DetectView)
    assert view.query_one("#detect-image", Input).has_focus
    return view


async def wait_idle(pilot, view: DetectView) -> None:  # type: ignore[no-untyped-def]
    for _ in range(600):
        await pilot.pause(0.05)
        if not view.running:
            break
    await pilot.pause(0.1)


def text_of(view: DetectView, selector: str) -> str:
    return str(view.query_one(selector, Static).render())


async def test_run_reaches_100_percent_and_saves_the_catalogue(
    make_app, tiny_image: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
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


async def test_a_file_that_is_not_fits_fails_in_one_line(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


async def test_bad_parameter_does_not_start(make_app, tiny_image: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        view = await open_detect(pilot)
        await pilot.press(*str(tiny_image), "tab", "tab", *"lots", "ctrl+r")
        await pilot.pause(0.2)
        assert not view.running and view.result is None
        status = text_of(view, "#detect-status")
        assert "Not started" in status and "DETECT_THRESH" in status


async def test_missing_image_is_reported(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
