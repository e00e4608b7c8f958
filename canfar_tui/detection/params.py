"""Detection parameters with SExtractor ``default.sex`` semantics, and ``.sex``/``.param`` readers.

:class:`DetectionParams` is a frozen dataclass whose defaults are SExtractor's
``default.sex`` (DETECT_THRESH 1.5 σ, DETECT_MINAREA 3, FILTER with ``default.conv``,
DEBLEND_NTHRESH 32, DEBLEND_MINCONT 0.005, CLEAN Y / 1.0, PHOT_AUTOPARAMS 2.5, 3.5,
BACK_SIZE 64, BACK_FILTERSIZE 3, MAG_ZEROPOINT 0, SATUR_LEVEL 50000, GAIN 0 with the
``SATURATE`` and ``GAIN`` header keywords taking precedence, as in SExtractor).

Ways to build one::

    DetectionParams()                                   # default.sex
    DetectionParams.from_sex_file("my.sex")             # a user's SExtractor config
    params.with_overrides({"DETECT_THRESH": "3"})       # CLI --set / TUI form values
    params.with_columns(read_param_file("default.param"))

Keys are SExtractor's names (case-insensitive). Keys that only concern SExtractor features
canfar-tui does not have are accepted from ``.sex`` files and named in
:attr:`DetectionParams.warnings` when they are set to a value that would change the
catalogue; :meth:`DetectionParams.with_overrides` rejects unknown keys with
:class:`ParamError` (a one-line message).

This module imports nothing heavy (no numpy), so the TUI can build forms from it cheaply.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from canfar_tui.detection.column_info import (
    COLUMN_INFO,
    DEFAULT_COLUMNS,
    ColumnInfo,
)

if TYPE_CHECKING:
    from canfar_tui.detection.nnw import NeuralNetwork

__all__ = [
    "CATALOGUE_FORMATS",
    "COLUMN_INFO",
    "DEFAULT_COLUMNS",
    "DEFAULT_CONV",
    "SETTABLE_KEYS",
    "CatalogueFormat",
    "ColumnInfo",
    "DetectionParams",
    "ParamError",
    "find_param_file",
    "param_line_spec",
    "parse_sex_file",
    "read_conv_file",
    "read_param_file",
    "sex_catalogue_format",
    "sex_parameters_name",
]

CatalogueFormat = Literal["ascii_head", "ascii", "ascii_skycat", "fits", "fits_ldac", "ecsv"]
CATALOGUE_FORMATS: Final[tuple[CatalogueFormat, ...]] = (
    "ascii_head",
    "ascii",
    "ascii_skycat",
    "fits",
    "fits_ldac",
    "ecsv",
)

DEFAULT_CONV: Final[tuple[tuple[float, ...], ...]] = (
    (1.0, 2.0, 1.0),
    (2.0, 4.0, 2.0),
    (1.0, 2.0, 1.0),
)
"""SExtractor's ``default.conv``: 3×3 "all-ground" kernel, FWHM 2 px (normalised on use)."""

SHARE_DIRS: Final[tuple[str, ...]] = (
    "/usr/share/source-extractor",
    "/usr/share/sextractor",
    "/usr/local/share/sextractor",
)


class ParamError(ValueError):
    """A bad parameter, config file or column list; ``str()`` is a one-line message."""


# ----------------------------------------------------------------------------- keys

# SExtractor keys mapped onto DetectionParams fields.
_KEY_TO_FIELD: Final[dict[str, str]] = {
    "DETECT_THRESH": "detect_thresh",
    "ANALYSIS_THRESH": "analysis_thresh",
    "THRESH_TYPE": "thresh_type",
    "DETECT_MINAREA": "detect_minarea",
    "FILTER": "filter",
    "FILTER_NAME": "filter_name",
    "DEBLEND_NTHRESH": "deblend_nthresh",
    "DEBLEND_MINCONT": "deblend_mincont",
    "CLEAN": "clean",
    "CLEAN_PARAM": "clean_param",
    "PHOT_AUTOPARAMS": "phot_autoparams",
    "PHOT_AUTOAPERS": "phot_autoapers",
    "PHOT_PETROPARAMS": "phot_petroparams",
    "SATUR_LEVEL": "satur_level",
    "SATUR_KEY": "satur_key",
    "MAG_ZEROPOINT": "mag_zeropoint",
    "GAIN": "gain",
    "GAIN_KEY": "gain_key",
    "BACK_TYPE": "back_type",
    "BACK_VALUE": "back_value",
    "BACK_SIZE": "back_size",
    "BACK_FILTERSIZE": "back_filtersize",
    "BACK_FILTTHRESH": "back_filtthresh",
    "MEMORY_PIXSTACK": "pixstack",
    "PHOT_APERTURES": "phot_apertures",
    "PHOT_FLUXFRAC": "phot_fluxfrac",
    "PIXEL_SCALE": "pixel_scale",
    "SEEING_FWHM": "seeing_fwhm",
    "CHECKIMAGE_TYPE": "checkimage_type",
    "CHECKIMAGE_NAME": "checkimage_name",
    "WEIGHT_TYPE": "weight_type",
    "WEIGHT_IMAGE": "weight_image",
    "WEIGHT_GAIN": "weight_gain",
    "WEIGHT_THRESH": "weight_thresh",
    "RESCALE_WEIGHTS": "rescale_weights",
    "FLAG_IMAGE": "flag_image",
    "FLAG_TYPE": "flag_type",
    "BACKPHOTO_TYPE": "backphoto_type",
    "BACKPHOTO_THICK": "backphoto_thick",
    "MEMORY_BUFSIZE": "memory_bufsize",
    "STARNNW_NAME": "starnnw_name",
}

