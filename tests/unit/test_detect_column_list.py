"""The Detect tab's column list model: .param reading and writing, catalogue fields, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from canfar_tui.detection.column_info import COLUMN_INFO
from canfar_tui.detection.params import DetectionParams, ParamError, read_param_file
from canfar_tui.widgets.detect import columns


def test_a_param_file_is_read_like_source_extractor_and_unsupported_columns_are_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "default.param"
    path.write_text(
        "NUMBER   # running number\n"
        "mag_aper ( 3 )\n"
        "\n"
        "  # FLAGS\n"
        "MAG_PSF\n"
        "X_IMAGE extra words\n"
        "NUMBER\n"
        "SPREAD_MODEL\n"
        "MAG_PSF\n"
    )
    assert columns.load_param_file(path) == (
        ("NUMBER", "MAG_APER(3)", "X_IMAGE"),
        ("MAG_PSF", "SPREAD_MODEL"),
    )
    with pytest.raises(ParamError, match="unsupported column"):
        read_param_file(path)  # the CLI refuses the file; the tab leaves those columns out


def test_a_written_param_file_reads_back_with_the_real_reader(tmp_path: Path) -> None:
    specs = ("NUMBER", "MAG_APER(4)", "FLUX_RADIUS(2)", "MAG_AUTO")
    folder = tmp_path / "params"
    folder.mkdir()
    path = folder / "out.param"
    columns.save_param_file(path, specs)
    assert read_param_file(path) == specs
    params = DetectionParams().with_columns(read_param_file(path))
    assert params.column_size("MAG_APER") == 4 and params.column_size("FLUX_RADIUS") == 2
    assert "# Fixed aperture magnitude vector [mag]" in path.read_text()
    with pytest.raises(OSError, match="no such folder"):
        columns.save_param_file(folder / "missing" / "x.param", specs)
    with pytest.raises(OSError, match="is a folder"):
        columns.save_param_file(folder, specs)
    assert sorted(p.name for p in folder.iterdir()) == ["out.param"]


def test_vector_sizes_and_the_offered_columns_come_from_column_info() -> None:
    assert columns.resize("MAG_APER", 1) == "MAG_APER(2)"
    assert columns.resize("MAG_APER(2)", -1) == "MAG_APER"
    assert columns.resize("MAG_APER", -1) == "MAG_APER"
    assert columns.resize(f"MAG_APER({columns.MAX_VECTOR_SIZE})", 1).endswith(
        f"({columns.MAX_VECTOR_SIZE})"
    )
    assert columns.resize("MAG_AUTO", 1) == "MAG_AUTO"
    assert columns.spec_size("VIGNET(15,15)") == 225
    offered = columns.available_columns(["NUMBER", "MAG_APER(3)"])
    assert offered == [name for name in COLUMN_INFO if name not in ("NUMBER", "MAG_APER")]
    assert "MAG_AUTO" in columns.available_columns([], "kron-like")
    assert columns.available_columns([], "iso") == [
        name for name in COLUMN_INFO if "ISO" in name or "ISO" in COLUMN_INFO[name].description
    ]


def test_catalogue_fields_split_vectors_and_magnitudes_are_found() -> None:
    dtype = np.dtype(
        [
            ("NUMBER", "i4"),
            ("MAG_APER", "f4", (3,)),
            ("MAGERR_AUTO", "f4"),
            ("MAG_AUTO", "f4"),
            ("VIGNET", "f4", (5, 5)),
        ]
    )
    catalogue = np.zeros(4, dtype=dtype)
    catalogue["MAG_APER"] = [[20, 21, 22], [23, 24, 25], [26, 27, 28], [99, 99, 99]]
    catalogue["MAG_AUTO"] = [19.5, 20.5, 99.0, 21.5]
    fields = columns.catalogue_fields(catalogue, ("MAG_AUTO", "MAG_APER", "NUMBER", "VIGNET"))
    assert fields == ["MAG_AUTO", "MAG_APER[1]", "MAG_APER[2]", "MAG_APER[3]", "NUMBER"]
    assert "MAGERR_AUTO" in columns.catalogue_fields(catalogue)
    assert columns.magnitude_fields(catalogue, ("NUMBER",)) == [
        "MAG_APER[1]",
        "MAG_APER[2]",
        "MAG_APER[3]",
        "MAG_AUTO",
    ]
    assert list(columns.field_values(catalogue, "MAG_APER[2]")) == [21, 24, 27, 99]
    assert columns.value_stats(columns.field_values(catalogue, "MAG_APER[3]"), magnitude=True) == (
        "median 25 (22…28) · 1 at 99"
    )
    assert columns.value_stats(catalogue["MAG_AUTO"]) == "median 21 (19.5…99)"
    with pytest.raises(KeyError):
        columns.field_values(catalogue, "FLUX_AUTO")


def test_source_extractor_s_own_list_of_every_column_loads(tmp_path: Path) -> None:
    """``source-extractor -dp`` (every column, commented out): the ones canfar-tui computes."""
    import shutil
    import subprocess

    from canfar_tui.widgets.detect.files import _left_out

    program = shutil.which("source-extractor")
    if program is None:
        pytest.skip("source-extractor is not installed")
    listing = subprocess.run([program, "-dp"], capture_output=True, text=True, check=True)
    path = tmp_path / "all.param"
    path.write_text("".join(line.lstrip("#") for line in listing.stdout.splitlines(True)))
    chosen, refused = columns.load_param_file(path)
    listed = {columns.spec_name(word) for word in path.read_text().split()}
    assert {columns.spec_name(spec) for spec in chosen} == set(COLUMN_INFO) & listed
    assert "MAG_PSF" in refused and "NUMBER" not in refused
    note = _left_out(refused)
    assert note.startswith(f"{len(refused)} columns not computed") and "\n" not in note
