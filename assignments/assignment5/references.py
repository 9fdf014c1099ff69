"""References for assignment5 (nn.Module and optim): nn.Linear, torch.optim.SGD's step, MSELoss.

Every reference works on plain tensors in the trusted process: the model is
``F.linear`` with the weight and bias that the checks gave the harness-built
``torch.nn.Linear`` (or read back from the student's process), the update is
``torch.optim.sgd.sgd``, the functional form that ``torch.optim.SGD.step``
calls (constructing an ``Optimizer`` imports ``torch._dynamo``, about a
second, which a student's ``grader check`` should not pay in the grader's own
process), with the settings and momentum buffers that ``SGD`` keeps.

The objects a check hands the student's functions (:class:`Linear`,
:class:`SGD`, :class:`Criterion`) are built in the student's process by the
course's registry, ``objects.py``, and here by the same builders.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.optim.sgd import sgd as _sgd

from grader.checks import Build, Ref, assignment_module, leaf
from grader.checks.helpers import module_info, module_param

objects = assignment_module(__file__, "objects")

LINEAR_TYPE = "torch.nn.modules.linear.Linear"
"""``ModuleInfo.type`` of a ``torch.nn.Linear``."""
SGD_TYPE = "torch.optim.sgd.SGD"
"""``OptimizerInfo.type`` of a ``torch.optim.SGD``."""
SETTINGS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
"""The parameter-group settings that decide what ``SGD.step`` does."""


# ------------------------------------------------------------------ objects built in the student's process
@dataclass(frozen=True)
class Linear:
    """A module shaped like the contract's ``LinearModel`` (``.linear`` is a ``torch.nn.Linear``), built in the
    student's process by ``objects.linear`` (no student code) and kept as ``keep``.

    Its parameters are exactly ``linear.weight`` = ``weight`` and ``linear.bias``
    = ``bias``; ``grad_weight`` and ``grad_bias``, if given, are attached as
    stale gradients.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    keep: str = "model"
    grad_weight: torch.Tensor | None = None
    grad_bias: torch.Tensor | None = None

    def to_build(self) -> Build:
        parts = (self.weight, self.bias, self.grad_weight, self.grad_bias)
        return Build("linear", *[None if t is None else t.detach() for t in parts], keep=self.keep)

    def build(self) -> torch.nn.Module:
        """The same module, built here."""
        return objects.linear(self.weight, self.bias, self.grad_weight, self.grad_bias)


@dataclass(frozen=True)
class SGD:
    """``torch.optim.SGD(<kept module>.parameters(), lr=lr)``, built in the student's process by ``objects.sgd``
    and kept as ``keep``."""

    module: str
    lr: float
    keep: str = "opt"

    def to_build(self) -> Build:
        return Build("sgd", Ref(self.module), float(self.lr), keep=self.keep)


@dataclass(frozen=True)
class Criterion:
    """A loss criterion of ``objects.CRITERIA``, built on both sides."""

    name: str

    def to_build(self) -> Build:
        return Build("criterion", self.name)

    def build(self) -> torch.nn.Module:
        """The same criterion, built here."""
        return objects.criterion(self.name)


# ------------------------------------------------------------------ LinearModel
def parameter_shapes(in_features: int = 1, out_features: int = 1) -> dict[str, tuple]:
    """``{"linear.weight": (out, in), "linear.bias": (out,)}``: the parameters of ``nn.Linear`` under ``linear``."""
    layer = torch.nn.Linear(in_features, out_features, device="meta")
    return {f"linear.{name}": tuple(p.shape) for name, p in layer.named_parameters()}


def init_bound(in_features: int) -> float:
    """``nn.Linear``'s initialisation draws weight and bias uniformly from ``[-bound, bound]``, ``bound = 1/sqrt(in)``."""
    return 1.0 / in_features**0.5


def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``nn.Linear``'s forward with these parameters."""
    return F.linear(x, weight, bias)


# ------------------------------------------------------------------ make_optimizer
def sgd_settings(lr: float) -> dict:
    """The group settings of ``torch.optim.SGD(params, lr=lr)``: lr, and torch's defaults for the rest."""
    defaults = inspect.signature(torch.optim.SGD.__init__).parameters
    return {name: (lr if name == "lr" else defaults[name].default) for name in SETTINGS}


def plain_sgd(lr: float) -> list[tuple[dict, list[str]]]:
    """The groups (for :class:`SGDReference`) of ``torch.optim.SGD(linear.parameters(), lr=lr)``:
    one group over ``weight`` and ``bias``, lr and torch's defaults for the rest."""
    return [(sgd_settings(lr), ["weight", "bias"])]


