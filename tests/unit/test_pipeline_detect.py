"""The Detect tab's whole setup goes with the batch job: .sex values, columns, filter, format.

The job script runs for real in a scratch folder: ``cadcget`` and ``vcp`` are stubs (the
exposure comes from a folder of the test, "VOSpace" is a folder), ``funpack`` and
``source-extractor`` are the real ones. The catalogue stored must be the one
``source-extractor -c my.sex -PARAMETERS_NAME my.param`` writes on the same image, byte for
byte: the user's columns, threshold and own filter. With canfar-tui on the worker, its
``detect`` (the real one) writes the same columns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    SHARE_DIR,
    PipelineError,
    PipelineSpec,
    job_script,
    sextractor_options,
    submit_file,
)
from canfar_tui.batch.pipeline_detect import batch_detect, column_specs, conv_text
from canfar_tui.batch.pipeline_inputs import detect_setup, script_syntax_problems
from canfar_tui.batch.run_state import PipelineRun, run_from_json, run_to_json
from canfar_tui.detection.params import DetectionParams, read_param_file

OBS_ID = "1056215p"
FOLDER = "vos:me/cats/"
COLUMNS = ("NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_APER(2)", "FLUX_RADIUS", "CLASS_STAR", "FLAGS")
#: A filter of the user's own folder (not in the source-extractor package).
KERNEL = "CONV NORM\n# my own\n1 1 1\n1 3 1\n1 1 1\n"
REPO = Path(__file__).resolve().parents[2]

STUBS = {
    "cadcget": 'uri=${@: -1}; cp "$STUB_ARCHIVE/${uri##*/}" .\n',
    "vcp": (
        'if [[ $2 == vos:* ]]; then cp "$1" "$STUB_VOS/${1##*/}"; '
        'else cp "$STUB_VOS/${1##*/}" "$2"; fi\n'
    ),
    "vmkdir": "true\n",
    "vls": "true\n",
    # canfar-tui on the worker: get and put are stubs, detect is the real one
    "canfar-tui-worker": (
        "if [[ $1 == --profile ]]; then shift 2; fi\n"
        "case $1 in\n"
        '  get) cp "$STUB_ARCHIVE/${3##*/}" . ;;\n'
        '  put) cp "$2" "$STUB_VOS/" ;;\n'
        f'  *) exec {sys.executable} -m canfar_tui "$@" ;;\n'
        "esac\n"
    ),
}


def user_files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my.conv").write_text(KERNEL, encoding="utf-8")
    (folder / "my.param").write_text("\n".join(COLUMNS) + "\n", encoding="utf-8")
    sex = folder / "my.sex"
    sex.write_text(
        "PARAMETERS_NAME my.param\nDETECT_THRESH 3\nDETECT_MINAREA 5\nFILTER_NAME my.conv\n"
        "CHECKIMAGE_TYPE SEGMENTATION\nCHECKIMAGE_NAME seg.fits\n",
        encoding="utf-8",
    )
    return sex, folder / "my.param"


def user_params(folder: Path) -> DetectionParams:
    sex, param = user_files(folder)
    return DetectionParams.from_sex_file(sex).with_columns(read_param_file(param))


def test_the_sex_values_columns_and_filter_go_into_the_spec(tmp_path: Path) -> None:
    params = user_params(tmp_path / "user")
    setup = batch_detect(params, "fits_ldac")
    assert setup.columns == COLUMNS == column_specs(params)
    assert setup.overrides == {
        "DETECT_THRESH": "3",
        "DETECT_MINAREA": "5",
        "FILTER_NAME": "my.conv",
    }
    assert setup.files == (("my.conv", conv_text(params.filter_kernel, True)),)
    assert setup.catalog_type == "FITS_LDAC"
    assert setup.notes == ("check-images are not made by the batch job (only the catalogue)",)

    spec = PipelineSpec.from_params(params, [OBS_ID], FOLDER, catalogue_format="fits_ldac")
    assert (spec.columns, spec.files, spec.catalog_type) == (
        setup.columns,
        setup.files,
        "FITS_LDAC",
    )
    # The carried filter is read from the job's folder, the package's from its own.
    assert sextractor_options(spec) == [
        "-CATALOG_TYPE",
        "FITS_LDAC",
        "-DETECT_THRESH",
        "3",
        "-DETECT_MINAREA",
        "5",
        "-FILTER_NAME",
        "my.conv",
    ]
    script = job_script(spec)
    assert script_syntax_problems(script) == []
    assert "echo '" + "\n".join(COLUMNS) + "' > default.param\n" in script
    assert "cat > my.conv <<'CANFAR_TUI_END_OF_FILE'\nCONV NORM\n1 1 1\n1 3 1\n" in script
    # The submit file is the seed's: everything the job needs is in the script.
    assert "transfer_input_files" not in submit_file(spec)
    # A run saved and read back (resubmit after a restart) keeps all of it.
    run = PipelineRun(spec, Path("/runs/1"), 7, 1, "ID: 7", "snap", "c2", spec.ids, spec.ids)
    assert run_from_json(run_to_json(run)).spec == spec


def test_what_a_batch_job_cannot_honour_is_one_line(tmp_path: Path) -> None:
    weighted = DetectionParams().with_overrides(
        {"WEIGHT_TYPE": "MAP_RMS", "WEIGHT_IMAGE": "rms.fits"}
    )
    with pytest.raises(PipelineError, match="WEIGHT_TYPE MAP_RMS needs the weight map"):
        batch_detect(weighted)
    _, problem = detect_setup({"DETECT_THRESH": "2"}, weighted, None, "ascii_head")
    assert problem is not None and "WEIGHT_IMAGE" in problem
    flagged = DetectionParams().with_columns(["NUMBER", "IMAFLAGS_ISO"])
    with pytest.raises(PipelineError, match="IMAFLAGS_ISO need the flag map"):
        batch_detect(flagged)
    # Background weights need no file: they go to the job.
    background = DetectionParams().with_overrides({"WEIGHT_TYPE": "BACKGROUND"})
    assert batch_detect(background).overrides == {"WEIGHT_TYPE": "BACKGROUND"}
    # ECSV is canfar-tui's own: the job writes ASCII_HEAD and says so.
    assert batch_detect(DetectionParams(), "ecsv").notes == (
        "ECSV is not a CATALOG_TYPE: ASCII_HEAD is written",
    )
    # Bad columns or files never reach a job script.
    with pytest.raises(PipelineError, match="MAG_NOTHING"):
        PipelineSpec((OBS_ID,), FOLDER, columns=("NUMBER", "MAG_NOTHING"))
    with pytest.raises(PipelineError, match="NUMBER\\(3\\)"):
        PipelineSpec((OBS_ID,), FOLDER, columns=("NUMBER(3)",))
    with pytest.raises(PipelineError, match="bad name"):
        PipelineSpec((OBS_ID,), FOLDER, files=(("../x.conv", "CONV NORM\n1\n"),))
    with pytest.raises(PipelineError, match="cannot be carried"):
        PipelineSpec((OBS_ID,), FOLDER, files=(("x.conv", "CANFAR_TUI_END_OF_FILE\n"),))
    with pytest.raises(PipelineError, match="CATALOG_TYPE"):
        PipelineSpec((OBS_ID,), FOLDER, catalog_type="VOTABLE")


def test_the_typed_values_win_over_the_sex_file(tmp_path: Path) -> None:
    sex, _ = user_files(tmp_path / "user")
    base = DetectionParams.from_sex_file(sex)
    setup, problem = detect_setup({"DETECT_THRESH": "4"}, base, COLUMNS, "ascii_head")
    assert problem is None
    assert setup.overrides["DETECT_THRESH"] == "4" and setup.columns == COLUMNS
    assert setup.catalog_type is None
    # A bad typed value comes back as typed: generating the pipeline names it.
    bad, problem = detect_setup({"DETECT_THRESH": "lots"}, base, None, None)
    assert bad.overrides == {"DETECT_THRESH": "lots"} and problem is None


# --------------------------------------------------------------------------- on a worker


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("source-extractor", "funpack"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install_detection_tools.sh)")
    from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

    folder = tmp_path_factory.mktemp("archive")
    config = SyntheticConfig(n_ccds=1, width=512, height=1024, seed=5)
    write_synthetic_mef(folder / f"{OBS_ID}.fits.fz", config.for_area().scaled(2.0))
    return folder


def run_job(spec: PipelineSpec, root: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    bin_dir, home, scratch, vos = (root / name for name in ("bin", "home", "scratch", "vos"))
    for folder in (bin_dir, home / ".ssl", scratch, vos):
        folder.mkdir(parents=True)
    (home / ".ssl" / "cadcproxy.pem").write_text("a proxy\n", encoding="utf-8")
    for name, body in STUBS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\nset -e\n" + body, encoding="utf-8")
        path.chmod(0o755)
    script = root / spec.script_name
    script.write_text(job_script(spec), encoding="utf-8")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "STUB_ARCHIVE": str(archive),
        "STUB_VOS": str(vos),
    }
    return subprocess.run(
        ["bash", str(script), OBS_ID],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sextract(folder: Path, name: str, *options: str) -> bytes:
    """source-extractor with my.sex in ``folder``: the catalogue ``name``'s bytes."""
    subprocess.run(
        [
            "source-extractor",
            f"{OBS_ID}.fits",
            "-c",
            "my.sex",
            "-CATALOG_NAME",
            name,
            "-STARNNW_NAME",
            f"{SHARE_DIR}/default.nnw",
            "-VERBOSE_TYPE",
            "QUIET",
            *options,
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return (folder / name).read_bytes()


def header_lines(catalogue: Path) -> list[str]:
    lines = catalogue.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("#")]


def header_names(catalogue: Path) -> list[str]:
    return [
        line.split()[2]
        for line in catalogue.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]


def test_the_seed_job_stores_the_catalogue_of_the_users_sex_and_param(
    tmp_path: Path, archive: Path
) -> None:
    user = tmp_path / "user"
    params = user_params(user)
    spec = PipelineSpec.from_params(params, [OBS_ID], FOLDER)
    result = run_job(spec, tmp_path / "worker", archive)
    assert result.returncode == 0, result.stderr
    stored = tmp_path / "worker" / "vos" / f"{OBS_ID}.cat"
    # Nothing but the catalogue is left for HTCondor to bring back.
    scratch = tmp_path / "worker" / "scratch"
    assert sorted(path.name for path in scratch.iterdir()) == [f"{OBS_ID}.cat"]

    # The astronomer's own run of source-extractor with the same files.
    image = user / f"{OBS_ID}.fits"
    subprocess.run(["funpack", "-O", str(image), str(archive / f"{OBS_ID}.fits.fz")], check=True)
    mine = sextract(user, "mine.cat")
    assert header_names(user / "mine.cat")[:4] == ["NUMBER", "X_IMAGE", "Y_IMAGE", "MAG_APER"]
    assert len(mine.splitlines()) > 50  # sources, not just a header
    assert stored.read_bytes() == mine
    # Without the user's filter the catalogue would differ: the test can tell.
    plain = sextract(user, "plain.cat", "-FILTER_NAME", f"{SHARE_DIR}/default.conv")
    assert plain != mine


def test_canfar_tui_on_the_worker_writes_the_users_columns(tmp_path: Path, archive: Path) -> None:
    params = user_params(tmp_path / "user")
    worker = tmp_path / "worker"
    spec = PipelineSpec.from_params(
        params,
        [OBS_ID],
        FOLDER,
        catalogue_format="ascii_head",
        command=(str(worker / "bin" / "canfar-tui-worker"),),
        workers=1,
        steps=CANFAR_TUI_STEPS,
        profile="cadc",
        install_proxy=False,
    )
    script = job_script(spec)
    assert " --params default.param --set DETECT_THRESH=3" in script
    result = run_job(spec, worker, archive)
    assert result.returncode == 0, result.stderr
    stored = worker / "vos" / f"{OBS_ID}.cat"
    # The header source-extractor writes for my.param, line for line.
    user = tmp_path / "user"
    image = user / f"{OBS_ID}.fits"
    subprocess.run(["funpack", "-O", str(image), str(archive / f"{OBS_ID}.fits.fz")], check=True)
    sextract(user, "mine.cat")
    assert header_names(stored) == [
        "NUMBER",
        "X_IMAGE",
        "Y_IMAGE",
        "MAG_APER",
        "FLUX_RADIUS",
        "CLASS_STAR",
        "FLAGS",
    ]
    assert header_lines(stored) == header_lines(user / "mine.cat")
    assert len(stored.read_text(encoding="utf-8").splitlines()) > 50
    assert sorted(path.name for path in (worker / "scratch").iterdir()) == [f"{OBS_ID}.cat"]
