"""Terminal pictures for the Detect tab: a CCD quick-look and a magnitude histogram.

The quick-look draws one CCD with Unicode half-blocks (``▀``: two image pixels per
character cell, foreground the upper one, background the lower one), an asinh stretch between
robust percentiles, and the detections marked in colour; a CCD much taller than the panel
allows is turned a quarter (:func:`turn_pays`) so that it fills the panel's width. The
histogram fits the width it is given (:func:`histogram_text`). It works in any terminal with
24-bit or 256 colours, over SSH and inside tmux. numpy is imported only when a picture is
made, never when the module is imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Colour of a pixel that holds a detection centre.
MARK_COLOR = Color.from_rgb(255, 64, 64)
UPPER_HALF = "▀"
BAR_EIGHTHS = " ▁▂▃▄▅▆▇█"
#: A turned quick-look is drawn only when it fills at least this many times the cells.
TURN_GAIN = 1.25
#: Bins a histogram keeps before its bars go one column wide; the narrowest histogram.
MIN_BINS = 12
MIN_HISTOGRAM_WIDTH = 20


def stretch_to_grey(block: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Map pixel values to 0–255 grey: asinh between the 5th and 99.7th percentiles."""
    import numpy as np

    finite = block[np.isfinite(block)]
    if finite.size == 0:
        return np.zeros(block.shape, dtype=np.uint8)
    low, high = np.percentile(finite, [5.0, 99.7])
    if not high > low:
        high = low + 1.0
    scaled = np.clip((np.nan_to_num(block, nan=low) - low) / (high - low), 0.0, 1.0)
    softened = np.arcsinh(scaled * 10.0) / np.arcsinh(10.0)
    grey: npt.NDArray[np.uint8] = (softened * 255.0).astype(np.uint8)
    return grey


def downsample(data: npt.NDArray[Any], rows: int, columns: int) -> npt.NDArray[np.float32]:
    """Block-average ``data`` (y, x) to at most ``rows`` × ``columns`` pixels."""
    import numpy as np

    height, width = data.shape
    step = max(1, int(np.ceil(max(height / rows, width / columns))))
    usable_h, usable_w = (height // step) * step, (width // step) * step
    trimmed = data[:usable_h, :usable_w].astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        blocks = trimmed.reshape(usable_h // step, step, usable_w // step, step)
        averaged: npt.NDArray[np.float32] = np.nanmean(blocks, axis=(1, 3)).astype(np.float32)
    return averaged


def picture_cells(shape: tuple[int, int], columns: int, rows: int) -> int:
    """How many character cells a ``shape`` (y, x) image fills in ``columns`` × ``rows``."""
    height, width = shape
    step = max(1, math.ceil(max(height / (rows * 2), width / columns)))
    return (width // step) * math.ceil((height // step) / 2)


def turn_pays(shape: tuple[int, int], columns: int, rows: int) -> bool:
    """Whether turning the image a quarter makes its picture markedly larger.

    A CCD twice as tall as wide, in a panel wider than tall (an 80×24 terminal), fills a
    narrow strip; turned, it fills the panel's width.
    """
    height, width = shape
    upright = picture_cells(shape, columns, rows)
    return picture_cells((width, height), columns, rows) >= upright * TURN_GAIN


def render_quicklook(
    data: npt.NDArray[Any],
    sources_xy: Sequence[tuple[float, float]],
    *,
    columns: int,
    rows: int,
    turned: bool = False,
) -> list[list[Segment]]:
    """Lines of half-block segments showing ``data`` with detections marked.

    ``sources_xy`` are 1-based (X_IMAGE, Y_IMAGE) positions as in the catalogue. The picture
    is drawn with y increasing upwards, as ds9 shows a FITS image; ``turned``, it is turned a
    quarter clockwise (y increasing to the right, x downwards).
    """
    import numpy as np

    if turned:
        data = data.T  # rows: x, columns: y
        sources_xy = [(y, x) for x, y in sources_xy]
    height, width = data.shape
    small = downsample(data, rows * 2, columns)
    grey = stretch_to_grey(small)
    out_h, out_w = grey.shape
    marks = np.zeros(grey.shape, dtype=bool)
    if len(sources_xy):
        xy = np.asarray(sources_xy, dtype=np.float64)
        ix = np.clip(((xy[:, 0] - 1.0) * out_w / width).astype(int), 0, out_w - 1)
        iy = np.clip(((xy[:, 1] - 1.0) * out_h / height).astype(int), 0, out_h - 1)
        marks[iy, ix] = True
    if not turned:
        grey = grey[::-1]
        marks = marks[::-1]
    if out_h % 2:
        grey = np.vstack([grey, np.zeros((1, out_w), dtype=np.uint8)])
        marks = np.vstack([marks, np.zeros((1, out_w), dtype=bool)])
    palette = [Color.from_rgb(level, level, level) for level in range(256)]
    lines: list[list[Segment]] = []
    for top_row in range(0, grey.shape[0], 2):
        segments: list[Segment] = []
        for x in range(out_w):
            upper = MARK_COLOR if marks[top_row, x] else palette[grey[top_row, x]]
            lower = MARK_COLOR if marks[top_row + 1, x] else palette[grey[top_row + 1, x]]
            segments.append(Segment(UPPER_HALF, Style(color=upper, bgcolor=lower)))
        lines.append(segments)
    return lines


def histogram_text(
    values: Sequence[float],
    *,
    width: int = 48,
    height: int = 5,
    bins: int = 24,
    label: str = "",
) -> Text:
    """A column chart of ``values`` (magnitudes), its range and its peak, ``width`` wide.

    At most ``bins`` bins, two columns each when there is room, else one; every bar row,
    the range line and the peak line fit in ``width`` columns, so nothing wraps. ``label``
    (the column, ``MAG_APER[2]``) starts the peak line.
    """
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array) & (array < 90)]
    if array.size == 0:
        return Text("no finite magnitude to plot", style="dim")
    width = max(width, MIN_HISTOGRAM_WIDTH)
    bins = max(1, min(bins, width // 2 if width >= 2 * MIN_BINS else width))
    bar = 2 if width >= 2 * bins else 1
    counts, edges = np.histogram(array, bins=bins)
    peak = max(int(counts.max()), 1)
    text = Text()
    for level in range(height, 0, -1):
        for count in counts:
            filled = count / peak * height - (level - 1)
            index = int(min(max(float(filled), 0.0), 1.0) * 8 + 0.5)
            text.append(BAR_EIGHTHS[index] * bar)
        text.append("\n")
    left = f"{edges[0]:.1f}"
    right = f"{edges[-1]:.1f} mag"
    text.append(left + " " * max(1, bins * bar - len(left) - len(right)) + right, style="dim")
    step = edges[1] - edges[0]
    prefix = f"{label}: " if label else ""
    peak_line = f"{prefix}peak {peak} per {step:.2f} mag bin"
    if len(peak_line) > width:
        peak_line = f"{prefix}peak {peak}/{step:.2f} mag"
    if len(peak_line) > width:
        peak_line = peak_line[: width - 1] + "…"
    if label and peak_line.startswith(prefix):
        text.append("\n")
        text.append(prefix, style="bold")
        text.append(peak_line[len(prefix) :], style="dim")
    else:
        text.append(f"\n{peak_line}", style="dim")
    return text
