"""``check(assignment, function)``: the autograded test cells of a notebook from `grader nbgrader source`.

In Jupyter the cell runs ``grader check`` (sandboxed, public checks) on this
notebook as the grader will read it: the saved ``<module>.ipynb`` in the
kernel's folder, with every function of the contract that is defined in the
kernel taken as the kernel has it (so an edit need not be saved first). It
prints one line per check of ``function`` and the first failure in full, then
raises :class:`ChecksFailed` if any check failed, so ``nbgrader validate``
names the cell. Nothing is printed on stderr. Scores come from ``grader grade
--nbgrader``, which also runs the hidden checks and gives partial credit;
``nbgrader autograde`` would only see public checks, all or nothing per cell.

Outside IPython (``grader grade`` imports the notebook's code cells; a test
cell whose nbgrader metadata was stripped ends up there) it does nothing.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from grader.authoring.stubs import definition_spans

_cache: dict[str, dict] = {}
"""Results by module text: running every cell of a notebook grades it once."""


def _ipython():
    shell = sys.modules.get("IPython")
    return shell.get_ipython() if shell is not None and hasattr(shell, "get_ipython") else None


def _notebook_path(module: str) -> Path | None:
    candidates = [Path.cwd() / f"{module}.ipynb"]
    session = os.environ.get("JPY_SESSION_NAME") or getattr(sys.modules.get("__main__"), "__session__", None)
    if session and str(session).endswith(".ipynb"):
        candidates.insert(0, Path(session))
    return next((p for p in candidates if p.is_file()), None)


def _live_source(obj) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None  # a class defined in a notebook cell, or a builtin: the saved cell stands


def splice(module_source: str, live: dict[str, str]) -> tuple[str, list[str]]:
    """``module_source`` with the top-level definitions named in ``live`` replaced by those sources;
    also returns the names whose saved definition differed (or was missing)."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return module_source, []
    lines = module_source.splitlines()
    spans = definition_spans(tree, live)
    changed = []
    for name, (first, last) in sorted(spans.items(), key=lambda kv: -kv[1][0]):
        saved = "\n".join(lines[first:last])
        if saved.strip() != live[name].strip():
            changed.append(name)
            lines[first:last] = live[name].rstrip("\n").splitlines()
    added = [name for name in live if name not in spans]
    extra = [live[name].rstrip("\n") for name in added]
    return "\n".join(lines + extra) + "\n", sorted(changed + added)


def _module_source(module: str, functions: list[str], namespace: dict) -> tuple[str, list[str], Path]:
    from grader.submissions.forms import notebook_source

    path = _notebook_path(module)
    if path is None:
        raise FileNotFoundError(
            f"this notebook must be saved as {module}.ipynb in {Path.cwd()} "
            f"(the name the grader reads; rename it back if you renamed it)"
        )
    saved = notebook_source(path.read_bytes())
    live = {}
    for fn in functions:
        obj = namespace.get(fn)
        if obj is not None and getattr(obj, "__module__", None) == "__main__":
            src = _live_source(obj)
            if src is not None:
                live[fn] = src
    source, changed = splice(saved, live)
    return source, changed, path


def _run(assignment: str, module: str, source: str) -> dict:
    key = hashlib.sha256(f"{assignment}\0{source}".encode()).hexdigest()
    if key in _cache:
        return _cache[key]
    with tempfile.TemporaryDirectory(prefix="grader-notebook-") as folder:
        path = Path(folder) / f"{module}.py"
        path.write_text(source, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "grader.cli", "check", assignment, "--path", str(path), "--json"],
            capture_output=True, text=True, cwd=folder, env={**os.environ, "NO_COLOR": "1"},
        )
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(f"grader check did not run: {(proc.stderr or proc.stdout).strip()[-800:]}") from None
    _cache[key] = doc
    return doc


class ChecksFailed(AssertionError):
    """Some public check of the function failed (the lines above the error say which, and why)."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback through the grader's frames, in lines short enough
        for ``nbgrader validate``, which cuts each line at 80 characters."""
        head, _, rest = str(self).partition("\n")
        return [f"ChecksFailed: {head}", *textwrap.wrap(rest, 76)]


def check(assignment: str, function: str) -> None:
    """Run the public checks of ``function`` and print them; raise :class:`ChecksFailed` if one failed."""
    shell = _ipython()
    if shell is None:
        return
    from grader.course import course_root, load
    from grader.reports.feedback import check_line
    from grader.scoring import fmt_points, function_of

    a = load(assignment, root=course_root())
    source, changed, path = _module_source(a.module, a.functions, shell.user_ns)
    doc = _run(assignment, a.module, source)
    mine = [c for c in doc["checks"] if function_of(c["id"]) == function]
    if not mine:
        raise ChecksFailed(f"{assignment} has no public check of {function!r}")
    earned, most = sum(c["score"] for c in mine), sum(c["max_score"] for c in mine)
    print(f"{function}: {fmt_points(earned)} / {fmt_points(most)} points from its public checks")
    for c in mine:
        print(check_line(c["id"], c["score"], c["max_score"], c["passed"]))
    failed = next((c for c in mine if not c["passed"]), None)
    if failed is not None:
        print(f"\n{failed['id']}: {failed['message']}")
    if changed:
        print(f"\n(graded {', '.join(changed)} as defined in this kernel; save {path.name} before you submit: "
              "the saved notebook is what gets graded)")
    failures = sum(not c["passed"] for c in mine)
    if failures:
        raise ChecksFailed(
            f"{failures} of {len(mine)} public checks of {function} failed ({fmt_points(earned)} / {fmt_points(most)} points)\n"
            f"{failed['id']}: {failed['message']}"
        )
