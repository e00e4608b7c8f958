"""Progress events and results of a detection run (plain dataclasses, no heavy imports).

:func:`canfar_tui.detection.run_detection` yields, for one image, in this order:

1. :class:`ImageOpened` — the image extensions that will be processed (``extensions``) and
   the HDUs that will not (``skipped``, with the reason), so a UI can draw its grid;
2. for each extension, :class:`ExtensionStarted` then either :class:`ExtensionFinished`
   (source count, timing) or :class:`ExtensionFailed` (a one-line reason; the other
   extensions go on);
3. exactly one of :class:`ImageFinished` (carrying the :class:`DetectionResult`),
   :class:`ImageFailed` (the file cannot be used at all, or no extension gave a
   catalogue) or :class:`ImageCancelled`.

``ProgressEvent`` is the union of these classes; match on the class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from canfar_tui.detection.params import DetectionParams

__all__ = [
    "AsciiRows",
    "DetectionResult",
    "ExtensionFailed",
    "ExtensionFinished",
    "ExtensionInfo",
    "ExtensionResult",
    "ExtensionStarted",
    "ImageCancelled",
    "ImageFailed",
    "ImageFinished",
    "ImageOpened",
    "ProgressEvent",
]


@dataclass(frozen=True)
class ExtensionInfo:
    """A 2-D image HDU of the input file.

    ``ext_number`` is SExtractor's ``EXT_NUMBER`` (1-based count of image HDUs that hold
    data); ``hdu_index`` is the 0-based HDU position in the file; ``name`` is ``EXTNAME``
    (or ``HDU<n>``).
    """

    ext_number: int
    hdu_index: int
    name: str
    shape: tuple[int, ...]
    bitpix: int
    compressed: bool
    header_offset: int
    data_offset: int
    data_size: int

    @property
    def label(self) -> str:
        """A short label for messages: ``ccd07 (ext 8)``."""
        return f"{self.name} (ext {self.ext_number})"


@dataclass(frozen=True)
class ImageOpened:
    """The file was read; ``extensions`` will be processed, ``skipped`` will not."""

    path: str
    extensions: tuple[ExtensionInfo, ...]
    skipped: tuple[str, ...] = ()
    kind: Literal["image_opened"] = "image_opened"


@dataclass(frozen=True)
class ExtensionStarted:
    """A worker started on one extension (``index`` of ``total``, 0-based)."""

    path: str
    extension: ExtensionInfo
    index: int
    total: int
    kind: Literal["extension_started"] = "extension_started"


@dataclass(frozen=True)
class ExtensionFinished:
    """One extension is done: ``n_sources`` detections in ``seconds`` of worker time."""

    path: str
    extension: ExtensionInfo
    n_sources: int
    seconds: float
    done: int
    total: int
    kind: Literal["extension_finished"] = "extension_finished"


@dataclass(frozen=True)
class ExtensionFailed:
    """One extension could not be processed; ``message`` is one line. Others go on."""

    path: str
    extension: ExtensionInfo
    message: str
    done: int
    total: int
    kind: Literal["extension_failed"] = "extension_failed"


@dataclass(frozen=True)
class ImageFinished:
    """All extensions are done; ``result`` holds the catalogue."""

    path: str
    result: DetectionResult
    kind: Literal["image_finished"] = "image_finished"


@dataclass(frozen=True)
class ImageFailed:
    """The image gave no catalogue; ``message`` is one line (no traceback)."""

    path: str
    message: str
    kind: Literal["image_failed"] = "image_failed"


@dataclass(frozen=True)
class ImageCancelled:
    """The run was cancelled through its ``cancel_event``; nothing is written."""

    path: str
    kind: Literal["image_cancelled"] = "image_cancelled"


ProgressEvent = (
    ImageOpened
    | ExtensionStarted
    | ExtensionFinished
    | ExtensionFailed
    | ImageFinished
    | ImageFailed
    | ImageCancelled
)


@dataclass(frozen=True)
class ExtensionResult:
    """Per-extension outcome: counts, background statistics, timing, or the error."""

    extension: ExtensionInfo
    n_sources: int = 0
    seconds: float = 0.0
    background: float = float("nan")
    rms: float = float("nan")
    threshold: float = float("nan")
    gain: float = 0.0
    saturation: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    check_parts: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)
    """CHECKIMAGE_NAME → (part file, header) until the runner joins them (checkimages.py)."""

    @property
    def ok(self) -> bool:
        """True when the extension produced a (possibly empty) catalogue."""
        return self.error is None


@dataclass(frozen=True)
class AsciiRows:
    """A catalogue's rows already formatted as SExtractor ASCII text, one part per extension.

    The workers format their extension's rows while the other extensions still run
    (:meth:`canfar_tui.detection.runner.DetectionRunner.run` with ``ascii_separator``), so
    that writing an ASCII catalogue at the end is only joining and writing text.
    ``columns`` and ``separator`` are what the text was formatted with; ``n_rows`` the number
    of rows it holds.
    """

    columns: tuple[str, ...]
    separator: str
    parts: tuple[str, ...]
    n_rows: int


@dataclass
class DetectionResult:
    """The catalogue of one image and how it was made.

    ``catalogue`` is a numpy structured array with one field per name in
    :data:`canfar_tui.detection.params.COLUMN_INFO` (all computed columns, whatever
    ``params.columns`` says; the writers select ``params.columns``), ordered by
    ``EXT_NUMBER`` then ``NUMBER`` (``NUMBER`` restarts at 1 in each extension).
    """

    path: str
    params: DetectionParams
    extensions: list[ExtensionResult]
    catalogue: npt.NDArray[np.void]
    seconds: float
    skipped: tuple[str, ...] = ()
    ascii_rows: AsciiRows | None = None
    """The rows of ``catalogue`` formatted by the workers, when the run asked for them
    (:func:`canfar_tui.detection.catalogue.write_catalogue` uses them for the ASCII formats
    when the columns and separator match). Set it to None after changing ``catalogue``."""

    @property
    def n_sources(self) -> int:
        """Total number of detections."""
        return len(self.catalogue)

    @property
    def failed(self) -> list[ExtensionResult]:
        """Extensions that were reported and skipped."""
        return [e for e in self.extensions if not e.ok]

    def counts(self) -> dict[int, int]:
        """``EXT_NUMBER`` → number of sources, for successful extensions."""
        return {e.extension.ext_number: e.n_sources for e in self.extensions if e.ok}
