"""The catalogue columns canfar-tui can write, as source-extractor 2.25 describes them.

:data:`COLUMN_INFO` maps each column name to its :class:`ColumnInfo` (description, printf
format, unit, dtype, and for vector columns the option that gives their length), in the
order source-extractor lists them. :data:`MEASURED_COLUMNS` are measured by every run;
the rest are computed only when a ``.param`` file asks for them
(:mod:`canfar_tui.detection.columns`). :data:`DEFAULT_COLUMNS` is what a run writes
without a ``.param`` file.

Imports nothing heavy (no numpy): the TUI builds its column pickers from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["COLUMN_INFO", "DEFAULT_COLUMNS", "MEASURED_COLUMNS", "ColumnInfo"]


@dataclass(frozen=True)
class ColumnInfo:
    """One output column as SExtractor describes it (ASCII_HEAD header and printf format)."""

    name: str
    description: str
    fmt: str
    unit: str
    dtype: Literal["i4", "i8", "f4", "f8"]
    vector: Literal["", "apertures", "fluxfrac"] = ""
    """For vector columns, the option that gives their length (PHOT_APERTURES…)."""


def _c(
    name: str,
    desc: str,
    fmt: str,
    unit: str,
    dtype: Literal["i4", "i8", "f4", "f8"],
    vector: Literal["", "apertures", "fluxfrac"] = "",
) -> ColumnInfo:
    return ColumnInfo(name, desc, fmt, unit, dtype, vector)


# Names, descriptions, formats and units as source-extractor 2.25 writes them.
COLUMN_INFO: Final[dict[str, ColumnInfo]] = {
    c.name: c
    for c in (
        _c("NUMBER", "Running object number", "%10d", "", "i4"),
        _c("EXT_NUMBER", "FITS extension number", "%3d", "", "i4"),
        _c("FLUX_ISO", "Isophotal flux", "%12.7g", "count", "f4"),
        _c("FLUXERR_ISO", "RMS error for isophotal flux", "%12.7g", "count", "f4"),
        _c("MAG_ISO", "Isophotal magnitude", "%8.4f", "mag", "f4"),
        _c("MAGERR_ISO", "RMS error for isophotal magnitude", "%8.4f", "mag", "f4"),
        _c("FLUX_AUTO", "Flux within a Kron-like elliptical aperture", "%12.7g", "count", "f4"),
        _c("FLUXERR_AUTO", "RMS error for AUTO flux", "%12.7g", "count", "f4"),
        _c("MAG_AUTO", "Kron-like elliptical aperture magnitude", "%8.4f", "mag", "f4"),
        _c("MAGERR_AUTO", "RMS error for AUTO magnitude", "%8.4f", "mag", "f4"),
        _c("KRON_RADIUS", "Kron apertures in units of A or B", "%5.2f", "", "f4"),
        _c("BACKGROUND", "Background at centroid position", "%12.7g", "count", "f4"),
        _c("THRESHOLD", "Detection threshold above background", "%12.7g", "count", "f4"),
        _c("FLUX_MAX", "Peak flux above background", "%12.7g", "count", "f4"),
        _c("ISOAREA_IMAGE", "Isophotal area above Analysis threshold", "%9d", "pixel**2", "i4"),
        _c(
            "ISOAREAF_IMAGE",
            "Isophotal area (filtered) above Detection threshold",
            "%9d",
            "pixel**2",
            "i4",
        ),
        _c("XMIN_IMAGE", "Minimum x-coordinate among detected pixels", "%10d", "pixel", "i4"),
        _c("YMIN_IMAGE", "Minimum y-coordinate among detected pixels", "%10d", "pixel", "i4"),
        _c("XMAX_IMAGE", "Maximum x-coordinate among detected pixels", "%10d", "pixel", "i4"),
        _c("YMAX_IMAGE", "Maximum y-coordinate among detected pixels", "%10d", "pixel", "i4"),
        _c("XPEAK_IMAGE", "x-coordinate of the brightest pixel", "%10d", "pixel", "i4"),
        _c("YPEAK_IMAGE", "y-coordinate of the brightest pixel", "%10d", "pixel", "i4"),
        _c("X_IMAGE", "Object position along x", "%11.4f", "pixel", "f8"),
        _c("Y_IMAGE", "Object position along y", "%11.4f", "pixel", "f8"),
        _c("X2_IMAGE", "Variance along x", "%18.10e", "pixel**2", "f8"),
        _c("Y2_IMAGE", "Variance along y", "%18.10e", "pixel**2", "f8"),
        _c("XY_IMAGE", "Covariance between x and y", "%18.10e", "pixel**2", "f8"),
        _c("CXX_IMAGE", "Cxx object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("CYY_IMAGE", "Cyy object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("CXY_IMAGE", "Cxy object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("A_IMAGE", "Profile RMS along major axis", "%9.3f", "pixel", "f4"),
        _c("B_IMAGE", "Profile RMS along minor axis", "%9.3f", "pixel", "f4"),
        _c("THETA_IMAGE", "Position angle (CCW/x)", "%6.2f", "deg", "f4"),
        _c("ELONGATION", "A_IMAGE/B_IMAGE", "%8.3f", "", "f4"),
        _c("ELLIPTICITY", "1 - B_IMAGE/A_IMAGE", "%8.3f", "", "f4"),
        _c("FLAGS", "Extraction flags", "%3d", "", "i4"),
    )
}

MEASURED_COLUMNS: Final[tuple[str, ...]] = tuple(COLUMN_INFO)
"""The columns every run measures (cheap by-products of the detection)."""

COLUMN_INFO.update(
    (c.name, c)
    for c in (
        _c("X_WORLD", "Barycenter position along world x axis", "%18.10e", "deg", "f8"),
        _c("Y_WORLD", "Barycenter position along world y axis", "%18.10e", "deg", "f8"),
        _c("ALPHA_J2000", "Right ascension of barycenter (J2000)", "%11.7f", "deg", "f8"),
        _c("DELTA_J2000", "Declination of barycenter (J2000)", "%+11.7f", "deg", "f8"),
        _c("XWIN_IMAGE", "Windowed position estimate along x", "%11.4f", "pixel", "f8"),
        _c("YWIN_IMAGE", "Windowed position estimate along y", "%11.4f", "pixel", "f8"),
        _c(
            "FLUX_APER",
            "Flux vector within fixed circular aperture(s)",
            "%12.7g",
            "count",
            "f4",
            "apertures",
        ),
        _c(
            "FLUXERR_APER",
            "RMS error vector for aperture flux(es)",
            "%12.7g",
            "count",
            "f4",
            "apertures",
        ),
        _c("MAG_APER", "Fixed aperture magnitude vector", "%8.4f", "mag", "f4", "apertures"),
        _c(
            "MAGERR_APER",
            "RMS error vector for fixed aperture mag.",
            "%8.4f",
            "mag",
            "f4",
            "apertures",
        ),
        _c("FLUX_RADIUS", "Fraction-of-light radii", "%10.3f", "pixel", "f4", "fluxfrac"),
    )
)
"""Every column canfar-tui can compute: :data:`MEASURED_COLUMNS`, then those computed
only when asked for (:mod:`canfar_tui.detection.columns`)."""

DEFAULT_COLUMNS: Final[tuple[str, ...]] = (
    "NUMBER",
    "EXT_NUMBER",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLUX_AUTO",
    "X_IMAGE",
    "Y_IMAGE",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "FLAGS",
)

# --- checkimg: the remaining non-world photometry columns (detection/photom_extra.py)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
        _c("X_IMAGE_DBL", "Object position along x (double precision)", "%11.4f", "pixel", "f8"),
        _c("Y_IMAGE_DBL", "Object position along y (double precision)", "%11.4f", "pixel", "f8"),
        _c("FLUX_ISOCOR", "Corrected isophotal flux", "%12.7g", "count", "f4"),
        _c("FLUXERR_ISOCOR", "RMS error for corrected isophotal flux", "%12.7g", "count", "f4"),
        _c("MAG_ISOCOR", "Corrected isophotal magnitude", "%8.4f", "mag", "f4"),
        _c("MAGERR_ISOCOR", "RMS error for corrected isophotal magnitude", "%8.4f", "mag", "f4"),
        _c(
            "FLUX_PETRO",
            "Flux within a Petrosian-like elliptical aperture",
            "%12.7g",
            "count",
            "f4",
        ),
        _c("FLUXERR_PETRO", "RMS error for PETROsian flux", "%12.7g", "count", "f4"),
        _c("MAG_PETRO", "Petrosian-like elliptical aperture magnitude", "%8.4f", "mag", "f4"),
        _c("MAGERR_PETRO", "RMS error for PETROsian magnitude", "%8.4f", "mag", "f4"),
        _c("FLUX_BEST", "Best of FLUX_AUTO and FLUX_ISOCOR", "%12.7g", "count", "f4"),
        _c("FLUXERR_BEST", "RMS error for BEST flux", "%12.7g", "count", "f4"),
        _c("MAG_BEST", "Best of MAG_AUTO and MAG_ISOCOR", "%8.4f", "mag", "f4"),
        _c("MAGERR_BEST", "RMS error for MAG_BEST", "%8.4f", "mag", "f4"),
        _c("PETRO_RADIUS", "Petrosian apertures in units of A or B", "%5.2f", "", "f4"),
        _c("THRESHOLDMAX", "Maximum threshold possible for detection", "%12.7g", "count", "f4"),
        _c(
            "MU_THRESHOLD",
            "Analysis threshold above background",
            "%8.4f",
            "mag * arcsec**(-2)",
            "f4",
        ),
        _c(
            "MU_MAX",
            "Peak surface brightness above background",
            "%8.4f",
            "mag * arcsec**(-2)",
            "f4",
        ),
    )
)
