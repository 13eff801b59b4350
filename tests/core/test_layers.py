"""The layers of architecture.md, checked on the source (issue 11, point 4 and 6): the core (`bot/`) knows
no channel adapter and not the composition root; the Telegram adapter (`handlers/`) does not reach up to
the root either, holds no Chinese text, no SQL and no commit, and stays small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ABOVE_THE_CORE = ("handlers", "app", "web", "wechat")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names}


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_adapter_and_not_the_root(path: Path) -> None:
    assert _imported(path).isdisjoint(ABOVE_THE_CORE)


@pytest.mark.parametrize("path", _files("handlers"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_telegram_adapter_is_thin(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert _imported(path).isdisjoint({"app", "web", "wechat", "sqlalchemy"})
    assert not HAN.search(source), "texts belong in the catalogues"
    calls = {
        node.func.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert calls.isdisjoint({"commit", "rollback", "execute", "scalar", "scalars"})


def test_the_telegram_adapter_stays_under_1500_lines() -> None:
    lines = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in _files("handlers"))
    assert lines <= 1500
