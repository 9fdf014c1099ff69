"""Public checks of assignment5 (nn.Module and optim).

Run them with ``grader check assignment5``. Each check builds your objects in
a separate process, keeps them there, calls their methods, reads back their
parameters and settings as data, and compares them with torch's own
``nn.Linear``, ``torch.optim.SGD`` step and ``MSELoss``.

Each function is checked on its own, so one mistake costs the points of one
function: ``LinearModel``'s checks use your class; ``make_optimizer`` and
``train_step`` get a module shaped like ``LinearModel`` (``.linear`` is a
``torch.nn.Linear``) that the checks build in your process (no code of
yours) with parameters of their own, and ``train_step``
gets an optimizer the checks build too, ``torch.optim.SGD(model.parameters(),
lr=lr)``. Only ``fit`` uses your other functions, as its contract says.
"""

import math

import torch
from hypothesis import given, settings

from grader.checks import OptimizerInfo, Ref, assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value
from grader.checks.helpers import module_info, module_param

ref = assignment_module(__file__, "references")
SGD, Criterion, Linear = ref.SGD, ref.Criterion, ref.Linear


# ------------------------------------------------------------------ helpers








def _layer(in_features: int, out_features: int, seed: int = 0) -> Linear:
    """A ``torch.nn.Linear(in, out)`` that the harness builds in your process (no code of yours) and keeps
    as ``model``; its weight and bias are drawn from ``seed``, so that every example can be replayed."""
    g = torch.Generator().manual_seed(seed)
    return Linear(torch.rand(out_features, in_features, generator=g) * 2 - 1, torch.rand(out_features, generator=g) * 2 - 1)


def _problem(data, in_features: int, out_features: int, n: int, dtype=torch.float32):
    return data.draw(S.tensors((n, in_features), dtype)), data.draw(S.tensors((n, out_features), dtype))


# ------------------------------------------------------------------ LinearModel
@check("LinearModel.defaults", points=3, hint="def __init__(self, in_features=1, out_features=1): super().__init__(); self.linear = torch.nn.Linear(in_features, out_features)")
def test_LinearModel_defaults(student, judge):
    info = module_info(judge, student.call("LinearModel", keep="model").value, what="LinearModel()")
    for name, shape in ref.parameter_shapes(1, 1).items():
        got = tuple(module_param(judge, info, name, what="LinearModel()").shape)
        judge.expect(got == shape, f"LinearModel()'s {name} has shape {got}; with the defaults (1, 1) it should be {shape}.")


@check("LinearModel.only_linear", points=5, hint="the only submodule with parameters is self.linear = torch.nn.Linear(...): no extra nn.Parameter, no second layer")
def test_LinearModel_only_linear(student, judge):
    info = module_info(judge, student.call("LinearModel", 3, 2, keep="model").value, what="LinearModel(3, 2)")
    judge.expect(
        info.children.get("linear") == ref.LINEAR_TYPE,
        f"LinearModel(3, 2).linear should be a torch.nn.Linear; the submodules are {info.children or 'none'}.",
    )
    expected = sorted(ref.parameter_shapes(3, 2))
    judge.expect(
        sorted(info.params) == expected,
        f"LinearModel(3, 2)'s parameters are {sorted(info.params) or 'none'}; they should be exactly {expected}.",
    )


@check("LinearModel.forward_float32", points=5, hint="forward(x) returns self.linear(x)")
@settings(max_examples=8)
@given(in_features=S.st.integers(1, 4), out_features=S.st.integers(1, 3), n=S.st.integers(1, 6), data=S.st.data())
def test_LinearModel_forward_float32(student, judge, in_features, out_features, n, data):
    what = f"LinearModel({in_features}, {out_features})"
    info = ref.seeded_model(student, judge, in_features, out_features, data.draw(S.seeds))
    weight, bias = module_param(judge, info, "linear.weight", what=what), module_param(judge, info, "linear.bias", what=what)
    x = data.draw(S.tensors((n, in_features)))
    got = student.call("forward", x, on=Ref("model")).value
    judge.close(got, ref.forward(x, weight, bias), what=f"{what}.forward(x)",
                inputs=describe_inputs(x=x, weight=weight, bias=bias))


# ------------------------------------------------------------------ make_optimizer
@check("make_optimizer.sgd", points=4, hint="return torch.optim.SGD(model.parameters(), lr=lr)")
def test_make_optimizer_sgd(student, judge):
    opt = student.call("make_optimizer", _layer(3, 2), 0.05, keep="opt").value
    judge.expect(
        isinstance(opt, OptimizerInfo) and opt.type == ref.SGD_TYPE,
        f"make_optimizer(model, 0.05) for model = torch.nn.Linear(3, 2) returned {describe_value(opt)}; expected a torch.optim.SGD.",
    )


@check("make_optimizer.lr", points=4, hint="pass the learning rate on: torch.optim.SGD(..., lr=lr)")
def test_make_optimizer_lr(student, judge):
    model = _layer(2, 1)
    for lr in (0.01, 0.25, 0.003):
        opt = student.call("make_optimizer", model, lr, keep="opt").value
        model = Ref("model")  # the same torch.nn.Linear for the next learning rates
        judge.expect(isinstance(opt, OptimizerInfo) and opt.groups, f"make_optimizer(model, {lr}) returned {describe_value(opt)}, not an optimizer.")
        for i, group in enumerate(opt.groups):
            got = group.settings.get("lr")
            judge.expect(
                isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, lr, rel_tol=1e-12),
                f"make_optimizer(model, {lr}): the learning rate of parameter group {i} is {got!r}, expected {lr}.",
            )


