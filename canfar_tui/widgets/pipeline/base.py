"""The Pipeline tab's state and the widgets every part of it reads.

:class:`PipelineBase` holds what the form, the lint, the submission and the run share (the
spec and files generated, the lint on screen, the run, the cloud's choices, the proxy) and
reads the editors and the chosen snapshot and flavor. The parts build on it in this order:
:mod:`~canfar_tui.widgets.pipeline.preview` (the lint),
:mod:`~canfar_tui.widgets.pipeline.inputs` (the form),
:mod:`~canfar_tui.widgets.pipeline.outcome` (the run and its outcome),
:mod:`~canfar_tui.widgets.pipeline.submit` (submit and resubmit), and
:mod:`~canfar_tui.widgets.pipeline.view` puts them on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Select, TextArea

from canfar_tui.batch.lint import LintReport
from canfar_tui.batch.pipeline import PipelineSpec
from canfar_tui.batch.pipeline_detect import BatchDetect
from canfar_tui.batch.run_state import PipelineRun
from canfar_tui.detection.params import DEFAULT_COLUMNS
from canfar_tui.models import Flavor, Image, Instance
from canfar_tui.widgets.context import ViewContext
from canfar_tui.widgets.resource_table import ResourceTable

__all__ = ["LintInputs", "LintPreview", "PipelineBase"]


@dataclass(frozen=True, slots=True)
class LintInputs:
    """What the lint depends on (compared to know whether a preview is current)."""

    script: str
    submit: str
    script_name: str
    image: str | None
    flavor: Flavor | None
    proxy_problem: str | None


@dataclass(frozen=True, slots=True)
class LintPreview:
    """The lint of one :class:`LintInputs`: the submit file's report, the script's problems."""

    inputs: LintInputs
    report: LintReport
    script_problems: tuple[str, ...]


class PipelineBase(Vertical):
    """The Pipeline tab's state, its editors and its snapshot and flavor choices."""

    def __init__(self, context: ViewContext, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.context = context
        self.active = False
        self.spec: PipelineSpec | None = None
        self.generated: tuple[str, str] | None = None
        self.preview: LintPreview | None = None
        self.run: PipelineRun | None = None
        self.images: dict[str, Image] = {}
        self.flavors: dict[str, Flavor] = {}
        self.instances: dict[str, Instance] = {}
        #: The IDs of the snapshots the user marked as having canfar-tui (preferences).
        self.canfar_tui_images: frozenset[str] = frozenset()
        self.choices_loaded = False
        self.proxy: Path | None = None
        self.proxy_problem: str | None = None
        self.submitting = False
        self._timer: Timer | None = None
        #: The overrides text last taken from the Detect tab (refreshed while not edited).
        self._detect_text: str | None = None
        #: The Detect tab's setup as the job takes it (columns, files, format) and what stops it.
        self.detect_batch = BatchDetect({}, DEFAULT_COLUMNS)
        self.detect_problem: str | None = None
        self._outcome_keys: tuple[str, ...] = ()

    @property
    def job_proxy(self) -> Path | None:
        """The certificate the generated submit file names (real profiles: the user's)."""
        return None if self.context.settings.profile.is_sandbox else self.proxy

    def focus_default(self) -> None:
        """The outcome table while it is shown, else the IDs."""
        switcher = self.query_one("#pipeline-switcher", ContentSwitcher)
        if switcher.current == "pipeline-run":
            self.query_one("#pipeline-outcome", ResourceTable).focus()
        else:
            self.query_one("#pipeline-ids", TextArea).focus()

    def _editor_texts(self) -> tuple[str, str]:
        return (
            self.query_one("#pipeline-script", TextArea).text,
            self.query_one("#pipeline-submit", TextArea).text,
        )

    @property
    def selected_image(self) -> Image | None:
        value = self.query_one("#pipeline-image", Select).value
        return self.images.get(value) if isinstance(value, str) else None

    @property
    def selected_flavor(self) -> Flavor | None:
        value = self.query_one("#pipeline-flavor", Select).value
        return self.flavors.get(value) if isinstance(value, str) else None
