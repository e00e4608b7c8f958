"""Cell value types shared by the views: values that sort as numbers and read as text."""

from __future__ import annotations


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
