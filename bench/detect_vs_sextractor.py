"""canfar-tui detect vs funpack -D + source-extractor on the same synthetic MegaCam image.

Usage (from the repository root)::

    .venv/bin/python bench/detect_vs_sextractor.py              # 36 CCDs of 2048 × 4612
    .venv/bin/python bench/detect_vs_sextractor.py --ccds 4     # quick
    .venv/bin/python bench/detect_vs_sextractor.py --repeat 3 --profile

In one run, on the same Rice-compressed synthetic image (generated once and cached in
``--workdir``, by default ``/tmp/canfar-tui-bench``):

* **baseline**: ``funpack -D image.fits.fz`` then ``source-extractor image.fits`` with the
  Debian ``default.sex`` / ``default.conv`` and a ``default.param`` holding NUMBER EXT_NUMBER
  MAG_AUTO MAGERR_AUTO FLUX_AUTO X_IMAGE Y_IMAGE A_IMAGE B_IMAGE THETA_IMAGE FLAGS (the
  seed's workflow, with the issue's columns);
* **canfar-tui**: ``python -m canfar_tui.cli.detect image.fits.fz -o image.cat
  --params default.param`` (what ``canfar-tui detect`` runs), on the ``.fz`` directly.

Each command runs in a fresh process; wall time is measured around it, and peak RSS both as
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest single process, via a wrapper) and
as the peak of the summed RSS of the whole process tree (sampled every 20 ms with psutil,
which matters for the worker processes). Repeats alternate baseline and canfar-tui; the
minimum and median are reported. ``--profile`` also runs the detection in-process and prints
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
from dataclasses import dataclass
from pathlib import Path

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
            while proc.poll() is None:
                total = 0
                with contextlib.suppress(psutil.Error):
                    for p in root.children(recursive=True):
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
    names = [line.split()[2] for line in path.read_text().splitlines() if line.startswith("#")]
    return np.genfromtxt(path, names=names, comments="#", ndmin=1)


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
    keys = ["read", "background", "subtract", "extract", "photometry", "total"]
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
        "--repeat", type=int, default=1, help="alternating runs of each (default 1)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="canfar-tui workers (default: all CPUs)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/canfar-tui-bench"))
    parser.add_argument("--profile", action="store_true", help="also print the per-CCD time split")
    args = parser.parse_args()

    for tool in ("funpack", "source-extractor"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: run scripts/install_detection_tools.sh")
    args.workdir.mkdir(parents=True, exist_ok=True)
    image = ensure_image(args.workdir, args.ccds, args.width, args.height, args.seed, args.density)
    scratch = args.workdir / "run"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for name in ("default.sex", "default.conv"):
        shutil.copy(SHARE / name, scratch / name)
    (scratch / "default.param").write_text("\n".join(COLUMNS) + "\n")
    stem = "image"
    fz = scratch / f"{stem}.fits.fz"

    results: dict[str, list[Measure]] = {"funpack": [], "source-extractor": [], "canfar-tui": []}
    for r in range(args.repeat):
        load = os.getloadavg()[0]
        print(f"run {r + 1}/{args.repeat}: funpack + source-extractor (load {load:.1f}) ...")
        shutil.copy(image, fz)
        (scratch / f"{stem}.fits").unlink(missing_ok=True)
        results["funpack"].append(run_measured(["funpack", "-D", fz.name], scratch))
        results["source-extractor"].append(
            run_measured(
                [
                    "source-extractor",
                    f"{stem}.fits",
                    "-c",
                    "default.sex",
                    "-CATALOG_NAME",
                    "sextractor.cat",
                    "-VERBOSE_TYPE",
                    "QUIET",
                ],
                scratch,
            )
        )
        load = os.getloadavg()[0]
        print(f"run {r + 1}/{args.repeat}: canfar-tui detect (load {load:.1f}) ...", flush=True)
        shutil.copy(image, fz)
        cmd = [
            sys.executable,
            "-m",
            "canfar_tui.cli.detect",
            fz.name,
            "-o",
            "canfar.cat",
            "--params",
            "default.param",
            "-q",
        ]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        results["canfar-tui"].append(run_measured(cmd, scratch))

    def summary(ms: list[Measure]) -> tuple[float, float, float, float, float]:
        walls = [m.wall for m in ms]
        return (
            min(walls),
            statistics.median(walls),
            max(m.maxrss_mib for m in ms),
            max(m.tree_mib for m in ms),
            min(m.cpu for m in ms),
        )

    base = [
        Measure(
            f.wall + s.wall,
            max(f.maxrss_mib, s.maxrss_mib),
            max(f.tree_mib, s.tree_mib),
            f.cpu + s.cpu,
        )
        for f, s in zip(results["funpack"], results["source-extractor"], strict=True)
    ]
    rows = [
        ("funpack -D", summary(results["funpack"])),
        ("source-extractor", summary(results["source-extractor"])),
        ("funpack + source-extractor", summary(base)),
        ("canfar-tui detect", summary(results["canfar-tui"])),
    ]
    print(
        f"\nimage: {image.name} ({args.ccds} CCDs of {args.width} x {args.height}, "
        f"{image.stat().st_size / 2**20:.0f} MiB), {os.cpu_count()} CPUs, repeat {args.repeat}"
    )
    print(f"{'':28} {'wall min':>9} {'median':>8} {'CPU':>8} {'max RSS':>9} {'tree RSS':>9}")
    for name, (wmin, wmed, rss, tree, cpu) in rows:
        print(f"{name:28} {wmin:8.2f}s {wmed:7.2f}s {cpu:7.2f}s {rss:7.0f}Mi {tree:7.0f}Mi")
    ratio_min = rows[3][1][0] / rows[2][1][0]
    ratio_med = rows[3][1][1] / rows[2][1][1]
    tree = rows[3][1][3]
    print(
        f"\nratio canfar-tui / (funpack + source-extractor): {ratio_min:.2f} (min), "
        f"{ratio_med:.2f} (median); target <= 0.50 -> {'met' if ratio_med <= 0.5 else 'NOT met'}"
    )
    print(
        f"canfar-tui peak RSS, whole process tree: {tree:.0f} MiB; target <= 1024 MiB -> "
        f"{'met' if tree <= 1024 else 'NOT met'}"
    )
    print("parity: " + parity(scratch / "canfar.cat", scratch / "sextractor.cat"))
    if args.profile:
        profile(image, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
