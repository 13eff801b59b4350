"""The report chart: a valid PNG of phone-friendly size whose Chinese labels rendered."""

from __future__ import annotations

import struct
import warnings

from bot.reports.chart import HEIGHT_PX, WIDTH_PX, cjk_font_family, line_chart


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
