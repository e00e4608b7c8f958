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
from typing import TYPE_CHECKING, Any, Final

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.screen import Screen

__all__ = ["SHORT_LABELS", "DashboardFooter", "FooterEntry", "fit_entries"]

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


class DashboardFooter(Footer):
    """A compact footer that shows the keys that fit, the tab's own keys first."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._composed: tuple[object, ...] | None = None
        self._composed_pending: tuple[object, ...] | None = None

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

    def _layout(self) -> tuple[list[FooterEntry], Any]:
        """The entries that fit the terminal's width, and the palette's binding (or None)."""
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        room = self.app.size.width - 1
        if palette is not None:
            _, binding, _, _ = palette
            room -= cell_len(self.app.get_key_display(binding)) + cell_len(binding.description) + 3
        return fit_entries(self._entries(), room), palette

    @staticmethod
    def _signature(entries: Sequence[FooterEntry], palette: Any) -> tuple[object, ...]:
        keys = tuple((e.binding.key, e.key_display, e.label, e.enabled) for e in entries)
        return (keys, palette is not None and palette[2])

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """Recompose only when what the footer shows changes (focus moves change nothing).

        Textual recomposes the footer on every change of the focused widget's bindings; each
        recompose restyles every key, which was the largest single cost of the first paint.
        """
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        entries, palette = self._layout()
        signature = self._signature(entries, palette)
        if signature != self._composed:
            if self._composed_pending is None:
                self.call_after_refresh(self._recompose_pending)
            self._composed_pending = signature

    async def _recompose_pending(self) -> None:
        """One recompose for any number of binding changes since the last one."""
        self._composed_pending = None
        entries, palette = self._layout()
        if self._signature(entries, palette) != self._composed:
            await self.recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        entries, palette = self._layout()
        self._composed = self._signature(entries, palette)
        for entry in entries:
            # Compact from the start (no data_bind): no restyle of each key once mounted.
            yield FooterKey(
                entry.binding.key,
                entry.key_display,
                entry.label,
                entry.binding.action,
                disabled=not entry.enabled,
                tooltip=entry.tooltip or entry.binding.description,
                classes="-compact",
            )
        if palette is not None:
            _, binding, enabled, _ = palette
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette -compact",
                disabled=not enabled,
                tooltip=binding.tooltip or binding.description,
            )

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and self.is_attached:
            self.bindings_changed(self.screen)
