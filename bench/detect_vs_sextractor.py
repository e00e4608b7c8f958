"""canfar-tui detect vs funpack -D + source-extractor on the same synthetic MegaCam image.

Usage (from the repository root)::

    .venv/bin/python bench/detect_vs_sextractor.py              # 36 CCDs of 2048 × 4612
    .venv/bin/python bench/detect_vs_sextractor.py --ccds 4     # quick
    .venv/bin/python bench/detect_vs_sextractor.py --repeat 3 --profile
    .venv/bin/python bench/detect_vs_sextractor.py --dense --repeat 3 --cases default,rich

In one run, on the same Rice-compressed synthetic image (generated once and cached in
``--workdir``, by default ``/tmp/canfar-tui-bench``):

* **baseline**: ``funpack -D image.fits.fz`` then ``source-extractor image.fits`` with the
  Debian ``default.sex`` / ``default.conv`` and a ``default.param`` holding NUMBER EXT_NUMBER
  MAG_AUTO MAGERR_AUTO FLUX_AUTO X_IMAGE Y_IMAGE A_IMAGE B_IMAGE THETA_IMAGE FLAGS (the
  seed's workflow, with the issue's columns);
* **canfar-tui**: ``python -m canfar_tui.cli.detect image.fits.fz -o image.cat
  --params default.param`` (what ``canfar-tui detect`` runs), on the ``.fz`` directly.

``--cases rich`` adds a second pair of runs with a rich parameter file
(:data:`RICH_COLUMNS`, ~30 columns: world coordinates, apertures, WIN, FLUX_RADIUS, FLAGS…)
given to both programs with the same drop-in command line (``-c default.sex
-PARAMETERS_NAME rich.param -PHOT_APERTURES 5,10,20``). Columns canfar-tui does not know yet
are left out of that file (for both programs) with a printed note, so the list can name
columns before they land. ``--dense`` is the issue's dense field: 12 CCDs, 2.5 × the sources
(~2 500 detections per CCD).

Each command runs in a fresh process; wall time is measured around it, and peak RSS both as
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest single process, via a wrapper) and
as the peak of the summed RSS of the whole process tree (sampled every 20 ms with psutil,
which matters for the worker processes). Within each repeat every case runs its baseline
and canfar-tui back to back, the order swapped on every other repeat (so a change of load
hits both); the minimum and median wall times, and the median of the per-repeat ratios, are
reported. ``--profile`` also runs the detection in-process and prints
where the per-CCD time goes. The two catalogues are compared with the issue's parity
criterion.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARE = Path("/usr/share/source-extractor")
COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLUX_AUTO",
    "X_IMAGE",
    "Y_IMAGE",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "FLAGS",
)
RICH_COLUMNS = (
    "NUMBER",
    "EXT_NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "ERRAWIN_IMAGE",
    "ERRBWIN_IMAGE",
    "ERRTHETAWIN_IMAGE",
    "X_WORLD",
    "Y_WORLD",
    "ALPHA_J2000",
    "DELTA_J2000",
    "ALPHAWIN_J2000",
    "DELTAWIN_J2000",
    "MAG_AUTO",
    "MAGERR_AUTO",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "KRON_RADIUS",
    "MAG_APER(3)",
    "MAGERR_APER(3)",
    "FLUX_APER(3)",
    "FLUXERR_APER(3)",
    "MAG_ISO",
    "FLUX_ISO",
    "FLUX_RADIUS",
    "FWHM_IMAGE",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "THETA_J2000",
    "ELONGATION",
    "ELLIPTICITY",
    "CLASS_STAR",
    "BACKGROUND",
    "FLUX_MAX",
    "ISOAREA_IMAGE",
    "FLAGS",
)
"""The rich parameter file (~30 columns of what real ``default.param`` files ask for). Extend
it freely: columns canfar-tui does not know yet are skipped, with a note."""
RICH_OPTIONS = ("-PHOT_APERTURES", "5,10,20")
"""Extra ``-KEY VALUE`` options of the rich case, given to both programs."""

# Runs a command, then prints wall seconds and the children's max RSS (KiB) as JSON.
WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "maxrss_kib": ru.ru_maxrss,
                  "cpu": ru.ru_utime + ru.ru_stime}))
"""


