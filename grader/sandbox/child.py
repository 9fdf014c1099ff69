"""What runs inside the untrusted student process.

Imported by the warm process before any check, reference or solution exists
in memory, so a fork of it holds nothing worth stealing.  After the fork it
locks itself down (:mod:`grader.sandbox.limits`), imports the student's
module and then answers ``call`` requests: build the arguments from data,
call the student function, send back what came out as data.
"""

from __future__ import annotations

import builtins

import importlib.util
import io
import os
import random
import socket
import sys
import traceback

import numpy as np
import torch

from grader.sandbox import limits, specs, wire
from grader.sandbox.guard import ForbiddenCall, Guard

# Captured before any student code runs: C-level accessors a submission
# cannot replace (the C type is immutable), so what we report is what is.
_TB = torch._C.TensorBase
_requires_grad = _TB.requires_grad.__get__
_is_leaf = _TB.is_leaf.__get__
_grad_fn = _TB.grad_fn.__get__
_grad = _TB.grad.__get__
_data_ptr = _TB.data_ptr
_version = _TB._version.__get__
_backward = torch.autograd.backward
_no_torch_function = torch._C.DisableTorchFunction
_Parameter = torch.nn.Parameter

MAX_ITEMS = 10_000
MAX_DEPTH = 6
MAX_TEXT = 300


def _text(value: object, limit: int = MAX_TEXT) -> str:
    """A short printable rendering of a string the student controls."""
    try:
        s = str.__str__(value) if isinstance(value, str) else ""
    except Exception:  # noqa: BLE001 - hostile __str__
        s = ""
    s = "".join(ch if ch.isprintable() else "?" for ch in s[: limit + 1])
    return s if len(s) <= limit else s[:limit] + "..."


def _type_name(value: object) -> str:
    cls = type(value)
    return _text(f"{cls.__module__}.{cls.__qualname__}", 80)


# --------------------------------------------------------------- decoding
def _decode(spec, blobs: list[bytes], inputs: list, objects: dict, depth: int = 0):
    """Build call arguments from the parent's data spec; tensors and arrays are noted in ``inputs``."""
    if depth > MAX_DEPTH:
        raise wire.ProtocolError("argument nesting too deep")
    if not isinstance(spec, dict):
        return spec
    kind = spec.get("t")
    if kind == "tensor":
        t = wire.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]])
        grad = spec.get("grad")
        if spec.get("requires_grad"):
            t.requires_grad_(True)
        if grad is not None:
            t.grad = _decode(grad, blobs, [], objects, depth + 1)
        inputs.append(t)
        return t
    if kind == "ndarray":
        a = wire.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]]).numpy().copy()
        inputs.append(a)
        return a
    if kind == "view":
        a = specs.view(_decode(spec["array"], blobs, [], objects, depth + 1), spec["name"])
        inputs.append(a)
        return a
    if kind == "nonleaf":
        t = specs.non_leaf(_decode(spec["tensor"], blobs, [], objects, depth + 1))
        inputs.append(t)
        return t
    if kind == "float":
        return float(spec["v"])
    if kind == "ref":
        return objects[spec["name"]]
    if kind == "criterion":
        return specs.criterion(spec["name"])
    if kind == "linear":
        parts = [None if t is None else _decode(t, blobs, [], objects, depth + 1) for t in spec["tensors"]]
        obj = specs.linear(*parts)
        objects[spec["keep"]] = obj
        return obj
    if kind == "sgd":
        obj = specs.sgd(objects[spec["module"]], float(spec["lr"]))
        objects[spec["keep"]] = obj
        return obj
    if kind == "fn":
        tensors = [_decode(t, blobs, [], objects, depth + 1) for t in spec.get("tensors", [])]
        return specs.function(spec["spec"], tensors)
    items = [_decode(item, blobs, inputs, objects, depth + 1) for item in spec.get("items", [])]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "gen":
        return (item for item in items)
    raise wire.ProtocolError(f"unknown argument kind {kind!r}")


# --------------------------------------------------------------- encoding
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


