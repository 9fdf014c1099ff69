"""docs/authoring.md runs: every ```sh block, in order, in one fresh temporary folder, with the installed `grader`
command, each block stopping at its first failing command (bash -e)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

from conftest import ROOT

GUIDE = ROOT / "docs" / "authoring.md"


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_links_the_guide():
    assert "docs/authoring.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_block_of_the_guide_runs(tmp_path):
    blocks = _blocks()
    assert len(blocks) >= 5 and any("grader new" in b for b in blocks) and any("grader author" in b for b in blocks)
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("GRADER_COURSE", None)
    transcript = []
    for number, block in enumerate(blocks, 1):
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        transcript.append(f"--- block {number}\n{block}\n{proc.stdout}{proc.stderr}")
        assert proc.returncode == 0, "\n".join(transcript)[-6000:]
    log = "\n".join(transcript)
    assert "the stub scores 0 (exit 1)" in log
    assert re.search(r"author: no failure in 1 assignment", log), log[-3000:]
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert float(rows["alice"]["score"]) == 100
    lost = [cid for cid in rows["bob"] if cid.startswith("softsign.") and float(rows["bob"][cid]) == 0]
    assert 0 < float(rows["bob"]["score"]) < 100 and lost and all(
        float(rows["bob"][cid]) > 0 for cid in rows["bob"] if cid.startswith("swish."))
    assert not (tmp_path / "handout" / "week1" / "checks_hidden.py").exists()
    assert "BEGIN SOLUTION" not in (tmp_path / "handout" / "week1" / "activations.py").read_text()
