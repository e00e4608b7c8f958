"""ISO0…ISO7, FWHM_IMAGE and CLASS_STAR, as SExtractor's ``analyse.c`` computes them.

Every value comes from the pixels of each detection (sep's segmentation map: object ``i``
has pixels ``i + 1``) in the background-subtracted image, all objects at once (numpy
``bincount`` over the segmented pixels, no loop over objects):

* ``ISO0``…``ISO7``: the object's pixels above 8 levels spaced geometrically from its
  analysis threshold ``t`` (THRESHOLD; ANALYSIS_THRESH × σ when it differs from
  DETECT_THRESH) to its peak ``p`` (FLUX_MAX): level ``i`` is
  ``t (p / t)^(i/8)``, a pixel counting at level ``i`` when it is above levels ``0…i``
  (all levels are 0 when ``p`` or ``t`` is not positive). ISO0 is ISOAREA_IMAGE;
* ``FWHM_IMAGE``: a Gaussian core fitted to the profile: the pixels between
  max(p / 5, t) and the saturation level (SATURATE minus BACKGROUND) give the least-squares
  slope ``-β`` of ln(pixel) against r² (weights pixel²); β is at least 1 / (13 a b)
  (A_IMAGE, B_IMAGE: a FWHM of at most about 6 σ), FWHM = 1.6651 / √β, less
  1 / (4 FWHM) for the pixel sampling; 0 when the fit is degenerate;
* ``CLASS_STAR``: the STARNNW_NAME neural network (:mod:`canfar_tui.detection.nnw`) fed
  SExtractor's 10 inputs: log10 of ISO0…ISO7 in units of the seeing disc
  (SEEING_FWHM / pixel scale)² (0.01 for an empty level), log10(peak / the extension's
  analysis threshold) (0.1 for a non-positive peak) in second place, and log10(SEEING_FWHM).
  The pixel scale is PIXEL_SCALE, or with PIXEL_SCALE 0 the WCS's at the image centre
  (:func:`pixel_scale_arcsec`).

FWHM_WORLD (FWHM_IMAGE times the local pixel scale) belongs with the other world forms.

Imports numpy (and astropy for the WCS pixel scale); import it only when detection runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.nnw import NeuralNetwork

__all__ = [
    "CLASSSTAR_COLUMNS",
    "ISO_COLUMNS",
    "NISO",
    "class_star",
    "fwhm_image",
    "isophotal_areas",
    "pixel_scale_arcsec",
]

NISO: Final = 8
"""SExtractor's NISO: the number of isophotal levels."""
ISO_COLUMNS: Final = tuple(f"ISO{i}" for i in range(NISO))
CLASSSTAR_COLUMNS: Final = frozenset({*ISO_COLUMNS, "FWHM_IMAGE", "CLASS_STAR"})
"""The columns this module computes."""

_FWHM_GAUSS: Final = 1.6651
"""2 √(ln 2): FWHM = 1.6651 / √β for a Gaussian exp(-β r²)."""


