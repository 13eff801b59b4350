"""Services and flows never commit or roll back: the conversation core commits once per inbound event
(issue 11, point 5). The only exception is a helper for tools and benchmarks, not called by any event."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "bot" / "services").glob("*.py"), *(ROOT / "bot" / "flows").glob("*.py")])
TOOLS_ONLY = {("broadcast.py", "send_notice")}  # "for tools and benchmarks, not for events"


def _transaction_calls(path: Path) -> list[tuple[str, int]]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        if (path.name, function.name) in TOOLS_ONLY:
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                found.append((function.name, node.lineno))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_commit_or_rollback_outside_the_core(path: Path) -> None:
    assert _transaction_calls(path) == []
