"""What runs inside the untrusted student process.

Imported by the warm process before any check, reference or solution exists
in memory, so a fork of it holds nothing worth stealing.  After the fork it
locks itself down (:mod:`grader.sandbox.limits`), loads the course's builders,
imports the student's module and then answers ``call`` requests: build the
arguments from data, call the student function, send back what came out as data.

One module, past the usual size: a call's reply (build the arguments, call under the forbidden-API guard,
backpropagate under it, encode and seal while the objects are held) is one sequence over one state, each step
reading what the last left; split, its pieces would pass that state through more code the monitor must watch.
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import importlib.util
import os
import random
import socket
import sys
import traceback
import types

import numpy as np
import torch

from grader.sandbox import integrity, limits, protocol, stdio
from grader.sandbox.guard import ForbiddenCall, Guard, resolve
from grader.sandbox.protocol import arguments, frames, seals  # noqa: F401 - loaded before the monitor snapshots the package
from grader.sandbox.protocol.results import Encoder, describe_error, named_parameters, printable, snapshot, type_name

# Captured before any student code runs (the rest: grader.sandbox.protocol.results): torch's autograd engine itself
# (a C object), the garbage collector's switches.
_run_backward = torch.autograd.variable.Variable._execution_engine.run_backward
_node_apply = torch.autograd.function.BackwardCFunction.apply  # a node of a torch.autograd.Function: its backward
_BackwardCFunction = torch.autograd.function.BackwardCFunction
_grad_fn = torch._C.TensorBase.grad_fn.__get__
_getframe = sys._getframe
_nullcontext = contextlib.nullcontext
_ones_like = torch.ones_like
_enable_grad = torch.enable_grad
_no_grad = torch.no_grad
_gc_disable, _gc_enable, _gc_isenabled = gc.disable, gc.enable, gc.isenabled
_Tensor = torch.Tensor
_getpid, _exit = os.getpid, os._exit
_no_torch_function = torch._C.DisableTorchFunction
_dispatch_modes = torch._C._len_torch_dispatch_stack
_INPUT_TYPES = (torch.Tensor, np.ndarray)


def _no_dispatch_mode(when: str) -> None:
    """A torch dispatch mode left on would see (and could rewrite) every tensor the harness reads: tampering."""
    if _dispatch_modes():
        integrity.report(f"a torch dispatch mode was left active {when}")


def _forbidden(api: str) -> dict:
    return {"ok": False, "error": {"type": "forbidden", "message": printable(api), "line": None, "problem": "forbidden_api"}}


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
    """The student process's side of the protocol. What decides a reply is never kept where student code can change
    it: the forbidden-API groups and the channel are local variables of :meth:`serve` (a running frame's locals
    cannot be rebound without a trace function, which the monitor forbids), each reply is encoded to bytes while
    the garbage collector is off and the objects it describes are still held, and the monitor seals those bytes
    (:mod:`grader.sandbox.integrity`)."""

    def __init__(self, config: dict):
        self._builtins = dict(builtins.__dict__)  # before any student code runs
        self.filename = config["module_path"]
        self.module = None
        self.objects: dict[str, object] = {}

    def import_module(self, name: str, path: str, functions: tuple) -> dict:
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - anything the module does is a result
            _restore_builtins(self._builtins)
            error = describe_error(exc, path)
            if type(exc) in (SyntaxError, IndentationError, TabError):
                context = exc.__cause__ or exc.__context__
                is_encoding = type(context) is UnicodeDecodeError or "codec" in error["message"] or "encoding" in error["message"]
                error["problem"] = "encoding" if is_encoding else "syntax"
                error["line"] = exc.lineno if type(exc.lineno) is int else None
            elif type(exc) is UnicodeDecodeError:
                error["problem"] = "encoding"
            elif error["problem"] != "memory":
                error["problem"] = "import"
            return {"ok": False, "error": error}
        _restore_builtins(self._builtins)
        self.module = module
        missing = [fn for fn in functions if not callable(self._attribute(module, fn))]
        return {"ok": True, "missing": missing}

    @staticmethod
    def _attribute(obj, name: str):
        """``getattr(obj, name, None)`` where ``obj`` is the student's module (a module's own ``__getattr__`` may run:
        the call runs student code anyway)."""
        try:
            return getattr(obj, name, None)
        except Exception:  # noqa: BLE001
            return None

    def _owners(self) -> dict[int, str]:
        """``id(parameter) -> "<kept name>.<parameter name>"`` over the kept modules."""
        owners = {}
        for name, obj in self.objects.items():
            if issubclass(type(obj), torch.nn.Module):
                found = named_parameters(obj)
                for pname, p in (found[0] if found else ()):
                    owners[id(p)] = f"{name}.{pname}"
        return owners

    def describe(self, request: dict) -> bytes:
        enabled = _gc_isenabled()
        _gc_disable()
        try:
            enc = Encoder((), self._owners())
            return _sealed(frames.encode_frame({"ok": True, "result": enc.value(self.objects.get(request.get("name")))}, enc.blobs))
        finally:
            if enabled:
                _gc_enable()

    def call(self, request: dict, blobs: list[bytes], forbidden) -> bytes:
        """The reply to a call request: one frame and its seal, as bytes."""
        try:
            reply = self._call(request, blobs, forbidden)
        finally:
            _restore_builtins(self._builtins)
        return reply if type(reply) is bytes else _sealed(frames.encode_frame(reply))

    def _call(self, request: dict, blobs: list[bytes], forbidden):
        fn_name, on = request.get("fn"), request.get("self")
        keep, backward, no_grad, seed = request.get("keep"), request.get("backward"), request.get("no_grad"), request.get("seed")
        direct = request.get("direct_backward") is True
        fn = self._attribute(self.objects.get(on), fn_name) if on is not None else self._attribute(self.module, fn_name)
        if not callable(fn) and on is not None:
            message = printable(f"the {type_name(self.objects.get(on))} object has no method {fn_name}()")
            return {"ok": False, "error": {"type": "AttributeError", "message": message, "line": None, "problem": None}}
        if not callable(fn):
            return {"ok": False, "error": {"type": "missing", "message": "", "line": None, "problem": "missing"}}
        if seed is not None:
            _seed_all(int(seed))
        inputs: list = []
        try:
            args = [arguments.build(a, blobs, inputs, self.objects, self.builders) for a in request.get("args", [])]
        except Exception as exc:  # noqa: BLE001 - e.g. a submission that broke torch at import
            error = describe_error(exc, self.filename)
            error.update(type="setup", problem=None, message=f"the check's inputs could not be built in your process ({error['type']}: {error['message']})")
            return {"ok": False, "error": error}
        inputs = tuple(inputs)
        if not all(type(t) in _INPUT_TYPES for t in inputs):  # torch patched at import: what was built is not ours
            return {"ok": False, "error": {"type": "setup", "line": None, "problem": None,
                                           "message": "the check's inputs could not be built in your process (torch was patched)"}}
        before = tuple(snapshot(t) for t in inputs)
        rules = forbidden.get(fn_name) if on is None else None
        guard = Guard(rules, student_file=self.filename) if rules else None
        result = None
        try:
            # Every call starts in grad mode as the check asks and leaves it as it found it.
            grad_mode = _no_grad() if no_grad else _enable_grad()
            if guard is not None:
                try:
                    with grad_mode, guard:
                        result = fn(*args)
                except ForbiddenCall as hit:
                    _restore_builtins(self._builtins)
                    return _forbidden(hit.args[0] if hit.args else "a forbidden API")
            else:
                with grad_mode:
                    result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            _restore_builtins(self._builtins)
            return {"ok": False, "error": describe_error(exc, self.filename)}
        _restore_builtins(self._builtins)
        if keep:
            self.objects[keep] = result
        enabled = _gc_isenabled()
        _gc_disable()  # from here to the bytes of the reply, no student __del__ runs
        try:
            _no_dispatch_mode("after the call")
            backward_error, returned = None, None
            if backward is not None:
                # The student's code may run in backward too (a torch.autograd.Function's): under the same guard.
                guard = Guard(rules, student_file=self.filename, engine_caller=(_BACKWARD_CODE, _getframe())) if rules else None
                backward_error, returned = self._backward(result, backward, blobs, guard, direct)
                _restore_builtins(self._builtins)
            _no_dispatch_mode("after backward")
            enc = Encoder(inputs, self._owners())
            reply = {
                "ok": True,
                "result": enc.value(result),
                "inputs": [enc.state(t, b) for t, b in zip(inputs, before)],
                "backward_error": backward_error,
            }
            if direct and backward_error is None:
                reply["backward_value"] = enc.value(returned)
            # Sealed here, while the objects it describes are held: a student __del__ that runs once they are
            # dropped cannot undo, unseen, a change to the harness that the reply went through.
            return _sealed(frames.encode_frame(reply, enc.blobs))
        except BaseException as exc:  # noqa: BLE001 - e.g. a value that cannot be encoded
            error = describe_error(exc, self.filename)
            error.update(type="unreadable", problem=None, message=f"its result could not be read as data ({error['type']}: {error['message']})")
            return {"ok": False, "error": error}
        finally:
            if enabled:
                _gc_enable()

    def _backward(self, result, backward, blobs: list[bytes], guard: Guard | None, direct: bool) -> tuple:
        """Backpropagate from ``result`` with the autograd engine itself (torch's Python wrappers may be patched):
        ``(error or None, None)``. ``direct``: call the backward of the ``torch.autograd.Function`` that made
        ``result`` (its node's own, as written, before autograd checks or reshapes what it returns) in grad mode off,
        as the engine would: ``(error or None, what it returned)``."""
        try:
            if type(result) is not _Tensor:
                raise TypeError("the result is not a tensor")
            with _no_torch_function():  # no mode of the submission's sees (or rewrites) the gradient sent in
                grad_out = _ones_like(result) if backward == "ones" else arguments.build(backward, blobs, [], self.objects, self.builders)
            if type(grad_out) is not _Tensor:
                raise TypeError("the gradient could not be built in your process (torch was patched)")
            node = _grad_fn(result)
            if direct and not isinstance(node, _BackwardCFunction):
                made = "no grad_fn" if node is None else f"grad_fn {type_name(node).rsplit('.', 1)[-1]}"
                raise TypeError(f"the result has {made}, not the backward of a torch.autograd.Function: return Class.apply(...)")
            with (_no_grad() if direct else _enable_grad()), (guard if guard is not None else _nullcontext()):
                if direct:
                    return None, _node_apply(node, grad_out)
                _run_backward((result,), (grad_out,), False, False, (), True, True)
        except ForbiddenCall as hit:  # the monitor reports it with the reply's seal
            return _forbidden(hit.args[0] if hit.args else "a forbidden API")["error"], None
        except Exception as exc:  # noqa: BLE001
            return describe_error(exc, self.filename), None
        return None, None

    def serve(self, sock: socket.socket, config: dict) -> None:
        """Import the module, then answer requests until the trusted side closes the channel."""
        owner = _getpid()  # a process the submission forked that comes back here never answers (see _send)
        functions = tuple(config["functions"])
        self.builders, failed = arguments.load_builders(config.get("objects_path"))  # the course's, before any student code
        try:  # names resolved before any student code: a submission that rebinds one at import changes nothing
            forbidden = types.MappingProxyType({fn: resolve(entries if isinstance(entries, list) else [entries])
                                                for fn, entries in dict(config.get("forbidden", {})).items()})
        except (ValueError, ImportError) as exc:
            forbidden, failed = types.MappingProxyType({}), failed or f"assignment.toml [forbidden]: {exc}"
        ready = {"ok": False, "course_error": printable(failed)} if failed else self.import_module(config["module_name"], config["module_path"], functions)
        _send(sock, _sealed(frames.encode_frame({"op": protocol.READY, **ready})), owner)
        while True:
            try:
                request, blobs = frames.read_frame(sock)
            except EOFError:
                return
            op = request.get("op")
            try:
                if op == protocol.CALL:
                    data = self.call(request, blobs, forbidden)
                elif op == protocol.DESCRIBE:
                    data = self.describe(request)
                else:
                    return
            except (ValueError, TypeError, OverflowError) as exc:
                data = _sealed(frames.encode_frame(
                    {"ok": False, "error": {"type": "unsendable", "message": printable(str(exc)), "line": None, "problem": None}}))
            stdio.flush()
            _send(sock, data, owner)


_BACKWARD_CODE = Harness._backward.__code__


def _sealed(data: bytes) -> bytes:
    """``data`` (one whole frame) followed by the monitor's seal of it."""
    return data + frames.raw_frame(integrity.seal(data))


def _send(sock: socket.socket, payload: bytes, owner: int) -> None:
    """Send a reply, from the student process itself: a copy of it that the submission forked and that returned
    into the harness (its fork raised, say) ends here instead of answering too."""
    if _getpid() != owner:
        _exit(0)
    sock.sendall(payload)


def run(sock: socket.socket, output_fd: int, config: dict, layers: dict | None = None) -> None:
    """Entry point of a freshly forked (or spawned) student process.

    ``layers``: what the keeper already did (session, namespaces). Before any
    student code runs, the parent learns which sandbox layers are active.
    """
    stdio.redirect(output_fd)
    stdio.close_other_fds(sock.fileno())
    if layers is None:
        why = "a spawned student process is not placed in namespaces"
        layers = {"session": None, "pid-namespace": why, "mount-namespace": why, "network-namespace": why}
    try:
        layers = limits.apply(config, layers)
    except BaseException as exc:  # noqa: BLE001 - report, never run unconfined
        frames.write_frame(sock, {"op": protocol.SANDBOX_FAILED, "message": printable(f"{type(exc).__name__}: {exc}")})
        return
    stdio.silence_debuggers()
    # No local keeps the key: the frames below the student's code are theirs to read.
    try:
        frames.write_frame(sock, {"op": protocol.SANDBOXED, "layers": {**layers, "monitor": None},
                                  "key": integrity.install(sock.fileno(), frames.PREFIX).hex()})
    except BaseException as exc:  # noqa: BLE001 - never run student code without the monitor
        frames.write_frame(sock, {"op": protocol.SANDBOX_FAILED, "message": printable(f"the monitor: {type(exc).__name__}: {exc}")})
        return
    try:
        Harness(config).serve(sock, config)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass
    except BaseException:  # noqa: BLE001 - the harness itself broke: say so on stderr (discarded in grade)
        traceback.print_exc()
