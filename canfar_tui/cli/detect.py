"""``canfar-tui detect``: SExtractor-compatible catalogues from FITS / ``.fits.fz`` images.

Usage::

    canfar-tui detect IMAGE [IMAGE ...] [-o CATALOG | --outdir DIR]
                      [--format ascii_head|fits|ecsv] [-c default.sex]
                      [--params default.param] [--workers N] [--set KEY=VALUE ...]
                      [--strict] [-q | -v] [-KEY VALUE ...]

Replaces ``funpack -D x.fits.fz && source-extractor x.fits -CATALOG_NAME x.cat``:
``canfar-tui detect x.fits.fz`` writes ``x.cat`` (SExtractor ASCII_HEAD) in the current
directory (or ``--outdir``); with one image ``-o`` names the catalogue. ``-c`` reads a
SExtractor configuration (its ``PARAMETERS_NAME`` file gives the columns unless
``--params`` does, its ``CATALOG_TYPE`` the format unless ``--format`` does); ``--set``
overrides single keys (``--set DETECT_THRESH=3``).

source-extractor's own command line works too (a job script can swap the program name):
``canfar-tui detect x.fits -c my.sex -CATALOG_NAME x.cat -PARAMETERS_NAME my.param
-DETECT_THRESH 3`` — any ``-KEY VALUE`` of ``default.sex`` replaces the ``.sex`` file's value
(:mod:`canfar_tui.detection.sexconfig`); ``-CATALOG_NAME`` is ``-o``, ``-CATALOG_TYPE`` is
``--format`` with SExtractor's names (ASCII_HEAD, ASCII, ASCII_SKYCAT, FITS_1.0, FITS_LDAC),
``-PARAMETERS_NAME`` is ``--params``. A key set on the command line to something canfar-tui
cannot do is refused (exit 2, one line naming it).

Where it writes: ``-o CATALOG``, else ``--outdir DIR``, else the current directory, a file
named after the image (``1056213p.fits.fz`` -> ``1056213p.cat``) — replacing a catalogue of
that name, as source-extractor does. A catalogue path that is a symbolic link is written
through to the file it names (source-extractor ``fopen``-s ``CATALOG_NAME`` for writing,
which follows the link); a device, FIFO, socket or folder is refused. The file appears
complete or not at all (written to a temporary file, then renamed).

Like source-extractor's ``> All done`` line, each image ends with one closing line on
stderr: sources, CCDs, time and the catalogue path, with ``(replaced)`` when an earlier
file was replaced. A progress bar is shown on a terminal; ``-q`` keeps only errors
(``-v`` is accepted for compatibility: the closing line is always printed). Exit status: 0
when every image gave a catalogue, 1 when any image failed (one ``error:`` line each, no
traceback, no catalogue left behind), 2 on bad usage (bad option, parameter or config
file), 130 when interrupted. An extension that cannot be processed (all NaN, constant,
not 2-D) is reported as a warning and skipped; ``--strict`` makes it fail the image.

The lead wires :func:`add_detect_arguments` and :func:`run_detect` as the ``detect``
subcommand of ``canfar_tui.cli.main``; ``python -m canfar_tui.cli.detect`` runs the same.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from canfar_tui.detection.catalogue import (
    OutputError,
    catalogue_exists,
    catalogue_path_for,
    write_catalogue,
)
from canfar_tui.detection.events import (
    ExtensionFailed,
    ExtensionFinished,
    ImageCancelled,
    ImageFailed,
    ImageFinished,
    ImageOpened,
)
from canfar_tui.detection.params import (
    CATALOGUE_FORMATS,
    SETTABLE_KEYS,
    CatalogueFormat,
    DetectionParams,
    ParamError,
    find_param_file,
    read_param_file,
    sex_catalogue_format,
    sex_parameters_name,
)
from canfar_tui.detection.sexconfig import SEX_KEYS, apply_command_line, catalogue_format
from canfar_tui.detection.writers import ASCII_SEPARATORS

__all__ = ["add_detect_arguments", "exit_now", "main", "run_detect"]

PROG = "canfar-tui detect"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command line or configuration: exit status 2."""


class _DiskFull(Exception):
    """A catalogue write found the disk full: reported once, the other images are not run."""


