"""The dashboard's row of tab titles and its underline, drawn by one widget.

Textual's ``TabbedContent`` builds a widget for every title, a pane for every tab, a scroll
container and an underline (about twenty widgets) and restyles them all on the first paint:
that was the largest single cost of starting canfar-tui. :class:`TabBar` draws the same two
lines itself; the dashboard keeps the tabs' views in a ``ContentSwitcher``, each mounted the
first time its tab is shown. Clicking a title selects its tab; the number keys do it from
the keyboard (the app's bindings). The tutorial marks the tab of its current step
(:meth:`TabBar.set_target`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.renderables.bar import Bar
from textual.widget import Widget

__all__ = ["TabBar"]


class TabBar(Widget, can_focus=False):
    """Tab titles on one line, the active one underlined on the next."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tab-bar--tab",
        "tab-bar--active",
        "tab-bar--hover",
        "tab-bar--target",
        "tab-bar--underline",
    }
    DEFAULT_CSS = """
    TabBar {
        width: 1fr;
        height: 2;
    }
    TabBar > .tab-bar--tab {
        color: $foreground 50%;
    }
    TabBar > .tab-bar--active {
        color: $foreground;
    }
    TabBar > .tab-bar--hover {
        color: $foreground;
    }
    TabBar > .tab-bar--target {
        text-style: bold reverse;
    }
    TabBar > .tab-bar--underline {
        color: $block-cursor-background;
        background: $foreground 10%;
    }
    """

    class Changed(Message):
        """Another tab was selected (by a click or by setting :attr:`TabBar.active`)."""

        def __init__(self, tab_bar: TabBar, tab_id: str) -> None:
            super().__init__()
            self.tab_bar = tab_bar
            self.tab_id = tab_id

        @property
        def control(self) -> TabBar:
            return self.tab_bar

    def __init__(
        self, tabs: Sequence[tuple[str, str]], *, active: str, id: str | None = None
    ) -> None:
        """``tabs`` are (tab id, title) pairs in display order; ``active`` is a tab id."""
        super().__init__(id=id)
        self.tabs = tuple(tabs)
        if active not in self.tab_ids:
            raise ValueError(f"no tab {active!r}")
        self._active = active
        self._target: str | None = None
        self._hover: str | None = None

    @property
    def tab_ids(self) -> list[str]:
        return [tab_id for tab_id, _ in self.tabs]

    @property
    def active(self) -> str:
        """The selected tab's id; setting another one posts :class:`TabBar.Changed`."""
        return self._active

    @active.setter
    def active(self, tab_id: str) -> None:
        if tab_id not in self.tab_ids:
            raise ValueError(f"no tab {tab_id!r}")
        if tab_id != self._active:
            self._active = tab_id
            self.refresh()
            self.post_message(self.Changed(self, tab_id))

    @property
    def target(self) -> str | None:
        """The tab the tutorial points at (drawn highlighted), or None."""
        return self._target

    def set_target(self, tab_id: str | None) -> None:
        if tab_id != self._target:
            self._target = tab_id
            self.refresh()

    def span(self, tab_id: str) -> tuple[int, int]:
        """The cells of a tab's title, padding included: ``start`` to ``end`` (excluded)."""
        start = 0
        for tid, title in self.tabs:
            end = start + len(title) + 2
            if tid == tab_id:
                return start, end
            start = end
        raise ValueError(f"no tab {tab_id!r}")

    def tab_at(self, x: int) -> str | None:
        """The tab whose title covers cell ``x`` of the bar, if any."""
        for tab_id, _ in self.tabs:
            start, end = self.span(tab_id)
            if start <= x < end:
                return tab_id
        return None

    def render(self) -> RenderableType:
        titles = Text(no_wrap=True, overflow="crop", end="\n")
        plain = self.get_component_rich_style("tab-bar--tab")
        active = self.get_component_rich_style("tab-bar--active")
        hover = self.get_component_rich_style("tab-bar--hover")
        target = self.get_component_rich_style("tab-bar--target")
        for tab_id, title in self.tabs:
            style = active if tab_id == self._active else plain
            if tab_id == self._hover:
                style += hover
            if tab_id == self._target:
                style += target
            titles.append(f" {title} ", style)
        bar = self.get_component_rich_style("tab-bar--underline")
        start, end = self.span(self._active)
        return Group(
            titles,
            Bar(
                highlight_range=(start + 1, end - 1),  # under the title, not its padding
                highlight_style=Style.from_color(bar.color),
                background_style=Style.from_color(bar.bgcolor),
            ),
        )

    def on_click(self, event: events.Click) -> None:
        tab_id = self.tab_at(event.x)
        if tab_id is not None:
            event.stop()
            self.active = tab_id

    def on_mouse_move(self, event: events.MouseMove) -> None:
        tab_id = self.tab_at(event.x) if event.y == 0 else None
        if tab_id != self._hover:
            self._hover = tab_id
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()
