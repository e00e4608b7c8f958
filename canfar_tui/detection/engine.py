"""Per-extension source detection with sep, following SExtractor's algorithms.

:func:`measure` runs on one 2-D float32 array (modified in place) and returns the
catalogue rows as a numpy structured array with every column of
:data:`~canfar_tui.detection.params.COLUMN_INFO`; :func:`process_extension` reads an
extension with :mod:`canfar_tui.detection.reader` and measures it (this is what the worker
processes run).

How each step maps onto SExtractor (``default.sex`` semantics):

* background: ``sep.Background`` with BACK_SIZE / BACK_FILTERSIZE / BACK_FILTTHRESH (the
  same mesh, σ-clipped mode and bicubic-spline code), subtracted in place;
  BACK_TYPE MANUAL subtracts BACK_VALUE instead;
* threshold: without a weight map SExtractor uses one threshold for the whole image,
  DETECT_THRESH × the global background RMS (the median of the mesh RMS values). sep gets
  that scalar threshold and no noise array, which is both what SExtractor does and the
  fastest way to call ``sep.extract`` (no per-pixel noise filtering);
* detection: ``sep.extract`` with the FILTER_NAME kernel as a plain convolution
  (``filter_type="conv"``), DETECT_MINAREA, DEBLEND_NTHRESH, DEBLEND_MINCONT, CLEAN and
  CLEAN_PARAM. "Pixel buffer full" and "deblending overflow" are retried with larger
  limits (up to :data:`MAX_PIXSTACK` / :data:`MAX_SUBOBJECTS`);
* MAG_AUTO: SExtractor's ``computeautoflux``: Kron's first moment inside 6 × the isophotal
  ellipse (``sep.kron_radius(…, 6.0)``), KRON_RADIUS = max(k × r₁, r_min) with
  PHOT_AUTOPARAMS = k, r_min (r_min also when the moment is not positive), pixel-centre
  sums (``subpix=1``) in the ellipse scaled by KRON_RADIUS, the PHOT_AUTOAPERS circular
  minimum apertures, FLUXERR² = area × σ² + flux / GAIN, and 99.0 for non-positive fluxes.
  Neighbours are masked like SExtractor's MASK_TYPE CORRECT: pixels of other detections
  (segmentation map) are left out of the Kron moment, and in the AUTO sum replaced by the
  pixel symmetric about the centre (or 0). Degenerate shapes (a or b not positive or not
  finite) fall back to a circle of radius r_min instead of making sep fail with "invalid
  aperture parameters";
* FLAGS: 1 crowded (> 10 % of the Kron or AUTO aperture masked), 2 blended, 4 saturated
  (FLUX_MAX + BACKGROUND ≥ SATURATE / SATUR_LEVEL), 8 touches the image border, 16 aperture
  truncated by the border, 32 taller than MEMORY_BUFSIZE lines, 64 deblending overflow,
  128 more pixels than MEMORY_PIXSTACK (:func:`canfar_tui.detection.weights.memory_flags`);
  weight and flag maps, BACKPHOTO_TYPE LOCAL and FLUX_APER's flags:
  :mod:`canfar_tui.detection.weights`;
* GAIN and SATURATE header keywords (GAIN_KEY, SATUR_KEY) override GAIN and SATUR_LEVEL, as
  in SExtractor; GAIN 0 means no Poisson term in the errors.

Imports numpy and sep; import it only when detection runs.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sep

from canfar_tui.detection.column_info import COLUMN_INFO, MEASURED_COLUMNS
from canfar_tui.detection.columns import add_requested_columns, requested_columns
from canfar_tui.detection.errors import DetectionError, ExtensionError
from canfar_tui.detection.params import DetectionParams
from canfar_tui.detection.reader import read_pixels
from canfar_tui.detection.weights import active as weights_active
from canfar_tui.detection.weights import memory_flags

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.events import ExtensionInfo

__all__ = [
    "CATALOGUE_DTYPE",
    "MAX_PIXSTACK",
    "MAX_SUBOBJECTS",
    "ExtensionOutput",
    "empty_catalogue",
    "measure",
    "process_extension",
]

MAX_PIXSTACK = 50_000_000
"""Upper limit for sep's pixel stack when retrying "pixel buffer full"."""
MAX_SUBOBJECTS = 65_536
"""Upper limit for sep's sub-object limit when retrying "deblending overflow"."""
DEFAULT_SUBOBJECTS = 1024
"""sep's default sub-object limit for deblending."""
KRON_NSIG = 6.0
"""SExtractor's KRON_NSIG (3 × MARGIN_SCALE): the Kron moment is measured within 6 a, 6 b."""