class ObjectPixels:
    """The segmented pixels of an extension: coordinates, values and owner (0-based).

    Only the objects' bounding boxes (``boxes``: 0-based xmin, xmax, ymin, ymax) are looked
    at when given and smaller than the image, not the whole segmentation map.
    """

    def __init__(
        self,
        data: npt.NDArray[np.float32],
        segmap: npt.NDArray[np.int32],
        n: int,
        boxes: tuple[npt.NDArray[np.int64], ...] | None = None,
    ):
        self.n = n
        ys, xs, labels = _segmented(segmap, n, boxes)
        keep = (labels >= 0) & (labels < n)
        self.x: npt.NDArray[np.int64] = xs[keep]
        self.y: npt.NDArray[np.int64] = ys[keep]
        self.owner: npt.NDArray[np.int64] = labels[keep]
        self.value: npt.NDArray[np.float32] = data[self.y, self.x]

    def count(self, selected: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """How many ``selected`` pixels each object has."""
        return np.bincount(self.owner[selected], minlength=self.n).astype(np.int64)


def _segmented(
    segmap: npt.NDArray[np.int32], n: int, boxes: tuple[npt.NDArray[np.int64], ...] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(y, x, owner) of every pixel of the segmentation map that belongs to an object."""
    ny, nx = segmap.shape
    if boxes is not None and n:
        xmin, xmax, ymin, ymax = (np.asarray(v, dtype=np.int64) for v in boxes)
        xmin, ymin = np.clip(xmin, 0, nx - 1), np.clip(ymin, 0, ny - 1)
        width = np.clip(xmax, 0, nx - 1) - xmin + 1
        height = np.clip(ymax, 0, ny - 1) - ymin + 1
        area = np.where((width > 0) & (height > 0), width * height, 0)
        total = int(area.sum())
        if total < segmap.size // 4:
            # Every pixel of every box, object by object: owner, then row-major in the box.
            owner = np.repeat(np.arange(n, dtype=np.int64), area)
            local = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(area) - area, area)
            w = width[owner]
            ys = ymin[owner] + local // w
            xs = xmin[owner] + local % w
            mine = segmap[ys, xs] == owner + 1
            return ys[mine], xs[mine], owner[mine]
    flat = np.flatnonzero(segmap)
    ys, xs = np.divmod(flat, nx)
    return ys, xs, segmap.ravel()[flat].astype(np.int64) - 1


def isophotal_areas(
    pixels: ObjectPixels, peak: npt.NDArray[np.floating[Any]], thresh: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.int64]:
    """ISO0…ISO7 (n × 8): pixels above the 8 levels between each threshold and peak."""
    peak = np.asarray(peak, dtype=np.float64)
    thresh = np.asarray(thresh, dtype=np.float64)
    usable = (peak > 0) & (thresh > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usable, peak / np.where(usable, thresh, 1.0), 1.0)
    # SExtractor keeps the levels as float pixels and compares them with float pixels.
    steps = np.arange(NISO, dtype=np.float64) / NISO
    levels = np.where(
        usable[:, None], thresh[:, None] * ratio[:, None] ** steps[None, :], 0.0
    ).astype(np.float32)
    areas = np.zeros((pixels.n, NISO), dtype=np.int64)
    alive = np.ones(len(pixels.owner), dtype=bool)
    for i in range(NISO):
        alive &= pixels.value > levels[pixels.owner, i]
        areas[:, i] = pixels.count(alive)
    return areas


def fwhm_image(
    pixels: ObjectPixels,
    *,
    peak: npt.NDArray[np.floating[Any]],
    thresh: npt.NDArray[np.floating[Any]],
    x: npt.NDArray[np.floating[Any]],
    y: npt.NDArray[np.floating[Any]],
    a: npt.NDArray[np.floating[Any]],
    b: npt.NDArray[np.floating[Any]],
    saturation: npt.NDArray[np.floating[Any]],
) -> npt.NDArray[np.float64]:
    """FWHM_IMAGE per object: a Gaussian core fitted to the pixels above max(peak/5, t).

    ``x``/``y`` are the 0-based barycentres, ``saturation`` the saturation level above the
    background at each object (pixels at or above it are left out of the fit).
    """
    n = pixels.n
    peak = np.asarray(peak, dtype=np.float64)
    floor = np.maximum(peak / 5.0, np.asarray(thresh, dtype=np.float64))
    owner = pixels.owner
    value = pixels.value.astype(np.float64)
    use = (value > floor[owner]) & (value < np.asarray(saturation, dtype=np.float64)[owner])
    use &= floor[owner] > 0
    o = owner[use]
    pix = value[use]
    dx = pixels.x[use] - np.asarray(x, dtype=np.float64)[o]
    dy = pixels.y[use] - np.asarray(y, dtype=np.float64)[o]
    d2 = dx * dx + dy * dy
    weight = pix * pix
    log_pix = np.log(pix)

    def total(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.bincount(o, weights=values, minlength=n).astype(np.float64)

    s = total(weight)
    sx = total(d2 * weight)
    sxx = total(d2 * d2 * weight)
    sy = total(log_pix * weight)
    sxy = total(log_pix * d2 * weight)
    det = s * sxx - sx * sx
    fitted = (floor > 0) & (np.abs(det) > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        beta = -(s * sxy - sx * sy) / np.where(fitted, det, 1.0)
        beta_min = 1.0 / (13.0 * np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64))
        beta = np.where(beta < beta_min, beta_min, beta)
        fwhm = (_FWHM_GAUSS / np.sqrt(beta)).astype(np.float32).astype(np.float64)
        fwhm = np.where(fwhm > 0, fwhm - 1.0 / (4.0 * fwhm), fwhm)
    fwhm = np.where(fitted & np.isfinite(fwhm), fwhm, 0.0)
    return np.asarray(fwhm, dtype=np.float64)


def class_star(
    network: NeuralNetwork,
    areas: npt.NDArray[np.int64],
    peak: npt.NDArray[np.floating[Any]],
    *,
    field_thresh: float,
    seeing_fwhm: float,
    pixel_scale: float,
) -> npt.NDArray[np.float64]:
    """CLASS_STAR per object from ISO0…ISO7, the peaks and the seeing (arcsec)."""
    n = len(areas)
    seeing_px2 = (seeing_fwhm / pixel_scale) ** 2 if pixel_scale > 0 else math.inf
    peak = np.asarray(peak, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        iso = np.log10(np.where(areas > 0, areas / seeing_px2, 0.01))
        if field_thresh > 0:
            contrast = np.log10(np.where(peak > 0, peak / field_thresh, 0.1))
        else:
            contrast = np.full(n, -1.0)
    inputs = np.empty((n, 10))
    inputs[:, 0] = iso[:, 0]
    inputs[:, 1] = contrast
    inputs[:, 2:9] = iso[:, 1:]
    inputs[:, 9] = math.log10(seeing_fwhm)
    values = inputs * np.asarray(network.in_scale) + np.asarray(network.in_bias)
    for weights, biases in zip(network.weights, network.biases, strict=True):
        total = values @ np.asarray(weights).T + np.asarray(biases)
        with np.errstate(over="ignore"):
            values = 1.0 / (1.0 + np.exp(-total))
    out = (values[:, 0] - network.out_bias[0]) / network.out_scale[0]
    return np.asarray(out, dtype=np.float64)


def _header_number(header: Mapping[str, Any], key: str, default: float) -> float:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value) if math.isfinite(float(value)) else default


def pixel_scale_arcsec(header: Mapping[str, Any] | None, shape: tuple[int, int]) -> float:
    """The pixel scale (arcsec) SExtractor uses with PIXEL_SCALE 0: the WCS's at the centre.

    √|det J| of the celestial WCS (distortions included) at the image centre, east-west
    steps scaled by cos δ; without a celestial WCS SExtractor's linear default (CDELT2 or
    CD2_2, 1 degree when absent).
    """
    header = header or {}
    ny, nx = shape
    x0, y0 = (nx + 1) / 2.0, (ny + 1) / 2.0
    if str(header.get("CTYPE1", "")).strip() and str(header.get("CTYPE2", "")).strip():
        try:
            scale = _celestial_scale(header, x0, y0)
        except Exception:
            scale = None
        if scale is not None:
            return scale * 3600.0
    step = _header_number(header, "CD2_2", math.nan)
    if not math.isfinite(step):
        step = _header_number(header, "CDELT2", 1.0) * _header_number(header, "PC2_2", 1.0)
    return abs(step) * 3600.0


def _celestial_scale(header: Mapping[str, Any], x0: float, y0: float) -> float | None:
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cards = fits.Header()
        for key, value in header.items():
            if isinstance(key, str) and len(key) <= 8 and not key.startswith(("Z", "T")):
                cards[key] = value
        wcs = WCS(cards, naxis=2, relax=True)
        if not wcs.has_celestial:
            return None
        lng, lat = wcs.all_pix2world([x0, x0 + 1.0, x0], [y0, y0, y0 + 1.0], 1)
    dlng = (np.asarray(lng[1:]) - lng[0] + 180.0) % 360.0 - 180.0
    dlat = np.asarray(lat[1:]) - lat[0]
    area = abs(dlng[0] * dlat[1] - dlat[0] * dlng[1]) * math.cos(math.radians(float(lat[0])))
    return math.sqrt(area) if math.isfinite(area) and area > 0 else None


def add_classstar_columns(
    out: npt.NDArray[np.void],
    base: npt.NDArray[np.void],
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    wanted: set[str],
    *,
    network: NeuralNetwork | None,
    seeing_fwhm: float,
    pixel_scale: float,
    field_thresh: float,
    saturation: float,
    header: Mapping[str, Any] | None,
    analysis_thresh: float | None = None,
) -> None:
    """Fill the :data:`CLASSSTAR_COLUMNS` in ``wanted`` (``out`` has them as fields).

    ``pixel_scale`` 0 means the WCS's (:func:`pixel_scale_arcsec`); ``field_thresh`` is the
    extension's analysis threshold, ``saturation`` its saturation level (ADU).
    ``analysis_thresh`` (ADU above the background), when ANALYSIS_THRESH differs from
    DETECT_THRESH, is where ISO0…ISO7 and the FWHM fit start instead of THRESHOLD, as in
    SExtractor's analyse.c.
    """
    n = len(base)
    boxes = tuple(
        base[name].astype(np.int64) - 1
        for name in ("XMIN_IMAGE", "XMAX_IMAGE", "YMIN_IMAGE", "YMAX_IMAGE")
    )
    pixels = ObjectPixels(data, segmap, n, boxes)
    peak = base["FLUX_MAX"].astype(np.float64)
    thresh = base["THRESHOLD"].astype(np.float64)
    if analysis_thresh is not None:
        thresh = np.full(n, float(analysis_thresh))
    if wanted & {*ISO_COLUMNS, "CLASS_STAR"}:
        areas = isophotal_areas(pixels, peak, thresh)
        for i, name in enumerate(ISO_COLUMNS):
            if name in wanted:
                out[name] = areas[:, i]
        if "CLASS_STAR" in wanted:
            if network is None:  # pragma: no cover - DetectionParams reads it with the columns
                raise ValueError("CLASS_STAR asked for without a neural network")
            scale = pixel_scale if pixel_scale > 0 else pixel_scale_arcsec(header, data.shape)
            out["CLASS_STAR"] = class_star(
                network,
                areas,
                peak,
                field_thresh=field_thresh,
                seeing_fwhm=seeing_fwhm,
                pixel_scale=scale,
            )
    if "FWHM_IMAGE" in wanted:
        out["FWHM_IMAGE"] = fwhm_image(
            pixels,
            peak=peak,
            thresh=thresh,
            x=base["X_IMAGE"].astype(np.float64) - 1.0,
            y=base["Y_IMAGE"].astype(np.float64) - 1.0,
            a=base["A_IMAGE"].astype(np.float64),
            b=base["B_IMAGE"].astype(np.float64),
            saturation=saturation - base["BACKGROUND"].astype(np.float64),
        )