@check("make_optimizer.all_parameters", points=5, hint="optimize all of model.parameters(), each once: not only the weight")
def test_make_optimizer_all_parameters(student, judge):
    opt = student.call("make_optimizer", _layer(3, 2), 0.05, keep="opt").value
    judge.expect(isinstance(opt, OptimizerInfo), f"make_optimizer(model, 0.05) returned {describe_value(opt)}, not an optimizer.")
    got = sorted(str(n) for g in opt.groups for n in g.params)
    expected = ["model.linear.bias", "model.linear.weight"]
    judge.expect(
        got == expected,
        f"make_optimizer(model, 0.05) for model = torch.nn.Linear(3, 2) optimizes {got or 'nothing'} "
        f"('None': a tensor that is not a parameter of the model); expected each of {expected} once.",
    )


# ------------------------------------------------------------------ train_step
@check("train_step.loss_before_update", points=5, hint="compute loss = criterion(model(x), y) before optimizer.step() and return loss.item()")
@settings(max_examples=6)
@given(in_features=S.st.integers(1, 4), out_features=S.st.integers(1, 3), n=S.st.integers(1, 6), data=S.st.data())
def test_train_step_loss_before_update(student, judge, in_features, out_features, n, data):
    layer = _layer(in_features, out_features, data.draw(S.seeds))
    x, y = _problem(data, in_features, out_features, n)
    got = student.call("train_step", layer, SGD("model", 0.1), Criterion("mse"), x, y).value
    expected = Criterion("mse").build()(ref.forward(x, layer.weight, layer.bias), y)
    judge.close(got, expected, what=f"train_step's returned loss (model torch.nn.Linear({in_features}, {out_features}), MSELoss, SGD with lr 0.1)",
                inputs=describe_inputs(x=x, y=y, weight=layer.weight, bias=layer.bias))


@check("train_step.updates_params", points=6, hint="optimizer.zero_grad(); loss = criterion(model(x), y); loss.backward(); optimizer.step()")
@settings(max_examples=6)
@given(in_features=S.st.integers(1, 4), out_features=S.st.integers(1, 3), n=S.st.integers(1, 6), lr=S.learning_rates(), data=S.st.data())
def test_train_step_updates_params(student, judge, in_features, out_features, n, lr, data):
    layer = _layer(in_features, out_features, data.draw(S.seeds))
    x, y = _problem(data, in_features, out_features, n)
    student.call("train_step", layer, SGD("model", lr), Criterion("mse"), x, y)
    after = student.describe(Ref("model"))
    _, weights, biases = ref.train_steps(layer.weight, layer.bias, ref.plain_sgd(lr), Criterion("mse").build(), [(x, y)])
    inputs = describe_inputs(x=x, y=y, weight=layer.weight, bias=layer.bias) + f"; lr = {lr}"
    judge.close(after.params["linear.weight"], weights[0], what="the model's weight after train_step (MSELoss, SGD)", inputs=inputs)
    judge.close(after.params["linear.bias"], biases[0], what="the model's bias after train_step (MSELoss, SGD)", inputs=inputs)


@check("train_step.returns_float", points=3, hint="return loss.item(): a Python float, not the loss tensor")
def test_train_step_returns_float(student, judge):
    layer = _layer(2, 1)
    g = torch.Generator().manual_seed(51)
    x, y = torch.randn(5, 2, generator=g), torch.randn(5, 1, generator=g)
    got = student.call("train_step", layer, SGD("model", 0.1), Criterion("mse"), x, y).value
    after = student.describe(Ref("model"))
    judge.expect(
        not torch.equal(after.params["linear.weight"], layer.weight),
        "the model's weight did not change during train_step: it must update the parameters with optimizer.step().",
    )
    judge.expect(isinstance(got, float), f"train_step returned {describe_value(got)}; expected a Python float (use loss.item()).")


# ------------------------------------------------------------------ fit
WORKED_X = [[1.0], [2.0], [3.0]]
WORKED_Y = [[2.0], [4.0], [6.0]]


@check("fit.worked_example", points=5, hint="torch.manual_seed(seed), then LinearModel, make_optimizer, MSELoss and `epochs` train_steps")
def test_fit_worked_example(student, judge):
    x, y = torch.tensor(WORKED_X), torch.tensor(WORKED_Y)
    what = "fit(x, y, lr=0.01, epochs=100, seed=0) on the worked example"
    module_info(judge, student.call("fit", x, y, 0.01, 100, 0, keep="fitted").value, what=what)
    at4 = torch.tensor([[4.0]])
    got = student.call("forward", at4, on=Ref("fitted")).value
    weight, bias = ref.fit(x, y, 0.01, 100, 0)
    judge.close(got, ref.forward(at4, weight, bias).detach(),
                what=f"the prediction at x = 4 of the model returned by {what}")


@check("fit.seed_then_build", points=5, hint="call torch.manual_seed(seed) FIRST, then build LinearModel(x.shape[1], y.shape[1]), with torch's own initialisation")
def test_fit_seed_then_build(student, judge):
    g = torch.Generator().manual_seed(52)
    for in_features, out_features, seed in ((1, 1, 0), (3, 2, 7), (2, 1, 1234)):
        x, y = torch.randn(4, in_features, generator=g), torch.randn(4, out_features, generator=g)
        what = f"fit(x, y, lr=0.1, epochs=0, seed={seed}) with x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)}"
        info = module_info(judge, student.call("fit", x, y, 0.1, 0, seed).value, what=what)
        weight, bias = ref.initial_parameters(in_features, out_features, seed)
        judge.close(module_param(judge, info, "linear.weight", what=what), weight, what=f"the weight returned by {what}")
        judge.close(module_param(judge, info, "linear.bias", what=what), bias, what=f"the bias returned by {what}")
