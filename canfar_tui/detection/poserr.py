"""Position errors of the isophotal barycentre, as SExtractor's ``examineiso`` and ``endobject``.

:func:`position_errors` gives ERRX2/ERRY2/ERRXY_IMAGE: over each object's detected pixels
(sep's segmentation map: object ``i`` has pixels ``i + 1``), each pixel weighs σ² (the
extension's global background RMS²) plus its filtered value / GAIN when both are positive,
times its squared offset from the barycentre, over the square of the filtered flux; objects
whose own (filtered) moments are singular get SExtractor's ``singuflag`` regularisation.
:func:`image_error_ellipse` derives ERRA/ERRB/ERRTHETA and ERRCXX/ERRCYY/ERRCXY_IMAGE;
:func:`detection_kernel` is the FILTER_NAME kernel as the detection used it.

Imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.params import DetectionParams

    Array = npt.NDArray[np.float64]

__all__ = ["detection_kernel", "image_error_ellipse", "position_errors"]

_DEG = math.pi / 180.0


def _put(out: npt.NDArray[np.void], wanted: Iterable[str], name: str, values: Array) -> None:
    if name and name in wanted:
        out[name] = values


def _filtered_at(
    data: npt.NDArray[np.float32],
    iy: npt.NDArray[np.intp],
    ix: npt.NDArray[np.intp],
    kernel: npt.NDArray[np.float32] | None,
) -> Array:
    """The detection image filtered by ``kernel`` at the pixels (iy, ix) only (zero outside
    the image, like SExtractor's convolution)."""
    if kernel is None:
        return data[iy, ix].astype(np.float64)
    ny, nx = data.shape
    kh, kw = kernel.shape
    out = np.zeros(len(iy))
    for j in range(kh):
        yy = iy + j - kh // 2
        oky = (yy >= 0) & (yy < ny)
        for i in range(kw):
            weight = float(kernel[j, i])
            if weight == 0.0:
                continue
            xx = ix + i - kw // 2
            ok = oky & (xx >= 0) & (xx < nx)
            out[ok] += weight * data[yy[ok], xx[ok]]
    return out


def _pixels_in_boxes(
    segmap: npt.NDArray[np.int32],
    xmin: npt.NDArray[np.intp],
    xmax: npt.NDArray[np.intp],
    ymin: npt.NDArray[np.intp],
    ymax: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(iy, ix, object index) of every pixel of each object, searched in its bounding box."""
    ny, nx = segmap.shape
    x0 = np.clip(xmin, 0, nx - 1)
    y0 = np.clip(ymin, 0, ny - 1)
    w = np.maximum(np.clip(xmax, 0, nx - 1) - x0 + 1, 0)
    h = np.maximum(np.clip(ymax, 0, ny - 1) - y0 + 1, 0)
    size = w * h
    owner = np.repeat(np.arange(len(size), dtype=np.intp), size)
    k = np.arange(int(size.sum()), dtype=np.intp) - np.repeat(np.cumsum(size) - size, size)
    wo = w[owner]
    iy = y0[owner] + k // wo
    ix = x0[owner] + k % wo
    mine = segmap[iy, ix] == owner + 1
    return iy[mine], ix[mine], owner[mine]


def detection_kernel(params: DetectionParams) -> npt.NDArray[np.float32] | None:
    """The FILTER_NAME kernel as the detection used it (normalised for ``CONV NORM``)."""
    if not params.filter:
        return None
    kernel = np.array(params.filter_kernel, dtype=np.float32)
    if params.filter_norm:
        total = float(np.abs(kernel).sum())
        if total > 0:
            kernel /= np.float32(total)
    return kernel


def position_errors(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    x: Array,
    y: Array,
    *,
    rms: float,
    gain: float,
    kernel: npt.NDArray[np.float32] | None,
    boxes: tuple[npt.NDArray[np.intp], ...] | None = None,
) -> tuple[Array, Array, Array]:
    """ERRX2_IMAGE, ERRY2_IMAGE, ERRXY_IMAGE (pixel²) like SExtractor's ``examineiso``.

    ``data`` is the background-subtracted image, ``segmap`` the objects' detected pixels
    (object ``i`` has pixels ``i + 1``), ``x``/``y`` the 0-based barycentres, ``kernel`` the
    normalised detection filter (None without filtering). Each pixel weighs σ² + its
    filtered value / GAIN (when both are positive); the sums are divided by the square of
    the filtered flux. Objects whose own moments are singular get σ²-sized terms added
    like SExtractor's ``singuflag``. ``boxes`` (xmin, xmax, ymin, ymax: 0-based, inclusive,
    per object) limit the search to the objects' bounding boxes, much faster than scanning
    the whole segmentation map.
    """
    n = len(x)
    if boxes is None:
        flat = np.flatnonzero(segmap)
        owner = segmap.ravel()[flat].astype(np.intp) - 1
        keep = (owner >= 0) & (owner < n)
        flat, owner = flat[keep], owner[keep]
        iy, ix = np.divmod(flat, segmap.shape[1])
    else:
        iy, ix, owner = _pixels_in_boxes(segmap, *boxes)
    cd = _filtered_at(data, iy, ix, kernel)
    err = np.full(len(cd), rms * rms)
    if gain > 0:
        err += np.where(cd > 0, cd / gain, 0.0)
    dx = ix - x[owner]
    dy = iy - y[owner]

    def total(w: Array) -> Array:
        return np.bincount(owner, weights=w, minlength=n).astype(np.float64)

    flux = total(cd)
    with np.errstate(divide="ignore", invalid="ignore"):
        flux2 = flux * flux
        emx2 = total(err * dx * dx) / flux2
        emy2 = total(err * dy * dy) / flux2
        emxy = total(err * dx * dy) / flux2
        esum = 0.08333 * total(err) / flux2
        # SExtractor's singuflag: the object's own (filtered) moments about the barycentre.
        mx2 = total(cd * dx * dx) / flux
        my2 = total(cd * dy * dy) / flux
        mxy = total(cd * dx * dy) / flux
    singular = (mx2 * my2 - mxy * mxy) < 0.00694
    fix = singular & ((emx2 * emy2 - emxy * emxy) < esum * esum)
    emx2 = np.where(fix, emx2 + esum, emx2)
    emy2 = np.where(fix, emy2 + esum, emy2)
    bad = ~np.isfinite(emx2) | ~np.isfinite(emy2) | ~np.isfinite(emxy)
    return (
        np.where(bad, 0.0, emx2),
        np.where(bad, 0.0, emy2),
        np.where(bad, 0.0, emxy),
    )


def image_error_ellipse(
    out: npt.NDArray[np.void], wanted: set[str], ex2: Array, ey2: Array, exy: Array
) -> None:
    """ERRA/ERRB/ERRTHETA and ERRCXX/ERRCYY/ERRCXY_IMAGE (SExtractor's ``endobject``)."""
    _put(out, wanted, "ERRX2_IMAGE", ex2)
    _put(out, wanted, "ERRY2_IMAGE", ey2)
    _put(out, wanted, "ERRXY_IMAGE", exy)
    diff = ex2 - ey2
    theta = np.where(np.abs(diff) > 0.0, np.arctan2(2.0 * exy, diff) / 2.0, math.pi / 4.0)
    half = np.sqrt(0.25 * diff * diff + exy * exy)
    mean = 0.5 * (ex2 + ey2)
    _put(out, wanted, "ERRA_IMAGE", np.sqrt(mean + half))
    _put(out, wanted, "ERRB_IMAGE", np.sqrt(np.maximum(mean - half, 0.0)))
    _put(out, wanted, "ERRTHETA_IMAGE", theta / _DEG)
    if {"ERRCXX_IMAGE", "ERRCYY_IMAGE", "ERRCXY_IMAGE"} & wanted:
        det = ex2 * ey2 - exy * exy
        with np.errstate(invalid="ignore", divide="ignore"):
            cxx, cyy, cxy = ey2 / det, ex2 / det, -2.0 * exy / det
        finite = np.isfinite(cxx) & np.isfinite(cyy) & np.isfinite(cxy)
        _put(out, wanted, "ERRCXX_IMAGE", np.where(finite, cxx, 0.0))
        _put(out, wanted, "ERRCYY_IMAGE", np.where(finite, cyy, 0.0))
        _put(out, wanted, "ERRCXY_IMAGE", np.where(finite, cxy, 0.0))
