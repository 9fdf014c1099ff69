"""assignment2 as a real nbgrader course, for bench_class.py.

One notebook: a markdown cell, one solution cell (the whole module of
solutions/assignment2/linear_regression.py, its ``### BEGIN/END SOLUTION``
markers included), a read-only setup cell (torch's references, the Hypothesis
strategies of grader/checks/strategies.py, small helpers) and one autograded
test cell per check of checks_public.py + checks_hidden.py, with the check's
id, points (100 in all) and Hypothesis example count, under the grading
profile's settings. nbgrader scores a cell all or nothing, so the tolerance is
the grader's full-credit tier (there is no half-credit tier).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tokenize
from pathlib import Path

import nbformat

ASSIGNMENT = "assignment2"
NOTEBOOK = "linear_regression.ipynb"

SETUP = '''\
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch.optim.sgd import sgd as _sgd


def grading(max_examples):
    """The grader's Hypothesis profile (grader/checks/strategies.py) with the check's example count."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    print_blob=False, report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
                    phases=(Phase.explicit, Phase.generate, Phase.shrink))


float_dtypes = st.sampled_from([torch.float32, torch.float64])
seeds = st.integers(min_value=0, max_value=2**16)


@st.composite
def tensors(draw, shape, dtype=torch.float32, low=-2.0, high=2.0):
    g = torch.Generator().manual_seed(draw(seeds))
    return torch.rand(tuple(shape), generator=g, dtype=dtype) * (high - low) + low


def learning_rates():
    return st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.5])


@st.composite
def linear_problems(draw, dtype=None, max_n=8, max_d=4):
    dtype = dtype or draw(float_dtypes)
    n, d = draw(st.integers(1, max_n)), draw(st.integers(1, max_d))
    return draw(tensors((n, d), dtype)), draw(tensors((d, 1), dtype)), draw(tensors((1,), dtype))


@st.composite
def shapes(draw, max_dims=3, max_side=5):
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=0, max_size=max_dims)))


def leaf(t, grad=None):
    p = t.detach().clone().requires_grad_(True)
    if grad is not None:
        p.grad = grad.detach().clone()
    return p


def ref_forward(x, w, b):
    return F.linear(x, w.T, b)


def ref_mse_loss(y_pred, y):
    return F.mse_loss(y_pred, y)


def ref_zero_grad(params):
    return [None if p.grad is None else torch.zeros_like(p.grad) for p in params]


def ref_step(params, lr):
    with torch.no_grad():
        live = [p for p in params if p.grad is not None]
        _sgd(live, [p.grad for p in live], [None] * len(live),
             weight_decay=0.0, momentum=0.0, lr=lr, dampening=0.0, nesterov=False, maximize=False)


def ref_sgd_step(params, lr):
    params = [leaf(p, p.grad) for p in params]
    ref_step(params, lr)
    return [p.detach() for p in params]


def ref_train(x, y, w, b, lr, epochs):
    w, b = leaf(w), leaf(b)
    losses = []
    for _ in range(epochs):
        loss = F.mse_loss(ref_forward(x, w, b), y)
        losses.append(loss.item())
        for p in (w, b):
            if p.grad is not None:
                p.grad.zero_()
        loss.backward()
        ref_step([w, b], lr)
    return torch.tensor(losses, dtype=x.dtype), w.detach(), b.detach()


def worked_example(dtype=torch.float32):
    g = torch.Generator().manual_seed(2024)
    x = torch.rand(50, 1, generator=g, dtype=dtype)
    return x, 3 * x + 0.8, torch.rand(1, 1, generator=g, dtype=dtype), torch.zeros(1, dtype=dtype)


def params_with_grads(dtype=torch.float32):
    g = torch.Generator().manual_seed(7)
    return [leaf(torch.randn(s, generator=g, dtype=dtype), torch.randn(s, generator=g, dtype=dtype)) for s in [(3, 1), (1,)]]


def hidden_params(dtype=torch.float32, seed=11, with_grads=(True, True, True)):
    g = torch.Generator().manual_seed(seed)
    return [leaf(torch.randn(s, generator=g, dtype=dtype), torch.randn(s, generator=g, dtype=dtype) if has else None)
            for s, has in zip([(4, 1), (1,), (2, 3)], with_grads)]


def problem(dtype, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, 1, generator=g, dtype=dtype)
    return x, y, torch.randn(d, 1, generator=g, dtype=dtype) * 0.5, torch.randn(1, generator=g, dtype=dtype) * 0.5


def as_generator(params):
    return (p for p in params)


def clones(params):
    return [p.detach().clone() for p in params]


def changed(after, before):
    return after.shape != before.shape or not torch.equal(after.detach().to(before.dtype), before.detach())


