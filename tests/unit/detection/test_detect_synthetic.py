"""The synthetic MegaCam-like image generator, and import hygiene of the detection package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from detect_support import SMALL, SyntheticImage

from canfar_tui.detection.synthetic import SyntheticConfig, main, make_ccd, write_synthetic_mef


def test_layout_and_megacam_conventions(
    small_fz: SyntheticImage, small_plain: SyntheticImage
) -> None:
    with (
        fits.open(small_fz.path) as fz,
        fits.open(small_plain.path, do_not_scale_image_data=True) as plain,
    ):
        assert len(fz) == len(plain) == SMALL.n_ccds + 1
        assert fz[0].header["NEXTEND"] == SMALL.n_ccds
        for i in range(1, SMALL.n_ccds + 1):
            assert isinstance(fz[i], fits.CompImageHDU)
            assert fz[i].compression_type == "RICE_1"
            assert fz[i].header["EXTNAME"] == f"ccd{i - 1:02d}"
            assert plain[i].header["BITPIX"] == 16 and plain[i].header["BZERO"] == 32768
            assert {"GAIN", "SATURATE", "RDNOISE", "EXPTIME"} <= set(fz[i].header)
            data = fz[i].data
            assert data.dtype == np.uint16 and data.shape == (SMALL.height, SMALL.width)
            np.testing.assert_array_equal(data, plain[i].data.astype(np.int32) + 32768)
            assert 1300 < np.median(data) < 1700  # sky
            # Noise: the robust spread of pixel differences, ~sqrt(2) x the sky noise (~30 ADU).
            diffs = np.diff(data.astype(float), axis=1)
            assert 30 < 1.4826 * np.median(np.abs(diffs - np.median(diffs))) < 60


def test_deterministic_and_independent_ccds() -> None:
    config = SyntheticConfig(n_ccds=3, width=128, height=256, seed=5).for_area()
    a, _, truth_a = make_ccd(config, 1)
    b, _, truth_b = make_ccd(config, 1)
    np.testing.assert_array_equal(a, b)
    assert truth_a == truth_b
    c, _, _ = make_ccd(SyntheticConfig(n_ccds=3, width=128, height=256, seed=6).for_area(), 1)
    assert not np.array_equal(a, c)
    more = SyntheticConfig(n_ccds=10, width=128, height=256, seed=5).for_area()
    np.testing.assert_array_equal(make_ccd(more, 1)[0], a)  # CCD 1 does not depend on n_ccds


def test_truth_sources_and_artefacts() -> None:
    config = SyntheticConfig(n_ccds=1, width=512, height=1024, seed=2).for_area()
    pixels, header, truth = make_ccd(config, 0)
    data = pixels.astype(np.float64)
    kinds = {s.kind for s in truth}
    assert kinds == {"star", "galaxy"}
    assert all(0.5 <= s.x <= 512.5 and 0.5 <= s.y <= 1024.5 and s.flux > 0 for s in truth)
    assert all(s.ext_number == 1 for s in truth)
    # A hot bad column: one column clearly above its neighbours over part of the CCD.
    column_medians = np.median(data, axis=0)
    excess = column_medians - np.median(column_medians)
    assert excess.max() > 100
    # Cosmic rays: many single-pixel spikes far above the local sky.
    spikes = (data[1:-1, 1:-1] - np.median(data)) > 400
    assert spikes.sum() > 5
    assert header["SATURATE"] == 65535.0 and data.max() <= 65535


def test_float32_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "f.fits"
    config = SyntheticConfig(n_ccds=2, width=64, height=64, seed=1, dtype="float32").for_area()
    write_synthetic_mef(path, config, compress=False)
    with fits.open(path) as hdul:
        assert hdul[1].data.dtype.kind == "f"
    assert (
        main([str(tmp_path / "c.fits.fz"), "--ccds", "2", "--width", "64", "--height", "64"]) == 0
    )
    with fits.open(tmp_path / "c.fits.fz") as hdul:
        assert len(hdul) == 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_import_is_cheap_and_headless() -> None:
    code = (
        "import json, sys, canfar_tui.detection, canfar_tui.cli.detect; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    heavy = sorted(
        m for m in loaded if m.split(".")[0] in {"numpy", "astropy", "sep", "textual", "rich"}
    )
    assert heavy == []


def test_scanning_and_reading_an_fz_does_not_import_astropy(small_fz: SyntheticImage) -> None:
    code = (
        "import json, sys\n"
        "from canfar_tui.detection.reader import scan_image, read_pixels\n"
        f"exts, _ = scan_image({str(small_fz.path)!r})\n"
        f"read_pixels({str(small_fz.path)!r}, exts[0])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('astropy'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []
