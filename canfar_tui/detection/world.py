"""World-coordinate and position-error columns, following SExtractor's astrom.c and analyse.c.

Everything here works on whole columns (numpy arrays, one value per object) of one
extension, with the extension's WCS read by :mod:`astropy.wcs` (TAN, TPV, SIP, … with their
distortions: :meth:`~astropy.wcs.WCS.all_pix2world`).

* :class:`WorldFrame` is one extension's WCS as SExtractor uses it: ``positions`` turns 1-based
  pixel positions into every world form (X/Y_WORLD, ALPHA/DELTA_SKY, _J2000, _B1950, with
  SExtractor's precession, J2000 → B1950 and galactic/ecliptic → equatorial formulae:
  :mod:`canfar_tui.detection.celestial`), ``focal`` into X/Y_FOCAL, ``jacobian`` is SExtractor's
  local linear transform (world offsets of a one-pixel step in x and in y, the longitude one
  times cos δ), ``north_angles`` the position angle of the J2000 and B1950 poles at each object.
* :func:`world_moments` turns any image-frame second-moment triple (x², y², xy) into the world
  frame with that Jacobian, exactly as SExtractor does (including its x² term, which weights
  the cross moment once, not twice); :func:`ellipse` gives A, B, THETA, POLAR and
  :func:`ellipse_coefficients` CXX, CYY, CXY of any moment triple; :func:`sky_angles` the
  angles east of north (THETA_SKY, THETA_J2000, THETA_B1950) of a world-frame angle.
* :data:`SHAPE_FAMILIES` / :data:`POSITION_FAMILIES` / :data:`FOCAL_FAMILIES` name the output
  columns of each family (the isophotal shape, the position error ellipse, the windowed
  ones…); :func:`fill_shape_family`, :func:`fill_position_family` and
  :func:`fill_focal_family` fill those a run asks for from
  image-frame values, so a new family (the WIN moments, say) is wired with one call.
* ERRX2/ERRY2/ERRXY_IMAGE and the image error ellipse come from
  :mod:`canfar_tui.detection.poserr` (re-exported: :func:`position_errors`).
* :func:`pixel_scale_from_header` is PIXEL_SCALE 0: the WCS's pixel scale at the image centre
  in arcseconds (SExtractor's ``range_wcs``), None without a celestial WCS;
  :func:`world_pixel_size` the local pixel size FWHM_WORLD uses.
* :func:`add_world_columns` fills every column of :data:`WORLD_COLUMNS` a run asks for
  (called by :func:`canfar_tui.detection.columns.add_requested_columns`).

Without a celestial WCS SExtractor's world frame is the pixel frame: X/Y_WORLD are the
0-based pixel positions, world shapes are the image ones, and the sky columns are 0.

Imports numpy; astropy only when a header is read. Import it only when detection runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from canfar_tui.detection.celestial import (
    CELESTIAL_SYSTEMS,
    fold90,
    j2000_to_b1950,
    pole_angle,
    precess,
    to_equatorial,
)
from canfar_tui.detection.poserr import detection_kernel, image_error_ellipse, position_errors

if TYPE_CHECKING:
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

__all__ = [
    "ERROR_IMAGE_COLUMNS",
    "FOCAL_FAMILIES",
    "POSITION_FAMILIES",
    "SHAPE_FAMILIES",
    "WIN_WORLD_COLUMNS",
    "WORLD_COLUMNS",
    "PositionNames",
    "ShapeNames",
    "WorldFrame",
    "add_world_columns",
    "celestial_wcs",
    "detection_kernel",
    "ellipse",
    "ellipse_coefficients",
    "fill_focal_family",
    "fill_position_family",
    "fill_shape_family",
    "pixel_scale_from_header",
    "position_errors",
    "sky_angles",
    "world_moments",
    "world_pixel_size",
]

_DEG = math.pi / 180.0


# ------------------------------------------------------------------------------- column names


@dataclass(frozen=True)
class ShapeNames:
    """Output columns of one family of second moments ("" = not a SExtractor column)."""

    x2: str = ""
    y2: str = ""
    xy: str = ""
    cxx: str = ""
    cyy: str = ""
    cxy: str = ""
    a: str = ""
    b: str = ""
    theta: str = ""
    theta_sky: str = ""
    theta_j2000: str = ""
    theta_b1950: str = ""
    polar: str = ""

    def names(self) -> frozenset[str]:
        return frozenset(v for v in vars(self).values() if v)


@dataclass(frozen=True)
class PositionNames:
    """Output columns of one family of positions."""

    x: str = ""
    y: str = ""
    alpha_sky: str = ""
    delta_sky: str = ""
    alpha_j2000: str = ""
    delta_j2000: str = ""
    alpha_b1950: str = ""
    delta_b1950: str = ""

    def names(self) -> frozenset[str]:
        return frozenset(v for v in vars(self).values() if v)


SHAPE_FAMILIES: Final[dict[str, ShapeNames]] = {
    # The isophotal moments X2/Y2/XY_IMAGE, in the world frame.
    "ISO": ShapeNames(
        "X2_WORLD",
        "Y2_WORLD",
        "XY_WORLD",
        "CXX_WORLD",
        "CYY_WORLD",
        "CXY_WORLD",
        "A_WORLD",
        "B_WORLD",
        "THETA_WORLD",
        "THETA_SKY",
        "THETA_J2000",
        "THETA_B1950",
        "POLAR_WORLD",
    ),
    # The position error ellipse ERRX2/ERRY2/ERRXY_IMAGE, in the world frame.
    "ERR": ShapeNames(
        "ERRX2_WORLD",
        "ERRY2_WORLD",
        "ERRXY_WORLD",
        "ERRCXX_WORLD",
        "ERRCYY_WORLD",
        "ERRCXY_WORLD",
        "ERRA_WORLD",
        "ERRB_WORLD",
        "ERRTHETA_WORLD",
        "ERRTHETA_SKY",
        "ERRTHETA_J2000",
        "ERRTHETA_B1950",
    ),
    # The windowed moments X2WIN/Y2WIN/XYWIN_IMAGE (computed by the WIN code).
    "WIN": ShapeNames(
        "X2WIN_WORLD",
        "Y2WIN_WORLD",
        "XYWIN_WORLD",
        "CXXWIN_WORLD",
        "CYYWIN_WORLD",
        "CXYWIN_WORLD",
        "AWIN_WORLD",
        "BWIN_WORLD",
        "THETAWIN_WORLD",
        "THETAWIN_SKY",
        "THETAWIN_J2000",
        "THETAWIN_B1950",
        "POLARWIN_WORLD",
    ),
    # The windowed position errors ERRX2WIN/ERRY2WIN/ERRXYWIN_IMAGE.
    "ERRWIN": ShapeNames(
        "ERRX2WIN_WORLD",
        "ERRY2WIN_WORLD",
        "ERRXYWIN_WORLD",
        "ERRCXXWIN_WORLD",
        "ERRCYYWIN_WORLD",
        "ERRCXYWIN_WORLD",
        "ERRAWIN_WORLD",
        "ERRBWIN_WORLD",
        "ERRTHETAWIN_WORLD",
        "ERRTHETAWIN_SKY",
        "ERRTHETAWIN_J2000",
        "ERRTHETAWIN_B1950",
    ),
}
"""Each family's world columns; the image-frame moments come from the caller."""

