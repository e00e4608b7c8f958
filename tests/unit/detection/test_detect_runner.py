"""The parallel runner: event stream, bad extensions, cancellation, inline == processes."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from detect_support import SyntheticImage

from canfar_tui.detection import (
    DetectionError,
    DetectionParams,
    DetectionRunner,
    ExtensionFailed,
    ExtensionFinished,
    ExtensionStarted,
    ImageCancelled,
    ImageFailed,
    ImageFinished,
    ImageOpened,
    detect_image,
    run_detection,
)
from canfar_tui.detection.synthetic import make_ccd


def test_event_stream_and_result(small_fz: SyntheticImage) -> None:
    events = list(run_detection(small_fz.path, DetectionParams(), workers=2))
    assert isinstance(events[0], ImageOpened)
    assert len(events[0].extensions) == 4
    assert isinstance(events[-1], ImageFinished)
    started = [e for e in events if isinstance(e, ExtensionStarted)]
    finished = [e for e in events if isinstance(e, ExtensionFinished)]
    assert sorted(e.extension.ext_number for e in started) == [1, 2, 3, 4]
    assert sorted(e.done for e in finished) == [1, 2, 3, 4]
    assert all(e.total == 4 for e in finished)
    for ev in finished:  # every extension starts before it finishes
        assert events.index(ev) > next(
            i
            for i, s in enumerate(events)
            if isinstance(s, ExtensionStarted) and s.extension == ev.extension
        )
    result = events[-1].result
    assert result.n_sources == sum(e.n_sources for e in finished) > 50
    assert result.counts() == {e.extension.ext_number: e.n_sources for e in finished}
    ext_numbers = result.catalogue["EXT_NUMBER"]
    assert (np.diff(ext_numbers) >= 0).all()
    for ext in (1, 2, 3, 4):
        numbers = result.catalogue["NUMBER"][ext_numbers == ext]
        np.testing.assert_array_equal(numbers, np.arange(1, len(numbers) + 1))


def test_inline_and_processes_agree(small_fz: SyntheticImage) -> None:
    inline = detect_image(small_fz.path, workers=1)
    with DetectionRunner(2, start_method="forkserver") as runner:
        events = list(runner.run(small_fz.path))
    pooled = events[-1]
    assert isinstance(pooled, ImageFinished)
    np.testing.assert_array_equal(inline.catalogue, pooled.result.catalogue)


def test_runner_is_reusable_and_bad_images_are_events(
    small_fz: SyntheticImage, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    with DetectionRunner(2) as runner:
        first = list(runner.run(small_fz.path))[-1]
        failed = list(runner.run(bad))
        second = list(runner.run(small_fz.path))[-1]
    assert isinstance(first, ImageFinished) and isinstance(second, ImageFinished)
    assert failed == [
        ImageFailed(str(bad), "bad.fits: not a FITS file (it does not start with a SIMPLE card)")
    ]
    np.testing.assert_array_equal(first.result.catalogue, second.result.catalogue)
    with pytest.raises(DetectionError, match="not a FITS file"):
        detect_image(bad)


@pytest.fixture(scope="module")
def mef_with_bad_ccds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from canfar_tui.detection.synthetic import SyntheticConfig

    config = SyntheticConfig(n_ccds=2, width=256, height=256, seed=3).for_area()
    good0, h0, _ = make_ccd(config, 0)
    good1, h1, _ = make_ccd(config, 1)
    nan = np.full((256, 256), np.nan, np.float32)
    path = tmp_path_factory.mktemp("bad") / "mixed.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=[1.0])])
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(good0, header=fits.Header(h0)),
            fits.ImageHDU(nan, name="deadccd"),
            table,
            fits.ImageHDU(np.zeros((256, 256), np.int16), name="zeros"),
            fits.CompImageHDU(good1, header=fits.Header(h1)),
        ]
    ).writeto(path)
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_extensions_are_reported_and_skipped(mef_with_bad_ccds: Path, workers: int) -> None:
    events = list(run_detection(mef_with_bad_ccds, workers=workers))
    opened = events[0]
    assert isinstance(opened, ImageOpened)
    assert [e.ext_number for e in opened.extensions] == [1, 2, 3, 4]
    assert opened.skipped == ("HDU 3 (HDU3): binary table, not an image",)
    failures = {e.extension.ext_number: e.message for e in events if isinstance(e, ExtensionFailed)}
    assert set(failures) == {2, 3}
    assert "DEADCCD (ext 2): every pixel is NaN" in failures[2]
    assert "constant image" in failures[3]
    final = events[-1]
    assert isinstance(final, ImageFinished)
    result = final.result
    assert set(np.unique(result.catalogue["EXT_NUMBER"])) == {1, 4}
    assert [e.ok for e in result.extensions] == [True, False, False, True]
    assert len(result.failed) == 2


def test_all_extensions_bad_is_an_image_failure(tmp_path: Path) -> None:
    path = tmp_path / "nan.fits"
    fits.PrimaryHDU(np.full((32, 32), np.nan, np.float32)).writeto(path)
    final = list(run_detection(path, workers=1))[-1]
    assert isinstance(final, ImageFailed)
    assert (
        final.message
        == "nan.fits: no extension could be processed: HDU0 (ext 1): every pixel is NaN (blank CCD)"
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_cancellation(small_fz: SyntheticImage, workers: int) -> None:
    cancel = threading.Event()
    seen = []
    for event in run_detection(small_fz.path, workers=workers, cancel_event=cancel):
        seen.append(event)
        if isinstance(event, ExtensionFinished):
            cancel.set()
    assert isinstance(seen[-1], ImageCancelled)
    assert not any(isinstance(e, ImageFinished) for e in seen)
    assert sum(isinstance(e, ExtensionFinished) for e in seen) < 4


def test_cancelled_before_start(small_fz: SyntheticImage) -> None:
    cancel = threading.Event()
    cancel.set()
    events = list(run_detection(small_fz.path, workers=2, cancel_event=cancel))
    assert [type(e) for e in events] == [ImageOpened, ImageCancelled]


def test_processes_start_under_a_replaced_stderr(
    small_fz: SyntheticImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual replaces sys.stderr with an object without a file descriptor."""
    import io

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with DetectionRunner(2, start_method="forkserver") as runner:
        runner.start()
        final = list(runner.run(small_fz.path))[-1]
    assert isinstance(final, ImageFinished)


