"""grader.notebook: what a test cell grades (the saved notebook, with the kernel's definitions spliced in)."""

from __future__ import annotations

import subprocess
import sys

from grader.notebook import splice

SAVED = '''import torch


@staticmethod
def forward(x, w, b):
    raise NotImplementedError()


def mse_loss(y_pred, y):
    return ((y_pred - y) ** 2).mean()
'''


def test_splice_takes_the_kernels_definitions_and_reports_them():
    live = {"forward": "def forward(x, w, b):\n    return x @ w + b\n", "mse_loss": SAVED.split("\n\n\n")[2]}
    source, changed = splice(SAVED, live)
    assert changed == ["forward"]
    assert "return x @ w + b" in source and "NotImplementedError" not in source and "@staticmethod" not in source
    assert source.count("def mse_loss") == 1 and source.startswith("import torch\n")
    compile(source, "<spliced>", "exec")


def test_splice_adds_a_definition_missing_from_the_saved_notebook():
    source, changed = splice("import torch\n", {"zero_grad": "def zero_grad(params):\n    pass\n"})
    assert changed == ["zero_grad"] and source.endswith("def zero_grad(params):\n    pass\n")


def test_splice_leaves_an_unparsable_notebook_to_the_grader():
    assert splice("def forward(:\n", {"forward": "def forward():\n    pass\n"}) == ("def forward(:\n", [])


def test_check_outside_ipython_does_nothing():
    """A test cell that lost its nbgrader metadata is imported with the student's module by `grader grade`:
    there it must neither run a grader nor fail the import."""
    code = "from grader.notebook import check\nprint(check('assignment2', 'forward'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "None\n", proc.stderr
