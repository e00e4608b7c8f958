"""SExtractor's windowed (WIN) measurements and the VIGNET pixel stamps, vectorised with numpy.

:func:`windowed_columns` follows SExtractor's ``compute_winpos`` (winpos.c): starting from
the isophotal barycentre, the position moves by 2 × the Gaussian-weighted mean offset
(σ = 2 / 2.35 × the half-light radius, pixels within 4 σ, at most 16 steps, stopping when
a step is below 10⁻⁴ px). From the last step's weighted sums come the windowed second
moments (X2WIN…, the ellipse CXXWIN…, AWIN/BWIN/THETAWIN), FLUX_WIN with its error, SNR_WIN
and the position errors (ERRX2WIN…, ERRAWIN…). FLAGS_WIN is SExtractor's: 1 singular
moments, 2 negative moments, 4 negative flux, 8 the position left the isophotal footprint;
flagged objects get their isophotal position and moments back, as in SExtractor.

Neighbours are handled as SExtractor's MASK_TYPE CORRECT: pixels of other detections
(segmentation map) or masked pixels are replaced by the pixel symmetric about the current
centre when that one is usable, else by 0. The half-light radius is SExtractor's
``hl_radius``: the radius holding half FLUX_AUTO, within 6 × A_IMAGE, at least 0.5 px
(FLUX_RADIUS's own 0.5 fraction, out to the AUTO aperture, when that column is asked for).

:func:`vignets` cuts SExtractor's ``VIGNET(w,h)`` stamps: the background-subtracted pixels
around the nearest pixel to the centroid, -1e30 outside the image and on the pixels of
other detections (SExtractor blanks detected neighbours).

Imports numpy and sep; import it only when detection runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import sep

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["WIN_COLUMNS", "binned_radii", "half_light_radius", "vignets", "windowed_columns"]

WINPOS_NITERMAX = 16
"""SExtractor's maximum number of centring steps."""
WINPOS_NSIG = 4.0
"""Pixels within 4 σ of the current centre are used."""
WINPOS_STEPMIN = 1e-4
"""Stop when a step is shorter than this (pixels)."""
WINPOS_FAC = 2.0
"""Centroid offset factor (2 for a Gaussian)."""
GROWTH_NSIG = 6.0
"""The half-light radius is searched within 6 × A_IMAGE (SExtractor's GROWTH_NSIG)."""
GROWTH_MINHLRAD = 0.5
"""Smallest half-light radius (pixels)."""
BIG = 1e30
"""SExtractor's BIG: the value of blanked VIGNET pixels and of SNR_WIN without noise."""
_MARGIN = 2
"""Extra pixels around each window, for the centre moving during the iterations."""
_HALF_MAX = 48
"""Windows wider than this (half-size, pixels) are summed in k × k cells (see _Stamps)."""
HUGE_RADIUS = 100.0
"""Half-light radii searched beyond this (pixels) use a binned growth curve."""
_BATCH_PIXELS = 4_000_000
"""Objects are processed in batches of at most this many stamp pixels."""
_STEP_PIXELS = 400_000
"""The WIN iterations run on groups of objects whose windows hold about this many pixels."""

WIN_COLUMNS = frozenset(
    {
        "XWIN_IMAGE",
        "YWIN_IMAGE",
        "X2WIN_IMAGE",
        "Y2WIN_IMAGE",
        "XYWIN_IMAGE",
        "CXXWIN_IMAGE",
        "CYYWIN_IMAGE",
        "CXYWIN_IMAGE",
        "AWIN_IMAGE",
        "BWIN_IMAGE",
        "THETAWIN_IMAGE",
        "ERRX2WIN_IMAGE",
        "ERRY2WIN_IMAGE",
        "ERRXYWIN_IMAGE",
        "ERRCXXWIN_IMAGE",
        "ERRCYYWIN_IMAGE",
        "ERRCXYWIN_IMAGE",
        "ERRAWIN_IMAGE",
        "ERRBWIN_IMAGE",
        "ERRTHETAWIN_IMAGE",
        "FLAGS_WIN",
        "NITER_WIN",
        "FLUX_WIN",
        "FLUXERR_WIN",
        "MAG_WIN",
        "MAGERR_WIN",
        "SNR_WIN",
    }
)
"""The columns :func:`windowed_columns` computes."""

Array = Any  # numpy arrays of any shape (mypy cannot check shapes anyway)


