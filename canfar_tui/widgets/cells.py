"""Cell value types shared by the views: values that sort as numbers and read as text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len

if TYPE_CHECKING:
    from textual.widgets import Static


class ByteSize(int):
    """A size in bytes that sorts as a number and shows as ``"1.5 GB"``."""

    def __str__(self) -> str:
        value = float(self)
        for unit in ("B", "kB", "MB", "GB", "TB"):
            if value < 1000 or unit == "TB":
                return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            value /= 1000
        raise AssertionError("unreachable")  # pragma: no cover


def human_size(size: int | None) -> ByteSize | None:
    """Bytes as a :class:`ByteSize` cell (decimal units, like the OpenStack dashboard)."""
    return None if size is None else ByteSize(size)


def set_text(widget: Static, text: str) -> None:
    """Show ``text`` in ``widget``, repainting (and re-laying out) only when needed.

    Over SSH every repaint costs bytes: a status line rewritten with the same text, or a
    layout pass for a text of the same width, is pure overhead. The last text is kept on the
    widget.
    """
    previous: str | None = getattr(widget, "_canfar_text", None)
    if previous == text:
        return
    widget._canfar_text = text  # type: ignore[attr-defined]
    same_width = previous is not None and cell_len(previous) == cell_len(text)
    widget.update(text, layout=not same_width)
