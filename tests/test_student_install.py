"""What students get: the wheel holds the grader and the public course, and `grader check` works from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile

from conftest import ROOT


def test_wheel_ships_no_solutions_and_checks_from_anywhere(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
        check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/_course/assignments/assignment2/checks_public.py" in names
    assert not [n for n in names if "solutions" in n or "checks_hidden" in n]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True, capture_output=True)
    work = tmp_path / "student"
    work.mkdir()
    (work / "linear_regression.py").write_text((ROOT / "solutions" / "assignment2" / "linear_regression.py").read_text())
    # The installed wheel, never a checkout that PYTHONPATH points at (as when the suite runs a worktree).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-m", "grader.cli", "check", "assignment2", "--json"], cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["score"] == doc["max_score"] == 47
    where = subprocess.run([str(python), "-c", "import grader.course as c; print(c.course_root())"], cwd=work, capture_output=True, text=True, env=env)
    assert where.stdout.strip().endswith("grader/_course"), where.stdout + where.stderr