def half_light_radius(
    data: npt.NDArray[np.float32],
    base: npt.NDArray[np.void],
    segmap: npt.NDArray[np.int32],
    mask: npt.NDArray[np.bool_] | None,
    min_radius: float = 0.0,
    known: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """SExtractor's ``hl_radius``: half of FLUX_AUTO, within max(6 A, ``min_radius``).

    ``known`` are radii already measured (FLUX_RADIUS's 0.5 fraction, NaN where not): those
    objects are not measured again."""
    n = len(base)
    x = base["X_IMAGE"].astype(np.float64) - 1.0
    y = base["Y_IMAGE"].astype(np.float64) - 1.0
    a = base["A_IMAGE"].astype(np.float64)
    rlim = np.maximum(np.where(np.isfinite(a), GROWTH_NSIG * a, 0.0), min_radius)
    norm = base["FLUX_AUTO"].astype(np.float64)
    usable = np.isfinite(norm) & (norm > 0) & (rlim > 0) & np.isfinite(x) & np.isfinite(y)
    radius = np.full(n, GROWTH_MINHLRAD)
    huge = usable & (rlim > HUGE_RADIUS)
    for obj in np.flatnonzero(huge):
        radius[obj] = _binned_half_light(data, segmap, mask, int(obj), x[obj], y[obj], rlim[obj])
    usable &= ~huge
    if known is not None:
        reuse = usable & np.isfinite(known)
        radius[reuse] = np.clip(np.abs(known[reuse]), 0.0, rlim[reuse])
        usable &= ~reuse
    if usable.any():
        ids = np.arange(1, n + 1, dtype=np.int32)
        r, _ = sep.flux_radius(
            data,
            x[usable],
            y[usable],
            rlim[usable],
            0.5,
            normflux=norm[usable],
            mask=mask,
            segmap=segmap,
            seg_id=ids[usable],
            subpix=5,
        )
        radius[usable] = np.clip(np.abs(np.asarray(r, dtype=np.float64)), 0.0, rlim[usable])
    out: npt.NDArray[np.float64] = np.maximum(radius, GROWTH_MINHLRAD)
    return out


def _binned_half_light(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    mask: npt.NDArray[np.bool_] | None,
    obj: int,
    x: float,
    y: float,
    rlim: float,
) -> float:
    """The half-light radius of a huge object (a bad column…) from k × k cells' growth curve.

    Half of its flux within ``rlim`` (SExtractor's half of FLUX_AUTO is close enough for
    such an object, whose AUTO flux is itself most of that); neighbours count as 0.
    """
    radius = binned_radii(data, segmap, mask, obj, x, y, rlim, (0.5,), None)[0]
    if radius <= 0:
        return GROWTH_MINHLRAD
    return float(np.clip(radius, GROWTH_MINHLRAD, rlim))


def binned_radii(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    mask: npt.NDArray[np.bool_] | None,
    obj: int,
    x: float,
    y: float,
    rlim: float,
    fractions: tuple[float, ...],
    norm: float | None,
) -> npt.NDArray[np.float64]:
    """The radii holding ``fractions`` of ``norm`` (of the flux within ``rlim`` when None) for
    a huge object, from the growth curve of k × k cells (k = ⌈rlim / 100⌉); neighbours and
    masked pixels count as 0. Radii are ``rlim`` when the fraction is never reached, and 0
    when there is no positive flux."""
    ny, nx = data.shape
    k = math.ceil(rlim / HUGE_RADIUS)
    x0, x1 = max(int(x - rlim), 0), min(int(x + rlim) + 1, nx)
    y0, y1 = max(int(y - rlim), 0), min(int(y + rlim) + 1, ny)
    seg = segmap[y0:y1, x0:x1]
    usable = (seg == 0) | (seg == obj + 1)
    if mask is not None:
        usable &= ~mask[y0:y1, x0:x1]
    sums, _, hb, wb = _cell_sums(np.where(usable, data[y0:y1, x0:x1], np.float32(0.0)), k)
    cx = np.tile(x0 + k * np.arange(wb) + (k - 1) / 2.0, hb)
    cy = np.repeat(y0 + k * np.arange(hb) + (k - 1) / 2.0, wb)
    r = np.hypot(cx - x, cy - y)
    inside = r <= rlim
    order = np.argsort(r[inside])
    radii, growth = r[inside][order], np.cumsum(sums[inside][order])
    total = growth[-1] if len(growth) else 0.0
    if norm is None:
        norm = total
    if not len(growth) or total <= 0 or norm <= 0:
        return np.zeros(len(fractions))
    i = np.searchsorted(growth, np.asarray(fractions) * norm)
    return np.where(i < len(radii), radii[np.minimum(i, len(radii) - 1)], rlim)


def _cell_sums(values: Array, k: int) -> tuple[Array, Array, int, int]:
    """Sums (float64) and pixel counts of the k × k cells of ``values``, row by row, and the
    number of cell rows and columns (the last ones may be partial)."""
    h, w = values.shape
    rows, cols = np.arange(0, h, k), np.arange(0, w, k)
    full = h // k * k
    sums = values[:full].reshape(h // k, k, w).sum(axis=1, dtype=np.float64)
    if full < h:
        sums = np.vstack([sums, values[full:].sum(axis=0, dtype=np.float64)])
    sums = np.add.reduceat(sums, cols, axis=1).ravel()
    npix = np.outer(np.diff(rows, append=h), np.diff(cols, append=w)).astype(np.float64).ravel()
    return sums, npix, len(rows), len(cols)


class _Pixels:
    """Every object's window pixels as flat arrays: owner, position, value, neighbour mark.

    Windows are circles of radius 4 σ + 0.75 + a margin around the isophotal centre, so one
    pass over all the objects is a handful of numpy operations and ``np.bincount`` sums.
    A huge window (a bad column, a bright halo) is summed in k × k cells instead of pixels:
    its Gaussian weight is nearly flat over a cell, and other detections' pixels count as 0
    there (no symmetric replacement).
    """

    def __init__(
        self,
        data: npt.NDArray[np.float32],
        blank: npt.NDArray[np.bool_] | None,
        segmap: npt.NDArray[np.int32],
        mx0: Array,
        my0: Array,
        half: Array,
        only: Array | None = None,
    ) -> None:
        ny, nx = data.shape
        n = len(mx0)
        self.scale = np.ones(n)
        parts: list[tuple[Array, Array, Array, Array, Array, Array]] = []
        cx = np.floor(mx0 + 0.5).astype(np.int64)
        cy = np.floor(my0 + 0.5).astype(np.int64)
        small = half <= _HALF_MAX
        chosen = np.ones(n, dtype=bool) if only is None else only
        small &= chosen
        for size in np.unique(half[small]):
            group = np.flatnonzero(small & (half == size))
            offsets = np.arange(-size, size + 1)
            in_circle = offsets[None, :] ** 2 + offsets[:, None] ** 2 <= size * size
            oy, ox = np.nonzero(in_circle)
            oy, ox = oy - size, ox - size
            per_batch = max(1, _BATCH_PIXELS // len(ox))
            for start in range(0, len(group), per_batch):
                objs = group[start : start + per_batch]
                x = (cx[objs, None] + ox[None, :]).ravel()
                y = (cy[objs, None] + oy[None, :]).ravel()
                owner = np.repeat(objs, len(ox))
                inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
                x, y, owner = x[inside], y[inside], owner[inside]
                blanked = _blanked_at(segmap, blank, owner + 1, x, y)
                pix = data[y, x].astype(np.float64)
                parts.append(
                    (owner, x.astype(np.float64), y.astype(np.float64), pix, blanked, None)
                )
        for obj in np.flatnonzero(chosen & (half > _HALF_MAX)):
            k = math.ceil(int(half[obj]) / _HALF_MAX)
            self.scale[obj] = k
            parts.append(_cells(data, blank, segmap, int(obj), cx[obj], cy[obj], half[obj], k))
        self.var: Array | None = None
        """Each pixel's variance (a weight map's; × the pixels of a cell), None: the global."""
        self.var_map: npt.NDArray[np.float32] | None = None
        self.weight_gain = False
        if parts:
            self.obj = np.concatenate([q[0] for q in parts])
            self.x = np.concatenate([q[1] for q in parts])
            self.y = np.concatenate([q[2] for q in parts])
            self.pix = np.concatenate([q[3] for q in parts])
            self.blanked = np.concatenate([q[4] for q in parts])
            self.npix = np.concatenate(
                [np.ones(len(q[0])) if q[5] is None else q[5] for q in parts]
            )
        else:
            self.obj = np.zeros(0, dtype=np.int64)
            self.x = self.y = self.pix = self.npix = np.zeros(0)
            self.blanked = np.zeros(0, dtype=bool)

    def use_variance(self, var_map: npt.NDArray[np.float32] | None, weight_gain: bool) -> None:
        """Take each pixel's variance from ``var_map`` (WEIGHT_TYPE), as winpos.c does."""
        if var_map is None:
            return
        ny, nx = var_map.shape
        iy = np.clip(np.floor(self.y + 0.5).astype(np.int64), 0, ny - 1)
        ix = np.clip(np.floor(self.x + 0.5).astype(np.int64), 0, nx - 1)
        var = var_map[iy, ix].astype(np.float64)
        self.var = np.where(var < BIG, var, 0.0) * self.npix  # bad pixels are blanked
        self.var_map, self.weight_gain = var_map, weight_gain

    def prepare(self, sig: Array) -> None:
        """Per-pixel constants of the Gaussian window (σ ``sig`` per object) for the steps."""
        s = sig[self.obj]
        self.nhalf_inv_s2 = -0.5 / (s * s)
        scale = self.scale[self.obj]
        self.cells = bool((scale != 1).any())
        self.inv_scale = 1.0 / scale if self.cells else None
        self.edge = WINPOS_NSIG * s / scale + 0.5
        self.blanked_idx = np.flatnonzero(self.blanked)
        self.runs = _runs(self.obj)

    def per_object(self, values: Array, n: int) -> Array:
        """``values`` summed per object (like ``np.bincount(obj, values, n)``, but over the
        contiguous runs of each object's pixels: several times faster)."""
        starts, owners = self.runs
        if not len(starts):
            return np.zeros(n)
        return np.bincount(owners, np.add.reduceat(values, starts), minlength=n)

    def owned(self, n: int) -> Array:
        """Which of the ``n`` objects have pixels here."""
        return np.bincount(self.obj, minlength=n) > 0

    def subset(self, keep: Array) -> _Pixels:
        """The pixels where ``keep`` (a boolean per pixel) holds."""
        out = _Pixels.__new__(_Pixels)
        out.scale = self.scale
        out.obj, out.x, out.y = self.obj[keep], self.x[keep], self.y[keep]
        out.pix, out.blanked, out.npix = self.pix[keep], self.blanked[keep], self.npix[keep]
        out.var = self.var[keep] if self.var is not None else None
        out.var_map, out.weight_gain = self.var_map, self.weight_gain
        out.nhalf_inv_s2, out.edge = self.nhalf_inv_s2[keep], self.edge[keep]
        out.cells = self.cells
        out.inv_scale = None if self.inv_scale is None else self.inv_scale[keep]
        out.blanked_idx = np.flatnonzero(out.blanked)
        out.runs = _runs(out.obj)
        return out


def _runs(obj: Array) -> tuple[Array, Array]:
    """Where each run of equal owners starts in ``obj``, and its owner."""
    if not len(obj):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], obj[1:] != obj[:-1])))
    return starts, obj[starts]


