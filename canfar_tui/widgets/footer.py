"""The dashboard's footer: the keys that fit on one line, the tab's own keys first.

Textual's footer lays every shown key side by side and cuts the line at the terminal's edge,
so at 80 columns a tab's own keys (and ``? Help``) fell off behind the keys every table has
(``⏎ Open``, ``s Sort``, ``/ Filter``…). :class:`DashboardFooter` chooses what fits: the
visible tab's own keys and ``? Help`` first, then ``q Quit``, then the generic table keys while
there is room; what does not fit is in ``?`` help and the command palette. Some labels are
shortened for the footer only (:data:`SHORT_LABELS`); help and the palette keep the full text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["SHORT_LABELS", "DashboardFooter", "FooterEntry", "FooterSpan", "fit_entries"]

#: Footer labels shorter than the bindings' descriptions (binding id -> label).
SHORT_LABELS: Final[dict[str, str]] = {
    "projects.use": "Use",
    "instances.associate_ip": "Assoc. IP",
    "floating_ips.associate": "Associate",
    "snapshots.use_for_batch": "For batch",
    "queue.all_users": "All",
    "vospace.mkdir": "Folder",
    "vospace.move": "Move",
    "vospace.archive_fetch": "Fetch",
    "pipeline.read_ids": "IDs file",
    "pipeline.resubmit": "Resubmit",
}

#: The binding-id prefixes of the keys every table / every resource tab has (dropped first).
GENERIC_PREFIXES: Final = ("table.", "view.")
#: Always shown: the key to the rest.
HELP_ID: Final = "app.help"


@dataclass(frozen=True, slots=True)
class FooterEntry:
    """One key as the footer would show it."""

    binding: Binding
    key_display: str
    label: str
    enabled: bool
    tooltip: str

    @property
    def width(self) -> int:
        """Cells taken in the compact footer: key, space, label, and the margin after it."""
        return cell_len(self.key_display) + 1 + cell_len(self.label) + 1

    @property
    def rank(self) -> int:
        """0: always kept; 1: the tab's own keys; 2: other app keys; 3: generic table keys."""
        binding_id = self.binding.id or ""
        if binding_id == HELP_ID:
            return 0
        if binding_id.startswith(GENERIC_PREFIXES):
            return 3
        if binding_id.startswith("app."):
            return 2
        return 1


def fit_entries(entries: Sequence[FooterEntry], width: int) -> list[FooterEntry]:
    """The entries that fit in ``width`` cells, dropping the least useful first.

    Shown in this order: the tab's own keys, the generic keys kept, then the app's keys.
    """
    kept = list(entries)
    total = sum(entry.width for entry in kept)
    for entry in sorted(kept, key=lambda e: (-e.rank, -kept.index(e))):
        if total <= width or entry.rank == 0:
            break
        kept.remove(entry)
        total -= entry.width
    order = {1: 0, 3: 1, 0: 2, 2: 3}
    return sorted(kept, key=lambda e: order[e.rank])


@dataclass(frozen=True, slots=True)
class FooterSpan:
    """Where one key is drawn on the footer line (cells ``start`` to ``end``, end excluded)."""

    key: str
    key_display: str
    label: str
    start: int
    end: int
    enabled: bool
    tooltip: str
    palette: bool = False


