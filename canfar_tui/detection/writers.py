"""SExtractor's CATALOG_TYPE layouts: ASCII, ASCII_SKYCAT and FITS_LDAC, plus vector columns.

Used by :func:`canfar_tui.detection.catalogue.write_catalogue`:

* ``ascii`` — SExtractor's ``ASCII``: the ASCII_HEAD rows without the ``#`` header;
* ``ascii_skycat`` — ``ASCII_SKYCAT``: the SkyCat "QueryResult" block, the column names
  tab-separated (the first four renamed ``id ra dec mag`` as SExtractor does), a dashed line,
  the values separated by `` \\t`` and a final ``[EOD]``;
* ``fits`` — ``FITS_1.0``: a primary HDU holding SExtractor's ``SEX*`` extraction keywords
  (same keys, order and comments as source-extractor 2.25), then one ``OBJECTS`` binary table
  per image extension (TTYPE/TFORM/TUNIT/TDISP as SExtractor writes them);
* ``fits_ldac`` — ``FITS_LDAC``, what SCAMP and PSFEx read: an empty primary HDU, then per
  image extension a ``LDAC_IMHEAD`` table (one ``Field Header Card`` cell holding the
  extension's header, 80 characters a card, with SExtractor's ``SEX*`` keywords) followed by
  a ``LDAC_OBJECTS`` table of that extension's sources (TFORM/TUNIT/TDISP as SExtractor
  writes them).

Vector columns (``MAG_APER(3)``) take as many ASCII fields as values; in ASCII_HEAD the next
column's number skips them, as in SExtractor. Every file is written through
:func:`canfar_tui.clients.files.atomic_writer`: a reader never sees half a catalogue.

numpy/astropy are imported inside the functions.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canfar_tui.clients.files import UnsafeTarget, atomic_writer
from canfar_tui.detection.errors import DetectionError
from canfar_tui.detection.params import COLUMN_INFO, DetectionParams

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from canfar_tui.detection.events import DetectionResult

__all__ = [
    "ASCII_SEPARATORS",
    "WriteError",
    "ascii_rows",
    "ascii_text",
    "column_widths",
    "header_lines",
    "write_ascii",
    "write_ascii_head",
    "write_ascii_skycat",
    "write_fits_10",
    "write_fits_ldac",
]

# SExtractor writes these as narrower FITS types than the catalogue array holds.
_FITS_TYPE_OVERRIDES = {
    "X_IMAGE": "E",
    "Y_IMAGE": "E",
    "EXT_NUMBER": "I",
    "FLAGS": "I",
    "FLAGS_WEIGHT": "I",
    "FLAGS_WIN": "I",
    "NITER_WIN": "I",
}
_FITS_TYPES = {"i4": "J", "i8": "K", "f4": "E", "f8": "D"}
_NUMPY_TYPES = {"I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}

ASCII_SEPARATORS: dict[str, str] = {"ascii_head": " ", "ascii": " ", "ascii_skycat": " \t"}
"""The text formats (CATALOG_TYPE) → the separator between the values of a row."""


class WriteError(DetectionError):
    """A catalogue could not be written (one line); ``catalogue`` re-raises it as OutputError.

    ``disk_full``: the disk (or quota) is full, so other catalogues there would fail too.
    """

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def column_widths(catalogue: npt.NDArray[np.void], columns: Sequence[str]) -> list[int]:
    """How many values each column holds in ``catalogue`` (1 for scalars)."""
    widths = []
    for name in columns:
        shape = catalogue.dtype[name].shape
        size = 1
        for length in shape:
            size *= int(length)
        widths.append(size)
    return widths


def header_lines(columns: Sequence[str], widths: Sequence[int] | None = None) -> str:
    """SExtractor's ASCII_HEAD ``#`` lines; a vector column takes ``width`` numbers."""
    lines = []
    number = 1
    for i, name in enumerate(columns):
        info = COLUMN_INFO[name]
        unit = f" [{info.unit}]" if info.unit else ""
        lines.append(f"# {number:3d} {name:<22.22s} {info.description:<58.58s}{unit}\n")
        number += widths[i] if widths else 1
    return "".join(lines)


