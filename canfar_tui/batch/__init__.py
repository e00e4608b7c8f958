"""CANFAR batch submission without Textual: canfar_submit's rewrite, its lint and its forms.

* :mod:`~canfar_tui.batch.rewrite` — :func:`canfar_description`: the submit description CANFAR's
  batch system needs for a snapshot and a flavor, with the list of changes for the preview;
* :mod:`~canfar_tui.batch.lint` — :func:`lint_submit`: every problem of a submit file with its
  line number, and the dry run (the jobs it queues);
* :mod:`~canfar_tui.batch.canfar_submit` — :func:`detect_canfar_submit`: an installed
  ``canfar_submit`` and which of its two forms (0.3.x / 0.4.x) it accepts;
* :mod:`~canfar_tui.batch.choices` — which snapshots, flavors and proxy certificate to offer;
* :mod:`~canfar_tui.batch.joblog` — a job's file tails, ClassAd summary and why it is idle;
* :mod:`~canfar_tui.cli.submit` — ``canfar-tui submit SUBFILE IMAGE FLAVOR [--dry-run]``.

Nothing here imports Textual; ``htcondor2`` is imported only when a file is expanded.
"""

from __future__ import annotations

from canfar_tui.batch.canfar_submit import (
    CanfarSubmit,
    SubmitForm,
    detect_canfar_submit,
    equivalent_command,
)
from canfar_tui.batch.lint import LintIssue, LintReport, lint_submit
from canfar_tui.batch.resources import flavor_from_name, flavor_requests
from canfar_tui.batch.rewrite import Change, Rewrite, canfar_description

__all__ = [
    "CanfarSubmit",
    "Change",
    "LintIssue",
    "LintReport",
    "Rewrite",
    "SubmitForm",
    "canfar_description",
    "detect_canfar_submit",
    "equivalent_command",
    "flavor_from_name",
    "flavor_requests",
    "lint_submit",
]