def add_detect_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``detect`` options to ``parser`` (a subparser of ``canfar-tui``)."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="FITS or .fits.fz image(s)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "-o",
        "--output",
        metavar="CATALOG",
        help="catalogue path (only with a single IMAGE); an existing file is replaced, a "
        "symlink is written through to its file (as source-extractor's CATALOG_NAME), a "
        "device, FIFO or folder is refused",
    )
    out.add_argument(
        "--outdir",
        metavar="DIR",
        help="directory for the catalogues, named after each image (default: current directory)",
    )
    parser.add_argument(
        "--format",
        choices=CATALOGUE_FORMATS,
        default=None,
        help="catalogue format (default: CATALOG_TYPE of -c, else ascii_head)",
    )
    parser.add_argument("-c", "--config", metavar="SEX", help="SExtractor configuration file")
    parser.add_argument(
        "--params",
        metavar="PARAM",
        help="SExtractor parameter file: the output columns "
        "(default: PARAMETERS_NAME of -c, else NUMBER EXT_NUMBER MAG_AUTO ... FLAGS)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="extensions processed in parallel, 1 to 1024 (default and most: the CPUs, "
        "at most one per extension)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"set a SExtractor parameter ({', '.join(SETTABLE_KEYS)})",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail an image when any of its extensions fails (default: skip it, warn)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="accepted for compatibility: the closing line of each image is always printed "
        "(-q hides it)",
    )
    sex = parser.add_argument_group(
        "source-extractor options",
        "-KEY VALUE for any key of default.sex (-CATALOG_NAME x.cat -DETECT_THRESH 3 ...), "
        "applied after -c",
    )
    for key in SEX_KEYS:
        sex.add_argument(f"-{key}", dest=f"sex_{key}", metavar="VALUE", help=argparse.SUPPRESS)


def _sex_values(args: argparse.Namespace) -> dict[str, str]:
    """The ``-KEY VALUE`` pairs given on the command line."""
    values: dict[str, str] = {}
    for key in SEX_KEYS:
        value = getattr(args, f"sex_{key}", None)
        if value is not None:
            values[key] = str(value)
    return values


# ----------------------------------------------------------------------------- setup


def _format(value: object) -> CatalogueFormat:
    for fmt in CATALOGUE_FORMATS:
        if value == fmt:
            return fmt
    raise UsageError(f"unknown catalogue format {value!r} ({', '.join(CATALOGUE_FORMATS)})")


def _build_params(args: argparse.Namespace, warn: Any) -> tuple[DetectionParams, CatalogueFormat]:
    config = getattr(args, "config", None)
    params = DetectionParams()
    fmt = getattr(args, "format", None)
    sex_values = _sex_values(args)
    if "CATALOG_TYPE" in sex_values:
        if fmt is not None:
            raise UsageError("give either --format or -CATALOG_TYPE, not both")
        fmt = catalogue_format(sex_values["CATALOG_TYPE"])
    param_file = getattr(args, "params", None)
    if "PARAMETERS_NAME" in sex_values:
        if param_file:
            raise UsageError("give either --params or -PARAMETERS_NAME, not both")
        param_file = sex_values["PARAMETERS_NAME"]
    if config:
        params = DetectionParams.from_sex_file(config)
        for note in params.warnings:
            warn(f"{config}: {note}")
        if fmt is None:
            fmt = sex_catalogue_format(config)
    if sex_values:
        params = apply_command_line(params, sex_values)
    if param_file:
        params = params.with_columns(read_param_file(param_file))
    elif config:
        name = sex_parameters_name(config)
        if name:
            params = params.with_columns(read_param_file(find_param_file(name, config)))
    overrides: dict[str, str] = {}
    for item in getattr(args, "overrides", []) or []:
        key, sep_, value = item.partition("=")
        if not sep_ or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    if overrides:
        params = params.with_overrides(overrides)
    return params, _format(fmt or "ascii_head")


def _outputs(args: argparse.Namespace, fmt: str) -> list[tuple[str, Path]]:
    images: list[str] = list(args.images)
    output = getattr(args, "output", None)
    if output is not None and not output.strip():
        raise UsageError("-o/--output: empty catalogue name (give a file name)")
    catalog_name = getattr(args, "sex_CATALOG_NAME", None)
    if catalog_name is not None:
        if output or getattr(args, "outdir", None):
            raise UsageError("give either -o/--outdir or -CATALOG_NAME, not both")
        if not catalog_name.strip():
            raise UsageError("-CATALOG_NAME: empty catalogue name (give a file name)")
        output = catalog_name
    if output:
        if len(images) != 1:
            raise UsageError("-o/--output needs exactly one IMAGE (use --outdir for several)")
        pairs = [(images[0], Path(output))]
    else:
        outdir = Path(getattr(args, "outdir", None) or ".")
        if not outdir.is_dir():
            raise UsageError(f"--outdir {outdir}: not a directory")
        pairs = [(image, catalogue_path_for(image, outdir, fmt)) for image in images]
    seen: dict[Path, str] = {}
    for image, cat in pairs:
        _check_target(cat)
        key = cat.resolve()
        if key == Path(image).resolve():
            raise UsageError(f"{cat}: the catalogue would overwrite its own image")
        if key in seen:
            raise UsageError(
                f"{seen[key]} and {image} would both write {cat} (use separate runs or -o)"
            )
        seen[key] = image
    return pairs


def _check_target(catalogue: Path) -> None:
    """Refuse, before any work, a catalogue path that is a device, FIFO, socket or folder."""
    from canfar_tui.clients.files import UnsafeTarget, writable_target

    if catalogue.is_dir():
        raise UsageError(f"{catalogue}: is a directory (give a file name, or use --outdir)")
    try:
        writable_target(catalogue)
    except UnsafeTarget as exc:
        raise UsageError(str(exc.strerror or exc)) from None


# ----------------------------------------------------------------------------- output


class _Reporter:
    """Messages on stderr; a rich progress bar when stderr is a terminal."""

    def __init__(self, stream: TextIO, quiet: bool, verbose: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.interactive = stream.isatty() and not quiet
        self.summaries = not quiet  # the closing line, as source-extractor's "All done"
        self.progress: Any = None
        self.console: Any = None

    def start(self) -> None:
        if not self.interactive:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=self.stream)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[sources]} sources"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.stream, flush=True)

    def warn(self, text: str) -> None:
        if not self.quiet:
            self.line(f"{PROG}: warning: {text}")

    def error(self, text: str) -> None:
        self.line(f"{PROG}: error: {text}")

    def summary(self, text: str) -> None:
        if self.summaries:
            self.line(text)