def _cells(
    data: npt.NDArray[np.float32],
    blank: npt.NDArray[np.bool_] | None,
    segmap: npt.NDArray[np.int32],
    obj: int,
    cx: int,
    cy: int,
    half: int,
    k: int,
) -> tuple[Array, Array, Array, Array, Array, Array]:
    """One huge window summed in k × k cells: (owner, x, y, sum, blanked, pixels per cell)."""
    ny, nx = data.shape
    half = int(half) + _MARGIN * k
    x0, x1 = max(cx - half, 0), min(cx + half + 1, nx)
    y0, y1 = max(cy - half, 0), min(cy + half + 1, ny)
    seg = segmap[y0:y1, x0:x1]
    usable = (seg == 0) | (seg == obj + 1)
    if blank is not None:
        usable &= ~blank[y0:y1, x0:x1]
    sums, npix, hb, wb = _cell_sums(np.where(usable, data[y0:y1, x0:x1], np.float32(0.0)), k)
    x = np.tile(x0 + k * np.arange(wb) + (k - 1) / 2.0, hb)
    y = np.repeat(y0 + k * np.arange(hb) + (k - 1) / 2.0, wb)
    keep = npix > 0
    owner = np.full(int(keep.sum()), obj, dtype=np.int64)
    return owner, x[keep], y[keep], sums[keep], np.zeros(len(owner), dtype=bool), npix[keep]