def ascii_rows(
    catalogue: npt.NDArray[np.void], columns: Sequence[str], separator: str = " "
) -> Iterator[str]:
    """The catalogue's rows with SExtractor's printf formats, ``chunk`` rows at a time."""
    widths = column_widths(catalogue, columns)
    formats = [COLUMN_INFO[name].fmt for name in columns]
    row_format = separator.join(
        separator.join([fmt] * width) for fmt, width in zip(formats, widths, strict=True)
    )
    row_format += "\n"
    flat_columns = []
    for name, width in zip(columns, widths, strict=True):
        values = catalogue[name]
        if width == 1 and values.ndim == 1:
            flat_columns.append(values.tolist())
        else:
            # A stamp (VIGNET) goes out row after row, x fastest, as SExtractor writes it.
            values = values.reshape(len(catalogue), width)
            for k in range(width):
                flat_columns.append(values[:, k].tolist())
    chunk = 20000
    n = len(catalogue)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        rows = zip(*(col[start:stop] for col in flat_columns), strict=True)
        yield "".join(row_format % row for row in rows)


def ascii_text(
    catalogue: npt.NDArray[np.void], columns: Sequence[str], separator: str = " "
) -> str:
    """All of :func:`ascii_rows` as one string (what a worker sends back for its extension).

    Rows are formatted one by one, so the texts of consecutive parts of a catalogue, joined,
    are the text of the whole catalogue.
    """
    return "".join(ascii_rows(catalogue, columns, separator))


def _text_writer(path: Path) -> Any:
    return atomic_writer(path, text=True)


def _guard(path: Path, action: Any) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise WriteError(f"{path}: directory {directory} does not exist")
    try:
        action()
    except UnsafeTarget as exc:
        raise WriteError(f"{path}: {exc}") from None
    except OSError as exc:
        raise WriteError(
            f"{path}: cannot write catalogue: {exc.strerror or exc}",
            disk_full=exc.errno in (errno.ENOSPC, errno.EDQUOT),
        ) from None


def _row_blocks(
    catalogue: npt.NDArray[np.void],
    columns: Sequence[str],
    separator: str,
    rows: Iterable[str] | None,
) -> Iterable[str]:
    """``rows`` (text formatted beforehand, e.g. by the workers), else the catalogue's rows."""
    return rows if rows is not None else ascii_rows(catalogue, columns, separator)


def write_ascii(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    rows: Iterable[str] | None = None,
) -> None:
    """CATALOG_TYPE ASCII: one line per source, no header.

    ``rows``: the catalogue's rows already formatted (:func:`ascii_text` of its parts).
    """

    def run() -> None:
        with _text_writer(path) as fh:
            for block in _row_blocks(catalogue, columns, ASCII_SEPARATORS["ascii"], rows):
                fh.write(block)

    _guard(path, run)


def write_ascii_head(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    rows: Iterable[str] | None = None,
) -> None:
    """CATALOG_TYPE ASCII_HEAD: the ``#`` header, then one line per source.

    ``rows``: the catalogue's rows already formatted (:func:`ascii_text` of its parts).
    """

    def run() -> None:
        with _text_writer(path) as fh:
            fh.write(header_lines(columns, column_widths(catalogue, columns)))
            for block in _row_blocks(catalogue, columns, ASCII_SEPARATORS["ascii_head"], rows):
                fh.write(block)

    _guard(path, run)


def write_ascii_skycat(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    rows: Iterable[str] | None = None,
) -> None:
    """CATALOG_TYPE ASCII_SKYCAT, byte for byte SExtractor's layout.

    ``rows``: the catalogue's rows already formatted with the `` \\t`` separator.
    """
    names = list(columns)
    for i, alias in enumerate(("id", "ra", "dec", "mag")[: len(names)]):
        names[i] = alias

    def run() -> None:
        with _text_writer(path) as fh:
            fh.write(
                "QueryResult\n\n# Config entry for original catalog server:\n"
                "serv_type: catalog\nlong_name: SExtractor catalog\nshort_name: SExCat\n"
                "symbol: id diamond  8.0\n# End config entry\n\n"
            )
            fh.write("\t".join(names) + "\n" + "-" * 18 + "\n")
            separator = ASCII_SEPARATORS["ascii_skycat"]
            for block in _row_blocks(catalogue, columns, separator, rows):
                fh.write(block)
            fh.write("[EOD]")

    _guard(path, run)