RESCAN_EVERY = 10
"""The RSS sampler looks for new processes every 10th poll (200 ms), and reads the RSS of the
ones it knows every poll (20 ms)."""


@dataclass
class Measure:
    wall: float
    maxrss_mib: float
    tree_mib: float
    cpu: float


def run_measured(cmd: list[str], cwd: Path) -> Measure:
    """Run ``cmd`` in a fresh wrapper process; sample the tree's total RSS meanwhile."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with the dev environment
        psutil = None
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *cmd], cwd=cwd, stdout=subprocess.PIPE, text=True
    )
    peak_tree = 0
    if psutil is not None:
        try:
            root = psutil.Process(proc.pid)
            tree: list[Any] = []
            polls = 0
            while proc.poll() is None:
                # Finding the processes scans every /proc entry (~12 % of a core at 50 Hz,
                # taken from a program that keeps both cores busy): every 10th poll only.
                if polls % RESCAN_EVERY == 0 or not tree:
                    with contextlib.suppress(psutil.Error):
                        tree = root.children(recursive=True)
                polls += 1
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak_tree = max(peak_tree, total)
                time.sleep(0.02)
        except psutil.Error:
            pass
    out, _ = proc.communicate()
    result = json.loads(out.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"command failed ({result['rc']}): {' '.join(cmd)}")
    return Measure(result["wall"], result["maxrss_kib"] / 1024, peak_tree / 2**20, result["cpu"])


def ensure_image(
    workdir: Path, ccds: int, width: int, height: int, seed: int, density: float
) -> Path:
    from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

    suffix = "" if density == 1.0 else f"_d{density:g}"
    path = workdir / f"megacam_{ccds}x{width}x{height}_s{seed}{suffix}.fits.fz"
    if not path.exists():
        print(f"generating {path.name} (once; cached in {workdir}) ...", flush=True)
        t = time.perf_counter()
        config = SyntheticConfig(n_ccds=ccds, width=width, height=height, seed=seed)
        config = config.for_area().scaled(density)
        write_synthetic_mef(path, config, compress=True)
        print(
            f"  {time.perf_counter() - t:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True
        )
    return path


def read_cat(path: Path) -> np.ndarray:
    """An ASCII_HEAD catalogue; vector columns become NAME, NAME_2, NAME_3..."""
    heads: list[tuple[int, str]] = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        parts = line.split()
        heads.append((int(parts[1]), parts[2]))
    data = np.loadtxt(path, comments="#", ndmin=2)
    names: list[str] = []
    for k, (number, name) in enumerate(heads):
        width = (heads[k + 1][0] if k + 1 < len(heads) else data.shape[1] + 1) - number
        names += [name] + [f"{name}_{j}" for j in range(2, width + 1)]
    out = np.zeros(len(data), dtype=[(name, "f8") for name in names])
    for k, name in enumerate(names):
        out[name] = data[:, k]
    return out


def known_columns(columns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(columns canfar-tui knows, columns it does not know yet) of a parameter list."""
    from canfar_tui.detection.column_info import COLUMN_INFO

    known: list[str] = []
    unknown: list[str] = []
    for column in columns:
        (known if column.split("(")[0] in COLUMN_INFO else unknown).append(column)
    return known, unknown


