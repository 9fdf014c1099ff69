"""`grader validate`: mutation analysis of each assignment's checks.

The generator is tested on a small source string (what each kind of mutant
looks like, that mutants stay inside solution regions, that ids are stable);
the command is run for real on every assignment (each must kill every mutant
of the kinds its assignment.toml lists) and on a course copy whose checks
were weakened on purpose (it must fail and name the survivor).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import textwrap

import pytest

from conftest import ROOT, run_grader
from grader.authoring.stubs import solution_regions
from grader.course import list_all
from grader.errors import CourseError
from grader.authoring.mutation import KINDS, generate

ASSIGNMENTS = [a.name for a in list_all(root=ROOT)]

SOURCE = textwrap.dedent('''\
    """A module with one solution region per function, and one function without any."""

    import torch


    def f(x, w, params, lr):
        """Docstrings and signatures are never mutated: 3 + 4 here is text."""
        scale = 10
        ### BEGIN SOLUTION
        y = x @ w.T + 2
        if lr > 0.5:
            y = y.t()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad.zero_()
        return (y - x).mean().item()
        ### END SOLUTION


    def h(x):
        ### BEGIN SOLUTION
        @torch.no_grad()
        def inner(t):
            return t.add_(1)
        return inner(x.detach())
        ### END SOLUTION


    def g(x):
        return x + 1 if x is not None else x.T
''')


def _line(snippet: str) -> int:
    return next(n for n, line in enumerate(SOURCE.splitlines(), 1) if snippet in line)


def _normal(source: str) -> str:
    return ast.unparse(ast.parse(source)) + "\n"


def _edited(old: str, new: str) -> str:
    """SOURCE with one line's ``old`` text replaced by ``new``, as the generator writes modules."""
    assert SOURCE.count(old) == 1, old
    return _normal(SOURCE.replace(old, new))


@pytest.fixture(scope="module")
def mutants():
    return {m.id: m for m in generate(SOURCE, name="example.py")}


L_Y, L_IF, L_WITH, L_STEP, L_ZERO, L_RET = (
    _line("y = x @ w.T + 2"), _line("if lr > 0.5"), _line("with torch.no_grad()"),
    _line("p -= lr * p.grad"), _line("p.grad.zero_()"), _line("return (y - x)"),
)
EXPECTED = {
    # operator
    f"f:operator:L{L_Y}": ("y = x @ w.T + 2", "y = x @ w.T - 2"),
    f"f:operator:L{L_Y}.2": ("y = x @ w.T + 2", "y = x * w.T + 2"),
    f"f:operator:L{L_STEP}": ("p -= lr * p.grad", "p += lr * p.grad"),
    f"f:operator:L{L_STEP}.2": ("p -= lr * p.grad", "p -= lr / p.grad"),
    f"f:operator:L{L_RET}": ("return (y - x)", "return (y + x)"),
    # comparison
    f"f:comparison:L{L_IF}": ("if lr > 0.5:", "if lr >= 0.5:"),
    # in_place
    f"f:in_place:L{L_STEP}": ("p -= lr * p.grad", "p = p - lr * p.grad"),
    f"f:in_place:L{L_ZERO}": ("p.grad.zero_()", "p.grad = torch.zeros_like(p.grad)"),
    "h:in_place:L" + str(_line("t.add_(1)")): ("return t.add_(1)", "return t.add(1)"),
    # factor
    f"f:factor:L{L_Y}": ("y = x @ w.T + 2", "y = x @ w.T + 3"),
    f"f:factor:L{L_IF}": ("if lr > 0.5:", "if lr > 1.0:"),
    f"f:factor:L{L_RET}": ("(y - x).mean()", "(y - x).sum()"),
    "h:factor:L" + str(_line("t.add_(1)")): ("return t.add_(1)", "return t.add_(2)"),
    # transpose
    f"f:transpose:L{L_Y}": ("y = x @ w.T + 2", "y = x.T @ w.T + 2"),
    f"f:transpose:L{L_Y}.2": ("y = x @ w.T + 2", "y = x @ w.T.T + 2"),
    f"f:transpose:L{L_Y}.3": ("y = x @ w.T + 2", "y = x @ w + 2"),
    "f:transpose:L" + str(_line("y = y.t()")): ("y = y.t()", "y = y"),
    # detach
    f"f:detach:L{L_RET}": ("(y - x).mean().item()", "(y - x).mean()"),
    "h:detach:L" + str(_line("inner(x.detach())")): ("inner(x.detach())", "inner(x)"),
    # return
    f"f:return:L{L_RET}": ("return (y - x).mean().item()", "return None"),
    "h:return:L" + str(_line("return inner(")): ("return inner(x.detach())", "return None"),
    "h:return:L" + str(_line("t.add_(1)")): ("return t.add_(1)", "return None"),
}


@pytest.mark.parametrize("mutant_id", sorted(EXPECTED))
def test_each_kind_makes_the_expected_mutant(mutants, mutant_id):
    old, new = EXPECTED[mutant_id]
    assert mutant_id in mutants, sorted(mutants)
    assert mutants[mutant_id].source == _edited(old, new)
    assert mutants[mutant_id].description.startswith(f"line {mutants[mutant_id].line}: ")


