"""Columns computed only when a ``.param`` file asks for them (SExtractor semantics).

:func:`catalogue_dtype` is the structured dtype of one run's catalogue: the columns every run
measures (:data:`~canfar_tui.detection.column_info.MEASURED_COLUMNS`), then the optional columns the
parameters ask for, vector columns with their length (``MAG_APER(3)`` → 3 values).
:func:`add_requested_columns` computes those optional columns for one extension, after the
detection; a run that asks for none of them (the seed's default columns) never calls it.

* ``FLUX_APER``/``FLUXERR_APER``/``MAG_APER``/``MAGERR_APER``: ``sep.sum_circle`` in circles
  of the PHOT_APERTURES diameters, 5×5 sub-pixels like SExtractor, pixels of other detections
  left out and made up for (``segmap``); FLUXERR² = area σ² + flux / GAIN; 99.0 magnitudes
  for non-positive fluxes; the values beyond the apertures given are 0, as in SExtractor;
* ``FLUX_RADIUS``: ``sep.flux_radius`` with the PHOT_FLUXFRAC fractions of FLUX_AUTO, out to
  the AUTO aperture (at most :data:`FLUX_RADIUS_MAX` pixels); beyond 100 pixels (a bad
  column, a bright halo) a growth curve of k × k cells
  (:func:`canfar_tui.detection.windowed.binned_radii`), ~50× cheaper there. Its 0.5
  fraction is reused as the WIN half-light radius when both are asked for;
* the windowed family (``XWIN_IMAGE``… ``FLUX_WIN``, ``SNR_WIN``, ``FLAGS_WIN``) and the
  ``VIGNET(w,h)`` stamps: :mod:`canfar_tui.detection.windowed`;
* ``ISO0``…``ISO7``, ``FWHM_IMAGE``, ``CLASS_STAR``: :mod:`canfar_tui.detection.classstar`;
* world positions and shapes (``X_WORLD``, ``ALPHA_J2000``, ``A_WORLD``, ``THETA_J2000``…),
  the position errors (``ERRA_IMAGE``, ``ERRX2_WORLD``…) and ``ISOAREA_WORLD``:
  :mod:`canfar_tui.detection.world` (:mod:`astropy.wcs` from the extension's header: TAN,
  TPV, SIP…). Without a celestial WCS ALPHA/DELTA are 0 and X/Y_WORLD are the pixel
  positions, like SExtractor.

Imports numpy and sep (and astropy when world coordinates are asked for); import it only when
detection runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import sep

from canfar_tui.detection.column_info import COLUMN_INFO, MEASURED_COLUMNS
from canfar_tui.detection.params import DetectionParams

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["add_requested_columns", "catalogue_dtype", "requested_columns"]

APER_SUBPIX = 5
"""SExtractor's APER_OVERSAMP: each pixel is cut into 5 × 5 sub-pixels at aperture edges."""

FLUX_RADIUS_MAX = 512.0
"""Largest radius (pixels) FLUX_RADIUS integrates out to. SExtractor's growth curve is cut by
its image strip (MEMORY_BUFSIZE 1024 lines in ``default.sex``); without a cap a hot column
(semi-major axis ~1 300 px) made ``sep.flux_radius`` sum the whole CCD (~0.3 s per CCD)."""

_APER = frozenset({"FLUX_APER", "FLUXERR_APER", "MAG_APER", "MAGERR_APER"})


def requested_columns(params: DetectionParams) -> tuple[str, ...]:
    """The optional columns ``params`` asks for (empty for the default columns)."""
    measured = set(MEASURED_COLUMNS)
    return tuple(c for c in params.columns if c not in measured)


def _vector_length(name: str, params: DetectionParams) -> int:
    return params.column_size(name) if COLUMN_INFO[name].vector else 1


def catalogue_dtype(params: DetectionParams) -> np.dtype[Any]:
    """Every measured column, then the optional ones ``params`` asks for."""
    fields: list[Any] = [(name, COLUMN_INFO[name].dtype) for name in MEASURED_COLUMNS]
    for name in requested_columns(params):
        info = COLUMN_INFO[name]
        size = _vector_length(name, params)
        if info.vector == "stamp":
            width, height = params.column_dim(name)
            fields.append((name, info.dtype, (height, width)))
        else:
            fields.append((name, info.dtype, (size,)) if info.vector else (name, info.dtype))
    return np.dtype(fields)