def all_zeroed(params, had=(True, True, True)):
    for i, (p, has) in enumerate(zip(params, had)):
        if has:
            assert p.grad is not None and not p.grad.any(), f"params[{i}].grad is not zeros after zero_grad"


def numbers(value):
    assert isinstance(value, (list, tuple)), f"expected a list of numbers, got {type(value).__name__}"
    for v in value:
        number = isinstance(v, (int, float, np.generic)) or (isinstance(v, torch.Tensor) and v.numel() == 1)
        assert number and not isinstance(v, (bool, np.bool_)), f"{v!r} is not a number"
    return torch.tensor([float(v) for v in value], dtype=torch.float64)


TOL = {torch.float32: (1.3e-6, 1e-5), torch.float64: (1e-7, 1e-7)}  # torch.testing's defaults: the grader's full-credit tier


def close(got, expected):
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        got = torch.tensor(float(got), dtype=torch.float64)
    assert isinstance(got, torch.Tensor), f"expected a tensor, got {type(got).__name__}"
    assert got.shape == expected.shape or (got.numel() == 1 and expected.dim() == 0), \\
        f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    rtol, atol = TOL.get(expected.dtype, TOL[torch.float64])
    torch.testing.assert_close(got.detach().reshape(expected.shape).double(), expected.double(), rtol=rtol, atol=atol)
