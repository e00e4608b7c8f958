"""Rows formatted by the workers, per extension, give the same ASCII catalogues byte for byte.

``DetectionRunner.run(..., ascii_separator=...)`` has each worker format its extension's rows
(:func:`canfar_tui.detection.writers.ascii_text`); ``write_catalogue`` then only joins them.
Every text CATALOG_TYPE must come out exactly as when the parent formats the whole catalogue,
vector and stamp columns included, and text formatted for other columns, another separator
or another catalogue must never be used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from detect_support import SyntheticImage

from canfar_tui.cli import detect as cli
from canfar_tui.detection import (
    DetectionParams,
    DetectionResult,
    DetectionRunner,
    ImageFinished,
    detect_image,
    write_catalogue,
)
from canfar_tui.detection.writers import ASCII_SEPARATORS, ascii_text

# Scalars of every printf kind, vectors and a stamp (written row after row, x fastest).
COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "MAG_AUTO",
    "FLUX_AUTO",
    "MAG_APER(3)",
    "FLUX_APER(3)",
    "THETA_IMAGE",
    "VIGNET(5,3)",
    "FLAGS",
)
TEXT_FORMATS = ("ascii_head", "ascii", "ascii_skycat")


def _params() -> DetectionParams:
    return DetectionParams().with_columns(COLUMNS).with_overrides({"PHOT_APERTURES": "5,10,20"})


def _result(image: Path, separator: str | None, workers: int = 2) -> DetectionResult:
    with DetectionRunner(workers) as runner:
        events = list(runner.run(image, _params(), ascii_separator=separator))
    final = events[-1]
    assert isinstance(final, ImageFinished)
    return final.result


@pytest.fixture(scope="module")
def formatted(small_fz: SyntheticImage) -> dict[str, DetectionResult]:
    """One run per separator, rows formatted by two worker processes."""
    return {sep: _result(small_fz.path, sep) for sep in sorted(set(ASCII_SEPARATORS.values()))}


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_worker_rows_give_the_one_shot_bytes(
    formatted: dict[str, DetectionResult], fmt: str, tmp_path: Path
) -> None:
    result = formatted[ASCII_SEPARATORS[fmt]]
    rows = result.ascii_rows
    assert rows is not None
    assert rows.columns == result.params.columns
    assert rows.n_rows == result.n_sources > 0
    assert len(rows.parts) == sum(1 for e in result.extensions if e.ok) > 1
    fast = write_catalogue(result, tmp_path / "fast.cat", fmt)  # type: ignore[arg-type]
    one_shot = dataclasses.replace(result, ascii_rows=None)
    slow = write_catalogue(one_shot, tmp_path / "slow.cat", fmt)  # type: ignore[arg-type]
    assert fast.read_bytes() == slow.read_bytes()
    body = [line for line in slow.read_text().splitlines() if line[:1] == " "]
    assert len(body) == result.n_sources


def test_parts_are_the_extensions_in_catalogue_order(
    formatted: dict[str, DetectionResult],
) -> None:
    result = formatted[" "]
    assert result.ascii_rows is not None
    catalogue = result.catalogue
    numbers = [e.extension.ext_number for e in result.extensions if e.ok]
    expected = [
        ascii_text(catalogue[catalogue["EXT_NUMBER"] == n], result.params.columns) for n in numbers
    ]
    assert list(result.ascii_rows.parts) == expected


def test_the_workers_text_is_what_gets_written(
    formatted: dict[str, DetectionResult], tmp_path: Path
) -> None:
    result = formatted[" "]
    assert result.ascii_rows is not None
    marked = dataclasses.replace(
        result, ascii_rows=dataclasses.replace(result.ascii_rows, parts=("MARKER\n",))
    )
    text = write_catalogue(marked, tmp_path / "x.cat", "ascii").read_text()
    assert text == "MARKER\n"


@pytest.mark.parametrize(
    "change",
    [
        {"columns": ("NUMBER", "FLAGS")},
        {"separator": " \t"},
        {"n_rows": 1},
    ],
    ids=["other-columns", "other-separator", "other-catalogue"],
)
def test_text_that_does_not_match_is_not_used(
    formatted: dict[str, DetectionResult], change: dict[str, object], tmp_path: Path
) -> None:
    result = formatted[" "]
    assert result.ascii_rows is not None
    stale = dataclasses.replace(result.ascii_rows, parts=("STALE\n",), **change)  # type: ignore[arg-type]
    path = write_catalogue(dataclasses.replace(result, ascii_rows=stale), tmp_path / "x.cat")
    text = path.read_text()
    assert "STALE" not in text
    expected = write_catalogue(dataclasses.replace(result, ascii_rows=None), tmp_path / "y.cat")
    assert text == expected.read_text()


def test_inline_runner_formats_the_same_rows(
    formatted: dict[str, DetectionResult], small_fz: SyntheticImage
) -> None:
    inline = _result(small_fz.path, " ", workers=1)
    assert inline.ascii_rows is not None
    assert inline.ascii_rows == formatted[" "].ascii_rows


def test_no_separator_no_text(small_fz: SyntheticImage) -> None:
    with DetectionRunner(2) as runner:
        final = list(runner.run(small_fz.path, _params()))[-1]
    assert isinstance(final, ImageFinished)
    assert final.result.ascii_rows is None


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_cli_writes_what_the_one_shot_writer_writes(
    small_fz: SyntheticImage, workdir: Path, fmt: str
) -> None:
    (workdir / "my.param").write_text("\n".join(COLUMNS) + "\n")
    args = [str(small_fz.path), "--params", "my.param", "--format", fmt, "-q"]
    args += ["--set", "PHOT_APERTURES=5,10,20", "-o", "cli.cat"]
    assert cli.main(args) == 0
    reference = detect_image(small_fz.path, _params(), workers=1)
    assert reference.ascii_rows is None
    expected = write_catalogue(reference, workdir / "reference.cat", fmt)  # type: ignore[arg-type]
    assert (workdir / "cli.cat").read_bytes() == expected.read_bytes()
