"""Detecting an installed canfar_submit and its form, with fake scripts of both kinds on PATH.

The fakes copy the two real scripts' argument handling (canfar/canfarproc): 0.3.x takes
``JOB_FILE VM_IMAGE VM_FLAVOR`` and ``-v`` for the version, 0.4.x takes ``JOB_FILE VM_IMAGE``
and ``-V``; both print their usage for ``--help`` and for a wrong number of arguments. Each
fake records in a file whether it ever got past the argument check (it must not: the probe
never submits).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from canfar_tui.batch.canfar_submit import (
    SubmitForm,
    detect_canfar_submit,
    equivalent_command,
    probe_canfar_submit,
)

V03 = """#!/bin/bash
EXEC_NAME=canfar_submit
EXEC_VERSION=0.3.2
usage() {{
    echo "Usage: ${{EXEC_NAME}} [OPTION] JOB_FILE VM_IMAGE VM_FLAVOR
Submit a CANFAR processing job

  -v, --version             output version information and exit
  -V, --verbose             verbose mode for debugging"
    exit
}}
OPTS=$(getopt -o c:u:hvV -l cert: -l user: -l help -l version -l verbose -- "$@")
eval set -- "${{OPTS}}"
while true; do
    case "$1" in
        -h | --help) usage ;;
        -v | --version) echo ${{EXEC_VERSION}}; exit ;;
        -V | --verbose) ;;
        --) shift; break ;;
        *) break ;;
    esac
    shift
done
[[ $# -eq 3 ]] || usage
echo submitted > {marker}
"""

V04 = """#!/bin/bash
EXEC_NAME=canfar_submit
EXEC_VERSION=0.4.0
usage() {{
    echo "Usage: ${{EXEC_NAME}} [OPTION] JOB_FILE VM_IMAGE
Submit a CANFAR batch job

  -V, --version             output version information and exit
  -v, --verbose             verbose mode for debugging"
    exit
}}
OPTS=$(getopt -o c:u:hVv -l cert: -l user: -l help -l version -l verbose -- "$@")
eval set -- "${{OPTS}}"
while true; do
    case "$1" in
        -h | --help) usage ;;
        -V | --version) echo ${{EXEC_VERSION}}; exit ;;
        -v | --verbose) ;;
        --) shift; break ;;
        *) break ;;
    esac
    shift
done
[[ $# -eq 2 ]] || usage
echo submitted > {marker}
"""


def install(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "canfar_submit"
    path.write_text(body.format(marker=directory / "SUBMITTED"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def search_path(tmp_path: Path) -> str:
    return f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"


def test_no_canfar_submit_on_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert detect_canfar_submit(search_path=str(tmp_path / "empty")) is None
    command = equivalent_command(None, "do_catalogue.sub", "img", "c2-7.5gb-30")
    assert command == ["canfar_submit", "do_catalogue.sub", "img", "c2-7.5gb-30"]


def test_version_03_takes_image_and_flavor(tmp_path: Path, search_path: str) -> None:
    install(tmp_path / "bin", V03)
    found = detect_canfar_submit(search_path=search_path)
    assert found is not None
    assert found.path == tmp_path / "bin" / "canfar_submit"
    assert found.version == "0.3.2"
    assert found.form is SubmitForm.IMAGE_AND_FLAVOR
    assert "JOB_FILE VM_IMAGE VM_FLAVOR" in found.usage
    assert "0.3.x form: canfar_submit JOB_FILE VM_IMAGE VM_FLAVOR" in found.describe()
    command = equivalent_command(found, "do_catalogue.sub", "img", "c2-7.5gb-30")
    assert command == ["canfar_submit", "do_catalogue.sub", "img", "c2-7.5gb-30"]
    assert not (tmp_path / "bin" / "SUBMITTED").exists()


def test_version_04_takes_only_the_image(tmp_path: Path, search_path: str) -> None:
    install(tmp_path / "bin", V04)
    found = detect_canfar_submit(search_path=search_path)
    assert found is not None
    assert found.version == "0.4.0"
    assert found.form is SubmitForm.IMAGE_ONLY
    assert found.form.series == "0.4.x"
    assert "request_cpus/memory/disk" in found.describe()
    command = equivalent_command(found, "do_catalogue.sub", "img", "c2-7.5gb-30")
    assert command == ["canfar_submit", "do_catalogue.sub", "img"]
    assert not (tmp_path / "bin" / "SUBMITTED").exists()


def test_the_fakes_really_reject_the_other_form(tmp_path: Path) -> None:
    """The probe's premise: each version sends the other's argument count to its usage."""
    import subprocess

    v04 = install(tmp_path / "v04", V04)
    output = subprocess.run(
        [str(v04), "job.sub", "img", "c2-7.5gb-30"], capture_output=True, text=True, check=False
    ).stdout
    assert output.startswith("Usage: canfar_submit [OPTION] JOB_FILE VM_IMAGE")
    assert not (tmp_path / "v04" / "SUBMITTED").exists()
    v03 = install(tmp_path / "v03", V03)
    subprocess.run([str(v03), "job.sub", "img"], capture_output=True, check=False)
    assert not (tmp_path / "v03" / "SUBMITTED").exists()


def test_the_version_decides_when_the_usage_is_unclear(tmp_path: Path) -> None:
    path = install(tmp_path / "bin", '#!/bin/sh\nif [ "$1" = --version ]; then echo 0.4.1; fi\n')
    found = probe_canfar_submit(path)
    assert found.form is SubmitForm.IMAGE_ONLY
    assert found.version == "0.4.1"
    path.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo canfar_submit 0.2.3; fi\n')
    assert probe_canfar_submit(path).form is SubmitForm.IMAGE_AND_FLAVOR


def test_a_command_that_says_nothing_useful(tmp_path: Path) -> None:
    path = install(tmp_path / "bin", "#!/bin/sh\necho hello\n")
    found = probe_canfar_submit(path)
    assert found.form is None
    assert found.problem == "neither --help nor --version said"
    assert "could not tell which form" in found.describe()


def test_a_hanging_command_is_killed_after_the_timeout(tmp_path: Path) -> None:
    path = install(tmp_path / "bin", "#!/bin/sh\nsleep 30 &\nsleep 30\n")
    started = time.monotonic()
    found = probe_canfar_submit(path, timeout=0.5)
    assert time.monotonic() - started < 10
    assert found.form is None
    assert found.problem is not None and "did not finish in 0.5 s" in found.problem


def test_a_command_that_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "canfar_submit"
    path.write_text("#!/nonexistent/interpreter\n")
    path.chmod(0o755)
    found = probe_canfar_submit(path)
    assert found.form is None
    assert found.problem is not None and found.problem.startswith("cannot run it")
