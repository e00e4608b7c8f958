"""World-coordinate and position-error columns, following SExtractor's astrom.c and analyse.c.

Everything here works on whole columns (numpy arrays, one value per object) of one
extension, with the extension's WCS read by :mod:`astropy.wcs` (TAN, TPV, SIP, … with their
distortions: :meth:`~astropy.wcs.WCS.all_pix2world`).

* :class:`WorldFrame` is one extension's WCS as SExtractor uses it: ``positions`` turns 1-based
  pixel positions into every world form (X/Y_WORLD, ALPHA/DELTA_SKY, _J2000, _B1950, with
  SExtractor's precession and Aoki et al. J2000 → B1950 formulae), ``jacobian`` is SExtractor's
  local linear transform (world offsets of a one-pixel step in x and in y, the longitude one
  times cos δ), ``north_angles`` the position angle of the J2000 and B1950 poles at each object.
* :func:`world_moments` turns any image-frame second-moment triple (x², y², xy) into the world
  frame with that Jacobian, exactly as SExtractor does (including its x² term, which weights
  the cross moment once, not twice); :func:`ellipse` gives A, B, THETA, POLAR and
  :func:`ellipse_coefficients` CXX, CYY, CXY of any moment triple; :func:`sky_angles` the
  angles east of north (THETA_SKY, THETA_J2000, THETA_B1950) of a world-frame angle.
* :data:`SHAPE_FAMILIES` / :data:`POSITION_FAMILIES` name the output columns of each family
  (the isophotal shape, the position error ellipse, the windowed ones…);
  :func:`fill_shape_family` and :func:`fill_position_family` fill those a run asks for from
  image-frame values, so a new family (the WIN moments, say) is wired with one call.
* :func:`position_errors` computes ERRX2/ERRY2/ERRXY_IMAGE like SExtractor's ``examineiso``:
  over the object's detected pixels, weights σ² + max(filtered pixel, 0) / GAIN, divided by
  the square of the filtered flux, regularised for fully correlated (singular) profiles.
* :func:`pixel_scale_from_header` is PIXEL_SCALE 0: the WCS's pixel scale at the image centre
  in arcseconds (SExtractor's ``range_wcs``), None without a celestial WCS.
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

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.params import DetectionParams

    Array = npt.NDArray[np.float64]

__all__ = [
    "ERROR_IMAGE_COLUMNS",
    "FOCAL_FAMILIES",
    "POSITION_FAMILIES",
    "SHAPE_FAMILIES",
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
_ARCSEC = _DEG / 3600.0
_MJD2000 = 51544.5
_MJD1950 = 33281.92346
_JU2TROP = 1.0000214


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
    | {"POLAR_IMAGE", "X_IMAGE_DBL", "Y_IMAGE_DBL"}
)
"""Every column :func:`add_world_columns` fills (the WIN families are wired by the WIN code)."""


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


def _fold90(angle: Array) -> Array:
    """SExtractor's fmod_m90_p90: fold degrees into [-90, 90[."""
    return np.where(
        angle > 0.0, np.fmod(angle + 90.0, 180.0) - 90.0, np.fmod(angle - 90.0, 180.0) + 90.0
    )


def _precess(year_in: float, year_out: float, alpha: Array, delta: Array) -> tuple[Array, Array]:
    """Equatorial coordinates (degrees) precessed from one equinox to another (SExtractor's
    formulae from the Éphémérides du Bureau des Longitudes 1992)."""
    a = alpha * _DEG
    d = delta * _DEG
    t1 = (year_in - 2000.0) / 1000.0
    t2 = (year_out - year_in) / 1000.0
    theta = (
        (97171.735e-06 - 413.691e-06 * t1 - 1.052e-06 * t1 * t1) * t2
        + (-206.846e-06 - 1.052e-06 * t1) * t2 * t2
        - 202.812e-06 * t2**3
    )
    dzeta = (
        (111808.609e-06 + 677.071e-06 * t1 - 0.674e-06 * t1 * t1) * t2
        + (146.356e-06 - 1.673e-06 * t1) * t2 * t2
        + 87.257e-06 * t2**3
    )
    z = (
        (111808.609e-06 + 677.071e-06 * t1 - 0.674e-06 * t1 * t1) * t2
        + (530.716e-06 + 0.320e-06 * t1) * t2 * t2
        + 88.251e-06 * t2**3
    )
    num = np.cos(d) * np.sin(a + dzeta)
    den = -np.sin(d) * math.sin(theta) + np.cos(d) * math.cos(theta) * np.cos(a + dzeta)
    sdd = np.sin(d) * math.cos(theta) + np.cos(d) * math.sin(theta) * np.cos(a + dzeta)
    delta_out = np.arcsin(np.clip(sdd, -1.0, 1.0))
    adz = np.arctan2(num, den) % (2.0 * math.pi) + z
    return adz / _DEG, delta_out / _DEG


