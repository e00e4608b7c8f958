"""``canfar-tui detect`` under adversarial input (issue 16 items 2, 4, 5, 6; issue 15 item 10).

What a catalogue path may be (no device, FIFO or folder; a symlink written through as
source-extractor does), workers that die with their parent, ``--workers`` bounds, bounded
reads of the configuration files, one message per problem and the closing line.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from detect_support import SyntheticImage

from canfar_tui.cli import detect as cli
from canfar_tui.detection import runner as runner_module
from canfar_tui.detection.catalogue import OutputError, write_catalogue
from canfar_tui.detection.errors import ExtensionError
from canfar_tui.detection.events import ExtensionFailed
from canfar_tui.detection.runner import DetectionRunner, default_workers


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- -o targets


def _restore_dev_full() -> None:
    """Put the device back if a regression replaced it (the original bug did, as root)."""
    if not stat.S_ISCHR(os.lstat("/dev/full").st_mode) and os.geteuid() == 0:
        os.unlink("/dev/full")
        os.mknod("/dev/full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        os.chmod("/dev/full", 0o666)


@pytest.mark.skipif(
    not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode),
    reason="needs the /dev/full device",
)
def test_dev_full_is_refused_and_stays_a_device(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code, out, err = run([str(small_fz.path), "-o", "/dev/full"], capsys)
    finally:
        _restore_dev_full()
    assert (code, out) == (2, "")
    assert err == (
        "canfar-tui detect: error: /dev/full is not a regular file; refusing to replace it\n"
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not [name for name in os.listdir("/dev") if name.startswith(".full.")]


def test_fifo_and_folder_are_refused(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(workdir / "pipe")
    (workdir / "folder").mkdir()
    code, _, err = run([str(small_fz.path), "-o", "pipe"], capsys)
    assert code == 2
    assert err == "canfar-tui detect: error: pipe is not a regular file; refusing to replace it\n"
    assert stat.S_ISFIFO(os.lstat(workdir / "pipe").st_mode)
    code, _, err = run([str(small_fz.path), "-o", "folder"], capsys)
    assert code == 2 and err.count("\n") == 1 and "folder: is a directory" in err
    assert (workdir / "folder").is_dir() and list((workdir / "folder").iterdir()) == []
    assert leftovers(workdir) == []


@pytest.mark.parametrize("fmt", ["ascii_head", "fits", "ecsv"])
def test_write_catalogue_refuses_a_fifo_at_write_time(
    small_fz: SyntheticImage, workdir: Path, fmt: str
) -> None:
    """A FIFO appearing after the command line was checked is still refused (all formats)."""
    from canfar_tui.detection import detect_image

    result = detect_image(small_fz.path, workers=1)
    os.mkfifo(workdir / "late")
    with pytest.raises(OutputError, match="late is not a regular file"):
        write_catalogue(result, workdir / "late", fmt)  # type: ignore[arg-type]
    assert stat.S_ISFIFO(os.lstat(workdir / "late").st_mode)
    assert leftovers(workdir) == []


def test_symlink_is_written_through_like_source_extractor(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """source-extractor fopen()s CATALOG_NAME for writing: the link's file gets the rows."""
    (workdir / "real.cat").write_text("old\n")
    (workdir / "link.cat").symlink_to("real.cat")
    code, _, err = run([str(small_fz.path), "-o", "link.cat"], capsys)
    assert code == 0
    assert (workdir / "link.cat").is_symlink()
    assert os.readlink(workdir / "link.cat") == "real.cat"
    assert (workdir / "real.cat").read_text().startswith("#   1 NUMBER")
    assert err.rstrip("\n").endswith("-> link.cat (replaced)")
    # A dangling link: source-extractor creates the file it names; so do we.
    (workdir / "dangling.cat").symlink_to("made.cat")
    assert run([str(small_fz.path), "-o", "dangling.cat"], capsys)[0] == 0
    assert (workdir / "made.cat").read_text().startswith("#   1 NUMBER")
    assert leftovers(workdir) == []


