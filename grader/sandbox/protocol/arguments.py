"""Arguments, trusted side to student process: what a check passes, as data, and how the student side builds it.

Tensors, arrays, numbers and containers travel as values; objects that cannot
travel as bytes (a loss criterion, a differentiable function, a module shaped
like the course's model, an optimizer over a kept module, a NumPy view, a
non-leaf tensor) travel as the specs below and are built by the harness in the
student process from :mod:`grader.sandbox.specs`, never from student code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grader.sandbox import specs
from grader.sandbox.protocol import frames

#: Deepest nesting of containers the student side builds.
MAX_ARGUMENT_DEPTH = 6


class AsGenerator:
    """Pass these items to the student function as a one-shot generator."""

    def __init__(self, items):
        self.items = list(items)


@dataclass(frozen=True)
class Ref:
    """An object kept in the student process by an earlier call (``keep=name``)."""

    name: str


@dataclass(frozen=True)
class Criterion:
    """A loss criterion from :mod:`grader.sandbox.specs`, built on both sides."""

    name: str

    def build(self):
        return specs.criterion(self.name)


@dataclass(frozen=True)
class Fn:
    """A differentiable function ``f`` described as data (:func:`grader.sandbox.specs.function`)."""

    name: str | None = None
    steps: tuple = ()

    def build(self):
        if self.name:
            return specs.function({"name": self.name}, [])
        return specs.Composed(list(self.steps))

    def __str__(self) -> str:
        if self.name:
            return f"the {self.name.replace('_', ' ')} function"
        parts = []
        for kind, arg in self.steps:
            if kind in ("linear", "mix"):
                parts.append(f"{kind} {tuple(arg.shape)}")
            else:
                parts.append(f"{arg}" if kind == "unary" else f"scale {arg}")
        return "f = " + " -> ".join(parts)


@dataclass(frozen=True)
class Linear:
    """A module shaped like the course's ``LinearModel`` (``.linear`` is a ``torch.nn.Linear``),
    built by the harness in the student process (no student code) and kept as ``keep``.

    Its parameters are exactly ``linear.weight`` = ``weight`` and ``linear.bias``
    = ``bias``; ``grad_weight`` and ``grad_bias``, if given, are attached as
    stale gradients.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    keep: str = "model"
    grad_weight: torch.Tensor | None = None
    grad_bias: torch.Tensor | None = None

    def build(self) -> torch.nn.Module:
        return specs.linear(self.weight, self.bias, self.grad_weight, self.grad_bias)


@dataclass(frozen=True)
class SGD:
    """``torch.optim.SGD(<kept module>.parameters(), lr=lr)`` built by the harness, kept as ``keep``."""

    module: str
    lr: float
    keep: str = "opt"


@dataclass(frozen=True)
class View:
    """A non-contiguous NumPy view (``specs.VIEWS``) of ``array``, built in the student process."""

    array: np.ndarray
    name: str

    def build(self) -> np.ndarray:
        return specs.view(self.array.copy(), self.name)


@dataclass(frozen=True)
class NonLeaf:
    """A tensor with ``values`` that requires grad and is not a leaf, built in the student process."""

    values: torch.Tensor

    def build(self) -> torch.Tensor:
        return specs.non_leaf(self.values)


def encode(value, blobs: list[bytes]):
    """Trusted side: a check's argument (tensors with requires_grad/grad, containers, numbers, the specs above) as data."""
    if isinstance(value, torch.Tensor):
        blobs.append(frames.tensor_bytes(value))
        return {
            "t": "tensor",
            "dtype": frames.DTYPE_NAMES[value.dtype],
            "shape": list(value.shape),
            "blob": len(blobs) - 1,
            "requires_grad": value.requires_grad,
            "grad": None if value.grad is None else encode(value.grad, blobs),
        }
    if isinstance(value, np.ndarray):
        blobs.append(np.ascontiguousarray(value).tobytes())
        return {"t": "ndarray", "dtype": value.dtype.name, "shape": list(value.shape), "blob": len(blobs) - 1}
    if isinstance(value, float):
        return {"t": "float", "v": float(value)}
    if isinstance(value, AsGenerator):
        return {"t": "gen", "items": [encode(v, blobs) for v in value.items]}
    if isinstance(value, Ref):
        return {"t": "ref", "name": value.name}
    if isinstance(value, Criterion):
        return {"t": "criterion", "name": value.name}
    if isinstance(value, Linear):
        parts = (value.weight, value.bias, value.grad_weight, value.grad_bias)
        return {"t": "linear", "tensors": [None if t is None else encode(t.detach(), blobs) for t in parts], "keep": value.keep}
    if isinstance(value, SGD):
        return {"t": "sgd", "module": value.module, "lr": float(value.lr), "keep": value.keep}
    if isinstance(value, View):
        return {"t": "view", "array": encode(value.array, blobs), "name": value.name}
    if isinstance(value, NonLeaf):
        return {"t": "nonleaf", "tensor": encode(value.values.detach(), blobs)}
    if isinstance(value, Fn):
        if value.name:
            return {"t": "fn", "spec": {"name": value.name}, "tensors": []}
        tensors, steps = [], []
        for kind, arg in value.steps:
            if isinstance(arg, torch.Tensor):
                tensors.append(encode(arg, blobs))
                arg = len(tensors) - 1
            steps.append([kind, arg])
        return {"t": "fn", "spec": {"steps": steps}, "tensors": tensors}
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple", "items": [encode(v, blobs) for v in value]}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to a student process")


def build(spec, blobs: list[bytes], inputs: list, objects: dict, depth: int = 0):
    """Student side: the call arguments from the trusted side's data spec; tensors and arrays are noted in
    ``inputs``, kept objects (``keep``) go into ``objects``."""
    if depth > MAX_ARGUMENT_DEPTH:
        raise frames.ProtocolError("argument nesting too deep")
    if not isinstance(spec, dict):
        return spec
    kind = spec.get("t")
    if kind == "tensor":
        t = frames.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]])
        grad = spec.get("grad")
        if spec.get("requires_grad"):
            t.requires_grad_(True)
        if grad is not None:
            t.grad = build(grad, blobs, [], objects, depth + 1)
        inputs.append(t)
        return t
    if kind == "ndarray":
        a = frames.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]]).numpy().copy()
        inputs.append(a)
        return a
    if kind == "view":
        a = specs.view(build(spec["array"], blobs, [], objects, depth + 1), spec["name"])
        inputs.append(a)
        return a
    if kind == "nonleaf":
        t = specs.non_leaf(build(spec["tensor"], blobs, [], objects, depth + 1))
        inputs.append(t)
        return t
    if kind == "float":
        return float(spec["v"])
    if kind == "ref":
        return objects[spec["name"]]
    if kind == "criterion":
        return specs.criterion(spec["name"])
    if kind == "linear":
        parts = [None if t is None else build(t, blobs, [], objects, depth + 1) for t in spec["tensors"]]
        obj = specs.linear(*parts)
        objects[spec["keep"]] = obj
        return obj
    if kind == "sgd":
        obj = specs.sgd(objects[spec["module"]], float(spec["lr"]))
        objects[spec["keep"]] = obj
        return obj
    if kind == "fn":
        tensors = [build(t, blobs, [], objects, depth + 1) for t in spec.get("tensors", [])]
        return specs.function(spec["spec"], tensors)
    items = [build(item, blobs, inputs, objects, depth + 1) for item in spec.get("items", [])]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "gen":
        return (item for item in items)
    raise frames.ProtocolError(f"unknown argument kind {kind!r}")