# J2000 → B1950 for extragalactic sources (Aoki et al. 1983, the matrix inverted as in
# SExtractor): position (r) and velocity (v) parts, and the E-terms of aberration.
_J2B = np.array(
    [
        [
            0.9999256794678425,
            0.01118148281196562,
            0.004859003848996022,
            -2.423898417033081e-06,
            -2.710547600126671e-08,
            -1.177738063266745e-08,
        ],
        [
            -0.01118148272969232,
            0.9999374849247641,
            -2.717708936468247e-05,
            2.710547578707874e-08,
            -2.423927042585208e-06,
            6.588254898401055e-11,
        ],
        [
            -0.00485900399622881,
            -2.715579322970546e-05,
            0.999988194643078,
            1.177738102358923e-08,
            6.582788892816657e-11,
            -2.424049920613325e-06,
        ],
        [
            -0.0005508458576414713,
            0.2384844384742432,
            -0.4356144527773499,
            0.9999043171308133,
            0.01118145410120206,
            0.004858518651645554,
        ],
        [
            -0.2385354433560954,
            -0.002664266996872802,
            0.01225282765749546,
            -0.01118145417187502,
            0.9999161290795875,
            -2.717034576263522e-05,
        ],
        [
            0.4357269351676567,
            -0.008536768476441086,
            0.002113420799663768,
            -0.004858518477064975,
            -2.715994547222661e-05,
            0.9999668385070383,
        ],
    ]
)
_ETERM_A = np.array([-1.62557e-6, -0.31919e-6, -0.13843e-6])
_ETERM_AP = np.array([1.245e-3, -1.580e-3, -0.659e-3])


def _j2000_to_b1950(equinox: float, alpha: Array, delta: Array) -> tuple[Array, Array]:
    """J2000 → B1950 equatorial coordinates (degrees), as SExtractor's ``j2b``."""
    t1 = ((equinox - 2000.0) + (_MJD2000 - _MJD1950) / 365.25) * _JU2TROP / 100.0
    a = np.asarray(alpha, dtype=np.float64) * _DEG
    d = np.asarray(delta, dtype=np.float64) * _DEG
    r = np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    # The input velocity is zero: only the first three columns of the matrix act.
    r2 = _J2B[:3, :3] @ r
    v1 = _J2B[3:, :3] @ r
    r1 = r2 + v1 * (_ARCSEC * t1)
    a1 = (_ETERM_A + _ETERM_AP * (_ARCSEC * t1))[:, None]
    dot = np.sum(a1 * (r1 + a1), axis=0)
    factor = 2.0 / (np.sqrt(1.0 + 4.0 * dot) + 1.0)
    ro = factor * (r1 + a1)
    norm = np.sqrt(np.sum(ro * ro, axis=0))
    delta_out = np.arcsin(np.clip(ro[2] / norm, -1.0, 1.0))
    alpha_out = np.arctan2(ro[1], ro[0]) % (2.0 * math.pi)
    return alpha_out / _DEG, delta_out / _DEG


def _pole_angle(
    pole_alpha: float, pole_delta: float, alpha: Array, delta: Array, delta_native: Array
) -> Array:
    """SExtractor's dtheta: the angle (degrees) between native north and the pole
    (``pole_alpha``, ``pole_delta``) at each position."""
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = (math.sin(pole_delta * _DEG) - np.sin(delta * _DEG) * np.sin(delta_native * _DEG)) / (
            np.cos(delta * _DEG) * np.cos(delta_native * _DEG)
        )
    dd = np.where(dd < 1.0, np.where(dd > -1.0, np.arccos(np.clip(dd, -1, 1)) / _DEG, 180.0), 0.0)
    da = pole_alpha - alpha
    return np.where(((da > 0.0) & (da < 180.0)) | (da < -180.0), -dd, dd)


# Equatorial coordinates (degrees) of the origin and pole of the galactic, ecliptic and
# supergalactic frames, as SExtractor uses them (Allen's Astrophysical Quantities, 4th ed.).
_CELESTIAL_SYSTEMS: Final[dict[str, tuple[float, float, float, float]]] = {
    "GLON": (266.40499625, -28.93617242, 192.85948123, 27.12825120),
    "ELON": (0.0, 0.0, 270.0, 66.560709),
    "SLON": (42.308333, 59.528333, 283.754167, 15.708889),
}