def parity(ours_path: Path, theirs_path: Path) -> str:
    ours, theirs = read_cat(ours_path), read_cat(theirs_path)
    bright = theirs["MAG_AUTO"] < -11
    matched = np.zeros(len(theirs), dtype=bool)
    dmag = np.full(len(theirs), np.nan)
    for ext in np.unique(theirs["EXT_NUMBER"]):
        t = np.flatnonzero(theirs["EXT_NUMBER"] == ext)
        o = np.flatnonzero(ours["EXT_NUMBER"] == ext)
        if not len(o):
            continue
        for chunk in np.array_split(t, max(1, len(t) // 2000)):
            d = np.hypot(
                theirs["X_IMAGE"][chunk, None] - ours["X_IMAGE"][None, o],
                theirs["Y_IMAGE"][chunk, None] - ours["Y_IMAGE"][None, o],
            )
            nearest = d.argmin(axis=1)
            ok = d[np.arange(len(chunk)), nearest] < 1.0
            matched[chunk] = ok
            dmag[chunk] = ours["MAG_AUTO"][o[nearest]] - theirs["MAG_AUTO"][chunk]
    sel = bright & matched
    return (
        f"sources: canfar-tui {len(ours)}, source-extractor {len(theirs)}; "
        f"MAG_AUTO < -11: {sel.sum()}/{bright.sum()} matched within 1 px "
        f"({100 * sel.sum() / max(1, bright.sum()):.2f} %), median |dMAG_AUTO| "
        f"{np.nanmedian(np.abs(dmag[sel])):.4f}; all sources matched "
        f"{100 * matched.mean():.1f} %"
    )


def profile(image: Path, workers: int | None) -> None:
    from canfar_tui.detection import detect_image

    result = detect_image(image, workers=workers)
    keys = ["read", "background", "subtract", "extract", "photometry", "columns", "total"]
    means = {
        k: 1000 * statistics.mean(e.timings.get(k, 0.0) for e in result.extensions) for k in keys
    }
    print(
        "\nper-CCD worker time (mean over extensions, ms, measured while "
        f"{workers or os.cpu_count()} workers run):"
    )
    for key in keys:
        print(f"  {key:<11} {means[key]:7.1f}")
    print(f"  sources/CCD {result.n_sources / len(result.extensions):7.0f}")


@dataclass
class Case:
    """One parameter file, run by both programs."""

    name: str
    param_file: str
    sex_args: list[str]
    canfar_args: list[str]
    baseline: list[Measure] = field(default_factory=list)
    canfar: list[Measure] = field(default_factory=list)
    funpack: list[Measure] = field(default_factory=list)
    sextractor: list[Measure] = field(default_factory=list)


def make_cases(names: list[str], scratch: Path, workers: int | None) -> list[Case]:
    cases = []
    for name in names:
        if name == "default":
            (scratch / "default.param").write_text("\n".join(COLUMNS) + "\n")
            sex_args = ["-c", "default.sex", "-CATALOG_NAME", "sextractor_default.cat"]
            canfar_args = ["-o", "canfar_default.cat", "--params", "default.param"]
        elif name == "rich":
            known, unknown = known_columns(RICH_COLUMNS)
            if unknown:
                print(
                    f"note: the rich case leaves out {len(unknown)} column(s) canfar-tui does "
                    f"not know yet: {' '.join(unknown)}"
                )
            print(f"rich parameter file: {len(known)} columns")
            (scratch / "rich.param").write_text("\n".join(known) + "\n")
            common = ["-c", "default.sex", "-PARAMETERS_NAME", "rich.param", *RICH_OPTIONS]
            sex_args = [*common, "-CATALOG_NAME", "sextractor_rich.cat"]
            canfar_args = [*common, "-CATALOG_NAME", "canfar_rich.cat"]
        else:
            raise SystemExit(f"unknown case {name!r} (default, rich)")
        canfar_args = [*canfar_args, "-q"] + (["--workers", str(workers)] if workers else [])
        cases.append(Case(name, f"{name}.param", sex_args, canfar_args))
    return cases


def run_baseline(case: Case, image: Path, scratch: Path, stem: str) -> None:
    fz = scratch / f"{stem}.fits.fz"
    shutil.copy(image, fz)
    (scratch / f"{stem}.fits").unlink(missing_ok=True)
    f = run_measured(["funpack", "-D", fz.name], scratch)
    s = run_measured(
        ["source-extractor", f"{stem}.fits", *case.sex_args, "-VERBOSE_TYPE", "QUIET"], scratch
    )
    case.funpack.append(f)
    case.sextractor.append(s)
    case.baseline.append(
        Measure(
            f.wall + s.wall,
            max(f.maxrss_mib, s.maxrss_mib),
            max(f.tree_mib, s.tree_mib),
            f.cpu + s.cpu,
        )
    )


def run_canfar(case: Case, image: Path, scratch: Path, stem: str) -> None:
    fz = scratch / f"{stem}.fits.fz"
    shutil.copy(image, fz)
    cmd = [sys.executable, "-m", "canfar_tui.cli.detect", fz.name, *case.canfar_args]
    case.canfar.append(run_measured(cmd, scratch))


def summary(ms: list[Measure]) -> tuple[float, float, float, float, float]:
    walls = [m.wall for m in ms]
    return (
        min(walls),
        statistics.median(walls),
        max(m.maxrss_mib for m in ms),
        max(m.tree_mib for m in ms),
        statistics.median(m.cpu for m in ms),
    )


def report(case: Case, scratch: Path) -> None:
    rows = [
        ("funpack -D", summary(case.funpack)),
        ("source-extractor", summary(case.sextractor)),
        ("funpack + source-extractor", summary(case.baseline)),
        ("canfar-tui detect", summary(case.canfar)),
    ]
    print(f"\ncase {case.name!r} ({case.param_file}):")
    print(f"{'':28} {'wall min':>9} {'median':>8} {'CPU':>8} {'max RSS':>9} {'tree RSS':>9}")
    for name, (wmin, wmed, rss, tree, cpu) in rows:
        print(f"{name:28} {wmin:8.2f}s {wmed:7.2f}s {cpu:7.2f}s {rss:7.0f}Mi {tree:7.0f}Mi")
    ratios = [c.wall / b.wall for c, b in zip(case.canfar, case.baseline, strict=True)]
    cpu_ratios = [c.cpu / b.cpu for c, b in zip(case.canfar, case.baseline, strict=True)]
    ratio_med = statistics.median(ratios)
    print(
        f"ratio canfar-tui / (funpack + source-extractor), per repeat: "
        f"{' '.join(f'{r:.2f}' for r in ratios)}; median {ratio_med:.2f}, "
        f"min {min(ratios):.2f}; target <= 0.50 -> {'met' if ratio_med <= 0.5 else 'NOT met'}"
    )
    print(f"CPU-time ratio (median): {statistics.median(cpu_ratios):.2f}")
    tree = rows[3][1][3]
    print(
        f"peak RSS, whole process tree: canfar-tui {tree:.0f} MiB (target <= 1024 MiB -> "
        f"{'met' if tree <= 1024 else 'NOT met'}), funpack + source-extractor "
        f"{rows[2][1][3]:.0f} MiB"
    )
    print(
        "parity: "
        + parity(scratch / f"canfar_{case.name}.cat", scratch / f"sextractor_{case.name}.cat")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ccds", type=int, default=36)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=4612)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--density",
        type=float,
        default=1.0,
        help="scale the number of stars, galaxies and cosmic rays (default 1: MegaCam-like)",
    )
    parser.add_argument(
        "--dense",
        action="store_true",
        help="the issue's dense field: --ccds 12 --density 2.5 (~2 500 detections per CCD)",
    )
    parser.add_argument(
        "--cases",
        default="default",
        help="comma-separated parameter files to run: default (the seed's 11 columns), "
        "rich (RICH_COLUMNS) (default: default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="interleaved runs of each (default 1)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="canfar-tui workers (default: all CPUs)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/canfar-tui-bench"))
    parser.add_argument("--profile", action="store_true", help="also print the per-CCD time split")
    args = parser.parse_args()
    if args.dense:
        args.ccds, args.density = 12, 2.5

    for tool in ("funpack", "source-extractor"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run scripts/install_detection_tools.sh")
    args.workdir.mkdir(parents=True, exist_ok=True)
    image = ensure_image(args.workdir, args.ccds, args.width, args.height, args.seed, args.density)
    scratch = args.workdir / "run"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for name in ("default.sex", "default.conv", "default.nnw"):
        shutil.copy(SHARE / name, scratch / name)
    stem = "image"
    cases = make_cases(
        [c.strip() for c in args.cases.split(",") if c.strip()], scratch, args.workers
    )

    for r in range(args.repeat):
        for case in cases:
            order = (run_baseline, run_canfar) if r % 2 == 0 else (run_canfar, run_baseline)
            for step in order:
                label = "funpack + source-extractor" if step is run_baseline else "canfar-tui"
                load = os.getloadavg()[0]
                print(
                    f"run {r + 1}/{args.repeat}, {case.name}: {label} (load {load:.1f}) ...",
                    flush=True,
                )
                step(case, image, scratch, stem)

    print(
        f"\nimage: {image.name} ({args.ccds} CCDs of {args.width} x {args.height}, "
        f"{image.stat().st_size / 2**20:.0f} MiB), {os.cpu_count()} CPUs, repeat {args.repeat}"
    )
    for case in cases:
        report(case, scratch)
    if args.profile:
        profile(image, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
