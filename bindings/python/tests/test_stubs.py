"""The `.pyi` stubs agree with the native module (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_stubtest_finds_no_drift():
    pytest.importorskip("mypy")
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "coord._coord"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
