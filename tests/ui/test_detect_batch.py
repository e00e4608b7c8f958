"""``p`` on the Detect tab hands its whole setup to the Pipeline tab, keys only.

A ``.sex`` (threshold, its own filter, FITS_LDAC, a ``.param``) is loaded, a column removed
in the editor, then ``ctrl+b``: the Pipeline's job script carries the values, the edited
columns, the filter and the format (the job script itself runs in
tests/unit/test_pipeline_detect.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from test_detect_columns import type_into
from test_detect_tab import open_detect
from test_pipeline_tab import pipeline_view, text_of, type_text, wait_for
from textual.widgets import Input, TextArea

from canfar_tui.app import CanfarApp
from canfar_tui.batch.pipeline import SEED_STEPS
from canfar_tui.screens.detect_columns import ColumnsScreen

SEX = """DETECT_THRESH   3
FILTER_NAME     my.conv
PARAMETERS_NAME my.param
CATALOG_TYPE    FITS_LDAC
CHECKIMAGE_TYPE SEGMENTATION
"""


async def test_p_hands_the_sex_file_and_the_edited_columns_to_the_pipeline(
    make_app: Callable[..., CanfarApp], tmp_path: Path
) -> None:
    (tmp_path / "my.conv").write_text("CONV NORM\n1 1 1\n1 3 1\n1 1 1\n", encoding="utf-8")
    (tmp_path / "my.param").write_text("NUMBER\nX_IMAGE\nY_IMAGE\nMAG_APER(2)\nFLAGS\n")
    (tmp_path / "my.sex").write_text(SEX, encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        detect = await open_detect(pilot)
        await type_into(pilot, detect, "#detect-config", str(tmp_path / "my.sex"))
        assert detect.columns == ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_APER(2)", "FLAGS")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the editor")
        await pilot.press("down", "d", "ctrl+s")  # X_IMAGE out
        await wait_for(pilot, lambda: not isinstance(app.screen, ColumnsScreen), "closed")
        assert detect.columns == ("NUMBER", "Y_IMAGE", "MAG_APER(2)", "FLAGS")

        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: app.active_tab_id == "pipeline", "the Pipeline tab")
        view = pipeline_view(app)
        assert view.query_one("#pipeline-overrides", Input).value == (
            "DETECT_THRESH=3 FILTER_NAME=my.conv"
        )
        assert "4 columns, FITS_LDAC, my.conv" in text_of(view, "#pipeline-status")
        assert view.query_one("#pipeline-ids", TextArea).has_focus
        await type_text(pilot, "1056215p")
        view.query_one("#pipeline-folder", Input).value = "vos:me/cats/"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: view.spec is not None, "the files")
        spec = view.spec
        assert spec is not None and spec.steps == SEED_STEPS
        assert spec.columns == ("NUMBER", "Y_IMAGE", "MAG_APER(2)", "FLAGS")
        script = view.query_one("#pipeline-script", TextArea).text
        assert "echo 'NUMBER\nY_IMAGE\nMAG_APER(2)\nFLAGS' > default.param\n" in script
        assert "cat > my.conv <<'CANFAR_TUI_END_OF_FILE'\nCONV NORM\n1 1 1\n1 3 1\n" in script
        assert (
            "-VERBOSE_TYPE QUIET -CATALOG_TYPE FITS_LDAC -DETECT_THRESH 3 -FILTER_NAME my.conv\n"
            in script
        )
        assert "CHECKIMAGE" not in script
        assert app.unexpected_errors == 0
