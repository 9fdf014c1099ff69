"""`grader check --watch`: the checks run again when the student saves."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

from conftest import ROOT

STUB = ROOT / "assignments" / "assignment2" / "linear_regression.py"
SOLUTION = ROOT / "solutions" / "assignment2" / "linear_regression.py"


def _read_until(proc, text: str, timeout: float = 120) -> str:
    seen = ""
    give_up = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < give_up, f"no {text!r} in: {seen[-2000:]}"
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            assert chunk, f"grader exited: {seen[-2000:]}"
            seen += chunk
    return seen


def test_watch_reruns_the_checks_on_every_save(tmp_path):
    module = tmp_path / "linear_regression.py"
    module.write_text(STUB.read_text())
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "check", "assignment2", "--path", str(module), "--watch"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        first = _read_until(proc, "for changes (Ctrl-C to stop)")
        assert "0 / 47 points" in first
        time.sleep(0.05)
        module.write_text(SOLUTION.read_text())
        second = _read_until(proc, "for changes (Ctrl-C to stop)")
        assert "47 / 47 points" in second and "0 / 47 points" not in second
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
