"""The pipeline (issue 7, non-UI core): job script and submit file, ``put``, and the outcome.

The end-to-end test runs the seed's four IDs plus a broken one through the sandbox queue: the
jobs are real processes running canfar-tui (get, detect, put), the catalogues land in the
sandbox VOSpace, and the broken ID is the only one to resubmit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.batch.lint import lint_submit
from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    PipelineError,
    PipelineSpec,
    detect_overrides,
    job_script,
    parse_ids,
    parse_overrides,
    submit_file,
    validate_ids,
    validate_vospace_folder,
    write_pipeline,
)
from canfar_tui.batch.pipeline_run import collect_outcome, last_error_line
from canfar_tui.cli.put import add_put_arguments, run_put
from canfar_tui.clients.base import NotFound
from canfar_tui.clients.bundle import start_sandbox_storage
from canfar_tui.clients.queue.sandbox.queue import SandboxQueue
from canfar_tui.config import load_settings
from canfar_tui.detection.params import DetectionParams
from canfar_tui.models import Job

SEED_IDS = ("1056215p", "1056216p", "1056217p", "1056218p")
BROKEN = "9999999p"
FOLDER = "vos:sandbox-user/catalogues/"


def sandbox_dir() -> Path:
    return load_settings().paths.data_dir / "sandbox"


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- inputs


def test_parse_ids_reads_pasted_text() -> None:
    text = "1056215p, 1056216p\n# a comment\n  1056217p 1056218p  # tail\n"
    assert parse_ids(text) == SEED_IDS


@pytest.mark.parametrize(
    ("ids", "named"),
    [
        (["1056215p", "../etc"], "'../etc'"),
        (["1056215p", "a b", "x;rm"], "'a b', 'x;rm'"),
        (["$(id)"], "'$(id)'"),
    ],
)
def test_bad_ids_are_named_in_one_line(ids: list[str], named: str) -> None:
    with pytest.raises(PipelineError) as caught:
        validate_ids(ids)
    message = str(caught.value)
    assert "\n" not in message
    assert named in message
    assert "letters and digits" in message


def test_empty_and_repeated_ids_are_refused() -> None:
    with pytest.raises(PipelineError, match="no observation IDs"):
        parse_ids("  # nothing\n")
    with pytest.raises(PipelineError, match="given twice: 1056215p"):
        validate_ids(["1056215p", "1056216p", "1056215p"])


def test_vospace_folder_is_normalised_and_checked() -> None:
    assert validate_vospace_folder("vos:me/cats") == "vos:me/cats/"
    assert validate_vospace_folder("vos:me/cats//") == "vos:me/cats/"
    for bad in ("me/cats", "vos:", "vos:me/$(x)", "vos:me cats", "http://x/"):
        with pytest.raises(PipelineError, match="not a VOSpace folder"):
            validate_vospace_folder(bad)


def test_overrides_from_detection_params_are_the_changed_keys() -> None:
    params = DetectionParams().with_overrides({"DETECT_THRESH": "3", "BACK_SIZE": "128,128"})
    assert detect_overrides(params) == {"DETECT_THRESH": "3", "BACK_SIZE": "128,128"}
    assert detect_overrides(DetectionParams()) == {}


def test_overrides_from_set_values_are_checked() -> None:
    assert parse_overrides(["detect_thresh=2.5", "DETECT_MINAREA=5"]) == {
        "DETECT_THRESH": "2.5",
        "DETECT_MINAREA": "5",
    }
    with pytest.raises(PipelineError, match="DETECT_THRESH"):
        parse_overrides(["DETECT_THRESH=-1"])
    with pytest.raises(PipelineError, match="unknown"):
        parse_overrides(["NOT_A_KEY=1"])
    with pytest.raises(PipelineError, match="KEY=VALUE"):
        parse_overrides(["DETECT_THRESH"])


# --------------------------------------------------------------------------- generation


def make_spec(**options: object) -> PipelineSpec:
    params = DetectionParams().with_overrides({"DETECT_THRESH": "3", "DETECT_MINAREA": "5"})
    return PipelineSpec.from_params(
        params, list(SEED_IDS), "vos:sandbox-user/catalogues", **options
    )


def test_job_script_has_the_three_steps_with_the_parameters() -> None:
    script = job_script(make_spec(steps=CANFAR_TUI_STEPS, profile="sandbox"))
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script
    assert "canfar-tui --profile sandbox get -q cadc:CFHT/${id}.fits.fz" in script
    assert (
        "canfar-tui detect ${id}.fits.fz -o ${id}.cat -q --set DETECT_THRESH=3 "
        "--set DETECT_MINAREA=5" in script
    )
    assert "canfar-tui --profile sandbox put ${id}.cat vos:sandbox-user/catalogues/" in script
    assert "canfar-tui()" not in script  # the console script on the worker's PATH
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_job_script_with_another_command_defines_canfar_tui() -> None:
    script = job_script(
        make_spec(
            command=("/opt/py 3/python", "-m", "canfar_tui"),
            workers=2,
            steps=CANFAR_TUI_STEPS,
            profile="my cadc",
        )
    )
    assert "canfar-tui() { '/opt/py 3/python' -m canfar_tui \"$@\"; }" in script
    assert "--workers 2" in script
    assert "canfar-tui --profile 'my cadc' get" in script


def test_job_script_refuses_a_bad_id_with_one_line(tmp_path: Path) -> None:
    script, _ = write_pipeline(make_spec(), tmp_path)
    result = subprocess.run(
        ["bash", str(script), "../x"], cwd=tmp_path, text=True, capture_output=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "do_catalogue: expected one observation ID (letters and digits), got '../x'"
    ]


def test_submit_file_has_the_seeds_shape_and_lints_clean(tmp_path: Path) -> None:
    spec = make_spec()
    text = submit_file(spec)
    assert text.splitlines()[0] == "executable = do_catalogue.bash"
    assert "error  = do_catalogue-$(arguments).err" in text
    assert "queue arguments from (\n  1056215p\n  1056216p\n  1056217p\n  1056218p\n)\n" in text
    script, submit = write_pipeline(spec, tmp_path)
    assert script.stat().st_mode & 0o111
    assert submit.read_text(encoding="utf-8") == text
    report = lint_submit(text, submit_dir=tmp_path)
    assert report.issues == ()
    assert [job.arguments for job in report.jobs] == list(SEED_IDS)


def test_only_gives_the_pipeline_for_some_ids_with_a_batch_name(tmp_path: Path) -> None:
    spec = make_spec(batch_name="catalogues").only(["1056217p"])
    text = submit_file(spec)
    assert 'batch_name = "catalogues"' in text
    assert "queue arguments from (\n  1056217p\n)\n" in text
    write_pipeline(spec, tmp_path)
    assert lint_submit(text, submit_dir=tmp_path).issues == ()


@pytest.mark.parametrize(
    "module",
    ["canfar_tui.batch.pipeline", "canfar_tui.batch.pipeline_run", "canfar_tui.cli.put"],
)
def test_pipeline_modules_are_headless(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    roots = {name.split(".")[0] for name in json.loads(output)}
    assert not roots & {"textual", "htcondor2", "vos", "astropy", "numpy", "sep"}


def test_last_error_line_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.err"
    path.write_text("warning\nthe reason\n\n  \n", encoding="utf-8")
    assert last_error_line(path) == "the reason"
    assert last_error_line(tmp_path / "missing.err") is None


# --------------------------------------------------------------------------- put


def put_args(*words: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_put_arguments(parser)
    return parser.parse_args(list(words))


def test_put_uploads_verified_and_reports_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "a.cat"
    first.write_text("# NUMBER\n1\n", encoding="utf-8")
    out = io.StringIO()
    assert run_put(put_args(str(first), "vos:sandbox-user/new/"), out=out) == 0
    assert out.getvalue().strip() == (
        f"vos:sandbox-user/new/a.cat  md5={md5_of(first)}  {first.stat().st_size} bytes  (sandbox)"
    )
    assert run_put(put_args(str(tmp_path / "nope.cat"), str(first), "vos:sandbox-user/new")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"canfar-tui put: {tmp_path / 'nope.cat'}: no such file"]
    assert run_put(put_args(str(first), "/tmp/x")) == 2
    assert "not a VOSpace destination" in capsys.readouterr().err

    async def check() -> None:
        storage = start_sandbox_storage(sandbox_dir())
        try:
            node = await storage.stat("vos:sandbox-user/new/a.cat")
            assert node.md5 == md5_of(first)
        finally:
            await storage.aclose()

    asyncio.run(check())


# --------------------------------------------------------------------------- end to end


def canfar_tui_command(tmp_path: Path) -> tuple[str, ...]:
    """``python -m canfar_tui`` by absolute path; a shim adds ``put`` until it is wired."""
    from canfar_tui.cli.main import build_parser

    commands = next(
        action.choices
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    if "put" in commands:
        return (sys.executable, "-m", "canfar_tui")
    shim = tmp_path / "canfar_tui_shim.py"
    shim.write_text(
        "import sys\n"
        "if sys.argv[1:2] == ['put']:\n"
        "    from canfar_tui.cli.put import main\n"
        "    sys.exit(main(sys.argv[2:]))\n"
        "from canfar_tui.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    return (sys.executable, str(shim))


async def wait_finished(queue: SandboxQueue, cluster: int, count: int) -> list[Job]:
    """The cluster's jobs once all have left the queue (bounded: about 90 s)."""
    for _ in range(900):
        queued = [job for job in await queue.list_jobs() if job.id.cluster == cluster]
        if not queued:
            done = [job for job in await queue.history() if job.id.cluster == cluster]
            if len(done) == count:
                return done
        await asyncio.sleep(0.1)
    pytest.fail(f"the batch {cluster} did not finish: {queued!r}")


