"""A light table renderable for small panels: aligned columns of text, nothing more.

Rich's :class:`rich.table.Table` measures every cell on each render; two small tables in the
Projects tab's panels were a tenth of the first tab's start. :class:`PlainTable` lays out
its rows in one pass: each column as wide as its widest cell, one column (``shrink``) made
narrower with an ellipsis when the line would not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import StyleType
from rich.text import Text

__all__ = ["PlainTable"]


@dataclass
class PlainTable:
    """Rows of cells in aligned columns.

    ``justify`` holds ``"left"`` or ``"right"`` per column, ``styles`` a style per column;
    ``gap`` is the spaces between columns (the left cell's style runs over them). Every
    column keeps its widest cell's width except ``shrink``, which gives up cells (down to
    ``min_width``) when the line is wider than the space given.
    """

    rows: Sequence[Sequence[str]]
    justify: Sequence[str]
    styles: Sequence[StyleType] = ()
    header: Sequence[str] | None = None
    header_style: StyleType = "bold"
    gap: int = 1
    shrink: int = 0
    min_width: int = 1

    def _natural(self) -> list[int]:
        lines = [*([self.header] if self.header else []), *self.rows]
        columns = range(len(self.justify))
        return [max((cell_len(line[i]) for line in lines), default=0) for i in columns]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        natural = self._natural()
        total = sum(natural) + self.gap * max(0, len(natural) - 1)
        return Measurement(min(total, options.max_width), min(total, options.max_width))

    def _cell(self, text: str, width: int, justify: str) -> str:
        if cell_len(text) > width:
            return set_cell_size(text, max(0, width - 1)) + "…" if width > 0 else ""
        pad = " " * (width - cell_len(text))
        return pad + text if justify == "right" else text + pad

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._natural()
        total = sum(widths) + self.gap * max(0, len(widths) - 1)
        over = total - options.max_width
        if over > 0 and widths:
            widths[self.shrink] = max(self.min_width, widths[self.shrink] - over)
        styles: list[StyleType] = list(self.styles) or [""] * len(widths)
        spacer = " " * self.gap
        lines: list[tuple[Sequence[str], Sequence[StyleType]]] = []
        if self.header:
            lines.append((self.header, [self.header_style] * len(widths)))
        lines += [(row, styles) for row in self.rows]
        out: list[Text] = []
        for cells, cell_styles in lines:
            line = Text(no_wrap=True, overflow="crop", end="")
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                text = self._cell(cell, width, self.justify[index])
                if index < len(widths) - 1:
                    text += spacer
                line.append(text, cell_styles[index] or None)
            line.truncate(options.max_width)
            out.append(line)
        yield Text("\n", no_wrap=True).join(out)
