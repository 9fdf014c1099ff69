"""Parent side of the data exchange: arguments out, results in, as plain data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grader.sandbox import specs, wire


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
    """A check's argument (tensors with requires_grad/grad, containers, numbers) as data."""
    if isinstance(value, torch.Tensor):
        blobs.append(wire.tensor_bytes(value))
        return {
            "t": "tensor",
            "dtype": wire.DTYPE_NAMES[value.dtype],
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


@dataclass(frozen=True)
class Opaque:
    """A returned value the child could only name: its type, never its contents."""

    type: str
    note: str = ""

    def __str__(self) -> str:
        return f"a {self.type} object" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class TensorFacts:
    """What the child observed about a returned tensor besides its values."""

    requires_grad: bool
    is_leaf: bool
    has_grad_fn: bool
    same_as_input: int | None
    shares_input: int | None


def _bool(desc: dict, key: str) -> bool:
    return desc.get(key) is True


def _index(desc: dict, key: str) -> int | None:
    v = desc.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def decode(desc, blobs: list[bytes], facts: dict[int, TensorFacts], depth: int = 0):
    """Rebuild a value from the child's untrusted description, validating as it goes."""
    if depth > 8 or not isinstance(desc, dict):
        raise wire.ProtocolError("invalid value description")
    kind = desc.get("t")
    if kind == "none":
        return None
    if kind == "bool":
        return bool(desc.get("v"))
    if kind in ("int", "float", "npscalar"):
        v = desc.get("v")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise wire.ProtocolError("invalid number")
        if kind == "float":
            return float(v)
        if kind == "npscalar":
            return NumpyScalar(v, str(desc.get("type", ""))[:80])
        return v
    if kind in ("tensor", "ndarray"):
        blob = desc.get("blob")
        if not isinstance(blob, int) or not 0 <= blob < len(blobs):
            raise wire.ProtocolError("invalid blob index")
        t = wire.tensor_from_bytes(desc.get("dtype"), desc.get("shape"), blobs[blob])
        if kind == "ndarray":
            a = t.numpy()
            facts[id(a)] = TensorFacts(False, False, False, _index(desc, "same_as_input"), _index(desc, "shares_input"))
            return a
        facts[id(t)] = TensorFacts(
            requires_grad=_bool(desc, "requires_grad"),
            is_leaf=_bool(desc, "is_leaf"),
            has_grad_fn=_bool(desc, "has_grad_fn"),
            same_as_input=_index(desc, "same_as_input"),
            shares_input=_index(desc, "shares_input"),
        )
        return t
    if kind in ("list", "tuple"):
        items = desc.get("items")
        if not isinstance(items, list):
            raise wire.ProtocolError("invalid sequence")
        values = [decode(item, blobs, facts, depth + 1) for item in items]
        return values if kind == "list" else tuple(values)
    if kind == "object":
        return Opaque(str(desc.get("type", "?"))[:80], str(desc.get("note", ""))[:80])
    if kind == "module":
        params = {}
        for item in desc.get("params", [])[:100]:
            name, tdesc = item
            params[str(name)[:120]] = decode(tdesc, blobs, facts, depth + 1)
        children = {str(n)[:120]: str(t)[:80] for n, t in desc.get("children", [])[:100]}
        return ModuleInfo(str(desc.get("type", "?"))[:80], params, children, bool(desc.get("training")))
    if kind == "optimizer":
        groups = []
        for g in desc.get("groups", [])[:10]:
            settings = {str(k)[:40]: v for k, v in dict(g.get("settings", {})).items() if v is None or isinstance(v, (bool, int, float, str))}
            params = [p if isinstance(p, str) else None for p in g.get("params", [])[:100]]
            groups.append(OptimizerGroup(settings, params))
        return OptimizerInfo(str(desc.get("type", "?"))[:80], groups)
    raise wire.ProtocolError(f"unknown value kind {str(kind)[:20]!r}")


@dataclass(frozen=True)
class ModuleInfo:
    """An ``nn.Module`` as data: its class, parameters (name -> tensor) and children (name -> class)."""

    type: str
    params: dict
    children: dict
    training: bool

    def __str__(self) -> str:
        return f"a {self.type} module"


@dataclass(frozen=True)
class OptimizerGroup:
    settings: dict
    """lr, momentum, ... (numbers, booleans, None; other values by type name)."""
    params: list
    """``"<kept name>.<parameter>"`` for each parameter of a kept module, None for any other tensor."""


@dataclass(frozen=True)
class OptimizerInfo:
    type: str
    groups: list

    def __str__(self) -> str:
        return f"a {self.type} optimizer"


@dataclass(frozen=True)
class NumpyScalar:
    """A NumPy scalar that is not a Python float (``numpy.float32``, ``numpy.int64``)."""

    value: float
    type: str


@dataclass
class InputState:
    """An input tensor (or NumPy array: value only) as the child saw it after the call."""

    value: torch.Tensor | np.ndarray
    grad: torch.Tensor | None
    requires_grad: bool
    is_leaf: bool
    has_grad_fn: bool
    grad_same_object: bool
    storage_same: bool
    version_changed: bool


def decode_input_state(desc, blobs: list[bytes]) -> InputState:
    if not isinstance(desc, dict):
        raise wire.ProtocolError("invalid input state")
    facts: dict[int, TensorFacts] = {}
    value = decode(desc.get("value"), blobs, facts)
    if isinstance(value, np.ndarray):
        return InputState(value, None, False, False, False, False, False, False)
    grad = None if desc.get("grad") is None else decode(desc["grad"], blobs, {})
    if not isinstance(value, torch.Tensor) or not (grad is None or isinstance(grad, torch.Tensor)):
        raise wire.ProtocolError("invalid input state")
    f = facts[id(value)]
    return InputState(
        value=value,
        grad=grad,
        requires_grad=f.requires_grad,
        is_leaf=f.is_leaf,
        has_grad_fn=f.has_grad_fn,
        grad_same_object=_bool(desc, "grad_same_object"),
        storage_same=_bool(desc, "storage_same"),
        version_changed=_bool(desc, "version_changed"),
    )
