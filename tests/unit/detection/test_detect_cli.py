"""``canfar-tui detect`` (via canfar_tui.cli.detect): exit codes, messages, outputs."""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from detect_support import SyntheticImage

from canfar_tui.cli import detect as cli
from canfar_tui.detection.params import DEFAULT_COLUMNS


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "home")


def closing_line(image: str, ccds: int, catalogue: str, *, replaced: bool = False) -> str:
    """The pattern of the one line ending each image, as source-extractor's "All done"."""
    ccd_text = "1 CCD" if ccds == 1 else f"{ccds} CCDs"
    tail = r" \(replaced\)" if replaced else ""
    return (
        rf"{re.escape(image)}: \d+ sources in {ccd_text}( \(\d+ skipped\))?, \d+\.\d s -> "
        rf"{re.escape(catalogue)}{tail}"
    )


def header_columns(path: Path) -> list[str]:
    return [line.split()[2] for line in path.read_text().splitlines() if line.startswith("#")]


def test_default_run_writes_cat_in_cwd_quietly(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([str(small_fz.path), "--workers", "2"], capsys)
    assert (code, out) == (0, "")
    # Piped: nothing but the closing line (issue 15 item 10: it used to print nothing).
    assert re.fullmatch(closing_line("small.fits.fz", 4, "small.cat") + "\n", err), err
    cat = workdir / "small.cat"
    assert header_columns(cat) == list(DEFAULT_COLUMNS)
    rows = np.loadtxt(cat, ndmin=2)
    assert len(rows) > 50
    assert set(rows[:, 1].astype(int)) == {1, 2, 3, 4}


def test_output_and_verbose(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([str(small_fz.path), "-o", "sub.cat", "-v", "--workers", "1"], capsys)
    assert code == 0 and out == ""
    assert err.startswith("small.fits.fz: ") and "sources in 4 CCDs" in err and "-> sub.cat" in err
    assert (workdir / "sub.cat").is_file()


def test_formats_and_outdir(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "out").mkdir()
    assert run([str(small_fz.path), "--outdir", "out", "--format", "fits"], capsys)[0] == 0
    assert run([str(small_fz.path), "--outdir", "out", "--format", "ecsv"], capsys)[0] == 0
    assert files(workdir / "out") == ["small.cat.fits", "small.ecsv"]
    with fits.open(workdir / "out" / "small.cat.fits") as hdul:
        n_fits = sum(len(h.data) for h in hdul if h.name == "OBJECTS")
    assert len(Table.read(workdir / "out" / "small.ecsv")) == n_fits > 0


def test_sex_config_param_file_and_set(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "my.sex").write_text(
        "CATALOG_TYPE FITS_1.0\nPARAMETERS_NAME my.param\nDETECT_THRESH 1.5\n"
        "DETECT_TYPE PHOTO\nBACK_SIZE 64\n"
    )
    (workdir / "my.param").write_text("NUMBER\nMAG_AUTO\nX_IMAGE\nY_IMAGE\n")
    code, _, err = run([str(small_fz.path), "-c", "my.sex"], capsys)
    assert code == 0
    warning, closing = err.splitlines()
    assert warning == (
        "canfar-tui detect: warning: my.sex: "
        "DETECT_TYPE PHOTO is not supported (canfar-tui uses CCD)"
    )
    assert re.fullmatch(closing_line("small.fits.fz", 4, "small.cat.fits"), closing), closing
    with fits.open(workdir / "small.cat.fits") as hdul:
        assert hdul[1].columns.names == ["NUMBER", "MAG_AUTO", "X_IMAGE", "Y_IMAGE"]
        n_default = sum(len(h.data) for h in hdul if h.name == "OBJECTS")
    code, _, _ = run(
        [
            str(small_fz.path),
            "-c",
            "my.sex",
            "--format",
            "ascii_head",
            "--set",
            "DETECT_THRESH=5",
            "-q",
        ],
        capsys,
    )
    assert code == 0
    assert header_columns(workdir / "small.cat") == ["NUMBER", "MAG_AUTO", "X_IMAGE", "Y_IMAGE"]
    assert 0 < len(np.loadtxt(workdir / "small.cat", ndmin=2)) < n_default


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["a.fits", "b.fits", "-o", "x.cat"], "-o/--output needs exactly one IMAGE"),
        (["a.fits", "--set", "NOPE=1"], "unknown or unsupported parameter 'NOPE'"),
        (["a.fits", "--set", "DETECT_THRESH"], "expected KEY=VALUE"),
        (["a.fits", "--set", "DEBLEND_MINCONT=5"], "DEBLEND_MINCONT must be in [0, 1]"),
        (["a.fits", "--workers", "0"], "--workers must be at least 1"),
        (["a.fits", "-c", "missing.sex"], "missing.sex: SExtractor configuration not found"),
        (["a.fits", "--params", "missing.param"], "missing.param: parameter file not found"),
        (["a.fits", "--outdir", "nowhere"], "--outdir nowhere: not a directory"),
        (["d1/a.fits", "d2/a.fits"], "would both write"),
        (["a.fits", "-o", "a.fits"], "would overwrite its own image"),
    ],
)
def test_usage_errors_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err and err.startswith("canfar-tui detect: error: ")


