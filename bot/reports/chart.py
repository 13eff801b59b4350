"""A phone-friendly PNG line chart of monthly rates, with Chinese labels in a font the project ships."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

# Figure is used directly (never pyplot), so no GUI backend is ever chosen on a server.
from matplotlib import font_manager
from matplotlib.figure import Figure

# Wide enough to read twelve month labels on a phone, small enough to send quickly on patchy data.
WIDTH_PX, HEIGHT_PX, DPI = 960, 720, 120
SYSTEM_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is available: install the package's dependencies again."""


@cache
def cjk_font_family() -> str:
    """The family name of a CJK font: the one mplfonts ships, else a distribution font."""
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


def line_chart(
    title: str,
    months: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "%",
) -> bytes:
    """Rates in percent per month, one line per series; a missing month (None) is a gap."""
    family = cjk_font_family()
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    axes = figure.add_subplot()
    positions = list(range(len(months)))
    markers = ("o", "s", "^", "D")
    for index, (label, values) in enumerate(series.items()):
        points = [float("nan") if v is None else float(v) for v in values]
        axes.plot(positions, points, marker=markers[index % len(markers)], linewidth=2, label=label)
    axes.set_title(title, fontfamily=family, fontsize=15)
    axes.set_ylabel(y_label, fontfamily=family)
    axes.set_ylim(0, 105)
    axes.set_xticks(positions, list(months), rotation=45, ha="right", fontfamily=family, fontsize=9)
    axes.grid(True, alpha=0.3)
    axes.legend(prop={"family": family, "size": 10}, loc="lower left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
