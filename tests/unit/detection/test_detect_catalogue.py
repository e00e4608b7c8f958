"""Catalogue writers: SExtractor ASCII_HEAD layout, FITS and ECSV, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from canfar_tui.detection import DetectionParams, OutputError, write_catalogue
from canfar_tui.detection.catalogue import ascii_head_header, catalogue_path_for
from canfar_tui.detection.engine import empty_catalogue

# What source-extractor 2.25 writes for these columns (ASCII_HEAD), byte for byte.
SEXTRACTOR_HEADER = (
    "#   1 NUMBER                 Running object number" + " " * 37 + "\n"
    "#   2 EXT_NUMBER             FITS extension number" + " " * 37 + "\n"
    "#   3 MAG_AUTO               Kron-like elliptical aperture magnitude" + " " * 20 + "[mag]\n"
    "#   4 X_IMAGE                Object position along x" + " " * 36 + "[pixel]\n"
    "#   5 Y_IMAGE                Object position along y" + " " * 36 + "[pixel]\n"
    "#   6 FLAGS                  Extraction flags" + " " * 42 + "\n"
)
SEXTRACTOR_ROW = "         1   1 -11.4931    885.7203      8.3519  16\n"


def _catalogue() -> np.ndarray:
    cat = empty_catalogue(3)
    cat["NUMBER"] = [1, 2, 1]
    cat["EXT_NUMBER"] = [1, 1, 2]
    cat["MAG_AUTO"] = [-11.4931, 99.0, -8.25]
    cat["X_IMAGE"] = [885.7203, 10.0, 2048.5]
    cat["Y_IMAGE"] = [8.3519, 4612.0, 1.0]
    cat["FLAGS"] = [16, 0, 3]
    cat["FLUX_AUTO"] = [39558.23, -1.0, 2000.0]
    return cat


COLUMNS = ("NUMBER", "EXT_NUMBER", "MAG_AUTO", "X_IMAGE", "Y_IMAGE", "FLAGS")


def test_ascii_head_is_sextractor_layout(tmp_path: Path) -> None:
    assert ascii_head_header(COLUMNS) == SEXTRACTOR_HEADER
    path = write_catalogue(_catalogue(), tmp_path / "x.cat", columns=COLUMNS)
    lines = path.read_text().splitlines(keepends=True)
    assert "".join(lines[:6]) == SEXTRACTOR_HEADER
    assert lines[6] == SEXTRACTOR_ROW
    assert lines[7].split() == ["2", "1", "99.0000", "10.0000", "4612.0000", "0"]
    assert len(lines) == 9


def test_ascii_head_default_columns_and_empty(tmp_path: Path) -> None:
    path = write_catalogue(empty_catalogue(0), tmp_path / "empty.cat")
    text = path.read_text()
    assert text == ascii_head_header(DetectionParams().columns)
    assert text.count("\n") == 11


def test_fits_and_ecsv_round_trip(tmp_path: Path) -> None:
    cat = _catalogue()
    params = DetectionParams(mag_zeropoint=30.0)
    write_catalogue(cat, tmp_path / "x.fits", "fits", columns=COLUMNS, params=params)
    with fits.open(tmp_path / "x.fits") as hdul:
        # SExtractor's FITS_1.0: one OBJECTS table per extension (EXT_NUMBER 1 and 2 here).
        assert [h.name for h in hdul] == ["PRIMARY", "OBJECTS", "OBJECTS"]
        assert hdul[1].columns.names == list(COLUMNS)
        assert hdul[1].header["TUNIT3"] == "mag"
        assert hdul[0].header["SEXMGZPT"] == 30.0
        mags = np.concatenate([hdul[1].data["MAG_AUTO"], hdul[2].data["MAG_AUTO"]])
        np.testing.assert_allclose(mags, cat["MAG_AUTO"])
    write_catalogue(cat, tmp_path / "x.ecsv", "ecsv", columns=COLUMNS, params=params)
    table = Table.read(tmp_path / "x.ecsv", format="ascii.ecsv")
    assert table.colnames == list(COLUMNS)
    assert str(table["X_IMAGE"].unit) == "pix"
    assert table.meta["DETECT_THRESH"] == "1.5"
    np.testing.assert_array_equal(table["NUMBER"], [1, 2, 1])


@pytest.mark.parametrize("fmt", ["ascii_head", "fits", "ecsv"])
def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError, match="does not exist") as info:
        write_catalogue(_catalogue(), out / "missing" / "x.cat", fmt)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    target = out / "keep.cat"
    target.write_text("old\n")
    bad = _catalogue()[["NUMBER"]]  # lacks the requested columns: fails mid-way
    with pytest.raises((OutputError, ValueError, KeyError)):
        write_catalogue(bad, target, fmt)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in out.iterdir()) == ["keep.cat"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            write_catalogue(_catalogue(), tmp_path / "x.cat")
    finally:
        tmp_path.chmod(0o700)


def test_directory_as_output(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        write_catalogue(_catalogue(), tmp_path)


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_catalogue(_catalogue(), tmp_path / "x.cat")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_catalogue_path_for() -> None:
    assert catalogue_path_for("/data/1056213p.fits.fz", "out", "ascii_head") == Path(
        "out/1056213p.cat"
    )
    assert catalogue_path_for("1056213p.fits", ".", "fits") == Path("1056213p.cat.fits")
    assert catalogue_path_for("img.FITS", ".", "ecsv") == Path("img.ecsv")
    assert catalogue_path_for("noext", ".", "ascii_head") == Path("noext.cat")
