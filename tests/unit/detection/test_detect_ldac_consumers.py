"""Our FITS_LDAC catalogues read by the real PSFEx and SCAMP (what FITS_LDAC is written for).

* PSFEx builds a PSF model from our catalogue (VIGNET, the WIN positions, FLUX_APER…) with
  its default configuration, selecting about as many stars as from source-extractor's own
  catalogue of the same image and finding the same FWHM.
* SCAMP reads our catalogue (LDAC_IMHEAD: the image header cards, blank-padded like
  SExtractor's; astropy's NUL padding made SCAMP segfault) and solves the astrometry
  offline against a reference catalogue (``-ASTREF_CATALOG FILE``: source-extractor's
  catalogue of the same image), matching most of our detections.

Skipped without the tools unless CANFAR_TUI_REQUIRE_TOOLS is set
(scripts/install_detection_tools.sh installs them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
PSFEX_COLUMNS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "FLUX_APER(1)",
    "FLUXERR_APER(1)",
    "FLUX_RADIUS",
    "ELONGATION",
    "FLAGS",
    "SNR_WIN",
    "FLUX_MAX",
    "VIGNET(35,35)",
)
SCAMP_COLUMNS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "ERRAWIN_IMAGE",
    "ERRBWIN_IMAGE",
    "ERRTHETAWIN_IMAGE",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "MAG_AUTO",
    "FLAGS",
    "FLAGS_WIN",
)
REFERENCE_COLUMNS = (
    "X_WORLD",
    "Y_WORLD",
    "ERRA_WORLD",
    "ERRB_WORLD",
    "ERRTHETA_WORLD",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLAGS",
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("ldac_consumers")
    config = SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11, wcs="tpv")
    write_synthetic_mef(work / "img.fits", config.for_area().scaled(3.0), compress=False)
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    return work


def _common(param: str) -> list[str]:
    return [
        "-c",
        "/dev/null",
        "-PARAMETERS_NAME",
        param,
        "-FILTER_NAME",
        "default.conv",
        "-CATALOG_TYPE",
        "FITS_LDAC",
        "-VERBOSE_TYPE",
        "QUIET",
    ]


def _ours(work: Path, name: str, columns: tuple[str, ...]) -> Path:
    (work / f"{name}.param").write_text("\n".join(columns) + "\n")
    out = work / f"ours_{name}.cat"
    assert cli.main(["img.fits", *_common(f"{name}.param"), "-CATALOG_NAME", out.name, "-q"]) == 0
    return out


def _theirs(work: Path, name: str, columns: tuple[str, ...]) -> Path:
    tools = require_tools("source-extractor")
    (work / f"{name}.param").write_text("\n".join(columns) + "\n")
    out = work / f"theirs_{name}.cat"
    subprocess.run(
        [
            tools["source-extractor"],
            "img.fits",
            *_common(f"{name}.param"),
            "-CATALOG_NAME",
            str(out),
        ],
        cwd=work,
        check=True,
        capture_output=True,
    )
    return out


def _psfex(work: Path, catalogue: Path) -> list[fits.Header]:
    tools = require_tools("psfex")
    done = subprocess.run(
        [
            tools["psfex"],
            catalogue.name,
            "-c",
            "/dev/null",
            "-PSFVAR_DEGREES",
            "0",
            "-CHECKPLOT_DEV",
            "NULL",
            "-CHECKPLOT_TYPE",
            "NONE",
            "-CHECKIMAGE_TYPE",
            "NONE",
            "-WRITE_XML",
            "N",
            "-NTHREADS",
            "1",
            "-VERBOSE_TYPE",
            "QUIET",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with fits.open(catalogue.with_suffix(".psf")) as hdul:
        assert [h.name for h in hdul[1:]] == ["PSF_DATA"] * 2
        return [h.header.copy() for h in hdul[1:]]


def test_psfex_builds_a_psf_from_our_catalogue(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tools("psfex", "source-extractor")
    monkeypatch.chdir(work)
    ours = _psfex(work, _ours(work, "psf", PSFEX_COLUMNS))
    theirs = _psfex(work, _theirs(work, "psf", PSFEX_COLUMNS))
    for mine, ref in zip(ours, theirs, strict=True):
        # PSFEx loaded stars from our VIGNETs and accepted them as from SExtractor's.
        assert mine["ACCEPTED"] >= 10
        assert abs(mine["LOADED"] - ref["LOADED"]) <= max(2, 0.1 * ref["LOADED"])
        assert abs(mine["ACCEPTED"] - ref["ACCEPTED"]) <= max(2, 0.1 * ref["ACCEPTED"])
        assert mine["PSF_FWHM"] == pytest.approx(ref["PSF_FWHM"], rel=0.02)
        assert 0.5 < mine["CHI2"] < 2.0


def _scamp(work: Path, catalogue: Path, reference: Path) -> tuple[Any, Any]:
    """Run SCAMP offline on ``catalogue``; its (Fields, FGroups) rows from the XML report."""
    tools = require_tools("scamp")
    xml = catalogue.with_suffix(".xml")
    done = subprocess.run(
        [
            tools["scamp"],
            catalogue.name,
            "-c",
            "/dev/null",
            "-ASTREF_CATALOG",
            "FILE",
            "-ASTREFCAT_NAME",
            reference.name,
            "-ASTREFMAG_KEY",
            "MAG_AUTO",
            "-ASTREFMAGERR_KEY",
            "MAGERR_AUTO",
            "-SOLVE_PHOTOM",
            "N",
            "-CHECKPLOT_DEV",
            "NULL",
            "-CHECKPLOT_TYPE",
            "NONE",
            "-XML_NAME",
            xml.name,
            "-NTHREADS",
            "1",
            "-VERBOSE_TYPE",
            "QUIET",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    tables = {t.name: t.array for t in parse(str(xml)).iter_tables()}
    return tables["Fields"][0], tables["FGroups"][0]


def test_scamp_solves_astrometry_with_our_catalogue(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tools("scamp", "source-extractor")
    monkeypatch.chdir(work)
    reference = _theirs(work, "reference", REFERENCE_COLUMNS)
    ours = _ours(work, "scamp", SCAMP_COLUMNS)
    field, group = _scamp(work, ours, reference)
    ref_field, ref_group = _scamp(work, _theirs(work, "scamp", SCAMP_COLUMNS), reference)
    # SCAMP keeps the detections with S/N > 10 and clean flags: as many of ours as of
    # source-extractor's, and matches as many to the reference.
    assert field["NExtensions"] == ref_field["NExtensions"] == 2
    assert field["NDetect"] > 100
    assert abs(int(field["NDetect"]) - int(ref_field["NDetect"])) <= 0.05 * ref_field["NDetect"]
    matched, ref_matched = (int(g["AstromNDets_Reference"]) for g in (group, ref_group))
    assert matched >= 0.8 * field["NDetect"]
    assert abs(matched - ref_matched) <= 0.05 * ref_matched
    assert np.all(np.asarray(group["AstromSigma_Reference"]) < 0.1)  # arcsec
    head = (work / "ours_scamp.head").read_text()
    assert head.count("CTYPE1  = 'RA---TPV'") == 2 and head.count("PV1_1   =") == 2


def test_imhead_cards_are_blank_padded(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Field Header Card cell holds 80-character cards padded with blanks, END last."""
    monkeypatch.chdir(work)
    ours = _ours(work, "plain", ("NUMBER", "X_IMAGE", "Y_IMAGE", "FLAGS"))
    raw = ours.read_bytes()
    with fits.open(ours) as hdul:
        heads = [h for h in hdul if h.name == "LDAC_IMHEAD"]
        assert len(heads) == 2
        for hdu in heads:
            n_cards = int(hdu.header["TDIM1"].strip("()").split(",")[1])
            assert hdu.header["TFORM1"] == f"{80 * n_cards}A"
            cards = [str(c) for c in hdu.data["Field Header Card"][0]]
            assert len(cards) == n_cards and cards[-1] == "END"
            start = raw.index(b"XTENSION= 'IMAGE   '", hdu.fileinfo()["datLoc"])
            text = raw[start : start + 80 * n_cards]
            assert b"\0" not in text and text.endswith(b"END" + b" " * 77)