SETTABLE_KEYS: Final[tuple[str, ...]] = tuple(_KEY_TO_FIELD)
"""SExtractor keys accepted by :meth:`DetectionParams.with_overrides` (CLI ``--set``)."""

# Keys with no effect on the catalogue canfar-tui writes (output control, features that
# only matter for columns we do not compute, memory tuning): accepted silently.
_HARMLESS_KEYS: Final[frozenset[str]] = frozenset(
    {
        "CATALOG_NAME",
        "CATALOG_TYPE",
        "PARAMETERS_NAME",
        "VERBOSE_TYPE",
        "HEADER_SUFFIX",
        "WRITE_XML",
        "XML_NAME",
        "XSL_URL",
        "NTHREADS",
        "FITS_UNSIGNED",
        "MEMORY_OBJSTACK",
        "MAG_GAMMA",
        "ASSOC_NAME",
        "ASSOC_DATA",
        "ASSOC_PARAMS",
        "ASSOC_RADIUS",
        "ASSOC_TYPE",
        "ASSOCSELEC_TYPE",
        "INTERP_MAXXLAG",
        "INTERP_MAXYLAG",
        "INTERP_TYPE",
        "MASK_TYPE",
        "PSF_NAME",
        "PSF_NMAX",
        "PATTERN_TYPE",
        "SOM_NAME",
        "DETECT_TYPE",
        "FILTER_THRESH",
    }
)

# Harmless keys that do change results when they leave their default value.
_NEUTRAL_VALUES: Final[dict[str, tuple[str, ...]]] = {
    "DETECT_TYPE": ("CCD",),
    "FILTER_THRESH": ("",),
    "INTERP_TYPE": ("ALL", "NONE", "VAR_ONLY"),
}

CHECKIMAGE_TYPES: Final[tuple[str, ...]] = (
    "NONE",
    "BACKGROUND",
    "BACKGROUND_RMS",
    "MINIBACKGROUND",
    "MINIBACK_RMS",
    "-BACKGROUND",
    "FILTERED",
    "OBJECTS",
    "-OBJECTS",
    "SEGMENTATION",
    "APERTURES",
)
"""The CHECKIMAGE_TYPE values canfar-tui writes (see :mod:`canfar_tui.detection.checkimages`)."""

_CATALOG_TYPES: Final[dict[str, CatalogueFormat]] = {
    "ASCII_HEAD": "ascii_head",
    "ASCII": "ascii",
    "ASCII_SKYCAT": "ascii_skycat",
    "FITS_1.0": "fits",
    "FITS_LDAC": "fits_ldac",
}


_COLUMN_SPEC: Final = re.compile(r"([A-Z][A-Z0-9_]*)(?:\(\s*(\d+(?:\s*,\s*\d+)*)\s*\))?")
"""A ``.param`` line's column: ``NAME`` or ``NAME(n)`` (``VIGNET(15,15)``)."""


def _size_fits(info: ColumnInfo | None, size: str | None) -> bool:
    """Whether a ``.param`` size suits the column: ``(n)`` for vectors, ``(w,h)`` for stamps."""
    if info is None:
        return False
    if info.vector == "stamp":  # a bare VIGNET is a 1 x 1 stamp, as in SExtractor
        return size is None or size.count(",") == 1
    return size is None or (bool(info.vector) and "," not in size)


def _fail(message: str) -> ParamError:
    return ParamError(message)


# ----------------------------------------------------------------------------- value parsing