def _tdisp(fmt: str) -> str:
    """printf format → FITS TDISP (``%12.7g`` → ``G12.7``, ``%+11.7f`` → ``F11.7``)."""
    match = re.fullmatch(r"%\+?(\d+)(?:\.(\d+))?([dfeg])", fmt)
    if match is None:  # pragma: no cover - every COLUMN_INFO format matches
        return ""
    width, precision, kind = match.groups()
    code = {"d": "I", "f": "F", "e": "E", "g": "G"}[kind]
    return f"{code}{width}" + (f".{precision}" if precision and kind != "d" else "")


def _objects_hdu(catalogue: npt.NDArray[np.void], columns: Sequence[str], extname: str) -> Any:
    import numpy as np
    from astropy.io import fits

    fits_columns = []
    for name in columns:
        info = COLUMN_INFO[name]
        code = _FITS_TYPE_OVERRIDES.get(name, _FITS_TYPES[info.dtype])
        values = catalogue[name]
        width = int(np.prod(values.shape[1:], dtype=np.int64)) if values.ndim > 1 else 1
        # A stamp (n, height, width) gets SExtractor's TDIM '(width, height)'.
        dim = f"({values.shape[2]}, {values.shape[1]})" if values.ndim == 3 else None
        fits_columns.append(
            fits.Column(
                name=name,
                format=f"{width}{code}",
                unit=info.unit or None,
                disp=_tdisp(info.fmt) or None,
                dim=dim,
                array=np.asarray(values, dtype=_NUMPY_TYPES[code]),
            )
        )
    hdu = fits.BinTableHDU.from_columns(fits_columns, name=extname)
    for i, name in enumerate(columns, 1):
        # Cut to what fits on the card (as SExtractor does) instead of astropy warning: the
        # quoted name fills at least 20 columns after "TTYPEn  = ", then " / " (47 left).
        room = max(0, 47 - max(0, len(name) + 2 - 20))
        hdu.header.comments[f"TTYPE{i}"] = COLUMN_INFO[name].description[:room]
    return hdu


