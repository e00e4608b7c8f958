"""The foundation benchmark, in one run: cold start to the first painted dashboard (against a
bare Textual app) and the ResourceTable at 10 000 and 100 000 rows (against Textual's
DataTable). Targets: first paint <= 0.8 s; at 100 000 rows first paint <= 1 s and a 1 %
refresh <= 30 ms of UI time.

    .venv/bin/python bench/foundation.py [--runs 7] [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_startup
import bench_table


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold starts per program")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    options = parser.parse_args()
    print("== (a) cold start")
    bench_startup.main(["--runs", str(options.runs)])
    print("\n== (b) ResourceTable vs DataTable")
    bench_table.main(["--rows", *map(str, options.rows)])


if __name__ == "__main__":
    main()