def test_started_events_never_exceed_the_workers(small_fz: SyntheticImage) -> None:
    """Extensions queued ahead of the workers are announced only when a worker frees up."""
    events = list(run_detection(small_fz.path, DetectionParams(), workers=2))
    in_progress: set[int] = set()
    most = 0
    for event in events:
        if isinstance(event, ExtensionStarted):
            assert event.extension.ext_number not in in_progress
            in_progress.add(event.extension.ext_number)
            most = max(most, len(in_progress))
        elif isinstance(event, ExtensionFinished):
            in_progress.remove(event.extension.ext_number)
    assert most == 2
    assert not in_progress
    assert isinstance(events[-1], ImageFinished)


def test_start_forks_every_worker_at_once(small_fz: SyntheticImage) -> None:
    import multiprocessing

    before = {p.pid for p in multiprocessing.active_children()}
    with DetectionRunner(2, start_method="fork") as runner:
        runner.start()  # does not wait for the workers to answer, but they exist
        started = [p for p in multiprocessing.active_children() if p.pid not in before]
        assert len(started) == 2
        assert all(p.is_alive() for p in started)
        final = list(runner.run(small_fz.path))[-1]
    assert isinstance(final, ImageFinished)
    assert not any(p.is_alive() for p in started)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and prctl")
def test_worker_set_up_reaches_libc() -> None:
    """A worker keeps freed memory (mallopt) and dies with its owner (PR_SET_PDEATHSIG)."""
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import ctypes, os, signal
        from canfar_tui.detection import runner

        assert runner.tune_malloc() is True
        runner._die_with_owner(os.getppid(), death_signal=True)
        value = ctypes.c_int(0)
        pr_get_pdeathsig = 2
        assert runner._libc().prctl(pr_get_pdeathsig, ctypes.byref(value), 0, 0, 0) == 0
        print(value.value == signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "True"), proc.stderr
