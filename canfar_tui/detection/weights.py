"""Weight maps, flag maps, local background and the FLAGS bits beyond the detection's.

Everything here costs only when asked for (:func:`active`): a run without WEIGHT_TYPE,
BACKPHOTO_TYPE LOCAL or the columns below never builds a :class:`Extras`.

SExtractor semantics followed (``weight.c``, ``back.c``, ``scan.c``, ``analyse.c``,
``flag.c``, ``photom.c``):

* WEIGHT_TYPE MAP_RMS / MAP_VAR / MAP_WEIGHT read WEIGHT_IMAGE (for a multi-extension image,
  the weight file's n-th image extension goes with the image's n-th; the counts and sizes
  must match) and turn it into a variance map: rms², var, 1 / weight (weight ≤ 0 is bad).
  BACKGROUND uses the background RMS map². With RESCALE_WEIGHTS Y, MAP_VAR and MAP_WEIGHT
  are rescaled so that the median over the background meshes of σ_image / √var_mesh is 1.
  WEIGHT_THRESH (in the map's units; default 0 for MAP_WEIGHT, none otherwise) marks bad
  pixels: they are left out of the background, the detection and the photometry like
  masked pixels. (SExtractor's INTERP_TYPE ALL fills short runs of bad pixels from their
  neighbours instead; canfar-tui masks them.)
* Detection with a weight map: the threshold is DETECT_THRESH × √(variance filtered with
  the detection kernel), pixel by pixel (``sep.extract(var=…)`` on the filtered variance).
* Errors: FLUXERR_ISO/AUTO/APER² = Σ variance over the measured pixels + the Poisson term,
  which with WEIGHT_GAIN Y is modulated by variance / σ²_global (flux / GAIN otherwise).
  THRESHOLD is the lowest pixel threshold over the isophote.
* FLAGS_WEIGHT: 1 when an isophotal pixel has a bad weight, 2 when one of them or one of its
  8 neighbours has a bad (filtered) detection weight.
* FLAG_IMAGE / FLAG_TYPE: IMAFLAGS_ISO combines the non-zero flag-map values over the
  isophotal pixels (OR, AND — SExtractor's AND starts from 0, so it is always 0 —, MIN,
  MAX, MOST: the most frequent), NIMAFLAGS_ISO counts the pixels that entered it.
* BACKPHOTO_TYPE LOCAL: the background is re-estimated (σ-clipped mode, SExtractor's
  ``backguess``) in a rectangular annulus BACKPHOTO_THICK pixels wide around the object's
  isophotal box (enlarged by a quarter of its size), without pixels of detected objects;
  BACKGROUND gets it added, FLUX_ISO/AUTO/APER lose area × it, FLUX_MAX and THRESHOLD lose
  it. Objects whose annulus leaves the image keep the global background.
* ANALYSIS_THRESH (SExtractor's default 1.5, whatever DETECT_THRESH is): ISOAREA_IMAGE
  counts the isophotal pixels above it (in σ of each pixel with a weight map); THRESHOLD
  stays the detection threshold, as in SExtractor.
* FLAGS 16 for FLUX_APER apertures leaving the image (SExtractor sets it in
  ``computeaperflux``), 32 for objects taller than SExtractor's strip buffer
  (MEMORY_BUFSIZE lines, images taller than it only) and 128 for objects larger than
  MEMORY_PIXSTACK pixels (SExtractor's pixel stack would have overflowed; canfar-tui grows
  sep's stack instead and measures them whole).

Imports numpy and sep; import it only when detection runs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sep

from canfar_tui.detection.errors import ExtensionError, InputError
from canfar_tui.detection.params import DetectionParams

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.events import ExtensionInfo

__all__ = ["Extras", "active", "check_inputs", "load", "memory_flags"]

BIG = 1e30
"""SExtractor's BIG: the variance of a bad pixel."""
_FLAG_COLUMNS = frozenset({"IMAFLAGS_ISO", "NIMAFLAGS_ISO"})
_APER_COLUMNS = frozenset({"FLUX_APER", "FLUXERR_APER", "MAG_APER", "MAGERR_APER"})
_OWN_COLUMNS = _FLAG_COLUMNS | {"FLAGS_WEIGHT"}
_SEX_APERTURE, _SEX_ISO_PB, _SEX_OVERFLOW = 16, 32, 128
APER_SUBPIX = 5


