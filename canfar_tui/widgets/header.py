"""The one-line status header.

Shows, left to right: the app name, the profile ▸ the active project, the mode badge (SANDBOX
or the cloud's name), READ-ONLY when set, the certificate's time left (a warning under 24
hours), ⟳ the time of the last successful refresh of the visible tab and, when that refresh
failed, a STALE marker. Kept short enough for 80 columns.
"""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label


class StatusHeader(Horizontal):
    """Profile, project, mode, certificate, last refresh and staleness, on one line."""

    profile: reactive[str] = reactive("")
    project: reactive[str] = reactive("—")
    mode: reactive[str] = reactive("")
    certificate: reactive[str] = reactive("—")
    certificate_warning: reactive[bool] = reactive(False)
    last_refresh: reactive[datetime | None] = reactive(None)
    stale: reactive[bool] = reactive(False)
    read_only: reactive[bool] = reactive(False)

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
        self.query_one("#header-profile", Label).update(self.profile)
        self.query_one("#header-project", Label).update(f"▸ {self.project}")
        self.query_one("#header-mode", Label).update(self.mode)
        mode = self.query_one("#header-mode", Label)
        mode.set_class(self.mode == "SANDBOX", "sandbox")
        readonly = self.query_one("#header-readonly", Label)
        readonly.update("READ-ONLY")
        readonly.display = self.read_only
        cert = self.query_one("#header-cert", Label)
        cert.update(f"cert {self.certificate}")
        cert.set_class(self.certificate_warning, "warning")
        when = self.last_refresh.strftime("%H:%M:%S") if self.last_refresh else "—"
        self.query_one("#header-refresh", Label).update(f"⟳ {when}")
        self.query_one("#header-stale", Label).display = self.stale

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