def _vector(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """``values`` (n × k) cut or zero-padded to n × size."""
    out = np.zeros((values.shape[0], size))
    k = min(size, values.shape[1])
    out[:, :k] = values[:, :k]
    return out


def add_requested_columns(
    base: npt.NDArray[np.void],
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    params: DetectionParams,
    *,
    gain: float,
    rms: float,
    mask: npt.NDArray[np.bool_] | None,
    header: Any,
    saturation: float | None = None,
    variance: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.void]:
    """``base`` (the measured columns) with the optional columns of ``params`` added.

    ``data`` is the background-subtracted image, ``segmap`` sep's segmentation map (object
    ``i`` has pixels ``i + 1``), ``header`` the extension's FITS header (for the WCS),
    ``saturation`` its saturation level (SATUR_LEVEL when not given), ``variance`` each
    pixel's variance with a weight map (the WIN errors use it).
    """
    wanted = set(requested_columns(params))
    out = np.zeros(len(base), dtype=catalogue_dtype(params))
    for name in MEASURED_COLUMNS:
        out[name] = base[name]
    n = len(base)
    if n == 0 or not wanted:
        return out
    # Imported here, not with this module: a worker pays for them (~30 ms, before its first
    # CCD) only when a .param file asks for such columns.
    from canfar_tui.detection import windowed
    from canfar_tui.detection.classstar import CLASSSTAR_COLUMNS, add_classstar_columns
    from canfar_tui.detection.photom_extra import EXTRA_COLUMNS, add_extra_photometry
    from canfar_tui.detection.world import WIN_WORLD_COLUMNS, WORLD_COLUMNS

    x = base["X_IMAGE"].astype(np.float64) - 1.0
    y = base["Y_IMAGE"].astype(np.float64) - 1.0
    ny, nx = data.shape
    finite = np.isfinite(x) & np.isfinite(y)
    xa = np.clip(np.where(finite, x, 0.0), 0, nx - 1)
    ya = np.clip(np.where(finite, y, 0.0), 0, ny - 1)
    ids = np.arange(1, n + 1, dtype=np.int32)
    gain_arg = gain if gain > 0 else None
    zp = params.mag_zeropoint

    if wanted & _APER:
        fluxes = np.zeros((n, len(params.phot_apertures)))
        errors = np.zeros_like(fluxes)
        for i, diameter in enumerate(params.phot_apertures):
            f, fe, _ = sep.sum_circle(
                data,
                xa,
                ya,
                diameter / 2.0,
                err=rms,
                gain=gain_arg,
                subpix=APER_SUBPIX,
                mask=mask,
                segmap=segmap,
                seg_id=ids,
            )
            fluxes[:, i], errors[:, i] = f, fe
        positive = fluxes > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            safe = np.where(positive, fluxes, 1.0)
            mags = np.where(positive, zp - 2.5 * np.log10(safe), 99.0)
            magerrs = np.where(positive, 1.086 * errors / safe, 99.0)
        for name, values in (
            ("FLUX_APER", fluxes),
            ("FLUXERR_APER", errors),
            ("MAG_APER", mags),
            ("MAGERR_APER", magerrs),
        ):
            if name in wanted:
                out[name] = _vector(values, _vector_length(name, params))

    half_light: npt.NDArray[np.float64] | None = None
    if "FLUX_RADIUS" in wanted:
        a = base["A_IMAGE"].astype(np.float64)
        b = base["B_IMAGE"].astype(np.float64)
        kron = base["KRON_RADIUS"].astype(np.float64)
        # The AUTO aperture's semi-major axis, or a few isophotal radii when it has none.
        rmax = np.where(kron > 0, kron * a, 6.0 * a)
        rmax = np.where(np.isfinite(rmax) & (rmax > 0), np.minimum(rmax, FLUX_RADIUS_MAX), 6.0)
        norm = base["FLUX_AUTO"].astype(np.float64)
        usable = np.isfinite(norm) & (norm > 0) & np.isfinite(b)
        fractions = tuple(sorted({0.5, *params.phot_fluxfrac}))
        radii = np.zeros((n, len(fractions)))
        # Huge objects (a bad column…): a growth curve of k × k cells, as for the WIN radius.
        for obj in np.flatnonzero(usable & (rmax > windowed.HUGE_RADIUS)):
            radii[obj] = windowed.binned_radii(
                data, segmap, mask, int(obj), xa[obj], ya[obj], rmax[obj], fractions, norm[obj]
            )
        usable &= rmax <= windowed.HUGE_RADIUS
        if usable.any():
            r, _ = sep.flux_radius(
                data,
                xa[usable],
                ya[usable],
                rmax[usable],
                fractions,
                normflux=norm[usable],
                mask=mask,
                segmap=segmap,
                seg_id=ids[usable],
                subpix=APER_SUBPIX,
            )
            radii[usable] = np.asarray(r).reshape(int(usable.sum()), len(fractions))
        half_light = np.where(usable, radii[:, fractions.index(0.5)], np.nan)
        picked = np.stack([radii[:, fractions.index(f)] for f in params.phot_fluxfrac], axis=1)
        out["FLUX_RADIUS"] = _vector(picked, _vector_length("FLUX_RADIUS", params))

    if wanted & (windowed.WIN_COLUMNS | WIN_WORLD_COLUMNS) or "VIGNET" in wanted:
        _windowed(
            out,
            base,
            data,
            segmap,
            params,
            wanted,
            gain=gain,
            rms=rms,
            mask=mask,
            header=header,
            variance=variance,
            half_light=half_light,
        )

    if wanted & CLASSSTAR_COLUMNS:
        add_classstar_columns(
            out,
            base,
            data,
            segmap,
            wanted,
            network=params.starnnw,
            seeing_fwhm=params.seeing_fwhm,
            pixel_scale=params.pixel_scale,
            field_thresh=params.analysis_thresh
            * (rms if params.thresh_type == "RELATIVE" else 1.0),
            saturation=params.satur_level if saturation is None else saturation,
            header=header,
            analysis_thresh=_analysis_thresh(params, rms),
        )

    fwhm: npt.NDArray[np.float64] | None = None
    if "FWHM_WORLD" in wanted:  # FWHM_IMAGE scaled, computed even when not a column itself
        star = out if "FWHM_IMAGE" in wanted else np.zeros(n, dtype=[("FWHM_IMAGE", "f4")])
        if "FWHM_IMAGE" not in wanted:
            add_classstar_columns(
                star,
                base,
                data,
                segmap,
                {"FWHM_IMAGE"},
                network=None,
                seeing_fwhm=params.seeing_fwhm,
                pixel_scale=params.pixel_scale,
                field_thresh=0.0,
                saturation=params.satur_level if saturation is None else saturation,
                header=header,
            )
        fwhm = star["FWHM_IMAGE"].astype(np.float64)

    if wanted & WORLD_COLUMNS:
        from canfar_tui.detection.world import add_world_columns, detection_kernel

        add_world_columns(
            out,
            wanted,
            header,
            data=data,
            segmap=segmap,
            rms=rms,
            gain=gain,
            kernel=detection_kernel(params),
            pixel_scale=params.pixel_scale,
            fwhm_image=fwhm,
        )

    if wanted & EXTRA_COLUMNS:
        from canfar_tui.detection.world import celestial_wcs

        needs_wcs = bool(wanted & {"MU_MAX", "MU_THRESHOLD"}) and params.pixel_scale == 0
        add_extra_photometry(
            out,
            base,
            data,
            segmap,
            params,
            wanted,
            gain=gain,
            rms=rms,
            mask=mask,
            wcs=celestial_wcs(header) if needs_wcs else None,
        )
    return out


def _analysis_thresh(params: DetectionParams, rms: float) -> float | None:
    """ANALYSIS_THRESH in ADU when it differs from DETECT_THRESH (else None: THRESHOLD)."""
    if params.analysis_thresh == params.detect_thresh:
        return None
    return params.analysis_thresh * (rms if params.thresh_type == "RELATIVE" else 1.0)


def _windowed(
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
    header: Any,
    variance: npt.NDArray[np.float32] | None = None,
    half_light: npt.NDArray[np.float64] | None = None,
) -> None:
    """The WIN columns and VIGNET stamps (:mod:`canfar_tui.detection.windowed`), and the WIN
    world/sky/focal forms from them (:func:`canfar_tui.detection.world.add_world_columns`)."""
    from canfar_tui.detection import windowed
    from canfar_tui.detection.world import WIN_WORLD_COLUMNS

    world = wanted & WIN_WORLD_COLUMNS
    if wanted & windowed.WIN_COLUMNS or world:
        radius = windowed.half_light_radius(
            data, base, segmap, mask, min_radius=params.phot_autoapers[0], known=half_light
        )
        values = windowed.windowed_columns(
            data,
            segmap,
            base,
            radius,
            rms=rms,
            gain=gain,
            mask=mask,
            zeropoint=params.mag_zeropoint,
            wanted=windowed.WIN_COLUMNS if world else wanted,
            variance_map=variance,
            weight_gain=params.weight_gain,
        )
        for name, column in values.items():
            if name in wanted:
                out[name] = column
        if world:
            from canfar_tui.detection.world import add_world_columns, detection_kernel

            add_world_columns(
                out,
                set(world),
                header,
                data=data,
                segmap=segmap,
                rms=rms,
                gain=gain,
                kernel=detection_kernel(params),
                pixel_scale=params.pixel_scale,
                extra_moments={
                    "WIN": (values["X2WIN_IMAGE"], values["Y2WIN_IMAGE"], values["XYWIN_IMAGE"]),
                    "ERRWIN": (
                        values["ERRX2WIN_IMAGE"],
                        values["ERRY2WIN_IMAGE"],
                        values["ERRXYWIN_IMAGE"],
                    ),
                },
                extra_positions={"WIN": (values["XWIN_IMAGE"], values["YWIN_IMAGE"])},
            )
    if "VIGNET" in wanted:
        width, height = params.column_dim("VIGNET")
        out["VIGNET"] = windowed.vignets(data, segmap, base, width, height, mask)
