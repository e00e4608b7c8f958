"""``canfar-tui submit SUBFILE IMAGE FLAVOR [--dry-run]`` on the real sandbox profile."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from canfar_tui.batch.templates import DO_CATALOGUE_SUB
from canfar_tui.cli.submit import add_submit_arguments, run_submit
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.clients.storage.loopback.paths import DEFAULT_USERNAME
from canfar_tui.config import load_settings
from canfar_tui.models import Job


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--read-only", action="store_true", default=None)
    add_submit_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def subfile(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    job.mkdir()
    script = job / "do_catalogue.bash"
    script.write_text("#!/bin/bash\necho catalogue of $1\n")
    script.chmod(0o755)
    path = job / "do_catalogue.sub"
    path.write_text(DO_CATALOGUE_SUB)
    return path


def my_jobs() -> list[Job]:
    """Every job of mine in the sandbox queue (in the queue or finished)."""
    state = load_settings().paths.data_dir / "sandbox" / "queue"

    async def read() -> list[Job]:
        # The sandbox's jobs belong to the sandbox user, as the bundle builds its queue.
        queue = SandboxQueue(state, seed=False, owner=DEFAULT_USERNAME)
        try:
            return [*await queue.list_jobs(), *await queue.history(limit=100)]
        finally:
            await queue.aclose()

    return asyncio.run(read())


def test_dry_run_prints_the_preview_lint_and_jobs_and_submits_nothing(
    subfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_submit(parse(str(subfile), "canfar-ubuntu-20.04", "c2-7.5gb-30", "--dry-run"))
    out = capsys.readouterr().out
    assert status == 0
    assert "VM flavor:   c2-7.5gb-30 (2 CPUs, 7680 MB RAM, 31 GB scratch" in out
    assert "canfar_submit: not on PATH" in out
    assert (
        f"Equivalent on the batch host: canfar_submit {subfile} canfar-ubuntu-20.04 c2-7.5gb-30"
        in out
    )
    assert '+ +VMImage                = "canfar-ubuntu-20.04"' in out
    assert "+ x509userproxy" in out  # the sandbox's certificate
    assert "Lint: no problem found" in out
    assert "Dry run: 4 jobs" in out
    assert "proc 3: do_catalogue.bash 1056218p  > do_catalogue-1056218p.out" in out
    assert "Dry run: nothing submitted." in out
    assert my_jobs() == []


def test_submit_queues_the_rewritten_jobs_in_the_sandbox(
    subfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_submit(parse(str(subfile), "canfar-ubuntu-20.04", "c2-7.5gb-30"))
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Submitted 4 jobs to cluster" in out
    jobs = my_jobs()
    assert sorted(job.arguments for job in jobs) == [
        "1056215p",
        "1056216p",
        "1056217p",
        "1056218p",
    ]
    assert {job.vm_image for job in jobs} == {"canfar-ubuntu-20.04"}
    assert {job.vm_flavor for job in jobs} == {"c2-7.5gb-30"}
    assert {job.request_cpus for job in jobs} == {2}


def test_lint_errors_submit_nothing(subfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subfile.write_text(
        DO_CATALOGUE_SUB.replace("  1056215p\n  1056216p\n  1056217p\n  1056218p\n", "")
    )
    status = run_submit(parse(str(subfile), "canfar-ubuntu-20.04", "c2-7.5gb-30"))
    captured = capsys.readouterr()
    assert status == 1
    assert "line 7: error: the 'queue … from' list is empty" in captured.out
    assert "1 error in" in captured.err and "nothing submitted" in captured.err
    assert my_jobs() == []


def test_unknown_snapshot_or_flavor_and_unreadable_file_are_usage_errors(
    subfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_submit(parse(str(subfile), "no-such-image", "c2-7.5gb-30")) == 2
    err = capsys.readouterr().err
    assert "no snapshot or image named 'no-such-image'" in err
    assert "canfar-ubuntu-20.04" in err
    assert run_submit(parse(str(subfile), "canfar-ubuntu-20.04", "c99-1tb")) == 2
    assert "no flavor named 'c99-1tb'" in capsys.readouterr().err
    missing = subfile.parent / "missing.sub"
    assert run_submit(parse(str(missing), "canfar-ubuntu-20.04", "c2-7.5gb-30")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_read_only_mode_refuses_to_submit_but_previews(
    subfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("--read-only", str(subfile), "canfar-ubuntu-20.04", "c2-7.5gb-30")
    assert run_submit(args) == 2
    assert "read-only mode" in capsys.readouterr().err
    args = parse("--read-only", str(subfile), "canfar-ubuntu-20.04", "c2-7.5gb-30", "--dry-run")
    assert run_submit(args) == 0
    assert my_jobs() == []
