"""The pipeline's job script as a real CANFAR snapshot runs it (issue 13).

By default the script does the seed's own ``do_catalogue.bash`` steps (``cadcget``,
``funpack``, ``source-extractor``, ``vcp``), which ``canfar-ubuntu-20.04`` (Python 3.8, no
canfar-tui) can run. Here it runs with stub commands first on ``PATH`` that record their
arguments and act like the real ones on files (the stub ``vcp`` keeps "VOSpace" in a folder),
in a scratch folder like a job's, with ``HOME`` in the test. canfar-tui runs on the worker only
where it is known to be, and then names its profile.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from canfar_tui.batch.pipeline import (
    CANFAR_TUI_STEPS,
    SEED_STEPS,
    SHARE_DIR,
    PipelineError,
    PipelineSpec,
    job_script,
    sextractor_options,
)
from canfar_tui.batch.pipeline_inputs import script_choice, script_syntax_problems
from canfar_tui.batch.pipeline_run import last_error_line
from canfar_tui.batch.run_state import PipelineRun, run_from_json, run_to_json
from canfar_tui.detection.params import DEFAULT_COLUMNS
from canfar_tui.models import Image
from canfar_tui.preferences import PreferenceStore
from canfar_tui.screens.trace import pipeline_folder

OBS_ID = "1056215p"
FOLDER = "vos:me/cats/"

#: Stubs of the seed's commands: each appends its name and arguments (one per line, after a
#: "--" line) to $STUB_LOG; $STUB_FAIL names one that fails with a message like the real one.
STUB_HEAD = """#!/bin/bash
name=${0##*/}
{ echo "--"; echo "$name"; printf '%s\\n' "$@"; } >> "$STUB_LOG"
if [[ ${STUB_FAIL:-} == "$name" ]]; then
  echo "$name: something went wrong" >&2
  echo "ERROR:: $name could not do it" >&2
  exit 1
fi
if [[ ${STUB_FAIL_ON_STDOUT:-} == "$name" ]]; then
  echo "ERROR: Not found: ${@: -1}"  # cadcutils and vos print their errors there
  exit 255
fi
"""
STUBS = {
    # cadcget [--cert FILE] cadc:CFHT/ID.fits.fz: the file, named after the URI
    "cadcget": 'uri=${@: -1}; printf "compressed %s" "$uri" > "${uri##*/}"\n',
    # funpack -D ID.fits.fz: ID.fits, the .fz deleted
    "funpack": 'printf "image of %s" "$2" > "${2%.fz}"; rm -f "$2"\n',
    # source-extractor ID.fits -CATALOG_NAME ID.cat …: a catalogue with default.param's columns
    "source-extractor": (
        '[[ -f default.sex && -f default.conv ]] || { echo "no default.sex" >&2; exit 1; }\n'
        '{ sed "s/^/# /" default.param; echo "1 2 3"; } > "$3"\n'
    ),
    # vcp SRC DEST: to or from $STUB_VOS (a vos: URI is a path under it)
    "vcp": (
        "src=$1; dest=$2\n"
        "if [[ $dest == vos:* ]]; then\n"
        '  target="$STUB_VOS/${dest#vos:}"; [[ $target == */ ]] && target+="${src##*/}"\n'
        '  [[ -d ${target%/*} ]] || { echo "NotFound: ${dest}" >&2; exit 1; }\n'
        '  cp "$src" "$target"\n'
        '  if [[ -n ${STUB_CORRUPT:-} ]]; then echo "flipped" >> "$target"; fi\n'
        "else\n"
        '  cp "$STUB_VOS/${src#vos:}" "$dest"\n'
        "fi\n"
    ),
    "vmkdir": 'mkdir -p "$STUB_VOS/${2#vos:}"\n',
    "vls": '[[ -d "$STUB_VOS/${1#vos:}" ]] || { echo "NotFound" >&2; exit 1; }\n',
}


def make_spec(**options: object) -> PipelineSpec:
    overrides = {"DETECT_THRESH": "3", "DETECT_MINAREA": "5"}
    return PipelineSpec((OBS_ID, "1056216p"), FOLDER, overrides, **options)  # type: ignore[arg-type]


class Worker:
    """A scratch folder, a HOME, stub commands and a stub VOSpace: a batch VM in a folder."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.root = root
        self.bin = root / "bin"
        self.home = root / "home"
        self.scratch = root / "scratch"
        self.vos = root / "vos"
        self.share = root / "share"
        self.log = root / "argv.log"
        for folder in (self.bin, self.home, self.scratch, self.vos, self.share):
            folder.mkdir()
        for name, body in STUBS.items():
            path = self.bin / name
            path.write_text(STUB_HEAD + body, encoding="utf-8")
            path.chmod(0o755)
        for name in ("default.sex", "default.conv", "default.nnw", "default.param"):
            (self.share / name).write_text(f"the package's {name}\n", encoding="utf-8")
        self.log.touch()

    def run(
        self, spec: PipelineSpec, *, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # The package's files come from a folder of the test instead of the system's.
        script = job_script(spec).replace(SHARE_DIR, str(self.share))
        path = self.root / spec.script_name
        path.write_text(script, encoding="utf-8")
        path.chmod(0o755)
        environment = {
            "PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(self.home),
            "STUB_LOG": str(self.log),
            "STUB_VOS": str(self.vos),
            **(env or {}),
        }
        return subprocess.run(
            ["bash", str(path), OBS_ID],
            cwd=self.scratch,
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def calls(self) -> list[list[str]]:
        """Each stub call: the command's name and its arguments."""
        blocks = self.log.read_text(encoding="utf-8").split("--\n")
        return [block.splitlines() for block in blocks if block.strip()]

    def proxy(self) -> Path:
        proxy = self.root / "condor-scratch" / "x509up_u1000"
        proxy.parent.mkdir(exist_ok=True)
        proxy.write_text("-----BEGIN CERTIFICATE-----\nthe job's proxy\n", encoding="utf-8")
        proxy.chmod(0o600)
        return proxy


@pytest.fixture
def worker(tmp_path: Path) -> Worker:
    return Worker(tmp_path / "worker")


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- the seed's steps


def test_the_default_script_runs_the_seeds_steps_and_parses() -> None:
    spec = make_spec()
    assert spec.steps == SEED_STEPS
    script = job_script(spec)
    assert script_syntax_problems(script) == []
    assert "canfar-tui" not in script.replace("Generated by canfar-tui", "")
    assert 'step "unpack" funpack -D ${id}.fits.fz\n' in script
    assert f'step "configure" cp {SHARE_DIR}/default* .\n' in script
    assert "echo '" + "\n".join(DEFAULT_COLUMNS) + "' > default.param\n" in script
    assert (
        'step "detect" source-extractor ${id}.fits -CATALOG_NAME ${id}.cat -VERBOSE_TYPE QUIET '
        "-DETECT_THRESH 3 -DETECT_MINAREA 5\n" in script
    )
    assert f'step "upload" vcp ${{id}}.cat {FOLDER}\n' in script
    assert pipeline_folder(script) == FOLDER  # the trace screen still finds the folder


def test_seed_steps_run_on_a_worker_with_the_certificate_from_htcondor(worker: Worker) -> None:
    proxy = worker.proxy()
    result = worker.run(make_spec(), env={"X509_USER_PROXY": str(proxy)})
    assert result.returncode == 0, result.stderr

    cert = worker.home / ".ssl" / "cadcproxy.pem"
    assert cert.read_bytes() == proxy.read_bytes()
    assert stat.S_IMODE(cert.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.parent.stat().st_mode) == 0o700
    assert [path.name for path in cert.parent.iterdir()] == ["cadcproxy.pem"]  # no temp file

    assert worker.calls() == [
        ["vmkdir", "-p", "vos:me/cats"],
        ["cadcget", "--cert", str(cert), f"cadc:CFHT/{OBS_ID}.fits.fz"],
        ["funpack", "-D", f"{OBS_ID}.fits.fz"],
        [
            "source-extractor",
            f"{OBS_ID}.fits",
            "-CATALOG_NAME",
            f"{OBS_ID}.cat",
            "-VERBOSE_TYPE",
            "QUIET",
            "-DETECT_THRESH",
            "3",
            "-DETECT_MINAREA",
            "5",
        ],
        ["vcp", f"{OBS_ID}.cat", FOLDER],
        ["vcp", f"{FOLDER}{OBS_ID}.cat", f"{OBS_ID}.cat.check"],
    ]
    catalogue = worker.scratch / f"{OBS_ID}.cat"
    assert catalogue.read_text(encoding="utf-8").splitlines()[: len(DEFAULT_COLUMNS)] == [
        f"# {column}" for column in DEFAULT_COLUMNS
    ]
    stored = worker.vos / "me" / "cats" / f"{OBS_ID}.cat"
    assert stored.read_bytes() == catalogue.read_bytes()
    # Only the catalogue is left for HTCondor to bring back: no image, no configuration.
    assert sorted(path.name for path in worker.scratch.iterdir()) == [f"{OBS_ID}.cat"]
    assert result.stdout.splitlines()[-1] == (
        f"do_catalogue {OBS_ID}: {OBS_ID}.cat stored in {FOLDER} "
        f"(read back identical, MD5 {md5_of(catalogue)})"
    )


def test_a_failing_step_ends_the_job_with_one_line_naming_it(worker: Worker) -> None:
    result = worker.run(make_spec(), env={"X509_USER_PROXY": str(worker.proxy())})
    assert result.returncode == 0
    for name, step in (("funpack", "unpack"), ("cadcget", "fetch"), ("vcp", "upload")):
        worker.log.write_text("", encoding="utf-8")
        result = worker.run(
            make_spec(), env={"X509_USER_PROXY": str(worker.proxy()), "STUB_FAIL": name}
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert lines[-1] == (
            f"do_catalogue {OBS_ID}: {step} failed (exit 1): ERROR:: {name} could not do it"
        )
        assert f"{name}: something went wrong" in lines  # the step's own output is kept
        assert "done" not in result.stdout
        error_file = worker.root / "job.err"
        error_file.write_text(result.stderr, encoding="utf-8")
        assert last_error_line(error_file) == lines[-1]  # what the Pipeline tab shows
        assert worker.calls()[-1][0] == name  # nothing ran after the failed step


def test_an_error_printed_on_standard_output_is_the_reason(worker: Worker) -> None:
    proxy = str(worker.proxy())
    result = worker.run(
        make_spec(), env={"X509_USER_PROXY": proxy, "STUB_FAIL_ON_STDOUT": "cadcget"}
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"do_catalogue {OBS_ID}: fetch failed (exit 255): "
        f"ERROR: Not found: cadc:CFHT/{OBS_ID}.fits.fz"
    )
    assert result.stdout.strip() == f"ERROR: Not found: cadc:CFHT/{OBS_ID}.fits.fz"


def test_a_catalogue_that_comes_back_different_fails_the_check(worker: Worker) -> None:
    result = worker.run(
        make_spec(), env={"X509_USER_PROXY": str(worker.proxy()), "STUB_CORRUPT": "1"}
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"do_catalogue {OBS_ID}: check failed: the copy in VOSpace differs from {OBS_ID}.cat"
    )
    assert "stored in" not in result.stdout


def test_without_any_certificate_the_job_stops_before_fetching(worker: Worker) -> None:
    result = worker.run(make_spec())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"do_catalogue {OBS_ID}: cannot upload: no CADC certificate for vcp (no $X509_USER_PROXY "
        "from HTCondor, no ~/.ssl/cadcproxy.pem, no ~/.netrc); nothing was fetched"
    ]
    assert worker.calls() == []
    assert not (worker.home / ".ssl").exists()


def test_a_netrc_lets_vcp_log_in_and_cadcget_stays_anonymous(worker: Worker) -> None:
    netrc = worker.home / ".netrc"
    netrc.write_text("machine ws-cadc.canfar.net login me password secret\n", encoding="utf-8")
    netrc.chmod(0o600)
    result = worker.run(make_spec())
    assert result.returncode == 0, result.stderr
    assert ["cadcget", f"cadc:CFHT/{OBS_ID}.fits.fz"] in worker.calls()


def test_a_certificate_already_on_the_snapshot_is_used_as_it_is(worker: Worker) -> None:
    cert = worker.home / ".ssl" / "cadcproxy.pem"
    cert.parent.mkdir()
    cert.write_text("made with cadc-get-cert -n\n", encoding="utf-8")
    result = worker.run(make_spec())
    assert result.returncode == 0, result.stderr
    assert cert.read_text(encoding="utf-8") == "made with cadc-get-cert -n\n"
    assert ["cadcget", "--cert", str(cert), f"cadc:CFHT/{OBS_ID}.fits.fz"] in worker.calls()


def test_sextractor_options_are_the_overrides() -> None:
    spec = PipelineSpec(
        (OBS_ID,), FOLDER, {"BACK_SIZE": "128,128", "CLEAN": "N", "SATUR_KEY": "SATURATE"}
    )
    assert sextractor_options(spec) == [
        "-BACK_SIZE",
        "128,128",
        "-CLEAN",
        "N",
        "-SATUR_KEY",
        "SATURATE",
    ]
    assert sextractor_options(PipelineSpec((OBS_ID,), FOLDER, workers=2)) == ["-NTHREADS", "2"]


@pytest.mark.skipif(
    not Path(SHARE_DIR, "gauss_3.0_5x5.conv").is_file(), reason="no source-extractor filters"
)
def test_a_filter_of_the_package_is_read_from_its_folder() -> None:
    spec = PipelineSpec((OBS_ID,), FOLDER, {"FILTER_NAME": "gauss_3.0_5x5.conv"})
    assert sextractor_options(spec) == ["-FILTER_NAME", f"{SHARE_DIR}/gauss_3.0_5x5.conv"]


# --------------------------------------------------------------------------- canfar-tui


def test_canfar_tui_steps_name_the_profile_and_need_one() -> None:
    spec = make_spec(steps=CANFAR_TUI_STEPS, profile="cadc")
    script = job_script(spec)
    assert 'step "fetch" canfar-tui --profile cadc get -q cadc:CFHT/${id}.fits.fz\n' in script
    assert f'step "upload" canfar-tui --profile cadc put ${{id}}.cat {FOLDER}\n' in script
    assert "cadcget cadc:" not in script and "vcp ${id}" not in script
    assert 'step "certificate" install_proxy' in script  # a batch VM: the proxy is copied
    assert script_syntax_problems(script) == []
    assert pipeline_folder(script) == FOLDER
    local = job_script(make_spec(steps=CANFAR_TUI_STEPS, profile="cadc", install_proxy=False))
    assert "X509_USER_PROXY" not in local  # jobs on this machine: the user's own is left alone

    with pytest.raises(PipelineError, match="needs the profile"):
        make_spec(steps=CANFAR_TUI_STEPS)
    with pytest.raises(PipelineError, match="bad profile name"):
        make_spec(steps=CANFAR_TUI_STEPS, profile="a\nb")
    with pytest.raises(PipelineError, match="unknown job script kind"):
        make_spec(steps="python")


def test_only_keeps_the_profile_and_the_kind() -> None:
    spec = make_spec(steps=CANFAR_TUI_STEPS, profile="cadc", install_proxy=False, workers=1)
    retry = spec.only(["1056216p"])
    assert retry.ids == ("1056216p",)
    assert (retry.profile, retry.steps, retry.install_proxy, retry.workers) == (
        "cadc",
        CANFAR_TUI_STEPS,
        False,
        1,
    )
    assert "--profile cadc" in job_script(retry)


def test_the_run_file_keeps_the_kind_and_reads_older_runs() -> None:
    spec = make_spec(steps=CANFAR_TUI_STEPS, profile="cadc", install_proxy=False)
    run = PipelineRun(spec, Path("/runs/1"), 7, 2, "ID: 7", "snap", "c2", spec.ids, spec.ids)
    data = json.loads(json.dumps(run_to_json(run)))
    assert run_from_json(data) == run
    for key in ("profile", "steps", "install_proxy"):
        del data["spec"][key]
    older = run_from_json(data)
    assert (older.spec.steps, older.spec.profile, older.spec.install_proxy) == (
        SEED_STEPS,
        None,
        True,
    )
    data["spec"]["steps"] = "python"
    with pytest.raises(ValueError, match="not a pipeline run"):
        run_from_json(data)


def test_an_unknown_profile_on_the_worker_is_refused_in_one_line(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for words in (
        ["get", "-q", f"cadc:CFHT/{OBS_ID}.fits.fz"],
        ["put", "x.cat", FOLDER],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "canfar_tui", "--profile", "cadc", *words],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
        assert "unknown profile 'cadc'" in result.stderr
        assert not (tmp_path / f"{OBS_ID}.fits.fz").exists()


# --------------------------------------------------------------------------- which kind


def test_canfar_tui_only_where_the_worker_is_known_to_have_it(tmp_path: Path) -> None:
    from fakes import FixedQueue

    from canfar_tui.clients.queue.sandbox.queue import SandboxQueue

    ubuntu = Image("img-1", "canfar-ubuntu-20.04", "active")
    choice = script_choice(FixedQueue(), ubuntu)
    assert (choice.steps, choice.command, choice.install_proxy) == (
        SEED_STEPS,
        ("canfar-tui",),
        True,
    )
    assert choice.reason == (
        "Seed steps (cadcget, funpack, source-extractor, vcp): "
        "canfar-ubuntu-20.04 has no canfar-tui"
    )
    assert script_choice(None, None).reason.endswith(": no snapshot chosen")
    marked = script_choice(FixedQueue(), ubuntu, {"img-1"})
    assert (marked.steps, marked.command, marked.workers, marked.install_proxy) == (
        CANFAR_TUI_STEPS,
        ("canfar-tui",),
        None,
        True,
    )
    assert marked.reason == (
        "canfar-tui on the worker: you marked canfar-ubuntu-20.04 as having canfar-tui"
    )
    queue = SandboxQueue(tmp_path / "queue", slots=1)
    try:
        local = script_choice(queue, ubuntu)
    finally:
        import asyncio

        asyncio.run(queue.aclose())
    assert (local.steps, local.command, local.workers, local.install_proxy) == (
        CANFAR_TUI_STEPS,
        (sys.executable, "-m", "canfar_tui"),
        1,
        False,
    )
    assert local.reason == "canfar-tui on the worker: the sandbox runs jobs on this machine"


def test_marked_snapshots_are_kept_per_profile(tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    store = PreferenceStore(path, "cadc")
    assert store.canfar_tui_images() == frozenset()
    store.set_canfar_tui_image("img-1", True)
    store.set_canfar_tui_image("img-2", True)
    store.set_canfar_tui_image("img-1", False)
    assert store.canfar_tui_images() == {"img-2"}
    assert PreferenceStore(path, "sandbox").canfar_tui_images() == frozenset()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