# ----------------------------------------------------------------------------- running


def run_detect(args: argparse.Namespace) -> int:
    """Run ``canfar-tui detect`` with parsed ``args``; return the exit status."""
    reporter = _Reporter(
        sys.stderr, bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    )
    try:
        requested = _requested_workers(getattr(args, "workers", None))
        params, fmt = _build_params(args, reporter.warn)
        jobs = _outputs(args, fmt)
    except (UsageError, ParamError) as exc:
        reporter.error(str(exc))
        return EXIT_USAGE
    workers = _useful_workers(requested, [image for image, _ in jobs])

    from canfar_tui.detection.runner import DetectionRunner, tune_malloc

    if workers == 1:
        # The CCDs are measured in this process (no pool): let it reuse their memory from
        # one CCD to the next, as a worker does (a one-core batch job: ~60 % fewer page
        # faults on a dense image). The process ends after the run.
        tune_malloc()
    failures = 0
    cancel = threading.Event()
    runner = DetectionRunner(workers)
    try:
        runner.start()  # fork the workers before the progress bar starts its thread
        reporter.start()
        for index, (image, catalogue_path) in enumerate(jobs):
            try:
                ok = _run_one(runner, image, catalogue_path, params, fmt, args, reporter, cancel)
            except _DiskFull:
                left = len(jobs) - index - 1
                if left:
                    reporter.error(f"stopped: the disk is full ({left} image(s) not processed)")
                failures += 1 + left
                break
            failures += 0 if ok else 1
    except KeyboardInterrupt:
        cancel.set()
        reporter.stop()
        reporter.error("interrupted; no catalogue written for the image in progress")
        return EXIT_INTERRUPTED
    finally:
        reporter.stop()
        runner.close()
    return EXIT_FAILED if failures else EXIT_OK


def _requested_workers(value: object) -> int | None:
    from canfar_tui.detection.runner import MAX_WORKERS

    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"--workers must be a whole number, got {value!r}")
    if value < 1:
        raise UsageError(f"--workers must be at least 1, got {value}")
    if value > MAX_WORKERS:
        raise UsageError(f"--workers must be at most {MAX_WORKERS}, got {value}")
    return value


