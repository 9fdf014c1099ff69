"""Results, student process to trusted side: what a call produced, encoded where it ran, decoded and validated here.

The student side (:class:`Encoder`) describes the result and the state of
every input tensor after the call with C-level accessors captured when this
module was imported, in the warm process, before any student code existed;
the trusted side (:func:`decode`, :func:`decode_input_state`) rebuilds values
from that untrusted description under limits, so a hostile process can at
worst send data that fails validation. Nothing is ever unpickled.

One module for both directions of a result on purpose: the encoder and the decoder are one format read from two
sides, and keeping them side by side is what keeps them in step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grader.sandbox.protocol import frames

# Captured before any student code runs: C-level accessors a submission
# cannot replace (the C type is immutable), so what we report is what is.
_TB = torch._C.TensorBase
_requires_grad = _TB.requires_grad.__get__
_is_leaf = _TB.is_leaf.__get__
_grad_fn = _TB.grad_fn.__get__
_grad = _TB.grad.__get__
_data_ptr = _TB.data_ptr
_version = _TB._version.__get__
_no_torch_function = torch._C.DisableTorchFunction
_Parameter = torch.nn.Parameter

MAX_ITEMS = 10_000
MAX_DEPTH = 6
MAX_TEXT = 300


def printable(value: object, limit: int = MAX_TEXT) -> str:
    """A short printable rendering of a string the student controls."""
    try:
        s = str.__str__(value) if isinstance(value, str) else ""
    except Exception:  # noqa: BLE001 - hostile __str__
        s = ""
    s = "".join(ch if ch.isprintable() else "?" for ch in s[: limit + 1])
    return s if len(s) <= limit else s[:limit] + "..."


def type_name(value: object) -> str:
    cls = type(value)
    return printable(f"{cls.__module__}.{cls.__qualname__}", 80)


def _memory_span(x) -> tuple[int, int] | None:
    """``(start, end)`` byte addresses of a tensor's or array's elements, None when empty."""
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return None
        ptr, shape, strides, size = x.__array_interface__["data"][0], x.shape, x.strides, x.itemsize
    else:
        if x.numel() == 0:
            return None
        size = x.element_size()
        ptr, shape, strides = _data_ptr(x), x.shape, [st * size for st in x.stride()]
    low = ptr + sum((n - 1) * st for n, st in zip(shape, strides) if st < 0)
    high = ptr + sum((n - 1) * st for n, st in zip(shape, strides) if st > 0) + size
    return low, high


class Encoder:
    """Student side: what a call produced (its result, its inputs afterwards, kept objects) as data, read through
    the C-level accessors captured before any student code ran."""

    def __init__(self, inputs: list, owners: dict[int, str] | None = None):
        self.inputs = inputs
        self.owners = owners or {}
        self.blobs: list[bytes] = []

    def _shares_input(self, t) -> int | None:
        span = _memory_span(t)
        if span is None:
            return None
        for i, x in enumerate(self.inputs):
            other = _memory_span(x)
            if other is not None and span[0] < other[1] and other[0] < span[1]:
                return i
        return None

    def module(self, m: torch.nn.Module) -> dict:
        params = [[printable(name, 120), self.tensor(p)] for name, p in torch.nn.Module.named_parameters(m)]
        children = [[printable(name, 120), type_name(c)] for name, c in torch.nn.Module.named_children(m)]
        return {"t": "module", "type": type_name(m), "params": params[:100], "children": children[:100], "training": bool(m.training)}

    def optimizer(self, opt: torch.optim.Optimizer) -> dict:
        groups = []
        for group in list(opt.param_groups)[:10]:
            settings = {}
            for key, value in group.items():
                if key == "params":
                    continue
                if value is None or type(value) in (bool, int, float):
                    settings[printable(key, 40)] = value
                else:
                    settings[printable(key, 40)] = type_name(value)
            owners = [self.owners.get(id(p)) for p in list(group["params"])[:100]]
            groups.append({"settings": settings, "params": owners})
        return {"t": "optimizer", "type": type_name(opt), "groups": groups}

    def tensor(self, t: torch.Tensor) -> dict:
        with _no_torch_function():
            plain = _TB.detach(t)
            self.blobs.append(frames.tensor_bytes(plain))
            desc = {
                "t": "tensor",
                "dtype": frames.DTYPE_NAMES.get(plain.dtype, str(plain.dtype)),
                "shape": list(plain.shape),
                "blob": len(self.blobs) - 1,
                "requires_grad": bool(_requires_grad(t)),
                "is_leaf": bool(_is_leaf(t)),
                "has_grad_fn": _grad_fn(t) is not None,
            }
            desc["same_as_input"] = next((i for i, x in enumerate(self.inputs) if x is t), None)
            desc["shares_input"] = self._shares_input(plain)
        return desc

    def value(self, v, depth: int = 0) -> dict:
        cls = type(v)
        if v is None:
            return {"t": "none"}
        if cls is bool:
            return {"t": "bool", "v": v}
        if cls is int:
            return {"t": "int", "v": v if -(2**63) <= v < 2**63 else float(v)}
        if issubclass(cls, float):  # float, numpy.float64 and float subclasses
            return {"t": "float", "v": float.__float__(v), "type": type_name(v), "is_float": True}
        if cls is torch.Tensor or cls is _Parameter:
            return self.tensor(v)
        if issubclass(cls, torch.Tensor):
            return {"t": "object", "type": type_name(v), "note": "a torch.Tensor subclass"}
        if cls is np.ndarray and v.dtype.kind in "biufc" and v.dtype.name in frames.DTYPES:
            self.blobs.append(np.ascontiguousarray(v).tobytes())
            return {
                "t": "ndarray", "dtype": v.dtype.name, "shape": list(v.shape), "blob": len(self.blobs) - 1,
                "same_as_input": next((i for i, x in enumerate(self.inputs) if x is v), None),
                "shares_input": self._shares_input(v),
            }
        if issubclass(cls, torch.nn.Module):
            return self.module(v)
        if issubclass(cls, torch.optim.Optimizer):
            return self.optimizer(v)
        if issubclass(cls, np.generic) and v.dtype.kind in "biuf":
            return {"t": "npscalar", "v": v.item(), "type": type_name(v)}
        if depth < MAX_DEPTH and (cls is list or issubclass(cls, tuple)):
            n = list.__len__(v) if cls is list else tuple.__len__(v)
            get = list.__getitem__ if cls is list else tuple.__getitem__
            items = [self.value(get(v, i), depth + 1) for i in range(min(n, MAX_ITEMS))]
            return {
                "t": "list" if cls is list else "tuple",
                "items": items,
                "truncated": n > MAX_ITEMS,
                "type": type_name(v),
            }
        return {"t": "object", "type": type_name(v)}

    def state(self, t, before: dict) -> dict:
        """How an input tensor (or array) looks after the call, compared with before it."""
        if isinstance(t, np.ndarray):
            return {"value": self.value(t)}
        grad = _leaf_grad(t)
        with _no_torch_function():
            return {
                "value": self.tensor(t),
                "grad": None if grad is None else self.tensor(grad),
                "grad_same_object": grad is not None and grad is before["grad"],
                "storage_same": t.numel() == 0 or _data_ptr(t) == before["ptr"],
                "version_changed": _version(t) != before["version"],
            }


def _leaf_grad(t: torch.Tensor):
    """``t.grad`` where it exists (reading it on a non-leaf makes torch print a warning)."""
    return _grad(t) if _is_leaf(t) or t.retains_grad else None


def snapshot(t) -> dict:
    """What :meth:`Encoder.state` compares an input with after the call (taken before it)."""
    if isinstance(t, np.ndarray):
        return {}
    return {
        "grad": _leaf_grad(t),
        "ptr": _data_ptr(t) if t.numel() else 0,
        "version": _version(t),
    }



def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    msg = printable(str(exc) if isinstance(exc, RuntimeError) else "", 2000)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in msg or "DefaultCPUAllocator" in msg or "out of memory" in msg
    )


def _student_line(exc: BaseException, filename: str) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe_error(exc: BaseException, filename: str) -> dict:
    """What the parent may learn of an exception: its type, a short message, the line."""
    problem = None
    if isinstance(exc, NotImplementedError):
        problem = "stub"
    elif _is_memory_error(exc):
        problem = "memory"
    try:
        message = printable(str(exc))
    except BaseException:  # noqa: BLE001 - hostile __str__
        message = ""
    return {
        "type": printable(type(exc).__name__, 80),
        "message": message,
        "line": _student_line(exc, filename),
        "problem": problem,
    }



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


def _bool(desc: dict, key: str) -> bool:
    return desc.get(key) is True


def _index(desc: dict, key: str) -> int | None:
    v = desc.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def decode(desc, blobs: list[bytes], facts: dict[int, TensorFacts], depth: int = 0):
    """Trusted side: a value rebuilt from the student process's untrusted description, validated as it goes."""
    if depth > 8 or not isinstance(desc, dict):
        raise frames.ProtocolError("invalid value description")
    kind = desc.get("t")
    if kind == "none":
        return None
    if kind == "bool":
        return bool(desc.get("v"))
    if kind in ("int", "float", "npscalar"):
        v = desc.get("v")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise frames.ProtocolError("invalid number")
        if kind == "float":
            return float(v)
        if kind == "npscalar":
            return NumpyScalar(v, str(desc.get("type", ""))[:80])
        return v
    if kind in ("tensor", "ndarray"):
        blob = desc.get("blob")
        if not isinstance(blob, int) or not 0 <= blob < len(blobs):
            raise frames.ProtocolError("invalid blob index")
        t = frames.tensor_from_bytes(desc.get("dtype"), desc.get("shape"), blobs[blob])
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
            raise frames.ProtocolError("invalid sequence")
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
    raise frames.ProtocolError(f"unknown value kind {str(kind)[:20]!r}")


def decode_input_state(desc, blobs: list[bytes]) -> InputState:
    if not isinstance(desc, dict):
        raise frames.ProtocolError("invalid input state")
    facts: dict[int, TensorFacts] = {}
    value = decode(desc.get("value"), blobs, facts)
    if isinstance(value, np.ndarray):
        return InputState(value, None, False, False, False, False, False, False)
    grad = None if desc.get("grad") is None else decode(desc["grad"], blobs, {})
    if not isinstance(value, torch.Tensor) or not (grad is None or isinstance(grad, torch.Tensor)):
        raise frames.ProtocolError("invalid input state")
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
