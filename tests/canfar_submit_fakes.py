"""Small ``canfar_submit`` scripts of both forms that record what they were given.

They take the real forms' arguments (``--help`` usage, ``--version``) and, instead of talking
to a cloud, write their argv, working folder and OS_* environment to the file named by
``$RECORD``, then print condor_submit's "4 job(s) submitted to cluster 42." line. The real
stand-ins that submit to the HTCondor pool are in ``scripts/condor/canfar_submit``.
"""

from __future__ import annotations

import stat
from pathlib import Path

from canfar_tui.batch.canfar_submit import CanfarSubmit, SubmitForm

RECORDER = """#!/bin/bash
# A canfar_submit of the {series} form that records what it got.
case "$1" in
  --help) echo "Usage: canfar_submit [OPTION] {usage}"; exit 0 ;;
  --version|-V|-v) echo {version}; exit 0 ;;
esac
{{
  echo "argv=$*"
  echo "cwd=$PWD"
  echo "OS_PROJECT_NAME=$OS_PROJECT_NAME"
  echo "OS_PASSWORD=$OS_PASSWORD"
}} > "$RECORD"
{body}
"""
SUBMITS = 'echo "Submitting job(s)...."; echo "4 job(s) submitted to cluster 42."'


def write_fake(folder: Path, *, series: str, body: str = SUBMITS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    usage, version = (
        ("JOB_FILE VM_IMAGE VM_FLAVOR", "0.3.6")
        if series == "0.3"
        else ("JOB_FILE VM_IMAGE", "0.4.0")
    )
    path = folder / "canfar_submit"
    path.write_text(RECORDER.format(series=series, usage=usage, version=version, body=body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def found(path: Path, form: SubmitForm) -> CanfarSubmit:
    return CanfarSubmit(path, "x", form)


def read_record(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())
