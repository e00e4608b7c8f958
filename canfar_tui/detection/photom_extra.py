"""SExtractor's remaining non-world photometry columns: ISOCOR, BEST, PETRO, MU_*, THRESHOLDMAX.

Computed only when a ``.param`` file asks for them (called from
:func:`canfar_tui.detection.columns.add_requested_columns`), following SExtractor's
``photom.c``:

* ``FLUX_ISOCOR``: the isophotal flux corrected for the wings lost below the threshold,
  ``FLUX_ISO / (1 - 0.196099 a - 0.751208 a²)`` with ``a = ISOAREAF × threshold /
  FLUX_ISO`` (clipped to [0, 1]), and its error propagated the same way;
* ``FLUX_BEST``: ``FLUX_ISOCOR`` for crowded sources (FLAGS bit 1), else ``FLUX_AUTO``;
* ``FLUX_PETRO``/``PETRO_RADIUS``: the Petrosian factor is found by growing an elliptical
  annulus (``k … 1.2 k`` in units of the isophotal ellipse, ``k`` in steps of 6/20) until
  its mean surface brightness falls below 0.2 × the mean inside ``1.1 k``; PETRO_RADIUS =
  PHOT_PETROPARAMS[0] × that ``k`` (at least PHOT_PETROPARAMS[1]); the flux is summed over
  the pixel centres in the ellipse scaled by PETRO_RADIUS, other detections' pixels replaced
  by the pixel symmetric about the centre (MASK_TYPE CORRECT) and left out of the search;
* ``MU_MAX``/``MU_THRESHOLD``: ``MAG_ZEROPOINT - 2.5 log10(value / pixel area)`` in
  mag arcsec⁻², the pixel area from PIXEL_SCALE or, when it is 0, the WCS at the source;
* ``THRESHOLDMAX``: the detection threshold the source was found at (without a weight map
  the extension's threshold). (``X_IMAGE_DBL``/``Y_IMAGE_DBL`` come with the world columns.)

Imports numpy; import it only when detection runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.params import DetectionParams

__all__ = ["EXTRA_COLUMNS", "add_extra_photometry"]

EXTRA_COLUMNS: Final[frozenset[str]] = frozenset(
    {
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
        "THRESHOLDMAX",
    }
)
"""The columns this module fills."""

_ISOCOR: Final = frozenset({"FLUX_ISOCOR", "FLUXERR_ISOCOR", "MAG_ISOCOR", "MAGERR_ISOCOR"})
_BEST: Final = frozenset({"FLUX_BEST", "FLUXERR_BEST", "MAG_BEST", "MAGERR_BEST"})
_PETRO: Final = frozenset(
    {"FLUX_PETRO", "FLUXERR_PETRO", "MAG_PETRO", "MAGERR_PETRO", "PETRO_RADIUS"}
)
_MU: Final = frozenset({"MU_MAX", "MU_THRESHOLD"})
PETRO_NSIG: Final = 6.0
"""SExtractor's PETRO_NSIG (3 × MARGIN_SCALE): the Petrosian search range."""
CROWDED: Final = 1


