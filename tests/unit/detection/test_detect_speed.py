"""The speed work keeps the numbers: vectorised MASK_TYPE CORRECT sums, capped FLUX_RADIUS.

No timings here (they are in bench/detect_vs_sextractor.py): these tests check that the fast
paths compute what the plain definitions compute.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sep

from canfar_tui.detection import columns, windowed
from canfar_tui.detection.engine import _neighbour_corrected, measure
from canfar_tui.detection.params import DetectionParams


def _reference(
    data: np.ndarray,
    segmap: np.ndarray,
    seg_id: int,
    mx: float,
    my: float,
    cxx: float,
    cyy: float,
    cxy: float,
    r: float,
) -> tuple[float, int, int]:
    """SExtractor's neighbour-corrected ellipse sum, one pixel at a time."""
    ny, nx = data.shape
    dxlim = r / math.sqrt(cxx - cxy * cxy / (4.0 * cyy))
    dylim = r / math.sqrt(cyy - cxy * cxy / (4.0 * cxx))
    xmin = min(max(round(mx - dxlim), 0), nx)
    xmax = min(max(round(mx + dxlim) + 1, 0), nx)
    ymin = min(max(round(my - dylim), 0), ny)
    ymax = min(max(round(my + dylim) + 1, 0), ny)
    total, area, masked = 0.0, 0, 0
    for y in range(ymin, ymax):
        for x in range(xmin, xmax):
            dx, dy = x - mx, y - my
            if cxx * dx * dx + cyy * dy * dy + cxy * dx * dy > r * r:
                continue
            area += 1
            seg = int(segmap[y, x])
            if seg in (0, seg_id):
                total += float(data[y, x])
                continue
            masked += 1
            x2 = math.trunc(2.0 * mx + 0.49999 - x)
            y2 = math.trunc(2.0 * my + 0.49999 - y)
            if 0 <= x2 < nx and 0 <= y2 < ny and int(segmap[y2, x2]) in (0, seg_id):
                total += float(data[y2, x2])
    return total, area, masked


def test_neighbour_corrected_sums_match_the_pixel_by_pixel_definition() -> None:
    rng = np.random.default_rng(3)
    ny, nx = 60, 80
    data = rng.normal(0.0, 1.0, (ny, nx)).astype(np.float32)
    yy, xx = np.mgrid[0:ny, 0:nx]
    centres = [(20.3, 30.7), (26.1, 33.2), (50.6, 12.4), (70.2, 45.9), (3.4, 57.5)]
    for x0, y0 in centres:
        data += (400.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)).astype(np.float32)
    objects, segmap = sep.extract(data, 3.0, segmentation_map=True)
    assert len(objects) >= 4
    n = len(objects)
    ids = np.arange(1, n + 1, dtype=np.int32)
    mx = objects["x"].astype(np.float64)
    my = objects["y"].astype(np.float64)
    cxx = objects["cxx"].astype(np.float64)
    cyy = objects["cyy"].astype(np.float64)
    cxy = objects["cxy"].astype(np.float64)
    # Large enough that apertures overlap neighbours and cross the image border.
    r = np.full(n, 12.0)
    total, area, masked = _neighbour_corrected(data, segmap, ids, mx, my, cxx, cyy, cxy, r, True)
    _, area2, masked2 = _neighbour_corrected(data, segmap, ids, mx, my, cxx, cyy, cxy, r, False)
    assert masked.sum() > 0  # the test exercises the mirror replacement
    for i in range(n):
        ref = _reference(data, segmap, i + 1, mx[i], my[i], cxx[i], cyy[i], cxy[i], r[i])
        assert total[i] == pytest.approx(ref[0], rel=1e-9, abs=1e-6)
        assert (area[i], masked[i]) == (ref[1], ref[2])
        assert (area2[i], masked2[i]) == (ref[1], ref[2])


def _hot_column_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    data = rng.normal(100.0, 3.0, (900, 300)).astype(np.float32)
    yy, xx = np.mgrid[0:900, 0:300]
    for x0, y0 in ((60.0, 100.0), (220.0, 400.0), (150.0, 700.0)):
        data += (3000.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 9.0)).astype(np.float32)
    data[20:880, 110] += 400.0  # a hot column: half-light radius of hundreds of pixels
    return data


def test_flux_radius_of_a_hot_column_is_summed_within_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sep_radii: list[float] = []
    binned: list[float] = []
    real_flux_radius = sep.flux_radius
    real_binned_radii = windowed.binned_radii

    def flux_radius(*args: object, **kwargs: object) -> object:
        sep_radii.append(float(np.max(np.asarray(args[3]))))
        return real_flux_radius(*args, **kwargs)

    def binned_radii(*args: Any, **kwargs: Any) -> Any:
        binned.append(float(args[6]))
        return real_binned_radii(*args, **kwargs)

    monkeypatch.setattr(sep, "flux_radius", flux_radius)
    monkeypatch.setattr(windowed, "binned_radii", binned_radii)
    params = DetectionParams().with_columns(
        ["NUMBER", "X_IMAGE", "Y_IMAGE", "A_IMAGE", "FLUX_AUTO", "FLUX_RADIUS"]
    )
    data = _hot_column_image()
    cat = measure(data.copy(), params).catalogue
    column = int(np.argmax(cat["A_IMAGE"]))
    assert cat["A_IMAGE"][column] > 100  # the hot column was detected as one long object
    # The hot column's growth curve is binned, out to the cap; sep sums only the small objects.
    assert binned == [columns.FLUX_RADIUS_MAX]
    assert sep_radii and max(sep_radii) <= windowed.HUGE_RADIUS
    half_light = cat["FLUX_RADIUS"].reshape(len(cat), -1)[:, 0]
    assert np.all(np.isfinite(half_light))
    # The stars are untouched by the cap: their half-light radius is that of a Gaussian of
    # sigma 2.12 px (1.1774 sigma = 2.50 px), within the sampling of the profile.
    stars = np.delete(np.arange(len(cat)), column)
    bright = stars[cat["FLUX_AUTO"][stars] > 1e4]
    assert len(bright) == 3
    assert np.all(np.abs(half_light[bright] - 1.1774 * math.sqrt(4.5)) < 0.15)
