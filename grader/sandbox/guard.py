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

import torch
import torch.autograd.grad_mode as _grad_mode

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


class Guard:
    """Context manager: while active, a call into ``group``'s APIs is recorded in ``hit`` and stopped."""

    def __init__(self, group: str, *, student_file: str):
        if group not in ("functional", "autograd"):
            raise ValueError(f"unknown forbidden-API group {group!r}")
        self.group = group
        self.student_file = student_file
        self.hit: str | None = None
        self._files = _functional_files()
        self._codes = _autograd_codes() if group == "autograd" else {}
        self._set_grad_init = _grad_mode.set_grad_enabled.__init__.__code__ if group == "autograd" else None

    def _from_student(self, frame) -> bool:
        """Whether the student's code made this call (``no_grad.__exit__`` restoring grad mode did not)."""
        caller = frame.f_back
        return caller is not None and caller.f_code.co_filename == self.student_file

    def _stop(self, name: str) -> None:
        if self.hit is None:
            self.hit = name
        sys.setprofile(None)
        raise ForbiddenCall(name)

    def _profile(self, frame, event, arg) -> None:
        if event == "call":
            code = frame.f_code
            if code.co_filename.startswith(self._files):
                self._stop(f"{_module_name(code.co_filename)}.{code.co_name}")
            name = self._codes.get(code)
            if name is not None and (name != "torch.enable_grad" or self._from_student(frame)):
                self._stop(name)
            if code is self._set_grad_init and frame.f_locals.get("mode") and self._from_student(frame):
                self._stop("torch.set_grad_enabled(True)")
        elif event == "c_call" and self.group == "autograd" and frame.f_code.co_filename == self.student_file:
            name = getattr(arg, "__name__", "")
            if name in ("run_backward", "_set_grad_enabled"):
                self._stop(f"the autograd engine ({name})")

    def __enter__(self) -> "Guard":
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> bool:
        sys.setprofile(None)
        return False
