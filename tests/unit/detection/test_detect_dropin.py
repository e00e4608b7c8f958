"""source-extractor's own command line, vector columns, WCS columns and the SExtractor writers.

The same command line (``IMAGE -c my.sex -CATALOG_NAME … -PARAMETERS_NAME … -DETECT_THRESH …``)
is given to the real ``source-extractor`` and to ``canfar-tui detect`` on synthetic images
with a WCS (plain TAN, and TPV-distorted); on the matched bright half of the sources the
optional columns must agree (issue 14's criteria). Skipped without the tools (see
test_detect_parity.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "MAG_AUTO",
    "FLUX_AUTO",
    "ALPHA_J2000",
    "DELTA_J2000",
    "X_WORLD",
    "Y_WORLD",
    "FLUX_APER(3)",
    "FLUXERR_APER(3)",
    "MAG_APER(3)",
    "MAGERR_APER(3)",
    "FLUX_RADIUS(2)",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
)


def _run_both(work: Path, wcs: str, catalog_type: str) -> tuple[Path, Path]:
    tools = require_tools("source-extractor")
    image = work / f"{wcs}.fits"
    if not image.exists():
        config = SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11, wcs=wcs)  # type: ignore[arg-type]
        write_synthetic_mef(image, config.for_area().scaled(3.0), compress=False)
    (work / "my.param").write_text("\n".join(COLUMNS) + "\n")
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    (work / "my.sex").write_text(
        "PARAMETERS_NAME default.param\nFILTER_NAME default.conv\nDETECT_THRESH 1.5\n"
        "CATALOG_TYPE ASCII_HEAD\n"
    )
    common = [
        "-c",
        "my.sex",
        "-PARAMETERS_NAME",
        "my.param",
        "-CATALOG_TYPE",
        catalog_type,
        "-DETECT_THRESH",
        "1.5",
        "-PHOT_APERTURES",
        "5,10,15",
        "-PHOT_FLUXFRAC",
        "0.5,0.9",
        "-VERBOSE_TYPE",
        "QUIET",
    ]
    theirs, ours = work / f"theirs_{wcs}.{catalog_type}", work / f"ours_{wcs}.{catalog_type}"
    subprocess.run(
        [tools["source-extractor"], image.name, *common, "-CATALOG_NAME", theirs.name],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert cli.main([image.name, *common, "-CATALOG_NAME", ours.name, "-q"]) == 0
    return ours, theirs


def _fits_rows(path: Path, extname: str) -> np.ndarray:
    with fits.open(path) as hdul:
        parts = []
        for ext_number, hdu in enumerate((h for h in hdul if h.name == extname), 1):
            data = np.asarray(hdu.data)
            rows = np.zeros(len(data), dtype=[*data.dtype.descr, ("EXT", "i4")])
            for name in data.dtype.names or ():
                rows[name] = data[name]
            rows["EXT"] = ext_number
            parts.append(rows)
    return np.concatenate(parts)


@pytest.mark.parametrize("wcs", ["tan", "tpv"])
def test_optional_columns_match_source_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wcs: str
) -> None:
    monkeypatch.chdir(tmp_path)
    ours_path, theirs_path = _run_both(tmp_path, wcs, "FITS_LDAC")
    ours, theirs = _fits_rows(ours_path, "LDAC_OBJECTS"), _fits_rows(theirs_path, "LDAC_OBJECTS")
    index = np.full(len(theirs), -1)
    dist = np.full(len(theirs), np.inf)
    for ext in np.unique(theirs["EXT"]):
        t, o = np.flatnonzero(theirs["EXT"] == ext), np.flatnonzero(ours["EXT"] == ext)
        d = np.hypot(
            theirs["X_IMAGE"][t, None] - ours["X_IMAGE"][None, o],
            theirs["Y_IMAGE"][t, None] - ours["Y_IMAGE"][None, o],
        )
        index[t] = o[d.argmin(axis=1)]
        dist[t] = d.min(axis=1)
    bright = theirs["MAG_AUTO"] < np.median(theirs["MAG_AUTO"])
    matched = bright & (dist < 1.0)
    assert matched.sum() >= 0.995 * bright.sum() and bright.sum() > 50
    o, t = ours[index[matched]], theirs[matched]
    cos_dec = np.cos(np.radians(t["DELTA_J2000"]))
    sky = 3600 * np.hypot(
        (o["ALPHA_J2000"] - t["ALPHA_J2000"]) * cos_dec, o["DELTA_J2000"] - t["DELTA_J2000"]
    )
    assert np.median(sky) <= 0.02
    world = 3600 * np.hypot((o["X_WORLD"] - t["X_WORLD"]) * cos_dec, o["Y_WORLD"] - t["Y_WORLD"])
    assert np.median(world) <= 0.02
    win = np.hypot(o["XWIN_IMAGE"] - t["XWIN_IMAGE"], o["YWIN_IMAGE"] - t["YWIN_IMAGE"])
    assert np.median(win) <= 0.05
    for name in ("FLUX_APER", "FLUXERR_APER", "FLUX_RADIUS"):
        relative = np.abs(o[name] / t[name] - 1.0)
        assert np.all(np.median(relative, axis=0) <= 0.05), name
    for name in ("MAG_APER", "MAGERR_APER"):
        assert np.all(np.median(np.abs(o[name] - t[name]), axis=0) <= 0.03), name


def test_ldac_layout_matches_source_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ours_path, theirs_path = _run_both(tmp_path, "tpv", "FITS_LDAC")
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        assert [h.name for h in ours] == [h.name for h in theirs]
        for mine, ref in zip(ours[2::2], theirs[2::2], strict=True):
            for key in ("TTYPE", "TFORM", "TUNIT", "TDISP"):
                n = ref.header["TFIELDS"]
                assert [mine.header.get(f"{key}{i}") for i in range(1, n + 1)] == [
                    ref.header.get(f"{key}{i}") for i in range(1, n + 1)
                ], key
        cards = [c.strip() for c in ours[1].data["Field Header Card"][0]]
        assert cards[-1] == "END" and any(c.startswith("CTYPE1  = 'RA---TPV'") for c in cards)


@pytest.mark.parametrize("catalog_type", ["ASCII_HEAD", "ASCII_SKYCAT"])
def test_ascii_headers_are_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog_type: str
) -> None:
    monkeypatch.chdir(tmp_path)
    ours_path, theirs_path = _run_both(tmp_path, "tan", catalog_type)
    ours, theirs = ours_path.read_text(), theirs_path.read_text()
    if catalog_type == "ASCII_HEAD":
        head = [line for line in theirs.splitlines(keepends=True) if line.startswith("#")]
        assert [line for line in ours.splitlines(keepends=True) if line.startswith("#")] == head
    else:
        assert ours.split("------------------\n")[0] == theirs.split("------------------\n")[0]
        assert ours.endswith("\n[EOD]") and theirs.endswith("\n[EOD]")
    widths = {len(line.split()) for line in theirs.splitlines() if line[:1] == " "}
    assert {len(line.split()) for line in ours.splitlines() if line[:1] == " "} == widths


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["-DETECT_TYPE", "PHOTO"],
            "not supported on the command line: DETECT_TYPE PHOTO",
        ),
        (["-DGEO_TYPE", "PIXEL"], "not supported on the command line: DGEO_TYPE"),
        (["-CATALOG_TYPE", "ASCII_VOTABLE"], "CATALOG_TYPE ASCII_VOTABLE: not supported"),
        (["-CATALOG_NAME", "x.cat", "-o", "y.cat"], "either -o/--outdir or -CATALOG_NAME"),
        (["-CATALOG_TYPE", "FITS_LDAC", "--format", "fits"], "either --format or -CATALOG_TYPE"),
        (["-PHOT_APERTURES", "0"], "PHOT_APERTURES must be diameters > 0"),
    ],
)
def test_refused_command_line_keys(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["a.fits", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err


def test_psf_columns_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "psf.param").write_text("NUMBER\nMAG_PSF\nSPREAD_MODEL\nMAG_APER(2)\n")
    assert cli.main(["a.fits", "-PARAMETERS_NAME", "psf.param"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unsupported column(s): MAG_PSF, SPREAD_MODEL" in err
