"""ISO0…ISO7, FWHM_IMAGE and CLASS_STAR against the real source-extractor, and the .nnw reader.

The same command line is given to ``source-extractor`` and ``canfar-tui detect`` on synthetic
MegaCam-like images (Moffat stars and PSF-convolved exponential/de Vaucouleurs galaxies); on
the matched bright half: ISO0…ISO7 and FWHM_IMAGE within 5 % (median relative), CLASS_STAR
within 0.05 (median absolute). With the seeing of the images the classifier must also tell
the injected stars from the injected galaxies. Skipped without the tools (see
test_detect_parity.py).
"""

from __future__ import annotations

import itertools
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from detect_support import match_sources, require_tools

from canfar_tui.cli import detect as cli
from canfar_tui.detection.classstar import class_star, pixel_scale_arcsec
from canfar_tui.detection.nnw import NeuralNetwork, parse_nnw
from canfar_tui.detection.params import DetectionParams, ParamError
from canfar_tui.detection.synthetic import (
    PIXEL_SCALE_ARCSEC,
    SyntheticConfig,
    SyntheticSource,
    make_ccd,
    write_synthetic_mef,
)

SHARE = Path("/usr/share/source-extractor")
ISO = tuple(f"ISO{i}" for i in range(8))
COLUMNS = ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_AUTO", "FLAGS", *ISO, "FWHM_IMAGE", "CLASS_STAR")
SEEING = f"{3.7 * PIXEL_SCALE_ARCSEC:.3f}"
"""The synthetic images' seeing in arcsec (FWHM 3.7 px)."""

# (WCS of the image, extra command line): the pixel scale from a distorted WCS, given
# explicitly, and default.sex's values (PIXEL_SCALE 1, SEEING_FWHM 1.2).
CASES = {
    "wcs-scale": ("tpv", ["-PIXEL_SCALE", "0", "-SEEING_FWHM", SEEING]),
    "given-scale": ("none", ["-PIXEL_SCALE", f"{PIXEL_SCALE_ARCSEC}", "-SEEING_FWHM", SEEING]),
    "defaults": ("tan", []),
    # ISO0…ISO7 and the FWHM fit start from ANALYSIS_THRESH, not DETECT_THRESH.
    "analysis-higher": ("none", ["-ANALYSIS_THRESH", "4", "-SEEING_FWHM", SEEING]),
    "analysis-lower": ("none", ["-DETECT_THRESH", "2.2", "-ANALYSIS_THRESH", "1.2"]),
}


@pytest.fixture(scope="module")
def images(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, list[SyntheticSource]]]:
    folder = tmp_path_factory.mktemp("class_star")
    made: dict[str, tuple[Path, list[SyntheticSource]]] = {}
    for wcs in ("tpv", "none", "tan"):
        config = SyntheticConfig(n_ccds=2, width=512, height=1024, seed=11, wcs=wcs)
        path = folder / f"{wcs}.fits"
        truth = write_synthetic_mef(path, config.for_area().scaled(3.0), compress=False)
        made[wcs] = (path, truth)
    return made


def _ldac_rows(path: Path) -> npt.NDArray[np.void]:
    with fits.open(path) as hdul:
        parts = []
        for ext_number, hdu in enumerate((h for h in hdul if h.name == "LDAC_OBJECTS"), 1):
            data = np.asarray(hdu.data)
            rows = np.zeros(len(data), dtype=[*data.dtype.descr, ("EXT", "i4")])
            for name in data.dtype.names or ():
                rows[name] = data[name]
            rows["EXT"] = ext_number
            parts.append(rows)
    return np.concatenate(parts)


def _run_both(
    work: Path, image: Path, extra: list[str]
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]:
    tools = require_tools("source-extractor")
    for name in ("default.conv", "default.nnw"):  # source-extractor reads them from the cwd
        shutil.copy(SHARE / name, work / name)
    (work / "cs.param").write_text("\n".join(COLUMNS) + "\n")
    common = [str(image), "-PARAMETERS_NAME", "cs.param", "-CATALOG_TYPE", "FITS_LDAC", *extra]
    subprocess.run(
        [
            tools["source-extractor"],
            *common,
            "-CATALOG_NAME",
            "theirs.cat",
            "-VERBOSE_TYPE",
            "QUIET",
        ],
        cwd=work,
        check=True,
        capture_output=True,
    )
    assert cli.main([*common, "-CATALOG_NAME", "ours.cat", "-q"]) == 0
    return _ldac_rows(work / "ours.cat"), _ldac_rows(work / "theirs.cat")