class DashboardFooter(Widget, can_focus=False):
    """A compact footer that shows the keys that fit, the tab's own keys first.

    One widget drawing one line (not a widget per key, as Textual's footer has): a change of
    keys is a repaint, not a recompose that restyles every key, which was the largest single
    cost of the first paint. Clicking a key presses it; hovering shows its tooltip.
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "footer--key",
        "footer--description",
        "footer--hover",
        "footer--separator",
    }
    DEFAULT_CSS = """
    DashboardFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    DashboardFooter > .footer--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    DashboardFooter > .footer--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    DashboardFooter > .footer--hover {
        background: $block-hover-background;
    }
    DashboardFooter > .footer--separator {
        color: $foreground 20%;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._bindings_ready = False
        self._signature_shown: tuple[object, ...] | None = None
        self._hover: int | None = None
        #: The keys as last drawn, left to right (the palette's last), for clicks and tests.
        self.shown: list[FooterSpan] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _entries(self) -> list[FooterEntry]:
        seen: set[str] = set()
        entries: list[FooterEntry] = []
        for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items():
            if not binding.show or binding.action in seen:
                continue
            if key == self.app.COMMAND_PALETTE_BINDING:
                continue
            seen.add(binding.action)
            label = SHORT_LABELS.get(binding.id or "", binding.description)
            entries.append(
                FooterEntry(
                    binding, self.app.get_key_display(binding), label, enabled, tooltip or ""
                )
            )
        return entries

    def _palette(self) -> FooterEntry | None:
        if not self.app.ENABLE_COMMAND_PALETTE:
            return None
        found = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if found is None:
            return None
        _, binding, enabled, tooltip = found
        return FooterEntry(
            binding,
            self.app.get_key_display(binding),
            binding.description,
            enabled,
            binding.tooltip or tooltip or binding.description,
        )

    def _layout(self) -> tuple[list[FooterEntry], FooterEntry | None]:
        """The entries that fit the footer's width, and the palette's key (or None)."""
        palette = self._palette()
        room = (self.size.width or self.app.size.width) - 1
        if palette is not None:
            room -= cell_len(palette.key_display) + cell_len(palette.label) + 3
        return fit_entries(self._entries(), room), palette

    @staticmethod
    def _signature(
        entries: Sequence[FooterEntry], palette: FooterEntry | None
    ) -> tuple[object, ...]:
        keys = tuple((e.binding.key, e.key_display, e.label, e.enabled) for e in entries)
        return (keys, palette is not None and palette.enabled)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """Repaint only when what the footer shows changes (focus moves change nothing)."""
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if self._signature(*self._layout()) != self._signature_shown:
            self.refresh()

    def render(self) -> Text:
        line = Text(no_wrap=True, overflow="crop", end="")
        self.shown = []
        if not self._bindings_ready:
            self._signature_shown = None
            return line
        entries, palette = self._layout()
        self._signature_shown = self._signature(entries, palette)
        key_style = self.get_component_rich_style("footer--key")
        label_style = self.get_component_rich_style("footer--description")
        hover_style = self.get_component_rich_style("footer--hover")

        def draw(entry: FooterEntry, *, is_palette: bool = False) -> None:
            start = line.cell_len
            dim = Style(dim=True) if not entry.enabled else Style()
            line.append(entry.key_display, key_style + dim)
            line.append(" " + entry.label, label_style + dim)
            span = FooterSpan(
                entry.binding.key,
                entry.key_display,
                entry.label,
                start,
                line.cell_len,
                entry.enabled,
                entry.tooltip or entry.binding.description,
                is_palette,
            )
            if self._hover == len(self.shown):
                line.stylize(hover_style, start, line.cell_len)
            self.shown.append(span)

        for entry in entries:
            draw(entry)
            line.append(" ")
        if palette is not None:
            width = cell_len(palette.key_display) + 1 + cell_len(palette.label)
            line.truncate(max(0, self.size.width - width - 2), pad=True)
            line.append("▏", self.get_component_rich_style("footer--separator"))
            draw(palette, is_palette=True)
            line.append(" ")
        return line

    def _span_at(self, x: int) -> int | None:
        for index, span in enumerate(self.shown):
            if span.start <= x < span.end:
                return index
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = self._span_at(event.x)
        if index != self._hover:
            self._hover = index
            self.tooltip = self.shown[index].tooltip if index is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        index = self._span_at(event.x)
        if index is None:
            return
        span = self.shown[index]
        if span.enabled:
            self.app.simulate_key(span.key)
        else:
            self.app.bell()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh()
