"""source-extractor's command line: ``-KEY VALUE`` for every key of ``default.sex``.

``source-extractor IMAGE -c my.sex -CATALOG_NAME x.cat -DETECT_THRESH 3`` reads the
configuration file, then lets each ``-KEY VALUE`` on the command line replace the file's
value. ``canfar-tui detect`` accepts the same words (:data:`SEX_KEYS`, the keys
``source-extractor -dd`` lists), so that a job script can swap the program name:

* ``CATALOG_NAME``, ``CATALOG_TYPE`` and ``PARAMETERS_NAME`` choose the output (the CLI
  handles them: :func:`catalogue_format`);
* the other keys go through :meth:`DetectionParams.with_overrides` with the ``.sex`` file's
  rules; :func:`apply_command_line` refuses, in one line naming them all, the keys set on the
  command line to a value canfar-tui cannot honour (``-INTERP_TYPE VAR_ONLY``,
  ``-CHECKIMAGE_TYPE PSFPROTOS``, ``-DETECT_TYPE PHOTO``…):
  a value typed on the command line is a request, not a leftover of a shared config file.

This module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from canfar_tui.detection.params import (
    CatalogueFormat,
    DetectionParams,
    ParamError,
)

__all__ = [
    "OUTPUT_KEYS",
    "SEX_CATALOGUE_TYPES",
    "SEX_KEYS",
    "apply_command_line",
    "catalogue_format",
]

SEX_KEYS: Final[tuple[str, ...]] = (
    "CATALOG_NAME",
    "CATALOG_TYPE",
    "PARAMETERS_NAME",
    "DETECT_TYPE",
    "DETECT_MINAREA",
    "DETECT_MAXAREA",
    "THRESH_TYPE",
    "DETECT_THRESH",
    "ANALYSIS_THRESH",
    "FILTER",
    "FILTER_NAME",
    "FILTER_THRESH",
    "DEBLEND_NTHRESH",
    "DEBLEND_MINCONT",
    "CLEAN",
    "CLEAN_PARAM",
    "MASK_TYPE",
    "WEIGHT_TYPE",
    "RESCALE_WEIGHTS",
    "WEIGHT_IMAGE",
    "WEIGHT_GAIN",
    "WEIGHT_THRESH",
    "FLAG_IMAGE",
    "FLAG_TYPE",
    "DGEO_TYPE",
    "DGEO_IMAGE",
    "PHOT_APERTURES",
    "PHOT_AUTOPARAMS",
    "PHOT_PETROPARAMS",
    "PHOT_AUTOAPERS",
    "PHOT_FLUXFRAC",
    "SATUR_LEVEL",
    "SATUR_KEY",
    "MAG_ZEROPOINT",
    "MAG_GAMMA",
    "GAIN",
    "GAIN_KEY",
    "PIXEL_SCALE",
    "SEEING_FWHM",
    "STARNNW_NAME",
    "BACK_TYPE",
    "BACK_VALUE",
    "BACK_SIZE",
    "BACK_FILTERSIZE",
    "BACKPHOTO_TYPE",
    "BACKPHOTO_THICK",
    "BACK_FILTTHRESH",
    "CHECKIMAGE_TYPE",
    "CHECKIMAGE_NAME",
    "MEMORY_OBJSTACK",
    "MEMORY_PIXSTACK",
    "MEMORY_BUFSIZE",
    "ASSOC_NAME",
    "ASSOC_DATA",
    "ASSOC_PARAMS",
    "ASSOCCOORD_TYPE",
    "ASSOC_RADIUS",
    "ASSOC_TYPE",
    "ASSOCSELEC_TYPE",
    "VERBOSE_TYPE",
    "HEADER_SUFFIX",
    "WRITE_XML",
    "XML_NAME",
    "XSL_URL",
    "NTHREADS",
    "FITS_UNSIGNED",
    "INTERP_MAXXLAG",
    "INTERP_MAXYLAG",
    "INTERP_TYPE",
    "PSF_NAME",
    "PSF_NMAX",
    "PATTERN_TYPE",
    "SOM_NAME",
)
"""Every configuration key of source-extractor 2.25 (``source-extractor -dd``), in its order."""

OUTPUT_KEYS: Final[frozenset[str]] = frozenset({"CATALOG_NAME", "CATALOG_TYPE", "PARAMETERS_NAME"})
"""Keys that choose the output rather than the measurement (handled by the CLI)."""

SEX_CATALOGUE_TYPES: Final[dict[str, CatalogueFormat]] = {
    "ASCII_HEAD": "ascii_head",
    "ASCII": "ascii",
    "ASCII_SKYCAT": "ascii_skycat",
    "FITS_1.0": "fits",
    "FITS_LDAC": "fits_ldac",
}
"""SExtractor CATALOG_TYPE → the writer canfar-tui uses for it."""

# Keys that cost nothing to honour on the command line: they only tune source-extractor's
# own memory, threads, messages or XML report.
_IGNORED_ON_COMMAND_LINE: Final[frozenset[str]] = frozenset(
    {
        "VERBOSE_TYPE",
        "NTHREADS",
        "MEMORY_OBJSTACK",
        "WRITE_XML",
        "XML_NAME",
        "XSL_URL",
        "HEADER_SUFFIX",
        "FITS_UNSIGNED",
        "MAG_GAMMA",
        "PSF_NAME",
        "PSF_NMAX",
        "SOM_NAME",
    }
)


# Keys canfar-tui does not read, accepted at their default value.
_DEFAULT_VALUES: Final[dict[str, str]] = {
    "DETECT_MAXAREA": "0",
    "MASK_TYPE": "CORRECT",
    "DGEO_TYPE": "NONE",
    "ASSOC_TYPE": "NEAREST",
    "ASSOCSELEC_TYPE": "MATCHED",
    "ASSOCCOORD_TYPE": "PIXEL",
    "PATTERN_TYPE": "RINGS-HARMONIC",
}


def catalogue_format(value: str, *, what: str = "CATALOG_TYPE") -> CatalogueFormat:
    """The writer for a SExtractor CATALOG_TYPE; :class:`ParamError` when there is none."""
    key = value.strip().upper()
    if key in SEX_CATALOGUE_TYPES:
        return SEX_CATALOGUE_TYPES[key]
    known = ", ".join(SEX_CATALOGUE_TYPES)
    raise ParamError(f"{what} {value.strip()}: not supported (supported: {known})")


def apply_command_line(params: DetectionParams, values: Mapping[str, str]) -> DetectionParams:
    """``params`` with the command line's ``-KEY VALUE`` pairs (not the :data:`OUTPUT_KEYS`).

    Raises :class:`ParamError` naming every key whose value canfar-tui cannot honour.
    """
    refused: list[str] = []
    settable: dict[str, str] = {}
    for raw_key, value in values.items():
        key = raw_key.upper()
        if key in OUTPUT_KEYS or key in _IGNORED_ON_COMMAND_LINE:
            continue
        if value.strip().upper() == _DEFAULT_VALUES.get(key):
            continue
        settable[key] = value
    updated = params.with_overrides(settable, _strict=False)
    for note in updated.warnings[len(params.warnings) :]:
        refused.append(note.split(" is not supported", 1)[0])
    if refused:
        raise ParamError(f"not supported on the command line: {'; '.join(refused)}")
    return updated
