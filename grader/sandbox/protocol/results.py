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

import builtins
from dataclasses import dataclass

import numpy as np
import torch

from grader.sandbox.protocol import frames

# Captured before any student code runs: C-level accessors a submission cannot replace (TensorBase is an immutable C
# type), so what we report is what is. Everything below that reads a student's object uses only these, methods of
# exact built-in types and this module's own code (whose every name the monitor checks before a reply is sealed):
# never an attribute lookup that could land in a class, property or metaclass the submission wrote.
_TB = torch._C.TensorBase
_requires_grad = _TB.requires_grad.__get__
_is_leaf = _TB.is_leaf.__get__
_grad_fn = _TB.grad_fn.__get__
_grad = _TB.grad.__get__
_retains_grad = _TB.retains_grad.__get__
_shape = _TB.shape.__get__
_dtype = _TB.dtype.__get__
_data_ptr = _TB.data_ptr
_numel = _TB.numel
_element_size = _TB.element_size
_stride = _TB.stride
_detach = _TB.detach
_version = _TB._version.__get__
_no_torch_function = torch._C.DisableTorchFunction
_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_Module = torch.nn.Module
_Optimizer = torch.optim.Optimizer
_ndarray = np.ndarray
_ascontiguousarray = np.ascontiguousarray
_type_dict = type.__dict__["__dict__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_module = type.__dict__["__module__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_instance_dict = object.__getattribute__
_exception_args = BaseException.__dict__["args"].__get__
_exception_traceback = BaseException.__dict__["__traceback__"].__get__
_NP_SCALARS = frozenset(t for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.uint16, np.uint32, np.uint64, np.bool_))
#: Attributes of an ``nn.Module`` or optimizer the encoder reads from the instance's own dict; a class of the
#: submission's that defines any of them (or these) is described by its type only.
_MODULE_ATTRS = ("__dict__", "__getattribute__", "_parameters", "_modules", "training")
_OPTIMIZER_ATTRS = ("__dict__", "__getattribute__", "param_groups")

MAX_ITEMS = 10_000
MAX_DEPTH = 6
MAX_TEXT = 300


def _is_str(value) -> bool:
    cls = type(value)
    return cls is str or issubclass(cls, str)


def printable(value: object, limit: int = MAX_TEXT) -> str:
    """A short printable rendering of a string the student controls (anything else: empty)."""
    s = str.__str__(value)[: limit + 1] if _is_str(value) else ""
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return s if len(s) <= limit else s[:limit] + "..."


def type_name(value: object) -> str:
    """``module.QualName`` of the value's class, read without running any code of the class or its metaclass."""
    cls = type(value)
    return printable(f"{printable(_type_module(cls), 40)}.{printable(_type_qualname(cls), 60)}", 80)


def _node_names(node) -> dict:
    """The class of a tensor's ``grad_fn`` (``TanhBackward0``) and, for a ``torch.autograd.Function``'s node,
    that Function's ``module.QualName``: read from the node class torch made, without running the Function's code."""
    if node is None:
        return {}
    names = {"grad_fn": printable(_type_qualname(type(node)), 80)}
    function = _type_dict(type(node)).get("_forward_cls")
    if isinstance(function, type):
        names["function"] = printable(f"{printable(_type_module(function), 40)}.{printable(_type_qualname(function), 60)}", 80)
    return names


def _plain_attrs(obj, names: tuple, base: type) -> dict | None:
    """The instance dict of ``obj`` when no class of its own between it and ``base`` defines any of ``names``
    (so reading them runs none of the submission's code), else None."""
    for klass in _type_mro(type(obj)):
        if klass is base:
            break
        namespace = _type_dict(klass)
        for name in names:
            if name in namespace:
                return None
    attrs = _instance_dict(obj, "__dict__")
    return attrs if type(attrs) is dict else None


def _memory_span(x) -> tuple[int, int] | None:
    """``(start, end)`` byte addresses of a tensor's or array's elements, None when empty."""
    if type(x) is _ndarray:
        if x.size == 0:
            return None
        ptr, shape, strides, size = x.__array_interface__["data"][0], x.shape, x.strides, x.itemsize
    else:
        if _numel(x) == 0:
            return None
        size = _element_size(x)
        ptr, shape, strides = _data_ptr(x), tuple(_shape(x)), [st * size for st in _stride(x)]
    low = ptr + sum((n - 1) * st for n, st in zip(shape, strides) if st < 0)
    high = ptr + sum((n - 1) * st for n, st in zip(shape, strides) if st > 0) + size
    return low, high


