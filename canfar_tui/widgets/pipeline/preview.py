"""The Pipeline tab's lint: the files in the editors checked as they are typed.

A pause in the typing (:data:`PREVIEW_DELAY`) starts :func:`~canfar_tui.batch.lint.lint_submit`
in a thread on the submit file (with the job script written into a draft folder next to it,
for the executable check) and ``bash -n`` on the script; the problems and the dry run's jobs
are shown under the editors, unless the files changed meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from rich.text import Text
from textual import work
from textual.widgets import Static

from canfar_tui.batch.lint import lint_submit
from canfar_tui.batch.pipeline_inputs import script_syntax_problems
from canfar_tui.clients.files import atomic_write
from canfar_tui.logs import get_logger
from canfar_tui.widgets.pipeline.base import LintInputs, LintPreview, PipelineBase

__all__ = ["DRY_RUN_SHOWN", "PREVIEW_DELAY", "PreviewPart"]

log = get_logger("pipeline")

#: Seconds of quiet typing before the files are linted again.
PREVIEW_DELAY: Final = 0.25
#: Jobs whose arguments the dry-run line lists.
DRY_RUN_SHOWN: Final = 6


class PreviewPart(PipelineBase):
    """The lint of the job script and the submit file, shown under the editors."""

    def current_inputs(self) -> LintInputs:
        script, submit = self._editor_texts()
        image = self.selected_image
        spec = self.spec
        return LintInputs(
            script,
            submit,
            spec.script_name if spec is not None else "do_catalogue.bash",
            image.name if image is not None else None,
            self.selected_flavor,
            self.proxy_problem,
        )

    @property
    def preview_current(self) -> bool:
        """True when the lint on screen is the lint of what is in the editors."""
        return self.preview is not None and self.preview.inputs == self.current_inputs()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._start_preview)

    def _start_preview(self) -> None:
        self._timer = None
        if self.generated is None:
            return
        inputs = self.current_inputs()
        if not inputs.submit.strip():
            self.preview = None
            self.query_one("#pipeline-lint", Static).update(
                Text("The submit file is empty: ctrl+g generates it again.")
            )
            return
        self._lint(inputs, self.context.settings.paths.data_dir / "pipeline" / "draft")

    @work(thread=True, exclusive=True, group="pipeline-lint", exit_on_error=False)
    def _lint(self, inputs: LintInputs, draft: Path) -> None:
        # The lint checks that the executable exists next to the submit file: the draft
        # folder holds the script as it is in the editor.
        try:
            atomic_write(draft / inputs.script_name, inputs.script, mode=0o755, folder_mode=0o777)
        except OSError as error:
            log.warning("cannot write the draft script: %s", error)
        report = lint_submit(
            inputs.submit,
            submit_dir=draft,
            flavor=inputs.flavor,
            image=inputs.image,
            proxy_problem=inputs.proxy_problem,
        )
        problems = tuple(script_syntax_problems(inputs.script))
        self.app.call_from_thread(self._preview_ready, LintPreview(inputs, report, problems))

    def _preview_ready(self, preview: LintPreview) -> None:
        if preview.inputs != self.current_inputs():
            return  # typed on meanwhile: a newer lint is on its way
        self.preview = preview
        report = preview.report
        lines: list[Text] = []
        head = Text()
        head.append(f"Lint: {report.summary()}", style="bold")
        if report.jobs:
            count = len(report.jobs)
            shown = ", ".join(job.arguments or "—" for job in report.jobs[:DRY_RUN_SHOWN])
            more = f", … {count - DRY_RUN_SHOWN} more" if count > DRY_RUN_SHOWN else ""
            head.append(f" · dry run: {count} job{'s' if count != 1 else ''}: {shown}{more}")
        lines.append(head)
        for issue in report.issues:
            mark = "✗" if issue.severity == "error" else "!"
            lines.append(Text(f"  {mark} submit file {issue}"))
        for problem in preview.script_problems:
            lines.append(Text(f"  ✗ script: {problem}"))
        self.query_one("#pipeline-lint", Static).update(Text("\n").join(lines))
