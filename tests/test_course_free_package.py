"""A course is a folder: the grader package holds no course. Nothing under grader/ names an assignment, a module
of the course or a student function; the course's references and the objects it builds in the student's process
live in assignments/<name>/ (and solutions/<name>/)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = ROOT / "grader"
#: The text files of the package that are read for names (source, settings, templates, documentation).
SUFFIXES = {".py", ".ini", ".toml", ".md", ".html", ".css", ".js", ".txt", ".cfg", ".json"}

#: COURSE.md's part two (assignments 6-9): the assignments, their modules and the names of their contracts,
#: copied here (tests read only the repository).
PART_TWO = [
    "assignment6", "custom_functions", "Softplus", "SoftmaxCrossEntropy", "LayerNorm", "StraightThroughClamp",
    "softplus", "softmax_cross_entropy", "layer_norm", "straight_through_clamp",
    "assignment7", "backward_rules", "unbroadcast", "add_backward", "mul_backward", "matmul_backward",
    "sum_backward", "max_backward", "softmax_backward", "embedding_backward",
    "assignment8", "optimizers", "SGD", "Adam", "clip_grad_norm_",
    "assignment9", "tiny_autograd", "Value", "backward", "topological_order",
]

#: Contract names that are also plain English or torch's own API (``model.forward``, ``torch.optim.SGD``,
#: ``F.softplus``, "a backward pass"): only their unambiguous forms count (see :func:`offending`).
GENERIC = {
    "forward", "backward", "train", "fit", "cost", "gradient", "modules", "optimizers", "Value", "SGD", "Adam",
    "softplus", "layer_norm", "clip_grad_norm_",
}
#: Generic names that are also a field of the grader's own wire protocol (a call's ``"backward"``): not as strings.
PROTOCOL_FIELDS = {"backward"}


def contract_names() -> set[str]:
    """Every assignment of the repository's course (folder, module, functions) and COURSE.md's part two."""
    names = set(PART_TWO)
    for meta_file in sorted((ROOT / "assignments").glob("*/assignment.toml")):
        meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
        names |= {meta_file.parent.name, str(meta["module"]), *map(str, meta["functions"])}
    return names


def patterns(name: str) -> list[re.Pattern]:
    """What counts as naming ``name``: the whole word, or for a :data:`GENERIC` one only its unambiguous forms:
    a definition (``def forward(``, ``class SGD``), the name as a string (``"forward"``: a function to call, a
    builder's key), a module (``modules.py``, ``import modules``), a check id (``forward.worked_example``) or a
    call that is not a method's or a library's (``forward(x)``, not ``model.forward(x)`` or ``torch.optim.SGD(``)."""
    n = re.escape(name)
    if name not in GENERIC:
        return [re.compile(rf"(?<![\w]){n}(?![\w])")]
    return [
        re.compile(rf"\b(def|class)\s+{n}\b"),
        *([] if name in PROTOCOL_FIELDS else [re.compile(rf"[\"']{n}[\"']")]),
        re.compile(rf"(?<![\w.]){n}\.py\b"),
        re.compile(rf"\b(import|from)\s+{n}\b"),
        re.compile(rf"(?<![\w.]){n}\.[a-z_][a-z0-9_]*\b(?!\()"),
        re.compile(rf"(?<![\w.]){n}\("),
    ]


def offending(text: str, names: set[str]) -> list[str]:
    """``name: line`` for every line of ``text`` that names one of ``names``."""
    compiled = {name: patterns(name) for name in sorted(names)}
    found = []
    for line in text.splitlines():
        for name, pats in compiled.items():
            if any(p.search(line) for p in pats):
                found.append(f"{name}: {line.strip()[:120]}")
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts)


def test_the_names_come_from_the_course():
    names = contract_names()
    assert {"assignment2", "linear_regression", "sgd_step", "LinearModel", "jacobians", "vjp"} <= names
    assert {"assignment9", "topological_order", "Adam"} <= names


@pytest.mark.parametrize("text", [
    "def vjp(fn: Fn, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:",
    "\"\"\"References for assignment3 (vector-Jacobian products).\"\"\"",
    'assignment: str = typer.Argument(..., help="Assignment name, e.g. assignment2."),',
    'OBJECTS = {"forward": build_forward}',
    "def forward(self, pred, y):",
    "class SGD:",
    "student.call('train', x, y)",
    "from modules import LinearModel",
    "the check ``forward.worked_example``",
    "return Value(data)",
    "    opt.zero_grad()",
])
def test_the_test_finds_a_course_name(text):
    assert offending(text, contract_names())


@pytest.mark.parametrize("text", [
    "opt = torch.optim.SGD([w], lr=0.1)",
    "the first backward with an explicit gradient imports ~500 modules",
    "y = model.forward(x); loss.backward()",
    "a submission's checks get 12x; the cost of a worker",
    "x = F.softplus(x); torch.nn.utils.clip_grad_norm_(params, 1.0)",
    "sys.modules[name] = module",
])
def test_the_test_leaves_english_and_torch_alone(text):
    assert offending(text, contract_names()) == []


def test_no_file_of_the_package_names_the_course():
    names = contract_names()
    found = []
    for path in package_files():
        rel = path.relative_to(ROOT).as_posix()
        found += [f"{rel}: a file named after {part}" for part in path.relative_to(PACKAGE).with_suffix("").parts if part in names]
        found += [f"{rel}: {hit}" for hit in offending(path.read_text(encoding="utf-8", errors="replace"), names)]
    assert found == []


def test_references_and_objects_live_in_the_course():
    assert not (PACKAGE / "references").exists()
    specs = PACKAGE / "sandbox" / "specs.py"
    if specs.exists():
        text = specs.read_text(encoding="utf-8")
        for course_code in ("CRITERIA", "UNARY", "Composed", "LinearModule", "AsymmetricLoss", "worked_example",
                            "def criterion", "def function", "def linear", "def sgd", "torch.optim"):
            assert course_code not in text, course_code
    for name in ("assignment1", "assignment2", "assignment3", "assignment4", "assignment5"):
        assert (ROOT / "assignments" / name / "references.py").is_file(), name


def test_assignment_module_finds_the_public_module_and_keeps_two_courses_apart(tmp_path):
    from grader.checks import assignment_module

    for course in ("one", "two"):
        (tmp_path / course / "assignments" / "a").mkdir(parents=True)
        (tmp_path / course / "assignments" / "a" / "references.py").write_text(f"NAME = {course!r}\n")
        (tmp_path / course / "solutions" / "a").mkdir(parents=True)
    one = assignment_module(tmp_path / "one" / "solutions" / "a" / "checks_hidden.py", "references")
    assert one.NAME == "one"
    assert assignment_module(tmp_path / "one" / "assignments" / "a" / "checks_public.py", "references") is one
    assert assignment_module(tmp_path / "two" / "solutions" / "a" / "checks_hidden.py", "references").NAME == "two"
    asking = tmp_path / "one" / "solutions" / "a" / "checks_hidden.py"
    with pytest.raises(ImportError) as info:
        assignment_module(asking, "objects")
    message = str(info.value)
    assert str(asking) in message and str(tmp_path / "one" / "assignments" / "a" / "objects.py") in message