class Encoder:
    """Student side: what a call produced (its result, its inputs afterwards, kept objects) as data, read through
    the C-level accessors captured before any student code ran."""

    def __init__(self, inputs: tuple, owners: dict[int, str] | None = None):
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

    def module(self, m) -> dict:
        found = named_parameters(m)
        if found is None:
            return {"t": "object", "type": type_name(m), "note": "a module whose attributes the grader cannot read safely"}
        params, children, training = found
        return {"t": "module", "type": type_name(m), "params": [[printable(n, 120), self.tensor(p)] for n, p in params[:100]],
                "children": [[printable(n, 120), type_name(c)] for n, c in children[:100]], "training": training}

    def optimizer(self, opt) -> dict:
        attrs = _plain_attrs(opt, _OPTIMIZER_ATTRS, _Optimizer)
        groups_list = None if attrs is None else attrs.get("param_groups")
        if type(groups_list) is not list:
            return {"t": "object", "type": type_name(opt), "note": "an optimizer whose settings the grader cannot read safely"}
        groups = []
        for group in groups_list[:10]:
            if type(group) is not dict:
                continue
            settings = {}
            for key, value in dict.items(group):
                if not _is_str(key) or str.__str__(key) == "params":
                    continue
                if value is None or type(value) in (bool, int, float):
                    settings[printable(key, 40)] = value
                else:
                    settings[printable(key, 40)] = type_name(value)
            params = dict.get(group, "params")
            params = list.copy(params) if type(params) is list else []
            groups.append({"settings": settings, "params": [self.owners.get(id(p)) for p in params[:100]]})
        return {"t": "optimizer", "type": type_name(opt), "groups": groups}

    def tensor(self, t) -> dict:
        with _no_torch_function():
            plain, node = _detach(t), _grad_fn(t)
            self.blobs.append(frames.tensor_bytes(plain))
            desc = {
                "t": "tensor",
                "dtype": frames.DTYPE_NAMES.get(_dtype(plain), "unknown"),
                "shape": list(_shape(plain)),
                "blob": len(self.blobs) - 1,
                "requires_grad": bool(_requires_grad(t)),
                "is_leaf": bool(_is_leaf(t)),
                "has_grad_fn": node is not None,
                **_node_names(node),
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
        if cls is _Tensor or cls is _Parameter:
            return self.tensor(v)
        if issubclass(cls, _Tensor):
            return {"t": "object", "type": type_name(v), "note": "a torch.Tensor subclass"}
        if cls is _ndarray and v.dtype.kind in "biufc" and v.dtype.name in frames.DTYPES:
            self.blobs.append(_ascontiguousarray(v).tobytes())
            return {
                "t": "ndarray", "dtype": v.dtype.name, "shape": list(v.shape), "blob": len(self.blobs) - 1,
                "same_as_input": next((i for i, x in enumerate(self.inputs) if x is v), None),
                "shares_input": self._shares_input(v),
            }
        if issubclass(cls, _Module):
            return self.module(v)
        if issubclass(cls, _Optimizer):
            return self.optimizer(v)
        if cls in _NP_SCALARS:
            return {"t": "npscalar", "v": v.item(), "type": type_name(v)}
        if depth < MAX_DEPTH and (cls is list or issubclass(cls, tuple)):  # a namedtuple too: read through tuple's C slots
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

    def state(self, t, before: tuple) -> dict:
        """How an input tensor (or array) looks after the call, compared with ``before`` (:func:`snapshot`)."""
        if type(t) is _ndarray:
            return {"value": self.value(t)}
        with _no_torch_function():
            grad = _leaf_grad(t)
            if grad is not None and type(grad) is not _Tensor:
                raise TypeError(f"an input's .grad is a {type_name(grad)}, not a plain tensor")
            return {
                "value": self.tensor(t),
                "grad": None if grad is None else self.tensor(grad),
                "grad_same_object": grad is not None and grad is before[0],
                "storage_same": _numel(t) == 0 or _data_ptr(t) == before[1],
                "version_changed": _version(t) != before[2],
            }


def named_parameters(m, limit: int = 1000):
    """``([(name, tensor)...], [(name, child)...], training)`` of an ``nn.Module``, like ``named_parameters`` and
    ``named_children`` (shared modules and parameters once), read from the instances' own dicts; None when a class
    of the submission's redefines what that reads."""
    params, seen_params, seen_modules = [], set(), set()
    todo = [("", m)]
    top_children, training = None, None
    while todo and len(params) < limit:
        prefix, module = todo.pop(0)
        if id(module) in seen_modules:
            continue
        seen_modules.add(id(module))
        attrs = _plain_attrs(module, _MODULE_ATTRS, _Module)
        if attrs is None:
            return None
        own, children = attrs.get("_parameters"), attrs.get("_modules")
        if type(own) is not dict or type(children) is not dict:
            return None
        for name, p in dict.items(own):
            if p is not None and (type(p) is _Parameter or type(p) is _Tensor) and id(p) not in seen_params:
                seen_params.add(id(p))
                params.append((prefix + printable(name, 120), p))
        kids = [(printable(name, 120), c) for name, c in dict.items(children) if c is not None and issubclass(type(c), _Module)]
        if top_children is None:
            top_children, training = kids, attrs.get("training") is True
        todo[0:0] = [(prefix + name + ".", c) for name, c in kids]
    return params, top_children, training


def _leaf_grad(t: torch.Tensor):
    """``t.grad`` where it exists (reading it on a non-leaf makes torch print a warning)."""
    return _grad(t) if _is_leaf(t) or _retains_grad(t) else None


def snapshot(t) -> tuple:
    """What :meth:`Encoder.state` compares an input with after the call (taken before it): its gradient object,
    data pointer and version counter, as a tuple nothing can change."""
    if type(t) is _ndarray:
        return ()
    return (_leaf_grad(t), _data_ptr(t) if _numel(t) else 0, _version(t))



def _is_memory_error(exc: BaseException) -> bool:
    if issubclass(type(exc), MemoryError):
        return True
    msg = _message(exc) if issubclass(type(exc), RuntimeError) else ""
    return "can't allocate memory" in msg or "DefaultCPUAllocator" in msg or "out of memory" in msg


#: Exception classes whose ``__str__`` is CPython's own (C) code: safe to call on an exception whose arguments are
#: plain data.
_BUILTIN_EXCEPTIONS = frozenset(v for v in vars(builtins).values() if isinstance(v, type) and issubclass(v, BaseException))
_PLAIN = frozenset((str, int, float, bool, type(None)))


def _message(exc: BaseException) -> str:
    """The exception's message, built without running any code of the submission's: CPython's own ``__str__`` for
    an exception whose ``__str__`` comes from a built-in class and whose arguments are plain data."""
    args = _exception_args(exc)
    if type(args) is not tuple or not all(type(a) in _PLAIN or (type(a) is tuple and all(type(b) in _PLAIN for b in a))
                                          for a in args):
        return ""
    for klass in _type_mro(type(exc)):
        if "__str__" in _type_dict(klass):
            if klass in _BUILTIN_EXCEPTIONS:
                try:
                    return printable(klass.__str__(exc), 2000)
                except Exception:  # noqa: BLE001 - e.g. an OSError subclass with odd attributes
                    return ""
            return printable(args[0], 2000) if len(args) == 1 and type(args[0]) is str else ""
    return ""


def _student_line(exc: BaseException, filename: str) -> int | None:
    line = None
    tb = _exception_traceback(exc)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe_error(exc: BaseException, filename: str) -> dict:
    """What the parent may learn of an exception: its type, a short message, the line (no code of the
    submission's runs to find out)."""
    problem = None
    if issubclass(type(exc), NotImplementedError):
        problem = "stub"
    elif _is_memory_error(exc):
        problem = "memory"
    return {
        "type": printable(_type_qualname(type(exc)).rsplit(".", 1)[-1] if _is_str(_type_qualname(type(exc))) else "", 80),
        "message": printable(_message(exc)),
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
    grad_fn: str | None = None
    """The class name of the tensor's ``grad_fn`` (``MulBackward0``; ``MyTanhBackward`` for a
    ``torch.autograd.Function`` named ``MyTanh``), None without one."""
    function: str | None = None
    """``module.QualName`` of the ``torch.autograd.Function`` whose backward the ``grad_fn`` is, else None."""


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
    """One parameter group of an optimizer as data: its settings and the names of its parameters."""

    settings: dict
    """lr, momentum, ... (numbers, booleans, None; other values by type name)."""
    params: list
    """``"<kept name>.<parameter>"`` for each parameter of a kept module, None for any other tensor."""


@dataclass(frozen=True)
class OptimizerInfo:
    """A ``torch.optim`` optimizer as data: its class and parameter groups."""

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


def _text(desc: dict, key: str) -> str | None:
    v = desc.get(key)
    return v[:80] if isinstance(v, str) else None


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
            grad_fn=_text(desc, "grad_fn"),
            function=_text(desc, "function"),
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
