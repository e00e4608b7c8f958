"""FLAGS, weight maps, flag maps and the local background against the real source-extractor.

The same command line is given to ``source-extractor`` and ``canfar-tui detect`` on synthetic
images: a crowded field with saturated stars (FLAGS), an image whose noise grows across each
CCD with its weight map written as MAP_RMS, MAP_VAR (unnormalised) and MAP_WEIGHT, a weight map
with dead regions (FLAGS_WEIGHT), a flag map (IMAFLAGS_ISO / NIMAFLAGS_ISO for every
FLAG_TYPE) and BACKPHOTO_TYPE LOCAL. On the matched bright half of the sources the columns
must agree as issue 14 asks (positions ≤ 0.05 px, magnitudes ≤ 0.03, fluxes ≤ 5 % median,
FLAGS equal on ≥ 95 %, ≥ 99.5 % matched within 1 px). Each test also checks that the option
changes source-extractor's own catalogue, so that ignoring it could not pass. Skipped
without the tools (see test_detect_parity.py).
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from detect_support import require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.synthetic import SyntheticConfig, make_ccd, write_synthetic_mef

SHARE = Path("/usr/share/source-extractor")
BASE_COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "MAG_AUTO",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "FLUX_ISO",
    "FLUXERR_ISO",
    "BACKGROUND",
    "THRESHOLD",
    "FLAGS",
)

Table = dict[str, npt.NDArray[np.float64]]


@dataclass
class Matched:
    """The bright half of source-extractor's rows and our row matched to each."""

    ours: Table
    theirs: Table
    fraction: float
    n_bright: int


def _read_ascii_head(path: Path) -> Table:
    names: list[str] = []
    rows = np.loadtxt(path, ndmin=2)

    def fill(up_to: int) -> None:  # the other elements of a vector column
        base, k = names[-1].split("[")[0], 1
        while len(names) < up_to:
            names.append(f"{base}[{k}]")
            k += 1

    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        parts = line.split()
        if names:
            fill(int(parts[1]) - 1)
        names.append(parts[2])
    fill(rows.shape[1])
    return {name: rows[:, i] for i, name in enumerate(names)}


def _match(ours: Table, theirs: Table) -> Matched:
    index = np.full(len(theirs["X_IMAGE"]), -1)
    dist = np.full(len(theirs["X_IMAGE"]), np.inf)
    for ext in np.unique(theirs["EXT_NUMBER"]):
        t = np.flatnonzero(theirs["EXT_NUMBER"] == ext)
        o = np.flatnonzero(ours["EXT_NUMBER"] == ext)
        d = np.hypot(
            theirs["X_IMAGE"][t, None] - ours["X_IMAGE"][None, o],
            theirs["Y_IMAGE"][t, None] - ours["Y_IMAGE"][None, o],
        )
        index[t] = o[d.argmin(axis=1)]
        dist[t] = d.min(axis=1)
    bright = theirs["MAG_AUTO"] < np.median(theirs["MAG_AUTO"])
    matched = bright & (dist < 1.0)
    return Matched(
        {k: v[index[matched]] for k, v in ours.items()},
        {k: v[matched] for k, v in theirs.items()},
        float(matched.sum() / max(1, bright.sum())),
        int(bright.sum()),
    )