POSITION_FAMILIES: Final[dict[str, PositionNames]] = {
    "ISO": PositionNames(
        "X_WORLD",
        "Y_WORLD",
        "ALPHA_SKY",
        "DELTA_SKY",
        "ALPHA_J2000",
        "DELTA_J2000",
        "ALPHA_B1950",
        "DELTA_B1950",
    ),
    "PEAK": PositionNames(
        "XPEAK_WORLD",
        "YPEAK_WORLD",
        "ALPHAPEAK_SKY",
        "DELTAPEAK_SKY",
        "ALPHAPEAK_J2000",
        "DELTAPEAK_J2000",
        "ALPHAPEAK_B1950",
        "DELTAPEAK_B1950",
    ),
    "WIN": PositionNames(
        "XWIN_WORLD",
        "YWIN_WORLD",
        "ALPHAWIN_SKY",
        "DELTAWIN_SKY",
        "ALPHAWIN_J2000",
        "DELTAWIN_J2000",
        "ALPHAWIN_B1950",
        "DELTAWIN_B1950",
    ),
}
"""Each family's world positions, from 1-based pixel positions given by the caller."""

FOCAL_FAMILIES: Final[dict[str, tuple[str, str]]] = {
    "ISO": ("X_FOCAL", "Y_FOCAL"),
    "PEAK": ("XPEAK_FOCAL", "YPEAK_FOCAL"),
    "WIN": ("XWIN_FOCAL", "YWIN_FOCAL"),
}
"""Each family's focal-plane positions (the WCS's linear part only: CD × (pixel − CRPIX))."""

