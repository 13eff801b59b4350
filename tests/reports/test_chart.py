"""The report chart: a valid PNG of phone-friendly size whose Chinese labels rendered."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

from bot.reports.chart import HEIGHT_PX, WIDTH_PX, cjk_font_family, draw, line_chart


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chart_is_a_phone_sized_png_with_chinese_labels() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    with warnings.catch_warnings():
        # Matplotlib warns "Glyph ... missing from font" when a character cannot be drawn.
        warnings.simplefilter("error")
        data = line_chart(
            "深圳流动党支部 近十二个月",
            months,
            {"出勤率": [80, 75, None, 90] + [85] * 8, "党费收缴率": [100] * 12, "学习打卡率": [60] * 12},
        )
    width, height = _png_size(data)
    assert (width, height) == (WIDTH_PX, HEIGHT_PX)
    assert 600 <= width <= 1280
    assert len(data) < 500_000


def test_the_font_is_the_shipped_cjk_font() -> None:
    assert "CJK" in cjk_font_family() or "Hei" in cjk_font_family()


def _texts(figure) -> list[str]:
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def test_portrait_panels_large_labels_and_the_latest_value_on_each_line() -> None:
    """Issue 19: on a phone the month labels were about 6 px tall. Portrait, one panel per rate, labels
    of at least 14 pt (23 px in the picture, about 12 px on a phone), the latest value written."""
    figure = draw(
        "深圳流动党支部 近十二个月",
        [str(m) for m in range(1, 13)],
        {"出勤率": [80, 75, None, 90] + [85] * 7 + [None], "党费收缴率": [100] * 12, "学习打卡率": [60] * 12},
        no_data="暂无数据",
    )
    width, height = figure.get_size_inches() * figure.dpi
    assert height > width
    assert len(figure.axes) == 3
    labels = figure.axes[-1].get_xticklabels()
    assert [label.get_text() for label in labels] == [str(m) for m in range(1, 13)]
    assert min(label.get_fontsize() for label in labels) >= 14
    # The last known value of each line (November's for attendance: December has none yet).
    assert _texts(figure) == ["85%", "100%", "60%"]
    assert "暂无数据" not in _texts(figure)


def test_no_data_is_said_in_the_chart() -> None:
    """A new branch's first chart said nothing at all: each empty panel now says so."""
    figure = draw(
        "新支部 近十二个月",
        ["1"] * 12,
        {"出勤率": [None] * 12, "党费收缴率": [None] * 12},
        no_data="暂无数据",
    )
    assert _texts(figure) == ["暂无数据", "暂无数据"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = line_chart("新支部", ["1"] * 12, {"出勤率": [None] * 12}, no_data="暂无数据")
    assert _png_size(png) == (WIDTH_PX, HEIGHT_PX)


def test_the_bot_starts_without_matplotlib() -> None:
    """matplotlib, numpy and openpyxl take most of a second to import: they are imported when a chart or
    a workbook is first made."""
    code = (
        "import sys, app.features, handlers.application, bot.reports.service, bot.flows.reports\n"
        "print(any(m in sys.modules for m in ('matplotlib', 'numpy', 'openpyxl')))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.strip() == "False"
