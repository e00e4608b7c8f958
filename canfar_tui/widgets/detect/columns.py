"""The Detect tab's column list: ``.param`` specs, loading, saving, previews (no Textual).

A column list is a tuple of ``.param`` specs: ``NAME`` or, for a vector column,
``NAME(n)`` (``MAG_APER(3)``: three apertures). Every name the tab offers comes from
:data:`canfar_tui.detection.column_info.COLUMN_INFO` when it is asked for, so columns
added to the detection package appear in the tab without a change here.

* :func:`load_param_file` reads a ``.param`` file leniently: the columns canfar-tui
  computes, and the ones it cannot (named in one line, left out) — the tab shows both;
* :func:`param_file_text` / :func:`save_param_file` write a list back as a ``.param`` file
  (atomically, :func:`canfar_tui.clients.files.atomic_write`);
* :func:`catalogue_fields` names every column of a run's catalogue, vectors one value at a
  time (``MAG_APER[2]``), and :func:`field_values` reads one of them;
  :func:`magnitude_fields` keeps the magnitudes (for the histogram).

Imports nothing heavy: numpy only inside the functions that read a catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from canfar_tui.detection.column_info import COLUMN_INFO, ColumnInfo

__all__ = [
    "MAX_VECTOR_SIZE",
    "available_columns",
    "catalogue_fields",
    "field_values",
    "is_magnitude",
    "load_param_file",
    "magnitude_fields",
    "param_file_text",
    "per_extension_medians",
    "resize",
    "save_param_file",
    "spec_name",
    "spec_size",
    "value_stats",
]

#: The largest vector length the editor offers (SExtractor's PHOT_APERTURES limit is 32).
MAX_VECTOR_SIZE = 32

#: Largest ``.param`` file read (source-extractor's own lists every column in ~40 kB).
MAX_PARAM_BYTES = 1024 * 1024

_SPEC = re.compile(r"([A-Z][A-Z0-9_]*)(?:\((\d+(?:,\d+)*)\))?")
_FIELD = re.compile(r"([A-Z][A-Z0-9_]*)(?:\[(\d+)\])?")


def spec_name(spec: str) -> str:
    """``MAG_APER(3)`` → ``MAG_APER``."""
    return spec.split("(", 1)[0].strip().upper()


def spec_size(spec: str) -> int:
    """How many values ``spec`` asks for: ``MAG_APER(3)`` → 3, ``MAG_APER`` → 1."""
    match = _SPEC.fullmatch(spec.strip().upper())
    if match is None or match.group(2) is None:
        return 1
    size = 1
    for part in match.group(2).split(","):
        size *= int(part)
    return size


def info(spec: str) -> ColumnInfo | None:
    """What :data:`COLUMN_INFO` says about the column of ``spec`` (None: not supported)."""
    return COLUMN_INFO.get(spec_name(spec))


def resize(spec: str, step: int) -> str:
    """``spec`` with one value more (``step`` 1) or fewer (-1); scalars are unchanged."""
    column = info(spec)
    if column is None or not column.vector:
        return spec
    size = min(max(spec_size(spec) + step, 1), MAX_VECTOR_SIZE)
    name = spec_name(spec)
    return name if size == 1 else f"{name}({size})"


def available_columns(chosen: Iterable[str], text: str = "") -> list[str]:
    """Every supported column not in ``chosen`` whose name or description has ``text``."""
    taken = {spec_name(spec) for spec in chosen}
    needle = text.strip().upper()
    return [
        name
        for name, column in COLUMN_INFO.items()
        if name not in taken
        and (not needle or needle in name or needle in column.description.upper())
    ]


def describe(spec: str) -> str:
    """One line about a column: its description, unit and, for vectors, how to size it."""
    column = info(spec)
    if column is None:
        return f"{spec}: not computed by canfar-tui"
    unit = f" [{column.unit}]" if column.unit else ""
    text = f"{spec_name(spec)}: {column.description}{unit}"
    if column.vector:
        option = {"apertures": "PHOT_APERTURES", "fluxfrac": "PHOT_FLUXFRAC"}.get(
            column.vector, column.vector.upper()
        )
        text += f" · {spec_size(spec)} value(s), one per {option} (+/-)"
    return text


# ----------------------------------------------------------------------------- .param files


def _normalise(line: str) -> str | None:
    """The column spec of one ``.param`` line, as SExtractor reads it (first word)."""
    stripped = line.split("#", 1)[0].strip()
    if not stripped:
        return None
    # "MAG_APER (3)" and "MAG_APER( 3 )" are the spec "MAG_APER(3)".
    stripped = re.sub(r"\s*\(\s*", "(", stripped)
    stripped = re.sub(r"\s*,\s*", ",", stripped)
    stripped = re.sub(r"\s*\)", ")", stripped)
    return stripped.split()[0].upper()


def _supported(spec: str) -> bool:
    from canfar_tui.detection.params import DetectionParams, ParamError

    try:
        DetectionParams().with_columns([spec])
    except ParamError:
        return False
    return True


def load_param_file(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the columns canfar-tui computes, the ones it cannot) of a ``.param`` file.

    Raises :class:`~canfar_tui.detection.params.ParamError` (one line) when the file cannot
    be read, is not text, or lists no column canfar-tui computes.
    """
    from canfar_tui.clients.files import UnreadableFile, read_bounded
    from canfar_tui.detection.params import ParamError

    try:
        data = read_bounded(path, MAX_PARAM_BYTES, "parameter file")
    except UnreadableFile as error:
        raise ParamError(str(error)) from None
    if b"\x00" in data[:4096]:
        raise ParamError(f"{path}: not a text parameter file (binary content)")
    chosen: list[str] = []
    refused: list[str] = []
    seen: set[str] = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        spec = _normalise(line)
        if spec is None:
            continue
        if _SPEC.fullmatch(spec) is None or not _supported(spec):
            if spec not in refused:
                refused.append(spec)
        elif spec_name(spec) not in seen:
            seen.add(spec_name(spec))
            chosen.append(spec)
    if not chosen:
        if refused:
            raise ParamError(
                f"{path}: no column canfar-tui computes (not supported: {', '.join(refused)})"
            )
        raise ParamError(f"{path}: no columns listed (every line is empty or commented out)")
    return tuple(chosen), tuple(refused)


