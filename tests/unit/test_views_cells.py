"""Cell values of the views: sizes sort as numbers and read as humans expect."""

from __future__ import annotations

from canfar_tui.widgets.cells import ByteSize, human_size
from canfar_tui.widgets.resource_table import format_cell


def test_byte_size_shows_decimal_units_and_sorts_numerically() -> None:
    sizes = [human_size(n) for n in (900_000_000, 1_500_000_000, 999, 12_000)]
    assert [format_cell(size) for size in sizes] == ["900.0 MB", "1.5 GB", "999 B", "12.0 kB"]
    assert sorted(size for size in sizes if size is not None) == [
        999,
        12_000,
        900_000_000,
        1_500_000_000,
    ]
    assert human_size(None) is None
    assert str(ByteSize(3_100_000_000_000_000)) == "3100.0 TB"