def _blanked_at(
    segmap: npt.NDArray[np.int32],
    blank: npt.NDArray[np.bool_] | None,
    ids: Array,
    x: Array,
    y: Array,
) -> Array:
    seg = segmap[y, x]
    out = (seg != 0) & (seg != ids)
    if blank is not None:
        out |= blank[y, x]
    return out


class _Sums:
    """Gaussian-weighted sums of one step, per object."""

    tv: Array
    sx: Array
    sy: Array
    sxx: Array
    syy: Array
    sxy: Array
    esum: Array
    ex2: Array
    ey2: Array
    exy: Array


def _weighted_sums(
    px: _Pixels,
    n: int,
    mx: Array,
    my: Array,
    sig: Array,
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    blank: npt.NDArray[np.bool_] | None,
    *,
    errors: bool,
    variance: float,
    gain: float,
) -> _Sums:
    """One pass of winpos.c's loop over the windows of the objects that own ``px``.

    ``px.prepare(sig)`` must have been called: the per-pixel constants come from there.
    """
    ny, nx = data.shape
    ob = px.obj
    dx = px.x - mx[ob]
    dy = px.y - my[ob]
    r2 = dx * dx
    r2 += dy * dy
    # SExtractor counts 11 × 11 sub-pixels inside the 4 σ circle for pixels near its edge
    # (its box and r < 4 σ + 0.75 tests select the same pixels); the weight there is e⁻⁸ of
    # the centre's, so the linear overlap is as good.
    weight = np.sqrt(r2)
    if px.inv_scale is not None:
        weight *= px.inv_scale
    np.subtract(px.edge, weight, out=weight)
    np.clip(weight, 0.0, 1.0, out=weight)
    gauss = r2
    gauss *= px.nhalf_inv_s2
    np.exp(gauss, out=gauss)
    weight *= gauss
    del gauss, r2
    pix = px.pix
    var = px.var
    hit = px.blanked_idx[weight[px.blanked_idx] > 0]
    if len(hit):
        pix = pix.copy()
        owner = ob[hit]
        x2 = np.trunc(2.0 * mx[owner] + 0.49999 - px.x[hit]).astype(np.int64)
        y2 = np.trunc(2.0 * my[owner] + 0.49999 - px.y[hit]).astype(np.int64)
        ok = (x2 >= 0) & (x2 < nx) & (y2 >= 0) & (y2 < ny)
        x2c, y2c = np.clip(x2, 0, nx - 1), np.clip(y2, 0, ny - 1)
        ok &= ~_blanked_at(segmap, blank, owner + 1, x2c, y2c)
        pix[hit] = np.where(ok, data[y2c, x2c], 0.0)
        if var is not None and px.var_map is not None:
            var = var.copy()  # the replacing pixel's variance, 0 with no replacement
            var[hit] = np.where(ok, px.var_map[y2c, x2c], 0.0)
    locpix = weight * pix
    out = _Sums()
    out.tv = px.per_object(locpix, n)
    if not errors:
        dx *= locpix
        out.sx = px.per_object(dx, n)
        dy *= locpix
        out.sy = px.per_object(dy, n)
        return out
    scale = px.scale[ob]
    out.sx = px.per_object(locpix * dx, n)
    out.sy = px.per_object(locpix * dy, n)
    if errors:
        out.sxx = px.per_object(locpix * dx * dx, n)
        out.syy = px.per_object(locpix * dy * dy, n)
        out.sxy = px.per_object(locpix * dx * dy, n)
        err = variance * px.npix if var is None else var
        if gain > 0:
            poisson = np.where(pix > 0, pix / gain, 0.0)
            if var is not None and px.weight_gain and variance > 0:
                poisson = poisson * var / (variance * px.npix)  # WEIGHT_GAIN Y
            err = err + poisson
        err2 = weight * weight * err
        cell = 0.0833 * scale * scale  # a pixel's (or cell's) own variance
        out.esum = px.per_object(err2, n)
        out.ex2 = px.per_object(err2 * (dx * dx + cell), n)
        out.ey2 = px.per_object(err2 * (dy * dy + cell), n)
        out.exy = px.per_object(err2 * dx * dy, n)
    return out