async def test_pipeline_end_to_end_in_the_sandbox(tmp_path: Path) -> None:
    submit_dir = tmp_path / "submit"
    ids = (*SEED_IDS, BROKEN)
    params = DetectionParams().with_overrides({"DETECT_THRESH": "3"})
    spec = PipelineSpec.from_params(
        params,
        ids,
        FOLDER,
        command=canfar_tui_command(tmp_path),
        workers=1,
        steps=CANFAR_TUI_STEPS,
        profile="sandbox",
        install_proxy=False,
    )
    _, submit = write_pipeline(spec, submit_dir)
    text = submit.read_text(encoding="utf-8")
    assert lint_submit(text, submit_dir=submit_dir).ok

    queue = SandboxQueue(tmp_path / "queue", slots=2, keep_running=False)
    try:
        result = await queue.submit(text, submit_dir=submit_dir)
        assert result.num_jobs == 5
        jobs = await wait_finished(queue, result.cluster, 5)
    finally:
        await queue.aclose()
    exit_codes = {job.arguments: job.exit_code for job in jobs}
    reasons = {obs_id: last_error_line(submit_dir / spec.error_file(obs_id)) for obs_id in ids}
    assert exit_codes == {**dict.fromkeys(SEED_IDS, 0), BROKEN: 1}, reasons

    storage = start_sandbox_storage(sandbox_dir())
    try:
        outcome = await collect_outcome(storage, spec, submit_dir, exit_codes=exit_codes)
        without_codes = await collect_outcome(storage, spec, submit_dir)
        with pytest.raises(NotFound):
            await storage.stat(spec.catalogue_uri(BROKEN))
    finally:
        await storage.aclose()

    assert without_codes == outcome
    assert [a.obs_id for a in outcome.arrived] == list(SEED_IDS)
    for arrived in outcome.arrived:
        local = submit_dir / f"{arrived.obs_id}.cat"  # transferred back by the executor
        assert local.read_text(encoding="utf-8").startswith("#   1 NUMBER")
        assert arrived.md5 == md5_of(local)
        assert arrived.uri == f"{FOLDER}{arrived.obs_id}.cat"
        assert arrived.size == local.stat().st_size
    assert not (submit_dir / f"{SEED_IDS[0]}.fits.fz").exists()  # the image stays on the worker

    # The batch used the Detect run's parameters: the same detection here gives the same bytes.
    here = tmp_path / "here"
    here.mkdir()
    command = canfar_tui_command(tmp_path)
    image = f"{SEED_IDS[0]}.fits.fz"
    for words in (
        ["get", "-q", f"cadc:CFHT/{image}"],
        ["detect", image, "-o", "here.cat", "-q", "--workers", "1", "--set", "DETECT_THRESH=3"],
        ["detect", image, "-o", "default.cat", "-q", "--workers", "1"],
    ):
        run = subprocess.run([*command, *words], cwd=here, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
    assert md5_of(here / "here.cat") == outcome.arrived[0].md5
    assert md5_of(here / "default.cat") != outcome.arrived[0].md5

    assert outcome.to_resubmit() == (BROKEN,)
    (failed,) = outcome.failed
    assert failed.reason.startswith(f"do_catalogue {BROKEN}: fetch failed (exit 1): ")
    assert f"cadc:CFHT/{BROKEN}.fits.fz" in failed.reason
    assert "Not in the sandbox archive" in failed.reason
    assert failed.reason == last_error_line(submit_dir / spec.error_file(BROKEN))

    # Resubmitting queues the failed ID alone (and it fails again, for the same reason).
    retry = spec.only(outcome.to_resubmit())
    again = submit_file(retry)
    assert "queue arguments from (\n  9999999p\n)\n" in again
    assert lint_submit(again, submit_dir=submit_dir).ok
    queue = SandboxQueue(tmp_path / "queue", slots=2, keep_running=False)
    try:
        second = await queue.submit(again, submit_dir=submit_dir)
        assert second.num_jobs == 1
        (job,) = await wait_finished(queue, second.cluster, 1)
    finally:
        await queue.aclose()
    assert (job.arguments, job.exit_code) == (BROKEN, 1)
    assert last_error_line(submit_dir / retry.error_file(BROKEN)) == failed.reason
