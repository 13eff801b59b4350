"""The update benchmark runs end to end on a small mix and prints both regimes of its CPU figure."""

from __future__ import annotations

import re

import pytest

from bench import updates


@pytest.mark.slow
def test_cpu_figures_are_printed_for_both_regimes(capsys: pytest.CaptureFixture[str]) -> None:
    status = updates.main(["--updates", "14", "--acks", "0", "--cpu-only", "--arrival-rate", "50"])
    out = capsys.readouterr().out
    paced = re.search(r"\(50 updates/s arriving\) project=([\d.]+) echo=([\d.]+) ratio=([\d.]+)", out)
    burst = re.search(r"\(all 14 at once, not judged\) project=([\d.]+) in [\d.]+ s echo=([\d.]+)", out)
    assert paced and burst, out
    project, echo, ratio = (float(x) for x in paced.groups())
    assert project > 0 and echo > 0 and abs(ratio - echo / project) < 0.01
    assert status == (0 if ratio >= 0.25 else 1)
