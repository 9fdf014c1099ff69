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

Besides groups, an entry may name one API by its dotted name
(``torch.nn.functional.gelu``, ``torch.tanh``): a Python function
(matched by its code) or a built-in (matched by identity), however it is
reached, from the student's code or from torch's own (``nn.GELU`` calls
the built-in); ``torch.ops.aten.<op>`` names the op's dispatcher entry, every
overload of it (``torch.ops.aten.gelu.default``). Names are resolved by
:func:`resolve` before any student code runs, so a submission that rebinds
the name at import changes nothing.

The guard is on while the student's function runs and while the harness
backpropagates from its result (a course's ``torch.autograd.Function``: its
``backward`` is the student's code too); the harness's own call into the
autograd engine is the one allowed (:class:`Guard`'s ``engine_caller``).
"""

from __future__ import annotations

import os
import sys
import types

import torch
import torch.autograd.grad_mode as _grad_mode

from grader.sandbox.integrity import FORBIDDEN

_TORCH_DIR = os.path.dirname(torch.__file__)
#: The groups an entry may name (``grader.course.FORBIDDEN_GROUPS``, which checks assignment.toml, lists them too).
GROUPS = ("functional", "autograd")


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
             _builtins=None, _engine_caller=None, _allowed_entries=(), _audit=sys.audit, _forbidden=FORBIDDEN,
             _stop=ForbiddenCall, _module_name=_module_name, _getattr=getattr, _id=id):
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
                caller = frame.f_back
                # An entry into functorch: torch's internal calls within it are reached only through an entry (stopped
                # here), and the entries torch's own autograd.Function.apply makes are not the student's.
                if caller is None or not (caller.f_code.co_filename.startswith(_files) or (caller.f_code, code) in _allowed_entries):
                    name = _module_name(code.co_filename) + "." + code.co_name
            else:
                name = _codes.get(code)
                caller = frame.f_back
                from_student = caller is not None and caller.f_code.co_filename == _student_file
                if name == "torch.enable_grad" and not from_student:
                    name = None  # torch's own no_grad.__exit__ restoring grad mode
                elif code is _set_grad_init and from_student and frame.f_locals.get("mode"):
                    name = "torch.set_grad_enabled(True)"
        elif event == "c_call":
            named = _builtins.get(_id(arg))
            if named is not None and named[0] is arg:
                name = named[1]
            elif _autograd:
                called = _getattr(arg, "__name__", "")
                # run_backward from anywhere (its Python callers are forbidden already) but the harness's own
                # backward; switching grad mode on, from the student's code only (torch's context managers do it too).
                if called == "run_backward" and not (_engine_caller is not None and frame.f_code is _engine_caller[0]
                                                     and frame.f_back is _engine_caller[1]):
                    name = "the autograd engine (" + called + ")"
                elif called == "_set_grad_enabled" and frame.f_code.co_filename == _student_file:
                    name = "the autograd engine (" + called + ")"
    except BaseException:  # noqa: BLE001 - e.g. RecursionError in deep student code: CPython would remove a
        return None  # profile function that raised, and only a hit may do that (the monitor knows it)
    if name is not None:
        _audit(_forbidden, name)
        raise _stop(name)


def resolve(entries) -> "Rules":
    """The forbidden entries of one function (group names and dotted API names) as the tables the guard matches:
    call in the warm process or before any student code runs (a group's entry points too are read then, before a
    submission could rebind them). A name that names nothing is a ValueError."""
    groups, codes, builtins_ = set(), {}, {}
    for entry in entries:
        if entry in GROUPS:
            groups.add(entry)
            continue
        obj = _lookup(entry)
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            codes[code] = entry
        elif isinstance(obj, torch._ops.OpOverloadPacket):  # torch.ops.aten.<op>: the built-in each overload calls
            for overload in (obj, *(getattr(obj, name) for name in obj.overloads())):
                if callable(getattr(overload, "_op", None)):
                    builtins_[id(overload._op)] = (overload._op, entry)
        elif callable(obj):
            builtins_[id(obj)] = (obj, entry)
        else:
            raise ValueError(f"{entry!r} is not a function")
    autograd = "autograd" in groups
    return Rules(
        _functional_files() if groups else (),
        types.MappingProxyType({**(_autograd_codes() if autograd else {}), **codes}),
        _grad_mode.set_grad_enabled.__init__.__code__ if autograd else None,
        autograd,
        types.MappingProxyType(builtins_),
    )


def _lookup(name: str):
    """The object a dotted name (``package.module.attr``) names: the longest importable module, then attributes."""
    import importlib

    parts = name.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{name!r} is neither an API group ({', '.join(GROUPS)}) nor a dotted name like torch.nn.functional.gelu")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f"{name!r} names nothing that can be imported")


class Rules(tuple):
    """What one function's ``[forbidden]`` entries forbid, resolved (:func:`resolve`): ``(files, codes,
    set_grad_init, autograd, builtins)``, the first defaults of the guard's profile function."""

    def __new__(cls, files, codes, set_grad_init, autograd, builtins_):
        return tuple.__new__(cls, (files, codes, set_grad_init, autograd, builtins_))


#: ``(caller's code, callee's code)``: entries into functorch that torch's own ``autograd.Function.apply`` makes.
_ALLOWED_ENTRIES = ((torch.autograd.function.Function.apply.__func__.__code__,
                     torch._functorch.utils.unwrap_dead_wrappers.__code__),)


class Guard:
    """Context manager: while active, a call into the APIs of ``rules`` (:func:`resolve`) is reported to the monitor
    and stopped.

    ``engine_caller``: ``(code, frame)``, the harness's one call into the autograd engine that ``autograd`` allows
    (from code ``code`` called by ``frame``, the harness's running frame: a submission that calls the harness's
    code itself does so from another frame).

    The guard does not remove itself on a hit (CPython removes a profile function that raised); every hit of the
    call is the monitor's to report, in the seal of the reply.
    """

    def __init__(self, rules: Rules | str, *, student_file: str, engine_caller: tuple | None = None):
        if isinstance(rules, str):
            rules = resolve((rules,))
        files, codes, set_grad_init, autograd, builtins_ = rules
        defaults = (files, codes, set_grad_init, student_file, autograd, builtins_, engine_caller, _ALLOWED_ENTRIES,
                    sys.audit, FORBIDDEN, ForbiddenCall, _module_name, getattr, id)
        self._profile = types.FunctionType(_profile.__code__, _profile.__globals__, "_guard", defaults)

    def __enter__(self) -> "Guard":
        _setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> bool:
        _setprofile(None)
        return False


_setprofile = sys.setprofile  # captured: a submission may rebind sys.setprofile, not this