def _ellipse(x2: Array, y2: Array, xy: Array) -> tuple[Array, Array, Array, Array, Array, Array]:
    """(a, b, θ in degrees, cxx, cyy, cxy) of the second moments, SExtractor's formulas."""
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = x2 - y2
        theta = np.where(np.abs(diff) > 0, np.arctan2(2.0 * xy, diff) / 2.0, math.pi / 4.0)
        temp = np.sqrt(0.25 * diff * diff + xy * xy)
        mean = 0.5 * (x2 + y2)
        a = np.sqrt(mean + temp)
        b = np.sqrt(np.maximum(mean - temp, 0.0))
        det = x2 * y2 - xy * xy
        cxx, cyy, cxy = y2 / det, x2 / det, -2.0 * xy / det
    return a, b, np.degrees(theta), cxx, cyy, cxy


def _isophotal_errors(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    base: npt.NDArray[np.void],
    variance: float,
    gain: float,
    var_map: npt.NDArray[np.float32] | None = None,
) -> tuple[Array, Array, Array]:
    """Isophotal position (co)variances (ERRX2_IMAGE…), for objects whose WIN fit failed."""
    n = len(base)
    yy, xx = np.nonzero(segmap)
    owner = segmap[yy, xx].astype(np.int64) - 1
    pix = data[yy, xx].astype(np.float64)
    var: Array | float = variance if var_map is None else var_map[yy, xx].astype(np.float64)
    err = var + (np.where(pix > 0, pix / gain, 0.0) if gain > 0 else 0.0)
    dx = xx - (base["X_IMAGE"][owner] - 1.0)
    dy = yy - (base["Y_IMAGE"][owner] - 1.0)
    flux2 = np.bincount(owner, pix, minlength=n) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ex2 = np.bincount(owner, err * dx * dx, minlength=n) / flux2
        ey2 = np.bincount(owner, err * dy * dy, minlength=n) / flux2
        exy = np.bincount(owner, err * dx * dy, minlength=n) / flux2
    return ex2, ey2, exy


