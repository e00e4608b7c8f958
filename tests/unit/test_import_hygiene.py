"""The client layer and the detection engine import no Textual, and no heavy SDK at import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEADLESS_MODULES = [
    "canfar_tui.clients",
    "canfar_tui.clients.base",
    "canfar_tui.clients.refresh",
    "canfar_tui.clients.bundle",
    "canfar_tui.clients.archive.base",
    "canfar_tui.clients.archive.cadc",
    "canfar_tui.clients.archive.sandbox",
    "canfar_tui.clients.cloud.openstack",
    "canfar_tui.clients.queue.condor.client",
    "canfar_tui.clients.queue.condor.worker",
    "canfar_tui.clients.queue.actions",
    "canfar_tui.clients.queue.sandbox.queue",
    "canfar_tui.batch",
    "canfar_tui.batch.pipeline_inputs",
    "canfar_tui.batch.run_state",
    "canfar_tui.cli.submit",
    "canfar_tui.clients.cloud.sandbox",
    "canfar_tui.detection",
    "canfar_tui.models",
    "canfar_tui.config",
    "canfar_tui.cli.status",
    "canfar_tui.ssh",
    "canfar_tui.vm_setup",
    "canfar_tui.preferences",
    "canfar_tui.widgets.table_model",
    "canfar_tui.widgets.queue.rows",
]

HEAVY = ["openstack", "astropy", "vos", "sep", "htcondor2", "htcondor"]


def modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(output))


@pytest.mark.parametrize("module", HEADLESS_MODULES)
def test_headless_module_does_not_import_textual(module: str) -> None:
    loaded = modules_after_import(module)
    assert module in loaded
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


@pytest.mark.parametrize("module", ["canfar_tui.app", "canfar_tui.cli.main"])
def test_first_screen_does_not_wait_for_heavy_imports(module: str) -> None:
    loaded = modules_after_import(module)
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY)
    assert heavy == []


def test_the_check_itself_sees_textual_when_it_is_imported() -> None:
    assert "textual" in modules_after_import("canfar_tui.app")


OPTIONAL_COLUMN_MODULES = {
    "canfar_tui.detection.windowed",
    "canfar_tui.detection.world",
    "canfar_tui.detection.classstar",
    "canfar_tui.detection.photom_extra",
}


def test_engine_leaves_the_optional_column_modules_to_the_columns_that_need_them() -> None:
    """Every worker imports the engine before its first CCD: only what every run needs."""
    loaded = modules_after_import("canfar_tui.detection.engine")
    assert "canfar_tui.detection.columns" in loaded
    assert sorted(OPTIONAL_COLUMN_MODULES & loaded) == []
    loaded = modules_after_import("canfar_tui.detection.engine, canfar_tui.detection.windowed")
    assert "canfar_tui.detection.windowed" in loaded  # the check sees them when they are
