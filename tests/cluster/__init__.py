"""Tests that run the portal as several processes (marked ``cluster``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def program(args: list[str], env: dict[str, str]) -> str:
    """Our own program's output; its error output in the failure."""
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
