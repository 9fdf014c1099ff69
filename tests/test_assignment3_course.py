"""Assignment 3's course files keep their promises: the README example is true, the references
give COURSE.md's numbers, generated functions are the kind the contract promises."""

from __future__ import annotations

import re

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, readme_example_code, readme_example_output
from grader.course import course_root, load
from grader.checks import assignment_module

ref = assignment_module(ROOT / "assignments" / "assignment3" / "references.py", "references")


def test_assignment3_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment3", monkeypatch)
    assert printed == ["[[6.0, 9.0]]", "[[4.0, 3.0]]", "[[2.0, 6.0]]", "[[4.0, 3.0], [2.0, 6.0]]", "[[4.0, 2.0]]"]
    # The comment next to each print starts with what it prints.
    comments = [c.split("  ")[0] for c in re.findall(r"print\(.*\)\s+# (.*)", readme_example_code("assignment3"))]
    assert comments == printed


def test_references_give_the_course_numbers():
    fn, x = ref.WORKED_EXAMPLE, torch.tensor(ref.WORKED_X)
    assert ref.jacobian(fn, x[0]).tolist() == ref.WORKED_J == [[4.0, 3.0], [2.0, 6.0]]
    assert ref.vjp(fn, x, torch.ones(1, 2)).tolist() == [[6.0, 9.0]]  # the column sums
    assert ref.vjp(fn, x, torch.tensor([[0.0, 1.0]])).tolist() == [[2.0, 6.0]]
    assert ref.jvp(fn, x, torch.tensor([[1.0, 0.0]])).tolist() == [[4.0, 2.0]]


def test_references_run_where_the_student_may_not():
    """The parent computes with torch.autograd.functional; the same spec builds the same f on both sides."""
    fn = ref.fixed_fn(3, 2, seed=5)
    x = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    J = ref.jacobian(fn, x)
    assert J.shape == (2, 3)
    v = torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert torch.allclose(ref.vjp(fn, x, v), v @ J)
    u = torch.tensor([0.5, 1.0, -1.5], dtype=torch.float64)
    assert torch.allclose(ref.jvp(fn, x, u), J @ u)
    assert torch.equal(ref.jacobian(ref.linear_fn(3, 4, seed=6), x), ref.linear_fn(3, 4, seed=6).steps[0][1])


@settings(max_examples=60, derandomize=True, database=None, deadline=None)
@given(n=st.integers(1, 5), data=st.data())
def test_generated_functions_depend_on_x_and_change_the_size(n, data):
    fn = data.draw(ref.functions(n))
    assert any(kind == "linear" for kind, _ in fn.steps)
    x = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n)) * 2 - 1
    J = ref.jacobian(fn, x)
    m = J.shape[0]
    assert m != n and 1 <= m <= 5
    assert J.abs().sum() > 0, "f must depend on x"
    if n >= 2:
        assert ((J.abs() > 0).sum(dim=1) >= 2).any(), "f must mix coordinates"
    assert torch.isfinite(J).all()


@settings(max_examples=20, derandomize=True, database=None, deadline=None)
@given(problem=ref.vjp_problems(torch.float32))
def test_vjp_problems_are_consistent(problem):
    fn, x, v = problem
    assert x.dim() in (1, 2) and v.shape == fn.build()(x).shape and v.dtype == x.dtype == torch.float32


def test_check_ids_belong_to_the_contract_and_only_jvp_is_bonus():
    a = load("assignment3", root=course_root())
    assert a.functions == ["vjp", "jacobian", "jvp"]
    assert a.forbidden == {"vjp": "functional", "jacobian": "functional", "jvp": "functional"}
    text = a.public_checks.read_text() + a.hidden_checks.read_text()
    checks = re.findall(r'@check\("([a-z_]+)\.([a-z_0-9]+)", points=([0-9.]+)(, bonus=True)?', text)
    assert {f for f, *_ in checks} == set(a.functions)
    assert {f for f, _, _, bonus in checks if bonus} == {"jvp"}
    assert all(bonus for f, _, _, bonus in checks if f == "jvp")
    public = a.public_checks.read_text()
    public_base = sum(float(p) for p, bonus in re.findall(r"@check\([^)]*points=([0-9.]+)(, bonus=True)?", public) if not bonus)
    assert 40 <= public_base <= 50


# ---------------------------------------------------------------- the mutants assignment.toml declares equivalent

def _mutant_module(mutant):
    namespace: dict = {"__name__": f"mutant_{mutant.function}"}
    exec(compile(mutant.source, mutant.id, "exec"), namespace)
    return namespace


def _state(t: torch.Tensor) -> tuple:
    return (t.detach().clone(), t.grad if t.is_leaf else None, t.requires_grad, t.is_leaf)


def _inputs(fn, n: int, dtype, seed: int):
    """x as the contract allows it (vjp: leaf or not, requiring grad or not; jacobian and jvp: any 1-D or
    batched tensor), with v and u of the shapes the contract gives them."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, generator=g, dtype=dtype) * 2 - 1
    out_shape = ref.output_shape(fn, base)
    for make in (lambda: base.clone(), lambda: base.clone().requires_grad_(True), lambda: base.clone().requires_grad_(True) * 1.5):
        x = make()
        yield x, torch.rand(out_shape, generator=g, dtype=dtype) - 0.5, torch.rand(base.shape, generator=g, dtype=dtype) - 0.5


def test_every_mutant_declared_equivalent_computes_what_the_solution_does():
    """Each mutant `validate.equivalent` lists, run beside the solution on the functions the checks use (the
    worked example and chains of linear, mixing and elementwise steps), in float32 and float64, with x a plain
    tensor, a leaf that requires grad or a non-leaf, in grad mode as every call of the contract is: the same
    result, bit for bit, and x left in the same state."""
    from grader.authoring.mutants import generate

    assignment = load("assignment3", root=ROOT)
    source = (ROOT / "solutions" / "assignment3" / "jacobians.py").read_text()
    mutants = {m.id: m for m in generate(source)}
    assert assignment.equivalent and set(assignment.equivalent) <= set(mutants)
    solution = {}
    exec(compile(source, "jacobians.py", "exec"), solution)
    fns = [(ref.WORKED_EXAMPLE, 2), *((ref.fixed_fn(n, m, seed=seed), n) for n, m, seed in ((3, 2, 1), (2, 4, 2), (4, 3, 3)))]
    for mutant_id in assignment.equivalent:
        mutant = _mutant_module(mutants[mutant_id])
        name = mutants[mutant_id].function
        compared = 0
        for fn, n in fns:
            f = fn.build()
            for dtype in (torch.float32, torch.float64):
                for x, v, u in _inputs(fn, n, dtype, seed=n):
                    args = {"vjp": (v,), "jvp": (u,), "jacobian": ()}[name]
                    if name == "jacobian" or fn is not ref.WORKED_EXAMPLE:
                        xs = x
                    else:
                        xs = x.reshape(1, n)
                        args = tuple(a.reshape(1, -1) for a in args)
                    before = _state(xs)
                    expected = solution[name](f, xs, *args)
                    after_solution = _state(xs)
                    got = mutant[name](f, xs, *args)
                    assert got.dtype == expected.dtype and torch.equal(got, expected), (mutant_id, fn, dtype)
                    assert all(torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
                               for a, b in zip(_state(xs), after_solution)), mutant_id
                    assert torch.equal(before[0], after_solution[0])
                    compared += 1
        assert compared >= 20, mutant_id