def test_no_grad_block_and_decorator_are_dropped(mutants):
    block = mutants[f"f:no_grad:L{L_WITH}"]
    body = textwrap.indent(textwrap.dedent("""\
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()
    """), "    ")
    start, end = SOURCE.index("    with torch.no_grad():\n"), SOURCE.index("    return (y - x)")
    assert block.source == _normal(SOURCE[:start] + body + SOURCE[end:])
    assert block.description == f"line {L_WITH}: with torch.no_grad() removed"
    deco_line = _line("@torch.no_grad()")
    deco = mutants[f"h:no_grad:L{deco_line}"]
    assert deco.source == _normal(SOURCE.replace("    @torch.no_grad()\n", ""))
    assert deco.description == f"line {deco_line}: @torch.no_grad() removed"


def test_every_kind_is_exercised_and_nothing_else_is_made(mutants):
    assert {m.kind for m in mutants.values()} == set(KINDS)
    # The mutants above and the two no_grad ones, nothing more (none in g, none before a region).
    expected_extra = {f"f:no_grad:L{L_WITH}", "h:no_grad:L" + str(_line("@torch.no_grad()"))}
    assert set(EXPECTED) | expected_extra == set(mutants)


def test_mutants_stay_inside_solution_regions(mutants):
    regions = solution_regions(SOURCE)
    assert len(regions) == 2
    original = ast.parse(SOURCE)
    untouched = {node.name: ast.dump(node) for node in original.body if isinstance(node, ast.FunctionDef) and node.name == "g"}
    for m in mutants.values():
        assert any(begin < m.line < end for begin, end in regions), m.id
        assert m.function in {"f", "h"}
        tree = ast.parse(m.source)
        # g (no region), f's docstring and the line before f's region are never touched
        assert {n.name: ast.dump(n) for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "g"} == untouched
        f_def = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "f")
        assert ast.get_docstring(f_def).startswith("Docstrings and signatures")
        assert ast.unparse(f_def.body[1]) == "scale = 10"


def test_ids_are_stable_unique_and_sources_distinct():
    first, second = generate(SOURCE), generate(SOURCE)
    assert [(m.id, m.source) for m in first] == [(m.id, m.source) for m in second]
    ids = [m.id for m in first]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[fh]:[a-z_]+:L\d+(\.\d+)?", i) for i in ids), ids
    assert [m.line for m in first] == sorted(m.line for m in first)  # source order
    sources = [m.source for m in first]
    assert len(sources) == len(set(sources)) and _normal(SOURCE) not in sources
    # An edit below the regions changes no id.
    assert [m.id for m in generate(SOURCE + "\n\ndef later():\n    return 1\n")] == ids


