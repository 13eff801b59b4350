"""A phone-friendly PNG chart of monthly rates, with Chinese labels in a font the project ships.

Portrait, one panel per rate stacked top to bottom (sharing the month axis), labels large enough to
read on a phone held upright (the image is shown about 360 points wide: 720 px halves every size),
the latest month's value written at the end of each line, and "no data" written in a panel that has
none. matplotlib (and numpy with it) is imported here at first use, in the worker thread that draws,
never at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# Portrait: a phone shows the whole picture at its width, so taller costs nothing and every label
# gets twice the size of a landscape chart squeezed into the same width.
WIDTH_PX, HEIGHT_PX, DPI = 720, 1080, 120
# Sizes in points at 120 dpi: 14 pt is 23 px in the image, about 12 px on the phone.
TITLE_PT, PANEL_PT, TICK_PT, VALUE_PT = 17, 15, 14, 14
SYSTEM_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
VALUE_ROOM = 1.6  # months' width kept free right of the last month for its value
COLOURS = ("#c0392b", "#1f77b4", "#2e8b57", "#8e44ad")


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is available: install the package's dependencies again."""


@cache
def cjk_font_family() -> str:
    """The family name of a CJK font: the one mplfonts ships, else a distribution font."""
    from matplotlib import font_manager

    try:
        shipped = resources.files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"
        path = Path(str(shipped))
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
            return font_manager.FontProperties(fname=str(path)).get_name()
    except ModuleNotFoundError:
        pass
    available = {font.name for font in font_manager.fontManager.ttflist}
    for family in SYSTEM_CJK_FONTS:
        if family in available:
            return family
    raise FontMissing("no CJK font found (the mplfonts package or fonts-noto-cjk provides one)")


def _value_text(value: float) -> str:
    return f"{value:.0f}%" if float(value).is_integer() else f"{value:.1f}%"


def _panel(
    axes: Any, family: str, label: str, values: Sequence[float | None], colour: str, no_data: str
) -> None:
    positions = list(range(len(values)))
    points = [float("nan") if v is None else float(v) for v in values]
    axes.set_title(label, fontfamily=family, fontsize=PANEL_PT, loc="left")
    axes.set_ylim(0, 115)
    axes.set_yticks([0, 50, 100], ["0", "50", "100%"], fontsize=TICK_PT - 2)
    axes.grid(True, alpha=0.3)
    known = [(i, v) for i, v in enumerate(points) if v == v]  # NaN is not equal to itself
    if not known:
        axes.text(
            0.5, 0.5, no_data, transform=axes.transAxes, ha="center", va="center",
            fontfamily=family, fontsize=PANEL_PT, color="#777777",
        )  # fmt: skip
        return
    axes.plot(positions, points, marker="o", markersize=7, linewidth=3, color=colour)
    last_index, last_value = known[-1]
    # The latest value, just right of its point (the month axis leaves room for it).
    axes.annotate(
        _value_text(last_value),
        (last_index, last_value),
        xytext=(8, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=VALUE_PT,
        color=colour,
        fontfamily=family,
    )


def line_chart(
    title: str,
    months: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    no_data: str = "—",
) -> bytes:
    """Rates in percent per month, one panel per series, as a PNG (see `draw`)."""
    buffer = io.BytesIO()
    draw(title, months, series, no_data=no_data).savefig(buffer, format="png")
    return buffer.getvalue()


def draw(
    title: str,
    months: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    no_data: str = "—",
) -> Any:
    """The chart's matplotlib Figure: a missing month (None) is a gap, a series without any value
    says ``no_data``."""
    # Figure is used directly (never pyplot), so no GUI backend is ever chosen on a server.
    from matplotlib.figure import Figure

    family = cjk_font_family()
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    panels = figure.subplots(max(len(series), 1), 1, sharex=True, squeeze=False)[:, 0]
    figure.suptitle(title, fontfamily=family, fontsize=TITLE_PT)
    for index, (axes, (label, values)) in enumerate(zip(panels, series.items(), strict=False)):
        _panel(axes, family, label, values, COLOURS[index % len(COLOURS)], no_data)
    bottom = panels[-1]
    bottom.set_xlim(-0.5, len(months) - 0.5 + VALUE_ROOM)
    bottom.set_xticks(list(range(len(months))), list(months), fontfamily=family, fontsize=TICK_PT)
    figure.tight_layout()
    return figure
