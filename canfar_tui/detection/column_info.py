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
    vector: Literal["", "apertures", "fluxfrac", "stamp"] = ""
    """For vector columns, the option that gives their length (PHOT_APERTURES…);
    ``stamp``: a 2-D pixel stamp sized in the ``.param`` file (``VIGNET(15,15)``)."""


def _c(
    name: str,
    desc: str,
    fmt: str,
    unit: str,
    dtype: Literal["i4", "i8", "f4", "f8"],
    vector: Literal["", "apertures", "fluxfrac", "stamp"] = "",
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

# --- classstar: isophotal areas, FWHM and the star/galaxy classifier (detection/classstar.py)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
        *(
            _c(f"ISO{level}", f"Isophotal area at level {level}", "%8d", "pixel**2", "i4")
            for level in range(8)
        ),
        _c("FWHM_IMAGE", "FWHM assuming a gaussian core", "%8.2f", "pixel", "f4"),
        _c("CLASS_STAR", "S/G classifier output", "%6.3f", "", "f4"),
    )
)

# --- world: position errors, world/sky positions and shapes (canfar_tui.detection.world)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
        _c("ERRX2_IMAGE", "Variance of position along x", "%18.10e", "pixel**2", "f8"),
        _c("ERRY2_IMAGE", "Variance of position along y", "%18.10e", "pixel**2", "f8"),
        _c("ERRXY_IMAGE", "Covariance of position between x and y", "%18.10e", "pixel**2", "f8"),
        _c("ERRCXX_IMAGE", "Cxx error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"),
        _c("ERRCYY_IMAGE", "Cyy error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"),
        _c("ERRCXY_IMAGE", "Cxy error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"),
        _c("ERRA_IMAGE", "RMS position error along major axis", "%9.5f", "pixel", "f4"),
        _c("ERRB_IMAGE", "RMS position error along minor axis", "%9.5f", "pixel", "f4"),
        _c("ERRTHETA_IMAGE", "Error ellipse position angle (CCW/x)", "%6.2f", "deg", "f4"),
        _c("POLAR_IMAGE", "(A_IMAGE^2 - B_IMAGE^2)/(A_IMAGE^2 + B_IMAGE^2)", "%7.5f", "", "f4"),
        _c("XPEAK_WORLD", "World-x coordinate of the brightest pixel", "%18.10e", "deg", "f8"),
        _c("YPEAK_WORLD", "World-y coordinate of the brightest pixel", "%18.10e", "deg", "f8"),
        _c("ALPHAPEAK_SKY", "Right ascension of brightest pix (native)", "%11.7f", "deg", "f8"),
        _c("DELTAPEAK_SKY", "Declination of brightest pix (native)", "%+11.7f", "deg", "f8"),
        _c("ALPHAPEAK_J2000", "Right ascension of brightest pix (J2000)", "%11.7f", "deg", "f8"),
        _c("DELTAPEAK_J2000", "Declination of brightest pix (J2000)", "%+11.7f", "deg", "f8"),
        _c("ALPHAPEAK_B1950", "Right ascension of brightest pix (B1950)", "%11.7f", "deg", "f8"),
        _c("DELTAPEAK_B1950", "Declination of brightest pix (B1950)", "%+11.7f", "deg", "f8"),
        _c("ALPHA_SKY", "Right ascension of barycenter (native)", "%11.7f", "deg", "f8"),
        _c("DELTA_SKY", "Declination of barycenter (native)", "%+11.7f", "deg", "f8"),
        _c("ALPHA_B1950", "Right ascension of barycenter (B1950)", "%11.7f", "deg", "f8"),
        _c("DELTA_B1950", "Declination of barycenter (B1950)", "%+11.7f", "deg", "f8"),
        _c("X2_WORLD", "Variance along X-WORLD (alpha)", "%18.10e", "deg**2", "f8"),
        _c("Y2_WORLD", "Variance along Y-WORLD (delta)", "%18.10e", "deg**2", "f8"),
        _c("XY_WORLD", "Covariance between X-WORLD and Y-WORLD", "%18.10e", "deg**2", "f8"),
        _c("CXX_WORLD", "Cxx object ellipse parameter (WORLD units)", "%15.7e", "deg**(-2)", "f4"),
        _c("CYY_WORLD", "Cyy object ellipse parameter (WORLD units)", "%15.7e", "deg**(-2)", "f4"),
        _c("CXY_WORLD", "Cxy object ellipse parameter (WORLD units)", "%15.7e", "deg**(-2)", "f4"),
        _c("A_WORLD", "Profile RMS along major axis (world units)", "%12.7g", "deg", "f4"),
        _c("B_WORLD", "Profile RMS along minor axis (world units)", "%12.7g", "deg", "f4"),
        _c("THETA_WORLD", "Position angle (CCW/world-x)", "%6.2f", "deg", "f4"),
        _c("THETA_SKY", "Position angle (east of north) (native)", "%+6.2f", "deg", "f4"),
        _c("THETA_J2000", "Position angle (east of north) (J2000)", "%+6.2f", "deg", "f4"),
        _c("THETA_B1950", "Position angle (east of north) (B1950)", "%+6.2f", "deg", "f4"),
        _c("POLAR_WORLD", "(A_WORLD^2 - B_WORLD^2)/(A_WORLD^2 + B_WORLD^2)", "%7.5f", "", "f4"),
        _c("ERRX2_WORLD", "Variance of position along X-WORLD (alpha)", "%18.10e", "deg**2", "f8"),
        _c("ERRY2_WORLD", "Variance of position along Y-WORLD (delta)", "%18.10e", "deg**2", "f8"),
        _c("ERRXY_WORLD", "Covariance of position X-WORLD/Y-WORLD", "%18.10e", "deg**2", "f8"),
        _c(
            "ERRCXX_WORLD", "Cxx error ellipse parameter (WORLD units)", "%12.7g", "deg**(-2)", "f4"
        ),
        _c(
            "ERRCYY_WORLD", "Cyy error ellipse parameter (WORLD units)", "%12.7g", "deg**(-2)", "f4"
        ),
        _c(
            "ERRCXY_WORLD", "Cxy error ellipse parameter (WORLD units)", "%12.7g", "deg**(-2)", "f4"
        ),
        _c("ERRA_WORLD", "World RMS position error along major axis", "%12.7g", "deg", "f4"),
        _c("ERRB_WORLD", "World RMS position error along minor axis", "%12.7g", "deg", "f4"),
        _c("ERRTHETA_WORLD", "Error ellipse pos. angle (CCW/world-x)", "%6.2f", "deg", "f4"),
        _c("ERRTHETA_SKY", "Native error ellipse pos. angle (east of north)", "%6.2f", "deg", "f4"),
        _c(
            "ERRTHETA_J2000", "J2000 error ellipse pos. angle (east of north)", "%6.2f", "deg", "f4"
        ),
        _c(
            "ERRTHETA_B1950", "B1950 error ellipse pos. angle (east of north)", "%6.2f", "deg", "f4"
        ),
        _c("FWHM_WORLD", "FWHM assuming a gaussian core", "%12.7g", "deg", "f4"),
        _c("X_IMAGE_DBL", "Object position along x (double precision)", "%11.4f", "pixel", "f8"),
        _c("Y_IMAGE_DBL", "Object position along y (double precision)", "%11.4f", "pixel", "f8"),
        _c("X_FOCAL", "Barycenter position along focal-plane x axis", "%18.10e", "", "f8"),
        _c("Y_FOCAL", "Barycenter position along focal-plane y axis", "%18.10e", "", "f8"),
        _c("XPEAK_FOCAL", "Focal-plane x coordinate of the brightest pixel", "%18.10e", "", "f8"),
        _c("YPEAK_FOCAL", "Focal-plane y coordinate of the brightest pixel", "%18.10e", "", "f8"),
        _c("ISOAREA_WORLD", "Isophotal area above Analysis threshold", "%12.7g", "deg**2", "f4"),
        _c(
            "ISOAREAF_WORLD",
            "Isophotal area (filtered) above Detection threshold",
            "%12.7g",
            "deg**2",
            "f4",
        ),
    )
)