def _matched_bright(
    ours: npt.NDArray[np.void], theirs: npt.NDArray[np.void]
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]:
    index, distance = match_sources(ours, theirs)
    bright = theirs["MAG_AUTO"] < np.median(theirs["MAG_AUTO"])
    matched = bright & (distance < 1.0)
    assert bright.sum() > 100 and matched.sum() >= 0.995 * bright.sum()
    return ours[index[matched]], theirs[matched]


@pytest.mark.parametrize("case", list(CASES))
def test_columns_match_source_extractor(
    images: dict[str, tuple[Path, list[SyntheticSource]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    wcs, extra = CASES[case]
    ours, theirs = _run_both(tmp_path, images[wcs][0], extra)
    o, t = _matched_bright(ours, theirs)
    for name in ISO:
        reference = t[name].astype(np.float64)
        counted = reference > 0
        if case.startswith("analysis"):  # a peak below ANALYSIS_THRESH: no pixel at all
            assert np.mean(counted == (o[name] > 0)) >= 0.98 and counted.mean() > 0.8, name
        else:
            assert np.all(counted), name  # the bright half has pixels at every level
        relative = np.abs(o[name][counted] / reference[counted] - 1.0)
        assert np.median(relative) <= 0.05, (name, float(np.median(relative)))
    # FWHM_IMAGE is 0 when the fit is degenerate (a cosmic ray of two pixels, say).
    fitted = t["FWHM_IMAGE"] > 0
    assert np.mean(fitted == (o["FWHM_IMAGE"] > 0)) >= 0.95 and fitted.mean() > 0.9
    relative = np.abs(o["FWHM_IMAGE"][fitted] / t["FWHM_IMAGE"][fitted] - 1.0)
    assert np.median(relative) <= 0.05, float(np.median(relative))
    assert np.all(o["ISO0"] >= o["ISO7"])
    difference = np.abs(o["CLASS_STAR"] - t["CLASS_STAR"])
    assert np.median(difference) <= 0.05, float(np.median(difference))
    assert np.all((o["CLASS_STAR"] >= 0) & (o["CLASS_STAR"] <= 1))
    # The values are not all alike: the comparison above could fail.
    assert np.ptp(t["CLASS_STAR"]) > 0.5 and np.ptp(t["FWHM_IMAGE"]) > 2.0


def test_class_star_tells_stars_from_galaxies(
    images: dict[str, tuple[Path, list[SyntheticSource]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    image, truth = images["tpv"]
    ours, _ = _run_both(tmp_path, image, CASES["wcs-scale"][1])
    bright = ours[(ours["MAG_AUTO"] < np.median(ours["MAG_AUTO"])) & (ours["FLAGS"] == 0)]
    kinds: dict[str, list[float]] = {"star": [], "galaxy": []}
    for row in bright:
        near = [
            s
            for s in truth
            if s.ext_number == row["EXT"]
            and math.hypot(s.x - row["X_IMAGE"], s.y - row["Y_IMAGE"]) < 1.0
        ]
        if len(near) == 1 and not near[0].saturated:
            kinds[near[0].kind].append(float(row["CLASS_STAR"]))
    stars, galaxies = np.array(kinds["star"]), np.array(kinds["galaxy"])
    assert len(stars) > 15 and len(galaxies) > 30
    assert np.median(stars) > 0.9 and np.mean(stars > 0.5) > 0.85
    assert np.median(galaxies) < 0.1 and np.mean(galaxies < 0.5) > 0.85


# ----------------------------------------------------------------------------- the network


def _random_nnw(rng: np.random.Generator, layers: tuple[int, ...]) -> str:
    def line(values: npt.NDArray[np.float64]) -> str:
        return " ".join(f"{v: .5e}" for v in values)

    out = ["NNW", "# a test network", "", " ".join(str(v) for v in (len(layers), *layers)), ""]
    out += [line(rng.normal(size=layers[0])), line(rng.uniform(0.5, 2, size=layers[0])), ""]
    for before, after in itertools.pairwise(layers):
        out += [line(rng.normal(size=before + 1)) for _ in range(after)] + [""]
    out += [line(np.full(layers[-1], 0.1)), line(np.full(layers[-1], 0.8))]
    return "\n".join(out) + "\n"


def test_network_response_by_hand() -> None:
    text = "NNW\n# tiny\n 3 2 2 1\n0.5 -1\n2 1\n1 -1 0.5\n0 2 -1\n3 -2 0.25\n0.1\n0.8\n"
    network = parse_nnw(text)
    assert network.layers == (2, 2, 1)
    x = (0.3, 2.0)
    a = (0.3 * 2 + 0.5, 2.0 * 1 - 1)
    h = (
        1 / (1 + math.exp(-(1 * a[0] - 1 * a[1] + 0.5))),
        1 / (1 + math.exp(-(0 * a[0] + 2 * a[1] - 1))),
    )
    y = 1 / (1 + math.exp(-(3 * h[0] - 2 * h[1] + 0.25)))
    assert network.respond(x) == pytest.approx(((y - 0.1) / 0.8,))


def test_vectorised_class_star_is_the_network_response() -> None:
    rng = np.random.default_rng(3)
    network = parse_nnw(_random_nnw(rng, (10, 10, 1)))
    areas = rng.integers(0, 400, size=(50, 8))
    areas[:5] = 0
    peak = rng.uniform(-5, 5000, size=50)
    got = class_star(network, areas, peak, field_thresh=40.0, seeing_fwhm=0.7, pixel_scale=0.187)
    fac2 = (0.7 / 0.187) ** 2
    for i in range(50):
        iso = [math.log10(v / fac2 if v else 0.01) for v in areas[i]]
        contrast = math.log10(peak[i] / 40.0 if peak[i] > 0 else 0.1)
        expected = network.respond([iso[0], contrast, *iso[1:], math.log10(0.7)])[0]
        assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_default_nnw_is_parsed() -> None:
    require_tools("source-extractor")
    network = DetectionParams().with_columns(["NUMBER", "CLASS_STAR"]).starnnw
    assert isinstance(network, NeuralNetwork)
    assert network.layers == (10, 10, 1) and network.in_bias[0] == -1.56604
    assert network.weights[0][0][-1] == -4.36564e-01 and network.biases[1] == (-2.32028,)
    assert (network.out_bias, network.out_scale) == ((0.0,), (1.0,))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "file not found"),
        ("", "not a NNW table"),
        ("NNW\n 3 10 10 1\n", "input biases: missing"),
        ("NNW\n 3 2 2 1\n1 1\n1 1\n1 1 1\n1 1 1\n1 1\n0\n1\n", "layer 3 weights: expected 3"),
        ("NNW\n 3 2 2 1\n1 x\n", "input biases: not a number"),
        ("NNW\n 4 2 2 2 1\n", "expected 2 to 3 layers"),
        ("NNW\n 3 2 11 1\n", "1 to 10 neurons"),
        ("NNW\n 2 2 1\n1 1\n1 1\n1 1 1\n0\n1\n9\n", "more lines than the layer sizes"),
        ("NNW\n 2 2 1\n1 1\n1 1\n1 1 1\n0\n1\n", "10 inputs and 1 output"),
        ("NNW\n 2 2 1\n1 1\n1 1\n1 1 1\n0\n0\n", "output scales: must not be 0"),
        ("NNW\x00", "binary content"),
    ],
)
def test_bad_nnw_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "bad.nnw").write_text(content)
    params = DetectionParams().with_overrides({"STARNNW_NAME": "bad.nnw"})  # not read yet
    with pytest.raises(ParamError) as caught:
        params.with_columns(["NUMBER", "CLASS_STAR"])
    message = str(caught.value)
    assert "\n" not in message and message.startswith("STARNNW_NAME ") and fragment in message
    assert "bad.nnw" in message


def test_nnw_found_next_to_the_sex_file_and_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    config_dir, work = tmp_path / "config", tmp_path / "work"
    config_dir.mkdir()
    work.mkdir()
    monkeypatch.chdir(work)
    (config_dir / "mine.nnw").write_text(_random_nnw(rng, (10, 4, 1)))
    (config_dir / "my.sex").write_text("STARNNW_NAME mine.nnw\n")
    params = DetectionParams.from_sex_file(config_dir / "my.sex").with_columns(["CLASS_STAR"])
    assert params.starnnw is not None and params.starnnw.layers == (10, 4, 1)
    # The current directory comes first.
    (work / "mine.nnw").write_text(_random_nnw(rng, (10, 6, 1)))
    params = DetectionParams.from_sex_file(config_dir / "my.sex").with_columns(["CLASS_STAR"])
    assert params.starnnw is not None and params.starnnw.layers == (10, 6, 1)
    # A command-line -STARNNW_NAME is honoured; a bad one is refused in one line, exit 2.
    (work / "cs.param").write_text("NUMBER\nCLASS_STAR\n")
    (work / "broken.nnw").write_text("NNW\n 3 10 10 1\n")
    argv = ["a.fits", "-c", str(config_dir / "my.sex"), "-PARAMETERS_NAME", "cs.param"]
    assert cli.main([*argv, "-STARNNW_NAME", "broken.nnw"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.nnw: input biases: missing" in err, err


def test_nnw_is_read_only_for_class_star(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    params = DetectionParams().with_overrides({"STARNNW_NAME": "absent.nnw"})
    params = params.with_columns(["NUMBER", "ISO0", "FWHM_IMAGE"])
    assert params.starnnw is None and params.describe()["STARNNW_NAME"] == "absent.nnw"
    with pytest.raises(ParamError, match=r"^STARNNW_NAME absent.nnw: file not found"):
        params.with_columns(["NUMBER", "CLASS_STAR"])


def test_pixel_scale_from_the_wcs() -> None:
    config = SyntheticConfig(n_ccds=1, width=64, height=128, wcs="tan", stars_per_ccd=1)
    _, header, _ = make_ccd(config, 0)
    assert pixel_scale_arcsec(header, (128, 64)) == pytest.approx(PIXEL_SCALE_ARCSEC, rel=1e-4)
    # SExtractor's linear default without a celestial WCS: 1 degree per pixel, or CDELT.
    assert pixel_scale_arcsec({}, (128, 64)) == 3600.0
    assert pixel_scale_arcsec({"CDELT2": -0.5}, (128, 64)) == 1800.0


def test_gaussian_profile_areas_and_fwhm() -> None:
    from canfar_tui.detection.classstar import ObjectPixels, fwhm_image, isophotal_areas

    sigma, peak, thresh = 2.5, 1000.0, 10.0
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    image = (peak * np.exp(-((xx - 31.3) ** 2 + (yy - 32.6) ** 2) / (2 * sigma**2))).astype(
        np.float32
    )
    segmap = np.where(image > thresh, 1, 0).astype(np.int32)
    pixels = ObjectPixels(image, segmap, 1)
    top = np.array([float(image.max())])
    areas = isophotal_areas(pixels, top, np.array([thresh]))[0]
    # Pixels above level i: a disc of radius² 2σ² ln(peak / level_i).
    levels = thresh * (top[0] / thresh) ** (np.arange(8) / 8)
    expected = np.pi * 2 * sigma**2 * np.log(top[0] / levels)
    assert np.all(np.abs(areas / expected - 1) < 0.1), (areas, expected)
    fwhm = fwhm_image(
        pixels,
        peak=top,
        thresh=np.array([thresh]),
        x=np.array([31.3]),
        y=np.array([32.6]),
        a=np.array([sigma]),
        b=np.array([sigma]),
        saturation=np.array([1e9]),
    )[0]
    true_fwhm = 2.3548 * sigma
    assert fwhm == pytest.approx(true_fwhm - 1 / (4 * true_fwhm), rel=0.01)
    # Saturated pixels are left out; no pixel left means no fit.
    none = fwhm_image(
        pixels,
        peak=top,
        thresh=np.array([thresh]),
        x=np.array([31.3]),
        y=np.array([32.6]),
        a=np.array([sigma]),
        b=np.array([sigma]),
        saturation=np.array([thresh]),
    )
    assert none[0] == 0.0
