"""Hidden checks of assignment5: run only by `grader grade`, never shipped to students."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.checks import OptimizerInfo, Ref, assignment_module, check
from grader.checks import strategies as S
from grader.checks.compare import describe_inputs, describe_value
from grader.checks.helpers import module_info, module_param

ref = assignment_module(__file__, "references")
SGD, Criterion, Linear = ref.SGD, ref.Criterion, ref.Linear


# ------------------------------------------------------------------ helpers (as in the public checks; _layer also in float64, with stale gradients)








def _layer(in_features: int, out_features: int, seed: int = 0, dtype=torch.float32, stale: int | None = None,
           scale: float = 1.0) -> Linear:
    """A ``torch.nn.Linear(in, out)`` built by the harness in the student process (no student code), kept as
    ``model``: weight and bias drawn from ``seed`` (times ``scale``); with ``stale``, gradients left over from
    earlier work on them."""
    g = torch.Generator().manual_seed(seed)
    weight = (torch.rand(out_features, in_features, generator=g, dtype=dtype) * 2 - 1) * scale
    bias = (torch.rand(out_features, generator=g, dtype=dtype) * 2 - 1) * scale
    if stale is None:
        return Linear(weight, bias)
    g = torch.Generator().manual_seed(stale)
    return Linear(weight, bias, grad_weight=torch.randn(weight.shape, generator=g, dtype=dtype),
                  grad_bias=torch.randn(bias.shape, generator=g, dtype=dtype))


def _data(seed: int, n: int, in_features: int, out_features: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, in_features, generator=g, dtype=dtype), torch.randn(n, out_features, generator=g, dtype=dtype)


def _settings(judge, opt, what: str) -> list[dict]:
    judge.expect(isinstance(opt, OptimizerInfo) and opt.groups, f"{what} returned {describe_value(opt)}, not an optimizer.")
    return [g.settings for g in opt.groups]


# ------------------------------------------------------------------ LinearModel
@check("LinearModel.shapes", points=4, hint="torch.nn.Linear(in_features, out_features), in that order: weight (out, in), bias (out,)")
@settings(max_examples=10)
@given(in_features=st.integers(1, 6), out_features=st.integers(1, 6))
def test_LinearModel_shapes(student, judge, in_features, out_features):
    what = f"LinearModel({in_features}, {out_features})"
    info = module_info(judge, student.call("LinearModel", in_features, out_features).value, what=what)
    for name, shape in ref.parameter_shapes(in_features, out_features).items():
        got = tuple(module_param(judge, info, name, what=what).shape)
        judge.expect(got == shape, f"{what}'s {name} has shape {got}; expected {shape}.")


@check("LinearModel.forward_float64", points=4, hint="forward(x) returns self.linear(x): no .float(), the dtype follows the model's parameters (the float64 inputs here go past float32's range, 3.4e38)")
@settings(max_examples=6)
@given(in_features=st.integers(1, 4), out_features=st.integers(1, 3), n=st.integers(1, 6), data=st.data())
def test_LinearModel_forward_float64(student, judge, in_features, out_features, n, data):
    what = f"LinearModel({in_features}, {out_features}).double()"
    info = ref.seeded_model(student, judge, in_features, out_features, data.draw(S.seeds), torch.float64)
    weight, bias = module_param(judge, info, "linear.weight", what=what), module_param(judge, info, "linear.bias", what=what)
    x = data.draw(S.tensors((n, in_features), torch.float64)) * data.draw(S.float64_scales())
    got = student.call("forward", x, on=Ref("model")).value
    judge.close(got, ref.forward(x, weight, bias), what=f"{what}.forward(x) in float64",
                inputs=describe_inputs(x=x, weight=weight, bias=bias))


@check("LinearModel.forward_graph", points=3, hint="forward must stay differentiable: no .detach(), .item() or torch.no_grad() in it")
def test_LinearModel_forward_graph(student, judge):
    x, _ = _data(61, 5, 3, 2)
    module_info(judge, student.call("LinearModel", 3, 2, keep="model").value, what="LinearModel(3, 2)")
    call = student.call("forward", x, on=Ref("model"), backward="ones")
    got = judge.tensor(call.value, what="LinearModel(3, 2).forward(x)")
    judge.expect(tuple(got.shape) == (5, 2), f"LinearModel(3, 2).forward(x) for x of shape (5, 3) has shape {tuple(got.shape)}; expected (5, 2).")
    facts = call.facts(got)
    judge.expect(
        facts is not None and facts.requires_grad and facts.has_grad_fn and call.backward_error is None,
        "LinearModel.forward returned a tensor outside the autograd graph (requires_grad False / no grad_fn), "
        f"so no gradient reaches the parameters{f' ({call.backward_error})' if call.backward_error else ''}.",
    )


@check("LinearModel.torch_init", points=3, hint="keep torch.nn.Linear's own initialisation: do not zero, fill or re-draw its weight and bias")
def test_LinearModel_torch_init(student, judge):
    what = "LinearModel(16, 8)"
    first = module_info(judge, student.call("LinearModel", 16, 8).value, what=what)
    second = module_info(judge, student.call("LinearModel", 16, 8).value, what=what)
    bound = ref.init_bound(16)
    for info in (first, second):
        weight, bias = module_param(judge, info, "linear.weight", what=what), module_param(judge, info, "linear.bias", what=what)
        judge.expect(
            float(weight.abs().max()) <= bound and float(bias.abs().max()) <= bound and float(weight.std()) > bound / 4 and bool(bias.any()),
            f"{what}'s parameters do not look like torch.nn.Linear's own initialisation, uniform in +-1/sqrt(in_features) = +-{bound:g}: "
            f"weight in [{float(weight.min()):.3g}, {float(weight.max()):.3g}] (standard deviation {float(weight.std()):.3g}), "
            f"bias in [{float(bias.min()):.3g}, {float(bias.max()):.3g}].",
        )
    judge.expect(
        not torch.equal(first.params["linear.weight"], second.params["linear.weight"]),
        f"two {what} built one after the other have the same weight: the initialisation must be random (torch's own).",
    )


# ------------------------------------------------------------------ make_optimizer
@check("make_optimizer.no_momentum", points=4, hint="plain SGD: leave momentum at 0 and nesterov False")
def test_make_optimizer_no_momentum(student, judge):
    for i, s in enumerate(_settings(judge, student.call("make_optimizer", _layer(3, 2), 0.1).value, "make_optimizer(model, 0.1)")):
        momentum, nesterov = s.get("momentum", 0), s.get("nesterov", False)
        judge.expect(
            momentum == 0 and nesterov is False,
            f"make_optimizer(model, 0.1): parameter group {i} has momentum={momentum!r}, nesterov={nesterov!r}; "
            "the contract asks for no momentum (0, no Nesterov).",
        )


@check("make_optimizer.defaults", points=3, hint="torch.optim.SGD(model.parameters(), lr=lr) with nothing else: no weight decay, no dampening")
def test_make_optimizer_defaults(student, judge):
    defaults = ref.sgd_settings(0.1)
    for i, s in enumerate(_settings(judge, student.call("make_optimizer", _layer(2, 2), 0.1).value, "make_optimizer(model, 0.1)")):
        for key in ("weight_decay", "dampening", "maximize"):
            if key in s:
                judge.expect(
                    s[key] == defaults[key],
                    f"make_optimizer(model, 0.1): parameter group {i} has {key}={s[key]!r}; expected torch's default {defaults[key]!r}.",
                )


@check("make_optimizer.step", points=4, hint="torch.optim.SGD over model.parameters() with lr=lr: its step must be p -= lr * p.grad for every parameter")
@settings(max_examples=5)
@given(in_features=st.integers(1, 4), out_features=st.integers(1, 3), lr=S.learning_rates(), seed=S.seeds)
def test_make_optimizer_step(student, judge, in_features, out_features, lr, seed):
    layer = _layer(in_features, out_features, seed, stale=seed + 1)  # the gradients the step must follow
    opt = student.call("make_optimizer", layer, lr, keep="opt").value
    judge.expect(isinstance(opt, OptimizerInfo), f"make_optimizer(model, {lr}) returned {describe_value(opt)}, not an optimizer.")
    student.call("step", on=Ref("opt"))
    after = student.describe(Ref("model"))
    w_ref, b_ref = ref.sgd_step(layer.weight, layer.bias, layer.grad_weight, layer.grad_bias, lr)
    inputs = (f"model = torch.nn.Linear({in_features}, {out_features}); lr = {lr}; "
              + describe_inputs(weight=layer.weight, bias=layer.bias, weight_grad=layer.grad_weight, bias_grad=layer.grad_bias))
    judge.close(after.params["linear.weight"], w_ref, what="the weight after one optimizer.step()", inputs=inputs)
    judge.close(after.params["linear.bias"], b_ref, what="the bias after one optimizer.step()", inputs=inputs)


# ------------------------------------------------------------------ train_step
def _train(student, in_features, out_features, lr, seeds, criterion="mse", dtype=torch.float32, stale=None, scale=1.0):
    """``train_step`` once per data seed on a harness-built Linear and SGD(lr): ``(layer, data, [Linear after each step], reference)``.

    The first call builds the layer (from ``seeds[0]``, with stale gradients from ``stale``) and the optimizer;
    the next calls get the same kept ``model`` and ``opt`` again. ``scale`` multiplies the parameters and the
    targets: an MSE step is linear in them, so the step scales with them.
    """
    layer = _layer(in_features, out_features, seeds[0], dtype, stale, scale)
    batches = [(x, y * scale) for x, y in (_data(seed, 5, in_features, out_features, dtype) for seed in seeds)]
    after = []
    for step, (x, y) in enumerate(batches):
        model, opt = (layer, SGD("model", lr)) if step == 0 else (Ref("model"), Ref("opt"))
        student.call("train_step", model, opt, Criterion(criterion), x, y)
        after.append(student.describe(Ref("model")))
    expected = ref.train_steps(layer.weight, layer.bias, ref.plain_sgd(lr), Criterion(criterion).build(), batches)
    return layer, batches, after, expected


@check("train_step.criterion_order", points=4, hint="the prediction comes first: criterion(model(x), y), not criterion(y, model(x))")
def test_train_step_criterion_order(student, judge):
    layer, [(x, y)], after, (_, weights, biases) = _train(student, 3, 2, 0.1, [62], criterion="asymmetric")
    inputs = describe_inputs(x=x, y=y, weight=layer.weight, bias=layer.bias) + "; lr = 0.1; a criterion that weights the error by the target"
    judge.close(after[0].params["linear.weight"], weights[0], what="the weight after train_step with a criterion that is not symmetric", inputs=inputs)
    judge.close(after[0].params["linear.bias"], biases[0], what="the bias after train_step with a criterion that is not symmetric", inputs=inputs)


@check("train_step.zero_grad", points=5, hint="call optimizer.zero_grad() at the start of every step, before backward: gradients accumulate otherwise")
def test_train_step_zero_grad(student, judge):
    _, _, after, (_, weights, biases) = _train(student, 2, 2, 0.1, [63, 64], stale=65)
    for step, label in ((0, "one train_step on a model whose parameters already held gradients"), (1, "a second train_step")):
        judge.close(after[step].params["linear.weight"], weights[step], what=f"the weight after {label}")
        judge.close(after[step].params["linear.bias"], biases[step], what=f"the bias after {label}")


@check("train_step.float64", points=4, hint="compute in the dtype of the model and data: no .float() (the float64 values here go past float32's range, 3.4e38)")
@settings(max_examples=4)
@given(in_features=st.integers(1, 4), out_features=st.integers(1, 3), lr=S.learning_rates(), seed=S.seeds, scale=S.float64_scales())
def test_train_step_float64(student, judge, in_features, out_features, lr, seed, scale):
    layer, [(x, y)], after, (_, weights, biases) = _train(student, in_features, out_features, lr, [seed], dtype=torch.float64, scale=scale)
    inputs = describe_inputs(x=x, y=y, weight=layer.weight, bias=layer.bias) + f"; lr = {lr}"
    judge.close(after[0].params["linear.weight"], weights[0], what="the float64 model's weight after train_step", inputs=inputs)
    judge.close(after[0].params["linear.bias"], biases[0], what="the float64 model's bias after train_step", inputs=inputs)


# ------------------------------------------------------------------ fit
def _fitted(judge, info, what: str):
    info = module_info(judge, info, what=what)
    return module_param(judge, info, "linear.weight", what=what), module_param(judge, info, "linear.bias", what=what)


@check("fit.returns_model", points=3, hint="return the trained LinearModel itself (not its .linear, not its parameters)")
def test_fit_returns_model(student, judge):
    x, y = _data(66, 5, 3, 2)
    what = "fit(x, y, lr=0.05, epochs=3, seed=1) with x of shape (5, 3) and y of shape (5, 2)"
    info = module_info(judge, student.call("fit", x, y, 0.05, 3, 1).value, what=what)
    judge.expect(info.type.rsplit(".", 1)[-1] == "LinearModel", f"{what} returned a {info.type}; expected your LinearModel.")
    for name, shape in ref.parameter_shapes(3, 2).items():
        got = module_param(judge, info, name, what=what)
        judge.expect(tuple(got.shape) == shape, f"{what} returned a model whose {name} has shape {tuple(got.shape)}; expected {shape}.")
    weight, _ = ref.initial_parameters(3, 2, 1)
    judge.expect(not torch.equal(info.params["linear.weight"], weight), f"{what} returned an untrained model: its weight is the initial one.")


@check("fit.trains", points=5, hint="each epoch is one train_step on the full batch with MSELoss and the optimizer from make_optimizer(model, lr)")
def test_fit_trains(student, judge):
    x, y = _data(67, 6, 3, 2)
    weight, bias = _fitted(judge, student.call("fit", x, y, 0.1, 5, 3).value, "fit(x, y, lr=0.1, epochs=5, seed=3)")
    w_ref, b_ref = ref.fit(x, y, 0.1, 5, 3)
    inputs = describe_inputs(x=x, y=y) + "; lr = 0.1; epochs = 5; seed = 3"
    judge.close(weight, w_ref, what="the weight of the model fit returns", inputs=inputs)
    judge.close(bias, b_ref, what="the bias of the model fit returns", inputs=inputs)


@check("fit.random_problems", points=4, hint="torch.manual_seed(seed); LinearModel(x.shape[1], y.shape[1]); make_optimizer; MSELoss; `epochs` train_steps")
def test_fit_random_problems(student, judge):
    # A fixed list rather than Hypothesis: a fit that reads the global random state
    # (seeding too late, not at all) gives another answer on every replay.
    g = torch.Generator().manual_seed(68)
    for _ in range(5):
        n, in_features, out_features, epochs = (int(torch.randint(lo, hi + 1, (), generator=g)) for lo, hi in ((1, 6), (1, 3), (1, 2), (1, 8)))
        lr = (0.01, 0.05, 0.1)[int(torch.randint(3, (), generator=g))]
        seed = int(torch.randint(2**16, (), generator=g))
        x, y = _data(seed, n, in_features, out_features)
        what = f"fit(x, y, lr={lr}, epochs={epochs}, seed={seed})"
        weight, bias = _fitted(judge, student.call("fit", x, y, lr, epochs, seed).value, what)
        w_ref, b_ref = ref.fit(x, y, lr, epochs, seed)
        inputs = describe_inputs(x=x, y=y) + f"; lr = {lr}; epochs = {epochs}; seed = {seed}"
        judge.close(weight, w_ref, what=f"the weight of the model {what} returns", inputs=inputs)
        judge.close(bias, b_ref, what=f"the bias of the model {what} returns", inputs=inputs)
