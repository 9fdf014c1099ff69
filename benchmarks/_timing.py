"""Shared timing helpers for the benchmark scripts."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], **kw) -> float:
    """Seconds one run of ``cmd`` takes; it must succeed (exit 0 or 1)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return took


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def torch_import_seconds(repeats: int) -> float:
    return median_of(lambda: wall([sys.executable, "-c", "import torch"]), repeats)


def grader_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "grader.cli", *map(str, args)]
