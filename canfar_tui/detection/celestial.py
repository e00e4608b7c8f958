"""SExtractor's celestial formulae (``fitswcs.c``), vectorised with numpy.

* :func:`precess`: equatorial coordinates from one equinox to another (the Éphémérides du
  Bureau des Longitudes 1992 formulae SExtractor uses);
* :func:`j2000_to_b1950`: J2000 → B1950 for extragalactic sources (Aoki et al. 1983, the
  inverted matrix and E-terms of SExtractor's ``j2b``);
* :func:`pole_angle`: the angle between native north and a pole at each position
  (SExtractor's ``dtheta2000``/``dtheta1950``);
* :func:`to_equatorial` with :data:`CELESTIAL_SYSTEMS`: galactic, ecliptic and supergalactic
  coordinates → equatorial (``celsys_to_eq``);
* :func:`fold90`: angles folded into [-90, 90[ (``fmod_m90_p90``).

All angles in degrees. Imports numpy only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    Array = npt.NDArray[np.float64]

__all__ = [
    "CELESTIAL_SYSTEMS",
    "fold90",
    "j2000_to_b1950",
    "pole_angle",
    "precess",
    "to_equatorial",
]

_DEG = math.pi / 180.0
_ARCSEC = _DEG / 3600.0
_MJD2000 = 51544.5
_MJD1950 = 33281.92346
_JU2TROP = 1.0000214


def fold90(angle: Array) -> Array:
    """SExtractor's fmod_m90_p90: fold degrees into [-90, 90[."""
    return np.where(
        angle > 0.0, np.fmod(angle + 90.0, 180.0) - 90.0, np.fmod(angle - 90.0, 180.0) + 90.0
    )


def precess(year_in: float, year_out: float, alpha: Array, delta: Array) -> tuple[Array, Array]:
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


def j2000_to_b1950(equinox: float, alpha: Array, delta: Array) -> tuple[Array, Array]:
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


def pole_angle(
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
CELESTIAL_SYSTEMS: Final[dict[str, tuple[float, float, float, float]]] = {
    "GLON": (266.40499625, -28.93617242, 192.85948123, 27.12825120),
    "ELON": (0.0, 0.0, 270.0, 66.560709),
    "SLON": (42.308333, 59.528333, 283.754167, 15.708889),
}


def to_equatorial(
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
