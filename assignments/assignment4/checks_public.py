"""Public checks of assignment4 (gradients without autograd).

Run them with ``grader check assignment4``. Each check calls one of your
functions in a separate process with NumPy float64 arrays and Python floats
built here, and compares what it returns with torch's own result: ``F.mse_loss``
for the cost, and torch autograd (in float64) for every gradient. Your
functions run with autograd disabled: calling ``.backward()``,
``torch.autograd.grad`` or ``torch.func`` fails the call.
"""

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import assignment_module, check
from grader.checks import strategies as S

ref = assignment_module(__file__, "references")
as_number, as_pair, describe, show = ref.as_number, ref.as_pair, ref.describe, ref.show


def _floats_that_respond(judge, values, call_text: str) -> None:
    """Each value is a Python float, and they are not all the same (the function does something)."""
    for label, v in values:
        judge.expect(isinstance(v, float), f"{call_text} with {label} returned {describe(v)}; expected a Python float (float(...) or .item()).")
    judge.expect(len({v for _, v in values}) > 1, f"{call_text} returned the same value {values[0][1]!r} for different inputs.")


# ------------------------------------------------------------------ cost
@check("cost.worked_example", points=3, hint="mean((w * x - y) ** 2): at w = 1 it is (1 + 4 + 9) / 3")
def test_cost_worked_example(student, judge):
    x, y = ref.linear_example()
    for w in (1.0, 2.0, 0.5):
        got = as_number(student.call("cost", x, y, w).value, judge, what=f"cost(x_data, y_data, {w})")
        judge.close(got, ref.cost(x, y, w), what=f"cost(x_data, y_data, {w}) on the worked example (x_data = [1, 2, 3], y_data = [2, 4, 6])")


@check("cost.values", points=6, hint="the MEAN over all points of (w * x - y) ** 2, not the sum, in float64 (the data here go past float32's range, 3.4e38)")
@settings(max_examples=10)
@given(xy=ref.samples(), w=ref.weights(), scale=S.float64_scales())
def test_cost_values(student, judge, xy, w, scale):
    x, y = xy
    y, w = y * scale, w * scale
    got = as_number(student.call("cost", x, y, w).value, judge, what="cost(xs, ys, w)")
    judge.close(got, ref.cost(x, y, w), what="cost(xs, ys, w)", inputs=show(xs=x, ys=y, w=w))


@check("cost.returns_float", points=3, hint="return a Python float: float(np.mean(...)), not an array or a tensor")
def test_cost_returns_float(student, judge):
    x, y = ref.linear_example()
    values = [(f"w = {w}", student.call("cost", x, y, w).value) for w in (1.0, 2.0)]
    _floats_that_respond(judge, values, "cost(x_data, y_data, w)")


# ------------------------------------------------------------------ gradient
@check("gradient.worked_example", points=3, hint="mean(2 * x * (w * x - y)): at w = 1 it is -28 / 3, at w = 2 it is 0")
def test_gradient_worked_example(student, judge):
    x, y = ref.linear_example()
    for w in (1.0, 2.0, 0.5):
        got = as_number(student.call("gradient", x, y, w).value, judge, what=f"gradient(x_data, y_data, {w})")
        judge.close(got, ref.gradient(x, y, w), what=f"gradient(x_data, y_data, {w}) on the worked example (x_data = [1, 2, 3], y_data = [2, 4, 6])")


@check("gradient.values", points=6, hint="d/dw of mean((w x - y)^2) is mean(2 * x * (w * x - y)): keep the factor 2 and the sign, in float64 (the data here go past float32's range, 3.4e38)")
@settings(max_examples=10)
@given(xy=ref.samples(), w=ref.weights(), scale=S.float64_scales())
def test_gradient_values(student, judge, xy, w, scale):
    x, y = xy
    y, w = y * scale, w * scale
    got = as_number(student.call("gradient", x, y, w).value, judge, what="gradient(xs, ys, w)")
    judge.close(got, ref.gradient(x, y, w), what="gradient(xs, ys, w)", inputs=show(xs=x, ys=y, w=w))


@check("gradient.returns_float", points=3, hint="return a Python float: float(np.mean(...)), not a numpy.float32, an array or a tensor")
def test_gradient_returns_float(student, judge):
    x, y = ref.linear_example()
    values = [(f"w = {w}", student.call("gradient", x, y, w).value) for w in (1.0, 2.0)]
    _floats_that_respond(judge, values, "gradient(x_data, y_data, w)")


# ------------------------------------------------------------------ quadratic_loss_grads
@check("quadratic_loss_grads.worked_example", points=3, hint="with e = w * x**2 + b - y: dL/dw = sum(e * x**2), dL/db = sum(e)")
def test_quadratic_loss_grads_worked_example(student, judge):
    x, y = ref.quadratic_example()
    for w, b in ((0.0, 0.0), (3.0, 2.0)):
        got = as_pair(student.call("quadratic_loss_grads", x, y, w, b).value, judge, what=f"quadratic_loss_grads(x, y, {w}, {b})")
        judge.close(got, ref.quadratic_loss_grads(x, y, w, b), what=f"(dL/dw, dL/db) at (w, b) = ({w}, {b}) on the worked example (x = linspace(-1, 1, 100), y = 3x² + 2 + noise)")