'''


def _hyp(name: str, examples: int, body: str, **given: str) -> str:
    """A Hypothesis test cell: define the property (strategies given as source text) and run it."""
    strategies = ", ".join(f"{arg}={strategy}" for arg, strategy in given.items())
    body = "\n".join("    " + line for line in body.splitlines())
    return f"@given({strategies})\n@grading({examples})\ndef {name}({', '.join(given)}):\n{body}\n\n\n{name}()\n"


# (check id, points, test cell source), in the grader's order: public checks, then hidden ones.
TESTS = [
    ("forward.worked_example", 3, """\
x, y, w, b = worked_example()
w, b = torch.tensor([[3.0]]), torch.tensor([0.8])
expected = ref_forward(x, w, b)
close(forward(x, w, b), expected)
"""),
    ("forward.values_float32", 4, _hyp("test_forward_values_float32", 10, """\
x, w, b = xwb
expected = ref_forward(x, w, b)
close(forward(x, w, b), expected)""", xwb="linear_problems(dtype=torch.float32)")),
    ("forward.differentiable", 3, """\
x, _, w, b = worked_example()
out = forward(x, leaf(w), leaf(b))
assert isinstance(out, torch.Tensor) and out.requires_grad and out.grad_fn is not None, "forward's result is outside the autograd graph"
"""),
    ("mse_loss.values_float32", 4, _hyp("test_mse_loss_values_float32", 10, """\
y_pred, y = data.draw(tensors(shape)), data.draw(tensors(shape))
expected = ref_mse_loss(y_pred, y)
close(mse_loss(y_pred, y), expected)""", shape="shapes()", data="st.data()")),
    ("mse_loss.zero_dim", 2, """\
x, y, w, b = worked_example()
got = mse_loss(ref_forward(x, w, b), y)
assert isinstance(got, torch.Tensor) and got.dim() == 0, "mse_loss must return a 0-dim tensor"
"""),
    ("zero_grad.zeroes", 5, """\
for dtype in (torch.float32, torch.float64):
    params = params_with_grads(dtype)
    expected = ref_zero_grad(params)
    zero_grad(params)
    for p, e in zip(params, expected):
        assert p.grad is not None, "zero_grad left a gradient None"
        close(p.grad, e)
"""),
    ("zero_grad.keeps_grad_object", 5, """\
params = params_with_grads()
grads = [(p.grad, p.grad.data_ptr()) for p in params]
zero_grad(params)
for p, (g, ptr) in zip(params, grads):
    assert p.grad is g and g.data_ptr() == ptr and not g.any(), "the same .grad tensor must be zeroed in place"
"""),
    ("sgd_step.values", 5, _hyp("test_sgd_step_values", 10, """\
params = [leaf(data.draw(tensors(shape, dtype)), data.draw(tensors(shape, dtype))),
          leaf(data.draw(tensors((1,), dtype)), data.draw(tensors((1,), dtype)))]
expected = ref_sgd_step(params, lr)
sgd_step(params, lr)
for p, e in zip(params, expected):
    close(p.detach(), e)""", dtype="float_dtypes", shape="shapes(max_dims=2)", lr="learning_rates()", data="st.data()")),
    ("sgd_step.in_place", 4, """\
params = params_with_grads()
before = clones(params)
sgd_step(params, 0.1)
for p, old in zip(params, before):
    assert changed(p, old), "sgd_step must update the caller's tensors in place"
"""),
    ("sgd_step.untracked", 4, """\
params = params_with_grads()
before = clones(params)
sgd_step(params, 0.1)
for p, old in zip(params, before):
    assert changed(p, old), "sgd_step did not update the parameters"
    assert p.is_leaf and p.requires_grad and p.grad_fn is None, "parameters must stay leaves that require grad"
"""),
    ("train.worked_example", 5, """\
x, y, w, b = worked_example()
expected, _, _ = ref_train(x, y, w, b, 0.01, 200)
close(numbers(train(x, y, leaf(w), leaf(b), 0.01, 200)), expected)
"""),
    ("train.returns_floats", 3, """\
x, y, w, b = worked_example()
got = train(x, y, leaf(w), leaf(b), 0.01, 3)
assert isinstance(got, (list, tuple)) and len(got) == 3, "train(..., epochs=3) must return a list of 3 floats"
assert all(isinstance(v, float) for v in got), "train must return Python floats (use loss.item())"
"""),
    # hidden checks
    ("forward.values_float64", 4, _hyp("test_forward_values_float64", 10, """\
x, w, b = xwb
expected = ref_forward(x, w, b)
close(forward(x, w, b), expected)""", xwb="linear_problems(dtype=torch.float64)")),
    ("forward.gradients", 4, _hyp("test_forward_gradients", 10, """\
x, w, b = xwb
grad_out = data.draw(tensors((x.shape[0], 1), x.dtype))
w_ref, b_ref = leaf(w), leaf(b)
ref_forward(x, w_ref, b_ref).backward(grad_out)
w_s, b_s = leaf(w), leaf(b)
forward(x, w_s, b_s).backward(grad_out)
for name, got, expected in (("w", w_s.grad, w_ref.grad), ("b", b_s.grad, b_ref.grad)):
    assert got is not None, f"{name}.grad is None after backward"
    close(got, expected)""", xwb="linear_problems()", data="st.data()")),
    ("forward.inputs_untouched", 2, """\
x, _, w, b = worked_example()
before = clones((x, w, b))
forward(x, w, b)
for name, t, old in zip("xwb", (x, w, b), before):
    assert not changed(t, old), f"forward modified its input {name}"
"""),
    ("mse_loss.values_float64", 4, _hyp("test_mse_loss_values_float64", 10, """\
y_pred, y = data.draw(tensors(shape, torch.float64)), data.draw(tensors(shape, torch.float64))
expected = ref_mse_loss(y_pred, y)
close(mse_loss(y_pred, y), expected)""", shape="shapes()", data="st.data()")),
    ("mse_loss.any_shape", 3, """\
g = torch.Generator().manual_seed(5)
for shape in [(6, 3), (2, 3, 4), ()]:
    y_pred, y = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    expected = ref_mse_loss(y_pred, y)
    close(mse_loss(y_pred, y), expected)
"""),
    ("mse_loss.gradient", 5, _hyp("test_mse_loss_gradient", 10, """\
y_pred, y = data.draw(tensors(shape, dtype)), data.draw(tensors(shape, dtype))
p = leaf(y_pred)
ref_mse_loss(p, y).backward()
s = leaf(y_pred)
out = mse_loss(s, y)
out.backward(torch.ones_like(out))
assert s.grad is not None, "y_pred.grad is None after backward"
close(s.grad, p.grad)""", shape="shapes()", dtype="float_dtypes", data="st.data()")),
    ("zero_grad.none_stays_none", 3, """\
params = hidden_params(with_grads=(True, False, True))
zero_grad(params)
assert params[1].grad is None, "a None gradient must stay None"
all_zeroed(params, (True, False, True))
"""),
    ("zero_grad.params_untouched", 3, """\
params = hidden_params(torch.float64)
before = clones(params)
zero_grad(params)
all_zeroed(params)
for p, old in zip(params, before):
    assert not changed(p, old), "zero_grad changed a parameter's values"
    assert p.is_leaf and p.requires_grad, "a parameter is no longer a leaf that requires grad"
"""),
    ("zero_grad.iterables", 4, """\
for wrap in (tuple, as_generator):
    params = hidden_params(seed=13)
    zero_grad(wrap(params))
    all_zeroed(params)
"""),
    ("sgd_step.grads_unchanged", 3, """\
params = hidden_params()
before, grads = clones(params), [(p.grad, p.grad.clone()) for p in params]
sgd_step(params, 0.05)
for p, old, (g, values) in zip(params, before, grads):
    assert changed(p, old), "sgd_step did not update a parameter"
    assert p.grad is g and not changed(g, values), "sgd_step changed a gradient"
"""),
    ("sgd_step.skips_none", 3, """\
params = hidden_params(with_grads=(True, False, True))
before = clones(params)
sgd_step(params, 0.05)
assert not changed(params[1], before[1]) and params[1].grad is None, "a parameter without gradient must stay unchanged"
assert changed(params[0], before[0]) and changed(params[2], before[2]), "a parameter with a gradient was not updated"
"""),
    ("sgd_step.iterables", 3, """\
as_list = hidden_params(seed=17)
sgd_step(as_list, 0.05)
for wrap in (tuple, as_generator):
    params = hidden_params(seed=17)
    before = clones(params)
    sgd_step(wrap(params), 0.05)
    for p, same, old in zip(params, as_list, before):
        assert changed(p, old) and torch.equal(p.detach(), same.detach()), "wrong update with a tuple or generator"
"""),
    ("train.losses_before_update", 4, """\
x, y, w, b = problem(torch.float64, 12, 3, seed=21)
expected, _, _ = ref_train(x, y, w, b, 0.1, 4)
got = numbers(train(x, y, leaf(w), leaf(b), 0.1, 4))
assert len(got) == 4, "train(..., epochs=4) must return 4 losses"
close(got, expected)
"""),
    ("train.updates_in_place", 4, """\
x, y, w, b = problem(torch.float32, 10, 2, seed=23)
_, w_ref, b_ref = ref_train(x, y, w, b, 0.05, 5)
w_s, b_s = leaf(w), leaf(b)
train(x, y, w_s, b_s, 0.05, 5)
close(w_s.detach(), w_ref)
close(b_s.detach(), b_ref)
"""),
    ("train.random_problems", 4, _hyp("test_train_random_problems", 8, """\
x, y, w, b = problem(dtype, n, d, seed)
expected, _, _ = ref_train(x, y, w, b, lr, epochs)
close(numbers(train(x, y, leaf(w), leaf(b), lr, epochs)), expected)""", dtype="float_dtypes", n="st.integers(1, 8)", d="st.integers(1, 3)", epochs="st.integers(1, 5)", lr="learning_rates()", seed="seeds")),
]


def _cell(kind: str, source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
    if nbgrader:
        meta = {"grade": False, "solution": False, "locked": False, "task": False, "schema_version": 3}
        cell.metadata["nbgrader"] = {**meta, **nbgrader}
    return cell


def source_notebook(solution: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Assignment 2: linear regression by hand\n\nFill in the five functions below, then run every cell."),
        _cell("code", solution, solution=True, grade_id="linear_regression"),
        _cell("code", SETUP, locked=True, grade_id="setup"),
    ]
    for check_id, points, source in TESTS:
        nb.cells.append(_cell("code", source, grade=True, locked=True, points=points, grade_id=check_id.replace(".", "_")))
    assert sum(points for _, points, _ in TESTS) == 100
    return nb


def nbgrader_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


def build_course(root: Path, solution: str) -> nbformat.NotebookNode:
    """Write the course at ``root``, generate the student version; return the released notebook."""
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'\n"
        "c.ExecutePreprocessor.timeout = 60\n"
    )
    nbformat.write(source_notebook(solution), root / "source" / ASSIGNMENT / NOTEBOOK)
    proc = subprocess.run(nbgrader_cmd("generate_assignment", ASSIGNMENT, "--create"), cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"nbgrader generate_assignment failed:\n{proc.stderr[-3000:]}")
    return nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)


def submit(root: Path, released: nbformat.NotebookNode, student: str, module: Path | None) -> None:
    """``submitted/<student>/assignment2/``: the released notebook, its solution cell holding ``module``'s source
    (undecodable bytes replaced); without a module (misnamed file, empty folder), the released notebook as is,
    so such a student is graded on the stub."""
    nb = nbformat.from_dict(released)
    if module is not None:
        data = module.read_bytes()
        try:  # what the student's editor showed: the declared encoding (or a BOM), else UTF-8
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError:
            encoding = "utf-8"
        code = data.decode(encoding, errors="replace")
        (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
        cell.source = code
    dest = root / "submitted" / student / ASSIGNMENT
    dest.mkdir(parents=True)
    nbformat.write(nb, dest / NOTEBOOK)


def scores(root: Path, students: list[str]) -> dict[str, float | None]:
    """Each student's autograded score from the gradebook; None where autograde failed on the notebook
    (a dead kernel: nbgrader logs the error, removes autograded/<student>/ and leaves a score of 0)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s: gb.find_submission(ASSIGNMENT, s).score if (root / "autograded" / s / ASSIGNMENT / NOTEBOOK).is_file() else None
                for s in students}