def _sex_keywords(result: DetectionResult, index: int, params: DetectionParams) -> list[Any]:
    """The ``SEX*`` cards SExtractor adds to the LDAC_IMHEAD header of an extension."""
    ext = result.extensions[index]
    apertures = [
        (f"SEXAPED{i}", d, f"Fixed photometric aperture #{i} (pixels)")
        for i, d in enumerate(params.phot_apertures, 1)
    ]
    return [
        ("FITSFILE", os.path.basename(result.path), "File name of the analysed image"),
        ("FITSEXT", ext.extension.ext_number, "FITS Extension number"),
        ("FITSNEXT", len(result.extensions), "Number of FITS image extensions in file"),
        ("SEXVERS", "canfar-tui detect (sep)", "Extraction software"),
        ("SEXDATE", time.strftime("%d/%m/%Y"), "Extraction date"),
        ("SEXTIME", time.strftime("%H:%M:%S"), "Extraction time"),
        ("SEXELAPS", round(ext.seconds, 6), "Elapsed time during extraction (s)"),
        ("SEXBKGND", ext.background, "Median background level (ADU)"),
        ("SEXBKDEV", ext.rms, "Median background RMS (ADU)"),
        ("SEXTHLD", ext.threshold, "Extraction threshold (ADU)"),
        ("SEXATHLD", ext.threshold, "Analysis threshold (ADU)"),
        ("SEXNFIN", ext.n_sources, "Final number of extracted sources"),
        ("SEXNPARA", len(params.columns), "Number of parameters per source"),
        ("SEXPXSCL", params.pixel_scale, "Pixel scale used for measurements (arcsec)"),
        ("SEXSFWHM", params.seeing_fwhm, "Source FWHM used for measurements (arcsec)"),
        ("SEXGAIN", ext.gain, "Gain used (e-/ADU)"),
        ("SEXFLTR", params.filter, "Detection filtering activated (flag)"),
        ("SEXFILTN", params.filter_name, "Filter filename"),
        ("SEXMINAR", params.detect_minarea, "Minimum area used for detection (pixels)"),
        ("SEXDBLDN", params.deblend_nthresh, "Number of deblending thresholds"),
        ("SEXDBLDC", params.deblend_mincont, "Minimum contrast used for deblending"),
        ("SEXCLN", params.clean, "Cleaning activated (flag)"),
        ("SEXCLNPA", params.clean_param, "Cleaning parameter"),
        *apertures,
        ("SEXAUTP1", params.phot_autoparams[0], "Parameter #1 used for automatic magnitudes"),
        ("SEXAUTP2", params.phot_autoparams[1], "Parameter #2 used for automatic magnitudes"),
        ("SEXSATLV", ext.saturation, "Saturation level used for flagging (ADU)"),
        ("SEXMGZPT", params.mag_zeropoint, "Zero-point used for magnitudes"),
        ("SEXBKGSX", params.back_size[0], "Mesh width used for background mapping (pixels)"),
        ("SEXBKGSY", params.back_size[1], "Mesh height used for background mapping (pixels"),
        ("SEXBKGFX", params.back_filtersize[0], "Mask width used for background map filtering"),
        ("SEXBKGFY", params.back_filtersize[1], "Mask height used for background map filtering"),
        ("SEXPIXSK", params.pixstack, "Pixel stack-size (pixels)"),
    ]


def _image_header(path: str, hdu_index: int) -> Any:
    """The image header of HDU ``hdu_index`` (the uncompressed image's, for a ``.fz``)."""
    import warnings

    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            hdu = hdul[hdu_index]
            header = hdu.header.copy()
    header.strip()  # drop XTENSION/NAXIS…: put back below as an image extension's
    return header


def _imhead_hdu(result: DetectionResult, index: int, params: DetectionParams) -> Any:
    from astropy.io import fits

    ext = result.extensions[index].extension
    image = _image_header(result.path, ext.hdu_index)
    header = fits.Header()
    header["XTENSION"] = ("IMAGE", "Image extension")
    header["BITPIX"] = (ext.bitpix, "array data type")
    header["NAXIS"] = (len(ext.shape), "number of array dimensions")
    for axis, size in enumerate(reversed(ext.shape), 1):
        header[f"NAXIS{axis}"] = size
    header["PCOUNT"] = (0, "number of parameters")
    header["GCOUNT"] = (1, "number of groups")
    header.extend(image, strip=False)
    for key, value, comment in _sex_keywords(result, index, params):
        header[key] = (value, comment)
    text = header.tostring(sep="", endcard=True, padding=False).encode("ascii", "replace")
    return _imhead_from_text(text)


def _imhead_from_text(text: bytes) -> Any:
    """The LDAC_IMHEAD table holding ``text`` (80-byte cards, ``END`` last) byte for byte.

    Built from raw bytes like SExtractor writes it: astropy's own character columns pad
    cards with NUL bytes instead of blanks, and SCAMP crashes reading such a header.
    """
    from astropy.io import fits

    n_cards = len(text) // 80
    table = fits.Header(
        [
            ("XTENSION", "BINTABLE", "THIS IS A BINARY TABLE (FROM THE LDACTOOLS)"),
            ("BITPIX", 8, ""),
            ("NAXIS", 2, ""),
            ("NAXIS1", 80 * n_cards, "BYTES PER ROW"),
            ("NAXIS2", 1, "NUMBER OF ROWS"),
            ("PCOUNT", 0, "RANDOM PARAMETER COUNT"),
            ("GCOUNT", 1, "GROUP COUNT"),
            ("TFIELDS", 1, "FIELDS PER ROWS"),
            ("EXTNAME", "LDAC_IMHEAD", "TABLE NAME"),
            ("TTYPE1", "Field Header Card"),
            ("TFORM1", f"{80 * n_cards}A"),
            ("TDIM1", f"(80, {n_cards})"),
        ]
    )
    data = text + b"\0" * (-len(text) % 2880)
    return fits.BinTableHDU.fromstring(table.tostring().encode("ascii") + data)