def test_empty_output_name_is_refused(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([str(small_fz.path), "-o", ""], capsys)
    assert code == 2
    assert err == "canfar-tui detect: error: -o/--output: empty catalogue name (give a file name)\n"
    assert not (workdir / "small.cat").exists()  # the default name was not written either


# ----------------------------------------------------------------------------- messages


def test_closing_line_says_replaced(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, first = run([str(small_fz.path)], capsys)
    assert code == 0 and "(replaced)" not in first
    assert re.fullmatch(r"small\.fits\.fz: \d+ sources in 4 CCDs, \d+\.\d s -> small\.cat\n", first)
    code, _, second = run([str(small_fz.path)], capsys)
    assert code == 0 and second.endswith("-> small.cat (replaced)\n")
    assert run([str(small_fz.path), "-q"], capsys) == (0, "", "")


def test_disk_full_is_reported_once(
    small_fz: SyntheticImage,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # clients.files fsyncs every file it writes: the disk is "full" at that moment.
    monkeypatch.setattr(os, "fsync", full)
    (workdir / "a.fits.fz").symlink_to(small_fz.path)
    (workdir / "b.fits.fz").symlink_to(small_fz.path)
    (workdir / "c.fits.fz").symlink_to(small_fz.path)
    code, _, err = run(["a.fits.fz", "b.fits.fz", "c.fits.fz", "--workers", "1"], capsys)
    assert code == 1
    assert err.splitlines() == [
        "canfar-tui detect: error: a.cat: cannot write catalogue: No space left on device",
        "canfar-tui detect: error: stopped: the disk is full (2 image(s) not processed)",
    ]
    assert leftovers(workdir) == [] and not (workdir / "a.cat").exists()


def test_extension_label_is_not_repeated(
    small_fz: SyntheticImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canfar_tui.detection import engine

    def broken(path: str, ext: object, params: object) -> object:
        raise ExtensionError(f"{ext.label}: corrupt compressed data")  # type: ignore[attr-defined]

    monkeypatch.setattr(engine, "process_extension", broken)
    with DetectionRunner(1) as runner:
        failures = [e for e in runner.run(small_fz.path) if isinstance(e, ExtensionFailed)]
    assert failures
    for event in failures:
        assert event.message == f"{event.extension.label}: corrupt compressed data"


# ----------------------------------------------------------------------------- workers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--workers must be at least 1, got 0"),
        ("-4", "--workers must be at least 1, got -4"),
        ("1025", "--workers must be at most 1024, got 1025"),
        ("100000", "--workers must be at most 1024, got 100000"),
    ],
)
def test_absurd_worker_counts_are_refused(
    small_fz: SyntheticImage,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    value: str,
    message: str,
) -> None:
    code, out, err = run([str(small_fz.path), "--workers", value], capsys)
    assert (code, out) == (2, "")
    assert err == f"canfar-tui detect: error: {message}\n"
    with pytest.raises(ValueError, match="between 1 and 1024"):
        DetectionRunner(int(value))


def test_workers_are_capped_at_extensions_and_cpus(
    small_fz: SyntheticImage,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []

    class Recording(DetectionRunner):
        def __init__(self, workers: int | None = None, **kwargs: object) -> None:
            started.append(workers or 0)
            super().__init__(1)  # run inline: the test is about the count asked for

    monkeypatch.setattr(runner_module, "DetectionRunner", Recording)
    monkeypatch.setattr(runner_module, "default_workers", lambda: 64)
    assert run([str(small_fz.path), "--workers", "1000"], capsys)[0] == 0
    assert started == [4]  # the image has 4 extensions
    monkeypatch.setattr(runner_module, "default_workers", lambda: 2)
    assert run([str(small_fz.path), "--workers", "1000"], capsys)[0] == 0
    assert run([str(small_fz.path)], capsys)[0] == 0
    assert started == [4, 2, 2]  # two CPUs


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(default_workers() < 2, reason="needs two CPUs for two workers")
def test_sigkill_of_the_cli_leaves_no_worker(small_fz: SyntheticImage, workdir: Path) -> None:
    """Issue 16 item 4: workers used to run on, re-parented to PID 1, after SIGKILL."""
    script = textwrap.dedent(
        """
        import sys, time
        import canfar_tui.detection.engine as engine

        def slow(*args, **kwargs):  # keep both workers busy well past the kill
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                sum(range(10000))

        engine.process_extension = slow
        from canfar_tui.cli import detect
        sys.exit(detect.main(sys.argv[1:]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(small_fz.path), "--workers", "2", "-q"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            own = Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # once exec has happened
            workers = []
            for child in _children(proc.pid):
                try:
                    if Path(f"/proc/{child}/cmdline").read_bytes() == own:
                        workers.append(child)
                except OSError:
                    pass
        assert len(workers) == 2, "the two workers never started"
        time.sleep(1.0)  # both are inside the (slow) extension now
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _alive(pid)]
        assert survivors == [], f"workers {survivors} survived their parent's SIGKILL"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:  # never leave a busy process behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- bounded reads


@pytest.mark.parametrize("option", ["-c", "--params"])
def test_dev_zero_and_huge_config_files_end_in_one_line(
    small_fz: SyntheticImage, workdir: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    """Issue 16 item 6: ``-c /dev/zero`` and ``--params /dev/zero`` ended in MemoryError."""
    huge = workdir / "huge.txt"
    with huge.open("wb") as handle:  # sparse: 4 GiB on paper, nothing on disk
        handle.truncate(4 * 2**30)
    for path in ("/dev/zero", str(huge)):
        code, out, err = run([str(small_fz.path), option, path], capsys)
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "MemoryError" not in err, err
        assert err.startswith(f"canfar-tui detect: error: {path}: too large for a "), err


def test_synthetic_writer_refuses_a_fifo(workdir: Path) -> None:
    from canfar_tui.clients.files import UnsafeTarget
    from canfar_tui.detection.synthetic import SyntheticConfig, write_synthetic_mef

    os.mkfifo(workdir / "image.fits")
    with pytest.raises(UnsafeTarget):
        write_synthetic_mef(workdir / "image.fits", SyntheticConfig(n_ccds=1, width=32, height=32))
    assert stat.S_ISFIFO(os.lstat(workdir / "image.fits").st_mode)
    assert leftovers(workdir) == []


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    queue = [pid]
    while queue:
        children = _children(queue.pop())
        found += children
        queue += children
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_forkserver_pool_owner_leaves_no_worker(workdir: Path) -> None:
    """The Detect tab's case: a forkserver pool started from a thread (no PDEATHSIG there).

    The workers' parent is the forkserver, which lives as long as its workers do, so only
    the workers' watchdog (is the owner still running?) can end them.
    """
    script = textwrap.dedent(
        """
        import threading, time
        from canfar_tui.detection.runner import DetectionRunner

        if __name__ == "__main__":
            runner = DetectionRunner(2, start_method="forkserver")
            starter = threading.Thread(target=runner.start)
            starter.start()
            starter.join()
            print("started", flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    spawned: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "started\n"
        spawned = _descendants(proc.pid)
        assert len(spawned) >= 3, spawned  # the forkserver and its two workers at least
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in spawned if _alive(pid)]
        assert survivors == [], f"processes {survivors} survived their owner's SIGKILL"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in spawned:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
