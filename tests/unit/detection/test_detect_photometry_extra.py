"""ISOCOR, BEST, PETRO, MU_*, THRESHOLDMAX and *_IMAGE_DBL against the real source-extractor.

The same command line is given to ``source-extractor`` and ``canfar-tui detect`` on a
synthetic two-CCD image with a WCS (PIXEL_SCALE 0: the surface brightnesses use the WCS
pixel area); on the matched bright half the columns must meet issue 14's criteria.
Skipped without the tools (see test_detect_parity.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.params import DetectionParams, ParamError
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
COLUMNS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "X_IMAGE_DBL",
    "Y_IMAGE_DBL",
    "MAG_AUTO",
    "FLAGS",
    "FLUX_ISOCOR",
    "FLUXERR_ISOCOR",
    "MAG_ISOCOR",
    "MAGERR_ISOCOR",
    "FLUX_BEST",
    "FLUXERR_BEST",
    "MAG_BEST",
    "MAGERR_BEST",
    "FLUX_PETRO",
    "FLUXERR_PETRO",
    "MAG_PETRO",
    "MAGERR_PETRO",
    "PETRO_RADIUS",
    "MU_MAX",
    "MU_THRESHOLD",
    "THRESHOLD",
    "THRESHOLDMAX",
)
FLUXES: tuple[str, ...] = ("FLUX_ISOCOR", "FLUXERR_ISOCOR", "FLUX_BEST", "FLUXERR_BEST")
FLUXES += ("FLUX_PETRO", "FLUXERR_PETRO", "PETRO_RADIUS", "THRESHOLDMAX")
MAGS: tuple[str, ...] = ("MAG_ISOCOR", "MAGERR_ISOCOR", "MAG_BEST", "MAGERR_BEST")
MAGS += ("MAG_PETRO", "MAGERR_PETRO", "MU_MAX", "MU_THRESHOLD")


def _objects(path: Path) -> list[npt.NDArray[np.void]]:
    with fits.open(path) as hdul:
        return [np.asarray(h.data).copy() for h in hdul if h.name == "LDAC_OBJECTS"]


def _run_both(work: Path, extra: list[str]) -> tuple[Path, Path]:
    tools = require_tools("source-extractor")
    image = work / "img.fits"
    config = SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11, wcs="tan")
    write_synthetic_mef(image, config.for_area().scaled(3.0), compress=False)
    (work / "x.param").write_text("\n".join(COLUMNS) + "\n")
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    common = [
        "-PARAMETERS_NAME",
        "x.param",
        "-FILTER_NAME",
        "default.conv",
        "-PIXEL_SCALE",
        "0",
        "-DETECT_MINAREA",
        "3",
        "-VERBOSE_TYPE",
        "QUIET",
        *extra,
    ]
    if "-CATALOG_TYPE" not in extra:
        common += ["-CATALOG_TYPE", "FITS_LDAC"]
    ours, theirs = work / "ours.cat", work / "theirs.cat"
    subprocess.run(
        [tools["source-extractor"], image.name, *common, "-CATALOG_NAME", theirs.name],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert cli.main([image.name, *common, "-CATALOG_NAME", ours.name, "-q"]) == 0
    return ours, theirs


@pytest.mark.parametrize("extra", [[], ["-PHOT_PETROPARAMS", "1.5,2.5", "-MAG_ZEROPOINT", "25"]])
def test_extra_photometry_matches_source_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    ours_path, theirs_path = _run_both(tmp_path, extra)
    pairs: list[tuple[npt.NDArray[np.void], npt.NDArray[np.void]]] = []
    n_bright = n_matched = 0
    for ours, theirs in zip(_objects(ours_path), _objects(theirs_path), strict=True):
        d = np.hypot(
            theirs["X_IMAGE"][:, None] - ours["X_IMAGE"][None, :],
            theirs["Y_IMAGE"][:, None] - ours["Y_IMAGE"][None, :],
        )
        bright = theirs["MAG_AUTO"] < np.median(theirs["MAG_AUTO"])
        matched = bright & (d.min(axis=1) < 1.0)
        n_bright += int(bright.sum())
        n_matched += int(matched.sum())
        pairs.append((ours[d.argmin(axis=1)[matched]], theirs[matched]))
    assert n_bright > 50 and n_matched >= 0.995 * n_bright
    o = np.concatenate([p[0] for p in pairs])
    t = np.concatenate([p[1] for p in pairs])
    for name in ("X_IMAGE_DBL", "Y_IMAGE_DBL"):
        assert np.median(np.abs(o[name] - t[name])) <= 0.05, name
    for name in FLUXES:
        assert np.median(np.abs(o[name] / t[name] - 1.0)) <= 0.05, name
    for name in MAGS:
        assert np.median(np.abs(o[name] - t[name])) <= 0.03, name
    # BEST is ISOCOR exactly where FLAGS says crowded, AUTO elsewhere (both sides agree).
    crowded = (o["FLAGS"] & 1) != 0
    assert np.allclose(o["FLUX_BEST"][crowded], o["FLUX_ISOCOR"][crowded])
    # The Petrosian radius is not a constant: the search found real profiles.
    assert len(np.unique(np.round(t["PETRO_RADIUS"], 2))) > 3


def test_petroparams_are_validated() -> None:
    assert DetectionParams().phot_petroparams == (2.0, 3.5)
    params = DetectionParams().with_overrides({"PHOT_PETROPARAMS": "1.5, 2.0"})
    assert params.phot_petroparams == (1.5, 2.0)
    with pytest.raises(ParamError, match="PHOT_PETROPARAMS"):
        DetectionParams().with_overrides({"PHOT_PETROPARAMS": "0,1"})


def test_fits_1_0_layout_matches_source_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CATALOG_TYPE FITS_1.0: same HDUs, EXTNAMEs, primary keywords and column cards."""
    monkeypatch.chdir(tmp_path)
    ours_path, theirs_path = _run_both(tmp_path, ["-CATALOG_TYPE", "FITS_1.0"])
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        assert [h.name for h in ours] == [h.name for h in theirs] == ["PRIMARY", *["OBJECTS"] * 2]
        assert list(ours[0].header) == list(theirs[0].header)
        for key in ("FITSNEXT", "SEXTHLD", "SEXMINAR", "SEXNPARA", "SEXPIXSK"):
            assert ours[0].header[key] == theirs[0].header[key], key
        for mine, ref in zip(ours[1:], theirs[1:], strict=True):
            n = ref.header["TFIELDS"]
            assert mine.header["TFIELDS"] == n
            for key in ("TTYPE", "TFORM", "TUNIT", "TDISP"):
                assert [mine.header.get(f"{key}{i}") for i in range(1, n + 1)] == [
                    ref.header.get(f"{key}{i}") for i in range(1, n + 1)
                ], key
            assert [mine.header.comments[f"TTYPE{i}"] for i in range(1, n + 1)] == [
                ref.header.comments[f"TTYPE{i}"] for i in range(1, n + 1)
            ]
            assert abs(len(mine.data) - len(ref.data)) <= 0.05 * len(ref.data)