def write_fits_ldac(result: DetectionResult, path: Path, columns: Sequence[str]) -> None:
    """CATALOG_TYPE FITS_LDAC: LDAC_IMHEAD + LDAC_OBJECTS per extension (SCAMP, PSFEx)."""
    from astropy.io import fits

    catalogue = result.catalogue
    hdus: list[Any] = [fits.PrimaryHDU()]
    for index, ext_result in enumerate(result.extensions):
        if not ext_result.ok:
            continue
        ext_number = ext_result.extension.ext_number
        rows = catalogue[catalogue["EXT_NUMBER"] == ext_number]
        hdus.append(_imhead_hdu(result, index, result.params))
        hdus.append(_objects_hdu(rows, columns, "LDAC_OBJECTS"))
    hdul = fits.HDUList(hdus)

    def run() -> None:
        with atomic_writer(path) as fh:
            hdul.writeto(fh)

    _guard(path, run)


def _primary_10(
    catalogue: npt.NDArray[np.void],
    params: DetectionParams,
    result: DetectionResult | None,
    n_tables: int,
) -> Any:
    """FITS_1.0's primary HDU: source-extractor's ``sexhead1.h`` keywords, in its order.

    source-extractor fills most of them before reading the image (so writes 0 for the image
    size, background…); canfar-tui writes the first measured extension's values instead.
    """
    from astropy.io import fits

    ext = next((e for e in result.extensions if e.ok), None) if result is not None else None
    shape = ext.extension.shape if ext is not None else (0, 0)
    width, height = (int(shape[-1]), int(shape[-2])) if len(shape) >= 2 else (0, 0)

    def value(attr: str) -> float:
        raw = getattr(ext, attr, 0.0) if ext is not None else 0.0
        return float(raw) if raw == raw else 0.0  # NaN → 0

    header = fits.Header()
    cards: list[tuple[str, Any, str]] = [
        ("EPOCH", 0.0, ""),
        ("OBJECT", "", ""),
        ("ORIGIN", "SExtractor", ""),
        (
            "FITSFILE",
            os.path.basename(result.path) if result is not None else "",
            "File name of the analysed image",
        ),
        ("FITSEXT", 0, "FITS Extension number"),
        ("FITSNEXT", n_tables, "Number of FITS image extensions in file"),
        ("SEXIMASX", width, "IMAGE WIDTH (PIXELS)"),
        ("SEXIMASY", height, "IMAGE HEIGHT (PIXELS)"),
        ("SEXSTRSY", height, "STRIP HEIGHT (LINES)"),
        ("SEXIMABP", ext.extension.bitpix if ext is not None else 0, "FITS IMAGE BITPIX"),
        ("SEXPIXS", params.pixel_scale, "PIXEL SCALE (ARCSEC)"),
        ("SEXSFWHM", params.seeing_fwhm, "SEEING FWHM (ARCSEC)"),
        ("SEXNNWF", "default.nnw", "CLASSIFICATION NNW FILENAME"),
        ("SEXGAIN", value("gain"), "GAIN (IN E- PER ADU)"),
        ("SEXBKGND", value("background"), "MEDIAN BACKGROUND (ADU)"),
        ("SEXBKDEV", value("rms"), "MEDIAN RMS (ADU)"),
        ("SEXBKTHD", value("threshold"), "EXTRACTION THRESHOLD (ADU)"),
        ("SEXCONFF", "default.sex", "CONFIGURATION FILENAME"),
        ("SEXDETT", "CCD", "DETECTION TYPE"),
        ("SEXTHLDT", "SIGMA", "THRESHOLD TYPE"),
        ("SEXTHLD", params.detect_thresh, "THRESHOLD"),
        ("SEXMINAR", params.detect_minarea, "EXTRACTION MINIMUM AREA (PIXELS)"),
        ("SEXCONV", params.filter, "CONVOLUTION FLAG"),
        ("SEXCONVN", params.filter, "CONVOLUTION NORM. FLAG"),
        ("SEXCONVF", params.filter_name, "CONVOLUTION FILENAME"),
        ("SEXDBLDN", params.deblend_nthresh, "NUMBER OF SUB-THRESHOLDS"),
        ("SEXDBLDC", params.deblend_mincont, "CONTRAST PARAMETER"),
        ("SEXCLN", params.clean, "CLEANING FLAG"),
        ("SEXCLNPA", params.clean_param, "CLEANING PARAMETER"),
        ("SEXCLNST", params.deblend_nthresh, "CLEANING OBJECT-STACK"),
        ("SEXAPERD", params.phot_apertures[0], "1ST APERTURE DIAMETER (PIXELS)"),
        ("SEXAPEK1", params.phot_autoparams[0], "KRON PARAMETER"),
        ("SEXAPEK2", params.phot_autoparams[0], "KRON ANALYSIS RADIUS"),
        ("SEXAPEK3", params.phot_autoparams[1], "KRON MINIMUM RADIUS"),
        ("SEXSATLV", value("saturation"), "SATURATION LEVEL (ADU)"),
        ("SEXMGZPT", params.mag_zeropoint, "MAGNITUDE ZERO-POINT"),
        ("SEXMGGAM", 4.0, "MAGNITUDE GAMMA"),
        ("SEXBKGSX", params.back_size[0], "BACKGROUND MESH WIDTH (PIXELS)"),
        ("SEXBKGSY", params.back_size[1], "BACKGROUND MESH HEIGHT (PIXELS)"),
        ("SEXBKGFX", params.back_filtersize[0], "BACKGROUND FILTER WIDTH"),
        ("SEXBKGFY", params.back_filtersize[1], "BACKGROUND FILTER HEIGHT"),
        ("SEXPBKGT", "GLOBAL", "PHOTOM BACKGROUND TYPE"),
        ("SEXPBKGS", 24, "LOCAL AREA THICKNESS (PIXELS)"),
        ("SEXPIXSK", params.pixstack, "PIXEL STACKSIZE (PIXELS)"),
        ("SEXFBUFS", 1024, "FRAME-BUFFER SIZE (LINES)"),
        ("SEXISAPR", 0.0, "ISO-APER RATIO"),
        ("SEXNDET", len(catalogue), "NB OF DETECTIONS"),
        ("SEXNFIN", len(catalogue), "NB OF FINAL EXTRACTED OBJECTS"),
        ("SEXNPARA", len(params.columns), "NB OF PARAMETERS PER OBJECT"),
    ]
    for key, val, comment in cards:
        header[key] = (val, comment)
    return fits.PrimaryHDU(header=header)


