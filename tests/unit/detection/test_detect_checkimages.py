"""CHECKIMAGE_TYPE / CHECKIMAGE_NAME against the real source-extractor's check-images.

The same command line asks both programs for every supported check-image of a synthetic
two-CCD image with a WCS; the files must have the same HDU layout and headers (EXTNAME and
WCS copied, BITPIX), the maps must agree numerically (backgrounds, filtered image), the
segmentation maps must cover the same objects (overlap, not ids) and the APERTURES overlay
must be drawn where source-extractor draws it. Skipped without the tools (see
test_detect_parity.py).
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
from canfar_tui.detection import (
    ExtensionFinished,
    ImageCancelled,
    ImageFinished,
    detect_image,
    run_detection,
)
from canfar_tui.detection.params import DetectionParams, ParamError
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
TYPES = (
    "BACKGROUND",
    "BACKGROUND_RMS",
    "MINIBACKGROUND",
    "MINIBACK_RMS",
    "-BACKGROUND",
    "FILTERED",
    "OBJECTS",
    "-OBJECTS",
    "SEGMENTATION",
    "APERTURES",
)
PARAM = "NUMBER\nX_IMAGE\nY_IMAGE\nA_IMAGE\nMAG_AUTO\nFLUX_APER\nMAG_PETRO\n"


def _name(kind: str) -> str:
    return kind.replace("-", "minus_").lower() + ".fits"


def _image(work: Path, n_ccds: int = 2) -> Path:
    image = work / f"img{n_ccds}.fits"
    config = SyntheticConfig(n_ccds=n_ccds, width=512, height=1024, seed=11, wcs="tan")
    write_synthetic_mef(image, config.for_area().scaled(3.0), compress=False)
    (work / "x.param").write_text(PARAM)
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    return image


def _args(image: Path, prefix: str, types: tuple[str, ...] = TYPES) -> list[str]:
    return [
        image.name,
        "-PARAMETERS_NAME",
        "x.param",
        "-FILTER_NAME",
        "default.conv",
        "-DETECT_MINAREA",
        "3",
        "-CATALOG_NAME",
        f"{prefix}.cat",
        "-CHECKIMAGE_TYPE",
        ",".join(types),
        "-CHECKIMAGE_NAME",
        ",".join(f"{prefix}_{_name(t)}" for t in types),
    ]


def _run_both(work: Path) -> None:
    tools = require_tools("source-extractor")
    image = _image(work)
    subprocess.run(
        [tools["source-extractor"], *_args(image, "theirs"), "-VERBOSE_TYPE", "QUIET"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert cli.main([*_args(image, "ours"), "-q"]) == 0


def _dilate(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    pad = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= pad[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return out


def test_check_images_match_source_extractor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _run_both(tmp_path)
    assert not list(tmp_path.glob(".*"))  # the hidden parts folders are gone
    rms_maps = (
        fits.getdata("theirs_background_rms.fits", 1),
        fits.getdata("theirs_background_rms.fits", 2),
    )
    for kind in TYPES:
        with fits.open(f"ours_{_name(kind)}") as ours, fits.open(f"theirs_{_name(kind)}") as ref:
            assert [h.name for h in ours] == [h.name for h in ref] == ["PRIMARY", "ccd00", "ccd01"]
            assert ours[0].header["NEXTEND"] == ref[0].header["NEXTEND"] == 2
            for index in (1, 2):
                mine, theirs = ours[index], ref[index]
                assert mine.data.shape == theirs.data.shape, kind
                assert mine.header["BITPIX"] == theirs.header["BITPIX"], kind
                for key in ("EXTNAME", "CTYPE1", "CRVAL1", "GAIN"):
                    assert mine.header[key] == theirs.header[key], (kind, key)
                for key in ("CRPIX1", "CRPIX2", "CD1_1", "CD2_2"):
                    assert mine.header[key] == pytest.approx(theirs.header[key], rel=1e-9)
                rms = float(np.median(rms_maps[index - 1]))
                _compare(kind, mine.data, theirs.data, rms, index)


def _compare(
    kind: str,
    ours: npt.NDArray[np.generic],
    theirs: npt.NDArray[np.generic],
    rms: float,
    index: int,
) -> None:
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    if kind in ("BACKGROUND", "BACKGROUND_RMS", "-BACKGROUND", "FILTERED"):
        d = np.abs(o - t)[4:-4, 4:-4] / rms
        assert np.median(d) <= 0.01 and np.percentile(d, 99) <= 0.05, kind
    elif kind.startswith("MINI"):
        assert np.max(np.abs(o - t)) / rms <= 0.02, kind
    elif kind in ("OBJECTS", "-OBJECTS"):
        assert np.mean(o == t) >= 0.98, kind
    elif kind == "SEGMENTATION":
        _compare_segmentation(ours.astype(np.int64), theirs.astype(np.int64))
    elif kind == "APERTURES":
        # The outlines are added at 30 × RMS to the background-subtracted image.
        drawn_o = o - _ext("ours_minus_background.fits", index) > 15 * rms
        drawn_t = t - _ext("theirs_minus_background.fits", index) > 15 * rms
        assert drawn_t.sum() > 1000
        assert np.mean(_dilate(drawn_o)[drawn_t]) >= 0.95
        assert np.mean(_dilate(drawn_t)[drawn_o]) >= 0.9


def _ext(path: str, index: int) -> npt.NDArray[np.float64]:
    return np.asarray(fits.getdata(path, index), dtype=np.float64)


def _compare_segmentation(ours: npt.NDArray[np.int64], theirs: npt.NDArray[np.int64]) -> None:
    both = (ours > 0) & (theirs > 0)
    either = (ours > 0) | (theirs > 0)
    assert both.sum() / either.sum() >= 0.95
    # Object by object: the pixels of each of their objects mostly carry one of our ids,
    # and that id's pixels are mostly theirs (the ids themselves may differ).
    overlaps = []
    for label in np.unique(theirs[theirs > 0]):
        pixels = theirs == label
        ids, counts = np.unique(ours[pixels], return_counts=True)
        best = ids[counts.argmax()]
        if best == 0:
            overlaps.append(0.0)
            continue
        mine = ours == best
        overlaps.append(float((mine & pixels).sum() / (mine | pixels).sum()))
    assert np.median(overlaps) >= 0.9


def test_single_image_check_image_is_a_primary_hdu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = require_tools("source-extractor")
    monkeypatch.chdir(tmp_path)
    image = _image(tmp_path, n_ccds=1)
    types = ("SEGMENTATION", "BACKGROUND")
    subprocess.run(
        [tools["source-extractor"], *_args(image, "theirs", types), "-VERBOSE_TYPE", "QUIET"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert cli.main([*_args(image, "ours", types), "-q"]) == 0
    for kind in types:
        with fits.open(f"ours_{_name(kind)}") as ours, fits.open(f"theirs_{_name(kind)}") as ref:
            assert len(ours) == len(ref)
            assert [h.data.shape for h in ours if h.data is not None] == [
                h.data.shape for h in ref if h.data is not None
            ]


def test_no_check_images_cost_nothing(tmp_path: Path) -> None:
    """The default (CHECKIMAGE_TYPE NONE) writes nothing and does no check-image work."""
    image = tmp_path / "img.fits"
    write_synthetic_mef(image, SyntheticConfig(n_ccds=1, width=256, height=256, seed=3))
    result = detect_image(image, workers=1)
    assert all(not e.check_parts and "checkimages" not in e.timings for e in result.extensions)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["img.fits"]


def test_unwritable_check_image_fails_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "img.fits"
    write_synthetic_mef(image, SyntheticConfig(n_ccds=2, width=256, height=256, seed=3))
    code = cli.main(
        ["img.fits", "-CHECKIMAGE_TYPE", "SEGMENTATION", "-CHECKIMAGE_NAME", "nodir/seg.fits"]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "seg.fits" in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["img.fits"]


def test_check_image_parameters_are_validated() -> None:
    params = DetectionParams().with_overrides(
        {"CHECKIMAGE_TYPE": "SEGMENTATION, -BACKGROUND", "CHECKIMAGE_NAME": "a.fits b.fits"}
    )
    assert [kind for kind, _ in params.check_images] == ["SEGMENTATION", "-BACKGROUND"]
    assert [name for _, name in params.check_images] == ["a.fits", "b.fits"]
    assert DetectionParams().check_images == ()
    with pytest.raises(ParamError, match="CHECKIMAGE_TYPE PSFPROTOS: not supported"):
        DetectionParams().with_overrides({"CHECKIMAGE_TYPE": "PSFPROTOS"})
    with pytest.raises(ParamError, match="CHECKIMAGE_NAME: 1 name"):
        DetectionParams().with_overrides({"CHECKIMAGE_TYPE": "SEGMENTATION,APERTURES"})


def test_cancelled_run_leaves_no_parts(tmp_path: Path) -> None:
    """Cancelling after the first CCD leaves neither the check-image nor its parts."""
    import threading

    image = tmp_path / "img.fits"
    write_synthetic_mef(image, SyntheticConfig(n_ccds=3, width=256, height=256, seed=3))
    target = tmp_path / "seg.fits"
    params = DetectionParams().with_overrides(
        {"CHECKIMAGE_TYPE": "SEGMENTATION", "CHECKIMAGE_NAME": str(target)}
    )
    stop = threading.Event()
    kinds = []
    for event in run_detection(image, params, workers=1, cancel_event=stop):
        kinds.append(type(event))
        if isinstance(event, ExtensionFinished):
            assert len(list(tmp_path.glob(".seg.fits.*.parts/*.part"))) == 1
            stop.set()
    assert kinds[-1] is ImageCancelled and ImageFinished not in kinds
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["img.fits"]
