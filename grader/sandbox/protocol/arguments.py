"""Arguments, trusted side to student process: what a check passes, as data, and how the student side builds it.

Tensors, arrays, numbers and containers travel as values. Objects that cannot
travel as bytes travel as the specs below and are built in the student process,
never from student code: a NumPy view with odd strides and a non-leaf tensor
by the harness itself (:class:`View`, :class:`NonLeaf`); anything else the
course needs (a loss, a function to differentiate, a module, an optimizer over
a kept module) by the course's own registry, its ``objects.py``, whose
``OBJECTS`` maps a name to a builder: a :class:`Build` carries that name and
the builder's arguments as data, and the trusted side builds the same object
for its reference by calling the same builder.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from grader.sandbox.protocol import frames

#: Deepest nesting of containers the student side builds.
MAX_ARGUMENT_DEPTH = 6
#: The name the course's ``objects.py`` is imported under in the student process.
OBJECTS_MODULE = "_grader_course_objects"


class AsGenerator:
    """Pass these items to the student function as a one-shot generator."""

    def __init__(self, items):
        self.items = list(items)


@dataclass(frozen=True)
class Ref:
    """An object kept in the student process by an earlier call or :class:`Build` (``keep=name``)."""

    name: str


class Build:
    """An object that the course's ``objects.py`` builds in the student process: ``OBJECTS[name](*args)``.

    Only the name and the arguments travel (data: tensors, arrays, numbers,
    strings, lists and tuples of them, :class:`Ref` to kept objects), never
    code. With ``keep``, the student process keeps the object under that name,
    as it keeps a call's result.
    """

    __slots__ = ("name", "args", "keep")

    def __init__(self, name: str, *args, keep: str | None = None):
        self.name = name
        self.args = args
        self.keep = keep

    def __repr__(self) -> str:
        keep = f", keep={self.keep!r}" if self.keep is not None else ""
        return f"Build({', '.join([repr(self.name), *map(repr, self.args)])}{keep})"


@dataclass(frozen=True)
class View:
    """A non-contiguous NumPy view (:data:`VIEWS`) of ``array``, built in the student process."""

    array: np.ndarray
    name: str

    def build(self) -> np.ndarray:
        return view(self.array.copy(), self.name)


@dataclass(frozen=True)
class NonLeaf:
    """A tensor with ``values`` that requires grad and is not a leaf, built in the student process."""

    values: torch.Tensor

    def build(self) -> torch.Tensor:
        return non_leaf(self.values)


#: Non-contiguous views of an array: negative or doubled strides, transposes.
VIEWS = {
    "reversed": lambda a: a[::-1],
    "transposed": lambda a: a.T,
    "strided": lambda a: a[::2],
    "reversed_columns": lambda a: a[:, ::-1],
}


def view(array: np.ndarray, name: str) -> np.ndarray:
    """The view ``name`` of :data:`VIEWS` of ``array``."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}")
    return VIEWS[name](array)


def non_leaf(t: torch.Tensor) -> torch.Tensor:
    """A tensor with the values of ``t`` that requires grad and is not a leaf."""
    return t.detach().clone().requires_grad_(True) * 1.0


def encode(value, blobs: list[bytes]):
    """Trusted side: a check's argument (tensors with requires_grad/grad, containers, numbers, the specs above) as data.

    An object of another class with a ``to_build()`` method (a course's own spec, with its own description for
    feedback) travels as what that method returns, a :class:`Build`.
    """
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
    if isinstance(value, Build):
        return {"t": "build", "name": str(value.name), "args": [encode(a, blobs) for a in value.args], "keep": value.keep}
    if isinstance(value, View):
        return {"t": "view", "array": encode(value.array, blobs), "name": value.name}
    if isinstance(value, NonLeaf):
        return {"t": "nonleaf", "tensor": encode(value.values.detach(), blobs)}
    if callable(getattr(type(value), "to_build", None)):
        spec = value.to_build()
        if not isinstance(spec, Build):
            raise TypeError(f"{type(value).__name__}.to_build() returned {type(spec).__name__}, not a Build")
        return encode(spec, blobs)
    if isinstance(value, (list, tuple)):
        return {"t": "list" if isinstance(value, list) else "tuple", "items": [encode(v, blobs) for v in value]}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"cannot send {type(value).__name__} to a student process")


def load_builders(path: str | None) -> tuple[Mapping, str | None]:
    """Student side, before any student code runs: the ``OBJECTS`` (name -> builder) of the course's ``objects.py``
    at ``path`` (none without a path) and None, or no builders and why not (the course's fault, not the student's)."""
    if not path:
        return types.MappingProxyType({}), None
    try:
        spec = importlib.util.spec_from_file_location(OBJECTS_MODULE, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[OBJECTS_MODULE] = module  # a dataclass in it looks its module up there
        spec.loader.exec_module(module)
        builders = getattr(module, "OBJECTS", None)
        if not isinstance(builders, dict) or not all(type(k) is str and callable(v) for k, v in builders.items()):
            raise TypeError("OBJECTS must be a dict of names to builder functions")
    except BaseException as exc:  # noqa: BLE001 - whatever the course's code does is reported
        return types.MappingProxyType({}), f"{type(exc).__name__}: {exc}"
    return types.MappingProxyType(dict(builders)), None


def build(spec, blobs: list[bytes], inputs: list, objects: dict, builders: Mapping, depth: int = 0):
    """Student side: the call arguments from the trusted side's data spec; tensors and arrays are noted in
    ``inputs``, kept objects (``keep``) go into ``objects``, and ``builders`` (the course's ``OBJECTS``) build
    what a :class:`Build` names."""
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
            t.grad = build(grad, blobs, [], objects, builders, depth + 1)
        inputs.append(t)
        return t
    if kind == "ndarray":
        a = frames.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]]).numpy().copy()
        inputs.append(a)
        return a
    if kind == "view":
        a = view(build(spec["array"], blobs, [], objects, builders, depth + 1), spec["name"])
        inputs.append(a)
        return a
    if kind == "nonleaf":
        t = non_leaf(build(spec["tensor"], blobs, [], objects, builders, depth + 1))
        inputs.append(t)
        return t
    if kind == "float":
        return float(spec["v"])
    if kind == "ref":
        return objects[spec["name"]]
    if kind == "build":
        name = spec.get("name")
        builder = builders.get(name) if isinstance(name, str) else None
        if builder is None:
            raise ValueError(f"the course's objects.py has no builder {name!r} in OBJECTS")
        obj = builder(*[build(a, blobs, [], objects, builders, depth + 1) for a in spec.get("args", [])])
        if spec.get("keep") is not None:
            objects[spec["keep"]] = obj
        return obj
    items = [build(item, blobs, inputs, objects, builders, depth + 1) for item in spec.get("items", [])]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "gen":
        return (item for item in items)
    raise frames.ProtocolError(f"unknown argument kind {kind!r}")