class SGDReference:
    """``torch.optim.SGD`` over named tensors, from an optimizer's groups as data.

    ``groups`` is a list of ``(settings, names)``: the settings of
    :data:`SETTINGS` (missing ones take SGD's defaults) and the names of the
    parameters in that group. Momentum buffers persist across :meth:`step`
    calls, as in ``SGD.state``.
    """

    def __init__(self, params: dict[str, torch.Tensor], groups: list[tuple[dict, list[str]]]):
        self.params = params
        defaults = sgd_settings(0.0)
        self.groups = [({k: settings.get(k, defaults[k]) for k in SETTINGS}, list(names)) for settings, names in groups]
        self.buffers: dict[str, torch.Tensor | None] = {}

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def step(self) -> None:
        with torch.no_grad():
            for settings, names in self.groups:
                live = [n for n in names if n in self.params and self.params[n].grad is not None]
                buffers = [self.buffers.get(n) for n in live]
                _sgd([self.params[n] for n in live], [self.params[n].grad for n in live], buffers,
                     weight_decay=settings["weight_decay"], momentum=settings["momentum"], lr=settings["lr"],
                     dampening=settings["dampening"], nesterov=settings["nesterov"], maximize=settings["maximize"])
                if settings["momentum"] != 0:
                    self.buffers.update(zip(live, buffers))


def sgd_step(weight, bias, grad_weight, grad_bias, lr):
    """``(weight, bias)`` after one ``torch.optim.SGD(lr=lr)`` step with these gradients."""
    params = {"weight": leaf(weight), "bias": leaf(bias)}
    params["weight"].grad, params["bias"].grad = grad_weight.detach().clone(), grad_bias.detach().clone()
    SGDReference(params, plain_sgd(lr)).step()
    return params["weight"].detach(), params["bias"].detach()


# ------------------------------------------------------------------ train_step
def train_steps(weight, bias, groups, criterion, batches):
    """Consecutive ``train_step`` calls on ``nn.Linear(weight, bias)``: zero, predict, loss, backward, step.

    ``groups`` as for :class:`SGDReference` (names ``"weight"`` and ``"bias"``);
    ``batches`` a list of ``(x, y)``, one per step. Returns ``(losses, weights,
    biases)``: the loss of each step before its update (0-dim tensors), and the
    parameters after each step.
    """
    params = {"weight": leaf(weight), "bias": leaf(bias)}
    optimizer = SGDReference(params, groups)
    losses, weights, biases = [], [], []
    for x, y in batches:
        optimizer.zero_grad()
        loss = criterion(forward(x, params["weight"], params["bias"]), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        weights.append(params["weight"].detach().clone())
        biases.append(params["bias"].detach().clone())
    return losses, weights, biases


# ------------------------------------------------------------------ fit
def initial_parameters(in_features: int, out_features: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.Linear(in, out)``'s weight and bias built right after ``torch.manual_seed(seed)``.

    Seeds inside ``torch.random.fork_rng``: the grader's own random state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(in_features, out_features)
    return layer.weight.detach(), layer.bias.detach()


def fit(x, y, lr, epochs, seed):
    """``(weight, bias)`` of ``fit``: seed, build ``nn.Linear``, ``epochs`` SGD steps on ``MSELoss``."""
    weight, bias = initial_parameters(x.shape[1], y.shape[1], seed)
    if epochs == 0:
        return weight, bias
    _, weights, biases = train_steps(weight, bias, plain_sgd(lr), torch.nn.MSELoss(), [(x, y)] * epochs)
    return weights[-1], biases[-1]


# ------------------------------------------------------------------ check set-up
def seeded_model(student, judge, in_features: int, out_features: int, seed: int, dtype=torch.float32):
    """Keep the student's ``LinearModel(in, out)`` (``.double()``-ed for float64) as ``model``, with
    ``linear.weight`` and ``linear.bias`` set to values drawn from ``seed`` through torch's own
    ``state_dict``/``load_state_dict``; return it as data. Shared by the public and hidden checks."""
    what = f"LinearModel({in_features}, {out_features})"
    info = module_info(judge, student.call("LinearModel", in_features, out_features, keep="model").value, what=what)
    if dtype == torch.float64:
        info = module_info(judge, student.call("double", on=Ref("model")).value, what=f"{what}.double()")
    g = torch.Generator().manual_seed(seed)
    student.call("state_dict", on=Ref("model"), keep="state")
    for name in ("linear.weight", "linear.bias"):
        shape = module_param(judge, info, name, what=what).shape
        student.call("__setitem__", name, torch.rand(shape, generator=g, dtype=dtype) * 2 - 1, on=Ref("state"))
    student.call("load_state_dict", Ref("state"), on=Ref("model"))
    return student.describe(Ref("model"))
