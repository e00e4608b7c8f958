"""The windowed (WIN) columns and VIGNET stamps against the real source-extractor.

The same command line is given to ``source-extractor`` and to ``canfar-tui detect`` on
synthetic images (a TPV-distorted one and a crowded one); on the matched bright half of the
sources every WIN column must agree within issue 14's thresholds (positions ≤ 0.05 px
median, magnitudes ≤ 0.03, fluxes/shapes/errors ≤ 5 % median relative, angles ≤ 2°, flags
equal on ≥ 95 %), the VIGNET stamps pixel for pixel, and the catalogue layouts (FITS_LDAC
TFORM/TDIM, ASCII_HEAD header) byte for byte. Skipped without the tool.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
WIN = (
    "FLUX_WIN",
    "FLUXERR_WIN",
    "MAG_WIN",
    "MAGERR_WIN",
    "SNR_WIN",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "X2WIN_IMAGE",
    "Y2WIN_IMAGE",
    "XYWIN_IMAGE",
    "CXXWIN_IMAGE",
    "CYYWIN_IMAGE",
    "CXYWIN_IMAGE",
    "AWIN_IMAGE",
    "BWIN_IMAGE",
    "THETAWIN_IMAGE",
    "ERRX2WIN_IMAGE",
    "ERRY2WIN_IMAGE",
    "ERRXYWIN_IMAGE",
    "ERRCXXWIN_IMAGE",
    "ERRCYYWIN_IMAGE",
    "ERRCXYWIN_IMAGE",
    "ERRAWIN_IMAGE",
    "ERRBWIN_IMAGE",
    "ERRTHETAWIN_IMAGE",
    "FLAGS_WIN",
    "NITER_WIN",
)
COLUMNS = ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_AUTO", *WIN, "VIGNET(15,11)", "FLAGS")
WIN_WORLD = (
    "XWIN_WORLD",
    "YWIN_WORLD",
    "ALPHAWIN_SKY",
    "DELTAWIN_SKY",
    "ALPHAWIN_J2000",
    "DELTAWIN_J2000",
    "ALPHAWIN_B1950",
    "DELTAWIN_B1950",
    "XWIN_FOCAL",
    "YWIN_FOCAL",
    "X2WIN_WORLD",
    "Y2WIN_WORLD",
    "XYWIN_WORLD",
    "CXXWIN_WORLD",
    "CYYWIN_WORLD",
    "CXYWIN_WORLD",
    "AWIN_WORLD",
    "BWIN_WORLD",
    "POLARWIN_WORLD",
    "THETAWIN_WORLD",
    "THETAWIN_SKY",
    "THETAWIN_J2000",
    "THETAWIN_B1950",
    "ERRX2WIN_WORLD",
    "ERRY2WIN_WORLD",
    "ERRXYWIN_WORLD",
    "ERRCXXWIN_WORLD",
    "ERRCYYWIN_WORLD",
    "ERRCXYWIN_WORLD",
    "ERRAWIN_WORLD",
    "ERRBWIN_WORLD",
    "ERRTHETAWIN_WORLD",
    "ERRTHETAWIN_SKY",
    "ERRTHETAWIN_J2000",
    "ERRTHETAWIN_B1950",
)
# source-extractor 2.25 computes the B1950 pole only when THETA_B1950 or ERRTHETA_B1950 is
# asked for (astrom.c); without them its THETAWIN_B1950 is measured from a pole at (0, 0).
WORLD_PARAM = ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_AUTO", *WIN_WORLD, "THETA_B1950")
IMAGES = {
    "tpv": SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11, wcs="tpv"),
    "crowded": SyntheticConfig(n_ccds=1, width=512, height=1024, seed=5, wcs="tan"),
}
SCALE = {"tpv": 3.0, "crowded": 10.0}

Rows = Any  # numpy structured arrays (FITS_LDAC rows)


def _run_both(
    work: Path, image_name: str, catalog_type: str, columns: tuple[str, ...] = COLUMNS
) -> tuple[Path, Path]:
    tools = require_tools("source-extractor")
    image = work / f"{image_name}.fits"
    if not image.exists():
        config = IMAGES[image_name]
        write_synthetic_mef(image, config.for_area().scaled(SCALE[image_name]), compress=False)
    tag = "win" if columns == COLUMNS else "winworld"
    (work / f"{tag}.param").write_text("\n".join(columns) + "\n")
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    common = [
        "-c",
        "/dev/null",
        "-PARAMETERS_NAME",
        f"{tag}.param",
        "-FILTER_NAME",
        "default.conv",
        "-CATALOG_TYPE",
        catalog_type,
        "-DETECT_THRESH",
        "1.5",
        "-MAG_ZEROPOINT",
        "30",
        "-VERBOSE_TYPE",
        "QUIET",
    ]
    suffix = catalog_type.lower()
    theirs = work / f"theirs_{tag}_{image_name}.{suffix}"
    ours = work / f"ours_{tag}_{image_name}.{suffix}"
    if not theirs.exists():
        subprocess.run(
            [tools["source-extractor"], image.name, *common, "-CATALOG_NAME", theirs.name],
            cwd=work,
            check=True,
            capture_output=True,
        )
    if not ours.exists():
        assert cli.main([image.name, *common, "-CATALOG_NAME", ours.name, "-q"]) == 0
    return ours, theirs


def _objects(path: Path) -> list[Rows]:
    with fits.open(path) as hdul:
        return [np.asarray(h.data).copy() for h in hdul if h.name == "LDAC_OBJECTS"]


def _matched_bright(ours_path: Path, theirs_path: Path) -> tuple[Rows, Rows]:
    """Our and their rows for the bright half of their sources, matched within 1 px."""
    mine, refs = [], []
    for o, t in zip(_objects(ours_path), _objects(theirs_path), strict=True):
        d = np.hypot(
            t["X_IMAGE"][:, None] - o["X_IMAGE"][None, :],
            t["Y_IMAGE"][:, None] - o["Y_IMAGE"][None, :],
        )
        bright = t["MAG_AUTO"] < np.median(t["MAG_AUTO"])
        matched = bright & (d.min(axis=1) < 1.0)
        assert matched.sum() >= 0.995 * bright.sum()
        mine.append(o[d.argmin(axis=1)[matched]])
        refs.append(t[matched])
    ours, theirs = np.concatenate(mine), np.concatenate(refs)
    assert len(theirs) > 100
    return ours, theirs


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("windowed")


def _relative(ours: Rows, theirs: Rows, name: str) -> float:
    a, b = ours[name].astype(np.float64), theirs[name].astype(np.float64)
    same = a == b  # 0 == 0 when the window holds no flux
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.median(np.where(same, 0.0, np.abs(a - b) / np.where(same, 1.0, np.abs(b)))))


def _cross_relative(ours: Rows, theirs: Rows, cross: str, xx: str, yy: str) -> float:
    """A cross term (XY, CXY) relative to the size of the diagonal ones (it can be ~0)."""
    scale = np.sqrt(np.abs(theirs[xx].astype(np.float64) * theirs[yy].astype(np.float64)))
    diff = np.abs(ours[cross].astype(np.float64) - theirs[cross].astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.median(np.where(diff == 0, 0.0, diff / np.where(diff == 0, 1.0, scale))))


def _angle(ours: Rows, theirs: Rows, name: str) -> float:
    diff = np.abs(ours[name].astype(np.float64) - theirs[name].astype(np.float64)) % 180.0
    return float(np.median(np.minimum(diff, 180.0 - diff)))


@pytest.mark.parametrize("image", ["tpv", "crowded"])
def test_windowed_columns_match_source_extractor(
    work: Path, monkeypatch: pytest.MonkeyPatch, image: str
) -> None:
    monkeypatch.chdir(work)
    ours, theirs = _matched_bright(*_run_both(work, image, "FITS_LDAC"))
    position = np.hypot(
        ours["XWIN_IMAGE"] - theirs["XWIN_IMAGE"], ours["YWIN_IMAGE"] - theirs["YWIN_IMAGE"]
    )
    assert np.median(position) <= 0.05
    for name in ("MAG_WIN", "MAGERR_WIN"):
        assert np.median(np.abs(ours[name] - theirs[name])) <= 0.03, name
    for name in (
        "FLUX_WIN",
        "FLUXERR_WIN",
        "SNR_WIN",
        "X2WIN_IMAGE",
        "Y2WIN_IMAGE",
        "CXXWIN_IMAGE",
        "CYYWIN_IMAGE",
        "AWIN_IMAGE",
        "BWIN_IMAGE",
        "ERRX2WIN_IMAGE",
        "ERRY2WIN_IMAGE",
        "ERRCXXWIN_IMAGE",
        "ERRCYYWIN_IMAGE",
        "ERRAWIN_IMAGE",
        "ERRBWIN_IMAGE",
    ):
        assert _relative(ours, theirs, name) <= 0.05, name
    for cross, xx, yy in (
        ("XYWIN_IMAGE", "X2WIN_IMAGE", "Y2WIN_IMAGE"),
        ("CXYWIN_IMAGE", "CXXWIN_IMAGE", "CYYWIN_IMAGE"),
        ("ERRXYWIN_IMAGE", "ERRX2WIN_IMAGE", "ERRY2WIN_IMAGE"),
        ("ERRCXYWIN_IMAGE", "ERRCXXWIN_IMAGE", "ERRCYYWIN_IMAGE"),
    ):
        assert _cross_relative(ours, theirs, cross, xx, yy) <= 0.05, cross
    for name in ("THETAWIN_IMAGE", "ERRTHETAWIN_IMAGE"):
        assert _angle(ours, theirs, name) <= 2.0, name
    assert np.mean(ours["FLAGS_WIN"] == theirs["FLAGS_WIN"]) >= 0.95
    # No threshold in the issue for the iteration count: most stop on the same step.
    assert np.mean(ours["NITER_WIN"] == theirs["NITER_WIN"]) >= 0.85


@pytest.mark.parametrize("image", ["tpv", "crowded"])
def test_vignet_stamps_match_source_extractor(
    work: Path, monkeypatch: pytest.MonkeyPatch, image: str
) -> None:
    monkeypatch.chdir(work)
    ours, theirs = _matched_bright(*_run_both(work, image, "FITS_LDAC"))
    assert ours["VIGNET"].shape[1:] == theirs["VIGNET"].shape[1:] == (11, 15)
    same = np.isclose(ours["VIGNET"], theirs["VIGNET"], rtol=1e-5, atol=1e-3)
    per_stamp = same.mean(axis=(1, 2))
    # Pixels agree, -1e30 off the image and on detected neighbours included; SExtractor
    # has not yet blanked a neighbour detected after the object on a few stamps.
    assert np.median(per_stamp) == 1.0
    assert np.mean(per_stamp >= 0.9) >= 0.95
    blank_theirs = theirs["VIGNET"] < -1e29
    assert blank_theirs.any() and np.mean((ours["VIGNET"] < -1e29) == blank_theirs) >= 0.99


def test_ldac_layout_with_win_and_vignet(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    ours_path, theirs_path = _run_both(work, "tpv", "FITS_LDAC")
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        for mine, ref in zip(ours[2::2], theirs[2::2], strict=True):
            n = ref.header["TFIELDS"]
            assert mine.header["TFIELDS"] == n
            for key in ("TTYPE", "TFORM", "TUNIT", "TDISP", "TDIM"):
                assert [mine.header.get(f"{key}{i}") for i in range(1, n + 1)] == [
                    ref.header.get(f"{key}{i}") for i in range(1, n + 1)
                ], key
            assert mine.header["NAXIS1"] == ref.header["NAXIS1"]


def test_ascii_head_with_vignet(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    ours_path, theirs_path = _run_both(work, "tpv", "ASCII_HEAD")
    ours, theirs = ours_path.read_text(), theirs_path.read_text()
    head = [line for line in theirs.splitlines(keepends=True) if line.startswith("#")]
    assert [line for line in ours.splitlines(keepends=True) if line.startswith("#")] == head
    assert any("VIGNET" in line for line in head)
    widths = {len(line.split()) for line in theirs.splitlines() if line[:1] == " "}
    assert widths == {4 + len(WIN) + 15 * 11 + 1}
    assert {len(line.split()) for line in ours.splitlines() if line[:1] == " "} == widths


def test_windowed_world_columns_match_source_extractor(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work)
    ours, theirs = _matched_bright(*_run_both(work, "tpv", "FITS_LDAC", WORLD_PARAM))
    for ra, dec in (
        ("XWIN_WORLD", "YWIN_WORLD"),
        ("ALPHAWIN_SKY", "DELTAWIN_SKY"),
        ("ALPHAWIN_J2000", "DELTAWIN_J2000"),
        ("ALPHAWIN_B1950", "DELTAWIN_B1950"),
    ):
        cos_dec = np.cos(np.radians(theirs[dec]))
        sky = 3600 * np.hypot((ours[ra] - theirs[ra]) * cos_dec, ours[dec] - theirs[dec])
        assert np.median(sky) <= 0.02, ra
    # Focal-plane positions are in the CD matrix's units: 0.05 px is 0.05 × |CD|.
    focal = np.hypot(
        ours["XWIN_FOCAL"] - theirs["XWIN_FOCAL"], ours["YWIN_FOCAL"] - theirs["YWIN_FOCAL"]
    )
    assert np.median(focal) <= 0.05 * 5.2e-5
    for name in (
        "X2WIN_WORLD",
        "Y2WIN_WORLD",
        "CXXWIN_WORLD",
        "CYYWIN_WORLD",
        "AWIN_WORLD",
        "BWIN_WORLD",
        "POLARWIN_WORLD",
        "ERRX2WIN_WORLD",
        "ERRY2WIN_WORLD",
        "ERRCXXWIN_WORLD",
        "ERRCYYWIN_WORLD",
        "ERRAWIN_WORLD",
        "ERRBWIN_WORLD",
    ):
        assert _relative(ours, theirs, name) <= 0.05, name
    for cross, xx, yy in (
        ("XYWIN_WORLD", "X2WIN_WORLD", "Y2WIN_WORLD"),
        ("CXYWIN_WORLD", "CXXWIN_WORLD", "CYYWIN_WORLD"),
        ("ERRXYWIN_WORLD", "ERRX2WIN_WORLD", "ERRY2WIN_WORLD"),
        ("ERRCXYWIN_WORLD", "ERRCXXWIN_WORLD", "ERRCYYWIN_WORLD"),
    ):
        assert _cross_relative(ours, theirs, cross, xx, yy) <= 0.05, cross
    for name in WIN_WORLD:
        if name.startswith(("THETA", "ERRTHETA")):
            assert _angle(ours, theirs, name) <= 2.0, name