def active(params: DetectionParams) -> bool:
    """Whether this run needs :class:`Extras` (weights, flag map, LOCAL, extra flag bits)."""
    if params.weight_type != "NONE" or params.backphoto_type == "LOCAL":
        return True
    if params.analysis_thresh != params.detect_thresh:
        return True
    return any(c in _OWN_COLUMNS or c in _APER_COLUMNS for c in params.columns)


def memory_flags(
    npix: npt.NDArray[Any], ymin: npt.NDArray[Any], ymax: npt.NDArray[Any], ny: int, params: Any
) -> npt.NDArray[np.int64]:
    """FLAGS 32 and 128 from the objects' sizes (every run: a few operations per object).

    32: taller than SExtractor's strip buffer (MEMORY_BUFSIZE lines, images taller than
    it); 128: more pixels than MEMORY_PIXSTACK (SExtractor would have run out of stack).
    """
    flags = np.zeros(len(npix), dtype=np.int64)
    if ny > params.memory_bufsize:
        height = ymax.astype(np.int64) - ymin.astype(np.int64) + 1
        flags[height >= params.memory_bufsize] |= _SEX_ISO_PB
    flags[npix.astype(np.int64) > params.pixstack] |= _SEX_OVERFLOW
    return flags


def _wants_flag_map(params: DetectionParams) -> bool:
    return any(c in _FLAG_COLUMNS for c in params.columns)


def _map_files(params: DetectionParams) -> list[tuple[str, str]]:
    files = []
    if params.weight_type.startswith("MAP_"):
        files.append(("WEIGHT_IMAGE", params.weight_image))
    if _wants_flag_map(params):
        files.append(("FLAG_IMAGE", params.flag_image))
    return files


def _map_extensions(key: str, path: str) -> tuple[ExtensionInfo, ...]:
    from canfar_tui.detection.reader import scan_image

    try:
        extensions, _ = scan_image(path)
    except InputError as exc:
        raise InputError(f"{key} {exc}") from None
    return extensions


def check_inputs(
    image: str, extensions: tuple[ExtensionInfo, ...], params: DetectionParams
) -> None:
    """Check the weight and flag maps against the image (parent side, before any work).

    Raises :class:`InputError` with one line: missing or unreadable file, not FITS, a
    different number of image extensions, or an extension of another size.
    """
    for key, path in _map_files(params):
        maps = _map_extensions(key, path)
        name = os.path.basename(image)
        if len(maps) != len(extensions):
            raise InputError(
                f"{key} {path}: {len(maps)} image extension(s) for the {len(extensions)} of {name}"
            )
        for ext, other in zip(extensions, maps, strict=True):
            if tuple(ext.shape[-2:]) != tuple(other.shape[-2:]):
                size = "×".join(str(n) for n in reversed(other.shape[-2:]))
                want = "×".join(str(n) for n in reversed(ext.shape[-2:]))
                raise InputError(
                    f"{key} {path}: extension {other.ext_number} is {size} pixels, "
                    f"{name}'s {ext.label} is {want}"
                )


def _read_map(key: str, path: str, ext: ExtensionInfo, shape: tuple[int, ...]) -> Any:
    from canfar_tui.detection.reader import read_pixels

    maps = _map_extensions(key, path)
    if ext.ext_number > len(maps):
        raise ExtensionError(f"{key} {path}: no image extension {ext.ext_number}")
    data = read_pixels(path, maps[ext.ext_number - 1]).data
    if data.shape != shape:
        raise ExtensionError(f"{key} {path}: extension {ext.ext_number} has another size")
    return data


def load(path: str, ext: ExtensionInfo, params: DetectionParams, shape: tuple[int, ...]) -> Extras:
    """Read this extension's weight and flag maps (worker side)."""
    del path  # the image itself is read by the engine
    weight = None
    flag = None
    if params.weight_type.startswith("MAP_"):
        weight = _read_map("WEIGHT_IMAGE", params.weight_image, ext, shape)
    if _wants_flag_map(params):
        raw = _read_map("FLAG_IMAGE", params.flag_image, ext, shape)
        flag = np.rint(np.nan_to_num(raw, nan=0.0)).astype(np.int64)
    return Extras(params, weight, flag)


