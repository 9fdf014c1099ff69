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

from grader.sandbox import limits, protocol
from grader.sandbox.protocol import arguments, frames
from grader.sandbox.protocol.results import Encoder, describe_error, printable, snapshot, type_name
from grader.sandbox.guard import ForbiddenCall, Guard

# Captured before any student code runs (the rest: grader.sandbox.protocol.results).
_backward = torch.autograd.backward


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
        enc = Encoder([], self._owners())
        return {"ok": True, "result": enc.value(self.objects.get(request["name"]))}, enc.blobs

    def call(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        try:
            return self._call(request, blobs)
        finally:
            _restore_builtins(self._builtins)

    def _call(self, request: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        fn = self._target(request)
        if not callable(fn) and request.get("self") is not None:
            message = printable(f"the {type_name(self.objects.get(request['self']))} object has no method {request['fn']}()")
            return {"ok": False, "error": {"type": "AttributeError", "message": message, "line": None, "problem": None}}, []
        if not callable(fn):
            return {"ok": False, "error": {"type": "missing", "message": "", "line": None, "problem": "missing"}}, []
        if request.get("seed") is not None:
            _seed_all(int(request["seed"]))
        inputs: list = []
        try:
            args = [arguments.build(a, blobs, inputs, self.objects) for a in request.get("args", [])]
        except Exception as exc:  # noqa: BLE001 - e.g. a submission that broke torch at import
            error = describe_error(exc, self.filename)
            error.update(type="setup", problem=None, message=f"the check's inputs could not be built in your process ({error['type']}: {error['message']})")
            return {"ok": False, "error": error}, []
        before = [snapshot(t) for t in inputs]
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
                        grad_out = arguments.build(request["backward"], blobs, [], self.objects)
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
            enc = Encoder(inputs, self._owners())
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
        frames.write_frame(self.sock, {"op": protocol.READY, **self.import_module()})
        while True:
            try:
                request, blobs = frames.read_frame(self.sock)
            except EOFError:
                return
            if request.get("op") == protocol.CALL:
                reply, out_blobs = self.call(request, blobs)
            elif request.get("op") == protocol.DESCRIBE:
                reply, out_blobs = self.describe(request)
            else:
                return
            try:
                _flush_stdio()
                frames.write_frame(self.sock, reply, out_blobs)
            except (ValueError, TypeError, OverflowError) as exc:
                frames.write_frame(
                    self.sock,
                    {"ok": False, "error": {"type": "unsendable", "message": printable(str(exc)), "line": None, "problem": None}},
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
        frames.write_frame(sock, {"op": protocol.SANDBOX_FAILED, "message": printable(f"{type(exc).__name__}: {exc}")})
        return
    frames.write_frame(sock, {"op": protocol.SANDBOXED, "layers": layers})
    try:
        Harness(sock, config).serve()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass
    except BaseException:  # noqa: BLE001 - the harness itself broke: say so on stderr (discarded in grade)
        traceback.print_exc()


def _spawned_main() -> None:
    """``python -m grader.sandbox.child SOCK_FD OUTPUT_FD`` where fork is unavailable."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    header, _ = frames.read_frame(sock)
    run(sock, int(sys.argv[2]), header["config"])
    os._exit(0)


if __name__ == "__main__":
    _spawned_main()
