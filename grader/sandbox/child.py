"""What runs inside the untrusted student process.

Imported by the warm process before any check, reference or solution exists
in memory, so a fork of it holds nothing worth stealing.  After the fork it
locks itself down (:mod:`grader.sandbox.limits`), imports the student's
module and then answers ``call`` requests: build the arguments from data,
call the student function, send back what came out as data.
"""

from __future__ import annotations

import importlib.util
import io
import os
import socket
import sys
import traceback

import numpy as np
import torch

from grader.sandbox import limits, wire

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
def _decode(spec, blobs: list[bytes], tensors: list, depth: int = 0):
    """Build call arguments from the parent's data spec."""
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
            t.grad = _decode(grad, blobs, [], depth + 1)
        tensors.append(t)
        return t
    if kind == "ndarray":
        t = wire.tensor_from_bytes(spec["dtype"], spec["shape"], blobs[spec["blob"]])
        return t.numpy().copy()
    if kind == "float":
        return float(spec["v"])
    items = [_decode(item, blobs, tensors, depth + 1) for item in spec.get("items", [])]
    if kind == "list":
        return items
    if kind == "tuple":
        return tuple(items)
    if kind == "gen":
        return (item for item in items)
    raise wire.ProtocolError(f"unknown argument kind {kind!r}")


# --------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self, inputs: list[torch.Tensor]):
        self.inputs = inputs
        self.blobs: list[bytes] = []

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
            if plain.numel():
                ptr = _data_ptr(plain)
                desc["shares_input"] = next(
                    (i for i, x in enumerate(self.inputs) if x.numel() and _data_ptr(x) == ptr), None
                )
            else:
                desc["shares_input"] = None
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
            return {"t": "ndarray", "dtype": v.dtype.name, "shape": list(v.shape), "blob": len(self.blobs) - 1}
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

    def state(self, t: torch.Tensor, before: dict) -> dict:
        """How an input tensor looks after the call, compared with before it."""
        grad = _grad(t)
        with _no_torch_function():
            return {
                "value": self.tensor(t),
                "grad": None if grad is None else self.tensor(grad),
                "grad_same_object": grad is not None and grad is before["grad"],
                "storage_same": t.numel() == 0 or _data_ptr(t) == before["ptr"],
                "version_changed": _version(t) != before["version"],
            }


def _snapshot(t: torch.Tensor) -> dict:
    return {
        "grad": _grad(t),
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


# --------------------------------------------------------------- serving
class Harness:
    def __init__(self, sock: socket.socket, config: dict):
        self.sock = sock
        self.config = config
        self.filename = config["module_path"]
        self.module = None

    def import_module(self) -> dict:
        name, path = self.config["module_name"], self.config["module_path"]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - anything the module does is a result
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
        self.module = module
        missing = [fn for fn in self.config["functions"] if not callable(getattr(module, fn, None))]
        return {"ok": True, "missing": missing}

    def call(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        fn = getattr(self.module, request["fn"], None)
        if not callable(fn):
            return {"ok": False, "error": {"type": "missing", "message": "", "line": None, "problem": "missing"}}, []
        inputs: list[torch.Tensor] = []
        args = [_decode(a, blobs, inputs) for a in request.get("args", [])]
        before = [_snapshot(t) for t in inputs]
        try:
            result = fn(*args)
            backward_error = None
            if request.get("backward") is not None:
                try:
                    if type(result) is not torch.Tensor:
                        raise TypeError("the result is not a tensor")
                    if request["backward"] == "ones":
                        grad_out = torch.ones_like(result)
                    else:
                        grad_out = _decode(request["backward"], blobs, [])
                    _backward(result, grad_out)
                except Exception as exc:  # noqa: BLE001
                    backward_error = describe_error(exc, self.filename)
            enc = _Encoder(inputs)
            reply = {
                "ok": True,
                "result": enc.value(result),
                "inputs": [enc.state(t, b) for t, b in zip(inputs, before)],
                "backward_error": backward_error,
            }
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            return {"ok": False, "error": describe_error(exc, self.filename)}, []
        return reply, enc.blobs

    def serve(self) -> None:
        wire.write_frame(self.sock, {"op": "ready", **self.import_module()})
        while True:
            try:
                request, blobs = wire.read_frame(self.sock)
            except EOFError:
                return
            if request.get("op") != "call":
                return
            reply, out_blobs = self.call(request, blobs)
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


def run(sock: socket.socket, output_fd: int, config: dict) -> None:
    """Entry point of a freshly forked (or spawned) student process."""
    _redirect_stdio(output_fd)
    _close_other_fds(sock.fileno())
    try:
        limits.apply(config)
    except BaseException as exc:  # noqa: BLE001 - report, never run unconfined
        wire.write_frame(sock, {"op": "sandbox_failed", "message": _text(f"{type(exc).__name__}: {exc}")})
        return
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
