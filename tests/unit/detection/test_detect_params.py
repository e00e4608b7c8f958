"""DetectionParams: default.sex semantics, .sex / .param / .conv readers, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from canfar_tui.detection.params import (
    DEFAULT_COLUMNS,
    DEFAULT_CONV,
    DetectionParams,
    ParamError,
    find_param_file,
    read_conv_file,
    read_param_file,
    sex_catalogue_format,
    sex_parameters_name,
)

DEFAULT_SEX = """\
# Default configuration file for SExtractor 2.12.4
CATALOG_NAME     test.cat       # name of the output catalog
CATALOG_TYPE     ASCII_HEAD     # NONE,ASCII,ASCII_HEAD, ASCII_SKYCAT,
PARAMETERS_NAME  default.param  # name of the file containing catalog contents
DETECT_TYPE      CCD            # CCD (linear) or PHOTO (with gamma correction)
DETECT_MINAREA   3              # min. # of pixels above threshold
DETECT_THRESH    1.5            # <sigmas> or <threshold>,<ZP> in mag.arcsec-2
ANALYSIS_THRESH  1.5            # <sigmas> or <threshold>,<ZP> in mag.arcsec-2
FILTER           Y              # apply filter for detection (Y or N)?
FILTER_NAME      default.conv   # name of the file containing the filter
DEBLEND_NTHRESH  32             # Number of deblending sub-thresholds
DEBLEND_MINCONT  0.005          # Minimum contrast parameter for deblending
CLEAN            Y              # Clean spurious detections? (Y or N)?
CLEAN_PARAM      1.0            # Cleaning efficiency
WEIGHT_TYPE      NONE           # type of WEIGHTing: NONE, BACKGROUND,
WEIGHT_IMAGE     weight.fits    # weight-map filename
FLAG_IMAGE       flag.fits      # filename for an input FLAG-image
FLAG_TYPE        OR             # flag pixel combination: OR, AND, MIN, MAX
PHOT_APERTURES   5              # MAG_APER aperture diameter(s) in pixels
PHOT_AUTOPARAMS  2.5, 3.5       # MAG_AUTO parameters: <Kron_fact>,<min_radius>
PHOT_PETROPARAMS 2.0, 3.5       # MAG_PETRO parameters: <Petrosian_fact>,
PHOT_AUTOAPERS   0.0,0.0        # <estimation>,<measurement> minimum apertures
SATUR_LEVEL      50000.0        # level (in ADUs) at which arises saturation
SATUR_KEY        SATURATE       # keyword for saturation level (in ADUs)
MAG_ZEROPOINT    0.0            # magnitude zero-point
MAG_GAMMA        4.0            # gamma of emulsion (for photographic scans)
GAIN             0.0            # detector gain in e-/ADU
GAIN_KEY         GAIN           # keyword for detector gain in e-/ADU
PIXEL_SCALE      1.0            # size of pixel in arcsec (0=use FITS WCS info)
SEEING_FWHM      1.2            # stellar FWHM in arcsec
STARNNW_NAME     default.nnw    # Neural-Network_Weight table filename
BACK_TYPE        AUTO           # AUTO or MANUAL
BACK_VALUE       0.0            # Default background value in MANUAL mode
BACK_SIZE        64             # Background mesh: <size> or <width>,<height>
BACK_FILTERSIZE  3              # Background filter: <size> or <width>,<height>
CHECKIMAGE_TYPE  NONE           # can be NONE, BACKGROUND, BACKGROUND_RMS,
CHECKIMAGE_NAME  check.fits     # Filename for the check-image
MEMORY_OBJSTACK  3000           # number of objects in stack
MEMORY_PIXSTACK  300000         # number of pixels in stack
MEMORY_BUFSIZE   1024           # number of lines in buffer
ASSOC_NAME       sky.list       # name of the ASCII file to ASSOCiate
VERBOSE_TYPE     NORMAL         # can be QUIET, NORMAL or FULL
HEADER_SUFFIX    .head          # Filename extension for additional headers
WRITE_XML        N              # Write XML file (Y/N)?
XML_NAME         sex.xml        # Filename for XML output
XSL_URL          file:///usr/local/share/sextractor/sextractor.xsl
"""

DEFAULT_CONV_TEXT = """CONV NORM
# 3x3 ``all-ground'' convolution mask with FWHM = 2 pixels.
1 2 1
2 4 2
1 2 1
"""


@pytest.fixture
def sex_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default.sex").write_text(DEFAULT_SEX)
    (tmp_path / "default.conv").write_text(DEFAULT_CONV_TEXT)
    (tmp_path / "default.param").write_text("NUMBER\nMAG_AUTO\nX_IMAGE\nY_IMAGE\n")
    return tmp_path


def test_defaults_are_default_sex() -> None:
    p = DetectionParams()
    assert p.detect_thresh == 1.5 and p.detect_minarea == 3
    assert p.filter and p.filter_kernel == DEFAULT_CONV and p.filter_norm
    assert (p.deblend_nthresh, p.deblend_mincont) == (32, 0.005)
    assert p.clean and p.clean_param == 1.0
    assert p.phot_autoparams == (2.5, 3.5) and p.phot_autoapers == (0.0, 0.0)
    assert p.back_size == (64, 64) and p.back_filtersize == (3, 3)
    assert p.mag_zeropoint == 0.0 and p.satur_level == 50000.0 and p.gain == 0.0
    assert p.satur_key == "SATURATE" and p.gain_key == "GAIN"
    assert p.columns == DEFAULT_COLUMNS


def test_default_sex_file_gives_defaults_without_warnings(sex_dir: Path) -> None:
    p = DetectionParams.from_sex_file(sex_dir / "default.sex")
    assert p == DetectionParams()
    assert p.warnings == ()
    assert sex_parameters_name(sex_dir / "default.sex") == "default.param"
    assert sex_catalogue_format(sex_dir / "default.sex") == "ascii_head"


def test_sex_file_values_and_unsupported_keys_are_named(sex_dir: Path) -> None:
    text = DEFAULT_SEX.replace("DETECT_THRESH    1.5", "DETECT_THRESH    3.0")
    text = text.replace("BACK_SIZE        64", "BACK_SIZE        128,256")
    text = text.replace("DETECT_TYPE      CCD", "DETECT_TYPE      PHOTO")
    text += "MAG_ZEROPOINT 30\nSOME_NEW_KEY 1\n"
    path = sex_dir / "my.sex"
    path.write_text(text)
    p = DetectionParams.from_sex_file(path)
    assert p.detect_thresh == 3.0
    assert p.back_size == (128, 256)
    assert p.mag_zeropoint == 30.0
    joined = " | ".join(p.warnings)
    assert "DETECT_TYPE" in joined and "SOME_NEW_KEY" in joined
    assert p.analysis_thresh == 1.5  # measured at ANALYSIS_THRESH, not DETECT_THRESH
    assert all("\n" not in w for w in p.warnings)


def test_filter_file_is_read_and_nonorm_respected(sex_dir: Path) -> None:
    (sex_dir / "box.conv").write_text("CONV NONORM\n1 1 1\n1 1 1\n1 1 1\n")
    p = DetectionParams().with_overrides({"FILTER_NAME": "box.conv"})
    assert p.filter_kernel == ((1.0,) * 3,) * 3
    assert not p.filter_norm
    kernel, norm = read_conv_file(sex_dir / "default.conv")
    assert kernel == DEFAULT_CONV and norm


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("DETECT_THRESH", "-1", "DETECT_THRESH must be > 0"),
        ("DETECT_THRESH", "abc", "expected a number"),
        ("DETECT_MINAREA", "2.5", "expected an integer"),
        ("DEBLEND_NTHRESH", "0", "DEBLEND_NTHRESH"),
        ("DEBLEND_MINCONT", "2", "DEBLEND_MINCONT"),
        ("CLEAN", "maybe", "expected Y or N"),
        ("BACK_SIZE", "0", "BACK_SIZE"),
        ("BACK_SIZE", "1,2,3", "one or two"),
        ("THRESH_TYPE", "FANCY", "RELATIVE, ABSOLUTE"),
        ("FILTER_NAME", "nope.conv", "not found"),
        ("GAIN", "nan", "finite"),
        ("NOT_A_KEY", "1", "unknown or unsupported parameter"),
    ],
)
def test_bad_overrides_give_one_line_param_errors(
    sex_dir: Path, key: str, value: str, fragment: str
) -> None:
    with pytest.raises(ParamError) as info:
        DetectionParams().with_overrides({key: value})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_overrides_accept_numbers_field_names_and_case() -> None:
    p = DetectionParams().with_overrides(
        {"detect_thresh": 2, "Back_Size": "32", "clean": False, "PHOT_AUTOPARAMS": (2.0, 3.0)}
    )
    assert p.detect_thresh == 2.0
    assert p.back_size == (32, 32)
    assert p.clean is False
    assert p.phot_autoparams == (2.0, 3.0)
    assert p.describe()["BACK_SIZE"] == "32,32"


def test_param_file(sex_dir: Path) -> None:
    assert read_param_file(sex_dir / "default.param") == (
        "NUMBER",
        "MAG_AUTO",
        "X_IMAGE",
        "Y_IMAGE",
    )
    assert find_param_file("default.param", sex_dir / "default.sex") == sex_dir / "default.param"
    commented = sex_dir / "all_commented.param"
    commented.write_text("#NUMBER  Running object number\n#MAG_AUTO\n")
    with pytest.raises(ParamError, match="no columns"):
        read_param_file(commented)
    vector = sex_dir / "vector.param"
    vector.write_text("NUMBER\nFLUX_APER(3)\nVIGNET_SHIFT(15,15)\nMAG_PSF\n")
    with pytest.raises(ParamError, match=r"column\(s\): VIGNET_SHIFT\(15,15\), MAG_PSF$"):
        read_param_file(vector)
    # A stamp needs its two sizes; FLUX_APER takes one.
    vector.write_text("NUMBER\nVIGNET\nVIGNET(15)\nFLUX_APER(3,3)\nVIGNET(7,9)\n")
    with pytest.raises(
        ParamError, match=r"unsupported column\(s\): VIGNET, VIGNET\(15\), FLUX_APER\(3,3\)$"
    ):
        read_param_file(vector)
    stamp = DetectionParams().with_columns(["NUMBER", "VIGNET(7, 9)"])
    assert (stamp.column_dim("VIGNET"), stamp.column_size("VIGNET")) == ((7, 9), 63)
    vector.write_text("NUMBER\nFLUX_APER(3)\nMAG_APER (2)\nFLUX_RADIUS\nA_IMAGE(2)\n")
    with pytest.raises(ParamError, match=r"unsupported column\(s\): A_IMAGE\(2\)$"):
        read_param_file(vector)
    vector.write_text("NUMBER\nFLUX_APER(3)\nMAG_APER (2)\nFLUX_RADIUS\n")
    assert read_param_file(vector) == ("NUMBER", "FLUX_APER(3)", "MAG_APER(2)", "FLUX_RADIUS")
    p = DetectionParams().with_columns(read_param_file(vector))
    assert p.columns == ("NUMBER", "FLUX_APER", "MAG_APER", "FLUX_RADIUS")
    assert (p.column_size("FLUX_APER"), p.column_size("MAG_APER"), p.column_size("X")) == (3, 2, 1)
    with pytest.raises(ParamError, match="not found"):
        read_param_file(sex_dir / "missing.param")
    binary = sex_dir / "binary.param"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ParamError, match="binary"):
        read_param_file(binary)


def test_bad_sex_file(sex_dir: Path) -> None:
    bad = sex_dir / "bad.sex"
    bad.write_text("DETECT_THRESH 1.5\n= nonsense here\n")
    with pytest.raises(ParamError, match="not a configuration line"):
        DetectionParams.from_sex_file(bad)
    with pytest.raises(ParamError, match="not found"):
        DetectionParams.from_sex_file(sex_dir / "missing.sex")


def test_unsupported_columns_rejected() -> None:
    with pytest.raises(ParamError, match="MAG_PSF"):
        DetectionParams().with_columns(["NUMBER", "MAG_PSF"])


def test_params_are_frozen_and_hashable() -> None:
    p = DetectionParams()
    with pytest.raises(AttributeError):
        p.detect_thresh = 2.0  # type: ignore[misc]
    assert hash(p) == hash(DetectionParams())
