"""Hidden checks of assignment4: run only by `grader grade`, never shipped to students."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import assignment_module, check
from grader.checks import strategies as S

ref = assignment_module(__file__, "references")
as_number, as_pair, show = ref.as_number, ref.as_pair, ref.show


def _edge_cases():
    """``(label, x, y, w)``: one point, an exact fit, w = 0, a negative w, zeros and repeats in x."""
    x7 = np.linspace(-3.0, 3.0, 7)
    return [
        ("a single point", np.array([2.5]), np.array([-1.0]), 0.3),
        ("data on the line y = 1.5 x, at w = 1.5", x7, 1.5 * x7, 1.5),
        ("w = 0", np.array([1.0, -2.0, 0.5]), np.array([0.25, 3.0, -1.5]), 0.0),
        ("a negative w", np.array([0.5, 1.5, -2.5, 3.0]), np.array([1.0, -1.0, 2.0, 0.0]), -2.0),
        ("zeros and repeated values in x", np.array([0.0, 0.0, 1.0, 1.0, -1.0]), np.array([1.0, 2.0, 3.0, 3.0, 0.5]), 0.75),
    ]


def _untouched(judge, call, names, arrays, label: str) -> None:
    for name, state, before in zip(names, call.inputs, arrays):
        judge.expect(
            isinstance(state.value, np.ndarray) and state.value.shape == before.shape and np.array_equal(state.value, before),
            f"{label} modified its input array {name}; compute new arrays (x ** 2, not x **= 2).",
        )


# ------------------------------------------------------------------ cost
@check("cost.wide_range", points=6, hint="mean((w * x - y) ** 2) in float64, for any magnitude of the data")
@settings(max_examples=10)
@given(xy=ref.samples(low=-50.0, high=50.0), w=ref.weights(-10.0, 10.0), scale=S.float64_scales())
def test_cost_wide_range(student, judge, xy, w, scale):
    x, y = xy
    y, w = y * scale, w * scale
    got = as_number(student.call("cost", x, y, w).value, judge, what="cost(xs, ys, w)")
    judge.close(got, ref.cost(x, y, w), what="cost(xs, ys, w)", inputs=show(xs=x, ys=y, w=w))


@check("cost.edge_cases", points=6, hint="average over however many points there are (one included); the cost is 0 on an exact fit")
def test_cost_edge_cases(student, judge):
    for label, x, y, w in _edge_cases():
        got = as_number(student.call("cost", x, y, w).value, judge, what=f"cost with {label}")
        judge.close(got, ref.cost(x, y, w), what=f"cost with {label}", inputs=show(xs=x, ys=y, w=w))


# ------------------------------------------------------------------ gradient
@check("gradient.wide_range", points=6, hint="mean(2 * x * (w * x - y)) in float64, for any magnitude of the data")
@settings(max_examples=10)
@given(xy=ref.samples(low=-50.0, high=50.0), w=ref.weights(-10.0, 10.0), scale=S.float64_scales())
def test_gradient_wide_range(student, judge, xy, w, scale):
    x, y = xy
    y, w = y * scale, w * scale
    got = as_number(student.call("gradient", x, y, w).value, judge, what="gradient(xs, ys, w)")
    judge.close(got, ref.gradient(x, y, w), what="gradient(xs, ys, w)", inputs=show(xs=x, ys=y, w=w))


@check("gradient.edge_cases", points=6, hint="average over however many points there are; the gradient is 0 at the best w")
def test_gradient_edge_cases(student, judge):
    for label, x, y, w in _edge_cases():
        got = as_number(student.call("gradient", x, y, w).value, judge, what=f"gradient with {label}")
        judge.close(got, ref.gradient(x, y, w), what=f"gradient with {label}", inputs=show(xs=x, ys=y, w=w))


# ------------------------------------------------------------------ quadratic_loss_grads
@check("quadratic_loss_grads.wide_range", points=5, hint="dL/dw = sum(e * x**2), dL/db = sum(e) with e = w * x**2 + b - y, in float64")
@settings(max_examples=10)
@given(xy=ref.samples(low=-5.0, high=5.0), w=ref.weights(-10.0, 10.0), b=ref.weights(-10.0, 10.0), scale=S.float64_scales())
def test_quadratic_loss_grads_wide_range(student, judge, xy, w, b, scale):
    x, y = xy
    y, w, b = y * scale, w * scale, b * scale
    got = as_pair(student.call("quadratic_loss_grads", x, y, w, b).value, judge, what="quadratic_loss_grads(x, y, w, b)")
    judge.close(got, ref.quadratic_loss_grads(x, y, w, b), what="(dL/dw, dL/db)", inputs=show(x=x, y=y, w=w, b=b))


@check("quadratic_loss_grads.edge_cases", points=4, hint="both gradients are sums over the points (one point included); both are 0 on an exact fit")
def test_quadratic_loss_grads_edge_cases(student, judge):
    x5 = np.linspace(-2.0, 2.0, 5)
    cases = [
        ("a single point", np.array([1.5]), np.array([-0.5]), 0.4, -1.2),
        ("data on y = 3 x**2 + 2, at (3, 2)", x5, 3 * x5**2 + 2, 3.0, 2.0),
        ("x all zeros", np.zeros(4), np.array([1.0, -2.0, 0.5, 3.0]), 1.7, 0.25),
        ("w = b = 0", np.array([0.5, -1.0, 2.0]), np.array([1.0, 1.0, -3.0]), 0.0, 0.0),
    ]
    for label, x, y, w, b in cases:
        got = as_pair(student.call("quadratic_loss_grads", x, y, w, b).value, judge, what=f"quadratic_loss_grads with {label}")
        judge.close(got, ref.quadratic_loss_grads(x, y, w, b), what=f"(dL/dw, dL/db) with {label}", inputs=show(x=x, y=y, w=w, b=b))


@check("quadratic_loss_grads.inputs_untouched", points=4, hint="build new arrays (x ** 2, w * x2 + b - y); never x **= 2 or y -= ...")
def test_quadratic_loss_grads_inputs_untouched(student, judge):
    x, y = np.array([0.5, -1.5, 2.0, 3.0]), np.array([1.0, 2.0, -1.0, 0.5])
    results = []
    for w, b in ((0.5, -0.5), (2.0, 1.0)):
        call = student.call("quadratic_loss_grads", x.copy(), y.copy(), w, b)
        results.append(tuple(as_pair(call.value, judge, what="quadratic_loss_grads(x, y, w, b)").tolist()))
        _untouched(judge, call, ("x", "y"), (x, y), "quadratic_loss_grads")
    judge.expect(results[0] != results[1], "quadratic_loss_grads returned the same gradients at two different (w, b).")


# ------------------------------------------------------------------ fit_quadratic
def _fit_problem():
    g = np.random.default_rng(41)
    x = g.uniform(-1.0, 1.0, 12)
    return x, 1.5 * x**2 - 0.5 + 0.2 * g.standard_normal(12)


@check("fit_quadratic.step_count", points=6, hint="exactly `epochs` updates: epochs = 1 is one step from (w0, b0)")
def test_fit_quadratic_step_count(student, judge):
    x, y = _fit_problem()
    for epochs in (1, 2, 5):
        got = as_pair(student.call("fit_quadratic", x, y, 0.5, 1.0, 0.05, epochs).value, judge, what="fit_quadratic(...)")
        judge.close(got, ref.fit_quadratic(x, y, 0.5, 1.0, 0.05, epochs),
                    what=f"the final (w, b) of fit_quadratic(x, y, w0=0.5, b0=1.0, lr=0.05, epochs={epochs})", inputs=show(x=x, y=y))


@check("fit_quadratic.long_runs", points=6, hint="update w and b together from the gradients at the same point, every epoch")
@settings(max_examples=5)
@given(xy=ref.samples(max_n=10, low=-1.0, high=1.0), w0=ref.weights(-2.0, 2.0), b0=ref.weights(-2.0, 2.0),
       lr=st.sampled_from([0.01, 0.05]), epochs=st.integers(20, 120), scale=S.float64_scales())
def test_fit_quadratic_long_runs(student, judge, xy, w0, b0, lr, epochs, scale):
    x, y = xy
    y, w0, b0 = y * scale, w0 * scale, b0 * scale  # gradient descent is linear in (y, w, b): every iterate scales
    got = as_pair(student.call("fit_quadratic", x, y, w0, b0, lr, epochs).value, judge, what="fit_quadratic(...)")
    judge.close(got, ref.fit_quadratic(x, y, w0, b0, lr, epochs), what="the final (w, b) of fit_quadratic",
                inputs=show(x=x, y=y, w0=w0, b0=b0) + f"; lr = {lr}; epochs = {epochs}")


@check("fit_quadratic.inputs_untouched", points=3, hint="x and y are the data: read them, never modify them in place")
def test_fit_quadratic_inputs_untouched(student, judge):
    x, y = _fit_problem()
    call = student.call("fit_quadratic", x.copy(), y.copy(), 0.0, 0.0, 0.05, 10)
    w, b = as_pair(call.value, judge, what="fit_quadratic(...)").tolist()
    judge.expect((w, b) != (0.0, 0.0), "fit_quadratic(x, y, 0.0, 0.0, 0.05, 10) did not move (w, b) from the start.")
    _untouched(judge, call, ("x", "y"), (x, y), "fit_quadratic")