def test_unwritable_output_is_an_image_failure(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([str(small_fz.path), "-o", "missing/x.cat"], capsys)
    assert code == 1
    assert err == "canfar-tui detect: error: missing/x.cat: directory missing does not exist\n"
    assert files(workdir) == []


def test_argparse_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["a.fits", "--format", "votable"])
    assert info.value.code == 2


def _bad_files(directory: Path, small_fz: Path) -> dict[str, str]:
    data = small_fz.read_bytes()
    (directory / "truncated.fits.fz").write_bytes(data[: len(data) // 2])
    (directory / "empty.fits").write_bytes(b"")
    (directory / "notfits.fits").write_text("SIMPLE? no. " * 100)
    fits.PrimaryHDU().writeto(directory / "headeronly.fits")
    fits.PrimaryHDU(np.full((64, 64), np.nan, np.float32)).writeto(directory / "nan.fits")
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=[1.0])]),
        ]
    ).writeto(directory / "table.fits")
    return {
        "truncated.fits.fz": "truncated file",
        "empty.fits": "empty file (0 bytes)",
        "notfits.fits": "not a FITS file",
        "headeronly.fits": "no image data (the file has only header(s))",
        "nan.fits": "every pixel is NaN",
        "table.fits": "no image extension: HDU 1 (HDU1) is a binary table",
        "missing.fits": "no such file",
    }


def test_bad_inputs_one_line_each_exit_1_no_partial_catalogue(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _bad_files(workdir, small_fz.path)
    shutil.copy(small_fz.path, workdir / "good.fits.fz")
    before = set(files(workdir))
    code, out, err = run([*expected, "good.fits.fz", "--workers", "2"], capsys)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == len(expected) + 1
    assert re.fullmatch(closing_line("good.fits.fz", 4, "good.cat"), lines.pop()), err
    for line, (name, fragment) in zip(lines, expected.items(), strict=True):
        assert line.startswith(f"canfar-tui detect: error: {name}: "), line
        assert fragment in line, line
    assert "Traceback" not in err
    assert set(files(workdir)) - before == {"good.cat"}  # no partial or temporary files


def test_strict_and_skipped_extensions(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    good = rng.normal(100, 5, (128, 128)).astype(np.float32)
    good[50:53, 60:63] += 500
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(good),
            fits.ImageHDU(np.full((128, 128), np.nan, np.float32)),
        ]
    ).writeto(workdir / "mef.fits")
    code, _, err = run(["mef.fits"], capsys)
    assert code == 0
    warning, closing = err.splitlines()
    assert warning == (
        "canfar-tui detect: warning: mef.fits: "
        "HDU2 (ext 2): every pixel is NaN (blank CCD) (skipped)"
    )
    assert re.fullmatch(closing_line("mef.fits", 1, "mef.cat"), closing), closing
    assert "(1 skipped)" in closing
    assert (workdir / "mef.cat").is_file()
    (workdir / "mef.cat").unlink()
    code, _, err = run(["mef.fits", "--strict"], capsys)
    assert code == 1
    assert "--strict" in err.splitlines()[-1]
    assert not (workdir / "mef.cat").exists()