def write_fits_10(
    catalogue: npt.NDArray[np.void],
    path: Path,
    columns: Sequence[str],
    params: DetectionParams,
    result: DetectionResult | None = None,
) -> None:
    """CATALOG_TYPE FITS_1.0: the ``SEX*`` primary HDU, then one ``OBJECTS`` table per extension.

    Extensions come from ``result`` (every measured one, even without sources, as
    source-extractor writes them); for a bare catalogue array, one table per EXT_NUMBER.
    """
    import numpy as np
    from astropy.io import fits

    if result is not None:
        numbers = [e.extension.ext_number for e in result.extensions if e.ok]
    else:
        numbers = [int(v) for v in np.unique(catalogue["EXT_NUMBER"])] or [1]
    tables = [
        _objects_hdu(catalogue[catalogue["EXT_NUMBER"] == number], columns, "OBJECTS")
        for number in numbers
    ]
    hdul = fits.HDUList([_primary_10(catalogue, params, result, len(tables)), *tables])

    def run() -> None:
        import warnings

        with warnings.catch_warnings():
            # Long TTYPE comments are cut at 80 characters, as source-extractor cuts them.
            warnings.simplefilter("ignore")
            with atomic_writer(path) as fh:
                hdul.writeto(fh)

    _guard(path, run)
