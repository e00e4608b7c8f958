"""The VM set-up screen: the seed's set-up commands over ssh, their output shown as it comes.

:class:`VmSetupScreen` runs :func:`canfar_tui.vm_setup.run_steps` in a worker: each line ssh
or the remote command writes is added to the log when it arrives (the dashboard never waits
for it), the first failure is one line in the status, and ``escape`` / ``ctrl+c`` stops ssh's
whole process group. When it ends, the screen stays until ``escape`` (back to the dashboard)
or, after a successful set-up, ``enter`` (log in as the new user).

With ``simulated=True`` (the sandbox) nothing is started: the screen shows what would run on a
real instance and says that nothing was sent.

| key               | action                                                      |
|-------------------|-------------------------------------------------------------|
| `escape`          | stop the running step (ssh is killed); then back            |
| `ctrl+c`          | stop the running step                                       |
| `enter`           | after a successful set-up: log in as the new user           |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Log, Static

from canfar_tui.logs import get_logger
from canfar_tui.ssh import SshStep, display_command
from canfar_tui.vm_setup import SetupResult, SshRun, run_steps, simulated_transcript

__all__ = ["VmSetupOutcome", "VmSetupScreen"]

log = get_logger("cloud")

#: How many of the session's last lines a failure keeps for its details view.
DETAIL_LINES = 60


@dataclass(frozen=True, slots=True)
class VmSetupOutcome:
    """What the screen hands back: success, the one-line result, and whether to log in."""

    ok: bool
    message: str
    login: bool = False
    simulated: bool = False
    cancelled: bool = False
    #: The last lines of the session (for the error's details view).
    details: str = ""


class VmSetupScreen(ModalScreen[VmSetupOutcome]):
    """Run (or, in the sandbox, show) the set-up steps of one instance."""

    DEFAULT_CSS = """
    VmSetupScreen {
        align: center middle;
    }
    #vm-setup-dialog {
        width: 95%;
        max-width: 140;
        height: 90%;
        padding: 0 1;
    }
    #vm-setup-status {
        padding-bottom: 1;
    }
    #vm-setup-status.-failed {
        color: $error;
    }
    #vm-setup-status.-simulated {
        color: $warning;
        text-style: bold;
    }
    #vm-setup-log {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "stop_or_close",
            "Stop / back",
            id="vm_setup.close",
            tooltip="Stop the running step; when nothing runs, back to the dashboard",
        ),
        Binding(
            "ctrl+c",
            "stop",
            "Stop",
            id="vm_setup.stop",
            tooltip="Stop the running step (kills ssh)",
            show=False,
        ),
        Binding(
            "enter",
            "login",
            "Log in",
            id="vm_setup.login",
            tooltip="Log in as the new user (after a successful set-up)",
        ),
    ]

    def __init__(
        self,
        title: str,
        steps: Sequence[SshStep],
        host: str,
        *,
        simulated: bool,
        login_user: str | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.steps = list(steps)
        self.host = host
        self.simulated = simulated
        self.login_user = login_user
        self.runner: SshRun | None = None if simulated else SshRun()
        #: Every line shown in the log, in order (what the user saw).
        self.transcript: list[str] = []
        self.result: SetupResult | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="vm-setup-dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static("", id="vm-setup-status", markup=False)
            yield Log(id="vm-setup-log", highlight=False)
            yield Label("", id="vm-setup-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#vm-setup-log", Log).focus()
        if self.simulated:
            for line in simulated_transcript(self.steps, self.host):
                self._write(line)
            status = self.query_one("#vm-setup-status", Static)
            status.add_class("-simulated")
            status.update("Sandbox: nothing was sent. This is what would run on a real instance.")
            self._hint("escape: back to the dashboard")
            return
        self.running = True
        self._hint("escape / ctrl+c: stop (kills ssh)")
        self._run()

    # ------------------------------------------------------------------ output

    def _write(self, line: str) -> None:
        self.transcript.append(line)
        self.query_one("#vm-setup-log", Log).write_line(line)

    def _hint(self, text: str) -> None:
        self.query_one("#vm-setup-hint", Label).update(text)

    def _status(self, text: str, *, failed: bool = False) -> None:
        status = self.query_one("#vm-setup-status", Static)
        status.set_class(failed, "-failed")
        status.update(text)

    def _line(self, line: str, from_stderr: bool) -> None:
        self._write(line)

    def _step_started(self, index: int, step: SshStep) -> None:
        total = len(self.steps)
        self._status(f"{index + 1}/{total}: {step.description}…")
        self._write(f"── {index + 1}/{total} {step.description}")
        self._write(f"$ {display_command(step.argv)}")

    # ------------------------------------------------------------------ the run

    @work(exclusive=True, group="vm-setup", exit_on_error=False)
    async def _run(self) -> None:
        assert self.runner is not None
        try:
            result = await run_steps(
                self.steps,
                self.host,
                self.runner,
                on_line=self._line,
                on_step=self._step_started,
            )
        finally:
            self.running = False
        self.result = result
        if result.ok:
            self._write(f"── done: {len(result.done)} step(s) succeeded")
            self._status(f"Done: {self.host} is set up.")
            if self.login_user:
                self._hint(f"enter: log in as {self.login_user}, escape: back to the dashboard")
            else:
                self._hint("escape: back to the dashboard")
            return
        log.info("VM set-up on %s: %s", self.host, result.message)
        self._write(f"── {result.message}")
        remaining = len(self.steps) - len(result.done) - 1
        if remaining > 0:
            self._write(f"── the remaining {remaining} step(s) were not run")
        self._status(
            ("Cancelled: " if result.cancelled else "Failed: ") + result.message, failed=True
        )
        self._hint("escape: back to the dashboard")

    def outcome(self, *, login: bool = False) -> VmSetupOutcome:
        """The one-line result of what happened so far."""
        if self.simulated:
            return VmSetupOutcome(
                True,
                f"Sandbox: nothing was sent to {self.host} ({len(self.steps)} command(s) "
                "shown, not run).",
                simulated=True,
            )
        result = self.result
        if result is None:
            return VmSetupOutcome(False, "the set-up did not run", cancelled=True)
        if result.ok:
            return VmSetupOutcome(True, f"{self.host} is set up.", login=login)
        return VmSetupOutcome(
            False,
            result.message,
            cancelled=result.cancelled,
            details="\n".join(self.transcript[-DETAIL_LINES:]),
        )

    # ------------------------------------------------------------------ keys

    def action_stop(self) -> None:
        if self.running and self.runner is not None:
            self.runner.cancel()
            self._status("Stopping ssh…", failed=True)

    def action_stop_or_close(self) -> None:
        if self.running:
            self.action_stop()
            return
        self.dismiss(self.outcome())

    def action_login(self) -> None:
        if self.running or self.simulated or not self.login_user:
            return
        if self.result is not None and self.result.ok:
            self.dismiss(self.outcome(login=True))