@check("quadratic_loss_grads.values", points=6, hint="L = 0.5 * SUM(e ** 2): the 0.5 cancels the 2, and there is no mean; compute in float64 (the data here go past float32's range, 3.4e38)")
@settings(max_examples=10)
@given(xy=ref.samples(), w=ref.weights(), b=ref.weights(), scale=S.float64_scales())
def test_quadratic_loss_grads_values(student, judge, xy, w, b, scale):
    x, y = xy
    y, w, b = y * scale, w * scale, b * scale
    got = as_pair(student.call("quadratic_loss_grads", x, y, w, b).value, judge, what="quadratic_loss_grads(x, y, w, b)")
    judge.close(got, ref.quadratic_loss_grads(x, y, w, b), what="(dL/dw, dL/db)", inputs=show(x=x, y=y, w=w, b=b))


@check("quadratic_loss_grads.returns_tuple", points=3, hint="return (float(dw), float(db)): a tuple of two Python floats, not a list or an array")
def test_quadratic_loss_grads_returns_tuple(student, judge):
    x, y = ref.quadratic_example()
    results = []
    for w, b in ((0.0, 0.0), (1.0, 1.0)):
        got = student.call("quadratic_loss_grads", x, y, w, b).value
        what = f"quadratic_loss_grads(x, y, {w}, {b}) returned {describe(got)}"
        judge.expect(isinstance(got, tuple) and len(got) == 2, f"{what}; expected a tuple of two Python floats.")
        judge.expect(all(isinstance(v, float) for v in got), f"{what}; both elements must be Python floats (float(...)).")
        results.append(tuple(got))
    judge.expect(results[0] != results[1], "quadratic_loss_grads returned the same gradients at (w, b) = (0, 0) and (1, 1).")


# ------------------------------------------------------------------ fit_quadratic
@lru_cache(maxsize=None)
def _worked_fit():
    x, y = ref.quadratic_example()
    return ref.fit_quadratic(x, y, 0.0, 0.0, 0.001, 800)


@check("fit_quadratic.worked_example", points=5, hint="800 steps of w -= lr * dL/dw and b -= lr * dL/db, both gradients taken at the same (w, b)")
def test_fit_quadratic_worked_example(student, judge):
    x, y = ref.quadratic_example()
    got = as_pair(student.call("fit_quadratic", x, y, 0.0, 0.0, 0.001, 800).value, judge, what="fit_quadratic(...)")
    judge.close(got, _worked_fit(), what="the final (w, b) of fit_quadratic(x, y, 0.0, 0.0, lr=0.001, epochs=800) on the worked example")


@check("fit_quadratic.values", points=4, hint="start from (w0, b0) and take exactly `epochs` steps with quadratic_loss_grads, in float64 (the data here go past float32's range, 3.4e38)")
@settings(max_examples=8)
@given(xy=ref.samples(max_n=10, low=-1.0, high=1.0), w0=ref.weights(-2.0, 2.0), b0=ref.weights(-2.0, 2.0),
       lr=st.sampled_from([0.001, 0.01, 0.05]), epochs=st.integers(1, 8), scale=S.float64_scales())
def test_fit_quadratic_values(student, judge, xy, w0, b0, lr, epochs, scale):
    x, y = xy
    y, w0, b0 = y * scale, w0 * scale, b0 * scale  # gradient descent is linear in (y, w, b): every iterate scales
    got = as_pair(student.call("fit_quadratic", x, y, w0, b0, lr, epochs).value, judge, what="fit_quadratic(...)")
    judge.close(got, ref.fit_quadratic(x, y, w0, b0, lr, epochs), what="the final (w, b) of fit_quadratic",
                inputs=show(x=x, y=y, w0=w0, b0=b0) + f"; lr = {lr}; epochs = {epochs}")


@check("fit_quadratic.returns_tuple", points=3, hint="return (w, b) as a tuple of two Python floats, not the loss, a list or an array")
def test_fit_quadratic_returns_tuple(student, judge):
    x, y = ref.quadratic_example()
    got = student.call("fit_quadratic", x, y, 0.0, 0.0, 0.001, 3).value
    what = f"fit_quadratic(x, y, 0.0, 0.0, 0.001, 3) returned {describe(got)}"
    judge.expect(isinstance(got, tuple) and len(got) == 2, f"{what}; expected the tuple (w, b) of two Python floats.")
    judge.expect(all(isinstance(v, float) for v in got), f"{what}; both w and b must be Python floats.")
    judge.expect(tuple(got) != (0.0, 0.0), f"{what}: (w, b) did not move from the start (0.0, 0.0) in 3 steps.")
