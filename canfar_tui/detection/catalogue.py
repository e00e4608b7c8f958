"""Catalogue writers: SExtractor ASCII_HEAD, FITS binary table and ECSV, written atomically.

:func:`write_catalogue` takes a :class:`~canfar_tui.detection.events.DetectionResult` (or
a bare catalogue array) and writes the columns of ``params.columns`` in that order:

* ``ascii_head`` (default) — byte-for-byte the layout ``source-extractor`` 2.25 writes
  with ``CATALOG_TYPE ASCII_HEAD``: one ``#   n NAME  description  [unit]`` line per
  column, then one line per source with SExtractor's printf formats, all extensions one
  after the other (NUMBER restarts in each, EXT_NUMBER tells them apart);
* ``fits`` — SExtractor's ``FITS_1.0``: a primary HDU with the ``SEX*`` extraction
  keywords and one binary table ``OBJECTS`` per image extension
  (:func:`canfar_tui.detection.writers.write_fits_10`);
* ``ecsv`` — astropy's ECSV with units and the parameters in the metadata;
* ``ascii``, ``ascii_skycat`` and ``fits_ldac`` (SCAMP's and PSFEx's input): SExtractor's
  layouts, see :mod:`canfar_tui.detection.writers`.

The file is written with :func:`canfar_tui.clients.files.atomic_writer`: to a temporary
name in the destination directory, then renamed over the destination, so readers never see
half a catalogue and a failure leaves nothing behind. A destination that is a device, FIFO,
socket or folder is refused; a symbolic link is written through to the file it names, as
source-extractor's ``fopen(CATALOG_NAME, "w")`` does. Problems raise :class:`OutputError`
with a one-line message.

numpy/astropy are imported inside the functions.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from canfar_tui.detection import writers
from canfar_tui.detection.errors import DetectionError
from canfar_tui.detection.events import AsciiRows, DetectionResult
from canfar_tui.detection.params import COLUMN_INFO, CatalogueFormat, DetectionParams

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "FORMAT_SUFFIX",
    "OutputError",
    "ascii_head_header",
    "catalogue_exists",
    "catalogue_path_for",
    "write_catalogue",
]

FORMAT_SUFFIX: dict[str, str] = {
    "ascii_head": ".cat",
    "ascii": ".cat",
    "ascii_skycat": ".cat",
    "fits": ".cat.fits",
    "fits_ldac": ".cat",
    "ecsv": ".ecsv",
}
"""File name suffix used for each format when the CLI names catalogues itself."""

_IMAGE_SUFFIXES = (".fits.fz", ".fit.fz", ".fts.fz", ".fits.gz", ".fz", ".fits", ".fit", ".fts")


class OutputError(DetectionError):
    """The catalogue could not be written (directory missing, permission, disk full…).

    ``disk_full``: the disk (or quota) is full, so other catalogues there would fail too.
    """

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def catalogue_path_for(
    image: str | os.PathLike[str], outdir: str | os.PathLike[str], fmt: str
) -> Path:
    """``outdir/<image name without .fits/.fz>.<suffix of fmt>`` (``1056213p.cat``)."""
    name = Path(image).name
    lower = name.lower()
    for suffix in _IMAGE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return Path(outdir) / f"{name}{FORMAT_SUFFIX[fmt]}"


def ascii_head_header(columns: Sequence[str]) -> str:
    """The ``#`` header lines SExtractor writes for ``columns`` (each ends with a newline)."""
    return writers.header_lines(columns)


@contextmanager
def _atomic(path: Path, *, text: bool) -> Iterator[IO[Any]]:
    """:func:`canfar_tui.clients.files.atomic_writer`, its problems as one :class:`OutputError`.

    Like source-extractor (which ``fopen``-s ``CATALOG_NAME`` for writing), a symbolic link
    is written through to the file it names; a device, FIFO, socket or folder is refused.
    """
    from canfar_tui.clients.files import UnsafeTarget, atomic_writer

    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: directory {directory} does not exist")
    try:
        if text:
            with atomic_writer(path, text=True) as text_handle:
                yield text_handle
        else:
            with atomic_writer(path) as binary_handle:
                yield binary_handle
    except UnsafeTarget as exc:
        raise OutputError(str(exc.strerror or exc)) from None
    except OutputError:
        raise
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise OutputError(
            f"{path}: cannot write catalogue: {exc.strerror or exc}", disk_full=full
        ) from None