def test_progress_bar_on_a_terminal(
    small_fz: SyntheticImage, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = Tty()
    monkeypatch.setattr(sys, "stderr", fake)
    assert cli.main([str(small_fz.path), "--workers", "2"]) == 0
    assert "small.fits.fz:" in fake.getvalue()  # the summary line after the bar
    assert (workdir / "small.cat").is_file()


def test_interrupt_exits_130(
    small_fz: SyntheticImage,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from canfar_tui.detection import runner

    def boom(self: object, *args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.DetectionRunner, "run", boom)
    code, _, err = run([str(small_fz.path)], capsys)
    assert code == 130 and "interrupted" in err
    assert files(workdir) == []


def test_add_detect_arguments_on_a_subparser(small_fz: SyntheticImage, workdir: Path) -> None:
    parser = argparse.ArgumentParser(prog="canfar-tui")
    sub = parser.add_subparsers(dest="command")
    cli.add_detect_arguments(sub.add_parser("detect"))
    args = parser.parse_args(["detect", str(small_fz.path), "-q", "--workers", "1"])
    assert cli.run_detect(args) == 0
    assert (workdir / "small.cat").is_file()


def test_module_entry_point_in_a_subprocess(small_fz: SyntheticImage, workdir: Path) -> None:
    bad = workdir / "bad.fits"
    bad.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "canfar_tui.cli.detect", str(bad), str(small_fz.path)],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    error, closing = proc.stderr.splitlines()
    assert error == (
        "canfar-tui detect: error: bad.fits: not a FITS file (it does not start with a SIMPLE card)"
    )
    assert re.fullmatch(closing_line("small.fits.fz", 4, "small.cat"), closing), closing
    assert (workdir / "small.cat").is_file()


def test_canfar_tui_detect_in_a_subprocess_exits_at_once_with_everything_written(
    small_fz: SyntheticImage, workdir: Path
) -> None:
    # The `canfar-tui` script calls main() without argv: a finished detect ends the process
    # with os._exit (exit_now), after the catalogue is in place and stderr flushed.
    proc = subprocess.run(
        [sys.executable, "-m", "canfar_tui", "detect", str(small_fz.path), "-o", "sub.cat"],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(closing_line("small.fits.fz", 4, "sub.cat"), proc.stderr.strip())
    assert cli.main([str(small_fz.path), "-o", "here.cat", "-q"]) == 0
    assert (workdir / "sub.cat").read_bytes() == (workdir / "here.cat").read_bytes()
    assert files(workdir) == ["here.cat", "sub.cat"]


def test_exit_now_flushes_buffered_output_and_keeps_the_status() -> None:
    code = (
        "import sys\n"
        "from canfar_tui.cli.detect import exit_now\n"
        "sys.stdout.write('on stdout, block-buffered in a pipe')\n"
        "sys.stderr.write('on stderr')\n"
        "exit_now(3)\n"
    )
    # Without PYTHONUNBUFFERED, stdout into a pipe is block-buffered: os._exit alone loses it.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 3
    assert proc.stdout == "on stdout, block-buffered in a pipe"
    assert proc.stderr == "on stderr"


@pytest.mark.parametrize(("workers", "tuned"), [("1", True), ("2", False)])
def test_one_worker_runs_keep_their_memory_from_ccd_to_ccd(
    small_fz: SyntheticImage,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
    tuned: bool,
) -> None:
    """With one worker the CCDs are measured in the CLI's own process, which then keeps
    freed memory for the next CCD as a pool worker does; with a pool it stays as it is."""
    from canfar_tui.detection import runner

    calls: list[int] = []

    def record() -> bool:
        calls.append(os.getpid())
        return True

    monkeypatch.setattr(runner, "tune_malloc", record)
    assert cli.main([str(small_fz.path), "-q", "--workers", workers]) == 0
    assert calls == ([os.getpid()] if tuned else [])
    assert (workdir / "small.cat").is_file()
