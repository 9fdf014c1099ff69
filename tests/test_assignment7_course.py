"""Assignment 7's course files keep their promises: the README example is true, the references give COURSE.md's
numbers and are torch's own backward rules, the inputs the checks draw are the kind the contract promises."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, load_solution, readme_example_code, readme_example_output
from grader.checks import assignment_module
from grader.course import course_root, load

ref = assignment_module(ROOT / "assignments" / "assignment7" / "references.py", "references")
EXAMPLES = settings(max_examples=40, derandomize=True, database=None, deadline=None)


def test_assignment7_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment7", monkeypatch)
    assert printed == ["[2.0, 2.0, 2.0] (2, 3)", "[[2.0, 2.0, 2.0]]", "[[0.0, 10.0, 0.0]]", "[[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]"]
    # The comment next to each print starts with what it prints.
    comments = [c.split("  ")[0] for c in re.findall(r"print\(.*\)\s+# (.*)", readme_example_code("assignment7"))]
    assert comments == printed


def test_references_give_the_course_numbers():
    """COURSE.md: (2, 3) + (3,) with upstream ones(2, 3): b's gradient is [2, 2, 2], a's ones(2, 3); forgetting to
    sum would give b a (2, 3) gradient."""
    grad_out, a_shape, b_shape = ref.worked_example()
    grad_a, grad_b = ref.add_backward(grad_out, a_shape, b_shape)
    assert grad_b.tolist() == [2.0, 2.0, 2.0] and torch.equal(grad_a, torch.ones(2, 3))
    assert ref.unbroadcast(grad_out, b_shape).tolist() == [2.0, 2.0, 2.0]
    assert ref.unbroadcast(grad_out, (1, 3)).shape == (1, 3) and ref.unbroadcast(grad_out, ()).item() == 6.0


def test_references_are_torch_backward_rules():
    """The autograd references agree with torch's own reductions and scatters for the same rule (float64, exact
    where the operation is exact)."""
    g = torch.Generator().manual_seed(7)
    grad = torch.randn(4, 2, 3, generator=g, dtype=torch.float64)
    for shape in ((3,), (2, 1), (1, 2, 3), (4, 1, 1), ()):
        assert torch.allclose(ref.unbroadcast(grad, shape), grad.sum_to_size(shape))
    a, b = torch.randn(2, 1, 3, generator=g, dtype=torch.float64), torch.randn(4, 1, generator=g, dtype=torch.float64)
    out = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    ga, gb = ref.mul_backward(out, a, b)
    assert torch.allclose(ga, (out * b).sum_to_size(a.shape)) and torch.allclose(gb, (out * a).sum_to_size(b.shape))
    a, b = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    out = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    ga, gb = ref.matmul_backward(out, a, b)
    assert ga.shape == (3, 2) and torch.allclose(ga, (out @ b.mT).sum(0)) and torch.allclose(gb, a.mT @ out)
    x = torch.tensor([[1.0, 7.0, 7.0], [3.0, 3.0, -1.0]], dtype=torch.float64)
    got = ref.max_backward(torch.tensor([10.0, 20.0], dtype=torch.float64), x, 1, False)
    assert got.tolist() == [[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]]  # the first of the tied maxima, as x.max(dim) picks
    xs = torch.randn(3, 4, generator=g, dtype=torch.float64)
    up = torch.randn(3, 4, generator=g, dtype=torch.float64)
    for dim in (0, 1, -1):
        y = torch.softmax(xs, dim)
        assert torch.allclose(ref.softmax_backward(up, xs, dim), torch._softmax_backward_data(up, y, dim, torch.float64))
    idx = torch.tensor([[1, 3], [1, 1]])
    rows = torch.randn(2, 2, 5, generator=g, dtype=torch.float64)
    expected = torch.zeros(4, 5, dtype=torch.float64).index_add_(0, idx.reshape(-1), rows.reshape(-1, 5))
    assert torch.allclose(ref.embedding_backward(rows, idx, 4), expected)
    assert ref.embedding_backward(rows[0, 0], torch.tensor(2), 4)[2].tolist() == rows[0, 0].tolist()  # 0-dim indices
    up = torch.randn(2, 3, generator=g, dtype=torch.float64)
    assert torch.equal(ref.sum_backward(up, (2, 4, 3), 1, False), up.unsqueeze(1).expand(2, 4, 3))
    assert ref.sum_backward(torch.tensor(2.0), (), None, False).item() == 2.0


@EXAMPLES
@given(shapes=ref.broadcasts())
def test_unbroadcast_inputs_really_broadcast(shapes):
    out, shape = shapes
    assert 1 <= len(out) <= 4 and len(shape) <= len(out) and shape != out
    assert torch.broadcast_shapes(shape, out) == out


@EXAMPLES
@given(shapes=ref.broadcast_pairs())
def test_pairs_broadcast_at_least_one_operand(shapes):
    a, b, out = shapes
    assert torch.broadcast_shapes(a, b) == out and (a != out or b != out)


@EXAMPLES
@given(shapes=ref.matmul_shapes())
def test_matmul_shapes_are_at_least_2d_and_multiply(shapes):
    a, b, out = shapes
    assert len(a) >= 2 and len(b) >= 2 and a[-1] == b[-2]
    assert (torch.zeros(a) @ torch.zeros(b)).shape == out


@EXAMPLES
@given(case=ref.sums(0))
def test_sum_dims_are_what_the_contract_allows(case):
    shape, dim = case
    if dim is None:
        return
    dims = (dim,) if isinstance(dim, int) else dim
    assert shape and dims and len({d % len(shape) for d in dims}) == len(dims)
    assert all(-len(shape) <= d < len(shape) for d in dims)
    for keepdim in (False, True):
        ref.sum_forward(torch.zeros(shape), dim, keepdim)  # torch accepts it


@EXAMPLES
@given(case=ref.shape_and_dim(), data=st.data())
def test_max_inputs_tie_and_indices_are_int64_in_range(case, data):
    shape, dim = case
    assert -len(shape) <= dim < len(shape)
    x = data.draw(ref.small_integers(shape, torch.float32))
    assert x.dtype == torch.float32 and torch.equal(x, x.round()) and x.abs().max() <= 2
    n = data.draw(st.integers(1, 6))
    idx = data.draw(ref.indices(n))
    assert idx.dtype == torch.int64 and idx.dim() <= 3 and bool(((idx >= 0) & (idx < n)).all())


def _draws(strategy, n: int = 60) -> list:
    seen = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None)
    @given(value=strategy)
    def collect(value):
        seen.append(value)

    collect()
    return seen


def test_ties_and_repeats_are_common():
    """The max checks' inputs often tie along dim, and the embedding checks' indices often repeat one."""
    xs = _draws(ref.shape_and_dim().flatmap(lambda case: st.tuples(ref.small_integers(case[0], torch.float32), st.just(case[1]))))
    ties = [bool(((x == x.max(dim=dim, keepdim=True).values).sum(dim=dim) > 1).any()) for x, dim in xs]
    assert sum(ties) / len(ties) > 0.5
    lookups = _draws(st.integers(1, 6).flatmap(lambda n: ref.indices(n)))
    repeats = [idx.numel() > idx.unique().numel() for idx in lookups]
    assert sum(repeats) / len(repeats) > 0.3


def test_solution_keeps_dtype_and_leaves_inputs_alone():
    solution = load_solution("assignment7")
    for dtype in (torch.float32, torch.float64):
        grad = torch.ones(2, 3, dtype=dtype)
        before = grad.clone()
        grad_a, grad_b = solution.add_backward(grad, (2, 3), (3,))
        assert grad_a.dtype == grad_b.dtype == dtype and torch.equal(grad, before)
        assert solution.embedding_backward(torch.ones(3, 2, dtype=dtype), torch.tensor([1, 0, 1]), 3).dtype == dtype
        assert torch.equal(solution.embedding_backward(torch.ones(3, 2, dtype=dtype), torch.tensor([1, 0, 1]), 3),
                           F.one_hot(torch.tensor([1, 0, 1]), 3).to(dtype).T @ torch.ones(3, 2, dtype=dtype))


def test_check_ids_belong_to_the_contract_and_points_add_up():
    a = load("assignment7", root=course_root())
    assert a.functions == ["unbroadcast", "add_backward", "mul_backward", "matmul_backward", "sum_backward",
                           "max_backward", "softmax_backward", "embedding_backward"]
    assert a.forbidden == {f: "autograd" for f in a.functions}
    assert not a.equivalent  # every mutant is killed: nothing is declared equivalent
    public, hidden = a.public_checks.read_text(), a.hidden_checks.read_text()
    checks = re.findall(r'@check\("([a-z_]+)\.([a-z_0-9]+)", points=([0-9.]+)', public + hidden)
    assert {f for f, _, _ in checks} == set(a.functions) and "bonus=True" not in public + hidden
    per_function = {f: sum(float(p) for g, _, p in checks if g == f) for f in a.functions}
    assert sum(per_function.values()) == 100 and all(10 <= p <= 14 for p in per_function.values())
    assert sum(float(p) for p in re.findall(r"@check\([^)]*points=([0-9.]+)", public)) == 40