def _run_both(
    work: Path, image: str, columns: tuple[str, ...], args: list[str], tag: str
) -> tuple[Table, Table]:
    tools = require_tools("source-extractor")
    (work / f"{tag}.param").write_text("\n".join(columns) + "\n")
    if not (work / "default.conv").exists():
        (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    common = [
        "-PARAMETERS_NAME",
        f"{tag}.param",
        "-FILTER_NAME",
        "default.conv",
        "-CATALOG_TYPE",
        "ASCII_HEAD",
        "-VERBOSE_TYPE",
        "QUIET",
        *args,
    ]
    theirs, ours = work / f"theirs_{tag}.cat", work / f"ours_{tag}.cat"
    subprocess.run(
        [tools["source-extractor"], image, *common, "-CATALOG_NAME", theirs.name],
        cwd=work,
        check=True,
        capture_output=True,
    )
    with contextlib.chdir(work):
        assert cli.main([image, *common, "-CATALOG_NAME", ours.name, "-q"]) == 0
    return _read_ascii_head(ours), _read_ascii_head(theirs)


def _assert_photometry(m: Matched) -> None:
    assert m.n_bright > 50
    assert m.fraction >= 0.995, m.fraction
    o, t = m.ours, m.theirs
    assert np.median(np.hypot(o["X_IMAGE"] - t["X_IMAGE"], o["Y_IMAGE"] - t["Y_IMAGE"])) <= 0.05
    assert np.median(np.abs(o["MAG_AUTO"] - t["MAG_AUTO"])) <= 0.03
    for name in ("FLUX_AUTO", "FLUXERR_AUTO", "FLUX_ISO", "FLUXERR_ISO", "THRESHOLD"):
        assert np.median(np.abs(o[name] / t[name] - 1.0)) <= 0.05, name
    assert np.mean(o["FLAGS"] == t["FLAGS"]) >= 0.95


# ----------------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flags_weights")


@pytest.fixture(scope="module")
def crowded(work: Path) -> str:
    """Two 512 × 1024 CCDs with 8× MegaCam's source density (blends, saturated stars)."""
    config = SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11)
    write_synthetic_mef(work / "crowded.fits", config.for_area().scaled(8.0), compress=False)
    return "crowded.fits"


@pytest.fixture(scope="module")
def noisy(work: Path) -> str:
    """Float CCDs whose noise grows from left to right, and their weight maps.

    ``rms.fits`` (MAP_RMS), ``var.fits`` (2 × the variance: RESCALE_WEIGHTS must undo it),
    ``weight.fits`` (3 / variance), ``holes.fits`` (weights with dead blocks and a dead column).
    """
    # No hot column: its deblending is not what these tests are about.
    config = SyntheticConfig(
        n_ccds=2, width=512, height=1024, seed=5, dtype="float32", bad_column=False
    ).for_area()
    config = config.scaled(3.0)
    rng = np.random.default_rng(3)
    images: list[fits.ImageHDU] = []
    maps: dict[str, list[fits.ImageHDU]] = {"rms": [], "var": [], "weight": [], "holes": []}
    for i in range(config.n_ccds):
        data, keywords, _ = make_ccd(config, i)
        ny, nx = data.shape
        extra = np.broadcast_to(np.linspace(0.0, 60.0, nx, dtype=np.float32), (ny, nx))
        pixels = data.astype(np.float32) + rng.standard_normal((ny, nx), np.float32) * extra
        gain = float(keywords["GAIN"])
        base = config.sky / gain + (config.read_noise / gain) ** 2
        rms = np.sqrt(np.float32(base) + extra * extra).astype(np.float32)
        header = fits.Header()
        for key, value in keywords.items():
            header[key] = value
        images.append(fits.ImageHDU(pixels, header))
        maps["rms"].append(fits.ImageHDU(rms))
        maps["var"].append(fits.ImageHDU(2.0 * rms * rms))
        weight = 3.0 / (rms * rms)
        maps["weight"].append(fits.ImageHDU(weight))
        holes = weight.copy()
        holes[100:180, 300:420] = 0.0
        holes[600:, 77] = 0.0
        holes[850:900, 20:60] = 0.0
        maps["holes"].append(fits.ImageHDU(holes))
    fits.HDUList([fits.PrimaryHDU(), *images]).writeto(work / "noisy.fits")
    for name, hdus in maps.items():
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(work / f"{name}.fits")
    return "noisy.fits"


# ----------------------------------------------------------------------------- FLAGS


def test_flags_on_a_crowded_field_with_saturated_stars(work: Path, crowded: str) -> None:
    columns = (*BASE_COLUMNS, "FLUX_APER(2)")
    args = ["-SATUR_LEVEL", "8000", "-SATUR_KEY", "NONE", "-PHOT_APERTURES", "6,20"]
    ours, theirs = _run_both(work, crowded, columns, args, "crowded")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours["FLAGS"].astype(int), m.theirs["FLAGS"].astype(int)
    # Every bit source-extractor sets here is set on (nearly) the same sources.
    for bit in (1, 2, 4, 8, 16):
        mine, ref = (o & bit) != 0, (t & bit) != 0
        assert ref.sum() >= 5, f"bit {bit} never set by source-extractor: a weak test image"
        assert (mine == ref).mean() >= 0.98, bit
    assert not (o & (32 | 64 | 128)).any() and not (t & (32 | 64 | 128)).any()