def _useful_workers(requested: int | None, images: Sequence[str]) -> int:
    """``requested`` (default: the CPUs), capped at the CPUs and at the most extensions
    any image has: more processes would only wait (headers are read, not pixels)."""
    from canfar_tui.detection.errors import DetectionError
    from canfar_tui.detection.reader import scan_image
    from canfar_tui.detection.runner import default_workers

    cap = min(requested or default_workers(), default_workers())
    most = 0
    for image in images:
        if most >= cap:
            break
        try:
            extensions, _ = scan_image(image)
        except (DetectionError, OSError, ValueError):
            continue  # reported when the image is run
        most = max(most, len(extensions))
    return max(1, min(cap, most))


def _run_one(
    runner: Any,
    image: str,
    catalogue_path: Path,
    params: DetectionParams,
    fmt: CatalogueFormat,
    args: argparse.Namespace,
    reporter: _Reporter,
    cancel: threading.Event,
) -> bool:
    name = os.path.basename(image)
    task = None
    strict = bool(getattr(args, "strict", False))
    ext_failures: list[str] = []
    total_sources = 0
    t0 = time.perf_counter()
    # The workers format the rows of a text catalogue while the other CCDs still run.
    separator = ASCII_SEPARATORS.get(fmt)
    for event in runner.run(image, params, cancel, ascii_separator=separator):
        if isinstance(event, ImageOpened):
            for note in event.skipped:
                reporter.warn(f"{name}: {note} (skipped)")
            if reporter.progress is not None:
                task = reporter.progress.add_task(name, total=len(event.extensions), sources=0)
        elif isinstance(event, ExtensionFinished):
            total_sources += event.n_sources
            if task is not None:
                reporter.progress.update(task, advance=1, sources=total_sources)
        elif isinstance(event, ExtensionFailed):
            # Reported once the image's outcome is known (an image whose every extension
            # failed gets a single error line).
            ext_failures.append(event.message)
            if task is not None:
                reporter.progress.update(task, advance=1)
        elif isinstance(event, ImageFailed):
            reporter.error(event.message)
            _remove_task(reporter, task)
            return False
        elif isinstance(event, ImageCancelled):
            _remove_task(reporter, task)
            raise KeyboardInterrupt
        elif isinstance(event, ImageFinished):
            _remove_task(reporter, task)
            result = event.result
            for message in ext_failures:
                if strict:
                    reporter.error(f"{name}: {message}")
                else:
                    reporter.warn(f"{name}: {message} (skipped)")
            if strict and ext_failures:
                reporter.error(
                    f"{name}: {len(ext_failures)} extension(s) failed (--strict): "
                    "no catalogue written"
                )
                return False
            replaced = catalogue_exists(catalogue_path)
            try:
                write_catalogue(result, catalogue_path, fmt)
            except OutputError as exc:
                reporter.error(str(exc))
                if exc.disk_full:
                    raise _DiskFull from None
                return False
            n_ext = sum(1 for e in result.extensions if e.ok)
            ccds = "1 CCD" if n_ext == 1 else f"{n_ext} CCDs"
            skipped = f" ({len(ext_failures)} skipped)" if ext_failures else ""
            reporter.summary(
                f"{name}: {result.n_sources} sources in {ccds}{skipped}, "
                f"{time.perf_counter() - t0:.1f} s -> {catalogue_path}"
                + (" (replaced)" if replaced else "")
            )
            return True
    return False  # pragma: no cover - the runner always ends with one of the above


def _remove_task(reporter: _Reporter, task: Any) -> None:
    if task is not None and reporter.progress is not None:
        reporter.progress.remove_task(task)


def exit_now(status: int) -> NoReturn:
    """End the process with ``status`` once ``detect`` has finished, without the teardown.

    By then every catalogue is renamed into place and the worker processes are joined;
    what is left is flushing stdout and stderr. Skipping the interpreter's teardown
    (freeing numpy, sep and the other modules one by one) saves ~0.05 s a run. Log
    handlers are flushed and closed first; atexit handlers do not run.
    Only for the process's own command line: never call it from a library or a test.
    """
    logging.shutdown()  # a log file, if one was set up, gets its last lines
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m canfar_tui.cli.detect``: the same as ``canfar-tui detect``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Detect sources in FITS / .fits.fz images (SExtractor-compatible catalogues).",
    )
    add_detect_arguments(parser)
    args = parser.parse_args(argv)
    return run_detect(args)


if __name__ == "__main__":
    exit_now(main())