ERROR_IMAGE_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "ERRX2_IMAGE",
        "ERRY2_IMAGE",
        "ERRXY_IMAGE",
        "ERRCXX_IMAGE",
        "ERRCYY_IMAGE",
        "ERRCXY_IMAGE",
        "ERRA_IMAGE",
        "ERRB_IMAGE",
        "ERRTHETA_IMAGE",
    }
)
"""The image-frame position-error columns (:func:`position_errors`)."""

_AREA_COLUMNS: Final = frozenset({"ISOAREA_WORLD", "ISOAREAF_WORLD"})

WORLD_COLUMNS: Final[frozenset[str]] = (
    SHAPE_FAMILIES["ISO"].names()
    | SHAPE_FAMILIES["ERR"].names()
    | POSITION_FAMILIES["ISO"].names()
    | POSITION_FAMILIES["PEAK"].names()
    | ERROR_IMAGE_COLUMNS
    | set(FOCAL_FAMILIES["ISO"])
    | set(FOCAL_FAMILIES["PEAK"])
    | _AREA_COLUMNS
    | {"POLAR_IMAGE", "X_IMAGE_DBL", "Y_IMAGE_DBL", "FWHM_WORLD"}
)
"""Every column :func:`add_world_columns` fills (the WIN families are wired by the WIN code)."""

WIN_WORLD_COLUMNS: Final[frozenset[str]] = (
    SHAPE_FAMILIES["WIN"].names()
    | SHAPE_FAMILIES["ERRWIN"].names()
    | POSITION_FAMILIES["WIN"].names()
    | set(FOCAL_FAMILIES["WIN"])
)
"""The windowed world columns :func:`add_world_columns` fills when given the WIN values
(``extra_moments`` "WIN"/"ERRWIN", ``extra_positions`` "WIN")."""


# ------------------------------------------------------------------------------------ the WCS


def celestial_wcs(header: Any) -> Any:
    """An :class:`astropy.wcs.WCS` for ``header`` when it has a celestial one, else None."""
    if header is None or not header.get("CTYPE1"):
        return None
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cards = fits.Header()
            for key, value in header.items():
                if isinstance(key, str) and len(key) <= 8 and not key.startswith(("Z", "T")):
                    cards[key] = value
            wcs = WCS(cards, naxis=2, relax=True)
        except Exception:
            return None
    if not wcs.has_celestial or not math.isfinite(float(wcs.wcs.crval[0])):
        return None
    return wcs


@dataclass(frozen=True)
class Positions:
    """Every world form of a set of positions (degrees)."""

    x: Array
    y: Array
    alpha_sky: Array
    delta_sky: Array
    alpha_j2000: Array
    delta_j2000: Array
    alpha_b1950: Array
    delta_b1950: Array


@dataclass(frozen=True)
class Jacobian:
    """SExtractor's local linear transform at each object: world offsets (degrees; the
    longitude ones times cos δ) of a one-pixel step. ``area`` is its determinant (deg²)."""

    lm0: Array
    lm1: Array
    lm2: Array
    lm3: Array

    @property
    def area(self) -> Array:
        return np.abs(self.lm0 * self.lm3 - self.lm1 * self.lm2)