def test_pixel_stack_overflow_and_strip_flags(work: Path, crowded: str) -> None:
    # A pixel stack smaller than the largest objects: source-extractor truncates them and
    # sets 128; canfar-tui measures them whole and says so with the same bit.
    columns = ("NUMBER", "EXT_NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_AUTO", "ISOAREAF_IMAGE", "FLAGS")
    ours, theirs = _run_both(work, crowded, columns, ["-MEMORY_PIXSTACK", "1000"], "stack")
    assert ((ours["FLAGS"].astype(int) & 128) != 0).sum() == (ours["ISOAREAF_IMAGE"] > 1000).sum()
    assert ((theirs["FLAGS"].astype(int) & 128) != 0).any()
    assert ((ours["FLAGS"].astype(int) & 128) != 0).any()


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("weight_type", "weight_image"),
    [
        ("MAP_RMS", "rms.fits"),
        ("MAP_VAR", "var.fits"),
        ("MAP_WEIGHT", "weight.fits"),
        ("BACKGROUND", ""),
    ],
)
def test_weight_maps_match_source_extractor(
    work: Path, noisy: str, weight_type: str, weight_image: str
) -> None:
    columns = (*BASE_COLUMNS, "FLAGS_WEIGHT", "FLUX_APER(2)", "FLUXERR_APER(2)", "MAGERR_APER(2)")
    args = ["-WEIGHT_TYPE", weight_type, "-PHOT_APERTURES", "5,12"]
    if weight_image:
        args += ["-WEIGHT_IMAGE", weight_image]
    ours, theirs = _run_both(work, noisy, columns, args, f"w_{weight_type}")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours, m.theirs
    assert np.mean(o["FLAGS_WEIGHT"] == t["FLAGS_WEIGHT"]) >= 0.95
    for name in ("FLUX_APER", "FLUX_APER[1]", "FLUXERR_APER", "FLUXERR_APER[1]"):
        assert np.median(np.abs(o[name] / t[name] - 1.0)) <= 0.05, name
    for name in ("MAGERR_APER", "MAGERR_APER[1]"):
        assert np.median(np.abs(o[name] - t[name])) <= 0.03, name
    # The weights matter: without them source-extractor's errors are far from these.
    _, plain = _run_both(work, noisy, BASE_COLUMNS, [], "w_none")
    n = _match(_read_ascii_head(work / f"ours_w_{weight_type}.cat"), plain)
    assert np.median(np.abs(n.ours["FLUXERR_AUTO"] / n.theirs["FLUXERR_AUTO"] - 1.0)) > 0.1


def test_dead_weight_regions_give_flags_weight(work: Path, noisy: str) -> None:
    columns = (*BASE_COLUMNS, "FLAGS_WEIGHT")
    args = ["-WEIGHT_TYPE", "MAP_WEIGHT", "-WEIGHT_IMAGE", "holes.fits", "-INTERP_TYPE", "NONE"]
    ours, theirs = _run_both(work, noisy, columns, args, "holes")
    m = _match(ours, theirs)
    _assert_photometry(m)
    assert (theirs["FLAGS_WEIGHT"] > 0).sum() >= 3
    assert np.mean(m.ours["FLAGS_WEIGHT"] == m.theirs["FLAGS_WEIGHT"]) >= 0.95
    assert (ours["FLAGS_WEIGHT"] > 0).sum() == pytest.approx(
        (theirs["FLAGS_WEIGHT"] > 0).sum(), abs=3
    )


# ----------------------------------------------------------------------------- flag maps


