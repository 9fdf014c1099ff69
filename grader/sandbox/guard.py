"""Detect calls into forbidden APIs while a student function runs.

A profile hook (``sys.setprofile``) sees every Python call and every C call
made from Python while the student's function runs, however the API was
reached: an alias bound at import, ``getattr``, an import inside the
function.  Source text is never read, so a comment or docstring that names
an API costs nothing.

Groups (named in ``assignment.toml``'s ``[forbidden]`` table):

- ``functional``: ``torch.autograd.functional`` and ``torch.func`` (functorch).
- ``autograd``: all of ``functional`` plus ``Tensor.backward``,
  ``torch.autograd.backward``/``grad``, the autograd engine, and switching
  gradients back on (``torch.enable_grad``, ``set_grad_enabled(True)``).
"""

from __future__ import annotations

import os
import sys
import types

import torch
import torch.autograd.grad_mode as _grad_mode

from grader.sandbox.integrity import FORBIDDEN

_TORCH_DIR = os.path.dirname(torch.__file__)


class ForbiddenCall(BaseException):
    """Raised inside the student's function when it calls a forbidden API.

    A ``BaseException`` so that ``except Exception`` in student code does not
    swallow it; the hit is recorded before raising in any case.
    """


def _module_name(filename: str) -> str:
    rel = os.path.relpath(filename, os.path.dirname(_TORCH_DIR))
    return rel[:-3].replace(os.sep, ".") if rel.endswith(".py") else rel


def _functional_files() -> tuple[str, ...]:
    """Files and folders whose every function is forbidden in the ``functional`` group."""
    return (
        os.path.join(_TORCH_DIR, "autograd", "functional.py"),
        os.path.join(_TORCH_DIR, "_functorch") + os.sep,
        os.path.join(_TORCH_DIR, "func") + os.sep,
    )


def _autograd_codes() -> dict:
    """Code objects of autograd's entry points -> the name students know them by."""
    return {
        torch.Tensor.backward.__code__: "Tensor.backward",
        torch.autograd.backward.__code__: "torch.autograd.backward",
        torch.autograd.grad.__code__: "torch.autograd.grad",
        _grad_mode.enable_grad.__enter__.__code__: "torch.enable_grad",
    }


def _profile(frame, event, arg, _files=(), _codes=None, _set_grad_init=None, _student_file="", _autograd=False,
             _audit=sys.audit, _forbidden=FORBIDDEN, _stop=ForbiddenCall, _module_name=_module_name, _getattr=getattr):
    """The profile function of a guarded call (a copy per guard, :class:`Guard`). Its state is in positional
    defaults, an immutable tuple that only an audited assignment replaces (the monitor ends the process on it),
    and it looks up no global or builtin name, so nothing a submission rebinds changes what it sees. A hit is
    reported to the monitor (:mod:`grader.sandbox.integrity`) before the call is stopped: swallowing
    :class:`ForbiddenCall` does not hide it."""
    name = None
    try:
        if event == "call":
            code = frame.f_code
            if code.co_filename.startswith(_files):
                name = _module_name(code.co_filename) + "." + code.co_name
            else:
                name = _codes.get(code)
                caller = frame.f_back
                from_student = caller is not None and caller.f_code.co_filename == _student_file
                if name == "torch.enable_grad" and not from_student:
                    name = None  # torch's own no_grad.__exit__ restoring grad mode
                elif code is _set_grad_init and from_student and frame.f_locals.get("mode"):
                    name = "torch.set_grad_enabled(True)"
        elif event == "c_call" and _autograd:
            called = _getattr(arg, "__name__", "")
            # run_backward from anywhere (its Python callers are forbidden already); switching grad mode on, from
            # the student's code only (torch's context managers do it too).
            if called == "run_backward" or (called == "_set_grad_enabled" and frame.f_code.co_filename == _student_file):
                name = "the autograd engine (" + called + ")"
    except BaseException:  # noqa: BLE001 - e.g. RecursionError in deep student code: CPython would remove a
        return None  # profile function that raised, and only a hit may do that (the monitor knows it)
    if name is not None:
        _audit(_forbidden, name)
        raise _stop(name)


class Guard:
    """Context manager: while active, a call into ``group``'s APIs is reported to the monitor and stopped.

    The guard does not remove itself on a hit (CPython removes a profile function that raised); every hit of the
    call is the monitor's to report, in the seal of the reply.
    """

    def __init__(self, group: str, *, student_file: str):
        if group not in ("functional", "autograd"):
            raise ValueError(f"unknown forbidden-API group {group!r}")
        self.group = group
        autograd = group == "autograd"
        codes = types.MappingProxyType(_autograd_codes() if autograd else {})
        set_grad_init = _grad_mode.set_grad_enabled.__init__.__code__ if autograd else None
        defaults = (_functional_files(), codes, set_grad_init, student_file, autograd, sys.audit, FORBIDDEN,
                    ForbiddenCall, _module_name, getattr)
        self._profile = types.FunctionType(_profile.__code__, _profile.__globals__, "_guard", defaults)

    def __enter__(self) -> "Guard":
        _setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> bool:
        _setprofile(None)
        return False


_setprofile = sys.setprofile  # captured: a submission may rebind sys.setprofile, not this
