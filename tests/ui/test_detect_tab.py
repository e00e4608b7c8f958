"""The Detect tab driven by keys: run on a small synthetic image, bad files, bad parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

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