def _parse_float(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _fail(f"{key}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise _fail(f"{key}: expected a finite number, got {raw!r}")
    return value


def _parse_int(key: str, raw: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        raise _fail(f"{key}: expected an integer, got {raw!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise _fail(f"{key}: expected an integer, got {raw!r}")
    return int(value)


def _parse_bool(key: str, raw: str) -> bool:
    value = raw.strip().upper()
    if value in ("Y", "YES", "T", "TRUE", "1"):
        return True
    if value in ("N", "NO", "F", "FALSE", "0"):
        return False
    raise _fail(f"{key}: expected Y or N, got {raw!r}")


def _split_list(raw: str) -> list[str]:
    return [p for p in re.split(r"[,\s]+", raw.strip()) if p]


def _parse_float_pair(key: str, raw: str) -> tuple[float, float]:
    parts = _split_list(raw)
    if len(parts) not in (1, 2):
        raise _fail(f"{key}: expected one or two numbers, got {raw!r}")
    values = [_parse_float(key, p) for p in parts]
    return (values[0], values[-1])


def _parse_int_pair(key: str, raw: str) -> tuple[int, int]:
    parts = _split_list(raw)
    if len(parts) not in (1, 2):
        raise _fail(f"{key}: expected one or two integers, got {raw!r}")
    values = [_parse_int(key, p) for p in parts]
    return (values[0], values[-1])


def _parse_choice(key: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().upper()
    if value not in choices:
        raise _fail(f"{key}: expected one of {', '.join(choices)}, got {raw!r}")
    return value


# ----------------------------------------------------------------------------- the dataclass


@dataclass(frozen=True)
class DetectionParams:
    """Everything that changes the catalogue; defaults are SExtractor's ``default.sex``.

    Field names are the SExtractor keys in lower case (``MEMORY_PIXSTACK`` is ``pixstack``).
    ``filter_kernel`` holds the kernel rows as read from ``filter_name`` (normalised by
    the engine when ``filter_norm`` is true, like ``CONV NORM``). ``columns`` is the output
    column list (a ``.param`` file). ``warnings`` lists what was ignored while reading a
    ``.sex`` file; it does not take part in comparisons.
    """

    detect_thresh: float = 1.5
    analysis_thresh: float = 1.5
    """SExtractor's ANALYSIS_THRESH (1.5 unless set, whatever DETECT_THRESH is): THRESHOLD and
    ISOAREA_IMAGE are measured at it."""
    thresh_type: Literal["RELATIVE", "ABSOLUTE"] = "RELATIVE"
    detect_minarea: int = 3
    filter: bool = True
    filter_name: str = "default.conv"
    filter_kernel: tuple[tuple[float, ...], ...] = DEFAULT_CONV
    filter_norm: bool = True
    deblend_nthresh: int = 32
    deblend_mincont: float = 0.005
    clean: bool = True
    clean_param: float = 1.0
    phot_autoparams: tuple[float, float] = (2.5, 3.5)
    phot_autoapers: tuple[float, float] = (0.0, 0.0)
    phot_petroparams: tuple[float, float] = (2.0, 3.5)
    satur_level: float = 50000.0
    satur_key: str = "SATURATE"
    mag_zeropoint: float = 0.0
    gain: float = 0.0
    gain_key: str = "GAIN"
    back_type: Literal["AUTO", "MANUAL"] = "AUTO"
    back_value: float = 0.0
    back_size: tuple[int, int] = (64, 64)
    back_filtersize: tuple[int, int] = (3, 3)
    back_filtthresh: float = 0.0
    pixstack: int = 300000
    phot_apertures: tuple[float, ...] = (5.0,)
    phot_fluxfrac: tuple[float, ...] = (0.5,)
    pixel_scale: float = 1.0
    seeing_fwhm: float = 1.2
    checkimage_type: tuple[str, ...] = ("NONE",)
    checkimage_name: tuple[str, ...] = ("check.fits",)
    """CHECKIMAGE_NAME: relative names are taken from the current directory when a run starts."""
    checkimage_parts: tuple[str, ...] = field(default=(), compare=False)
    """Set by the runner for one run: the hidden folder beside each CHECKIMAGE_NAME where the
    workers put their extension's pixels (:mod:`canfar_tui.detection.checkimages`)."""
    weight_type: Literal["NONE", "BACKGROUND", "MAP_RMS", "MAP_VAR", "MAP_WEIGHT"] = "NONE"
    weight_image: str = "weight.fits"
    weight_gain: bool = True
    weight_thresh: float | None = None
    """Bad-pixel threshold in the weight map's own units; None is SExtractor's default (0 for
    MAP_WEIGHT, none for the others)."""
    rescale_weights: bool = True
    flag_image: str = "flag.fits"
    """Read only when IMAFLAGS_ISO or NIMAFLAGS_ISO are asked for, as in SExtractor."""
    flag_type: Literal["OR", "AND", "MIN", "MAX", "MOST"] = "OR"
    backphoto_type: Literal["GLOBAL", "LOCAL"] = "GLOBAL"
    backphoto_thick: int = 24
    memory_bufsize: int = 1024
    starnnw_name: str = "default.nnw"
    """The neural network of CLASS_STAR (read when CLASS_STAR is asked for)."""
    starnnw_dir: str = field(default="", compare=False, repr=False)
    """The ``.sex`` file's folder, where STARNNW_NAME is also looked for."""
    starnnw: NeuralNetwork | None = field(default=None, compare=False, repr=False)
    """STARNNW_NAME's network, read as soon as CLASS_STAR is among the columns."""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    column_sizes: tuple[tuple[str, int], ...] = ()
    """Vector columns and their length (``MAG_APER(3)`` in a ``.param`` file); 1 if absent."""
    column_dims: tuple[tuple[str, tuple[int, int]], ...] = ()
    """2-D stamp columns and their (width, height): ``VIGNET(15,15)``."""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        self.validate()
        if "CLASS_STAR" in self.columns and self.starnnw is None:
            # Read once, when CLASS_STAR is first asked for: copies made by replace() keep it.
            object.__setattr__(self, "starnnw", self._read_starnnw())

    def _read_starnnw(self) -> NeuralNetwork:
        from canfar_tui.detection.nnw import NnwError, read_nnw_file

        folder = Path(self.starnnw_dir) if self.starnnw_dir else None
        try:
            path = _find_file(self.starnnw_name, folder)
            network = read_nnw_file(path)
        except ParamError as exc:
            raise _fail(f"STARNNW_NAME {exc}") from None
        except NnwError as exc:
            raise _fail(f"STARNNW_NAME {exc}") from None
        if network.n_inputs != 10 or network.n_outputs != 1:
            raise _fail(
                f"STARNNW_NAME {path}: CLASS_STAR needs a network with 10 inputs and 1 output, "
                f"this one has {network.n_inputs} and {network.n_outputs}"
            )
        return network

    # -- validation ---------------------------------------------------------------------

    def validate(self) -> None:
        """Raise :class:`ParamError` (one line) when a value is out of range."""
        if not self.detect_thresh > 0:
            raise _fail(f"DETECT_THRESH must be > 0, got {self.detect_thresh:g}")
        if not self.analysis_thresh > 0:
            raise _fail(f"ANALYSIS_THRESH must be > 0, got {self.analysis_thresh:g}")
        if self.detect_minarea < 1:
            raise _fail(f"DETECT_MINAREA must be >= 1, got {self.detect_minarea}")
        if not 1 <= self.deblend_nthresh <= 64:
            raise _fail(f"DEBLEND_NTHRESH must be in 1..64, got {self.deblend_nthresh}")
        if not 0.0 <= self.deblend_mincont <= 1.0:
            raise _fail(f"DEBLEND_MINCONT must be in [0, 1], got {self.deblend_mincont:g}")
        if not self.clean_param > 0:
            raise _fail(f"CLEAN_PARAM must be > 0, got {self.clean_param:g}")
        kfact, kmin = self.phot_autoparams
        if not (kfact > 0 and kmin >= 0):
            raise _fail("PHOT_AUTOPARAMS must be <Kron_fact> > 0, <min_radius> >= 0")
        pfact, pmin = self.phot_petroparams
        if not (0 < pfact <= 10 and 0 <= pmin <= 10):
            raise _fail(
                "PHOT_PETROPARAMS must be <Petrosian_fact> in (0, 10], <min_radius> in [0, 10]"
            )
        if min(self.phot_autoapers) < 0:
            raise _fail("PHOT_AUTOAPERS must be >= 0")
        if not self.satur_level > 0:
            raise _fail(f"SATUR_LEVEL must be > 0, got {self.satur_level:g}")
        if self.gain < 0:
            raise _fail(f"GAIN must be >= 0, got {self.gain:g}")
        if min(self.back_size) < 1:
            raise _fail(f"BACK_SIZE must be >= 1, got {self.back_size}")
        if min(self.back_filtersize) < 1 or max(self.back_filtersize) > 11:
            raise _fail(f"BACK_FILTERSIZE must be in 1..11, got {self.back_filtersize}")
        if self.pixstack < 1000:
            raise _fail(f"MEMORY_PIXSTACK must be >= 1000, got {self.pixstack}")
        kernel = self.filter_kernel
        if not kernel or any(len(row) != len(kernel[0]) for row in kernel):
            raise _fail(f"{self.filter_name}: filter kernel rows must all have the same length")
        if len(kernel) % 2 == 0 or len(kernel[0]) % 2 == 0:
            raise _fail(f"{self.filter_name}: filter kernel must have odd dimensions")
        if not self.phot_apertures or min(self.phot_apertures) <= 0:
            raise _fail("PHOT_APERTURES must be diameters > 0")
        if not self.phot_fluxfrac or not all(0 < f <= 1 for f in self.phot_fluxfrac):
            raise _fail("PHOT_FLUXFRAC must be fractions in (0, 1]")
        if self.pixel_scale < 0:
            raise _fail(f"PIXEL_SCALE must be >= 0, got {self.pixel_scale:g}")
        if not self.seeing_fwhm > 0:
            raise _fail(f"SEEING_FWHM must be > 0, got {self.seeing_fwhm:g}")
        bad_checks = [t for t in self.checkimage_type if t not in CHECKIMAGE_TYPES]
        if bad_checks:
            raise _fail(
                f"CHECKIMAGE_TYPE {', '.join(bad_checks)}: not supported "
                f"(supported: {', '.join(CHECKIMAGE_TYPES)})"
            )
        if len(self.checkimage_name) < len(self.checkimage_type):
            raise _fail(
                f"CHECKIMAGE_NAME: {len(self.checkimage_name)} name(s) for "
                f"{len(self.checkimage_type)} CHECKIMAGE_TYPE(s)"
            )
        if self.backphoto_thick < 1:
            raise _fail(f"BACKPHOTO_THICK must be >= 1, got {self.backphoto_thick}")
        if not 8 <= self.memory_bufsize <= 65534:
            raise _fail(f"MEMORY_BUFSIZE must be in 8..65534, got {self.memory_bufsize}")
        if self.weight_thresh is not None and self.weight_thresh < 0:
            raise _fail(f"WEIGHT_THRESH must be >= 0, got {self.weight_thresh:g}")
        if not self.columns:
            raise _fail("no output columns")
        unknown = [c for c in self.columns if c not in COLUMN_INFO]
        if unknown:
            raise _fail(f"unsupported output column(s): {', '.join(unknown)}")

    # -- builders -------------------------------------------------------------------------

    @classmethod
    def from_sex_file(
        cls, path: str | os.PathLike[str], *, base: DetectionParams | None = None
    ) -> DetectionParams:
        """Read a SExtractor configuration file (``default.sex`` syntax).

        Supported keys set the corresponding fields; ``FILTER_NAME`` (and ``STARNNW_NAME``,
        read when CLASS_STAR is among the columns) is looked for in the current directory,
        then the ``.sex`` file's directory, then the system ``source-extractor`` share
        directory. Unsupported keys set to non-default values end
        up in :attr:`warnings`. ``PARAMETERS_NAME`` is *not* read here (see
        :func:`sex_parameters_name`).
        """
        path = Path(path)
        values, warnings = parse_sex_file(path)
        params = (base or cls()).with_overrides(values, _config_dir=path.parent, _strict=False)
        return replace(params, warnings=(*params.warnings, *warnings))

    def with_overrides(
        self,
        values: Mapping[str, object],
        *,
        _config_dir: Path | None = None,
        _strict: bool = True,
    ) -> DetectionParams:
        """Return a copy with SExtractor keys set from ``values`` (strings or numbers).

        Keys are case-insensitive SExtractor names (``DETECT_THRESH``) or field names
        (``detect_thresh``). Raises :class:`ParamError` on unknown keys and bad values.
        """
        changes: dict[str, Any] = {}
        warnings: list[str] = list(self.warnings)
        field_names = {f.name for f in fields(self)}
        for raw_key, raw_value in values.items():
            key = raw_key.strip().upper()
            if key not in _KEY_TO_FIELD and raw_key.strip().lower() in field_names:
                key = next(
                    (k for k, v in _KEY_TO_FIELD.items() if v == raw_key.strip().lower()), key
                )
            text = _to_text(raw_value)
            if key in _KEY_TO_FIELD:
                changes.update(self._convert(key, text, _config_dir))
            elif _strict:
                raise _fail(
                    f"unknown or unsupported parameter {raw_key!r} "
                    f"(settable: {', '.join(SETTABLE_KEYS)})"
                )
            else:
                note = _unsupported_note(key, text)
                if note:
                    warnings.append(note)
        changes["warnings"] = tuple(warnings)
        try:
            return replace(self, **changes)
        except TypeError as exc:  # pragma: no cover - a programming error, not user input
            raise _fail(str(exc)) from None

    def with_columns(self, columns: Iterable[str]) -> DetectionParams:
        """Return a copy writing ``columns`` (validated against :data:`COLUMN_INFO`).

        Vector columns may carry their length as in a ``.param`` file: ``MAG_APER(3)``.
        """
        names: list[str] = []
        sizes: list[tuple[str, int]] = []
        dims: list[tuple[str, tuple[int, int]]] = []
        bad: list[str] = []
        for text in columns:
            spec = text.strip().upper()
            match = _COLUMN_SPEC.fullmatch(spec)
            if match is None:
                bad.append(spec)
                continue
            name, size = match.group(1), match.group(2)
            info = COLUMN_INFO.get(name)
            if not _size_fits(info, size):
                bad.append(spec)
                continue
            if name in names:
                continue
            names.append(name)
            if info is not None and info.vector == "stamp" and size is not None:
                w, h = (int(v) for v in size.split(","))
                dims.append((name, (w, h)))
                sizes.append((name, w * h))
            elif size is not None and int(size) != 1:
                sizes.append((name, int(size)))
        unknown = [n for n in names if n not in COLUMN_INFO]
        if bad or unknown:
            raise _fail(f"unsupported output column(s): {', '.join([*unknown, *bad])}")
        if any(size < 1 for _, size in sizes):
            raise _fail("vector column sizes must be >= 1")
        return replace(
            self, columns=tuple(names), column_sizes=tuple(sizes), column_dims=tuple(dims)
        )

    @property
    def check_images(self) -> tuple[tuple[str, str], ...]:
        """(CHECKIMAGE_TYPE, CHECKIMAGE_NAME) pairs to write; empty for NONE (the default)."""
        return tuple(
            (kind, name)
            for kind, name in zip(self.checkimage_type, self.checkimage_name, strict=False)
            if kind != "NONE"
        )

    def column_size(self, name: str) -> int:
        """How many values the column ``name`` holds (1 for scalars; w × h for stamps)."""
        return dict(self.column_sizes).get(name, 1)

    def column_dim(self, name: str) -> tuple[int, int]:
        """The (width, height) of a stamp column such as ``VIGNET(15,15)``."""
        return dict(self.column_dims).get(name, (1, 1))

    # -- helpers ------------------------------------------------------------------------

    def _convert(self, key: str, text: str, config_dir: Path | None) -> dict[str, Any]:
        name = _KEY_TO_FIELD[key]
        if key in ("DETECT_THRESH", "ANALYSIS_THRESH"):
            parts = _split_list(text)
            if len(parts) != 1:
                raise _fail(
                    f"{key}: only a threshold in sigmas (or ADU with THRESH_TYPE ABSOLUTE) "
                    f"is supported, got {text!r}"
                )
            return {name: _parse_float(key, parts[0])}
        if key in _WEIGHT_KEYS:
            return _convert_weight_key(key, name, text)
        if key in ("DETECT_MINAREA", "DEBLEND_NTHRESH", "MEMORY_PIXSTACK", "MEMORY_BUFSIZE"):
            return {name: _parse_int(key, text)}
        if key in (
            "DEBLEND_MINCONT",
            "CLEAN_PARAM",
            "SATUR_LEVEL",
            "MAG_ZEROPOINT",
            "GAIN",
            "BACK_VALUE",
            "BACK_FILTTHRESH",
        ):
            parts = _split_list(text) or [""]
            return {name: _parse_float(key, parts[0])}
        if key in ("FILTER", "CLEAN"):
            return {name: _parse_bool(key, text)}
        if key in ("PIXEL_SCALE", "SEEING_FWHM"):
            parts = _split_list(text) or [""]
            return {name: _parse_float(key, parts[0])}
        if key in ("PHOT_APERTURES", "PHOT_FLUXFRAC"):
            parts = _split_list(text)
            if not parts:
                raise _fail(f"{key}: expected one or more numbers, got {text!r}")
            return {name: tuple(_parse_float(key, p) for p in parts)}
        if key in ("PHOT_AUTOPARAMS", "PHOT_AUTOAPERS", "PHOT_PETROPARAMS"):
            return {name: _parse_float_pair(key, text)}
        if key in ("BACK_SIZE", "BACK_FILTERSIZE"):
            return {name: _parse_int_pair(key, text)}
        if key == "CHECKIMAGE_TYPE":
            kinds = tuple(p.upper() for p in _split_list(text)) or ("NONE",)
            return {name: kinds}
        if key == "CHECKIMAGE_NAME":
            names = _split_list(text)
            if not names:
                raise _fail(f"{key}: expected one or more file names, got {text!r}")
            return {name: tuple(names)}
        if key == "THRESH_TYPE":
            return {name: _parse_choice(key, text, ("RELATIVE", "ABSOLUTE"))}
        if key == "BACK_TYPE":
            return {name: _parse_choice(key, text, ("AUTO", "MANUAL"))}
        if key in ("SATUR_KEY", "GAIN_KEY"):
            value = text.strip().upper()
            if not value or len(value) > 8:
                raise _fail(f"{key}: expected a FITS keyword, got {text!r}")
            return {name: value}
        if key == "STARNNW_NAME":
            name = text.strip()
            if not name:
                raise _fail(f"{key}: expected a file name")
            folder = str(config_dir) if config_dir is not None else ""
            return {"starnnw_name": name, "starnnw_dir": folder, "starnnw": None}
        if key == "FILTER_NAME":
            conv = _find_file(text.strip(), config_dir)
            kernel, norm = read_conv_file(conv)
            return {"filter_name": text.strip(), "filter_kernel": kernel, "filter_norm": norm}
        raise _fail(f"unsupported parameter {key}")  # pragma: no cover

    @property
    def catalogue_columns(self) -> tuple[str, ...]:
        """The output columns (alias of :attr:`columns`)."""
        return self.columns

    def describe(self) -> dict[str, str]:
        """SExtractor key → value text, for display in forms and catalogue headers."""
        out: dict[str, str] = {}
        for key, name in _KEY_TO_FIELD.items():
            value = getattr(self, name)
            if value is None:
                out[key] = ""
            elif isinstance(value, bool):
                out[key] = "Y" if value else "N"
            elif isinstance(value, tuple):
                out[key] = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
            elif isinstance(value, float):
                out[key] = f"{value:g}"
            else:
                out[key] = str(value)
        return out


_WEIGHT_KEYS: Final[frozenset[str]] = frozenset(
    {
        "WEIGHT_TYPE",
        "WEIGHT_IMAGE",
        "WEIGHT_GAIN",
        "WEIGHT_THRESH",
        "RESCALE_WEIGHTS",
        "FLAG_IMAGE",
        "FLAG_TYPE",
        "BACKPHOTO_TYPE",
        "BACKPHOTO_THICK",
    }
)


def _same_pair(key: str, text: str) -> str:
    """A one-or-two-value key (detection, measurement): canfar-tui has one image for both."""
    parts = _split_list(text)
    if len(parts) > 2 or (len(parts) == 2 and parts[0].upper() != parts[1].upper()):
        raise _fail(
            f"{key}: one value for detection and measurement is supported, got {text.strip()!r}"
        )
    return parts[0] if parts else ""


def _convert_weight_key(key: str, name: str, text: str) -> dict[str, Any]:
    """WEIGHT_*, FLAG_* and BACKPHOTO_* values."""
    if key == "WEIGHT_TYPE":
        value = _same_pair(key, text) or "NONE"
        choices = ("NONE", "BACKGROUND", "MAP_RMS", "MAP_VAR", "MAP_WEIGHT")
        return {name: _parse_choice(key, value, choices)}
    if key in ("WEIGHT_IMAGE", "FLAG_IMAGE"):
        value = _same_pair(key, text) if key == "WEIGHT_IMAGE" else text.strip()
        if key == "FLAG_IMAGE" and len(_split_list(value)) > 1:
            raise _fail(f"{key}: one flag image is supported, got {text.strip()!r}")
        if not value:
            raise _fail(f"{key}: expected a file name")
        return {name: value}
    if key in ("WEIGHT_GAIN", "RESCALE_WEIGHTS"):
        return {name: _parse_bool(key, _same_pair(key, text))}
    if key == "WEIGHT_THRESH":
        value = _same_pair(key, text)
        return {name: _parse_float(key, value) if value else None}
    if key == "FLAG_TYPE":
        parts = _split_list(text)
        if len(parts) != 1:
            raise _fail(f"{key}: one flag type is supported, got {text.strip()!r}")
        return {name: _parse_choice(key, parts[0], ("OR", "AND", "MIN", "MAX", "MOST"))}
    if key == "BACKPHOTO_TYPE":
        return {name: _parse_choice(key, text, ("GLOBAL", "LOCAL"))}
    return {name: _parse_int(key, text)}  # BACKPHOTO_THICK


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _unsupported_note(key: str, text: str) -> str | None:
    if key in _NEUTRAL_VALUES:
        if text.strip().upper() in _NEUTRAL_VALUES[key]:
            return None
        default = _NEUTRAL_VALUES[key][0] or "none"
        return f"{key} {text.strip()} is not supported (canfar-tui uses {default})"
    if key in _HARMLESS_KEYS:
        return None
    return f"{key} is not supported and was ignored"


def _find_file(name: str, config_dir: Path | None, *, share: bool = True) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
        raise _fail(f"{name}: file not found")
    search = [Path.cwd()]
    if config_dir is not None:
        search.append(config_dir)
    if share:
        search.extend(Path(d) for d in SHARE_DIRS)
    for directory in search:
        path = directory / candidate
        if path.is_file():
            return path
    where = "the current directory" + (", next to the .sex file" if config_dir else "")
    if share:
        where += f" and {SHARE_DIRS[0]}"
    raise _fail(f"{name}: file not found (looked in {where})")


# ----------------------------------------------------------------------------- file readers


#: Largest .sex / .param / .conv file read (source-extractor's own are a few kB).
MAX_TEXT_FILE_BYTES = 1024 * 1024


def _read_text(path: Path, what: str) -> str:
    from canfar_tui.clients.files import UnreadableFile, read_bounded

    try:
        data = read_bounded(path, MAX_TEXT_FILE_BYTES, what)
    except UnreadableFile as exc:
        raise _fail(str(exc)) from None
    if b"\x00" in data[:4096]:
        raise _fail(f"{path}: not a text {what} (binary content)")
    return data.decode("utf-8", errors="replace")


def parse_sex_file(path: str | os.PathLike[str]) -> tuple[dict[str, str], list[str]]:
    """Read ``KEY value  # comment`` lines of a ``.sex`` file: (values, warnings)."""
    path = Path(path)
    text = _read_text(path, "SExtractor configuration")
    values: dict[str, str] = {}
    warnings: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        parts = stripped.split(None, 1)
        key = parts[0].upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_.]*", key):
            raise _fail(f"{path}:{lineno}: not a configuration line: {line.strip()!r}")
        values[key] = parts[1].strip() if len(parts) > 1 else ""
    return values, warnings


def sex_parameters_name(path: str | os.PathLike[str]) -> str | None:
    """The ``PARAMETERS_NAME`` of a ``.sex`` file, if set."""
    values, _ = parse_sex_file(path)
    name = values.get("PARAMETERS_NAME", "").strip()
    return name or None


def sex_catalogue_format(path: str | os.PathLike[str]) -> CatalogueFormat | None:
    """The output format a ``.sex`` file's ``CATALOG_TYPE`` asks for, when we write it."""
    values, _ = parse_sex_file(path)
    value = values.get("CATALOG_TYPE", "").strip().upper()
    return _CATALOG_TYPES.get(value)


def find_param_file(name: str, sex_path: str | os.PathLike[str] | None = None) -> Path:
    """Locate a ``.param`` file like SExtractor (cwd), then next to the ``.sex`` file."""
    return _find_file(name, Path(sex_path).parent if sex_path is not None else None, share=False)


_LEADING_SIZE: Final = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)")


def param_line_spec(line: str) -> str | None:
    """The column one ``.param`` line names (upper case), or None for a blank or comment line.

    SExtractor reads the first word and ignores the rest of the line (``-dp`` listings put the
    description there, some starting with "(": ``POLAR_IMAGE  (A_IMAGE^2 - …)``); a size
    written with spaces right after the name is accepted too: ``MAG_APER ( 3 )`` is
    ``MAG_APER(3)``.
    """
    stripped = line.split("#", 1)[0].strip()
    if not stripped:
        return None
    sized = _LEADING_SIZE.match(stripped)
    if sized is not None:
        size = re.sub(r"\s+", "", sized.group(2))
        return f"{sized.group(1)}({size})".upper()
    return stripped.split()[0].upper()


def read_param_file(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read a SExtractor ``.param`` file: one column name per line, ``#`` comments.

    Raises :class:`ParamError` naming every column canfar-tui cannot compute (vector
    columns like ``FLUX_APER(3)`` included), and when no column is left.
    """
    path = Path(path)
    text = _read_text(path, "parameter file")
    columns: list[str] = []
    unsupported: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        spec = param_line_spec(line)
        if spec is None:
            continue
        match = _COLUMN_SPEC.fullmatch(spec)
        name = match.group(1) if match else spec
        info = COLUMN_INFO.get(name)
        if match is None or not _size_fits(info, match.group(2)):
            unsupported.append(spec)
        elif name not in seen:
            seen.add(name)
            columns.append(spec)
    if unsupported:
        raise _fail(f"{path}: unsupported column(s): {', '.join(unsupported)}")
    if not columns:
        raise _fail(f"{path}: no columns listed (every line is empty or commented out)")
    return tuple(columns)


def read_conv_file(path: str | os.PathLike[str]) -> tuple[tuple[tuple[float, ...], ...], bool]:
    """Read a SExtractor ``.conv`` filter: (kernel rows, normalise?)."""
    path = Path(path)
    text = _read_text(path, "filter file")
    rows: list[tuple[float, ...]] = []
    norm = True
    seen_header = False
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        upper = stripped.upper()
        if upper.startswith("CONV"):
            seen_header = True
            norm = "NONORM" not in upper
            continue
        try:
            rows.append(tuple(float(v) for v in stripped.split()))
        except ValueError:
            raise _fail(f"{path}: not a SExtractor filter file (line {stripped!r})") from None
    if not seen_header or not rows:
        raise _fail(f"{path}: not a SExtractor filter file (needs a CONV line and kernel rows)")
    return tuple(rows), norm
