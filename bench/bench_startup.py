"""Cold start to the first painted dashboard, against a bare Textual app in the same run.

Each sample is a fresh interpreter (so imports are cold in the Python sense; the OS file cache
is warm after the first sample, as it is for a user who starts the tool twice). The child runs
the app headless at 80×24, prints the wall-clock time of its first paint and exits; the
parent measures from the moment it spawned the interpreter (interpreter start and imports
included, shutting down not). Two moments are reported for
canfar-tui: the shell painted, and the first tab's rows painted from the sandbox.

    .venv/bin/python bench/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PEER = """
from textual.app import App
from textual.widgets import DataTable, Footer, Header

import time

class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self.painted)
    def painted(self):
        print(time.time())
        self.exit()

Bare().run(headless=True, size=(80, 24))
"""

CANFAR = """
import sys
import time
from canfar_tui.app import create_app
from canfar_tui.config import load_settings

wait_for_rows = sys.argv[1] == "rows"
app = create_app(load_settings())

def check():
    view = app.active_view
    if not wait_for_rows or getattr(view, "state", "") in ("ready", "empty", "error"):
        app.call_after_refresh(painted)
    else:
        app.set_timer(0.005, check)

def painted():
    print(time.time())
    app.exit()

app.call_after_refresh(check)
app.run(headless=True, size=(80, 24))
"""


def sample(code: str, *args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, *args], check=True, env=env, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/c",
            "XDG_DATA_HOME": f"{home}/d",
            "XDG_STATE_HOME": f"{home}/s",
        }
        sample(CANFAR, "rows", env=env)  # warm the file cache and create the sandbox state
        results: dict[str, list[float]] = {
            "bare Textual app": [],
            "canfar-tui shell": [],
            "canfar-tui with rows": [],
        }
        for _ in range(options.runs):
            results["bare Textual app"].append(sample(PEER, env=env))
            results["canfar-tui shell"].append(sample(CANFAR, "shell", env=env))
            results["canfar-tui with rows"].append(sample(CANFAR, "rows", env=env))
    peer = statistics.median(results["bare Textual app"])
    print(f"cold start to first paint, headless 80x24, median of {options.runs} runs")
    print(f"{'what':<24}{'median s':>10}{'min s':>8}{'vs bare':>9}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:<24}{median:>10.3f}{min(values):>8.3f}{median / peer:>8.2f}x")
    shell = statistics.median(results["canfar-tui shell"])
    print(f"target: first paint <= 0.8 s -> {'met' if shell <= 0.8 else 'NOT met'} ({shell:.3f} s)")


if __name__ == "__main__":
    main()
