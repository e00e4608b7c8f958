"""Cold start to the first painted dashboard, against a bare Textual app in the same run.

Each sample is a fresh interpreter (so imports are cold in the Python sense; the OS file cache
is warm after the first sample, as it is for a user who starts the tool twice). The child runs
the app headless at 80×24, prints the wall-clock time of its first paint and exits; the
parent measures from the moment it spawned the interpreter (interpreter start and imports
included, shutting down not). Two moments are reported for
canfar-tui: the shell painted, and the first tab's rows painted from the sandbox.

Both apps load their modules' compiled bytecode from one cache written by a first, unmeasured
run of each (``PYTHONPYCACHEPREFIX`` in the bench's temporary folder; ``PYTHONDONTWRITEBYTECODE``
is dropped for the children), as an installed tool does after its first start: otherwise an
editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` recompiles canfar-tui's sources on
every start while Textual's installed bytecode is reused, which measures the compiler, not
the start.

Each line also gives the child's CPU time up to its paint (``process_time``, every thread)
and its ratio: on a machine shared with other work the wall-clock ratio swings with the load,
the CPU one much less.

Target (issue 15): canfar-tui's first tab with its rows painted within 1.5× the bare app.

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

#: canfar-tui's first tab with its rows, against the bare app's first paint (issue 15).
TARGET_RATIO = 1.5

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
        print(time.time(), time.process_time())
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
    print(time.time(), time.process_time())
    app.exit()

app.call_after_refresh(check)
app.run(headless=True, size=(80, 24))
"""


def sample(code: str, *args: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning the interpreter to the first paint the child printed, and the
    CPU seconds the child had used by then (all its threads).

    The child prints the wall-clock time (``time.time()``) and its ``process_time()`` when it
    painted; what it does after (exiting, closing its clients) is not part of the start.
    """
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    painted, cpu = (float(value) for value in done.stdout.split()[-2:])
    return painted - started, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/c",
            "XDG_DATA_HOME": f"{home}/d",
            "XDG_STATE_HOME": f"{home}/s",
            "PYTHONPYCACHEPREFIX": f"{home}/pycache",
        }
        # Warm the file cache and the bytecode cache of both, and create the sandbox state.
        sample(PEER, env=env)
        sample(CANFAR, "rows", env=env)
        names = ("bare Textual app", "canfar-tui shell", "canfar-tui with rows")
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(options.runs):
            runs = ((PEER,), (CANFAR, "shell"), (CANFAR, "rows"))
            for name, arguments in zip(names, runs, strict=True):
                seconds, cpu_seconds = sample(*arguments, env=env)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    peer = statistics.median(wall[names[0]])
    peer_cpu = statistics.median(cpu[names[0]])
    print(f"cold start to first paint, headless 80x24, median of {options.runs} runs")
    print(f"{'what':<24}{'median s':>10}{'min s':>8}{'vs bare':>9}{'CPU s':>8}{'vs bare':>9}")
    for name in names:
        median = statistics.median(wall[name])
        cpu_median = statistics.median(cpu[name])
        print(
            f"{name:<24}{median:>10.3f}{min(wall[name]):>8.3f}{median / peer:>8.2f}x"
            f"{cpu_median:>8.3f}{cpu_median / peer_cpu:>8.2f}x"
        )
    rows = statistics.median(wall[names[2]]) / peer
    verdict = "met" if rows <= TARGET_RATIO else "NOT met"
    print(
        f"target: first tab with rows <= {TARGET_RATIO:g}x the bare app -> {verdict} ({rows:.2f}x)"
    )
    print(
        "(CPU s: the child's CPU time up to the paint; on a busy machine its ratio is steadier "
        "than the wall-clock one)"
    )


if __name__ == "__main__":
    main()
