"""The one-line status header.

Shows, left to right: the app name, the profile ▸ the active project, the mode badge (SANDBOX
or the cloud's name), READ-ONLY when set, the certificate's time left (a warning under 24
hours), ⟳ the time of the last successful refresh of the visible tab and, when that refresh
failed, a STALE marker. At 80 columns everything fits: when it would not (READ-ONLY, a long
project name), the app name goes first, so the clock is never cut. A click on the SANDBOX
badge opens the login screen (the app's ``login`` action).
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label

from canfar_tui.widgets.cells import set_text as _set_text


class StatusHeader(Horizontal):
    """Profile, project, mode, certificate, last refresh and staleness, on one line.

    The reactives do not repaint the header itself: each change updates only the labels whose
    text changed, so that a refresh over SSH sends the new time, not the whole line.
    """

    profile: reactive[str] = reactive("", repaint=False)
    project: reactive[str] = reactive("—", repaint=False)
    mode: reactive[str] = reactive("", repaint=False)
    certificate: reactive[str] = reactive("—", repaint=False)
    certificate_warning: reactive[bool] = reactive(False, repaint=False)
    last_refresh: reactive[datetime | None] = reactive(None, repaint=False)
    stale: reactive[bool] = reactive(False, repaint=False)
    read_only: reactive[bool] = reactive(False, repaint=False)

    def compose(self) -> ComposeResult:
        yield Label("canfar-tui", id="header-app")
        yield Label("", id="header-profile")
        yield Label("", id="header-project")
        yield Label("", id="header-mode", classes="badge")
        yield Label("", id="header-readonly", classes="badge")
        yield Label("", id="header-cert")
        yield Label("", id="header-refresh")
        yield Label("STALE", id="header-stale", classes="badge")

    def on_mount(self) -> None:
        self._render_all()

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        when = self.last_refresh.strftime("%H:%M:%S") if self.last_refresh else "—"
        _set_text(self.query_one("#header-profile", Label), self.profile)
        _set_text(self.query_one("#header-project", Label), f"▸ {self.project}")
        mode = self.query_one("#header-mode", Label)
        _set_text(mode, self.mode)
        mode.set_class(self.mode == "SANDBOX", "sandbox")
        mode.tooltip = "Click to log in with your CADC account" if self.mode == "SANDBOX" else None
        readonly = self.query_one("#header-readonly", Label)
        _set_text(readonly, "READ-ONLY")
        readonly.display = self.read_only
        cert = self.query_one("#header-cert", Label)
        _set_text(cert, f"cert {self.certificate}")
        cert.set_class(self.certificate_warning, "warning")
        _set_text(self.query_one("#header-refresh", Label), f"⟳ {when}")
        self.query_one("#header-stale", Label).display = self.stale
        self._fit()

    def _fit(self) -> None:
        """Hide the app name when the line would not fit otherwise (the clock stays)."""
        width = self.size.width or self.app.size.width
        others = [label for label in self.query(Label) if label.id != "header-app"]
        needed = sum(
            cell_len(str(label.content)) + label.styles.padding.width
            for label in others
            if label.display
        )
        name = self.query_one("#header-app", Label)
        name.display = needed + cell_len(str(name.content)) + name.styles.padding.width <= width

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    async def on_click(self, event: events.Click) -> None:
        """A click on the SANDBOX badge offers the login screen."""
        if self.mode == "SANDBOX" and event.widget is not None and event.widget.id == "header-mode":
            event.stop()
            await self.app.run_action("login")

    def watch_profile(self) -> None:
        self._render_all()

    def watch_project(self) -> None:
        self._render_all()

    def watch_mode(self) -> None:
        self._render_all()

    def watch_certificate(self) -> None:
        self._render_all()

    def watch_certificate_warning(self) -> None:
        self._render_all()

    def watch_last_refresh(self) -> None:
        self._render_all()

    def watch_stale(self) -> None:
        self._render_all()

    def watch_read_only(self) -> None:
        self._render_all()