def _to_equatorial(
    system: tuple[float, float, float, float], lon: Array, lat: Array
) -> tuple[Array, Array]:
    """Galactic/ecliptic/supergalactic → equatorial (degrees), as SExtractor's
    ``celsys_to_eq`` (every world value of such a header is equatorial in SExtractor)."""
    a0, d0, ap, dp = (v * _DEG for v in system)
    ap2 = math.asin(math.cos(d0) * math.sin(ap - a0))
    a2 = lon * _DEG - ap2
    d2 = lat * _DEG
    cd2cp = np.cos(d2) * math.cos(dp)
    sd = np.sin(d2) * math.sin(dp) - cd2cp * np.cos(a2)
    y = cd2cp * np.sin(a2)
    x = np.sin(d2) - sd * math.sin(dp)
    return np.fmod((np.arctan2(y, x) + ap) / _DEG + 360.0, 360.0), np.arcsin(sd) / _DEG


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
                self.system = _CELESTIAL_SYSTEMS.get(str(wcs.wcs.ctype[lng])[:4].upper())
            equinox = float(wcs.wcs.equinox)
            self.equinox = equinox if math.isfinite(equinox) else 2000.0
        self.precessed = abs(self.equinox - 2000.0) > 0.003
        # The J2000 and B1950 poles in the native frame (SExtractor's initastrom).
        if self.precessed:
            pa, pd = _precess(self.equinox, 2000.0, np.array([0.0]), np.array([90.0]))
            self.pole2000 = (float(pa[0]), float(pd[0]))
        else:
            self.pole2000 = (0.0, 90.0)
        ba, bd = _j2000_to_b1950(
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
            w[self.lng], w[self.lat] = _to_equatorial(self.system, w[self.lng], w[self.lat])
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
            a2000, d2000 = _precess(self.equinox, 2000.0, lon, lat)
        else:
            a2000, d2000 = lon, lat
        a1950, d1950 = _j2000_to_b1950(self.equinox, a2000, d2000)
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
        d2000 = _pole_angle(*self.pole2000, pos.alpha_j2000, pos.delta_j2000, pos.delta_sky)
        d1950 = _pole_angle(*self.pole1950, pos.alpha_b1950, pos.delta_b1950, pos.delta_sky)
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
    theta = _fold90(np.where(diff == 0.0, 45.0, 0.5 * np.arctan2(2.0 * xy, diff) / _DEG))
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
        theta_sky = _fold90(np.where(theta_world > 0.0, 90.0, -90.0) - theta_world)
    else:
        theta_sky = _fold90(theta_world)
    return theta_sky, _fold90(theta_sky + dtheta2000), _fold90(theta_sky + dtheta1950)


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


def _image_error_ellipse(
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
        cxx, cyy, cxy = ellipse_coefficients(ex2, ey2, exy, guard=False)
        finite = np.isfinite(cxx) & np.isfinite(cyy) & np.isfinite(cxy)
        _put(out, wanted, "ERRCXX_IMAGE", np.where(finite, cxx, 0.0))
        _put(out, wanted, "ERRCYY_IMAGE", np.where(finite, cyy, 0.0))
        _put(out, wanted, "ERRCXY_IMAGE", np.where(finite, cxy, 0.0))


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
) -> None:
    """Fill the columns of :data:`WORLD_COLUMNS` (and the ``extra_moments`` families:
    family name → image-frame moments) that ``wanted`` holds, in place.

    ``out`` already holds the measured columns (X/Y_IMAGE, X2/Y2/XY_IMAGE, XPEAK_IMAGE…);
    ``pixel_scale`` (arcsec) > 0 replaces the WCS's local pixel area in ISOAREA_WORLD.
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
        _image_error_ellipse(out, wanted, ex2, ey2, exy)
        families["ERR"] = (ex2, ey2, exy)
    shape_wanted = any(SHAPE_FAMILIES[f].names() & wanted for f in families)
    if not (shape_wanted or (_AREA_COLUMNS & wanted)):
        return
    objects = object_frame(frame, x, y)
    for family, (m2x, m2y, mxy) in families.items():
        fill_shape_family(out, wanted, objects, SHAPE_FAMILIES[family], m2x, m2y, mxy)
    if _AREA_COLUMNS & wanted:
        area = (pixel_scale / 3600.0) ** 2 if pixel_scale > 0 else objects.jacobian.area
        _put(out, wanted, "ISOAREA_WORLD", out["ISOAREA_IMAGE"] * area)
        _put(out, wanted, "ISOAREAF_WORLD", out["ISOAREAF_IMAGE"] * area)