def param_file_text(specs: Sequence[str]) -> str:
    """A ``.param`` file listing ``specs``, each with its description as a comment."""
    width = max((len(spec) for spec in specs), default=0) + 2
    lines = ["# Output columns, written by canfar-tui (SExtractor .param format)"]
    for spec in specs:
        column = info(spec)
        comment = f"# {column.description}" if column is not None else ""
        unit = f" [{column.unit}]" if column is not None and column.unit else ""
        lines.append(f"{spec:<{width}}{comment}{unit}".rstrip())
    return "\n".join(lines) + "\n"


def save_param_file(path: Path, specs: Sequence[str]) -> None:
    """Write ``specs`` to ``path`` atomically; raises OSError with a one-line message."""
    from canfar_tui.clients.files import atomic_write

    if not specs:
        raise OSError(f"{path}: no columns to save")
    if path.is_dir():
        raise OSError(f"{path}: is a folder (give a file name such as default.param)")
    if not path.parent.is_dir():
        raise OSError(f"{path.parent}: no such folder")
    atomic_write(path, param_file_text(specs), mode=0o644)


# ----------------------------------------------------------------------------- catalogues


def catalogue_fields(catalogue: Any, columns: Sequence[str] = ()) -> list[str]:
    """The columns of ``catalogue`` to preview, one value each (``MAG_APER[1]``…).

    ``columns`` (the run's output columns) come first and in their order; without them,
    every field of the catalogue. Image stamps (``VIGNET(15,15)``: two dimensions) are
    not previewed.
    """
    names = catalogue.dtype.names or ()
    order = [c for c in columns if c in names] or list(names)
    out: list[str] = []
    for name in order:
        shape = catalogue.dtype[name].shape
        if len(shape) > 1:
            continue
        count = 1
        for dim in shape:
            count *= int(dim)
        if not shape:
            out.append(name)
        elif count == 1:
            out.append(f"{name}[1]")
        else:
            out.extend(f"{name}[{index}]" for index in range(1, count + 1))
    return out


def is_magnitude(name: str) -> bool:
    """A magnitude column (MAG_AUTO, MAG_APER…), not its error nor a surface brightness."""
    base = _FIELD.fullmatch(name)
    column = COLUMN_INFO.get(base.group(1) if base else name)
    return column is not None and column.unit == "mag" and "ERR" not in column.name


def magnitude_fields(catalogue: Any, columns: Sequence[str] = ()) -> list[str]:
    """The magnitude columns of ``catalogue``: the written ones, else every one it has."""
    written = [f for f in catalogue_fields(catalogue, columns) if is_magnitude(f)]
    return written or [f for f in catalogue_fields(catalogue) if is_magnitude(f)]


def field_values(catalogue: Any, field: str) -> Any:
    """The values of one previewed field (``MAG_APER[2]``: the second aperture), float64."""
    import numpy as np

    match = _FIELD.fullmatch(field)
    if match is None or match.group(1) not in (catalogue.dtype.names or ()):
        raise KeyError(field)
    values = np.asarray(catalogue[match.group(1)])
    if match.group(2) is not None:
        values = values.reshape(len(values), -1)[:, int(match.group(2)) - 1]
    return values.astype(np.float64)


def value_stats(values: Any, *, magnitude: bool = False) -> str:
    """``median 21.3 (15.2…27.9)`` (for magnitudes, the 99s are left out and counted)."""
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    dropped = ""
    if magnitude:
        bad = int((finite >= 90).sum())
        finite = finite[finite < 90]
        if bad:
            dropped = f" · {bad} at 99"
    if finite.size == 0:
        return f"no finite value{dropped}"
    return (
        f"median {_number(float(np.median(finite)))}"
        f" ({_number(float(finite.min()))}…{_number(float(finite.max()))}){dropped}"
    )


def per_extension_medians(
    catalogue: Any, field: str, ext_numbers: Sequence[int]
) -> list[str] | None:
    """The median of ``field`` in each extension (``–`` without a value), or None when the
    catalogue does not say which extension a source is in."""
    import numpy as np

    if "EXT_NUMBER" not in (catalogue.dtype.names or ()):
        return None
    values = field_values(catalogue, field)
    usable = np.isfinite(values)
    if is_magnitude(field):
        usable &= values < 90
    out: list[str] = []
    for ext in ext_numbers:
        mine = values[(catalogue["EXT_NUMBER"] == ext) & usable]
        out.append(_number(float(np.median(mine))) if mine.size else "–")
    return out


def _number(value: float) -> str:
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3e}"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e3 else f"{value:.1f}"