@pytest.fixture(scope="module")
def flag_map(work: Path, noisy: str) -> str:
    """Integer flags over ``noisy.fits``: bands of 1, 2, 4 and a sprinkle of 8 and 64."""
    rng = np.random.default_rng(9)
    hdus: list[fits.ImageHDU] = []
    with fits.open(work / noisy) as hdul:
        shapes = [h.data.shape for h in hdul[1:]]
    for ny, nx in shapes:
        flags = np.zeros((ny, nx), dtype=np.int32)
        flags[:, : nx // 3] |= 1
        flags[ny // 2 :, :] |= 2
        flags[:, nx // 2 : nx // 2 + 60] |= 4
        flags[rng.uniform(size=(ny, nx)) < 0.05] |= 8
        flags[rng.uniform(size=(ny, nx)) < 0.02] = 64
        hdus.append(fits.ImageHDU(flags))
    fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(work / "flags.fits")
    return "flags.fits"


@pytest.mark.parametrize("flag_type", ["OR", "AND", "MIN", "MAX", "MOST"])
def test_flag_map_columns_match_source_extractor(
    work: Path, noisy: str, flag_map: str, flag_type: str
) -> None:
    columns = (*BASE_COLUMNS, "IMAFLAGS_ISO", "NIMAFLAGS_ISO")
    args = ["-FLAG_IMAGE", flag_map, "-FLAG_TYPE", flag_type]
    ours, theirs = _run_both(work, noisy, columns, args, f"flag_{flag_type}")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours, m.theirs
    if flag_type != "AND":  # SExtractor's AND starts from 0: always 0
        assert len(np.unique(t["IMAFLAGS_ISO"])) >= 4
    assert (t["NIMAFLAGS_ISO"] > 0).mean() > 0.5
    assert np.mean(o["IMAFLAGS_ISO"] == t["IMAFLAGS_ISO"]) >= 0.95
    # A pixel count, like ISOAREAF_IMAGE: SExtractor's CLEAN adds the pixels of the objects
    # it merges, sep's does not, so equality is ~90 %; the counts agree within 5 % median.
    counted = t["NIMAFLAGS_ISO"] > 0
    relative = np.abs(o["NIMAFLAGS_ISO"][counted] / t["NIMAFLAGS_ISO"][counted] - 1.0)
    assert np.median(relative) <= 0.05
    assert np.mean(o["NIMAFLAGS_ISO"] == t["NIMAFLAGS_ISO"]) >= 0.8


# ----------------------------------------------------------------------------- LOCAL


def test_local_background_matches_source_extractor(work: Path, crowded: str) -> None:
    columns = (*BASE_COLUMNS, "FLUX_MAX", "FLUX_APER(2)", "MAG_APER(2)")
    args = ["-BACKPHOTO_TYPE", "LOCAL", "-BACKPHOTO_THICK", "16", "-PHOT_APERTURES", "6,20"]
    ours, theirs = _run_both(work, crowded, columns, args, "local")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours, m.theirs
    assert np.median(np.abs(o["BACKGROUND"] - t["BACKGROUND"])) <= 0.05 * np.median(
        np.abs(t["FLUX_MAX"] / 100)
    )
    for name in ("FLUX_APER", "FLUX_APER[1]"):
        assert np.median(np.abs(o[name] / t[name] - 1.0)) <= 0.05, name
    for name in ("MAG_APER", "MAG_APER[1]"):
        assert np.median(np.abs(o[name] - t[name])) <= 0.03, name
    # LOCAL changes source-extractor's numbers much more than we differ from them.
    _, plain = _run_both(work, crowded, columns, ["-PHOT_APERTURES", "6,20"], "global")
    g = _match(ours, plain)
    shift = np.abs(g.theirs["BACKGROUND"] - g.ours["BACKGROUND"])
    ours_vs_theirs = np.abs(o["BACKGROUND"] - t["BACKGROUND"])
    assert np.median(shift) > 3 * max(np.median(ours_vs_theirs), 0.01)
    big = np.abs(g.theirs["MAG_APER[1]"] - g.ours["MAG_APER[1]"])
    assert np.median(big) > 3 * np.median(np.abs(o["MAG_APER[1]"] - t["MAG_APER[1]"]))


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-WEIGHT_TYPE", "MAP_WEIGHT", "-WEIGHT_IMAGE", "nosuch.fits"], "WEIGHT_IMAGE nosuch"),
        (["-WEIGHT_TYPE", "MAP_RMS", "-WEIGHT_IMAGE", "notes.txt"], "WEIGHT_IMAGE notes.txt"),
        (["-WEIGHT_TYPE", "MAP_VAR", "-WEIGHT_IMAGE", "tiny.fits"], "is 100×100 pixels"),
        (["-WEIGHT_TYPE", "MAP_VAR", "-WEIGHT_IMAGE", "single.fits"], "1 image extension(s)"),
        (["-FLAG_IMAGE", "nosuch.fits", "-PARAMETERS_NAME", "imaflags.param"], "FLAG_IMAGE"),
        (["-FLAG_IMAGE", "tiny.fits", "-PARAMETERS_NAME", "imaflags.param"], "100×100"),
    ],
)
def test_bad_weight_or_flag_files_fail_in_one_line(
    work: Path,
    noisy: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    (work / "notes.txt").write_text("not a FITS file\n" * 200)
    (work / "imaflags.param").write_text("NUMBER\nX_IMAGE\nIMAFLAGS_ISO\n")
    if not (work / "tiny.fits").exists():
        tiny = [fits.ImageHDU(np.ones((100, 100), np.float32)) for _ in range(2)]
        fits.HDUList([fits.PrimaryHDU(), *tiny]).writeto(work / "tiny.fits")
        fits.PrimaryHDU(np.ones((1024, 512), np.float32)).writeto(work / "single.fits")
    catalogue = work / "bad.cat"
    catalogue.unlink(missing_ok=True)
    capsys.readouterr()
    with contextlib.chdir(work):
        code = cli.main([noisy, *args, "-CATALOG_NAME", catalogue.name, "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err, err
    assert not catalogue.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-WEIGHT_TYPE", "MAP_RMS,MAP_VAR"], "WEIGHT_TYPE: one value"),
        (["-WEIGHT_TYPE", "MAP_GUESS"], "WEIGHT_TYPE: expected one of"),
        (["-FLAG_TYPE", "XOR"], "FLAG_TYPE: expected one of"),
        (["-BACKPHOTO_TYPE", "NEAR"], "BACKPHOTO_TYPE: expected one of"),
        (["-BACKPHOTO_THICK", "0"], "BACKPHOTO_THICK must be >= 1"),
        (["-WEIGHT_THRESH", "-1"], "WEIGHT_THRESH must be >= 0"),
        (["-WEIGHT_GAIN", "maybe"], "WEIGHT_GAIN: expected Y or N"),
    ],
)
def test_bad_weight_options_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    with contextlib.chdir(tmp_path):
        assert cli.main(["a.fits", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err


def test_weight_options_are_read_from_a_sex_file(tmp_path: Path) -> None:
    from canfar_tui.detection.params import DetectionParams

    (tmp_path / "w.sex").write_text(
        "WEIGHT_TYPE MAP_WEIGHT,MAP_WEIGHT\nWEIGHT_IMAGE w.fits\nWEIGHT_THRESH 0.5\n"
        "WEIGHT_GAIN N\nRESCALE_WEIGHTS N\nFLAG_IMAGE f.fits\nFLAG_TYPE MOST\n"
        "BACKPHOTO_TYPE LOCAL\nBACKPHOTO_THICK 30\nMEMORY_BUFSIZE 512\n"
    )
    p = DetectionParams.from_sex_file(tmp_path / "w.sex")
    assert (p.weight_type, p.weight_image, p.weight_thresh) == ("MAP_WEIGHT", "w.fits", 0.5)
    assert (p.weight_gain, p.rescale_weights) == (False, False)
    assert (p.flag_image, p.flag_type) == ("f.fits", "MOST")
    assert (p.backphoto_type, p.backphoto_thick, p.memory_bufsize) == ("LOCAL", 30, 512)
    assert p.warnings == ()


def test_back_type_manual_matches_source_extractor(work: Path, crowded: str) -> None:
    with fits.open(work / crowded) as hdul:
        sky = max(float(h.header["SKYLEVEL"]) for h in hdul[1:])
    columns = (*BASE_COLUMNS, "FLUX_MAX")
    args = ["-BACK_TYPE", "MANUAL", "-BACK_VALUE", f"{sky + 15:.1f}"]
    ours, theirs = _run_both(work, crowded, columns, args, "manual")
    m = _match(ours, theirs)
    _assert_photometry(m)
    # BACKGROUND stays the background map's value (not BACK_VALUE), as in SExtractor.
    assert np.ptp(m.theirs["BACKGROUND"]) > 10
    assert np.median(np.abs(m.ours["BACKGROUND"] - m.theirs["BACKGROUND"])) < 1.0


@pytest.mark.parametrize("weighted", [False, True])
def test_analysis_thresh_matches_source_extractor(work: Path, noisy: str, weighted: bool) -> None:
    columns = (*BASE_COLUMNS, "ISOAREA_IMAGE")
    weights = ["-WEIGHT_TYPE", "MAP_RMS", "-WEIGHT_IMAGE", "rms.fits"] if weighted else []
    args = ["-DETECT_THRESH", "1.5", "-ANALYSIS_THRESH", "4", *weights]
    ours, theirs = _run_both(work, noisy, columns, args, f"analysis_{weighted}")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours["ISOAREA_IMAGE"], m.theirs["ISOAREA_IMAGE"]
    assert np.mean(o == t) >= 0.9  # ISOAREA_IMAGE is ~92 % equal at the default thresholds
    counted = t > 0
    assert np.median(np.abs(o[counted] / t[counted] - 1.0)) <= 0.05
    # ANALYSIS_THRESH matters: at 1.5 σ source-extractor's areas are much larger.
    _, plain = _run_both(work, noisy, columns, weights, f"analysis_plain_{weighted}")
    p = _match(ours, plain)
    assert np.median(p.theirs["ISOAREA_IMAGE"] / np.maximum(p.ours["ISOAREA_IMAGE"], 1)) > 1.5


def test_new_columns_are_written_like_source_extractor(
    work: Path, noisy: str, flag_map: str
) -> None:
    tools = require_tools("source-extractor")
    (work / "ldac.param").write_text("NUMBER\nFLAGS\nFLAGS_WEIGHT\nIMAFLAGS_ISO\nNIMAFLAGS_ISO\n")
    (work / "default.conv").write_text((SHARE / "default.conv").read_text())
    args = [
        "-PARAMETERS_NAME",
        "ldac.param",
        "-CATALOG_TYPE",
        "FITS_LDAC",
        "-WEIGHT_TYPE",
        "MAP_WEIGHT",
        "-WEIGHT_IMAGE",
        "weight.fits",
        "-FLAG_IMAGE",
        flag_map,
        "-VERBOSE_TYPE",
        "QUIET",
    ]
    subprocess.run(
        [tools["source-extractor"], noisy, *args, "-CATALOG_NAME", "theirs.ldac"],
        cwd=work,
        check=True,
        capture_output=True,
    )
    with contextlib.chdir(work):
        assert cli.main([noisy, *args, "-CATALOG_NAME", "ours.ldac", "-q"]) == 0
    with fits.open(work / "ours.ldac") as ours, fits.open(work / "theirs.ldac") as theirs:
        mine, ref = ours[2].header, theirs[2].header
        for key in ("TTYPE", "TFORM", "TDISP", "TUNIT"):
            n = ref["TFIELDS"]
            assert [mine.get(f"{key}{i}") for i in range(1, n + 1)] == [
                ref.get(f"{key}{i}") for i in range(1, n + 1)
            ], key


# ----------------------------------------------------------------------------- WIN errors

WIN_ERRORS = ("FLUXERR_WIN", "SNR_WIN", "ERRAWIN_IMAGE", "ERRBWIN_IMAGE")


@pytest.mark.parametrize("weight_gain", ["Y", "N"])
def test_win_errors_use_each_pixels_variance(work: Path, noisy: str, weight_gain: str) -> None:
    columns = (*BASE_COLUMNS, "XWIN_IMAGE", "YWIN_IMAGE", "FLUX_WIN", *WIN_ERRORS)
    args = ["-WEIGHT_TYPE", "MAP_RMS", "-WEIGHT_IMAGE", "rms.fits", "-WEIGHT_GAIN", weight_gain]
    ours, theirs = _run_both(work, noisy, columns, args, f"win_rms_{weight_gain}")
    m = _match(ours, theirs)
    _assert_photometry(m)
    o, t = m.ours, m.theirs
    offsets = np.hypot(o["XWIN_IMAGE"] - t["XWIN_IMAGE"], o["YWIN_IMAGE"] - t["YWIN_IMAGE"])
    assert np.median(offsets) <= 0.05
    for name in ("FLUX_WIN", *WIN_ERRORS):
        assert np.median(np.abs(o[name] / t[name] - 1.0)) <= 0.05, name
    # The weight map matters: with the global noise the errors are far from these.
    _, plain = _run_both(work, noisy, columns, [], "win_plain")
    n = _match(ours, plain)
    for name in ("FLUXERR_WIN", "ERRAWIN_IMAGE"):
        assert np.median(np.abs(n.ours[name] / n.theirs[name] - 1.0)) > 0.1, name