def test_unbalanced_markers_are_a_course_error():
    with pytest.raises(CourseError, match="never closed"):
        generate("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(CourseError, match="without"):
        generate("def f():\n    return 1\n    ### END SOLUTION\n")


# ---------------------------------------------------------------- the command

def test_author_passes_on_every_bundled_assignment():
    """`grader author` (which runs the mutants as validate does, twice) exits 0 on the whole bundled course: full
    marks for each solution, 0 for each stub, no leak, two identical runs, every mutant killed or declared
    equivalent (assignment3's, each shown equivalent in test_assignment3_course.py)."""
    proc = run_grader("author", *ASSIGNMENTS, "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["failures"] == [] and set(doc["assignments"]) == set(ASSIGNMENTS)
    for name, report in doc["assignments"].items():
        mutation = report["mutation"]
        assert mutation["mutation_score"] >= 90.0, (name, mutation["mutation_score"])
        assert all(not f["surviving"] for f in mutation["functions"].values()), (name, mutation["functions"])
        assert report["deterministic"] and sum(report["stub"].values()) == 0
    assert len(doc["assignments"]["assignment3"]["mutation"]["equivalent"]) == 6


@pytest.mark.parametrize("assignment", ["assignment5"])
def test_validate_passes_on_every_assignment(assignment):
    """validate's own output (scripts read it); author runs the same analysis on every assignment above."""
    proc = run_grader("validate", assignment)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"mutation score: \d+\.\d%", lines[0]), proc.stdout
    assert sum(bool(re.fullmatch(r"mutation score: \d+\.\d%", line)) for line in lines) == 1
    assert re.search(r"^\w+: \d+ of \d+ killed$", proc.stdout, re.M), proc.stdout


def _drop_checks(path, prefixes: tuple[str, ...]) -> list[str]:
    """Delete every ``@check("<id>", ...)`` function of ``path`` whose id starts with one of ``prefixes``."""
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    dropped, spans = [], []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "check" and deco.args[0].value.startswith(prefixes):
                dropped.append(deco.args[0].value)
                spans.append((min(d.lineno for d in node.decorator_list), node.end_lineno))
    for first, last in reversed(spans):
        del lines[first - 1:last]
    path.write_text("".join(lines))
    return dropped


def test_validate_fails_when_a_listed_kind_survives(tmp_path):
    """Without the checks that call sgd_step (its own and train's), dropping its no_grad goes unseen."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "assignment2", course / "assignments" / "assignment2")
    shutil.copytree(ROOT / "solutions" / "assignment2", course / "solutions" / "assignment2")
    assert "no_grad" in (course / "assignments" / "assignment2" / "assignment.toml").read_text()
    dropped = _drop_checks(course / "assignments" / "assignment2" / "checks_public.py", ("sgd_step.", "train."))
    dropped += _drop_checks(course / "solutions" / "assignment2" / "checks_hidden.py", ("sgd_step.", "train."))
    assert "sgd_step.untracked" in dropped and len(dropped) >= 8
    solution = (course / "solutions" / "assignment2" / "linear_regression.py").read_text()
    (survivor,) = [m.id for m in generate(solution) if m.function == "sgd_step" and m.kind == "no_grad"]

    proc = run_grader("validate", "assignment2", "--course", course)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert re.fullmatch(r"mutation score: \d+\.\d%", proc.stdout.splitlines()[0])
    assert re.search(rf"^  survived {re.escape(survivor)}: line \d+: with torch.no_grad\(\) removed", proc.stdout, re.M), proc.stdout
    assert re.search(r"^sgd_step: 0 of \d+ killed$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^forward: (\d+) of \1 killed$", proc.stdout, re.M), proc.stdout  # the other checks still kill
    assert "FAILED" in proc.stdout and survivor in proc.stdout.splitlines()[-1]


def test_validate_usage_errors(tmp_path):
    proc = run_grader("validate", "assignment9")
    assert proc.returncode == 2 and "unknown assignment" in proc.stderr
    student_copy = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / "assignment2", student_copy / "assignments" / "assignment2")
    proc = run_grader("validate", "assignment2", "--course", student_copy)
    assert proc.returncode == 2 and "not installed" in proc.stderr, proc.stderr
    toml = student_copy / "assignments" / "assignment2" / "assignment.toml"
    shutil.copytree(ROOT / "solutions" / "assignment2", student_copy / "solutions" / "assignment2")
    toml.write_text(re.sub(r"must_kill = \[.*\]", 'must_kill = ["no_grad", "typo"]', toml.read_text()))
    proc = run_grader("validate", "assignment2", "--course", student_copy)
    assert proc.returncode == 2 and "unknown mutant kinds typo" in proc.stderr, proc.stderr


VERDICTS = r"""
import json, sys
from pathlib import Path
from grader.sandbox.launcher import make_launcher
launcher = make_launcher(warm=True)  # before any check is loaded
from grader.authoring import mutation
from grader.course import course_root, load
from grader.sandbox.policy import Limits
root = course_root()
a = load("assignment4", root=root)
source = a.solution.read_text()
mutants = {m.id: m for m in mutation.generate(source, name="solution")}
picked = {"m1": mutants[sys.argv[1]], "m2": mutants[sys.argv[2]]}
sources = {"reference": source, **{name: m.source for name, m in picked.items()}}
out = {}
for mode, verdicts in (("grades", None), ("verdicts", {name: m.function for name, m in picked.items()})):
    runs = mutation.grade_sources(a, sources, course=root, launcher=launcher, limits=Limits(), verdicts=verdicts)
    judged = mutation.judge(a, runs["reference"], list(picked.values()), [runs["m1"], runs["m2"]])
    out[mode] = {"ran": {name: list(run.earned) for name, run in runs.items()},
                 "killed": [o.killed for o in judged.outcomes], "lost": [o.lost for o in judged.outcomes]}
launcher.close()
print(json.dumps(out))
"""


def test_a_mutant_gets_a_verdict_from_its_own_function_checks_first():
    """Mutation analysis runs a mutant's own function's checks first and stops at the first it loses points on: the
    same verdict as grading it on every check, for a fraction of the checks."""
    import subprocess
    import sys

    ids = [m.id for m in generate((ROOT / "solutions/assignment4/manual_gradients.py").read_text(), name="s")]
    first = next(i for i in ids if i.startswith("gradient:"))
    last = next(i for i in reversed(ids) if i.startswith("fit_quadratic:"))
    proc = subprocess.run([sys.executable, "-c", VERDICTS, first, last], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    grades, verdicts = out["grades"], out["verdicts"]
    assert grades["killed"] == verdicts["killed"] == [True, True]
    every = grades["ran"]["reference"]
    assert verdicts["ran"]["reference"] == every and grades["ran"]["m1"] == every  # only mutants get verdicts
    for name, function in (("m1", "gradient"), ("m2", "fit_quadratic")):
        ran = verdicts["ran"][name]
        assert ran and all(cid.startswith(function + ".") for cid in ran) and len(ran) < len(every)
    for full, short in zip(grades["lost"], verdicts["lost"]):
        assert short and set(short) <= set(full)
