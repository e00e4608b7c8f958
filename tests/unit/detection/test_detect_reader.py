"""Reading FITS / .fits.fz: scanning, the fast Rice path, scaling, and bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from detect_support import SyntheticImage

from canfar_tui.detection.errors import ExtensionError, InputError
from canfar_tui.detection.reader import read_pixels, scan_image


def test_scan_compressed_mef(small_fz: SyntheticImage) -> None:
    exts, skipped = scan_image(small_fz.path)
    assert [e.ext_number for e in exts] == [1, 2, 3, 4]
    assert [e.hdu_index for e in exts] == [1, 2, 3, 4]
    assert [e.name for e in exts] == ["ccd00", "ccd01", "ccd02", "ccd03"]
    assert all(e.compressed and e.shape == (1024, 512) and e.bitpix == 16 for e in exts)
    assert skipped == ()


def test_fast_rice_path_matches_astropy(
    small_fz: SyntheticImage, small_plain: SyntheticImage
) -> None:
    exts, _ = scan_image(small_fz.path)
    plain_exts, _ = scan_image(small_plain.path)
    with fits.open(small_fz.path) as hdul:
        for ext, plain_ext in zip(exts, plain_exts, strict=True):
            pixels = read_pixels(small_fz.path, ext)
            reference = hdul[ext.hdu_index].data
            assert reference.dtype == np.uint16  # BZERO 32768 convention
            assert pixels.data.dtype == np.float32 and pixels.data.flags.c_contiguous
            np.testing.assert_array_equal(pixels.data, reference.astype(np.float32))
            assert pixels.physical(np.array([5]), np.array([7]))[0] == float(reference[5, 7])
            assert pixels.header["GAIN"] == hdul[ext.hdu_index].header["GAIN"]
            plain = read_pixels(small_plain.path, plain_ext)
            np.testing.assert_array_equal(plain.data, pixels.data)


def test_float_scaled_and_blank_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    floats = rng.normal(100, 5, (64, 80)).astype(">f4")
    floats[3, 4] = np.nan
    stored = rng.integers(-100, 100, (64, 80)).astype(np.int16)
    stored[0, 0] = -32768
    path = tmp_path / "mixed.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(floats),
            fits.ImageHDU(stored),
            fits.CompImageHDU(floats.astype(np.float32), compression_type="GZIP_1"),
        ]
    ).writeto(path)
    # Give the integer extension BSCALE/BZERO/BLANK without rescaling the stored values.
    with fits.open(path, mode="update", do_not_scale_image_data=True) as hdul:
        hdul[1].header.update({"BSCALE": 2.0, "BZERO": 10.0, "BLANK": -32768})
    exts, _ = scan_image(path)
    assert [e.ext_number for e in exts] == [1, 2, 3]
    p0 = read_pixels(path, exts[0])
    assert p0.has_nan and np.isnan(p0.data[3, 4])
    np.testing.assert_array_equal(p0.data[0], floats[0].astype(np.float32))
    p1 = read_pixels(path, exts[1])
    assert np.isnan(p1.data[0, 0])
    np.testing.assert_allclose(p1.data[1], stored[1] * 2.0 + 10.0)
    p2 = read_pixels(path, exts[2])  # generic astropy path (GZIP, lossy float quantisation)
    assert p2.data.shape == (64, 80)
    assert np.isnan(p2.data[3, 4])


def test_table_extensions_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "with_table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.ones(3))])
    table.name = "CAT"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((20, 20), np.float32)), table]).writeto(
        path
    )
    exts, skipped = scan_image(path)
    assert len(exts) == 1
    assert skipped == ("HDU 2 (CAT): binary table, not an image",)


def test_gzip_fits_is_read_through_astropy(tmp_path: Path) -> None:
    data = np.arange(400, dtype=np.float32).reshape(20, 20)
    raw = tmp_path / "img.fits"
    fits.PrimaryHDU(data).writeto(raw)
    gz = tmp_path / "img.fits.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    exts, _ = scan_image(gz)
    assert exts[0].header_offset == -1
    np.testing.assert_array_equal(read_pixels(gz, exts[0]).data, data)


# ----------------------------------------------------------------------------- bad files


def _message(path: Path) -> str:
    with pytest.raises(InputError) as info:
        scan_image(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_empty_and_non_fits(tmp_path: Path) -> None:
    assert "no such file" in _message(tmp_path / "nope.fits")
    (tmp_path / "empty.fits").write_bytes(b"")
    assert "empty file" in _message(tmp_path / "empty.fits")
    (tmp_path / "text.fits").write_text("hello, this is not FITS\n" * 200)
    assert "not a FITS file" in _message(tmp_path / "text.fits")
    (tmp_path / "short.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    assert "truncated" in _message(tmp_path / "short.fits")
    assert "directory" in _message(tmp_path)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.999])
def test_truncated_fz(small_fz: SyntheticImage, tmp_path: Path, fraction: float) -> None:
    data = small_fz.path.read_bytes()
    cut = max(2881, int(len(data) * fraction))
    path = tmp_path / "cut.fits.fz"
    path.write_bytes(data[:cut])
    assert "truncated" in _message(path)


def test_header_only_and_table_only(tmp_path: Path) -> None:
    path = tmp_path / "header.fits"
    fits.PrimaryHDU().writeto(path)
    assert "only header" in _message(path)
    table = tmp_path / "table.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="x", format="J", array=[1])]),
        ]
    ).writeto(table)
    assert "no image extension" in _message(table)


def test_wrong_dimensions_is_an_extension_error(tmp_path: Path) -> None:
    path = tmp_path / "cube.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(np.zeros((3, 10, 10), np.float32)),
            fits.ImageHDU(np.zeros(5)),
        ]
    ).writeto(path)
    exts, _ = scan_image(path)
    assert len(exts) == 2
    with pytest.raises(ExtensionError, match="not a 2-D image"):
        read_pixels(path, exts[0])
    with pytest.raises(ExtensionError, match="not a 2-D image"):
        read_pixels(path, exts[1])


@pytest.mark.parametrize("tile_rows", [1, 16, 100])
def test_fast_rice_path_with_multi_row_tiles(
    tmp_path: Path, tile_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canfar_tui.detection import reader

    def no_fallback(*args: object) -> None:
        raise AssertionError("the generic astropy path was used")

    monkeypatch.setattr(reader, "_read_with_astropy", no_fallback)
    rng = np.random.default_rng(8)
    # 610 rows: a short last tile for 16 and 100, and more tiles than one decoding batch.
    data = rng.integers(0, 65535, (610, 130)).astype(np.uint16)
    path = tmp_path / "tiles.fits.fz"
    hdu = fits.CompImageHDU(data, compression_type="RICE_1", tile_shape=(tile_rows, 130))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    (ext,), _ = scan_image(path)
    pixels = read_pixels(path, ext)
    np.testing.assert_array_equal(pixels.data, data.astype(np.float32))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("short tile", "cannot decompress: decompression error"),
        ("tile outside the heap", "corrupt compressed data (bad tile descriptors)"),
        ("garbled tiles", "cannot decompress: decompression warning"),
    ],
)
def test_damaged_compressed_tiles_are_one_line_errors(
    tmp_path: Path, damage: str, message: str
) -> None:
    """Damage inside the tiles (the scan cannot see it) fails the CCD in one line."""
    import struct

    rng = np.random.default_rng(8)
    data = rng.integers(0, 65535, (610, 130)).astype(np.uint16)
    path = tmp_path / "damaged.fits.fz"
    hdu = fits.CompImageHDU(data, compression_type="RICE_1", tile_shape=(1, 130))
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    (ext,), _ = scan_image(path)
    content = bytearray(path.read_bytes())
    first_descriptor = ext.data_offset  # (size, offset) pairs of big-endian int32
    heap = ext.data_offset + 610 * 8
    if damage == "short tile":
        content[first_descriptor : first_descriptor + 4] = struct.pack(">i", 1)
    elif damage == "tile outside the heap":
        content[first_descriptor + 4 : first_descriptor + 8] = struct.pack(">i", 10**8)
    else:
        content[heap + 10 : heap + 4000] = rng.integers(0, 256, 3990, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(content))
    with pytest.raises(ExtensionError) as info:
        read_pixels(path, ext)
    assert str(info.value).startswith(f"{ext.label}: {message}")
    assert "\n" not in str(info.value)


def test_a_file_cut_short_after_the_scan_is_a_one_line_error(
    small_fz: SyntheticImage, tmp_path: Path
) -> None:
    """The image is replaced by a shorter one between the scan and the read (a download
    into the same name): the CCD fails with one line, no crash."""
    path = tmp_path / "shrinking.fits.fz"
    path.write_bytes(small_fz.path.read_bytes())
    exts, _ = scan_image(path)
    with path.open("r+b") as handle:
        handle.truncate(exts[-1].data_offset + 100)
    with pytest.raises(ExtensionError) as info:
        read_pixels(path, exts[-1])
    assert str(info.value).startswith(f"{exts[-1].label}: truncated compressed data")
    assert "\n" not in str(info.value)
