"""Catalogue writers: SExtractor ASCII_HEAD, FITS binary table and ECSV, written atomically.

:func:`write_catalogue` takes a :class:`~canfar_tui.detection.events.DetectionResult` (or
a bare catalogue array) and writes the columns of ``params.columns`` in that order:

* ``ascii_head`` (default) — byte-for-byte the layout ``source-extractor`` 2.25 writes
  with ``CATALOG_TYPE ASCII_HEAD``: one ``#   n NAME  description  [unit]`` line per
  column, then one line per source with SExtractor's printf formats, all extensions one
  after the other (NUMBER restarts in each, EXT_NUMBER tells them apart);
* ``fits`` — a primary HDU and a binary table ``OBJECTS`` with units and the detection
  parameters as header cards (``DETECT_THRESH`` …);
* ``ecsv`` — astropy's ECSV with units and the parameters in the metadata;
* ``ascii``, ``ascii_skycat`` and ``fits_ldac`` (SCAMP's and PSFEx's input): SExtractor's
  layouts, see :mod:`canfar_tui.detection.writers`.

The file is written to a temporary name in the destination directory and renamed over
the destination (:func:`os.replace`), so readers never see half a catalogue and a failure
leaves nothing behind. Problems raise :class:`OutputError` with a one-line message.

numpy/astropy are imported inside the functions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from canfar_tui.detection import writers
from canfar_tui.detection.errors import DetectionError
from canfar_tui.detection.events import DetectionResult
from canfar_tui.detection.params import COLUMN_INFO, CatalogueFormat, DetectionParams

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "FORMAT_SUFFIX",
    "OutputError",
    "ascii_head_header",
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
    """The catalogue could not be written (directory missing, permission, disk full…)."""


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
def _atomic(path: Path, mode: str) -> Iterator[IO[Any]]:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: directory {directory} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {directory}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        # Respect the umask like a normal file creation would (mkstemp uses 0600).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OutputError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write catalogue: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_via_temp(path: Path, writer: Callable[[Path], None]) -> None:
    """For writers that want a file name (astropy): write to a temp path, then rename."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{path}: directory {directory} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {directory}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write catalogue: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    if isinstance(result, DetectionResult):
        catalogue = result.catalogue
        params = params or result.params
        source: str | None = result.path
    else:
        catalogue = result
        source = None
    params = params or DetectionParams()
    cols = tuple(columns or params.columns)
    missing = [c for c in cols if c not in COLUMN_INFO]
    if missing:
        raise OutputError(f"unsupported column(s): {', '.join(missing)}")
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"{out}: is a directory (give a file name, or use --outdir)")
    try:
        if fmt == "ascii_head":
            writers.write_ascii_head(catalogue, out, cols)
            return out
        if fmt == "ascii":
            writers.write_ascii(catalogue, out, cols)
            return out
        if fmt == "ascii_skycat":
            writers.write_ascii_skycat(catalogue, out, cols)
            return out
        if fmt == "fits_ldac":
            if not isinstance(result, DetectionResult):
                raise OutputError("FITS_LDAC needs the detection result (the image headers)")
            writers.write_fits_ldac(result, out, cols)
            return out
    except writers.WriteError as exc:
        raise OutputError(str(exc)) from None
    if fmt == "fits":
        _write_fits(catalogue, out, cols, params, source)
    elif fmt == "ecsv":
        _write_ecsv(catalogue, out, cols, params, source)
    else:
        raise OutputError(f"unknown catalogue format {fmt!r} ({', '.join(FORMAT_SUFFIX)})")
    return out


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


def _write_fits(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    params: DetectionParams,
    source: str | None,
) -> None:
    import warnings

    from astropy.io import fits

    table = _table(catalogue, columns, params, source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # long keywords become HIERARCH cards
        hdu = fits.table_to_hdu(table)
        hdu.name = "OBJECTS"
        hdul = fits.HDUList([fits.PrimaryHDU(), hdu])
        _write_via_temp(path, lambda tmp: hdul.writeto(tmp, overwrite=True))


def _write_ecsv(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    params: DetectionParams,
    source: str | None,
) -> None:
    table = _table(catalogue, columns, params, source)
    _write_via_temp(path, lambda tmp: table.write(tmp, format="ascii.ecsv", overwrite=True))
