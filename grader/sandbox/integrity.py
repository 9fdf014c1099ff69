"""The monitor: the student process's root of trust, an audit hook that student code can neither reach nor remove.

:func:`install` runs after the sandbox layers and before the student's module is imported. From then on:

- Every frame the harness sends is **sealed** (:func:`seal`). The monitor first checks that the harness asked (its
  own code, all the way down the stack: a submission calling the harness's functions is not the harness), that the
  harness's modules and classes and the stdlib modules its replies go through are exactly what they were before any
  student code ran (every name bound to the same object, nothing added or removed), and that no torch function or
  dispatch mode is left active; then it MACs the frame's bytes, a sequence number and its verdict (``ok``, or
  ``tampering`` with the evidence, and any forbidden API used since the last seal) with a key that the trusted
  side received before any student code ran (:mod:`grader.sandbox.protocol.seals` checks it). A frame the harness
  did not seal (a submission writing to the grader's socket) fails that check.
- Audit events that only an attack needs end the process at once, after a sealed ``tampering`` notice: a profile
  or trace function installed or removed by anything but the harness (the forbidden-API guard is one; a trace
  function can rewrite the harness's local variables), walking the garbage collector's object graph or the frames
  of other threads (the way to the monitor itself), rebinding a harness function's code or defaults. Adding
  another audit hook is refused.
- A forbidden API used in the process (:mod:`grader.sandbox.guard` reports it here) goes into the next seal, so a
  submission that swallows the guard's exception still fails the call; used in a process the submission forked,
  it ends that process with a sealed notice.

The hook keeps its key and state in default arguments of a function that nothing in Python references (only the
interpreter's list of audit hooks), and calls nothing a submission can rebind: C functions captured here, methods of
built-in types. What it cannot stop is native code writing the process's memory (ctypes, raw pointers): the README's
security section says so.
"""

from __future__ import annotations

import _hashlib
import builtins
import gc
import itertools
import operator
import os
import socket
import sys
import types

import torch

SEAL = "grader.seal"
FORBIDDEN = "grader.forbidden"
#: The harness reports what it found itself (a torch dispatch mode left on before it reads a result).
EVIDENCE = "grader.evidence"

#: Walking the collector's object graph: harmless while the monitor's objects sit in the permanent generation
#: (:func:`install` freezes them there, out of these functions' reach); after ``gc.unfreeze()`` it is the way to
#: the monitor's key, and ends the process with a sealed tampering notice.
GC_WALKS = frozenset(("gc.get_objects", "gc.get_referrers", "gc.get_referents"))
#: Events only the harness's own code may raise; from anywhere else they end the process the same way.
HARNESS_ONLY = {
    "sys.setprofile": "installed or removed a profile function (sys.setprofile): the forbidden-API guard is one",
    "sys.settrace": "installed or removed a trace function (sys.settrace)",
}
#: The harness's modules whose code runs after student code has (the others only set the process up), and the
#: stdlib modules its replies go through (``socket``: the class ``socket.socket`` only).
MODULES = ("grader.sandbox.child", "grader.sandbox.stdio", "grader.sandbox.integrity", "grader.sandbox.guard",
           "grader.sandbox.protocol", "grader.sandbox.protocol.frames", "grader.sandbox.protocol.arguments",
           "grader.sandbox.protocol.results", "json", "json.encoder", "json.decoder", "json.scanner", "struct")


def _code_objects(code, into: set) -> None:
    into.add(id(code))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_objects(const, into)