class _Encoder:
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
        params = [[_text(name, 120), self.tensor(p)] for name, p in torch.nn.Module.named_parameters(m)]
        children = [[_text(name, 120), _type_name(c)] for name, c in torch.nn.Module.named_children(m)]
        return {"t": "module", "type": _type_name(m), "params": params[:100], "children": children[:100], "training": bool(m.training)}

    def optimizer(self, opt: torch.optim.Optimizer) -> dict:
        groups = []
        for group in list(opt.param_groups)[:10]:
            settings = {}
            for key, value in group.items():
                if key == "params":
                    continue
                if value is None or type(value) in (bool, int, float):
                    settings[_text(key, 40)] = value
                else:
                    settings[_text(key, 40)] = _type_name(value)
            owners = [self.owners.get(id(p)) for p in list(group["params"])[:100]]
            groups.append({"settings": settings, "params": owners})
        return {"t": "optimizer", "type": _type_name(opt), "groups": groups}

    def tensor(self, t: torch.Tensor) -> dict:
        with _no_torch_function():
            plain = _TB.detach(t)
            self.blobs.append(wire.tensor_bytes(plain))
            desc = {
                "t": "tensor",
                "dtype": wire.DTYPE_NAMES.get(plain.dtype, str(plain.dtype)),
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
            return {"t": "float", "v": float.__float__(v), "type": _type_name(v), "is_float": True}
        if cls is torch.Tensor or cls is _Parameter:
            return self.tensor(v)
        if issubclass(cls, torch.Tensor):
            return {"t": "object", "type": _type_name(v), "note": "a torch.Tensor subclass"}
        if cls is np.ndarray and v.dtype.kind in "biufc" and v.dtype.name in wire.DTYPES:
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
            return {"t": "npscalar", "v": v.item(), "type": _type_name(v)}
        if depth < MAX_DEPTH and (cls is list or issubclass(cls, tuple)):
            n = list.__len__(v) if cls is list else tuple.__len__(v)
            get = list.__getitem__ if cls is list else tuple.__getitem__
            items = [self.value(get(v, i), depth + 1) for i in range(min(n, MAX_ITEMS))]
            return {
                "t": "list" if cls is list else "tuple",
                "items": items,
                "truncated": n > MAX_ITEMS,
                "type": _type_name(v),
            }
        return {"t": "object", "type": _type_name(v)}

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


def _snapshot(t) -> dict:
    if isinstance(t, np.ndarray):
        return {}
    return {
        "grad": _leaf_grad(t),
        "ptr": _data_ptr(t) if t.numel() else 0,
        "version": _version(t),
    }


# --------------------------------------------------------------- errors
def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    msg = _text(str(exc) if isinstance(exc, RuntimeError) else "", 2000)
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
        message = _text(str(exc))
    except BaseException:  # noqa: BLE001 - hostile __str__
        message = ""
    return {
        "type": _text(type(exc).__name__, 80),
        "message": message,
        "line": _student_line(exc, filename),
        "problem": problem,
    }


def _forbidden(api: str) -> dict:
    return {"ok": False, "error": {"type": "forbidden", "message": _text(api), "line": None, "problem": "forbidden_api"}}


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------- serving
def _restore_builtins(saved: dict) -> None:
    """Undo what student code did to ``builtins`` (the harness's own code looks names up there)."""
    current = builtins.__dict__
    for name, value in saved.items():
        if current.get(name, _MISSING) is not value:
            current[name] = value


_MISSING = object()


class Harness:
    def __init__(self, sock: socket.socket, config: dict):
        self._builtins = dict(builtins.__dict__)  # before any student code runs
        self.sock = sock
        self.config = config
        self.filename = config["module_path"]
        self.module = None
        self.objects: dict[str, object] = {}

    def import_module(self) -> dict:
        name, path = self.config["module_name"], self.config["module_path"]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - anything the module does is a result
            _restore_builtins(self._builtins)
            error = describe_error(exc, path)
            if isinstance(exc, SyntaxError):
                is_encoding = isinstance(exc.__cause__ or exc.__context__, UnicodeDecodeError) or (
                    "codec" in error["message"] or "encoding" in error["message"]
                )
                error["problem"] = "encoding" if is_encoding else "syntax"
                error["line"] = exc.lineno
            elif isinstance(exc, UnicodeDecodeError):
                error["problem"] = "encoding"
            elif error["problem"] != "memory":
                error["problem"] = "import"
            return {"ok": False, "error": error}
        _restore_builtins(self._builtins)
        self.module = module
        missing = [fn for fn in self.config["functions"] if not callable(getattr(module, fn, None))]
        return {"ok": True, "missing": missing}

    def _owners(self) -> dict[int, str]:
        """``id(parameter) -> "<kept name>.<parameter name>"`` over the kept modules."""
        owners = {}
        for name, obj in self.objects.items():
            if isinstance(obj, torch.nn.Module):
                for pname, p in torch.nn.Module.named_parameters(obj):
                    owners[id(p)] = f"{name}.{pname}"
        return owners

    def _target(self, request: dict):
        if request.get("self") is not None:
            return getattr(self.objects[request["self"]], request["fn"], None)
        return getattr(self.module, request["fn"], None)

    def describe(self, request: dict) -> tuple[dict, list[bytes]]:
        enc = _Encoder([], self._owners())
        return {"ok": True, "result": enc.value(self.objects.get(request["name"]))}, enc.blobs

    def call(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        try:
            return self._call(request, blobs)
        finally:
            _restore_builtins(self._builtins)

    def _call(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        fn = self._target(request)
        if not callable(fn) and request.get("self") is not None:
            message = _text(f"the {_type_name(self.objects.get(request['self']))} object has no method {request['fn']}()")
            return {"ok": False, "error": {"type": "AttributeError", "message": message, "line": None, "problem": None}}, []
        if not callable(fn):
            return {"ok": False, "error": {"type": "missing", "message": "", "line": None, "problem": "missing"}}, []
        if request.get("seed") is not None:
            _seed_all(int(request["seed"]))
        inputs: list = []
        try:
            args = [_decode(a, blobs, inputs, self.objects) for a in request.get("args", [])]
        except Exception as exc:  # noqa: BLE001 - e.g. a submission that broke torch at import
            error = describe_error(exc, self.filename)
            error.update(type="setup", problem=None, message=f"the check's inputs could not be built in your process ({error['type']}: {error['message']})")
            return {"ok": False, "error": error}, []
        before = [_snapshot(t) for t in inputs]
        group = self.config.get("forbidden", {}).get(request["fn"]) if request.get("self") is None else None
        guard = Guard(group, student_file=self.filename) if group else None
        try:
            # Every call starts in grad mode as the check asks and leaves it as it found it.
            grad_mode = torch.no_grad() if request.get("no_grad") else torch.enable_grad()
            if guard is not None:
                try:
                    with grad_mode, guard:
                        result = fn(*args)
                except ForbiddenCall:
                    pass
                if guard.hit is not None:
                    return _forbidden(guard.hit), []
            else:
                with grad_mode:
                    result = fn(*args)
            if request.get("keep"):
                self.objects[request["keep"]] = result
            backward_error = None
            if request.get("backward") is not None:
                try:
                    if type(result) is not torch.Tensor:
                        raise TypeError("the result is not a tensor")
                    if request["backward"] == "ones":
                        grad_out = torch.ones_like(result)
                    else:
                        grad_out = _decode(request["backward"], blobs, [], self.objects)
                    _backward(result, grad_out)
                except Exception as exc:  # noqa: BLE001
                    backward_error = describe_error(exc, self.filename)
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            _restore_builtins(self._builtins)
            if guard is not None and guard.hit is not None:
                return _forbidden(guard.hit), []
            return {"ok": False, "error": describe_error(exc, self.filename)}, []
        _restore_builtins(self._builtins)
        try:
            enc = _Encoder(inputs, self._owners())
            reply = {
                "ok": True,
                "result": enc.value(result),
                "inputs": [enc.state(t, b) for t, b in zip(inputs, before)],
                "backward_error": backward_error,
            }
        except BaseException as exc:  # noqa: BLE001 - e.g. a module whose named_parameters raises
            error = describe_error(exc, self.filename)
            error.update(type="unreadable", problem=None, message=f"its result could not be read as data ({error['type']}: {error['message']})")
            return {"ok": False, "error": error}, []
        return reply, enc.blobs

    def serve(self) -> None:
        wire.write_frame(self.sock, {"op": "ready", **self.import_module()})
        while True:
            try:
                request, blobs = wire.read_frame(self.sock)
            except EOFError:
                return
            if request.get("op") == "call":
                reply, out_blobs = self.call(request, blobs)
            elif request.get("op") == "describe":
                reply, out_blobs = self.describe(request)
            else:
                return
            try:
                _flush_stdio()
                wire.write_frame(self.sock, reply, out_blobs)
            except (ValueError, TypeError, OverflowError) as exc:
                wire.write_frame(
                    self.sock,
                    {"ok": False, "error": {"type": "unsendable", "message": _text(str(exc)), "line": None, "problem": None}},
                )


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def _redirect_stdio(output_fd: int) -> None:
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="replace", write_through=True)


def _close_other_fds(keep: int) -> None:
    """Close every descriptor the process inherited but the protocol's: no path to the parent's terminal."""
    try:
        max_fd = os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        max_fd = 4096
    os.closerange(3, keep)
    os.closerange(keep + 1, max_fd)


def run(sock: socket.socket, output_fd: int, config: dict, layers: dict | None = None) -> None:
    """Entry point of a freshly forked (or spawned) student process.

    ``layers``: what the keeper already did (session, namespaces). Before any
    student code runs, the parent learns which sandbox layers are active.
    """
    _redirect_stdio(output_fd)
    _close_other_fds(sock.fileno())
    if layers is None:
        why = "a spawned student process is not placed in namespaces"
        layers = {"session": None, "pid-namespace": why, "mount-namespace": why, "network-namespace": why}
    try:
        layers = limits.apply(config, layers)
    except BaseException as exc:  # noqa: BLE001 - report, never run unconfined
        wire.write_frame(sock, {"op": "sandbox_failed", "message": _text(f"{type(exc).__name__}: {exc}")})
        return
    wire.write_frame(sock, {"op": "sandboxed", "layers": layers})
    try:
        Harness(sock, config).serve()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass
    except BaseException:  # noqa: BLE001 - the harness itself broke: say so on stderr (discarded in grade)
        traceback.print_exc()


def _spawned_main() -> None:
    """``python -m grader.sandbox.child SOCK_FD OUTPUT_FD`` where fork is unavailable."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    header, _ = wire.read_frame(sock)
    run(sock, int(sys.argv[2]), header["config"])
    os._exit(0)


if __name__ == "__main__":
    _spawned_main()
