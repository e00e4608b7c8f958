"""SExtractor's check-images (CHECKIMAGE_TYPE / CHECKIMAGE_NAME), one HDU per image extension.

Like source-extractor (``check.c``), each check-image file holds, for a multi-extension
image, an empty primary HDU (``NEXTEND``) then one image HDU per measured extension, whose
header is the input extension's (EXTNAME, WCS…) with ``BSCALE 1``, ``BZERO 0``; for a
single image it is one primary HDU. What each type holds:

* ``BACKGROUND`` / ``BACKGROUND_RMS``: the background and its RMS maps (float32);
* ``MINIBACKGROUND`` / ``MINIBACK_RMS``: the same on the mesh grid (one pixel per
  BACK_SIZE mesh, taken at the mesh centres), the WCS scaled to it (CRPIX, CD, CDELT);
* ``-BACKGROUND``: the background-subtracted image;
* ``FILTERED``: the background-subtracted image convolved with the FILTER_NAME kernel;
* ``OBJECTS`` / ``-OBJECTS``: only the detected pixels, or everything but them (0 there);
* ``SEGMENTATION``: int32, each detected pixel holds its source's NUMBER;
* ``APERTURES``: the background-subtracted image with the AUTO ellipses (when an AUTO or
  BEST column is asked for), the PHOT_APERTURES circles (APER columns) and the Petrosian
  ellipses (PETRO columns) added at 30 × the background RMS, crowded sources' dotted, as
  SExtractor does.

Memory stays at one CCD per worker: the runner makes a hidden parts folder beside each
destination (:func:`prepare`); each worker (:func:`write_parts`, called by the engine only
when check-images are asked for) writes its extension's pixels there and returns the part's
path and header; the runner then joins the parts in extension order into each destination
with :func:`canfar_tui.clients.files.atomic_writer` (:func:`assemble`) — a reader never sees
half a check-image — and :func:`cleanup` removes the folders whatever happened (failure,
cancel, a worker finishing after a cancel).

Imports numpy (and astropy for the headers); import it only when detection runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from canfar_tui.detection.errors import DetectionError, ExtensionError

if TYPE_CHECKING:
    import numpy.typing as npt

    from canfar_tui.detection.events import ExtensionInfo, ExtensionResult
    from canfar_tui.detection.params import DetectionParams

__all__ = ["CheckImageError", "assemble", "cleanup", "discard", "prepare", "write_parts"]

FITS_BLOCK = 2880
_STRUCTURAL = frozenset(
    {
        "SIMPLE",
        "XTENSION",
        "BITPIX",
        "NAXIS",
        "NAXIS1",
        "NAXIS2",
        "NAXIS3",
        "PCOUNT",
        "GCOUNT",
        "EXTEND",
        "NEXTEND",
        "BSCALE",
        "BZERO",
        "BLANK",
        "CHECKSUM",
        "DATASUM",
        "END",
    }
)
ORIGIN = "canfar-tui detect (sep)"


class CheckImageError(DetectionError):
    """A check-image could not be written (one line)."""


def _image_cards(source: tuple[str, ExtensionInfo] | None) -> list[tuple[str, Any, str]]:
    """The input extension's header cards, without the structural ones.

    A plain image's header is read straight from its bytes (astropy walking the file to the
    HDU cost ~0.3 s per CCD); a tile-compressed one through astropy (the image's header, not
    the binary table's).
    """
    if source is None:
        return []
    import warnings

    from astropy.io import fits

    path, ext = source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not ext.compressed and ext.data_offset > ext.header_offset:
            with open(path, "rb") as fh:
                fh.seek(ext.header_offset)
                raw = fh.read(ext.data_offset - ext.header_offset)
            header = fits.Header.fromstring(raw.decode("ascii", errors="replace"))
        else:
            with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                header = hdul[ext.hdu_index].header.copy()
    cards = []
    for card in header.cards:
        key = card.keyword
        if key in _STRUCTURAL or (key.startswith("Z") and header.get("ZIMAGE") is not None):
            continue
        cards.append((key, card.value, card.comment))
    return cards


def _header(cards: Sequence[tuple[str, Any, str]], shape: tuple[int, int], bitpix: int) -> Any:
    from astropy.io import fits

    header = fits.Header()
    header["XTENSION"] = ("IMAGE", "Image extension")
    header["BITPIX"] = (bitpix, "array data type")
    header["NAXIS"] = (2, "number of array dimensions")
    header["NAXIS1"] = shape[1]
    header["NAXIS2"] = shape[0]
    header["PCOUNT"] = (0, "number of parameters")
    header["GCOUNT"] = (1, "number of groups")
    header["BSCALE"] = 1.0
    header["BZERO"] = 0.0
    for key, value, comment in cards:
        if key == "COMMENT":
            header.add_comment(value)
            continue
        if key in ("HISTORY", ""):
            header.add_history(value)
            continue
        header[key] = (value, comment)
    header["ORIGIN"] = ORIGIN
    return header


def _mini_header(
    cards: Sequence[tuple[str, Any, str]], shape: tuple[int, int], bw: int, bh: int
) -> Any:
    header = _header(cards, shape, -32)
    scale = {"1": bw, "2": bh}
    for axis, step in scale.items():
        if f"CRPIX{axis}" in header:
            header[f"CRPIX{axis}"] = (float(header[f"CRPIX{axis}"]) - 0.5) / step + 0.5
        if f"CDELT{axis}" in header:
            header[f"CDELT{axis}"] = float(header[f"CDELT{axis}"]) * step
        for row in ("1", "2"):
            key = f"CD{row}_{axis}"
            if key in header:
                header[key] = float(header[key]) * step
    return header


def _convolve(
    data: npt.NDArray[np.float32], kernel: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``data`` convolved with ``kernel`` (zero outside the image).

    A separable kernel (``default.conv``, the gaussians) is applied as a column pass and a
    row pass; others one shifted multiply-add per tap, in place.
    """
    k = np.asarray(kernel, dtype=np.float64)
    u, sv, vt = np.linalg.svd(k)
    if len(sv) == 1 or sv[1] <= 1e-6 * sv[0]:
        column = (u[:, 0] * sv[0]).reshape(-1, 1)
        row = vt[0].reshape(1, -1)
        return _shift_add(_shift_add(data, column), row)
    return _shift_add(data, k)


def _shift_add(
    data: npt.NDArray[np.float32], kernel: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    ky, kx = kernel.shape
    hy, hx = ky // 2, kx // 2
    ny, nx = data.shape
    out = np.zeros_like(data)
    tmp = np.empty_like(data)
    for j in range(ky):
        for i in range(kx):
            w = np.float32(kernel[j, i])
            if w == 0:
                continue
            dy, dx = j - hy, i - hx
            ys, yd = slice(max(0, dy), ny + min(0, dy)), slice(max(0, -dy), ny + min(0, -dy))
            xs, xd = slice(max(0, dx), nx + min(0, dx)), slice(max(0, -dx), nx + min(0, -dx))
            part = tmp[yd, xd]
            np.multiply(data[ys, xs], w, out=part)
            out[yd, xd] += part
    return out


def _mesh_sample(full: npt.NDArray[np.float32], bw: int, bh: int) -> npt.NDArray[np.float32]:
    """A full-resolution background map at the centre of each BACK_SIZE mesh."""
    ny, nx = full.shape
    mx, my = (nx - 1) // bw + 1, (ny - 1) // bh + 1

    def axis(n_mesh: int, step: int, size: int) -> tuple[Any, Any, Any]:
        centre = np.clip((np.arange(n_mesh) + 0.5) * step - 0.5, 0, size - 1)
        lo = np.floor(centre).astype(np.intp)
        hi = np.minimum(lo + 1, size - 1)
        return lo, hi, centre - lo

    x0, x1, fx = axis(mx, bw, nx)
    y0, y1, fy = axis(my, bh, ny)
    top = full[y0][:, x0] * (1 - fx) + full[y0][:, x1] * fx
    bottom = full[y1][:, x0] * (1 - fx) + full[y1][:, x1] * fx
    return np.asarray(top * (1 - fy)[:, None] + bottom * fy[:, None], dtype=np.float32)


def _outline(
    image: npt.NDArray[np.float32],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    theta: npt.NDArray[np.float64],
    value: float,
    dotted: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Add ``value`` along ellipse outlines (0-based centres, semi-axes, angle in radians).

    Like SExtractor's ``sexellips``: a 36-segment polygon whose pixels get ``value`` added,
    every other segment left out for ``dotted`` (crowded) sources.
    """
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    ok &= np.isfinite(theta)
    if not ok.any():
        return
    dots = np.zeros(len(x), dtype=bool) if dotted is None else dotted
    x, y, a, b, theta, dots = x[ok], y[ok], a[ok], b[ok], theta[ok], dots[ok]
    per_segment = np.maximum(2, np.ceil(2.0 * math.pi * a / 36.0 * 2.0)).astype(np.int64)
    steps = 36 * per_segment
    owner = np.repeat(np.arange(len(x)), steps)
    start = np.repeat(np.cumsum(steps) - steps, steps)
    k = np.arange(int(steps.sum())) - start
    segment = 1 + k // per_segment[owner]  # SExtractor's segments 1…36
    keep = ~(dots[owner] & (segment % 2 == 0))
    owner, k = owner[keep], k[keep]
    t = 2.0 * math.pi * k / steps[owner]
    ct, st = np.cos(theta[owner]), np.sin(theta[owner])
    ex, ey = a[owner] * np.cos(t), b[owner] * np.sin(t)
    px = np.rint(x[owner] + ex * ct - ey * st).astype(np.int64)
    py = np.rint(y[owner] + ex * st + ey * ct).astype(np.int64)
    ny, nx = image.shape
    inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
    owner, flat = owner[inside], py[inside] * nx + px[inside]
    # Points follow each outline in order: a pixel is counted once per ellipse by dropping
    # repeats of the previous point (np.unique over millions of points cost 0.3 s per CCD).
    new = np.ones(len(flat), dtype=bool)
    new[1:] = (flat[1:] != flat[:-1]) | (owner[1:] != owner[:-1])
    np.add.at(image.reshape(-1), flat[new], np.float32(value))


def _apertures(
    data: npt.NDArray[np.float32],
    segmap: npt.NDArray[np.int32],
    catalogue: npt.NDArray[np.void],
    params: DetectionParams,
    rms: float,
) -> npt.NDArray[np.float32]:
    image = data.copy()
    overlay = 30.0 * rms
    names = catalogue.dtype.names or ()
    columns = set(params.columns)
    x = catalogue["X_IMAGE"].astype(np.float64) - 1.0
    y = catalogue["Y_IMAGE"].astype(np.float64) - 1.0
    a = catalogue["A_IMAGE"].astype(np.float64)
    b = catalogue["B_IMAGE"].astype(np.float64)
    theta = np.radians(catalogue["THETA_IMAGE"].astype(np.float64))
    crowded = (catalogue["FLAGS"].astype(np.int64) & 1) != 0
    zero = np.zeros_like(x)
    if any("_APER" in c for c in columns):
        for diameter in params.phot_apertures:
            r = np.full_like(x, diameter / 2.0)
            _outline(image, x, y, r, r, zero, overlay)
    if any(c.endswith(("_AUTO", "_BEST")) or c == "KRON_RADIUS" for c in columns):
        k = catalogue["KRON_RADIUS"].astype(np.float64)
        _outline(image, x, y, a * k, b * k, theta, overlay, crowded)
    if any("PETRO" in c for c in columns):
        if "PETRO_RADIUS" in names:
            k = catalogue["PETRO_RADIUS"].astype(np.float64)
        else:
            from canfar_tui.detection.photom_extra import petrosian

            k = petrosian(data, segmap, catalogue, params, gain=0.0, rms=rms, mask=None)[2]
        _outline(image, x, y, a * k, b * k, theta, overlay, crowded)
    return image


def prepare(params: DetectionParams) -> DetectionParams:
    """``params`` for one run: absolute CHECKIMAGE_NAMEs and a hidden parts folder beside each.

    The workers may not share this process's current directory, hence absolute names. The
    folders are removed by :func:`cleanup` whatever happens, so that a worker still running
    after a cancel cannot leave its part behind. Raises :class:`CheckImageError` (one line)
    when a folder cannot be made (missing directory, permission…), before any work is done.
    """
    import dataclasses

    names = tuple(os.path.abspath(n) for n in params.checkimage_name)
    folders: list[str] = []
    made: dict[str, str] = {}
    try:
        for name in names:
            if name not in made:
                directory = os.path.dirname(name)
                if not os.path.isdir(directory):
                    raise CheckImageError(
                        f"check-image {name}: directory {directory} does not exist"
                    )
                try:
                    made[name] = tempfile.mkdtemp(
                        prefix=f".{os.path.basename(name)}.", suffix=".parts", dir=directory
                    )
                except OSError as exc:
                    raise CheckImageError(
                        f"check-image {name}: cannot write: {exc.strerror or exc}"
                    ) from None
            folders.append(made[name])
    except CheckImageError:
        for folder in made.values():
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return dataclasses.replace(params, checkimage_name=names, checkimage_parts=tuple(folders))


def cleanup(params: DetectionParams, results: Iterable[ExtensionResult]) -> None:
    """Remove the parts still held by ``results`` and the run's parts folders."""
    discard(results)
    for folder in set(params.checkimage_parts):
        shutil.rmtree(folder, ignore_errors=True)


def _part_folder(params: DetectionParams, name: str) -> str:
    for candidate, folder in zip(params.checkimage_name, params.checkimage_parts, strict=False):
        if candidate == name:
            return folder
    return os.path.dirname(name) or "."


def _write_part(directory: str, target: str, ext_number: int, array: npt.NDArray[Any]) -> str:
    """Write ``array`` big-endian, padded to FITS blocks, to a part file in ``directory``."""
    big = array.dtype.newbyteorder(">")
    try:
        fd, part = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(target)}.ext{ext_number}.", suffix=".part"
        )
    except OSError as exc:
        raise ExtensionError(f"check-image {target}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            rows = max(1, (8 << 20) // max(1, array.shape[1] * array.itemsize))
            for start in range(0, array.shape[0], rows):
                np.ascontiguousarray(array[start : start + rows], dtype=big).tofile(fh)
            size = array.size * array.itemsize
            fh.write(b"\0" * (-size % FITS_BLOCK))
    except OSError as exc:
        os.unlink(part)
        raise ExtensionError(f"check-image {target}: cannot write: {exc.strerror or exc}") from None
    return part


def write_parts(
    params: DetectionParams,
    *,
    data: npt.NDArray[np.float32],
    bkg: Any,
    segmap: npt.NDArray[np.int32],
    catalogue: npt.NDArray[np.void],
    rms: float,
    kernel: npt.NDArray[np.float32] | None,
    ext_number: int,
    source: tuple[str, ExtensionInfo] | None,
) -> dict[str, tuple[str, str]]:
    """Write this extension's check-images to part files: CHECKIMAGE_NAME → (part, header).

    ``data`` is the background-subtracted image, ``bkg`` the ``sep.Background``, ``segmap``
    sep's segmentation map (object ``i`` is ``i + 1`` = its NUMBER), ``source`` the image
    path and extension whose header the check-images copy.
    """
    cards = _image_cards(source)
    shape = (int(data.shape[0]), int(data.shape[1]))
    bw, bh = (min(v, n) for v, n in zip(params.back_size, (shape[1], shape[0]), strict=True))
    parts: dict[str, tuple[str, str]] = {}
    try:
        for kind, name in params.check_images:
            array: npt.NDArray[Any]
            header: Any = None
            if kind in ("BACKGROUND", "MINIBACKGROUND"):
                if params.back_type == "MANUAL":
                    array = np.full(shape, params.back_value, dtype=np.float32)
                else:
                    array = np.asarray(bkg.back(dtype=np.float32))
            elif kind in ("BACKGROUND_RMS", "MINIBACK_RMS"):
                array = np.asarray(bkg.rms(dtype=np.float32))
            elif kind == "-BACKGROUND":
                array = data
            elif kind == "FILTERED":
                array = data if kernel is None else _convolve(data, kernel)
            elif kind == "OBJECTS":
                array = np.where(segmap > 0, data, np.float32(0))
            elif kind == "-OBJECTS":
                array = np.where(segmap > 0, np.float32(0), data)
            elif kind == "SEGMENTATION":
                array = segmap.astype(np.int32, copy=False)
                header = _header(cards, shape, 32)
            elif kind == "APERTURES":
                array = _apertures(data, segmap, catalogue, params, rms)
            else:  # pragma: no cover - params validates the types
                continue
            if kind.startswith("MINI"):
                array = _mesh_sample(array, bw, bh)
                header = _mini_header(cards, (array.shape[0], array.shape[1]), bw, bh)
            if header is None:
                header = _header(cards, shape, -32)
            part = _write_part(_part_folder(params, name), name, ext_number, array)
            if name in parts:  # two types, one name: the last one wins, as in SExtractor
                discard_parts([parts[name]])
            parts[name] = (part, header.tostring())
            del array
    except BaseException:
        discard_parts(parts.values())
        raise
    return parts


def discard_parts(parts: Iterable[tuple[str, str]]) -> None:
    """Remove part files (already gone is fine)."""
    for part, _ in parts:
        with contextlib.suppress(OSError):
            os.unlink(part)


def discard(results: Iterable[ExtensionResult]) -> None:
    """Remove every part file the ``results`` still hold (a failed or cancelled image)."""
    for result in results:
        discard_parts(result.check_parts.values())


def _append(fh: Any, part: str) -> None:
    """Append the file ``part`` to ``fh``: in the kernel when it can (no copy through Python)."""
    fh.flush()
    with open(part, "rb") as src:
        remaining = os.fstat(src.fileno()).st_size
        try:
            while remaining > 0:
                done = os.copy_file_range(src.fileno(), fh.fileno(), remaining)
                if done <= 0:
                    break
                remaining -= done
        except (AttributeError, OSError):
            pass  # another file system or kernel: copy the rest through Python
        if remaining > 0:
            shutil.copyfileobj(src, fh, 8 << 20)


def assemble(params: DetectionParams, results: Sequence[ExtensionResult], n_images: int) -> None:
    """Join the parts of the measured extensions into each CHECKIMAGE_NAME, atomically.

    ``n_images`` is the number of image extensions of the input: with more than one the file
    gets an empty primary HDU (``NEXTEND``) and one image extension each, like SExtractor.
    Raises :class:`CheckImageError` (one line); the parts are removed in every case.
    """
    from astropy.io import fits

    from canfar_tui.clients.files import UnsafeTarget, atomic_writer

    ok = [r for r in results if r.ok]
    try:
        for _, name in params.check_images:
            target = Path(name)
            if not target.parent.is_dir():
                raise CheckImageError(
                    f"check-image {name}: directory {target.parent} does not exist"
                )
            try:
                with atomic_writer(target) as fh:
                    multi = n_images > 1
                    if multi:
                        primary = fits.Header()
                        primary["SIMPLE"] = (True, "conforms to FITS standard")
                        primary["BITPIX"] = (8, "array data type")
                        primary["NAXIS"] = (0, "number of array dimensions")
                        primary["EXTEND"] = True
                        primary["NEXTEND"] = (len(ok), "Number of extensions")
                        fh.write(primary.tostring().encode("ascii"))
                    for result in ok:
                        part, text = result.check_parts[name]
                        header = fits.Header.fromstring(text)
                        if not multi:
                            header.remove("XTENSION")
                            header.insert(0, ("SIMPLE", True, "conforms to FITS standard"))
                            header.remove("PCOUNT")
                            header.remove("GCOUNT")
                        fh.write(header.tostring().encode("ascii"))
                        _append(fh, part)
                        os.unlink(part)
            except UnsafeTarget as exc:
                raise CheckImageError(f"check-image {name}: {exc}") from None
            except OSError as exc:
                raise CheckImageError(
                    f"check-image {name}: cannot write: {exc.strerror or exc}"
                ) from None
    finally:
        discard(results)