# --- checkimg: the remaining non-world photometry columns (detection/photom_extra.py)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
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

# --- ldac: the windowed (WIN) family and VIGNET (detection/windowed.py)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
        _c("FLUX_WIN", "Gaussian-weighted flux", "%12.7g", "count", "f4"),
        _c("FLUXERR_WIN", "RMS error for WIN flux", "%12.7g", "count", "f4"),
        _c("MAG_WIN", "Gaussian-weighted magnitude", "%8.4f", "mag", "f4"),
        _c("MAGERR_WIN", "RMS error for MAG_WIN", "%8.4f", "mag", "f4"),
        _c("SNR_WIN", "Gaussian-weighted SNR", "%10.4g", "", "f4"),
        _c("X2WIN_IMAGE", "Windowed variance along x", "%18.10e", "pixel**2", "f8"),
        _c("Y2WIN_IMAGE", "Windowed variance along y", "%18.10e", "pixel**2", "f8"),
        _c("XYWIN_IMAGE", "Windowed covariance between x and y", "%18.10e", "pixel**2", "f8"),
        _c("CXXWIN_IMAGE", "Windowed Cxx object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("CYYWIN_IMAGE", "Windowed Cyy object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("CXYWIN_IMAGE", "Windowed Cxy object ellipse parameter", "%15.7e", "pixel**(-2)", "f4"),
        _c("AWIN_IMAGE", "Windowed profile RMS along major axis", "%9.3f", "pixel", "f4"),
        _c("BWIN_IMAGE", "Windowed profile RMS along minor axis", "%9.3f", "pixel", "f4"),
        _c("THETAWIN_IMAGE", "Windowed position angle (CCW/x)", "%6.2f", "deg", "f4"),
        _c("ERRX2WIN_IMAGE", "Variance of windowed pos along x", "%18.10e", "pixel**2", "f8"),
        _c("ERRY2WIN_IMAGE", "Variance of windowed pos along y", "%18.10e", "pixel**2", "f8"),
        _c(
            "ERRXYWIN_IMAGE",
            "Covariance of windowed pos between x and y",
            "%18.10e",
            "pixel**2",
            "f8",
        ),
        _c(
            "ERRCXXWIN_IMAGE", "Cxx windowed error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"
        ),
        _c(
            "ERRCYYWIN_IMAGE", "Cyy windowed error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"
        ),
        _c(
            "ERRCXYWIN_IMAGE", "Cxy windowed error ellipse parameter", "%12.7g", "pixel**(-2)", "f4"
        ),
        _c("ERRAWIN_IMAGE", "RMS windowed pos error along major axis", "%9.5f", "pixel", "f4"),
        _c("ERRBWIN_IMAGE", "RMS windowed pos error along minor axis", "%9.5f", "pixel", "f4"),
        _c("ERRTHETAWIN_IMAGE", "Windowed error ellipse pos angle (CCW/x)", "%6.2f", "deg", "f4"),
        _c("NITER_WIN", "Number of iterations for WIN centering", "%3d", "", "i4"),
        _c("FLAGS_WIN", "Flags for WINdowed parameters", "%3d", "", "i4"),
        _c("VIGNET", "Pixel data around detection", "%12.7g", "count", "f4", "stamp"),
        # The WIN world/sky/focal forms (canfar_tui.detection.world.WIN_WORLD_COLUMNS).
        _c("ALPHAWIN_B1950", "Windowed right ascension (B1950)", "%11.7f", "deg", "f8"),
        _c("ALPHAWIN_J2000", "Windowed right ascension (J2000)", "%11.7f", "deg", "f8"),
        _c("ALPHAWIN_SKY", "Windowed right ascension  (native)", "%11.7f", "deg", "f8"),
        _c(
            "AWIN_WORLD",
            "Windowed profile RMS along major axis (world units)",
            "%12.7g",
            "deg",
            "f4",
        ),
        _c(
            "BWIN_WORLD",
            "Windowed profile RMS along minor axis (world units)",
            "%12.7g",
            "deg",
            "f4",
        ),
        _c(
            "CXXWIN_WORLD",
            "Windowed Cxx object ellipse parameter (WORLD units)",
            "%15.7e",
            "deg**(-2)",
            "f4",
        ),
        _c(
            "CXYWIN_WORLD",
            "Windowed Cxy object ellipse parameter (WORLD units)",
            "%15.7e",
            "deg**(-2)",
            "f4",
        ),
        _c(
            "CYYWIN_WORLD",
            "Windowed Cyy object ellipse parameter (WORLD units)",
            "%15.7e",
            "deg**(-2)",
            "f4",
        ),
        _c("DELTAWIN_B1950", "Windowed declination (B1950)", "%+11.7f", "deg", "f8"),
        _c("DELTAWIN_J2000", "windowed declination (J2000)", "%+11.7f", "deg", "f8"),
        _c("DELTAWIN_SKY", "Windowed declination (native)", "%+11.7f", "deg", "f8"),
        _c("ERRAWIN_WORLD", "World RMS windowed pos error along major axis", "%12.7g", "deg", "f4"),
        _c("ERRBWIN_WORLD", "World RMS windowed pos error along minor axis", "%12.7g", "deg", "f4"),
        _c(
            "ERRCXXWIN_WORLD",
            "Cxx windowed error ellipse parameter (WORLD units)",
            "%12.7g",
            "deg**(-2)",
            "f4",
        ),
        _c(
            "ERRCXYWIN_WORLD",
            "Cxy windowed error ellipse parameter (WORLD units)",
            "%12.7g",
            "deg**(-2)",
            "f4",
        ),
        _c(
            "ERRCYYWIN_WORLD",
            "Cyy windowed error ellipse parameter (WORLD units)",
            "%12.7g",
            "deg**(-2)",
            "f4",
        ),
        _c(
            "ERRTHETAWIN_B1950",
            "B1950 windowed error ellipse pos. angle (east of north)",
            "%6.2f",
            "deg",
            "f4",
        ),
        _c(
            "ERRTHETAWIN_J2000",
            "J2000 windowed error ellipse pos. angle (east of north)",
            "%6.2f",
            "deg",
            "f4",
        ),
        _c(
            "ERRTHETAWIN_SKY",
            "Native windowed error ellipse pos. angle (east of north)",
            "%6.2f",
            "deg",
            "f4",
        ),
        _c(
            "ERRTHETAWIN_WORLD",
            "Windowed error ellipse pos. angle (CCW/world-x)",
            "%6.2f",
            "deg",
            "f4",
        ),
        _c(
            "ERRX2WIN_WORLD",
            "Variance of windowed pos along X-WORLD (alpha)",
            "%18.10e",
            "deg**2",
            "f8",
        ),
        _c(
            "ERRXYWIN_WORLD",
            "Covariance of windowed pos X-WORLD/Y-WORLD",
            "%18.10e",
            "deg**2",
            "f8",
        ),
        _c(
            "ERRY2WIN_WORLD",
            "Variance of windowed pos along Y-WORLD (delta)",
            "%18.10e",
            "deg**2",
            "f8",
        ),
        _c("POLARWIN_WORLD", "(AWIN^2 - BWIN^2)/(AWIN^2 + BWIN^2)", "%7.5f", "", "f4"),
        _c(
            "THETAWIN_B1950",
            "Windowed position angle (east of north) (B1950)",
            "%+6.2f",
            "deg",
            "f4",
        ),
        _c(
            "THETAWIN_J2000",
            "Windowed position angle (east of north) (J2000)",
            "%+6.2f",
            "deg",
            "f4",
        ),
        _c(
            "THETAWIN_SKY",
            "Windowed position angle (east of north) (native)",
            "%+6.2f",
            "deg",
            "f4",
        ),
        _c("THETAWIN_WORLD", "Windowed position angle (CCW/world-x)", "%6.2f", "deg", "f4"),
        _c("X2WIN_WORLD", "Windowed variance along X-WORLD (alpha)", "%18.10e", "deg**2", "f8"),
        _c("XWIN_FOCAL", "Windowed position along focal-plane x axis", "%18.10e", "", "f8"),
        _c("XWIN_WORLD", "Windowed position along world x axis", "%18.10e", "deg", "f8"),
        _c(
            "XYWIN_WORLD",
            "Windowed covariance between X-WORLD and Y-WORLD",
            "%18.10e",
            "deg**2",
            "f8",
        ),
        _c("Y2WIN_WORLD", "Windowed variance along Y-WORLD (delta)", "%18.10e", "deg**2", "f8"),
        _c("YWIN_FOCAL", "Windowed position along focal-plane y axis", "%18.10e", "", "f8"),
        _c("YWIN_WORLD", "Windowed position along world y axis", "%18.10e", "deg", "f8"),
    )
)

# --- flags & weights (canfar_tui.detection.weights)
COLUMN_INFO.update(
    (c.name, c)
    for c in (
        _c("FLAGS_WEIGHT", "Weighted extraction flags", "%1d", "", "i4"),
        # SExtractor prints it with %9u: the same text for these non-negative values.
        _c("IMAFLAGS_ISO", "FLAG-image flags OR'ed over the iso. profile", "%9d", "", "i4"),
        _c("NIMAFLAGS_ISO", "Number of flagged pixels entering IMAFLAGS_ISO", "%9d", "", "i4"),
    )
)
