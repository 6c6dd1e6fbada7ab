"""Lint is part of the tests: ruff (the version pinned in pyproject.toml) checks and formats."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_ruff_is_the_pinned_version():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pins = [spec for spec in extras["test"] if spec.startswith("ruff")]
    assert pins == [f"ruff=={version('ruff')}"], "install the ruff that pyproject.toml pins"


@pytest.mark.parametrize("command", [("check", "."), ("format", "--check", ".")])
def test_ruff(command):
    result = _ruff(*command)
    assert result.returncode == 0, result.stdout + result.stderr
