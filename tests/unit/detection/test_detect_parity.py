"""Parity with the real ``funpack`` + ``source-extractor`` (Debian packages).

Skipped when the tools are missing, unless ``CANFAR_TUI_REQUIRE_TOOLS=1`` (then the tests
fail): ``scripts/install_detection_tools.sh`` installs them.

The issue's criterion, on a synthetic MegaCam-like image: per extension, ≥ 99.5 % of
source-extractor's sources with MAG_AUTO < −11 are matched within 1 pixel by ours, and the
median |ΔMAG_AUTO| of those is ≤ 0.03 mag.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "X_IMAGE",
    "Y_IMAGE",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "FLAGS",
    "KRON_RADIUS",
    "FLUX_ISO",
    "ISOAREA_IMAGE",
    "BACKGROUND",
    "FLUX_MAX",
    "XMIN_IMAGE",
    "YMAX_IMAGE",
)
SHARE = Path("/usr/share/source-extractor")
# 4 CCDs of 512 × 1024 with three times the MegaCam source density, so that each CCD has
# a few dozen sources brighter than MAG_AUTO −11.
CONFIG = SyntheticConfig(n_ccds=4, width=512, height=1024, seed=11).for_area().scaled(3.0)


@dataclass(frozen=True)
class Runs:
    ours: Path
    theirs: Path


def read_cat(path: Path) -> np.ndarray:
    names = [line.split()[2] for line in path.read_text().splitlines() if line.startswith("#")]
    return np.genfromtxt(path, names=names, comments="#", ndmin=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tools = require_tools("source-extractor", "funpack")
    work = tmp_path_factory.mktemp("parity")
    fz = work / "synth.fits.fz"
    write_synthetic_mef(fz, CONFIG, compress=True)
    # The seed's workflow: funpack -D, default.sex / default.conv, our default.param.
    sex_dir = work / "sex"
    sex_dir.mkdir()
    shutil.copy(fz, sex_dir / "synth.fits.fz")
    subprocess.run([tools["funpack"], "-D", "synth.fits.fz"], cwd=sex_dir, check=True)
    for name in ("default.sex", "default.conv"):
        src = SHARE / name
        if not src.is_file():  # pragma: no cover - packaging changed
            pytest.fail(f"{src} missing: the source-extractor package layout changed")
        shutil.copy(src, sex_dir / name)
    (sex_dir / "default.param").write_text("\n".join(COLUMNS) + "\n")
    subprocess.run(
        [
            tools["source-extractor"],
            "synth.fits",
            "-c",
            "default.sex",
            "-CATALOG_NAME",
            "synth.cat",
            "-VERBOSE_TYPE",
            "QUIET",
        ],
        cwd=sex_dir,
        check=True,
        capture_output=True,
    )
    ours = work / "ours.cat"
    code = cli.main([str(fz), "-o", str(ours), "--params", str(sex_dir / "default.param"), "-q"])
    assert code == 0
    return Runs(ours=ours, theirs=sex_dir / "synth.cat")


def match(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of theirs: index of the nearest of ours in the same extension, distance."""
    index = np.full(len(theirs), -1)
    dist = np.full(len(theirs), np.inf)
    for ext in np.unique(theirs["EXT_NUMBER"]):
        t = np.flatnonzero(theirs["EXT_NUMBER"] == ext)
        o = np.flatnonzero(ours["EXT_NUMBER"] == ext)
        if len(o) == 0:
            continue
        d = np.hypot(
            theirs["X_IMAGE"][t, None] - ours["X_IMAGE"][None, o],
            theirs["Y_IMAGE"][t, None] - ours["Y_IMAGE"][None, o],
        )
        nearest = d.argmin(axis=1)
        index[t] = o[nearest]
        dist[t] = d[np.arange(len(t)), nearest]
    return index, dist


def test_header_is_byte_identical(runs: Runs) -> None:
    ours = [
        line for line in runs.ours.read_text().splitlines(keepends=True) if line.startswith("#")
    ]
    theirs = [
        line for line in runs.theirs.read_text().splitlines(keepends=True) if line.startswith("#")
    ]
    assert ours == theirs


def test_bright_sources_match_per_extension(runs: Runs) -> None:
    ours, theirs = read_cat(runs.ours), read_cat(runs.theirs)
    index, dist = match(ours, theirs)
    bright = theirs["MAG_AUTO"] < -11
    report = []
    for ext in np.unique(theirs["EXT_NUMBER"]):
        sel = bright & (theirs["EXT_NUMBER"] == ext)
        matched = sel & (dist < 1.0)
        report.append(f"ext {int(ext)}: {matched.sum()}/{sel.sum()}")
    assert bright.sum() >= 100, report
    matched = bright & (dist < 1.0)
    fraction = matched.sum() / bright.sum()
    assert fraction >= 0.995, report
    dmag = ours["MAG_AUTO"][index[matched]] - theirs["MAG_AUTO"][matched]
    assert np.median(np.abs(dmag)) <= 0.03, report


def test_whole_catalogue_agrees(runs: Runs) -> None:
    ours, theirs = read_cat(runs.ours), read_cat(runs.theirs)
    assert abs(len(ours) - len(theirs)) <= 0.02 * len(theirs)
    index, dist = match(ours, theirs)
    matched = dist < 1.0
    assert matched.mean() >= 0.97
    o, t = ours[index[matched]], theirs[matched]
    # Same isophotal analysis: positions and shapes essentially identical.
    assert np.median(np.hypot(o["X_IMAGE"] - t["X_IMAGE"], o["Y_IMAGE"] - t["Y_IMAGE"])) < 0.01
    assert np.median(np.abs(o["A_IMAGE"] - t["A_IMAGE"])) < 0.01
    assert np.median(np.abs(o["ISOAREA_IMAGE"] - t["ISOAREA_IMAGE"])) == 0
    # The same Kron radius rule and photometry for most sources.
    assert np.mean(np.abs(o["KRON_RADIUS"] - t["KRON_RADIUS"]) < 0.02) > 0.75
    assert np.median(np.abs(o["MAG_AUTO"] - t["MAG_AUTO"])) < 0.005
    assert np.mean(np.abs(o["MAG_AUTO"] - t["MAG_AUTO"]) < 0.01) > 0.85
    assert np.mean(o["FLAGS"] == t["FLAGS"]) > 0.97
    positive = (t["FLUX_AUTO"] > 0) & (o["FLUX_AUTO"] > 0)
    ratio = o["FLUXERR_AUTO"][positive] / t["FLUXERR_AUTO"][positive]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.01)  # GAIN keyword used like SExtractor
    assert np.median(np.abs(o["BACKGROUND"] - t["BACKGROUND"])) < 0.5
    # FLAGS: crowded (1), blended (2), saturated (4), border (8) agree.
    for bit in (1, 2, 4, 8):
        agree = (o["FLAGS"].astype(int) & bit) == (t["FLAGS"].astype(int) & bit)
        assert agree.mean() > 0.97, bit


def test_missing_tools_skip_or_fail_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CANFAR_TUI_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="CANFAR_TUI_REQUIRE_TOOLS is set"):
        require_tools("source-extractor", "funpack")
    monkeypatch.delenv("CANFAR_TUI_REQUIRE_TOOLS")
    with pytest.raises(pytest.skip.Exception, match=r"install_detection_tools\.sh"):
        require_tools("source-extractor", "funpack")


def test_install_script_is_idempotent() -> None:
    require_tools("source-extractor", "funpack")
    script = Path(__file__).resolve().parents[3] / "scripts" / "install_detection_tools.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "detection tools present" in proc.stdout