class _State:
    """Per-object results of the iterations, filled batch by batch."""

    def __init__(self, n: int, mx0: Array, my0: Array) -> None:
        self.mx, self.my = mx0.copy(), my0.copy()
        self.niter = np.full(n, WINPOS_NITERMAX + 1, dtype=np.int64)
        self.tv = np.zeros(n)
        self.dxpos, self.dypos = np.zeros(n), np.zeros(n)
        self.sums = {k: np.zeros(n) for k in ("sxx", "syy", "sxy", "esum", "ex2", "ey2", "exy")}
        self.moved = np.zeros(n)
        """How far (pixels, along x or y) each centre went from the isophotal one."""


def _iterate(
    px: _Pixels,
    sig: Array,
    state: _State,
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    mask: npt.NDArray[np.bool_] | None,
    *,
    variance: float,
    gain: float,
) -> None:
    """winpos.c's loop for every object at once; the results go into ``state``."""
    n = len(sig)
    px.prepare(sig)
    start_x, start_y = state.mx.copy(), state.my.copy()
    last_x, last_y = start_x.copy(), start_y.copy()
    cur_x, cur_y = last_x.copy(), last_y.copy()
    active = px.owned(n)
    current = px
    npix = np.bincount(px.obj, minlength=n)
    live = len(px.obj)
    for step in range(WINPOS_NITERMAX):
        if not active.any():
            break
        s = _weighted_sums(
            current,
            n,
            cur_x,
            cur_y,
            sig,
            data,
            segmap,
            mask,
            errors=False,
            variance=variance,
            gain=gain,
        )
        idx = np.flatnonzero(active)
        tv = s.tv[idx]
        positive = tv > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ddx = np.where(positive, s.sx[idx] / tv, s.sx[idx])
            ddy = np.where(positive, s.sy[idx] / tv, s.sy[idx])
        last_x[idx], last_y[idx] = cur_x[idx], cur_y[idx]
        state.dxpos[idx], state.dypos[idx] = ddx, ddy
        cur_x[idx] += np.where(positive, ddx * WINPOS_FAC, 0.0)
        cur_y[idx] += np.where(positive, ddy * WINPOS_FAC, 0.0)
        away = np.maximum(np.abs(cur_x[idx] - start_x[idx]), np.abs(cur_y[idx] - start_y[idx]))
        state.moved[idx] = np.maximum(state.moved[idx], away)
        done = ~positive | (ddx * ddx + ddy * ddy < WINPOS_STEPMIN**2)
        state.niter[idx[done]] = step + 1
        if done.any():
            active[idx[done]] = False
            live -= int(npix[idx[done]].sum())
            # Finished objects' pixels are dropped once they are a third of the rest: the
            # sums of finished objects are not used, copying the arrays each step costs more.
            if 3 * live < 2 * len(current.obj):
                current = current.subset(active[current.obj])
    final = _weighted_sums(
        px,
        n,
        last_x,
        last_y,
        sig,
        data,
        segmap,
        mask,
        errors=True,
        variance=variance,
        gain=gain,
    )
    done = px.owned(n)
    state.mx[done], state.my[done] = cur_x[done], cur_y[done]
    state.tv[done] = final.tv[done]
    for key, values in state.sums.items():
        values[done] = getattr(final, key)[done]


def _batches(half: Array, chosen: Array) -> list[Array]:
    """``chosen`` split into groups of objects whose windows hold about :data:`_STEP_PIXELS`
    pixels together (a huge window alone), so the steps' arrays stay small (and in cache)."""
    idx = np.flatnonzero(chosen)
    if not len(idx):
        return []
    area = np.minimum(4.0 * half[idx].astype(np.float64) ** 2, 4.0 * _HALF_MAX**2)
    group = (np.cumsum(area) // _STEP_PIXELS).astype(np.int64)
    out = []
    for g in np.unique(group):
        only = np.zeros(len(chosen), dtype=bool)
        only[idx[group == g]] = True
        out.append(only)
    return out


def windowed_columns(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    base: npt.NDArray[np.void],
    half_light: npt.NDArray[np.float64],
    *,
    rms: float,
    gain: float,
    mask: npt.NDArray[np.bool_] | None,
    zeropoint: float,
    wanted: set[str] | frozenset[str],
    variance_map: npt.NDArray[np.float32] | None = None,
    weight_gain: bool = True,
) -> dict[str, npt.NDArray[Any]]:
    """The WIN columns in ``wanted`` for the objects of ``base`` (see the module doc).

    ``data`` is the background-subtracted image, ``segmap`` sep's segmentation map (object
    ``i`` has pixels ``i + 1``), ``half_light`` each object's half-light radius. With a
    weight map (WEIGHT_TYPE), ``variance_map`` is each pixel's variance: the errors
    (FLUXERR_WIN, SNR_WIN, ERR*WIN) sum it instead of ``rms``², and with ``weight_gain``
    (WEIGHT_GAIN Y) the Poisson term is scaled by variance / ``rms``², as in winpos.c.
    """
    n = len(base)
    posx = base["X_IMAGE"].astype(np.float64) - 1.0
    posy = base["Y_IMAGE"].astype(np.float64) - 1.0
    finite = np.isfinite(posx) & np.isfinite(posy)
    ny, nx = data.shape
    mx0 = np.clip(np.where(finite, posx, 0.0), 0, nx - 1)
    my0 = np.clip(np.where(finite, posy, 0.0), 0, ny - 1)
    sig = np.maximum(half_light, GROWTH_MINHLRAD) * 2.0 / 2.35
    variance = rms * rms
    half = np.ceil(WINPOS_NSIG * sig + 0.75).astype(np.int64) + _MARGIN

    state = _State(n, mx0, my0)
    for only in _batches(half, np.ones(n, dtype=bool)):
        px = _Pixels(data, mask, segmap, mx0, my0, half, only=only)
        px.use_variance(variance_map, weight_gain)
        _iterate(px, sig, state, data, segmap, mask, variance=variance, gain=gain)
        del px
    # A centre that wandered further than the margin: again with windows that follow it.
    far = (state.moved > _MARGIN - 0.5) & (half <= _HALF_MAX)
    if far.any():
        wider = np.minimum(half + np.ceil(state.moved).astype(np.int64) + 2, _HALF_MAX)
        state.mx[far], state.my[far] = mx0[far], my0[far]
        for only in _batches(wider, far):
            px = _Pixels(data, mask, segmap, mx0, my0, wider, only=only)
            px.use_variance(variance_map, weight_gain)
            _iterate(px, sig, state, data, segmap, mask, variance=variance, gain=gain)
            del px
    mx, my, niter, tv = state.mx, state.my, state.niter, state.tv
    dxpos, dypos, sums = state.dxpos, state.dypos, state.sums

    with np.errstate(divide="ignore", invalid="ignore"):
        x2 = sums["sxx"] / tv - dxpos * dxpos
        y2 = sums["syy"] / tv - dypos * dypos
        xy = sums["sxy"] / tv - dxpos * dypos
    det = x2 * y2 - xy * xy
    ddx, ddy = mx - mx0, my - my0
    cxx = base["CXX_IMAGE"].astype(np.float64)
    cyy = base["CYY_IMAGE"].astype(np.float64)
    cxy = base["CXY_IMAGE"].astype(np.float64)
    outside = (
        (ddx * ddx > 1.0)
        & (ddy * ddy > 1.0)
        & (cxx * ddx**2 + cyy * ddy**2 + cxy * ddx * ddy > 1.0)
    )
    flags = (
        8 * outside
        | 4 * ~(tv > 0)
        | 2 * ((x2 < 0) | (y2 < 0))  # NaN (no flux) compares false, as in C
        | 1 * (det < 0)
        | 1 * ~finite
    ).astype(np.int64)
    bad = flags != 0

    out: dict[str, npt.NDArray[Any]] = {}
    xwin = np.where(bad, mx0, mx)
    ywin = np.where(bad, my0, my)
    out["XWIN_IMAGE"] = np.where(finite, xwin, posx) + 1.0
    out["YWIN_IMAGE"] = np.where(finite, ywin, posy) + 1.0
    out["FLAGS_WIN"] = flags
    out["NITER_WIN"] = niter

    # FLUX_WIN is SExtractor's last weighted sum, flagged or not.
    esum = sums["esum"]
    flux = tv
    fluxerr = np.sqrt(np.maximum(esum, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["SNR_WIN"] = np.where(esum > 1.0 / BIG, flux / fluxerr, BIG)
        positive = flux > 0
        safe = np.where(positive, flux, 1.0)
        out["MAG_WIN"] = np.where(positive, zeropoint - 2.5 * np.log10(safe), 99.0)
        out["MAGERR_WIN"] = np.where(positive, 1.086 * fluxerr / safe, 99.0)
    out["FLUX_WIN"] = flux
    out["FLUXERR_WIN"] = fluxerr

    # Windowed moments; SExtractor pads singular ones by 1/12 px² (a pixel's own variance).
    singular = det < 0.00694
    x2 = np.where(singular, x2 + 0.0833333, x2)
    y2 = np.where(singular, y2 + 0.0833333, y2)
    x2 = np.where(bad, base["X2_IMAGE"].astype(np.float64), x2)
    y2 = np.where(bad, base["Y2_IMAGE"].astype(np.float64), y2)
    xy = np.where(bad, base["XY_IMAGE"].astype(np.float64), xy)
    a, b, theta, wcxx, wcyy, wcxy = _ellipse(x2, y2, xy)
    out["X2WIN_IMAGE"], out["Y2WIN_IMAGE"], out["XYWIN_IMAGE"] = x2, y2, xy
    out["CXXWIN_IMAGE"] = np.where(bad, cxx, wcxx)
    out["CYYWIN_IMAGE"] = np.where(bad, cyy, wcyy)
    out["CXYWIN_IMAGE"] = np.where(bad, cxy, wcxy)
    out["AWIN_IMAGE"] = np.where(bad, base["A_IMAGE"], a)
    out["BWIN_IMAGE"] = np.where(bad, base["B_IMAGE"], b)
    out["THETAWIN_IMAGE"] = np.where(bad, base["THETA_IMAGE"], theta)

    if wanted & {n for n in WIN_COLUMNS if n.startswith("ERR")}:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            norm = WINPOS_FAC * WINPOS_FAC / (tv * tv)
            ex2, ey2, exy = sums["ex2"] * norm, sums["ey2"] * norm, sums["exy"] * norm
        if bad.any():
            ix2, iy2, ixy = _isophotal_errors(data, segmap, base, variance, gain, variance_map)
            ex2, ey2, exy = (
                np.where(bad, iso, win) for iso, win in ((ix2, ex2), (iy2, ey2), (ixy, exy))
            )
        ea, eb, etheta, ecxx, ecyy, ecxy = _ellipse(ex2, ey2, exy)
        out["ERRX2WIN_IMAGE"], out["ERRY2WIN_IMAGE"], out["ERRXYWIN_IMAGE"] = ex2, ey2, exy
        out["ERRCXXWIN_IMAGE"], out["ERRCYYWIN_IMAGE"], out["ERRCXYWIN_IMAGE"] = ecxx, ecyy, ecxy
        out["ERRAWIN_IMAGE"], out["ERRBWIN_IMAGE"], out["ERRTHETAWIN_IMAGE"] = ea, eb, etheta
    return {name: values for name, values in out.items() if name in wanted}


def vignets(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    base: npt.NDArray[np.void],
    width: int,
    height: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float32]:
    """SExtractor's VIGNET(width,height): (n, height, width) stamps, -1e30 where unusable."""
    n = len(base)
    ny, nx = data.shape
    posx = base["X_IMAGE"].astype(np.float64) - 1.0
    posy = base["Y_IMAGE"].astype(np.float64) - 1.0
    finite = np.isfinite(posx) & np.isfinite(posy)
    ix = np.trunc(np.where(finite, posx, -1e9) + 0.49999).astype(np.int64)
    iy = np.trunc(np.where(finite, posy, -1e9) + 0.49999).astype(np.int64)
    out = np.full((n, height, width), -BIG, dtype=np.float32)
    ids = np.arange(1, n + 1, dtype=np.int32)
    per_batch = max(1, _BATCH_PIXELS // max(1, width * height))
    cols = np.arange(width)[None, None, :] - width // 2
    rows_ = np.arange(height)[None, :, None] - height // 2
    for start in range(0, n, per_batch):
        sl = slice(start, start + per_batch)
        x = ix[sl, None, None] + cols
        y = iy[sl, None, None] + rows_
        inside = (x >= 0) & (x < nx) & (y >= 0) & (y < ny)
        centre_in = (ix[sl] >= 0) & (ix[sl] < nx) & (iy[sl] >= 0) & (iy[sl] < ny)
        inside &= centre_in[:, None, None]
        xc, yc = np.clip(x, 0, nx - 1), np.clip(y, 0, ny - 1)
        usable = inside & ~_blanked_at(segmap, mask, ids[sl, None, None], xc, yc)
        out[sl] = np.where(usable, data[yc, xc], np.float32(-BIG))
    return out
