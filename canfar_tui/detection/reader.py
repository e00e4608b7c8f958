"""Reading FITS and tile-compressed ``.fits.fz`` images for detection.

Two steps, so that the parent process only looks at headers and each worker process reads
only the extension it works on:

* :func:`scan_image` (parent) checks the file (exists, not empty, FITS, not truncated),
  lists its HDUs and returns the 2-D image extensions as
  :class:`~canfar_tui.detection.events.ExtensionInfo` (with byte offsets) plus one line per
  HDU that is skipped (tables, empty primary…). Every problem raises
  :class:`~canfar_tui.detection.errors.InputError` with a one-line message.
* :func:`read_pixels` (worker) reads one extension and returns :class:`Pixels`: a native
  float32 working copy with ``BSCALE``/``BZERO`` applied and ``BLANK`` pixels as NaN, the
  stored values (for saturation and background look-ups) and the header.

Rice-compressed integer extensions tiled by rows (what ``fpack`` and CADC produce) are
decompressed by a fast path that reads the heap in one go and calls astropy's Rice decoder
per tile, avoiding astropy's per-tile Python machinery (about 3× faster); everything else
(GZIP, HCOMPRESS, quantised floats, ``.fits.gz``…) goes through ``astropy.io.fits``.

Imports numpy and astropy; import it only when detection runs.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from itertools import repeat
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from canfar_tui.detection.errors import ExtensionError, InputError
from canfar_tui.detection.events import ExtensionInfo

if TYPE_CHECKING:
    import numpy.typing as npt

Header = dict[str, Any]
"""Header keywords → values (first occurrence), as read by :func:`parse_header`."""

__all__ = ["Header", "Pixels", "parse_header", "read_pixels", "scan_image"]

BLOCK = 2880
_COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip", b"BZ": "bzip2"}


@dataclass
class Pixels:
    """One extension's pixels, ready for the engine.

    ``data`` is a C-contiguous native float32 array (physical values, BLANK → NaN), owned
    by the caller (the engine subtracts the background in place). ``raw`` holds the stored
    values and ``bscale``/``bzero`` turn them into physical values; for integer data with
    ``BZERO = 32768`` ``raw`` is already the unsigned array with ``bzero = 0``.
    ``has_nan`` says whether ``data`` may contain NaN (float or BLANK-ed data).
    """

    data: npt.NDArray[np.float32]
    raw: npt.NDArray[Any]
    bscale: float
    bzero: float
    header: Header
    has_nan: bool
    decode_seconds: float = 0.0

    def physical(
        self, iy: npt.NDArray[np.intp], ix: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float64]:
        """Physical values of the stored pixels at (iy, ix)."""
        values = self.raw[iy, ix].astype(np.float64)
        if self.bscale != 1.0:
            values *= self.bscale
        if self.bzero != 0.0:
            values += self.bzero
        return values


# ----------------------------------------------------------------------------- headers


def _card_value(text: str) -> Any:
    """The value of a FITS card (columns 11-80): str, bool, int, float or raw text."""
    value = text.strip()
    if value.startswith("'"):
        out: list[str] = []
        i = 1
        while i < len(value):
            ch = value[i]
            if ch == "'":
                if value[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(ch)
            i += 1
        return "".join(out).rstrip()
    value = value.split("/", 1)[0].strip()
    if value == "T":
        return True
    if value == "F":
        return False
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value.replace("D", "E").replace("d", "e"))
    except ValueError:
        return value


def parse_header(raw: bytes) -> tuple[Header, int] | None:
    """Parse FITS header cards from ``raw`` (whole 2880-byte blocks).

    Returns (keywords, header length in bytes up to the end of the END block), or None
    when ``raw`` holds no END card. The first occurrence of a keyword wins; COMMENT,
    HISTORY and HIERARCH cards are skipped.
    """
    cards: Header = {}
    text = raw.decode("ascii", errors="replace")
    for start in range(0, len(text) - 79, 80):
        card = text[start : start + 80]
        key = card[:8].rstrip()
        if key == "END":
            length = (start // BLOCK + 1) * BLOCK
            return cards, length
        if not key or key in ("COMMENT", "HISTORY", "HIERARCH", "CONTINUE") or card[8:10] != "= ":
            continue
        if key not in cards:
            cards[key] = _card_value(card[10:])
    return None


def _data_bytes(cards: Header) -> int:
    naxis = int(cards.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = [int(cards.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if cards.get("GROUPS") is True and dims and dims[0] == 0:
        dims = dims[1:]
    return (
        abs(int(cards.get("BITPIX", 8)))
        // 8
        * int(cards.get("GCOUNT", 1))
        * (int(cards.get("PCOUNT", 0)) + prod(dims))
    )


@dataclass
class _Hdu:
    index: int
    cards: Header
    header_offset: int
    data_offset: int
    data_size: int


def _walk(path: Path, size: int) -> list[_Hdu] | None:
    """List the HDUs by reading headers only; None when astropy should have a look."""
    name = path.name
    hdus: list[_Hdu] = []
    pos = 0
    with path.open("rb") as fh:
        while pos < size:
            fh.seek(pos)
            raw = b""
            parsed = None
            while parsed is None:
                block = fh.read(BLOCK)
                if len(block) < BLOCK:
                    if not hdus:
                        return None
                    if not raw and not block.strip(b"\x00 "):
                        return hdus  # zero/blank padding after the last HDU
                    raise InputError(
                        f"{name}: truncated file: the header of HDU {len(hdus)} is incomplete"
                    )
                if not raw and hdus and not block.startswith(b"XTENSION="):
                    if not block.strip(b"\x00 ") and not fh.read(BLOCK * 16).strip(b"\x00 "):
                        return hdus  # padding, not an extension
                    return None
                raw += block
                parsed = parse_header(raw)
                if parsed is None and len(raw) > 1000 * BLOCK:
                    return None
            cards, length = parsed
            nbytes = _data_bytes(cards)
            data_offset = pos + length
            if data_offset + nbytes > size:
                raise InputError(
                    f"{name}: truncated file: {size} bytes, its headers describe "
                    f"{data_offset + nbytes} (incomplete download or copy?)"
                )
            hdus.append(_Hdu(len(hdus), cards, pos, data_offset, nbytes))
            pos = data_offset + -(-nbytes // BLOCK) * BLOCK
    return hdus


def _scan_fast(path: Path, size: int) -> tuple[list[ExtensionInfo], list[str], list[str]] | None:
    hdus = _walk(path, size)
    if hdus is None:
        return None
    images: list[ExtensionInfo] = []
    skipped: list[str] = []
    tables: list[str] = []
    for hdu in hdus:
        cards = hdu.cards
        extname = str(cards.get("EXTNAME", "")).strip() or f"HDU{hdu.index}"
        xtension = str(cards.get("XTENSION", "")).strip().upper() if hdu.index else ""
        compressed = xtension == "BINTABLE" and cards.get("ZIMAGE") is True
        if hdu.index == 0 and cards.get("SIMPLE") is not True:
            return None
        if hdu.index == 0 and cards.get("GROUPS") is True:
            kind = "random-groups HDU"
        elif compressed or xtension in ("", "IMAGE"):
            prefix = "Z" if compressed else ""
            naxis = int(cards.get(f"{prefix}NAXIS", 0))
            shape = tuple(int(cards.get(f"{prefix}NAXIS{i}", 0)) for i in range(naxis, 0, -1))
            if naxis == 0 or prod(shape) == 0:
                if hdu.index > 0:
                    skipped.append(f"HDU {hdu.index} ({extname}): image HDU without data")
                continue
            images.append(
                ExtensionInfo(
                    ext_number=len(images) + 1,
                    hdu_index=hdu.index,
                    name=extname,
                    shape=shape,
                    bitpix=int(cards.get(f"{prefix}BITPIX", 0)),
                    compressed=compressed,
                    header_offset=hdu.header_offset,
                    data_offset=hdu.data_offset,
                    data_size=hdu.data_size,
                )
            )
            continue
        elif xtension == "BINTABLE":
            kind = "binary table"
        elif xtension == "TABLE":
            kind = "ASCII table"
        else:
            kind = f"{xtension or 'unknown'} extension"
        tables.append(f"HDU {hdu.index} ({extname}) is a {kind}")
        skipped.append(f"HDU {hdu.index} ({extname}): {kind}, not an image")
    return images, skipped, tables


# ----------------------------------------------------------------------------- scanning


def _check_path(path: Path) -> int:
    name = path.name or str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a FITS file")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    try:
        with path.open("rb") as fh:
            head = fh.read(80)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head[:2] in _COMPRESSED_MAGIC:
        return -1  # gzip/bzip2 FITS: astropy reads it, no byte offsets
    if not head.startswith(b"SIMPLE  ="):
        raise InputError(f"{name}: not a FITS file (it does not start with a SIMPLE card)")
    if st.st_size < BLOCK:
        raise InputError(
            f"{name}: truncated FITS file ({st.st_size} bytes, less than one {BLOCK}-byte header)"
        )
    return st.st_size


def _hdu_kind(hdu: Any) -> str:
    from astropy.io import fits

    if isinstance(hdu, fits.CompImageHDU):
        return "compressed image"
    if isinstance(hdu, fits.GroupsHDU):
        return "random-groups HDU"
    if isinstance(hdu, fits.BinTableHDU):
        return "binary table"
    if isinstance(hdu, fits.TableHDU):
        return "ASCII table"
    if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
        return "image"
    return type(hdu).__name__


def scan_image(path: str | os.PathLike[str]) -> tuple[tuple[ExtensionInfo, ...], tuple[str, ...]]:
    """List the image extensions of ``path`` and the HDUs that will be skipped.

    Raises :class:`InputError` for a missing, empty, non-FITS or truncated file and for a
    file without any image data (header only, or only tables).
    """

    path = Path(path)
    name = path.name
    size = _check_path(path)
    fast = _scan_fast(path, size) if size > 0 else None
    if fast is not None:
        images_f, skipped_f, tables_f = fast
        if not images_f:
            if tables_f:
                raise InputError(f"{name}: no image extension: {tables_f[0]} (a catalogue?)")
            raise InputError(f"{name}: no image data (the file has only header(s))")
        return tuple(images_f), tuple(skipped_f)
    return _scan_astropy(path, size)


def _scan_astropy(path: Path, size: int) -> tuple[tuple[ExtensionInfo, ...], tuple[str, ...]]:
    """Scan with astropy (compressed files, anything the fast walker does not handle)."""
    from astropy.io import fits

    name = path.name
    images: list[ExtensionInfo] = []
    skipped: list[str] = []
    tables: list[str] = []
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, lazy_load_hdus=True, memmap=False) as hdul:
                hdul.readall()
                n_hdus = len(hdul)
                end = 0
                for index in range(n_hdus):
                    hdu = hdul[index]
                    info = hdul.fileinfo(index) or {}
                    hdr_loc = int(info.get("hdrLoc", -1))
                    dat_loc = int(info.get("datLoc", -1))
                    dat_span = int(info.get("datSpan", 0))
                    end = max(end, dat_loc + dat_span)
                    kind = _hdu_kind(hdu)
                    header = hdu.header
                    extname = str(header.get("EXTNAME", "")).strip() or f"HDU{index}"
                    if kind in ("image", "compressed image"):
                        naxis = int(header.get("NAXIS", 0))
                        shape = tuple(int(header.get(f"NAXIS{i}", 0)) for i in range(naxis, 0, -1))
                        if naxis == 0 or prod(shape) == 0:
                            if index > 0:
                                skipped.append(f"HDU {index} ({extname}): image HDU without data")
                            continue
                        ext = ExtensionInfo(
                            ext_number=len(images) + 1,
                            hdu_index=index,
                            name=extname,
                            shape=shape,
                            bitpix=int(header.get("BITPIX", 0)),
                            compressed=kind == "compressed image",
                            header_offset=hdr_loc if size > 0 else -1,
                            data_offset=dat_loc if size > 0 else -1,
                            data_size=dat_span,
                        )
                        images.append(ext)
                    else:
                        tables.append(f"HDU {index} ({extname}) is a {kind}")
                        skipped.append(f"HDU {index} ({extname}): {kind}, not an image")
        except OSError as exc:
            raise InputError(f"{name}: not a readable FITS file: {_first_line(exc)}") from None
        except Exception as exc:  # astropy raises many types on corrupt headers
            raise InputError(f"{name}: corrupt FITS file: {_first_line(exc)}") from None
    for w in caught:
        text = str(w.message)
        hdu = re.search(r"HDU #(\d+)", text)
        if "Header size is not" in text or "Error validating header" in text:
            where = f"HDU {hdu.group(1)}" if hdu else "an HDU"
            problems.append(f"the header of {where} is incomplete")
        elif "truncated" in text or "corrupt" in text.lower():
            problems.append(_first_line(text))
    if size > 0 and end > size:
        raise InputError(
            f"{name}: truncated file: {size} bytes, its headers describe {end} "
            "(incomplete download or copy?)"
        )
    if problems:
        raise InputError(f"{name}: truncated or corrupt FITS file: {problems[0]}")
    if not images:
        if tables:
            raise InputError(f"{name}: no image extension: {tables[0]} (a catalogue?)")
        raise InputError(f"{name}: no image data (the file has only header(s))")
    return tuple(images), tuple(skipped)


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


# ----------------------------------------------------------------------------- reading

_BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def read_pixels(path: str | os.PathLike[str], ext: ExtensionInfo) -> Pixels:
    """Read one extension (worker side). Raises :class:`ExtensionError` on bad content."""
    import time

    t0 = time.perf_counter()
    if len(ext.shape) < 2 or any(n != 1 for n in ext.shape[:-2]):
        dims = " × ".join(str(n) for n in reversed(ext.shape))
        raise ExtensionError(f"{ext.label}: not a 2-D image ({dims})")
    if ext.shape[-1] < 2 or ext.shape[-2] < 2:
        raise ExtensionError(f"{ext.label}: image too small ({ext.shape[-1]} × {ext.shape[-2]})")
    pixels: Pixels | None = None
    if ext.header_offset >= 0:
        with open(path, "rb") as fh:
            fh.seek(ext.header_offset)
            parsed = parse_header(fh.read(ext.data_offset - ext.header_offset))
            if parsed is not None:
                header = parsed[0]
                if ext.compressed:
                    pixels = _read_rice_fast(fh, ext, header)
                else:
                    pixels = _read_plain(fh, ext, header)
    if pixels is None:
        pixels = _read_with_astropy(path, ext)
    pixels.decode_seconds = time.perf_counter() - t0
    return pixels


def _finish(
    raw: npt.NDArray[Any], bscale: float, bzero: float, blank: int | None, header: Header
) -> Pixels:
    """Build the float32 working copy from stored values."""
    shape2d = raw.shape[-2:]
    raw = raw.reshape(shape2d)
    data = np.empty(shape2d, dtype=np.float32)
    # One pass each: convert (and byte-swap) while applying BZERO; BSCALE when needed.
    if bscale == 1.0 and bzero == 0.0:
        data[...] = raw
    elif bscale == 1.0:
        np.add(raw, np.float32(bzero), out=data, casting="unsafe")
    else:
        np.multiply(raw, np.float32(bscale), out=data, casting="unsafe")
        if bzero != 0.0:
            data += np.float32(bzero)
    has_nan = raw.dtype.kind == "f"
    if blank is not None and raw.dtype.kind in "iu":
        bad = raw == blank
        if bad.any():
            data[bad] = np.nan
            has_nan = True
    return Pixels(data, raw, bscale, bzero, header, has_nan)


def _scaling(header: Header) -> tuple[float, float, int | None]:
    """BSCALE, BZERO and BLANK (ZBLANK for compressed HDUs) of a header."""
    bscale = float(header.get("BSCALE", 1.0))
    bzero = float(header.get("BZERO", 0.0))
    blank_value = header.get("ZBLANK", header.get("BLANK"))
    blank = int(blank_value) if isinstance(blank_value, (int, float)) else None
    return bscale, bzero, blank


def _read_plain(fh: Any, ext: ExtensionInfo, header: Header) -> Pixels | None:
    dtype = _BITPIX_DTYPE.get(ext.bitpix)
    if dtype is None:
        raise ExtensionError(f"{ext.label}: unsupported BITPIX {ext.bitpix}")
    count = prod(ext.shape)
    fh.seek(ext.data_offset)
    buf = bytearray(count * np.dtype(dtype).itemsize)
    n = fh.readinto(buf)
    if n != len(buf):
        raise ExtensionError(f"{ext.label}: truncated data ({n} of {len(buf)} bytes)")
    raw = np.frombuffer(buf, dtype=dtype).reshape(ext.shape)
    bscale, bzero, blank = _scaling(header)
    return _finish(raw, bscale, bzero, blank, header)


_DECODER: list[Any] = []


def _load_astropy_codec_directly() -> Any:
    """Load astropy's C codec module without importing the astropy package (saves ~0.3 s).

    ``_compression`` is a self-contained extension (cfitsio's codecs); loading it by file
    avoids ``import astropy.io.fits`` in the parent and in every worker. Returns None if
    anything about it is unexpected; the caller then imports it the normal way.
    """
    import importlib.machinery
    import importlib.util
    import sys

    name = "astropy.io.fits.hdu.compressed._compression"
    try:
        spec = importlib.util.find_spec("astropy")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = (
            Path(next(iter(spec.submodule_search_locations))) / "io" / "fits" / "hdu" / "compressed"
        )
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        candidates = [p for p in folder.glob("_compression*") if p.name.endswith(suffixes)]
        if not candidates:
            return None
        present = name in sys.modules
        loader = importlib.machinery.ExtensionFileLoader(name, str(candidates[0]))
        mod_spec = importlib.util.spec_from_loader(name, loader)
        if mod_spec is None:
            return None
        module = importlib.util.module_from_spec(mod_spec)
        loader.exec_module(module)
        if not present:
            sys.modules.pop(name, None)  # let a later ``import astropy.io.fits`` load it itself
        return module
    except Exception:  # pragma: no cover - depends on the astropy build
        return None


def _rice_decoder() -> Any:
    """astropy's ``decompress_rice_1_c`` (cached), or None if unavailable."""
    if not _DECODER:
        import importlib
        import sys

        name = "astropy.io.fits.hdu.compressed._compression"
        module: Any = sys.modules.get(name)
        if module is None and "astropy.io.fits" not in sys.modules:
            module = _load_astropy_codec_directly()
        if module is None:
            try:
                module = importlib.import_module(name)
            except ImportError:  # pragma: no cover - depends on the astropy version
                module = None
        _DECODER.append(getattr(module, "decompress_rice_1_c", None))
    return _DECODER[0]


def _read_rice_fast(fh: Any, ext: ExtensionInfo, header: Header) -> Pixels | None:
    """Rice-compressed integer image with full-row tiles; None when not applicable."""
    decode = _rice_decoder()
    if decode is None:
        return None
    cmp = str(header.get("ZCMPTYPE", "")).strip().upper()
    zbitpix = int(header.get("ZBITPIX", 0))
    if cmp not in ("RICE_1", "RICE_ONE") or zbitpix not in (8, 16, 32):
        return None
    if int(header.get("ZNAXIS", 0)) != 2 or int(header.get("TFIELDS", 0)) != 1:
        return None
    if str(header.get("TTYPE1", "")).strip().upper() != "COMPRESSED_DATA":
        return None
    tform = str(header.get("TFORM1", "")).strip().upper()
    if tform.lstrip("1").startswith("PB"):
        desc_dtype = ">i4"
    elif tform.lstrip("1").startswith("QB"):
        desc_dtype = ">i8"
    else:
        return None
    if "ZQUANTIZ" in header and zbitpix < 0:
        return None
    nx, ny = int(header["ZNAXIS1"]), int(header["ZNAXIS2"])
    tile_x = int(header.get("ZTILE1", nx))
    tile_y = int(header.get("ZTILE2", 1))
    if tile_x != nx or tile_y < 1:
        return None
    params: dict[str, Any] = {}
    for i in range(1, 10):
        pname = header.get(f"ZNAME{i}")
        if pname is None:
            break
        params[str(pname).strip().upper()] = header.get(f"ZVAL{i}")
    blocksize = int(params.get("BLOCKSIZE", 32))
    bytepix = int(params.get("BYTEPIX", zbitpix // 8))
    if bytepix != zbitpix // 8:
        return None
    row_bytes, n_rows = int(header["NAXIS1"]), int(header["NAXIS2"])
    pcount = int(header.get("PCOUNT", 0))
    theap = int(header.get("THEAP", row_bytes * n_rows))
    expected_rows = -(-ny // tile_y)
    if n_rows != expected_rows or row_bytes != np.dtype(desc_dtype).itemsize * 2:
        return None
    total = theap + pcount
    available = os.fstat(fh.fileno()).st_size - ext.data_offset
    if available < total:
        raise ExtensionError(
            f"{ext.label}: truncated compressed data ({max(0, available)} of {total} bytes)"
        )
    itemsize = zbitpix // 8
    tile_pixels = [nx * tile_y] * n_rows
    tile_pixels[-1] = nx * (ny - tile_y * (n_rows - 1))
    # The tiles are read and decoded a batch at a time straight into the array, rather
    # than reading the whole extension into a private copy first: ~27 MB less memory per
    # dense CCD for a worker to fault in, and the copies are of cache-sized batches.
    # (Plain reads, not a map of the file: a file cut short while it is read must be an
    # error, not a SIGBUS.)
    raw = np.empty((ny, nx), dtype=f"=i{itemsize}" if itemsize > 1 else "u1")
    fd = fh.fileno()
    base = ext.data_offset
    desc_bytes = os.pread(fd, 2 * n_rows * np.dtype(desc_dtype).itemsize, base)
    if len(desc_bytes) != 2 * n_rows * np.dtype(desc_dtype).itemsize:
        raise ExtensionError(f"{ext.label}: truncated compressed data")
    desc = np.frombuffer(desc_bytes, dtype=desc_dtype).reshape(n_rows, 2)
    sizes = desc[:, 0].astype(np.int64)
    starts = desc[:, 1].astype(np.int64) + theap
    if (sizes <= 0).any() or (starts < theap).any() or (starts + sizes > total).any():
        raise ExtensionError(f"{ext.label}: corrupt compressed data (bad tile descriptors)")
    starts += base
    bounds = list(zip(starts.tolist(), (starts + sizes).tolist(), tile_pixels, strict=True))
    try:
        _decode_tiles(fd, bounds, decode, blocksize, bytepix, raw.data.cast("B"))
    except ExtensionError as exc:
        raise ExtensionError(f"{ext.label}: {exc}") from None
    except OSError as exc:
        raise ExtensionError(f"{ext.label}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:
        raise ExtensionError(f"{ext.label}: cannot decompress: {_first_line(exc)}") from None
    bscale, bzero, blank = _scaling(header)
    return _finish(raw, bscale, bzero, blank, header)


_TILES_PER_BATCH = 256


def _decode_tiles(
    fd: int,
    bounds: list[tuple[int, int, int]],
    decode: Any,
    blocksize: int,
    bytepix: int,
    out: memoryview,
) -> None:
    """Decode the tiles (file start, file end, pixels) of ``fd`` into ``out``, in batches.

    Each batch is one read of the bytes its tiles span and one C-level pass over them
    (map/join, no Python bytecode per tile) copied into place, so the temporary bytes never
    exceed one batch: joining all the tiles at once held every decoded tile and the joined
    copy together, and the scattered tile buffers fragmented the worker's heap (the next
    CCD's arrays then needed new memory). The decoder wants bytes (not memoryviews), hence
    the small per-tile slices.
    """
    position = 0
    for first in range(0, len(bounds), _TILES_PER_BATCH):
        batch = bounds[first : first + _TILES_PER_BATCH]
        low = min(a for a, _, _ in batch)
        high = max(b for _, b, _ in batch)
        span = os.pread(fd, high - low, low)
        if len(span) != high - low:
            raise ExtensionError("truncated compressed data (the file got shorter)")
        want = sum(npix for _, _, npix in batch) * bytepix
        chunk = bytearray().join(
            map(
                decode,
                map(span.__getitem__, (slice(a - low, b - low) for a, b, _ in batch)),
                repeat(blocksize),
                repeat(bytepix),
                (npix for _, _, npix in batch),
            )
        )
        if len(chunk) != want:  # some decoders pad the last block: trim tile by tile
            chunk = bytearray().join(
                decode(span[a - low : b - low], blocksize, bytepix, npix)[: npix * bytepix]
                for a, b, npix in batch
            )
        if len(chunk) != want or position + want > len(out):
            raise ExtensionError("corrupt compressed data (wrong decoded size)")
        out[position : position + want] = chunk
        position += want
    if position != len(out):
        raise ExtensionError("corrupt compressed data (wrong decoded size)")


def _read_with_astropy(path: str | os.PathLike[str], ext: ExtensionInfo) -> Pixels:
    """Generic path: let astropy decompress and scale (uint16 for BZERO 32768, else float)."""
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, lazy_load_hdus=True, memmap=False) as hdul:
                hdu = hdul[ext.hdu_index]
                header: Header = {}
                for key, value in hdu.header.items():
                    if key and key not in ("COMMENT", "HISTORY"):
                        header.setdefault(key.upper(), value)
                raw = np.array(hdu.data)
    except Exception as exc:
        raise ExtensionError(f"{ext.label}: cannot read pixels: {_first_line(exc)}") from None
    if raw.ndim < 2:
        raise ExtensionError(f"{ext.label}: not a 2-D image")
    blank_value = header.get("BLANK")
    blank = int(blank_value) if raw.dtype.kind in "iu" and isinstance(blank_value, int) else None
    return _finish(raw, 1.0, 0.0, blank, header)