def _mags(
    flux: npt.NDArray[np.float64], err: npt.NDArray[np.float64], zp: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    positive = flux > 0
    safe = np.where(positive, flux, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(positive, zp - 2.5 * np.log10(safe), 99.0)
        magerr = np.where(positive, 1.086 * err / safe, 99.0)
    return mag, magerr


def _put(out: npt.NDArray[np.void], wanted: set[str], values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name in wanted:
            out[name] = value


def isocor(
    base: npt.NDArray[np.void],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """SExtractor's corrected isophotal flux and its error (``computeisocorflux``)."""
    flux = base["FLUX_ISO"].astype(np.float64)
    variance = base["FLUXERR_ISO"].astype(np.float64) ** 2
    npix = base["ISOAREAF_IMAGE"].astype(np.float64)
    thresh = base["THRESHOLD"].astype(np.float64)
    positive = flux > 0
    safe = np.where(positive, flux, 1.0)
    ati = np.clip(np.where(positive, npix * thresh / safe, 0.0), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = flux / (1.0 - 0.196099 * ati - 0.751208 * ati * ati)
        sigtv = variance / (safe * safe)
        dati = np.where(npix > 0, ati * np.sqrt(sigtv + 1.0 / np.where(npix > 0, npix, 1.0)), 0.0)
        dati = 0.196099 * dati + 0.751208 * 2 * ati * dati
        err = np.where(positive, np.sqrt(sigtv + dati * dati) * safe, np.sqrt(variance))
    return corrected, err


def _pixel_area_arcsec2(
    base: npt.NDArray[np.void], params: DetectionParams, wcs: Any
) -> npt.NDArray[np.float64]:
    """The area of a pixel at each source, arcsec² (PIXEL_SCALE, else the local WCS)."""
    n = len(base)
    if params.pixel_scale > 0:
        return np.full(n, params.pixel_scale**2)
    if wcs is None:
        return np.ones(n)
    x = base["X_IMAGE"].astype(np.float64)
    y = base["Y_IMAGE"].astype(np.float64)
    lon0, lat0 = wcs.all_pix2world(x, y, 1)
    lon1, lat1 = wcs.all_pix2world(x + 1.0, y, 1)
    lon2, lat2 = wcs.all_pix2world(x, y + 1.0, 1)
    cos_dec = np.cos(np.radians(lat0))

    def dlon(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(((a - lon0 + 180.0) % 360.0 - 180.0) * cos_dec, dtype=np.float64)

    det = dlon(lon1) * (lat2 - lat0) - dlon(lon2) * (lat1 - lat0)
    return np.abs(np.asarray(det, dtype=np.float64)) * 3600.0 * 3600.0


def _rint(value: float) -> int:
    return int(value + 0.5) if value > 0 else int(value - 0.5)


def petrosian(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    base: npt.NDArray[np.void],
    params: DetectionParams,
    *,
    gain: float,
    rms: float,
    mask: npt.NDArray[np.bool_] | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(FLUX_PETRO, FLUXERR_PETRO, PETRO_RADIUS) per source (SExtractor's computepetroflux)."""
    n = len(base)
    ny, nx = data.shape
    flux = np.zeros(n)
    err = np.zeros(n)
    factor = np.zeros(n)
    fact, rmin = params.phot_petroparams
    est_min, meas_min = params.phot_autoapers
    variance = rms * rms
    mx_all = base["X_IMAGE"].astype(np.float64) - 1.0
    my_all = base["Y_IMAGE"].astype(np.float64) - 1.0
    a_all = base["A_IMAGE"].astype(np.float64)
    b_all = base["B_IMAGE"].astype(np.float64)
    shape = np.stack(
        [base[k].astype(np.float64) for k in ("CXX_IMAGE", "CYY_IMAGE", "CXY_IMAGE")], axis=1
    )
    for i in range(n):
        mx, my, a, b = mx_all[i], my_all[i], a_all[i], b_all[i]
        if not (math.isfinite(mx) and math.isfinite(my)):
            continue
        cxx, cyy, cxy = shape[i]
        sqrt_ab = math.sqrt(a * b) if a > 0 and b > 0 else 0.0
        elliptic = PETRO_NSIG * sqrt_ab > est_min / 2.0 and cxx > 0 and cyy > 0
        box = _box(mx, my, (cxx, cyy, cxy) if elliptic else None, PETRO_NSIG, est_min / 2.0)
        x0, x1, y0, y1, klim2, c = _clip(box, nx, ny)
        if x1 <= x0 or y1 <= y0:
            continue
        own = i + 1
        xs = np.arange(x0, x1) - mx
        ys = (np.arange(y0, y1) - my)[:, None]
        r2 = c[0] * xs * xs + c[1] * ys * ys + c[2] * xs * ys
        seg = segmap[y0:y1, x0:x1]
        blank = (seg != 0) & (seg != own)
        if mask is not None:
            blank |= mask[y0:y1, x0:x1]
        pix = data[y0:y1, x0:x1].astype(np.float64)
        klim = math.sqrt(klim2)
        kstep = klim / 20.0
        kmin = kstep
        kmea = 0.0
        area = areab = areanum = areaden = 0
        munum = muden = 0.0
        good_r2, good_pix = r2[~blank], pix[~blank]
        bad_r2 = r2[blank]
        while kmin * 1.2 < klim:
            kmax = kmin * 1.2
            kmea = (kmin + kmax) / 2.0
            inside = good_r2 <= kmax * kmax
            area = int(inside.sum())
            areab = int((bad_r2 <= kmax * kmax).sum())
            num = inside & (good_r2 >= kmin * kmin)
            den = good_r2 < kmea * kmea
            areanum, areaden = int(num.sum()), int(den.sum())
            munum, muden = float(good_pix[num].sum()), float(good_pix[den].sum())
            if areanum and areaden:
                munum /= areanum
                muden /= areaden
                if munum < muden * 0.2:
                    break
            kmin += kstep
        if area + areab == 0:
            continue
        pf = fact * kmea if (areanum and areaden and munum and muden) else rmin
        pf = max(pf, rmin)
        if pf * sqrt_ab > meas_min / 2.0 and cxx > 0 and cyy > 0:
            box = _box(mx, my, (cxx, cyy, cxy), pf, 0.0)
        else:
            box = _box(mx, my, None, 0.0, meas_min / 2.0)
            pf = 0.0
        total, npix = _corrected_sum(data, segmap, mask, mx, my, own, box)
        tv_var = npix * variance + (total / gain if gain > 0 and total > 0 else 0.0)
        flux[i] = total
        err[i] = math.sqrt(tv_var)
        factor[i] = pf if total > 0 else 0.0
    return flux, err, factor


Box = tuple[float, float, float, float, float, tuple[float, float, float]]
"""x and y half-sizes, centre, the limit r² and the quadratic form (cxx, cyy, cxy)."""


def _box(
    mx: float, my: float, shape: tuple[float, float, float] | None, k: float, radius: float
) -> Box:
    if shape is None:
        return (radius, radius, mx, my, radius * radius, (1.0, 1.0, 0.0))
    cxx, cyy, cxy = shape
    dx = cxx - cxy * cxy / (4.0 * cyy)
    dy = cyy - cxy * cxy / (4.0 * cxx)
    dxlim = k / math.sqrt(dx) if dx > 0 else 0.0
    dylim = k / math.sqrt(dy) if dy > 0 else 0.0
    return (dxlim, dylim, mx, my, k * k, shape)


def _clip(
    box: Box, nx: int, ny: int
) -> tuple[int, int, int, int, float, tuple[float, float, float]]:
    dxlim, dylim, mx, my, klim2, c = box
    x0 = max(_rint(mx - dxlim), 0)
    x1 = min(_rint(mx + dxlim) + 1, nx)
    y0 = max(_rint(my - dylim), 0)
    y1 = min(_rint(my + dylim) + 1, ny)
    return x0, x1, y0, y1, klim2, c


def _corrected_sum(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    mask: npt.NDArray[np.bool_] | None,
    mx: float,
    my: float,
    own: int,
    box: Box,
) -> tuple[float, int]:
    """Sum over the pixel centres in ``box``'s ellipse, other detections mirrored (or 0)."""
    ny, nx = data.shape
    x0, x1, y0, y1, klim2, c = _clip(box, nx, ny)
    if x1 <= x0 or y1 <= y0:
        return 0.0, 0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dx, dy = xx - mx, yy - my
    inside = c[0] * dx * dx + c[1] * dy * dy + c[2] * dx * dy <= klim2
    seg = segmap[y0:y1, x0:x1]
    blank = (seg != 0) & (seg != own)
    if mask is not None:
        blank |= mask[y0:y1, x0:x1]
    pix = data[y0:y1, x0:x1].astype(np.float64)
    total = float(pix[inside & ~blank].sum())
    hit = inside & blank
    if hit.any():
        x2 = np.trunc(2.0 * mx + 0.49999 - xx[hit]).astype(np.int64)
        y2 = np.trunc(2.0 * my + 0.49999 - yy[hit]).astype(np.int64)
        ok = (x2 >= 0) & (x2 < nx) & (y2 >= 0) & (y2 < ny)
        x2, y2 = x2[ok], y2[ok]
        mseg = segmap[y2, x2]
        usable = (mseg == 0) | (mseg == own)
        if mask is not None:
            usable &= ~mask[y2, x2]
        total += float(data[y2[usable], x2[usable]].astype(np.float64).sum())
    return total, int(inside.sum())


def add_extra_photometry(
    out: npt.NDArray[np.void],
    base: npt.NDArray[np.void],
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    params: DetectionParams,
    wanted: set[str],
    *,
    gain: float,
    rms: float,
    mask: npt.NDArray[np.bool_] | None,
    wcs: Any,
) -> None:
    """Fill the columns of :data:`EXTRA_COLUMNS` that ``wanted`` names into ``out``."""
    zp = params.mag_zeropoint
    _put(
        out,
        wanted,
        {"THRESHOLDMAX": base["THRESHOLD"]},
    )
    if wanted & (_ISOCOR | _BEST):
        iso, iso_err = isocor(base)
        mag, magerr = _mags(iso, iso_err, zp)
        _put(
            out,
            wanted,
            {
                "FLUX_ISOCOR": iso,
                "FLUXERR_ISOCOR": iso_err,
                "MAG_ISOCOR": mag,
                "MAGERR_ISOCOR": magerr,
            },
        )
        if wanted & _BEST:
            crowded = (base["FLAGS"].astype(np.int64) & CROWDED) != 0
            best = np.where(crowded, iso, base["FLUX_AUTO"].astype(np.float64))
            best_err = np.where(crowded, iso_err, base["FLUXERR_AUTO"].astype(np.float64))
            mag, magerr = _mags(best, best_err, zp)
            _put(
                out,
                wanted,
                {
                    "FLUX_BEST": best,
                    "FLUXERR_BEST": best_err,
                    "MAG_BEST": mag,
                    "MAGERR_BEST": magerr,
                },
            )
    if wanted & _PETRO:
        flux, err, factor = petrosian(data, segmap, base, params, gain=gain, rms=rms, mask=mask)
        mag, magerr = _mags(flux, err, zp)
        _put(
            out,
            wanted,
            {
                "FLUX_PETRO": flux,
                "FLUXERR_PETRO": err,
                "MAG_PETRO": mag,
                "MAGERR_PETRO": magerr,
                "PETRO_RADIUS": factor,
            },
        )
    if wanted & _MU:
        area = _pixel_area_arcsec2(base, params, wcs)
        for name, source in (("MU_MAX", "FLUX_MAX"), ("MU_THRESHOLD", "THRESHOLD")):
            if name in wanted:
                value = base[source].astype(np.float64)
                positive = value > 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[name] = np.where(
                        positive, zp - 2.5 * np.log10(np.where(positive, value, 1.0) / area), 99.0
                    )
