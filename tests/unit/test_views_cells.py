"""Cell values of the views (sizes sort as numbers, read as humans expect); status texts."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import Static

from canfar_tui.widgets.cells import ByteSize, human_size, set_text
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


class _CountingStatic(Static):
    """Counts repaints and layouts asked for."""

    def __init__(self) -> None:
        super().__init__("")
        self.asked: list[bool] = []

    def refresh(self, *regions: Region, layout: bool = False, **kwargs: bool) -> _CountingStatic:
        self.asked.append(layout)
        super().refresh(*regions, layout=layout, **kwargs)
        return self


async def test_set_text_repaints_only_on_change_and_lays_out_only_on_a_new_width() -> None:
    static = _CountingStatic()

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield static

    async with One().run_test() as pilot:
        await pilot.pause()
        static.asked.clear()
        set_text(static, "⟳ 09:30:12")
        set_text(static, "⟳ 09:30:12")  # same text: nothing sent
        assert static.asked == [True]
        set_text(static, "⟳ 09:30:13")  # same width: a repaint, no layout
        assert static.asked == [True, False]
        set_text(static, "⟳ —")
        assert static.asked == [True, False, True]
        await pilot.pause()
        assert str(static.render()) == "⟳ —"
