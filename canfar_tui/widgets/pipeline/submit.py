"""The Pipeline tab's submission: the files into a new run folder, then onto the queue.

``ctrl+s`` writes the job script and the submit file as they are in the editors into a new
folder under ``pipeline/runs/`` and submits them with ``canfar_submit``'s rewrite
(:func:`~canfar_tui.batch.rewrite.canfar_description`), then shows the batch on the Queue
tab; ``r`` submits the IDs that failed in the last run again, alone.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime
from pathlib import Path

from textual import work

from canfar_tui.batch.canfar_submit import detect_canfar_submit
from canfar_tui.batch.choices import find_flavor, find_image
from canfar_tui.batch.lint import LintReport, lint_submit
from canfar_tui.batch.pipeline import (
    PipelineError,
    PipelineSpec,
    job_script,
    submit_file,
    validate_ids,
)
from canfar_tui.batch.pipeline_run import Arrived
from canfar_tui.batch.rewrite import canfar_description
from canfar_tui.batch.run_state import PipelineRun
from canfar_tui.batch.submission import choose_route, submit_batch
from canfar_tui.clients.base import ClientError
from canfar_tui.clients.files import atomic_write
from canfar_tui.models import Flavor, Image, SubmitResult
from canfar_tui.widgets.pipeline.base import LintPreview
from canfar_tui.widgets.pipeline.outcome import OutcomePart

__all__ = ["SubmitPart"]


class SubmitPart(OutcomePart):
    """Submitting the files (``ctrl+s``) and the failed IDs again (``r``)."""

    def action_submit(self) -> None:
        context = self.context
        if context.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        queue = context.clients.queue
        if queue is None:
            self.notify(context.clients.why_missing("queue"), severity="warning")
            return
        if self.submitting:
            return
        if self.generated is None or self.spec is None:
            self.action_generate()
            if self.generated is not None:
                self.notify("Review the job script and the submit file, then ctrl+s again.")
            return
        try:
            form = self.form_spec()
        except PipelineError as error:
            self.notify(str(error), title="Pipeline", severity="error")
            return
        if form != self.spec:
            self.notify(
                "The form changed after the files were generated: ctrl+g generates them again.",
                title="Pipeline",
                severity="warning",
            )
            return
        preview = self.preview
        if preview is None or preview.inputs != self.current_inputs():
            self.notify("Still checking the files; try again in a moment.")
            self._schedule()
            return
        image, flavor = self.selected_image, self.selected_flavor
        if image is None or flavor is None:
            self.notify("Choose a snapshot and a flavor first.", severity="warning")
            return
        problem = self._blocking_problem(preview)
        if problem is not None:
            self.notify(problem, title="Fix the files first", severity="error")
            return
        ids = self._submitted_ids(preview.report, self.spec)
        spec = self.spec if ids == self.spec.ids else self.spec.only(ids)
        self.submitting = True
        self._submit(
            spec,
            preview.inputs.script,
            preview.inputs.submit,
            image,
            flavor,
            order=self.spec.ids,
            kept=(),
        )

    @staticmethod
    def _blocking_problem(preview: LintPreview) -> str | None:
        if not preview.report.ok:
            first = preview.report.errors[0]
            count = len(preview.report.errors)
            return f"submit file {first}" + (f" (and {count - 1} more)" if count > 1 else "")
        if preview.script_problems:
            return f"script: {preview.script_problems[0]}"
        return None

    @staticmethod
    def _submitted_ids(report: LintReport, spec: PipelineSpec) -> tuple[str, ...]:
        """The IDs the submit file queues (its dry run), when they are plain IDs."""
        arguments = [job.arguments.strip() for job in report.jobs]
        try:
            return validate_ids(arguments)
        except PipelineError:
            return spec.ids

    def _new_run_dir(self, name: str) -> Path:
        runs = self.context.settings.paths.data_dir / "pipeline" / "runs"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 100):
            suffix = "" if attempt == 1 else f"-{attempt}"
            candidate = runs / f"{stamp}-{name}{suffix}"
            try:
                candidate.mkdir(parents=True)
            except FileExistsError:
                continue
            return candidate
        raise OSError(f"cannot make a new run folder in {runs}")

    @work(exclusive=True, group="pipeline-submit", exit_on_error=False)
    async def _submit(
        self,
        spec: PipelineSpec,
        script: str,
        submit: str,
        image: Image,
        flavor: Flavor,
        *,
        order: tuple[str, ...],
        kept: tuple[Arrived, ...],
    ) -> None:
        context = self.context
        queue = context.clients.queue
        profile = context.settings.profile
        found = None if profile.is_sandbox else await asyncio.to_thread(detect_canfar_submit)
        route = choose_route(found, sandbox=profile.is_sandbox)
        if queue is None and route.canfar_submit is None:
            self.submitting = False
            return
        try:
            folder = await asyncio.to_thread(self._new_run_dir, spec.name)
        except OSError as error:
            self.submitting = False
            message = f"cannot make the submit folder: {error.strerror or error}"
            self.notify(message, title="Submit failed", severity="error", timeout=12)
            return
        try:

            def write() -> LintReport:
                atomic_write(folder / spec.script_name, script, mode=0o755, folder_mode=0o777)
                atomic_write(folder / spec.submit_name, submit, mode=0o644, folder_mode=0o777)
                return lint_submit(
                    submit, submit_dir=folder, flavor=flavor, image=image.name, expand=False
                )

            report = await asyncio.to_thread(write)
            if not report.ok:
                raise PipelineError(f"submit file {report.errors[0]}")
            rewrite = canfar_description(submit, image.name, flavor, proxy=self.proxy)
            result = await submit_batch(
                route,
                queue,
                job_file=folder / spec.submit_name,
                rewritten=rewrite.text,
                image=image.name,
                flavor=flavor.name,
                openrc=profile.openrc,
                password_provider=context.password_provider,
            )
        except (ClientError, OSError, PipelineError) as error:
            # Nothing half-written stays: the run folder goes with the failed submission.
            await asyncio.to_thread(shutil.rmtree, folder, True)
            if isinstance(error, ClientError):
                message = error.message
            elif isinstance(error, OSError):
                message = f"cannot write the submit folder: {error.strerror or error}"
            else:
                message = str(error)
            self.notify(message, title="Submit failed", severity="error", timeout=12)
            return
        finally:
            self.submitting = False
        run = PipelineRun(
            spec=spec,
            submit_dir=folder,
            cluster=result.cluster,
            num_jobs=result.num_jobs,
            batch_name=result.batch_name,
            image=image.name,
            flavor=flavor.name,
            ids=spec.ids,
            order=order,
            kept=kept,
        )
        self._start_run(run)
        await self._jump_to_queue(result)

    async def _jump_to_queue(self, result: SubmitResult) -> None:
        from canfar_tui.widgets.queue.view import QueueView

        context = self.context
        queue_view = await context.navigation.ensure_view("queue")
        if isinstance(queue_view, QueueView):
            queue_view.submitted(result)
        context.navigation.show_tab("queue")

    def action_resubmit(self) -> None:
        context = self.context
        if context.read_only:
            self.notify("Read-only mode: nothing can be submitted.", severity="warning")
            return
        if context.clients.queue is None:
            self.notify(context.clients.why_missing("queue"), severity="warning")
            return
        run = self.run
        combined = run.combined() if run is not None else None
        if run is None or combined is None:
            self.notify("The last batch has not finished yet.")
            return
        failed = combined.to_resubmit()
        if not failed:
            self.notify("Nothing failed in the last batch.")
            return
        if self.submitting:
            return
        image = find_image(self.images.values(), run.image)
        flavor = find_flavor(self.flavors.values(), run.flavor)
        if image is None or flavor is None:
            missing = run.image if image is None else run.flavor
            self.notify(
                f"{missing} is no longer offered: choose another in the form, ctrl+g, ctrl+s.",
                title="Resubmit",
                severity="error",
            )
            return
        try:
            script = (run.submit_dir / run.spec.script_name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            script = job_script(run.spec)
        retry = run.spec.only(failed)
        self.submitting = True
        self._submit(
            retry,
            script,
            submit_file(retry, proxy=self.job_proxy),
            image,
            flavor,
            order=run.order,
            kept=combined.arrived,
        )