def _var_threshold(params: DetectionParams) -> float:
    """WEIGHT_THRESH in variance units (converted before any rescaling, as SExtractor)."""
    t = params.weight_thresh
    kind = params.weight_type
    if t is None:
        return BIG  # MAP_WEIGHT: weight 0 is variance BIG, bad either way
    if kind in ("MAP_RMS", "BACKGROUND"):
        return t * t if t * t < BIG else BIG
    if kind == "MAP_WEIGHT":
        return 1.0 / t if t > 0 else BIG
    return t


def _convolve(var: npt.NDArray[np.float32], kernel: npt.NDArray[np.float32]) -> Any:
    """``var`` filtered with ``kernel`` (edges repeated), as SExtractor filters weights.

    A separable kernel (the stock gauss/tophat ``.conv`` files are) is applied as two 1-D
    passes; every term is accumulated in place (no temporary image per kernel element).
    """
    k = np.asarray(kernel, dtype=np.float64)
    u, sv, vt = np.linalg.svd(k)
    if sv.size > 1 and sv[1] <= 1e-6 * sv[0]:
        return _pass(_pass(var, u[:, 0] * sv[0], axis=0), vt[0], axis=1)
    kh, kw = k.shape
    ny, nx = var.shape
    padded = np.pad(var, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
    out = np.zeros_like(var)
    scratch = np.empty_like(var)
    for j in range(kh):
        for i in range(kw):
            if k[j, i] != 0:
                np.multiply(padded[j : j + ny, i : i + nx], np.float32(k[j, i]), out=scratch)
                out += scratch
    return out


def _pass(var: npt.NDArray[np.float32], weights: Any, *, axis: int) -> npt.NDArray[np.float32]:
    """1-D filtering along ``axis`` with edges repeated."""
    half = len(weights) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    padded = np.pad(var, pad, mode="edge")
    ny, nx = var.shape
    out = np.zeros_like(var)
    scratch = np.empty_like(var)
    for k, w in enumerate(weights):
        if w == 0:
            continue
        window = padded[k : k + ny, :] if axis == 0 else padded[:, k : k + nx]
        np.multiply(window, np.float32(w), out=scratch)
        out += scratch
    return out


@dataclass
class _Noise:
    var: Any
    """Per-pixel variance of the measurement (rescaled); BIG where bad."""
    bad: Any
    detect_var: Any
    wthresh: float


class Extras:
    """One extension's weight/flag maps and the measurements they add (see module doc)."""

    def __init__(self, params: DetectionParams, weight: Any = None, flag: Any = None) -> None:
        self.params = params
        self.weight = weight
        self.flag = flag
        self.noise: _Noise | None = None
        self.global_rms = 0.0
        self.changed: set[str] = set()
        """Flux and error columns changed here (their magnitudes are computed again)."""
        self.aper_errors: Any = None
        self._bad: Any = None
        self._raw_var: Any = None
        if weight is not None:
            self._bad = self._raw_bad(weight)

    # -- before the background --------------------------------------------------------

    def _raw_bad(self, weight: Any) -> Any:
        kind = self.params.weight_type
        with np.errstate(invalid="ignore"):
            if kind == "MAP_WEIGHT":
                bad = ~(weight > 0)
            else:
                bad = ~np.isfinite(weight) | (weight < 0)
                if kind == "MAP_VAR":
                    bad |= weight >= BIG
        return bad

    def merge_mask(self, mask: Any) -> Any:
        """The engine's mask (NaN pixels) with the bad-weight pixels added."""
        if self.weight is None:
            return mask
        self._raw_var = self._to_var(self.weight, 1.0)
        self.weight = None  # the variance map replaces it (one CCD-sized array less)
        bad = self._bad
        if self.params.weight_thresh is not None:
            bad |= self._threshold_bad(self._raw_var)
        self._bad = bad
        if not bad.any():
            return mask
        return bad if mask is None else (mask | bad)

    def _to_var(self, weight: Any, sigfac: float) -> Any:
        kind = self.params.weight_type
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "MAP_RMS":
                var = np.square(weight, dtype=np.float32)
            elif kind == "MAP_VAR":
                var = weight.astype(np.float32) * np.float32(sigfac * sigfac)
            else:
                var = np.where(weight > 0, np.float32(sigfac * sigfac) / weight, np.float32(BIG))
        return np.asarray(var, dtype=np.float32)

    def _threshold_bad(self, var: Any) -> Any:
        return var >= _var_threshold(self.params)

    # -- after the background ---------------------------------------------------------

    def prepare(self, data: Any, bkg: Any, mask: Any, kernel: Any, global_rms: float) -> Any | None:
        """Build the variance maps; returns the detection variance (or None: no weights)."""
        params = self.params
        kind = params.weight_type
        if kind == "NONE":
            return None
        if kind == "BACKGROUND":
            var = np.square(np.asarray(bkg.rms(), dtype=np.float32))
            bad = np.zeros(var.shape, dtype=bool)
        else:
            if self._raw_var is None:
                self.merge_mask(None)
            var, self._raw_var = self._raw_var, None
            if kind in ("MAP_VAR", "MAP_WEIGHT") and params.rescale_weights:
                sigfac = self._sigfac(bkg, var, self._bad, data.shape)
                if sigfac != 1.0:
                    var *= np.float32(sigfac * sigfac)
            bad = self._bad
        if params.weight_thresh is not None:
            bad = bad | self._threshold_bad(var)
        any_bad = bool(bad.any())
        if any_bad:
            var[bad] = np.float32(BIG)
        if kernel is not None:
            source = np.where(bad, np.float32(0), var) if any_bad else var
            detect_var = _convolve(source, kernel)
            if any_bad:
                detect_var[_convolve(bad.astype(np.float32), kernel) > 0] = np.float32(BIG)
        else:
            detect_var = var
        self.noise = _Noise(var, bad, detect_var, _var_threshold(params))
        self.global_rms = global_rms
        return detect_var

    def _sigfac(self, bkg: Any, var: Any, bad: Any, shape: tuple[int, ...]) -> float:
        """RESCALE_WEIGHTS: median over meshes of σ_image / √(mean variance in the mesh)."""
        params = self.params
        ny, nx = shape
        bw, bh = (min(v, n) for v, n in zip(params.back_size, (nx, ny), strict=True))
        my, mx = ny // bh, nx // bw
        if my == 0 or mx == 0:
            return 1.0
        cut = var[: my * bh, : mx * bw]
        if bad.any():
            good = ~bad[: my * bh, : mx * bw]
            cut = np.where(good, cut, np.float32(0))
            counts = good.reshape(my, bh, mx, bw).sum(axis=(1, 3))
        else:
            counts = np.full((my, mx), bh * bw)
        sums = cut.reshape(my, bh, mx, bw).sum(axis=3, dtype=np.float64).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            wback = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        ys = ((np.arange(my) + 0.5) * bh).astype(np.intp)
        xs = ((np.arange(mx) + 0.5) * bw).astype(np.intp)
        sigma = np.asarray(bkg.rms())[np.ix_(ys, xs)].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(wback > 0, sigma / np.sqrt(np.where(wback > 0, wback, 1.0)), 0.0)
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        return float(np.median(ratio)) if ratio.size else 1.0

    # -- after the measurements -------------------------------------------------------

    def finish(
        self,
        cat: Any,
        data: Any,
        segmap: Any,
        mask: Any,
        gain: float,
        global_rms: float,
    ) -> Any:
        """Fill and correct the catalogue ``cat`` (every column, one extension) in place."""
        n = len(cat)
        if n == 0:
            return cat
        params = self.params
        names = set(cat.dtype.names or ())
        ids = np.arange(1, n + 1, dtype=np.int32)
        analysis = params.analysis_thresh != params.detect_thresh
        if self.noise is not None or self.flag is not None or analysis:
            # The isophotal pixels of every object (one pass over the segmentation map).
            seg = segmap.ravel()
            inside = seg > 0
            owner = seg[inside] - 1
        flags = cat["FLAGS"].astype(np.int64)
        flags |= self._geometry_flags(cat, data.shape, names)
        if self.noise is not None:
            self._weighted(cat, data, segmap, mask, ids, inside, owner, gain, global_rms, names)
            if "FLAGS_WEIGHT" in names:
                cat["FLAGS_WEIGHT"] = self._weight_flags(segmap, inside, owner, n)
        if analysis and self.noise is None:
            self._analysis(cat, data, inside, owner, global_rms)
        if self.flag is not None:
            values, counts = self._flag_map(inside, owner, n)
            if "IMAFLAGS_ISO" in names:
                cat["IMAFLAGS_ISO"] = values
            if "NIMAFLAGS_ISO" in names:
                cat["NIMAFLAGS_ISO"] = counts
        if params.backphoto_type == "LOCAL":
            self._local_background(cat, data, segmap, mask, ids, names)
        cat["FLAGS"] = flags
        if self.changed:
            self._magnitudes(cat, names)
        return cat

    def _analysis(self, cat: Any, data: Any, inside: Any, owner: Any, global_rms: float) -> None:
        """ANALYSIS_THRESH ≠ DETECT_THRESH: ISOAREA_IMAGE counts the pixels above the former."""
        params = self.params
        thresh = params.analysis_thresh
        if params.thresh_type == "RELATIVE":
            thresh *= global_rms
        above = data.ravel()[inside] > thresh
        cat["ISOAREA_IMAGE"] = np.bincount(owner[above], minlength=len(cat))

    def _geometry_flags(self, cat: Any, shape: tuple[int, ...], names: set[str]) -> Any:
        params = self.params
        ny, nx = shape
        flags = np.zeros(len(cat), dtype=np.int64)
        if names & _APER_COLUMNS:
            mx = cat["X_IMAGE"].astype(np.float64) - 1.0
            my = cat["Y_IMAGE"].astype(np.float64) - 1.0
            for diameter in params.phot_apertures:
                r = diameter / 2.0
                out = (
                    (np.trunc(mx - r + 0.499999) < 0)
                    | (np.trunc(mx + r + 1.499999) > nx)
                    | (np.trunc(my - r + 0.499999) < 0)
                    | (np.trunc(my + r + 1.499999) > ny)
                )
                flags[out] |= _SEX_APERTURE
        return flags

    def _weighted(
        self,
        cat: Any,
        data: Any,
        segmap: Any,
        mask: Any,
        ids: Any,
        inside: Any,
        owner: Any,
        gain: float,
        global_rms: float,
        names: set[str],
    ) -> None:
        """Errors and THRESHOLD from the variance map."""
        assert self.noise is not None
        params = self.params
        n = len(cat)
        var = self.noise.var
        usable = np.where(self.noise.bad, np.float32(0), var) if self.noise.bad.any() else var
        flat_var = usable.ravel()[inside].astype(np.float64)
        backnoise2 = global_rms * global_rms
        modulate = params.weight_gain and gain > 0 and backnoise2 > 0
        # ISO: Σ var over the isophote, Poisson term per positive pixel.
        iso_var = np.bincount(owner, weights=flat_var, minlength=n).astype(np.float64)
        pix = data.ravel()[inside].astype(np.float64)
        if modulate:
            positive = np.maximum(pix, 0.0)
            iso_var += np.bincount(owner, weights=positive * flat_var, minlength=n) / (
                gain * backnoise2
            )
        elif gain > 0:
            iso_var += np.maximum(cat["FLUX_ISO"].astype(np.float64), 0.0) / gain
        cat["FLUXERR_ISO"] = np.sqrt(iso_var)
        # The lowest noise over the isophote (for THRESHOLD).
        sig = np.sqrt(flat_var)
        order = np.lexsort((sig, owner))
        first = np.searchsorted(owner[order], np.arange(n))
        has = first < len(order)
        lowest = np.zeros(n)
        lowest[has] = sig[order[np.minimum(first[has], len(order) - 1)]]
        present = np.bincount(owner, minlength=n) > 0
        # THRESHOLD: the detection threshold; ISOAREA_IMAGE: pixels above the analysis
        # threshold (in σ), both scaled by each pixel's noise as in SExtractor.
        if params.thresh_type == "RELATIVE":
            cat["THRESHOLD"] = np.where(present, params.detect_thresh * lowest, cat["THRESHOLD"])
        factor = params.analysis_thresh
        if params.thresh_type != "RELATIVE":
            factor /= global_rms
        cat["ISOAREA_IMAGE"] = np.bincount(owner[pix > factor * sig], minlength=n)
        # AUTO and APER: Σ var (and Σ pix⁺ var) in the apertures.
        x = cat["X_IMAGE"].astype(np.float64) - 1.0
        y = cat["Y_IMAGE"].astype(np.float64) - 1.0
        ny, nx = data.shape
        ok = np.isfinite(x) & np.isfinite(y)
        xa = np.clip(np.where(ok, x, 0.0), 0, nx - 1)
        ya = np.clip(np.where(ok, y, 0.0), 0, ny - 1)
        pv = np.maximum(data, np.float32(0)) * usable if modulate else None
        ell, circle_r = _auto_apertures(cat, params)
        sums = [usable] if pv is None else [usable, pv]
        auto = [np.zeros(n) for _ in sums]
        a = cat["A_IMAGE"].astype(np.float64)
        b = cat["B_IMAGE"].astype(np.float64)
        theta = np.clip(np.radians(cat["THETA_IMAGE"].astype(np.float64)), -np.pi / 2, np.pi / 2)
        kron = cat["KRON_RADIUS"].astype(np.float64)
        for k, image in enumerate(sums):
            if ell.any():
                auto[k][ell] = sep.sum_ellipse(
                    image,
                    xa[ell],
                    ya[ell],
                    a[ell],
                    np.minimum(a, b)[ell],
                    theta[ell],
                    kron[ell],
                    subpix=1,
                    mask=self.noise.bad,
                    segmap=segmap,
                    seg_id=ids[ell],
                )[0]
            if (~ell).any():
                auto[k][~ell] = sep.sum_circle(
                    image,
                    xa[~ell],
                    ya[~ell],
                    circle_r,
                    subpix=1,
                    mask=self.noise.bad,
                    segmap=segmap,
                    seg_id=ids[~ell],
                )[0]
        flux = cat["FLUX_AUTO"].astype(np.float64)
        pv_auto = auto[1] if pv is not None else auto[0]
        cat["FLUXERR_AUTO"] = np.sqrt(auto[0] + self._poisson(flux, pv_auto, gain, modulate))
        self.changed.update({"FLUXERR_ISO", "FLUXERR_AUTO"})
        if names & {"FLUXERR_APER", "MAGERR_APER"}:
            fluxes = cat["FLUX_APER"].reshape(n, -1) if "FLUX_APER" in names else None
            errs = np.zeros((n, len(params.phot_apertures)))
            for i, diameter in enumerate(params.phot_apertures):
                parts = [
                    sep.sum_circle(
                        image,
                        xa,
                        ya,
                        diameter / 2.0,
                        subpix=APER_SUBPIX,
                        mask=self.noise.bad,
                        segmap=segmap,
                        seg_id=ids,
                    )[0]
                    for image in sums
                ]
                f = (
                    fluxes[:, i].astype(np.float64)
                    if fluxes is not None and fluxes.shape[1] > i
                    else np.zeros(n)
                )
                errs[:, i] = np.sqrt(parts[0] + self._poisson(f, parts[-1], gain, modulate))
            self.aper_errors = errs
            if "FLUXERR_APER" in names:
                view = cat["FLUXERR_APER"].reshape(n, -1)
                k = min(view.shape[1], errs.shape[1])
                view[:, :k] = errs[:, :k]
            self.changed.add("FLUXERR_APER")

    def _poisson(self, flux: Any, pv_sum: Any, gain: float, modulate: bool) -> Any:
        """The photon-noise term: Σ pix⁺ var / (GAIN σ²) with WEIGHT_GAIN, else flux⁺ / GAIN."""
        if gain <= 0:
            return np.zeros_like(flux)
        if modulate:
            return np.maximum(pv_sum, 0.0) / (gain * self.global_rms * self.global_rms)
        return np.maximum(flux, 0.0) / gain

    def _weight_flags(self, segmap: Any, inside: Any, owner: Any, n: int) -> Any:
        assert self.noise is not None
        bad = self.noise.bad
        low = np.bincount(owner, weights=bad.ravel()[inside], minlength=n) > 0
        dbad = self.noise.detect_var >= self.noise.wthresh if self.noise.wthresh < BIG else None
        near = np.zeros(n, dtype=bool)
        if dbad is not None or bad.any():
            detect_bad = self.noise.detect_var >= BIG if dbad is None else dbad
            grown = detect_bad.copy()
            grown[1:, :] |= detect_bad[:-1, :]
            grown[:-1, :] |= detect_bad[1:, :]
            g2 = grown.copy()
            g2[:, 1:] |= grown[:, :-1]
            g2[:, :-1] |= grown[:, 1:]
            near = np.bincount(owner, weights=g2.ravel()[inside], minlength=n) > 0
        del segmap
        return low.astype(np.int32) | (near.astype(np.int32) << 1)

    def _flag_map(self, inside: Any, owner: Any, n: int) -> tuple[Any, Any]:
        values = self.flag.ravel()[inside]
        nonzero = values != 0
        o, v = owner[nonzero], values[nonzero]
        kind = self.params.flag_type
        counts = np.bincount(o, minlength=n).astype(np.int64)
        out = np.zeros(n, dtype=np.int64)
        if kind == "OR":
            np.bitwise_or.at(out, o, v)
        elif kind == "AND":
            pass  # SExtractor ANDs into 0: always 0 (its count still counts the pixels)
        elif kind in ("MIN", "MAX"):
            best = np.full(n, np.iinfo(np.int64).max if kind == "MIN" else -1, dtype=np.int64)
            (np.minimum if kind == "MIN" else np.maximum).at(best, o, v)
            has = counts > 0
            out[has] = best[has]
            hit = v == best[o]
            counts = np.bincount(o[hit], minlength=n).astype(np.int64)
        else:  # MOST: the most frequent value (the first seen on ties)
            counts = np.zeros(n, dtype=np.int64)
            if len(o):
                pairs, first, freq = np.unique(
                    o * (int(v.max()) + 1) + v, return_index=True, return_counts=True
                )
                po = pairs // (int(v.max()) + 1)
                pv = pairs % (int(v.max()) + 1)
                order = np.lexsort((first, -freq, po))
                lead = np.ones(len(order), dtype=bool)
                lead[1:] = po[order][1:] != po[order][:-1]
                chosen = order[lead]
                out[po[chosen]] = pv[chosen]
                counts[po[chosen]] = freq[chosen]
        return out, counts

    def _local_background(
        self, cat: Any, data: Any, segmap: Any, mask: Any, ids: Any, names: set[str]
    ) -> None:
        """BACKPHOTO_TYPE LOCAL: SExtractor's ``localback`` and the photometry it changes."""
        params = self.params
        ny, nx = data.shape
        n = len(cat)
        pbs = params.backphoto_thick
        x0 = cat["XMIN_IMAGE"].astype(np.int64) - 1
        x1 = cat["XMAX_IMAGE"].astype(np.int64) - 1
        y0 = cat["YMIN_IMAGE"].astype(np.int64) - 1
        y1 = cat["YMAX_IMAGE"].astype(np.int64) - 1
        free = segmap == 0
        if mask is not None:
            free &= ~mask
        dbkg = np.zeros(n)
        for i in range(n):
            ox, oy = x1[i] - x0[i] + 1, y1[i] - y0[i] + 1
            bx = ox // 4 if ox < nx / 2 else (nx - ox) // 4
            by = oy // 4 if oy < ny / 2 else (ny - oy) // 4
            ixmin, ixmax = x0[i] - bx, x1[i] + 1 + bx
            iymin, iymax = y0[i] - by, y1[i] + 1 + by
            bxmin, bxmax, bymin, bymax = ixmin - pbs, ixmax + pbs, iymin - pbs, iymax + pbs
            if not (bymin >= 0 and bymax < ny and bxmin >= 0 and bxmax < nx):
                continue
            box = data[bymin:bymax, bxmin:bxmax]
            keep = free[bymin:bymax, bxmin:bxmax].copy()
            keep[iymin - bymin : iymax - bymin, ixmin - bxmin : ixmax - bxmin] = False
            pixels = box[keep]
            if pixels.size < 2:
                continue
            row = np.ascontiguousarray(pixels.reshape(1, -1), dtype=np.float32)
            try:
                back = sep.Background(row, bw=row.shape[1], bh=1, fw=1, fh=1)
            except Exception:
                continue
            value = float(back.globalback)
            if math.isfinite(value):
                dbkg[i] = value
        if not dbkg.any():
            return
        cat["BACKGROUND"] = cat["BACKGROUND"] + dbkg
        cat["FLUX_MAX"] = cat["FLUX_MAX"] - dbkg
        cat["THRESHOLD"] = cat["THRESHOLD"] - dbkg
        cat["FLUX_ISO"] = cat["FLUX_ISO"] - cat["ISOAREAF_IMAGE"] * dbkg
        x = np.clip(cat["X_IMAGE"].astype(np.float64) - 1.0, 0, nx - 1)
        y = np.clip(cat["Y_IMAGE"].astype(np.float64) - 1.0, 0, ny - 1)
        ones = np.ones_like(data)
        kron = cat["KRON_RADIUS"].astype(np.float64)
        a = cat["A_IMAGE"].astype(np.float64)
        b = cat["B_IMAGE"].astype(np.float64)
        theta = np.clip(np.radians(cat["THETA_IMAGE"].astype(np.float64)), -np.pi / 2, np.pi / 2)
        ell, circle_r = _auto_apertures(cat, params)
        area = np.zeros(n)
        if ell.any():
            area[ell] = sep.sum_ellipse(
                ones, x[ell], y[ell], a[ell], np.minimum(a, b)[ell], theta[ell], kron[ell], subpix=1
            )[0]
        if (~ell).any():
            area[~ell] = sep.sum_circle(ones, x[~ell], y[~ell], circle_r, subpix=1)[0]
        cat["FLUX_AUTO"] = cat["FLUX_AUTO"] - area * dbkg
        self.changed.update({"FLUX_ISO", "FLUX_AUTO"})
        if "FLUX_APER" in names:
            view = cat["FLUX_APER"].reshape(n, -1)
            for i, diameter in enumerate(params.phot_apertures[: view.shape[1]]):
                s, _, _ = sep.sum_circle(ones, x, y, diameter / 2.0, subpix=APER_SUBPIX)
                view[:, i] -= s * dbkg
            self.changed.add("FLUX_APER")

    def _magnitudes(self, cat: Any, names: set[str]) -> None:
        """MAG/MAGERR again for the fluxes and errors changed here."""
        zp = self.params.mag_zeropoint
        n = len(cat)
        for flux_name, err_name, mag_name, magerr_name in (
            ("FLUX_ISO", "FLUXERR_ISO", "MAG_ISO", "MAGERR_ISO"),
            ("FLUX_AUTO", "FLUXERR_AUTO", "MAG_AUTO", "MAGERR_AUTO"),
            ("FLUX_APER", "FLUXERR_APER", "MAG_APER", "MAGERR_APER"),
        ):
            if not {flux_name, err_name} & self.changed:
                continue
            if flux_name not in names:
                continue  # FLUX_APER not asked for: MAG_APER keeps its own flux
            flux = cat[flux_name].reshape(n, -1).astype(np.float64)
            if err_name in names:
                err = cat[err_name].reshape(n, -1).astype(np.float64)
            elif err_name == "FLUXERR_APER" and self.aper_errors is not None:
                err = self.aper_errors[:, : flux.shape[1]]
            else:
                err = None
            positive = flux > 0
            safe = np.where(positive, flux, 1.0)
            if mag_name in names and flux_name in self.changed:
                mag = np.where(positive, zp - 2.5 * np.log10(safe), 99.0)
                k = min(mag.shape[1], cat[mag_name].reshape(n, -1).shape[1])
                view = cat[mag_name].reshape(n, -1)
                view[:, :k] = mag[:, :k]
            if magerr_name in names and err is not None:
                k = min(err.shape[1], cat[magerr_name].reshape(n, -1).shape[1], flux.shape[1])
                view = cat[magerr_name].reshape(n, -1)
                view[:, :k] = np.where(positive, 1.086 * err / safe, 99.0)[:, :k]


def _auto_apertures(cat: Any, params: DetectionParams) -> tuple[Any, float]:
    """Which objects were measured in their Kron ellipse, and the circular aperture radius."""
    a = cat["A_IMAGE"].astype(np.float64)
    b = cat["B_IMAGE"].astype(np.float64)
    kron = cat["KRON_RADIUS"].astype(np.float64)
    ell = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0) & (kron > 0)
    meas = params.phot_autoapers[1]
    return ell, (meas / 2.0 if meas > 0 else params.phot_autoparams[1])