class WorldFrame:
    """One extension's world frame, as SExtractor uses it (``wcs`` None: the pixel frame)."""

    def __init__(self, wcs: Any) -> None:
        self.wcs = wcs
        self.celestial = wcs is not None
        self.lng, self.lat = 0, 1
        self.equinox = 2000.0
        self.system: tuple[float, float, float, float] | None = None
        if wcs is not None:
            lng, lat = int(wcs.wcs.lng), int(wcs.wcs.lat)
            if lng >= 0 and lat >= 0:
                self.lng, self.lat = lng, lat
                self.system = CELESTIAL_SYSTEMS.get(str(wcs.wcs.ctype[lng])[:4].upper())
            equinox = float(wcs.wcs.equinox)
            self.equinox = equinox if math.isfinite(equinox) else 2000.0
        self.precessed = abs(self.equinox - 2000.0) > 0.003
        # The J2000 and B1950 poles in the native frame (SExtractor's initastrom).
        if self.precessed:
            pa, pd = precess(self.equinox, 2000.0, np.array([0.0]), np.array([90.0]))
            self.pole2000 = (float(pa[0]), float(pd[0]))
        else:
            self.pole2000 = (0.0, 90.0)
        ba, bd = j2000_to_b1950(
            self.equinox, np.array([self.pole2000[0]]), np.array([self.pole2000[1]])
        )
        self.pole1950 = (float(ba[0]), float(bd[0]))

    @classmethod
    def from_header(cls, header: Any) -> WorldFrame:
        return cls(celestial_wcs(header))

    def _world(self, x: Array, y: Array) -> tuple[Array, Array]:
        """World axes 1 and 2 (degrees) of 1-based pixel positions."""
        if self.wcs is None:
            return x - 1.0, y - 1.0
        world = self.wcs.all_pix2world(x, y, 1)
        w = [np.asarray(world[0], dtype=np.float64), np.asarray(world[1], dtype=np.float64)]
        if self.system is not None:
            w[self.lng], w[self.lat] = to_equatorial(self.system, w[self.lng], w[self.lat])
        return w[0], w[1]

    def focal(self, x: Array, y: Array) -> tuple[Array, Array]:
        """SExtractor's focal-plane ("reduced") coordinates of 1-based pixel positions: the
        linear part of the WCS only (no projection, no distortion); pixels − 1 without one."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.wcs is None:
            return x - 1.0, y - 1.0
        matrix = np.asarray(self.wcs.pixel_scale_matrix, dtype=np.float64)
        crpix = np.asarray(self.wcs.wcs.crpix, dtype=np.float64)
        dx, dy = x - crpix[0], y - crpix[1]
        return matrix[0, 0] * dx + matrix[0, 1] * dy, matrix[1, 0] * dx + matrix[1, 1] * dy

    def positions(self, x: Array, y: Array) -> Positions:
        """Every world form of the 1-based pixel positions ``x``, ``y``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        w1, w2 = self._world(x, y)
        zero = np.zeros_like(x)
        if not self.celestial:
            return Positions(w1, w2, zero, zero, zero, zero, zero, zero)
        lon, lat = (w1, w2) if self.lng < self.lat else (w2, w1)
        if self.precessed:
            a2000, d2000 = precess(self.equinox, 2000.0, lon, lat)
        else:
            a2000, d2000 = lon, lat
        a1950, d1950 = j2000_to_b1950(self.equinox, a2000, d2000)
        return Positions(w1, w2, lon, lat, a2000, d2000, a1950, d1950)

    def jacobian(self, x: Array, y: Array) -> Jacobian:
        """SExtractor's ``wcs_jacobian`` at the 1-based pixel positions ``x``, ``y``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if not self.celestial:
            one, zero = np.ones_like(x), np.zeros_like(x)
            return Jacobian(one, zero, zero, one)
        w0 = self._world(x, y)
        wx = self._world(x + 1.0, y)
        wy = self._world(x, y + 1.0)
        lng, lat = self.lng, self.lat
        cos_lat = np.cos(w0[lat] * _DEG)

        def step(w: tuple[Array, Array], axis: int) -> Array:
            d = w[axis] - w0[axis]
            if axis == lng:
                d = np.where(d > 180.0, d - 360.0, np.where(d < -180.0, d + 360.0, d)) * cos_lat
            return d

        # lm0 = d lng / d x_lng, lm1 = d lng / d x_lat, lm2 = d lat / d x_lng, lm3 = d lat / d x_lat
        pix = (wx, wy)
        return Jacobian(
            step(pix[lng], lng), step(pix[lat], lng), step(pix[lng], lat), step(pix[lat], lat)
        )

    def north_angles(self, pos: Positions) -> tuple[Array, Array]:
        """The angles (degrees) to add to THETA_SKY for the J2000 and B1950 frames."""
        d2000 = pole_angle(*self.pole2000, pos.alpha_j2000, pos.delta_j2000, pos.delta_sky)
        d1950 = pole_angle(*self.pole1950, pos.alpha_b1950, pos.delta_b1950, pos.delta_sky)
        return d2000, d1950


# ------------------------------------------------------------------------ shapes in any frame


def world_moments(jac: Jacobian, x2: Array, y2: Array, xy: Array) -> tuple[Array, Array, Array]:
    """Image-frame second moments (pixel²) in the world frame (deg²), as SExtractor's
    ``astrom_shapeparam`` (its X2 and Y2 weight the cross moment once, not twice)."""
    lm0, lm1, lm2, lm3 = jac.lm0, jac.lm1, jac.lm2, jac.lm3
    xm2 = lm0 * lm0 * x2 + lm1 * lm1 * y2 + lm0 * lm1 * xy
    ym2 = lm2 * lm2 * x2 + lm3 * lm3 * y2 + lm2 * lm3 * xy
    xym = lm0 * lm2 * x2 + lm1 * lm3 * y2 + (lm0 * lm3 + lm1 * lm2) * xy
    return xm2, ym2, xym


def ellipse(x2: Array, y2: Array, xy: Array) -> tuple[Array, Array, Array, Array]:
    """A, B, THETA (degrees, CCW from x, in [-90, 90[) and POLAR of a moment triple."""
    diff = x2 - y2
    theta = fold90(np.where(diff == 0.0, 45.0, 0.5 * np.arctan2(2.0 * xy, diff) / _DEG))
    half = np.sqrt(0.25 * diff * diff + xy * xy)
    mean = 0.5 * (x2 + y2)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.sqrt(mean + half)
        b = np.sqrt(np.maximum(mean - half, 0.0))
        polar = np.where(mean != 0.0, half / np.where(mean != 0.0, mean, 1.0), 0.0)
    return a, b, theta, polar


def ellipse_coefficients(
    x2: Array, y2: Array, xy: Array, *, guard: bool = True
) -> tuple[Array, Array, Array]:
    """CXX, CYY, CXY of a moment triple; ``guard`` is SExtractor's world-frame guard
    against fully correlated profiles (determinant floored at 1e-6)."""
    det = x2 * y2 - xy * xy
    if guard:
        small = det < 1e-6
        det = np.where(small, 1e-6, det)
        xy = np.where(small, xy * 0.99999, xy)
    with np.errstate(invalid="ignore", divide="ignore"):
        return y2 / det, x2 / det, -2.0 * xy / det


def sky_angles(
    frame: WorldFrame, theta_world: Array, dtheta2000: Array, dtheta1950: Array
) -> tuple[Array, Array, Array]:
    """THETA_SKY, THETA_J2000, THETA_B1950 (east of north) of a world-frame angle."""
    if frame.lng < frame.lat:
        theta_sky = fold90(np.where(theta_world > 0.0, 90.0, -90.0) - theta_world)
    else:
        theta_sky = fold90(theta_world)
    return theta_sky, fold90(theta_sky + dtheta2000), fold90(theta_sky + dtheta1950)


@dataclass
class ObjectFrame:
    """What every world family of one extension's objects needs, computed once."""

    frame: WorldFrame
    jacobian: Jacobian
    dtheta2000: Array
    dtheta1950: Array
    positions: Positions


def object_frame(frame: WorldFrame, x: Array, y: Array) -> ObjectFrame:
    """The Jacobian and north angles at the objects' 1-based barycentres ``x``, ``y``."""
    pos = frame.positions(x, y)
    d2000, d1950 = frame.north_angles(pos)
    return ObjectFrame(frame, frame.jacobian(x, y), d2000, d1950, pos)


def _put(out: npt.NDArray[np.void], wanted: Iterable[str], name: str, values: Array) -> None:
    if name and name in wanted:
        out[name] = values


def fill_shape_family(
    out: npt.NDArray[np.void],
    wanted: Iterable[str],
    objects: ObjectFrame,
    names: ShapeNames,
    x2: Array,
    y2: Array,
    xy: Array,
) -> None:
    """Fill the world columns ``names`` that ``wanted`` holds from image-frame moments.

    E.g. the WIN shapes: ``fill_shape_family(out, wanted, objects, SHAPE_FAMILIES["WIN"],
    x2win, y2win, xywin)``.
    """
    wanted = set(wanted)
    if not (names.names() & wanted):
        return
    xm2, ym2, xym = world_moments(objects.jacobian, x2, y2, xy)
    _put(out, wanted, names.x2, xm2)
    _put(out, wanted, names.y2, ym2)
    _put(out, wanted, names.xy, xym)
    a, b, theta, polar = ellipse(xm2, ym2, xym)
    _put(out, wanted, names.a, a)
    _put(out, wanted, names.b, b)
    _put(out, wanted, names.theta, theta)
    _put(out, wanted, names.polar, polar)
    if objects.frame.celestial:
        sky, j2000, b1950 = sky_angles(objects.frame, theta, objects.dtheta2000, objects.dtheta1950)
        _put(out, wanted, names.theta_sky, sky)
        _put(out, wanted, names.theta_j2000, j2000)
        _put(out, wanted, names.theta_b1950, b1950)
    if {names.cxx, names.cyy, names.cxy} & wanted:
        cxx, cyy, cxy = ellipse_coefficients(xm2, ym2, xym)
        _put(out, wanted, names.cxx, cxx)
        _put(out, wanted, names.cyy, cyy)
        _put(out, wanted, names.cxy, cxy)


def fill_focal_family(
    out: npt.NDArray[np.void],
    wanted: Iterable[str],
    frame: WorldFrame,
    names: tuple[str, str],
    x: Array,
    y: Array,
) -> None:
    """Fill the focal-plane columns ``names`` (x, y) that ``wanted`` holds, e.g. the windowed
    ones: ``fill_focal_family(out, wanted, frame, FOCAL_FAMILIES["WIN"], xwin, ywin)``."""
    wanted = set(wanted)
    if not (set(names) & wanted):
        return
    fx, fy = frame.focal(x, y)
    _put(out, wanted, names[0], fx)
    _put(out, wanted, names[1], fy)


def fill_position_family(
    out: npt.NDArray[np.void],
    wanted: Iterable[str],
    frame: WorldFrame,
    names: PositionNames,
    x: Array,
    y: Array,
) -> None:
    """Fill the world columns ``names`` that ``wanted`` holds from 1-based pixel positions.

    E.g. the windowed positions: ``fill_position_family(out, wanted, frame,
    POSITION_FAMILIES["WIN"], out["XWIN_IMAGE"], out["YWIN_IMAGE"])``.
    """
    wanted = set(wanted)
    if not (names.names() & wanted):
        return
    pos = frame.positions(x, y)
    for field_name, column in vars(names).items():
        _put(out, wanted, column, getattr(pos, field_name))


# --------------------------------------------------------------------------- position errors


# ------------------------------------------------------------------------------- pixel scale


def pixel_scale_from_header(header: Any) -> float | None:
    """PIXEL_SCALE 0: the WCS's pixel scale (arcsec) at the image centre, as SExtractor's
    ``range_wcs`` (square root of the sky area of one pixel); None without a celestial WCS."""
    frame = WorldFrame.from_header(header)
    if not frame.celestial:
        return None
    # A tile-compressed image's own size is ZNAXISn (NAXISn is its binary table's).
    nx = _header_int(header, "ZNAXIS1", _header_int(header, "NAXIS1", 0))
    ny = _header_int(header, "ZNAXIS2", _header_int(header, "NAXIS2", 0))
    centre_x = np.array([(nx + 1.0) / 2.0])
    centre_y = np.array([(ny + 1.0) / 2.0])
    area = float(frame.jacobian(centre_x, centre_y).area[0])
    return math.sqrt(area) * 3600.0 if math.isfinite(area) and area > 0 else None


def world_pixel_size(header: Any, x: Array, y: Array, pixel_scale: float) -> Array:
    """The size of a pixel in degrees at the 1-based positions ``x``, ``y``, as SExtractor
    scales FWHM_IMAGE into FWHM_WORLD: PIXEL_SCALE (arcsec) when > 0, else the square root of
    the WCS's local pixel area (1 without a celestial WCS)."""
    if pixel_scale > 0:
        return np.full(np.shape(x), pixel_scale / 3600.0)
    objects = WorldFrame.from_header(header).jacobian(np.asarray(x), np.asarray(y))
    return np.sqrt(objects.area)


def _header_int(header: Any, key: str, default: int) -> int:
    value = header.get(key, default) if header is not None else default
    return (
        int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


# ----------------------------------------------------------------------- the columns of a run


def add_world_columns(
    out: npt.NDArray[np.void],
    wanted: set[str],
    header: Any,
    *,
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    rms: float,
    gain: float,
    kernel: npt.NDArray[np.float32] | None,
    pixel_scale: float,
    extra_moments: Mapping[str, tuple[Array, Array, Array]] | None = None,
    fwhm_image: Array | None = None,
    extra_positions: Mapping[str, tuple[Array, Array]] | None = None,
) -> None:
    """Fill the columns of :data:`WORLD_COLUMNS` (and the ``extra_moments`` families:
    family name → image-frame moments) that ``wanted`` holds, in place.

    ``out`` already holds the measured columns (X/Y_IMAGE, X2/Y2/XY_IMAGE, XPEAK_IMAGE…);
    ``pixel_scale`` (arcsec) > 0 replaces the WCS's local pixel area in ISOAREA_WORLD and
    FWHM_WORLD; ``fwhm_image`` is FWHM_IMAGE (needed for FWHM_WORLD). ``extra_positions``
    (family name → 1-based x, y) fill that family's world and focal positions, e.g.
    ``extra_positions={"WIN": (xwin + 1, ywin + 1)}`` (:data:`WIN_WORLD_COLUMNS`).
    """
    x = out["X_IMAGE"].astype(np.float64)
    y = out["Y_IMAGE"].astype(np.float64)
    frame = WorldFrame.from_header(header)
    if "POLAR_IMAGE" in wanted:
        a = out["A_IMAGE"].astype(np.float64)
        b = out["B_IMAGE"].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            polar = (a * a - b * b) / (a * a + b * b)
        out["POLAR_IMAGE"] = np.where(np.isfinite(polar), polar, 0.0)
    _put(out, wanted, "X_IMAGE_DBL", x)
    _put(out, wanted, "Y_IMAGE_DBL", y)
    fill_position_family(out, wanted, frame, POSITION_FAMILIES["ISO"], x, y)
    fill_focal_family(out, wanted, frame, FOCAL_FAMILIES["ISO"], x, y)
    peak_x = out["XPEAK_IMAGE"].astype(np.float64)
    peak_y = out["YPEAK_IMAGE"].astype(np.float64)
    fill_position_family(out, wanted, frame, POSITION_FAMILIES["PEAK"], peak_x, peak_y)
    fill_focal_family(out, wanted, frame, FOCAL_FAMILIES["PEAK"], peak_x, peak_y)
    for family, (fx, fy) in (extra_positions or {}).items():
        fill_position_family(out, wanted, frame, POSITION_FAMILIES[family], fx, fy)
        fill_focal_family(out, wanted, frame, FOCAL_FAMILIES[family], fx, fy)
    needs_errors = bool((ERROR_IMAGE_COLUMNS | SHAPE_FAMILIES["ERR"].names()) & wanted)
    families: dict[str, tuple[Array, Array, Array]] = dict(extra_moments or {})
    families["ISO"] = (
        out["X2_IMAGE"].astype(np.float64),
        out["Y2_IMAGE"].astype(np.float64),
        out["XY_IMAGE"].astype(np.float64),
    )
    if needs_errors:
        boxes = tuple(
            out[name].astype(np.intp) - 1
            for name in ("XMIN_IMAGE", "XMAX_IMAGE", "YMIN_IMAGE", "YMAX_IMAGE")
        )
        ex2, ey2, exy = position_errors(
            data, segmap, x - 1.0, y - 1.0, rms=rms, gain=gain, kernel=kernel, boxes=boxes
        )
        image_error_ellipse(out, wanted, ex2, ey2, exy)
        families["ERR"] = (ex2, ey2, exy)
    shape_wanted = any(SHAPE_FAMILIES[f].names() & wanted for f in families)
    if not (shape_wanted or (_AREA_COLUMNS & wanted) or "FWHM_WORLD" in wanted):
        return
    objects = object_frame(frame, x, y)
    for family, (m2x, m2y, mxy) in families.items():
        fill_shape_family(out, wanted, objects, SHAPE_FAMILIES[family], m2x, m2y, mxy)
    if _AREA_COLUMNS & wanted:
        area = (pixel_scale / 3600.0) ** 2 if pixel_scale > 0 else objects.jacobian.area
        _put(out, wanted, "ISOAREA_WORLD", out["ISOAREA_IMAGE"] * area)
        _put(out, wanted, "ISOAREAF_WORLD", out["ISOAREAF_IMAGE"] * area)
    if "FWHM_WORLD" in wanted and fwhm_image is not None:
        size = pixel_scale / 3600.0 if pixel_scale > 0 else np.sqrt(objects.jacobian.area)
        out["FWHM_WORLD"] = fwhm_image * size