def _functions_of(obj):
    """The plain functions behind a class attribute (method, static or class method, property)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [f for f in (obj.fget, obj.fset, obj.fdel) if isinstance(f, types.FunctionType)]
    return [obj] if isinstance(obj, types.FunctionType) else []


def _harness_modules() -> list:
    return [sys.modules[n] for n in MODULES if n in sys.modules]


def _snapshot(modules) -> tuple[tuple, set, set]:
    """``(entries, code ids, watched ids)``: every dict (module, class, keyword defaults) and mutable container the
    harness reads, as ``(object, keys, values)``; the code objects of its functions; its functions and classes."""
    entries, codes, watched, seen = [], set(), set(), {id(builtins.__dict__)}  # builtins: checked on their own

    def add(container) -> None:
        if id(container) in seen:
            return
        seen.add(id(container))
        if isinstance(container, (dict, types.MappingProxyType)):
            entries.append((container, tuple(container), tuple(container.values())))
        elif isinstance(container, list):
            entries.append((container, None, tuple(container)))

    def function(fn) -> None:
        if id(fn) in watched:
            return
        watched.add(id(fn))
        _code_objects(fn.__code__, codes)
        if fn.__kwdefaults__:
            add(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            entries.append((cell, None, (cell.cell_contents,)))

    classes = [socket.socket]
    for module in modules:
        namespace = vars(module)
        add(namespace)
        classes += [v for v in namespace.values() if isinstance(v, type) and v.__module__ == module.__name__]
        for value in list(namespace.values()):
            if isinstance(value, types.FunctionType):
                function(value)
            elif isinstance(value, (dict, list)):
                add(value)
    for cls in classes:
        if id(cls) not in watched:
            watched.add(id(cls))
            add(cls.__dict__)
            for attr in list(cls.__dict__.values()):
                for fn in _functions_of(attr):
                    function(fn)
                if isinstance(attr, (dict, list)):
                    add(attr)
    return tuple(entries), codes, watched


def install(sock_fd: int, prefix) -> bytes:
    """Arm the monitor in this process; return the key for the trusted side (sent before any student code runs).

    ``sock_fd``: the channel to the grader, for the notice of a fatal event; ``prefix``: the frame prefix (header
    length, number of blobs), to write that notice.
    """
    entries, code_ids, watched = _snapshot(_harness_modules())
    frame = sys._getframe(0)
    while frame is not None:  # the zygote's and the harness's frames below this call
        code_ids.add(id(frame.f_code))
        frame = frame.f_back
    key = os.urandom(32)
    sys.addaudithook(_make_hook(key, _flatten(entries), frozenset(code_ids), frozenset(watched), sock_fd, prefix.pack))
    return key


def _flatten(entries) -> tuple:
    """The snapshot as a few flat tuples, so that checking it is a handful of C-level passes (a seal per call)."""
    dicts = tuple(c for c, keys, _ in entries if keys is not None)
    lists = tuple(c for c, keys, _ in entries if keys is None and type(c) is list)
    cells = tuple(c for c, keys, _ in entries if keys is None and type(c) is types.CellType)
    return (dicts, tuple(map(len, dicts)), tuple(k for c, keys, _ in entries if keys is not None for k in keys),
            tuple(v for c, keys, values in entries if keys is not None for v in values),
            lists, tuple(map(len, lists)), tuple(v for c, keys, values in entries if keys is None and type(c) is list for v in values),
            cells, tuple(c.cell_contents for c in cells),
            tuple(builtins.__dict__), tuple(builtins.__dict__.values()))


def _make_hook(key, snapshot, code_ids, watched, sock_fd, pack):  # noqa: C901 - one closure on purpose
    """The audit hook. Everything it and its helpers use is a local, a default or a closure cell: no global or
    builtin name is looked up while it runs, so no rebinding can put student code on its stack; the key lives
    only in the closure of ``seal``, which only the hook references."""
    state = {"n": 0, "evidence": [], "forbidden": "", "stopping": False, "pid": os.getpid()}
    gc_walks = GC_WALKS
    harness_only = types.MappingProxyType(dict(HARNESS_ONLY))

    def intact(_snapshot=snapshot, _len=len, _all=all, _map=map, _is=operator.is_, _tuple=tuple,
               _chain=itertools.chain.from_iterable, _values=operator.methodcaller("values"),
               _contents=operator.attrgetter("cell_contents"), _builtins=builtins.__dict__) -> str | None:
        """What changed since install, or None: one C-level pass per kind of container."""
        dicts, dict_lens, keys, values, lists, list_lens, items, cells, contents, names, bound = _snapshot
        if _tuple(_map(_len, dicts)) != dict_lens or not _all(_map(_is, _chain(dicts), keys)) \
                or not _all(_map(_is, _chain(_map(_values, dicts)), values)):
            return "the harness's code or state was changed (a module, class or function of it rebound)"
        if _tuple(_map(_len, lists)) != list_lens or not _all(_map(_is, _chain(lists), items)) \
                or not _all(_map(_is, _map(_contents, cells), contents)):
            return "the harness's state was changed (a table or closure of it altered)"
        if not _all(_map(_is, _map(_builtins.get, names), bound)):
            return "builtins were left rebound"
        return None

    def from_harness(_getframe=sys._getframe, _id=id) -> bool:
        frame = _getframe(3)  # 0: this function, 1: slow, 2: the hook, 3: whoever raised the event
        while frame is not None:
            if _id(frame.f_code) not in code_ids:
                return False
            frame = frame.f_back
        return True

    def verdict(_dispatch_modes=torch._C._len_torch_dispatch_stack) -> str:
        evidence = state["evidence"]
        changed = intact()
        if changed is not None:
            evidence.append(changed)
        if _dispatch_modes():  # function modes are off while the harness reads tensors (DisableTorchFunction)
            evidence.append("a torch dispatch mode was left active")
        return "tampering" if evidence else "ok"

    def json_string(text, _ord=ord, _join="".join) -> bytes:
        out = []
        for ch in text:
            code = _ord(ch)
            if ch == '"' or ch == "\\":
                out.append("\\" + ch)
            elif 32 <= code < 127:
                out.append(ch)
            else:
                out.append("\\u%04x" % (code if code < 0x10000 else 0xFFFD))
        return ('"' + _join(out) + '"').encode()

    def seal(data: bytes, outcome: str, _mac=_hashlib.hmac_digest, _sha=_hashlib.openssl_sha256) -> bytes:
        n = state["n"]
        state["n"] = n + 1
        forbidden, evidence = state["forbidden"], "; ".join(state["evidence"])[:2000]
        state["forbidden"], state["stopping"] = "", False
        text = b"%d\n%s\n%s\n%s\n%s" % (n, outcome.encode(), forbidden.encode(), evidence.encode(), _sha(data).digest())
        mac = _mac(key, text, "sha256")
        return b'{"seal":%d,"verdict":"%s","forbidden":%s,"evidence":%s,"mac":"%s"}' % (
            n, outcome.encode(), json_string(forbidden), json_string(evidence), mac.hex().encode())

    def fatal(reason: str, outcome: str = "tampering", _write=os.write, _exit=os._exit, _len=len) -> None:
        """Send a sealed notice on the grader's channel and end the process (this one only: a forked one too)."""
        try:
            if outcome == "tampering":
                state["evidence"].append(reason)
            else:
                state["forbidden"] = state["forbidden"] or reason
            header = b'{"ok":false,"tampered":true}'
            data = pack(_len(header), 0) + header
            sealed = seal(data, outcome)
            out = data + pack(_len(sealed), 0) + sealed
            while out:
                out = out[_write(sock_fd, out):]
        finally:
            _exit(70)

    def slow(event, args, _type=type, _str=str, _id=id, _getpid=os.getpid, _function=types.FunctionType,
             _frozen=gc.get_freeze_count) -> None:
        if event == SEAL_EVENT:
            if not from_harness():
                fatal("called the grader's seal from its own code")
            args[1].append(seal(args[0], verdict()))
        elif event == EVIDENCE_EVENT:
            if not from_harness():
                fatal("called the grader's monitor from its own code")
            state["evidence"].append(args[0][:200] if args and _type(args[0]) is _str else "the harness found tampering")
        elif event == FORBIDDEN_EVENT:
            name = args[0][:200] if args and _type(args[0]) is _str else "a forbidden API"
            if _getpid() != state["pid"]:
                fatal(name, "forbidden")  # a forked process: its parent's next seal would not know
            state["forbidden"] = state["forbidden"] or name
            state["stopping"] = True  # the guard raises; CPython then removes it, which is not tampering
        elif event in harness_only:
            if state["stopping"] and event == "sys.setprofile":
                state["stopping"] = False
            elif not from_harness():
                fatal(harness_only[event])
        elif event in gc_walks:
            if _frozen() == 0:  # gc.unfreeze(): the monitor's objects are back in reach
                fatal("unfroze the garbage collector's permanent generation and walked it (%s)" % event)
        elif event == "object.__setattr__" and (_id(args[0]) in watched or (
                _type(args[0]) is _function and _id(args[0].__code__) in code_ids)):
            fatal("rebound %s of the grader's own code" % (args[1] if _type(args[1]) is _str else "an attribute"))

    SEAL_EVENT, FORBIDDEN_EVENT, EVIDENCE_EVENT = SEAL, FORBIDDEN, EVIDENCE
    slow_events = frozenset((SEAL, FORBIDDEN, EVIDENCE, "object.__setattr__", *GC_WALKS, *HARNESS_ONLY))

    def hook(event, args, _gc_off=gc.disable, _gc_on=gc.enable, _gc_enabled=gc.isenabled, _exit=os._exit,
             _memory=(MemoryError, RecursionError)) -> None:
        if event not in slow_events:
            if event == "sys.addaudithook":
                raise RuntimeError("the grader's sandbox takes no other audit hook")  # suppressed by CPython
            return
        enabled = _gc_enabled()
        _gc_off()  # no collection, so no student __del__, while the hook runs
        try:
            slow(event, args)
        except _memory:
            _exit(72)
        except BaseException:  # noqa: BLE001 - never let a traceback through this frame reach student code
            fatal("broke the grader's monitor")
        if enabled:
            _gc_on()

    gc.collect()
    gc.freeze()  # the hook, its closure and state: out of reach of gc.get_objects and gc.get_referrers
    return hook


def report(evidence: str, _audit=sys.audit) -> None:
    """Tell the monitor what the harness found (it goes into the next seal as tampering)."""
    _audit(EVIDENCE, evidence)


def seal(data: bytes, _audit=sys.audit, _list=list) -> bytes:
    """The seal frame's header for ``data`` (a whole frame, as sent): computed by the monitor, never here."""
    out = _list()
    _audit(SEAL, data, out)
    if not out:
        raise RuntimeError("the grader's monitor is not installed")
    return out[0]
