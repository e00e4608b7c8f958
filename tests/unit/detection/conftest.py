"""Fixtures for the detection tests: small synthetic MegaCam-like images made at test time."""

from __future__ import annotations

from pathlib import Path

import pytest
from detect_support import SMALL, SyntheticImage

from canfar_tui.detection.synthetic import write_synthetic_mef


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthetic")


@pytest.fixture(scope="session")
def small_fz(synth_dir: Path) -> SyntheticImage:
    path = synth_dir / "small.fits.fz"
    truth = write_synthetic_mef(path, SMALL, compress=True)
    return SyntheticImage(path, SMALL, tuple(truth))


@pytest.fixture(scope="session")
def small_plain(synth_dir: Path) -> SyntheticImage:
    path = synth_dir / "small.fits"
    truth = write_synthetic_mef(path, SMALL, compress=False)
    return SyntheticImage(path, SMALL, tuple(truth))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory (catalogues are written to the CWD by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