CATALOGUE_DTYPE = np.dtype([(name, COLUMN_INFO[name].dtype) for name in MEASURED_COLUMNS])
"""The structured dtype of catalogue rows: every measured column (optional columns asked for
by a ``.param`` file follow them, see :func:`canfar_tui.detection.columns.catalogue_dtype`)."""

# sep flag bits → SExtractor FLAGS bits.
_SEP_MERGED, _SEP_TRUNC, _SEP_DOVERFLOW = 0x0001, 0x0002, 0x0004
_SEX_CROWDED, _SEX_BLENDED, _SEX_SATURATED, _SEX_TRUNCATED = 1, 2, 4, 8
_SEX_APERTURE, _SEX_DOVERFLOW = 16, 64
CROWD_THRESHOLD = 0.1
"""SExtractor's CROWD_THRESHOLD: flag 1 when > 10 % of the AUTO aperture is masked."""


def empty_catalogue(n: int = 0) -> npt.NDArray[np.void]:
    """A zero-filled catalogue array with ``n`` rows."""
    return np.zeros(n, dtype=CATALOGUE_DTYPE)


@dataclass
class ExtensionOutput:
    """What a worker sends back for one extension (small: no pixels)."""

    ext_number: int
    catalogue: npt.NDArray[np.void]
    background: float
    rms: float
    threshold: float
    gain: float
    saturation: float
    timings: dict[str, float] = field(default_factory=dict)
    check_parts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """CHECKIMAGE_NAME → (part file, header) (:mod:`canfar_tui.detection.checkimages`)."""
    ascii_rows: str | None = None
    """The catalogue's rows as ASCII text, when the runner asked the worker to format them."""


def _header_float(header: Any, key: str, default: float) -> float:
    if not key:
        return default
    try:
        value = header.get(key)
    except Exception:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def _kernel(params: DetectionParams) -> npt.NDArray[np.float32] | None:
    if not params.filter:
        return None
    kernel = np.array(params.filter_kernel, dtype=np.float32)
    if params.filter_norm:
        total = float(np.abs(kernel).sum())
        if total > 0:
            kernel /= np.float32(total)
    return kernel


def _extract(
    data: npt.NDArray[np.float32],
    thresh: float,
    mask: npt.NDArray[np.bool_] | None,
    params: DetectionParams,
    var: npt.NDArray[np.float32] | None = None,
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.int32]]:
    """``sep.extract`` with SExtractor's settings, growing sep's buffers on overflow.

    Returns the objects and the segmentation map (object ``i`` has pixels ``i + 1``).
    """
    # Start from the configured sizes every time: sep allocates its pixel stack per call,
    # so a stack grown for one crowded extension would slow down all the following ones.
    pixstack = params.pixstack
    subobjects = DEFAULT_SUBOBJECTS
    kernel = _kernel(params)
    while True:
        sep.set_extract_pixstack(pixstack)
        sep.set_sub_object_limit(subobjects)
        try:
            objects, segmap = sep.extract(
                data,
                thresh,
                var=var,
                mask=mask,
                minarea=params.detect_minarea,
                filter_kernel=kernel,
                filter_type="conv",
                deblend_nthresh=params.deblend_nthresh,
                deblend_cont=params.deblend_mincont,
                clean=params.clean,
                clean_param=params.clean_param,
                segmentation_map=True,
            )
            return objects, segmap
        except Exception as exc:
            text = str(exc).lower()
            if "pixel buffer full" in text and pixstack < MAX_PIXSTACK:
                pixstack = min(MAX_PIXSTACK, pixstack * 4)
                continue
            if "deblending overflow" in text and subobjects < MAX_SUBOBJECTS:
                subobjects = min(MAX_SUBOBJECTS, subobjects * 4)
                continue
            if "pixel buffer full" in text:
                raise ExtensionError(
                    f"too many pixels above the threshold even with MEMORY_PIXSTACK {pixstack} "
                    "(raise DETECT_THRESH?)"
                ) from None
            if "deblending overflow" in text:
                raise ExtensionError(
                    f"deblending overflow even with {subobjects} sub-objects "
                    "(lower DEBLEND_NTHRESH or raise DETECT_THRESH?)"
                ) from None
            raise ExtensionError(f"source extraction failed: {exc}") from None


def measure(
    data: npt.NDArray[np.float32],
    params: DetectionParams,
    *,
    gain: float | None = None,
    saturation: float | None = None,
    ext_number: int = 1,
    physical: Any = None,
    mask: npt.NDArray[np.bool_] | None = None,
    header: Any = None,
    check_source: tuple[str, ExtensionInfo] | None = None,
    extras: Any = None,
) -> ExtensionOutput:
    """Detect and measure sources in ``data`` (float32, C-contiguous; modified in place).

    ``gain`` and ``saturation`` default to ``params.gain`` / ``params.satur_level``.
    ``physical(iy, ix)`` gives the unsubtracted pixel values, so that BACKGROUND is their
    difference with the subtracted data; without it the background map is evaluated.
    ``mask`` marks unusable pixels (NaN); they are ignored by the background and detection.
    ``header`` (keyword → value) gives the WCS of the world-coordinate columns.
    ``extras`` (:class:`canfar_tui.detection.weights.Extras`) brings weight and flag maps,
    the local background and the FLAGS bits only some columns need.
    ``check_source`` (image path, extension) the header check-images copy.
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    if data.dtype != np.float32 or not data.flags.c_contiguous or not data.dtype.isnative:
        data = np.ascontiguousarray(data, dtype=np.float32)
    if data.ndim != 2:
        raise ExtensionError(f"not a 2-D image ({data.ndim} dimensions)")
    gain = params.gain if gain is None else gain
    saturation = params.satur_level if saturation is None else saturation
    # A constant CCD (all zero: a dead or blanked amplifier) has no noise; sep would then
    # report an RMS of 1 and "detect" nonsense. A sparse sample settles almost every real
    # image; only a constant-looking sample costs a full min/max pass.
    sample = data[:: max(1, data.shape[0] // 64), :: max(1, data.shape[1] // 64)]
    if mask is not None or not np.ptp(sample) > 0:
        valid = data if mask is None else data[~mask]
        lo, hi = float(valid.min()), float(valid.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ExtensionError("the image holds NaN or infinite values outside the mask")
        if lo == hi:
            raise ExtensionError(f"constant image (every pixel is {lo:g}): nothing to detect")
    bw, bh = (
        min(v, n) for v, n in zip(params.back_size, (data.shape[1], data.shape[0]), strict=True)
    )
    fw, fh = params.back_filtersize
    try:
        bkg = sep.Background(
            data, mask=mask, bw=bw, bh=bh, fw=fw, fh=fh, fthresh=params.back_filtthresh
        )
    except Exception as exc:
        raise ExtensionError(f"background estimation failed: {exc}") from None
    global_back = float(bkg.globalback)
    global_rms = float(bkg.globalrms)
    timings["background"] = time.perf_counter() - t
    if not math.isfinite(global_rms) or global_rms <= 0.0:
        raise ExtensionError("background RMS is zero: too few varying pixels to detect anything")
    t = time.perf_counter()
    if params.back_type == "MANUAL":
        data -= np.float32(params.back_value)
        global_back = params.back_value
    else:
        bkg.subfrom(data)
    if mask is not None:
        data[mask] = 0.0
    timings["subtract"] = time.perf_counter() - t

    thresh = params.detect_thresh * (global_rms if params.thresh_type == "RELATIVE" else 1.0)
    detect_var = None
    if extras is not None:
        detect_var = extras.prepare(data, bkg, mask, _kernel(params), global_rms)
    t = time.perf_counter()
    if detect_var is not None and params.thresh_type == "RELATIVE":
        # With a weight map the threshold is DETECT_THRESH × the local (filtered) noise.
        objects, segmap = _extract(data, params.detect_thresh, mask, params, var=detect_var)
    else:
        objects, segmap = _extract(data, thresh, mask, params)
    timings["extract"] = time.perf_counter() - t

    t = time.perf_counter()
    catalogue = _photometry(
        data,
        objects,
        segmap,
        params,
        gain,
        saturation,
        global_rms,
        thresh,
        ext_number,
        physical,
        bkg,
        mask,
    )
    timings["photometry"] = time.perf_counter() - t
    if requested_columns(params):
        t = time.perf_counter()
        catalogue = add_requested_columns(
            catalogue,
            data,
            segmap,
            params,
            gain=gain,
            rms=global_rms,
            mask=mask,
            header=header,
            saturation=saturation,
            variance=extras.noise.var if extras is not None and extras.noise else None,
        )
        timings["columns"] = time.perf_counter() - t
    if extras is not None:
        catalogue = extras.finish(catalogue, data, segmap, mask, gain, global_rms)

    check_parts: dict[str, tuple[str, str]] = {}
    if params.check_images:
        from canfar_tui.detection.checkimages import write_parts

        t = time.perf_counter()
        check_parts = write_parts(
            params,
            data=data,
            bkg=bkg,
            segmap=segmap,
            catalogue=catalogue,
            rms=global_rms,
            kernel=_kernel(params),
            ext_number=ext_number,
            source=check_source,
        )
        timings["checkimages"] = time.perf_counter() - t
    return ExtensionOutput(
        ext_number=ext_number,
        catalogue=catalogue,
        background=global_back,
        rms=global_rms,
        threshold=thresh,
        gain=gain,
        saturation=saturation,
        timings=timings,
        check_parts=check_parts,
    )


def _neighbour_corrected(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    seg_id: npt.NDArray[np.int32],
    mx: npt.NDArray[np.float64],
    my: npt.NDArray[np.float64],
    cxx: npt.NDArray[np.float64],
    cyy: npt.NDArray[np.float64],
    cxy: npt.NDArray[np.float64],
    r: npt.NDArray[np.float64],
    correct: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """SExtractor's aperture sums with MASK_TYPE CORRECT, for many objects at once.

    Returns (sum, area, masked area) per object. Pixels of other detections (SExtractor
    "blanks" every detected pixel before measuring) are replaced by the pixel symmetric
    about the centre when that one is usable, else by 0; with ``correct=False`` only the
    areas are computed (the Kron-radius step just excludes them). Pixel centres with
    ``cxx dx² + cyy dy² + cxy dx dy <= r²`` count, inside SExtractor's bounding box.
    Vectorised over all the objects' boxes (a Python loop cost ~0.1 ms per object).
    """
    ny, nx = data.shape
    n = len(seg_id)
    with np.errstate(divide="ignore", invalid="ignore"):
        dxl = cxx - cxy * cxy / (4.0 * cyy)
        dyl = cyy - cxy * cxy / (4.0 * cxx)
        dxlim = np.where(dxl > 0, r / np.sqrt(np.where(dxl > 0, dxl, 1.0)), 0.0)
        dylim = np.where(dyl > 0, r / np.sqrt(np.where(dyl > 0, dyl, 1.0)), 0.0)
    # C's RINT: round half away from zero is close enough to numpy's rint here.
    xmin = np.clip(np.rint(mx - dxlim), 0, nx).astype(np.int64)
    xmax = np.clip(np.rint(mx + dxlim) + 1, 0, nx).astype(np.int64)
    ymin = np.clip(np.rint(my - dylim), 0, ny).astype(np.int64)
    ymax = np.clip(np.rint(my + dylim) + 1, 0, ny).astype(np.int64)
    # Row by row, only over the ellipse's x-interval: the pixel centres x with
    # cxx dx² + cxy dx dy + cyy dy² <= r² are those between the two roots (this is the
    # per-pixel test solved per row), clipped to SExtractor's box. Areas come from the
    # interval lengths; only the segmentation look-up is done per pixel.
    heights = np.maximum(ymax - ymin, 0)
    n_rows = int(heights.sum())
    empty = (np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
    if n_rows == 0:
        return empty
    row_owner = np.repeat(np.arange(n), heights)
    row_y = ymin[row_owner] + (
        np.arange(n_rows, dtype=np.int64) - np.repeat(np.cumsum(heights) - heights, heights)
    )
    dy_row = row_y - my[row_owner]
    qa = cxx[row_owner]
    qb = cxy[row_owner] * dy_row
    qc = cyy[row_owner] * dy_row * dy_row - (r * r)[row_owner]
    disc = qb * qb - 4.0 * qa * qc
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.where(disc >= 0, disc, 0.0))
        lo = np.ceil(mx[row_owner] + (-qb - root) / (2.0 * qa))
        hi = np.floor(mx[row_owner] + (-qb + root) / (2.0 * qa))
    ok_row = (disc >= 0) & (qa > 0) & np.isfinite(lo) & np.isfinite(hi)
    x0 = np.maximum(np.where(ok_row, lo, 0), xmin[row_owner]).astype(np.int64)
    x1 = np.minimum(np.where(ok_row, hi, -1), xmax[row_owner] - 1).astype(np.int64)
    widths = np.where(ok_row, np.maximum(x1 - x0 + 1, 0), 0)
    area = np.bincount(row_owner, weights=widths, minlength=n).astype(np.int64)
    total_px = int(widths.sum())
    if total_px == 0:
        return np.zeros(n), area, np.zeros(n, dtype=np.int64)
    # Flat pixel indices, built in one pass (2-D fancy indexing costs ~2x more).
    starts = np.cumsum(widths) - widths
    flat = np.repeat(row_y * nx + x0 - starts, widths) + np.arange(total_px, dtype=np.int64)
    owner = np.repeat(row_owner, widths)
    seg = segmap.ravel().take(flat)
    blanked = (seg != 0) & (seg != np.repeat(seg_id[row_owner], widths))
    masked = np.bincount(owner[blanked], minlength=n).astype(np.int64)
    if not correct:
        return np.zeros(n), area, masked
    values = data.ravel().take(flat)
    values[blanked] = 0.0
    total = np.bincount(owner, weights=values, minlength=n).astype(np.float64)
    if blanked.any():
        o = owner[blanked]
        fb = flat[blanked]
        py = fb // nx
        x2 = np.trunc(2.0 * mx[o] + 0.49999 - (fb - py * nx)).astype(np.int64)
        y2 = np.trunc(2.0 * my[o] + 0.49999 - py).astype(np.int64)
        ok = (x2 >= 0) & (x2 < nx) & (y2 >= 0) & (y2 < ny)
        o, x2, y2 = o[ok], x2[ok], y2[ok]
        mirror = y2 * nx + x2
        mirror_seg = segmap.ravel().take(mirror)
        usable = (mirror_seg == 0) | (mirror_seg == seg_id[o])
        total += np.bincount(o[usable], weights=data.ravel().take(mirror[usable]), minlength=n)
    return total, area, masked


def _photometry(
    data: npt.NDArray[np.float32],
    objects: npt.NDArray[np.void],
    segmap: npt.NDArray[np.int32],
    params: DetectionParams,
    gain: float,
    saturation: float,
    rms: float,
    thresh: float,
    ext_number: int,
    physical: Any,
    bkg: Any,
    mask: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.void]:
    n = len(objects)
    cat = empty_catalogue(n)
    if n == 0:
        return cat
    ny, nx = data.shape
    x = objects["x"].astype(np.float64)
    y = objects["y"].astype(np.float64)
    a = objects["a"].astype(np.float64)
    b = objects["b"].astype(np.float64)
    theta = objects["theta"].astype(np.float64)
    # float32 theta can round to just above pi/2, which sep rejects.
    np.clip(theta, -math.pi / 2, math.pi / 2, out=theta)
    good = np.isfinite(a) & np.isfinite(b) & np.isfinite(theta) & (a > 0) & (b > 0)
    good &= np.isfinite(x) & np.isfinite(y)
    b = np.minimum(a, b, out=np.where(good, b, 1.0))
    a = np.where(good, a, 1.0)
    theta = np.where(good, theta, 0.0)
    # Positions of degenerate objects stay as sep gave them; clamp for the aperture code.
    xa = np.clip(np.nan_to_num(x, nan=0.0), 0, nx - 1)
    ya = np.clip(np.nan_to_num(y, nan=0.0), 0, ny - 1)
    cxx = np.where(good, objects["cxx"].astype(np.float64), 1.0)
    cyy = np.where(good, objects["cyy"].astype(np.float64), 1.0)
    cxy = np.where(good, objects["cxy"].astype(np.float64), 0.0)
    ids = np.arange(1, n + 1, dtype=np.int32)

    kfact, rmin = params.phot_autoparams
    est_min, meas_min = params.phot_autoapers
    sqrt_ab = np.sqrt(a * b)
    crowded = np.zeros(n, dtype=bool)
    # 1. Kron's first moment within KRON_NSIG × the isophotal ellipse (or the user's
    #    circular minimum when that ellipse is smaller); other detections are excluded.
    kron = np.zeros(n)
    kflag = np.zeros(n, dtype=np.int16)
    ellip_search = good & (KRON_NSIG * sqrt_ab > est_min / 2.0)
    if ellip_search.any():
        sel = ellip_search
        kr, kf = sep.kron_radius(
            data,
            xa[sel],
            ya[sel],
            a[sel],
            b[sel],
            theta[sel],
            KRON_NSIG,
            mask=mask,
            segmap=segmap,
            seg_id=ids[sel],
        )
        kron[sel] = kr
        kflag[sel] = kf
    circ_search = ~ellip_search
    circle_r = est_min / 2.0 if est_min > 0 else rmin
    if circ_search.any():
        sel = circ_search
        ones = np.ones(int(sel.sum()))
        kr, kf = sep.kron_radius(
            data,
            xa[sel],
            ya[sel],
            ones,
            ones,
            np.zeros_like(ones),
            circle_r,
            mask=mask,
            segmap=segmap,
            seg_id=ids[sel],
        )
        kron[sel] = kr
        kflag[sel] = kf
    hit = np.flatnonzero((kflag & sep.APER_HASMASKED) != 0)
    if len(hit):
        ell = ellip_search[hit]
        _, area, masked = _neighbour_corrected(
            data,
            segmap,
            ids[hit],
            xa[hit],
            ya[hit],
            np.where(ell, cxx[hit], 1.0),
            np.where(ell, cyy[hit], 1.0),
            np.where(ell, cxy[hit], 0.0),
            np.where(ell, KRON_NSIG, circle_r),
            False,
        )
        crowded[hit] |= (area > 0) & (masked > CROWD_THRESHOLD * area)
    kron = np.where(np.isfinite(kron) & (kron > 0), kron, 0.0)
    kron_factor = np.maximum(kfact * kron, rmin)
    # 2. Integrate in the Kron ellipse, or in the circular minimum aperture.
    flux = np.zeros(n)
    fluxerr = np.zeros(n)
    aflag = np.zeros(n, dtype=np.int16)
    use_ellipse = good & (kron_factor * sqrt_ab > meas_min / 2.0)
    gain_arg = gain if gain > 0 else None
    if use_ellipse.any():
        sel = use_ellipse
        f, fe, fl = sep.sum_ellipse(
            data,
            xa[sel],
            ya[sel],
            a[sel],
            b[sel],
            theta[sel],
            kron_factor[sel],
            err=rms,
            gain=gain_arg,
            subpix=1,
            mask=mask,
            segmap=segmap,
            seg_id=ids[sel],
        )
        flux[sel], fluxerr[sel], aflag[sel] = f, fe, fl
    use_circle = ~use_ellipse
    aper_r = meas_min / 2.0 if meas_min > 0 else rmin
    if use_circle.any():
        sel = use_circle
        f, fe, fl = sep.sum_circle(
            data,
            xa[sel],
            ya[sel],
            aper_r,
            err=rms,
            gain=gain_arg,
            subpix=1,
            mask=mask,
            segmap=segmap,
            seg_id=ids[sel],
        )
        flux[sel], fluxerr[sel], aflag[sel] = f, fe, fl
        kron_factor[sel] = 0.0
    # sep rescales sums with masked pixels by the masked area; SExtractor (MASK_TYPE
    # CORRECT) replaces each masked pixel by its mirror image through the centre instead.
    variance = rms * rms
    hit = np.flatnonzero((aflag & sep.APER_HASMASKED) != 0)
    if len(hit):
        ell = use_ellipse[hit]
        total, area, masked = _neighbour_corrected(
            data,
            segmap,
            ids[hit],
            xa[hit],
            ya[hit],
            np.where(ell, cxx[hit], 1.0),
            np.where(ell, cyy[hit], 1.0),
            np.where(ell, cxy[hit], 0.0),
            np.where(ell, kron_factor[hit], aper_r),
            True,
        )
        flux[hit] = total
        poisson = np.where((total > 0) & (gain > 0), total / (gain if gain > 0 else 1.0), 0.0)
        fluxerr[hit] = np.sqrt(area * variance + poisson)
        crowded[hit] |= masked > CROWD_THRESHOLD * area
    positive = flux > 0
    kron_factor[~positive] = 0.0
    zp = params.mag_zeropoint
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_auto = np.where(positive, zp - 2.5 * np.log10(np.where(positive, flux, 1.0)), 99.0)
        magerr_auto = np.where(positive, 1.086 * fluxerr / np.where(positive, flux, 1.0), 99.0)
        iso_flux = objects["flux"].astype(np.float64)
        npix = objects["npix"].astype(np.float64)
        iso_var = npix * rms * rms + (np.clip(iso_flux, 0, None) / gain if gain > 0 else 0.0)
        iso_err = np.sqrt(iso_var)
        iso_pos = iso_flux > 0
        mag_iso = np.where(iso_pos, zp - 2.5 * np.log10(np.where(iso_pos, iso_flux, 1.0)), 99.0)
        magerr_iso = np.where(iso_pos, 1.086 * iso_err / np.where(iso_pos, iso_flux, 1.0), 99.0)

    # Background at the nearest pixel of the centroid, like SExtractor's back(mx+.5, my+.5).
    ix = np.clip(np.floor(xa + 0.5).astype(np.intp), 0, nx - 1)
    iy = np.clip(np.floor(ya + 0.5).astype(np.intp), 0, ny - 1)
    # BACK_TYPE MANUAL subtracts BACK_VALUE, but SExtractor's BACKGROUND (and the saturation
    # test) still reads its background map there.
    if physical is not None and params.back_type != "MANUAL":
        background = physical(iy, ix) - data[iy, ix].astype(np.float64)
    else:
        background = np.asarray(bkg.back(dtype=np.float32))[iy, ix].astype(np.float64)
    peak = objects["peak"].astype(np.float64)

    sep_flags = objects["flag"].astype(np.int64)
    flags = np.zeros(n, dtype=np.int64)
    flags[(sep_flags & _SEP_MERGED) != 0] |= _SEX_BLENDED
    flags[(sep_flags & _SEP_TRUNC) != 0] |= _SEX_TRUNCATED
    flags[(sep_flags & _SEP_DOVERFLOW) != 0] |= _SEX_DOVERFLOW
    flags[((kflag | aflag) & sep.APER_TRUNC) != 0] |= _SEX_APERTURE
    flags[crowded] |= _SEX_CROWDED
    flags[peak + background >= saturation] |= _SEX_SATURATED
    flags |= memory_flags(objects["npix"], objects["ymin"], objects["ymax"], ny, params)

    cat["NUMBER"] = np.arange(1, n + 1)
    cat["EXT_NUMBER"] = ext_number
    cat["FLUX_ISO"] = iso_flux
    cat["FLUXERR_ISO"] = iso_err
    cat["MAG_ISO"] = mag_iso
    cat["MAGERR_ISO"] = magerr_iso
    cat["FLUX_AUTO"] = flux
    cat["FLUXERR_AUTO"] = fluxerr
    cat["MAG_AUTO"] = mag_auto
    cat["MAGERR_AUTO"] = magerr_auto
    cat["KRON_RADIUS"] = kron_factor
    cat["BACKGROUND"] = background
    cat["THRESHOLD"] = thresh
    cat["FLUX_MAX"] = peak
    cat["ISOAREA_IMAGE"] = objects["tnpix"]
    cat["ISOAREAF_IMAGE"] = objects["npix"]
    cat["XMIN_IMAGE"] = objects["xmin"] + 1
    cat["YMIN_IMAGE"] = objects["ymin"] + 1
    cat["XMAX_IMAGE"] = objects["xmax"] + 1
    cat["YMAX_IMAGE"] = objects["ymax"] + 1
    cat["XPEAK_IMAGE"] = objects["xcpeak"] + 1
    cat["YPEAK_IMAGE"] = objects["ycpeak"] + 1
    cat["X_IMAGE"] = x + 1.0
    cat["Y_IMAGE"] = y + 1.0
    cat["X2_IMAGE"] = objects["x2"]
    cat["Y2_IMAGE"] = objects["y2"]
    cat["XY_IMAGE"] = objects["xy"]
    cat["CXX_IMAGE"] = objects["cxx"]
    cat["CYY_IMAGE"] = objects["cyy"]
    cat["CXY_IMAGE"] = objects["cxy"]
    a_out = objects["a"].astype(np.float64)
    b_out = objects["b"].astype(np.float64)
    cat["A_IMAGE"] = a_out
    cat["B_IMAGE"] = b_out
    cat["THETA_IMAGE"] = np.degrees(objects["theta"].astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        cat["ELONGATION"] = np.where(b_out > 0, a_out / np.where(b_out > 0, b_out, 1.0), 0.0)
        cat["ELLIPTICITY"] = np.where(a_out > 0, 1.0 - b_out / np.where(a_out > 0, a_out, 1.0), 0.0)
    cat["FLAGS"] = flags
    return cat


def process_extension(
    path: str | os.PathLike[str], ext: ExtensionInfo, params: DetectionParams
) -> ExtensionOutput:
    """Read and measure one extension (runs in a worker process).

    Raises :class:`ExtensionError` with a one-line message for anything wrong with the
    pixels; the message is prefixed with the extension label by the runner.
    """
    t0 = time.perf_counter()
    pixels = read_pixels(path, ext)
    t_read = time.perf_counter() - t0
    data = pixels.data
    mask: npt.NDArray[np.bool_] | None = None
    if pixels.has_nan:
        finite = np.isfinite(data)
        n_bad = data.size - int(np.count_nonzero(finite))
        if n_bad == data.size:
            raise ExtensionError("every pixel is NaN (blank CCD)")
        if n_bad:
            mask = ~finite
            data[mask] = 0.0
    header = pixels.header
    extras = None
    if weights_active(params):
        from canfar_tui.detection.weights import load

        extras = load(os.fspath(path), ext, params, data.shape)
        mask = extras.merge_mask(mask)
        if mask is not None:
            data[mask] = 0.0
    gain = _header_float(header, params.gain_key, params.gain)
    saturation = _header_float(header, params.satur_key, params.satur_level)
    try:
        out = measure(
            data,
            params,
            gain=gain,
            saturation=saturation,
            ext_number=ext.ext_number,
            physical=pixels.physical,
            mask=mask,
            header=header,
            check_source=(os.fspath(path), ext),
            extras=extras,
        )
    except DetectionError:
        raise
    except MemoryError:
        raise ExtensionError("out of memory") from None
    out.timings = {"read": t_read, **out.timings, "total": time.perf_counter() - t0}
    return out
