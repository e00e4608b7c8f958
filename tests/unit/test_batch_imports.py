"""``canfar_tui.batch`` is headless: no Textual, and no htcondor until a file is expanded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MODULES = [
    "canfar_tui.batch",
    "canfar_tui.cli.submit",
    "canfar_tui.batch.pipeline",
    "canfar_tui.batch.pipeline_run",
    "canfar_tui.cli.put",
    "canfar_tui.batch.lint",
    "canfar_tui.batch.rewrite",
    "canfar_tui.batch.canfar_submit",
    "canfar_tui.batch.choices",
    "canfar_tui.batch.joblog",
]


@pytest.mark.parametrize("module", MODULES)
def test_batch_modules_import_neither_textual_nor_htcondor(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(output))
    assert module in loaded
    roots = {name.split(".")[0] for name in loaded}
    assert "textual" not in roots
    assert not roots & {"htcondor", "htcondor2", "classad2", "openstack", "astropy", "vos"}
