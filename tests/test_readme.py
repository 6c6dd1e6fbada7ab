"""README.md stays true: its Python examples run, and say what they print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.slow
def test_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)  # the examples write checkpoints and notes
    namespace: dict = {}
    for block in blocks:  # one session: later examples use earlier names, as a reader would
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "dJ/dw = 1/m * Sum_i (w*x[i] + b - y[i])*x[i]" in out
    assert "{'w': 1.96" in out and "'b': 0.97" in out
    assert namespace["accuracy"] >= 0.95
    assert namespace["wrong"].verdict == "wrong"
    assert namespace["wrong"].hint.mistake == "wrong sign"
    assert (tmp_path / "logistic.pdf").stat().st_size > 0
