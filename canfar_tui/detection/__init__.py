"""Local source detection: sep + astropy doing what ``funpack`` + ``source-extractor`` do.

Importing this package is cheap (standard library only; numpy, astropy and sep are
imported when detection runs) and never imports Textual.

Library API (everything below is importable from ``canfar_tui.detection``)::

    params = DetectionParams()                         # SExtractor default.sex
    params = DetectionParams.from_sex_file("my.sex")   # .warnings: ignored keys
    params = params.with_overrides({"DETECT_THRESH": 3, "BACK_SIZE": "128"})
    params = params.with_columns(read_param_file("default.param"))

    for event in run_detection("image.fits.fz", params, workers=None, cancel_event=stop):
        match event:
            case ImageOpened(extensions=exts): ...              # draw the grid
            case ExtensionStarted(extension=ext): ...
            case ExtensionFinished(extension=ext, n_sources=n, seconds=s): ...
            case ExtensionFailed(extension=ext, message=msg): ...
            case ImageFinished(result=result):
                write_catalogue(result, "image.cat")            # ascii_head | fits | ecsv
            case ImageFailed(message=msg) | ImageCancelled(): ...

    result = detect_image("image.fits.fz", params)    # blocking; raises DetectionError

A :class:`DetectionResult` has ``catalogue`` (numpy structured array, one field per
column of :data:`COLUMN_INFO`), ``extensions`` (per-extension :class:`ExtensionResult`:
counts, background, RMS, threshold, timings, error) and ``seconds``.
:class:`DetectionRunner` keeps worker processes alive across images.

Modules: :mod:`.params` (parameters, ``.sex``/``.param``/``.conv`` readers),
:mod:`.events` (events and results), :mod:`.runner` (parallel runner),
:mod:`.catalogue` (writers), :mod:`.reader` (FITS / ``.fz`` reading), :mod:`.engine`
(sep calls with SExtractor semantics), :mod:`.synthetic` (MegaCam-like test images),
:mod:`.cli` (``canfar-tui detect``).
"""

from __future__ import annotations

from canfar_tui.detection.catalogue import OutputError, catalogue_path_for, write_catalogue
from canfar_tui.detection.errors import DetectionError, ExtensionError, InputError
from canfar_tui.detection.events import (
    DetectionResult,
    ExtensionFailed,
    ExtensionFinished,
    ExtensionInfo,
    ExtensionResult,
    ExtensionStarted,
    ImageCancelled,
    ImageFailed,
    ImageFinished,
    ImageOpened,
    ProgressEvent,
)
from canfar_tui.detection.params import (
    CATALOGUE_FORMATS,
    COLUMN_INFO,
    DEFAULT_COLUMNS,
    SETTABLE_KEYS,
    CatalogueFormat,
    DetectionParams,
    ParamError,
    read_param_file,
)
from canfar_tui.detection.runner import (
    CancelEvent,
    DetectionRunner,
    default_workers,
    detect_image,
    run_detection,
)

__all__ = [
    "CATALOGUE_FORMATS",
    "COLUMN_INFO",
    "DEFAULT_COLUMNS",
    "SETTABLE_KEYS",
    "CancelEvent",
    "CatalogueFormat",
    "DetectionError",
    "DetectionParams",
    "DetectionResult",
    "DetectionRunner",
    "ExtensionError",
    "ExtensionFailed",
    "ExtensionFinished",
    "ExtensionInfo",
    "ExtensionResult",
    "ExtensionStarted",
    "ImageCancelled",
    "ImageFailed",
    "ImageFinished",
    "ImageOpened",
    "InputError",
    "OutputError",
    "ParamError",
    "ProgressEvent",
    "catalogue_path_for",
    "default_workers",
    "detect_image",
    "read_param_file",
    "run_detection",
    "write_catalogue",
]
