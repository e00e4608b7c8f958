"""The one-line status header.

Shows, left to right: the app name, the profile ▸ the active project, the mode badge (SANDBOX
or the cloud's name), READ-ONLY when set, the certificate's time left (a warning under 24
hours), ⟳ the time of the last successful refresh of the visible tab and, when that refresh
failed, a STALE marker. At 80 columns everything fits: when it would not (READ-ONLY, a long
project name), the app name goes first, so the clock is never cut. A click on the SANDBOX
badge opens the login screen (the app's ``login`` action).

The header is one widget painting one line of styled text (not a row of eight labels): it is
on screen from the first paint, and eight widgets to style and lay out were a visible share
of the start. Each part's look is a component class (``header--app``, ``header--badge``…).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["HeaderPart", "StatusHeader"]


class HeaderPart(NamedTuple):
    """One part of the header line as shown: its name, its text (padding included), the
    component class that styles it (``header--text``: the header's own colours), and its first
    and past-the-last columns."""

    name: str
    text: str
    component: str
    start: int
    end: int


class StatusHeader(Widget):
    """Profile, project, mode, certificate, last refresh and staleness, on one line.

    A change of any reactive repaints the line only when its text or look changed, so that
    a refresh over SSH sends the new time, not the same line again.
    """

    COMPONENT_CLASSES = {
        "header--app",
        "header--badge",
        "header--sandbox",
        "header--readonly",
        "header--stale",
        "header--cert-warning",
    }

    profile: reactive[str] = reactive("", repaint=False)
    project: reactive[str] = reactive("—", repaint=False)
    mode: reactive[str] = reactive("", repaint=False)
    certificate: reactive[str] = reactive("—", repaint=False)
    certificate_warning: reactive[bool] = reactive(False, repaint=False)
    last_refresh: reactive[datetime | None] = reactive(None, repaint=False)
    stale: reactive[bool] = reactive(False, repaint=False)
    read_only: reactive[bool] = reactive(False, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[HeaderPart, ...] = ()

    def _wanted(self) -> list[tuple[str, str, str]]:
        """(name, text with its padding, component) of every part that would be shown."""
        when = self.last_refresh.strftime("%H:%M:%S") if self.last_refresh else "—"
        mode_component = "header--sandbox" if self.mode == "SANDBOX" else "header--badge"
        cert_component = "header--cert-warning" if self.certificate_warning else "header--text"
        parts = [
            ("app", " canfar-tui ", "header--app"),
            ("profile", f" {self.profile}", "header--text"),
            ("project", f" ▸ {self.project} ", "header--text"),
            ("mode", f" {self.mode} ", mode_component),
        ]
        if self.read_only:
            parts.append(("readonly", " READ-ONLY ", "header--readonly"))
        parts += [
            ("cert", f" cert {self.certificate} ", cert_component),
            ("refresh", f" ⟳ {when} ", "header--text"),
        ]
        if self.stale:
            parts.append(("stale", " STALE ", "header--stale"))
        return parts

    def parts(self) -> tuple[HeaderPart, ...]:
        """The parts shown, left to right, with their columns.

        The app name goes when the line would not fit otherwise (the clock stays).
        """
        wanted = self._wanted()
        width = self.size.width or self.app.size.width
        if sum(cell_len(text) for _, text, _ in wanted) > width:
            wanted = wanted[1:]
        shown: list[HeaderPart] = []
        column = 0
        for name, text, component in wanted:
            cells = cell_len(text)
            shown.append(HeaderPart(name, text, component, column, column + cells))
            column += cells
        return tuple(shown)

    def part(self, name: str) -> HeaderPart | None:
        """The part called ``name`` as shown (None when hidden)."""
        return next((part for part in self.parts() if part.name == name), None)

    def render(self) -> Text:
        styles: dict[str, Style] = {}
        text = Text(no_wrap=True, overflow="crop", end="")
        for part in self.parts():
            if part.component not in styles:
                styles[part.component] = (
                    Style.null()
                    if part.component == "header--text"
                    else self.get_component_rich_style(part.component)
                )
            text.append(part.text, styles[part.component])
        return text

    def _render_all(self) -> None:
        if not self.is_mounted:
            return
        shown = self.parts()
        if shown != self._shown:
            self._shown = shown
            self.refresh()
        badge = self.part("mode")
        self.tooltip = (
            "Click the SANDBOX badge to log in with your CADC account"
            if badge is not None and self.mode == "SANDBOX"
            else None
        )

    def on_mount(self) -> None:
        self._render_all()

    def on_resize(self, event: events.Resize) -> None:
        self._render_all()

    async def on_click(self, event: events.Click) -> None:
        """A click on the SANDBOX badge offers the login screen."""
        badge = self.part("mode")
        if self.mode == "SANDBOX" and badge is not None and badge.start <= event.x < badge.end:
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