def catalogue_exists(path: str | os.PathLike[str]) -> bool:
    """Whether writing ``path`` replaces a file (the file a symlink names, when one does)."""
    from canfar_tui.clients.files import UnsafeTarget, writable_target

    try:
        return writable_target(Path(path)).is_file()
    except (UnsafeTarget, OSError):
        return False


def write_catalogue(
    result: DetectionResult | npt.NDArray[np.void],
    path: str | os.PathLike[str],
    fmt: CatalogueFormat = "ascii_head",
    *,
    columns: Sequence[str] | None = None,
    params: DetectionParams | None = None,
) -> Path:
    """Write ``result`` to ``path`` in ``fmt``; return the path.

    ``columns`` defaults to ``params.columns`` (from ``result.params`` for a result).
    """
    formatted: AsciiRows | None = None
    if isinstance(result, DetectionResult):
        catalogue = result.catalogue
        params = params or result.params
        source: str | None = result.path
        formatted = result.ascii_rows
    else:
        catalogue = result
        source = None
    params = params or DetectionParams()
    cols = tuple(columns or params.columns)
    missing = [c for c in cols if c not in COLUMN_INFO]
    if missing:
        raise OutputError(f"unsupported column(s): {', '.join(missing)}")
    out = Path(path)
    if not str(path):
        raise OutputError("empty catalogue name (give a file name, or use --outdir)")
    if out.is_dir():
        raise OutputError(f"{out}: is a directory (give a file name, or use --outdir)")
    rows = _formatted_rows(formatted, cols, fmt, len(catalogue))
    try:
        if fmt == "ascii_head":
            writers.write_ascii_head(catalogue, out, cols, rows)
            return out
        if fmt == "ascii":
            writers.write_ascii(catalogue, out, cols, rows)
            return out
        if fmt == "ascii_skycat":
            writers.write_ascii_skycat(catalogue, out, cols, rows)
            return out
        if fmt == "fits_ldac":
            if not isinstance(result, DetectionResult):
                raise OutputError("FITS_LDAC needs the detection result (the image headers)")
            writers.write_fits_ldac(result, out, cols)
            return out
        if fmt == "fits":
            run = result if isinstance(result, DetectionResult) else None
            writers.write_fits_10(catalogue, out, cols, params, run)
            return out
    except writers.WriteError as exc:
        raise OutputError(str(exc), disk_full=exc.disk_full) from None
    if fmt == "ecsv":
        _write_ecsv(catalogue, out, cols, params, source)
    else:
        raise OutputError(f"unknown catalogue format {fmt!r} ({', '.join(FORMAT_SUFFIX)})")
    return out


def _formatted_rows(
    formatted: AsciiRows | None, columns: tuple[str, ...], fmt: str, n_rows: int
) -> tuple[str, ...] | None:
    """The workers' text of the rows, if it is what ``fmt`` writes for these ``columns``."""
    if (
        formatted is None
        or formatted.columns != columns
        or formatted.separator != writers.ASCII_SEPARATORS.get(fmt)
        or formatted.n_rows != n_rows
    ):
        return None
    return formatted.parts


def _table(
    catalogue: npt.NDArray[np.void],
    columns: Sequence[str],
    params: DetectionParams,
    source: str | None,
) -> Any:
    import astropy.units as u
    from astropy.table import Table

    table = Table()
    for name in columns:
        info = COLUMN_INFO[name]
        unit = u.Unit(info.unit, parse_strict="silent") if info.unit else None
        table[name] = catalogue[name]
        if unit is not None:
            table[name].unit = unit
        table[name].description = info.description
    meta = {"CREATOR": "canfar-tui detect (sep)"}
    if source is not None:
        meta["IMAGE"] = os.path.basename(source)
    meta.update(params.describe())
    table.meta.update(meta)
    return table


def _write_ecsv(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    params: DetectionParams,
    source: str | None,
) -> None:
    table = _table(catalogue, columns, params, source)
    with _atomic(path, text=True) as fh:
        table.write(fh, format="ascii.ecsv")
