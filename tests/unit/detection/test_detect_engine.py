"""The per-extension engine: recovery of injected sources, flags, guards, bad pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sep
from astropy.io import fits
from detect_support import SyntheticImage

from canfar_tui.detection.column_info import MEASURED_COLUMNS
from canfar_tui.detection.engine import CATALOGUE_DTYPE, measure, process_extension
from canfar_tui.detection.errors import ExtensionError
from canfar_tui.detection.params import DetectionParams
from canfar_tui.detection.reader import scan_image


def _nearest(cat: np.ndarray, x: float, y: float) -> tuple[int, float]:
    d = np.hypot(cat["X_IMAGE"] - x, cat["Y_IMAGE"] - y)
    i = int(np.argmin(d))
    return i, float(d[i])


def test_recovers_injected_bright_isolated_stars(small_fz: SyntheticImage) -> None:
    exts, _ = scan_image(small_fz.path)
    params = DetectionParams()
    outputs = {e.ext_number: process_extension(small_fz.path, e, params) for e in exts}
    checked = 0
    for src in small_fz.truth:
        if src.kind != "star" or src.saturated or not 5e4 < src.flux < 5e5:
            continue
        cat = outputs[src.ext_number].catalogue
        i, dist = _nearest(cat, src.x, src.y)
        # Only isolated stars away from the border: nothing else injected within 15 px.
        neighbours = [
            o
            for o in small_fz.truth
            if o is not src
            and o.ext_number == src.ext_number
            and np.hypot(o.x - src.x, o.y - src.y) < 15
        ]
        if neighbours or cat["FLAGS"][i] & 8:
            continue
        assert dist < 0.2, (src, dist)
        assert cat["FLUX_AUTO"][i] == pytest.approx(src.flux, rel=0.05)
        assert cat["MAG_AUTO"][i] == pytest.approx(-2.5 * np.log10(cat["FLUX_AUTO"][i]), abs=1e-4)
        checked += 1
    assert checked >= 5


def test_catalogue_columns_and_numbering(small_fz: SyntheticImage) -> None:
    exts, _ = scan_image(small_fz.path)
    out = process_extension(small_fz.path, exts[2], DetectionParams())
    cat = out.catalogue
    assert cat.dtype == CATALOGUE_DTYPE
    assert set(cat.dtype.names or ()) == set(MEASURED_COLUMNS)  # optional ones: when asked
    assert len(cat) > 20
    np.testing.assert_array_equal(cat["NUMBER"], np.arange(1, len(cat) + 1))
    assert set(cat["EXT_NUMBER"]) == {3}
    assert (cat["X_IMAGE"] >= 0.5).all() and (cat["X_IMAGE"] <= 512.5).all()
    assert (cat["THETA_IMAGE"] >= -90).all() and (cat["THETA_IMAGE"] <= 90).all()
    assert (cat["A_IMAGE"] >= cat["B_IMAGE"]).all()
    assert np.all((cat["KRON_RADIUS"] == 0) | (cat["KRON_RADIUS"] >= 3.5))
    assert out.gain == pytest.approx(1.6, rel=0.06)  # the GAIN keyword, not GAIN 0
    assert out.saturation == 65535.0  # the SATURATE keyword, not SATUR_LEVEL 50000
    assert out.background == pytest.approx(1500, rel=0.05)
    assert out.threshold == pytest.approx(1.5 * out.rms)
    assert set(out.timings) >= {"read", "background", "extract", "photometry", "total"}


def test_saturated_stars_are_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(1000.0, 10.0, (200, 200)).astype(np.float32)
    yy, xx = np.mgrid[:200, :200]
    star = 2e5 * np.exp(-((xx - 100.3) ** 2 + (yy - 80.6) ** 2) / (2 * 1.5**2))
    data += star.astype(np.float32)
    np.minimum(data, 30000.0, out=data)
    out = measure(data, DetectionParams(), saturation=30000.0)
    i, dist = _nearest(out.catalogue, 101.3, 81.6)
    assert dist < 0.5
    assert out.catalogue["FLAGS"][i] & 4


def test_degenerate_and_crowded_shapes_do_not_crash() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(0.0, 1.0, (300, 300)).astype(np.float32)
    data[100, 50:250] += 500.0  # a one-pixel-wide streak: b ~ 0
    data[150:152, 150] += 800.0  # two hot pixels in a column
    data[10:290, 20] += 50.0  # a bad column
    data[0, :] += 300.0  # along the border
    out = measure(data, DetectionParams())
    cat = out.catalogue
    assert len(cat) >= 3
    assert np.isfinite(cat["MAG_AUTO"]).all()
    assert np.isfinite(cat["X_IMAGE"]).all()
    assert (cat["FLAGS"][cat["Y_IMAGE"] < 2] & 8).all()


def test_pixel_buffer_full_is_retried() -> None:
    rng = np.random.default_rng(4)
    data = rng.normal(0.0, 1.0, (400, 400)).astype(np.float32)
    yy, xx = np.mgrid[:400, :400]
    data += (500 * np.exp(-((xx - 200) ** 2 + (yy - 200) ** 2) / (2 * 60.0**2))).astype(np.float32)
    small_stack = DetectionParams(pixstack=1000)
    out = measure(data.copy(), small_stack)
    reference = measure(data.copy(), DetectionParams())
    assert len(out.catalogue) == len(reference.catalogue)


def _write(tmp_path: Path, *arrays: np.ndarray) -> Path:
    path = tmp_path / "bad.fits"
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(a) for a in arrays]).writeto(path)
    return path


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.full((64, 64), np.nan, np.float32), "every pixel is NaN"),
        (np.zeros((64, 64), np.float32), "constant image (every pixel is 0)"),
        (np.full((64, 64), 7, np.int16), "constant image (every pixel is 7)"),
        (np.zeros((2, 64, 64), np.float32), "not a 2-D image"),
    ],
)
def test_bad_extensions_raise_one_line_errors(
    tmp_path: Path, array: np.ndarray, fragment: str
) -> None:
    path = _write(tmp_path, array)
    (ext,), _ = scan_image(path)
    with pytest.raises(ExtensionError) as info:
        process_extension(path, ext, DetectionParams())
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_partially_nan_extension_is_measured(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(100.0, 3.0, (128, 128)).astype(np.float32)
    data[:, :40] = np.nan
    data[60:63, 90:93] += 400.0
    path = _write(tmp_path, data)
    (ext,), _ = scan_image(path)
    out = process_extension(path, ext, DetectionParams())
    _, dist = _nearest(out.catalogue, 92.0, 62.0)
    assert dist < 0.5
    assert out.background == pytest.approx(100.0, abs=1.0)


def test_manual_background_and_absolute_threshold() -> None:
    rng = np.random.default_rng(6)
    data = rng.normal(50.0, 2.0, (128, 128)).astype(np.float32)
    data[30:33, 30:33] += 100.0
    params = DetectionParams(
        back_type="MANUAL", back_value=50.0, thresh_type="ABSOLUTE", detect_thresh=20.0
    )
    out = measure(data, params)
    assert out.threshold == 20.0
    assert len(out.catalogue) == 1
    # As in SExtractor, BACKGROUND is the background map's value, not BACK_VALUE.
    assert out.catalogue["BACKGROUND"][0] == pytest.approx(50.0, abs=0.5)


def test_deblending_overflow_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from canfar_tui.detection import engine

    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 1.0, (300, 300)).astype(np.float32)
    yy, xx = np.mgrid[:300, :300]
    for i in range(8):  # a chain of stars
        data += (500 * np.exp(-((xx - 60 - i * 20) ** 2 + (yy - 150) ** 2) / 8)).astype(np.float32)
    reference = measure(data.copy(), DetectionParams())
    limits: list[int] = []
    real_set = sep.set_sub_object_limit

    def record(value: int) -> None:
        limits.append(value)
        real_set(value)

    monkeypatch.setattr(engine, "DEFAULT_SUBOBJECTS", 1)
    monkeypatch.setattr(sep, "set_sub_object_limit", record)
    default = sep.get_sub_object_limit()
    try:
        out = measure(data.copy(), DetectionParams())
    finally:
        real_set(default)  # sep's limit is process-wide: later tests call sep.extract directly
    assert limits[:2] == [1, 4]  # overflowed at 1, retried with a larger limit
    np.testing.assert_array_equal(out.catalogue, reference.catalogue)
