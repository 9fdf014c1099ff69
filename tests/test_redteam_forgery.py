"""Red team: forged verdicts and a shed guard (issue: grades no submission can forge).

Each attacker is a submission with one bug plus an attack that would, if it worked, turn that bug into full
points: rebinding the harness's encoder or frame writer, writing a forged reply on the grader's socket, walking
the garbage collector to the monitor's key, a trace function, a torch dispatch mode left on (assignment2, whose
``zero_grad`` bug shows only in the facts the harness observes: the same ``.grad`` object kept); removing the
forbidden-API guard, swallowing its exception, running autograd in a thread or in a forked process (assignment4,
autograd forbidden, whose ``gradient`` is wrong). For every attacker the test asserts that it scores no more
than the same bug without the attack, that the run names what happened (``tampering`` or ``forbidden_api``),
that the evidence is in the instructor's grade.log and not in the student's feedback, and that an honest
submission in the same class keeps every point: through ``grade -j 2``, ``grade --dask-local 2`` and ``check``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

from conftest import Gradebook, run_grader, solution_source

LIMITS = ("--timeout", "5", "--memory", "600")
TAMPERING_MESSAGE = "the grader found its own code, state or channel altered"


SOLUTION2 = solution_source()
BUG2 = SOLUTION2.replace("            p.grad.zero_()", "            p.grad = torch.zeros_like(p.grad)")
SOLUTION4 = solution_source("assignment4", "manual_gradients")
BUG4 = SOLUTION4.replace("return float(np.mean(2 * xs * (w * xs - ys)))", "return float(np.mean(xs * (w * xs - ys)))")

#: assignment2: attacks on what the harness observes and sends. Each would make the bug above pass zero_grad.
FORGE = {
    "rebind_encoder": '''
import sys as _s
_r = _s.modules["grader.sandbox.protocol.results"]
_orig = _r.Encoder.state
def _state(self, t, before):
    d = _orig(self, t, before)
    if isinstance(d, dict) and "grad_same_object" in d:
        d["grad_same_object"] = True
    return d
_r.Encoder.state = _state
''',
    "rebind_frames": '''
import sys as _s
_f = _s.modules["grader.sandbox.protocol.frames"]
_enc = _f.encode_frame
def _forged(header, blobs=()):
    for st in header.get("inputs", []) or []:
        if isinstance(st, dict) and "grad_same_object" in st:
            st["grad_same_object"] = True
    return _enc(header, blobs)
_f.encode_frame = _forged
''',
    "write_channel": '''
import os as _o, stat as _st, json as _j, struct as _struct
_orig_zero = zero_grad
def zero_grad(params):
    params = list(params)
    _orig_zero(params)
    header = _j.dumps({"ok": True, "result": {"t": "none"}, "inputs": [], "backward_error": None}).encode()
    for fd in range(3, 64):
        try:
            if _st.S_ISSOCK(_o.fstat(fd).st_mode):
                _o.write(fd, _struct.pack("<II", len(header), 0) + header)
        except OSError:
            pass
''',
    "gc_walk": '''
import gc as _gc
_gc.unfreeze()  # the monitor's objects sit in the permanent generation
_cells = [o for o in _gc.get_objects() if type(o).__name__ == "cell"]
''',
    "settrace": '''
import sys as _s
def _tr(frame, event, arg):
    return _tr
_s.settrace(_tr)
''',
    "dispatch_mode": '''
from torch.utils._python_dispatch import TorchDispatchMode as _Mode
class _Evil(_Mode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))
_Evil().__enter__()
''',
}
EVIDENCE = {
    "rebind_encoder": "rebound", "rebind_frames": "rebound", "write_channel": "seal", "gc_walk": "unfroze",
    "settrace": "sys.settrace", "dispatch_mode": "dispatch mode",
}

_AUTOGRAD = '''
import torch as _torch
def _auto(xs, ys, w):
    wt = _torch.tensor(float(w), dtype=_torch.float64, requires_grad=True)
    loss = ((wt * _torch.as_tensor(xs, dtype=_torch.float64) - _torch.as_tensor(ys, dtype=_torch.float64)) ** 2).mean()
    (g,) = _torch.autograd.grad(loss, wt)
    return float(g)
'''
#: assignment4: ways around the forbidden-API guard. Each would give ``gradient`` full points through autograd.
SHED = {
    "swallow": '''
def gradient(xs, ys, w):
    try:
        return _auto(xs, ys, w)
    except BaseException:
        return _auto(xs, ys, w)
''',
    "remove_guard": '''
import sys as _s
def gradient(xs, ys, w):
    _s.setprofile(None)
    return _auto(xs, ys, w)
''',
    "thread": '''
import threading as _th
def gradient(xs, ys, w):
    out = []
    t = _th.Thread(target=lambda: out.append(_auto(xs, ys, w)))
    t.start()
    t.join()
    return out[0]
''',
    "fork": '''
import os as _o, struct as _st
def gradient(xs, ys, w):
    r, wr = _o.pipe()
    pid = _o.fork()
    if pid == 0:
        try:
            _o.write(wr, _st.pack("<d", _auto(xs, ys, w)))
        finally:
            _o._exit(0)
    _o.close(wr)
    data = _o.read(r, 8)
    _o.waitpid(pid, 0)
    return _st.unpack("<d", data)[0]
''',
}
#: The smaller classes run on Dask (a Dask run costs more than a local one).
ON_DASK = {"assignment2": ("honest", "honest_bug", "rebind_encoder", "write_channel"),
           "assignment4": ("honest", "honest_bug", "swallow", "thread", "fork")}


def _write_class(folder: Path, assignment: str, only=None) -> Path:
    module, solution, bug, attacks, prelude = (
        ("linear_regression", SOLUTION2, BUG2, FORGE, "") if assignment == "assignment2"
        else ("manual_gradients", SOLUTION4, BUG4, SHED, _AUTOGRAD))
    sources = {"honest": solution, "honest_bug": bug, **{name: bug + prelude + attack for name, attack in attacks.items()}}
    for name, source in sources.items():
        if only is None or name in only:
            (folder / name).mkdir(parents=True)
            (folder / name / f"{module}.py").write_text(source)
    return folder


def _dask_available() -> bool:
    if importlib.util.find_spec("distributed") is None:
        if os.environ.get("GRADER_REQUIRE_DASK"):
            pytest.fail("GRADER_REQUIRE_DASK is set (as in CI) but Dask's distributed is not installed")
        return False
    return True


@pytest.fixture(scope="module", params=["local", "dask"])
def graded(request, tmp_path_factory) -> dict[str, Gradebook]:
    mode = request.param
    if mode == "dask" and not _dask_available():
        pytest.skip("Dask's distributed is not installed (pip install -e '.[dask]')")
    base = tmp_path_factory.mktemp(f"forgery-{mode}")
    books = {}
    for assignment in ("assignment2", "assignment4"):
        only = ON_DASK[assignment] if mode == "dask" else None
        folder = _write_class(base / assignment, assignment, only)
        out = base / f"out-{assignment}"
        how = ("-j", "2") if mode == "local" else ("--dask-local", "2")
        proc = run_grader("grade", assignment, folder, "-o", out, *how, *LIMITS)
        assert proc.returncode == 0, proc.stderr[-3000:]
        books[assignment] = Gradebook(out, proc)
    return books


def _score(book: Gradebook, student: str) -> float:
    return float(book.rows[student]["score"])


def test_honest_submissions_keep_every_point(graded):
    for book in graded.values():
        assert book.rows["honest"]["score"] == "100" and book.rows["honest"]["problems"] == ""
        assert 0 < _score(book, "honest_bug") < 100 and book.rows["honest_bug"]["problems"] == ""


def test_forging_never_pays_and_shows_tampering(graded):
    book = graded["assignment2"]
    attackers = [name for name in FORGE if name in book.rows]
    assert attackers
    log = (book.out / "grade.log").read_text()
    for name in attackers:
        row = book.rows[name]
        assert "tampering" in row["problems"].split(";"), (name, row)
        assert _score(book, name) <= _score(book, "honest_bug"), (name, row)
        assert _earned_in(book, name, "zero_grad") == 0, (name, book.earned(name))
        # The evidence is the instructor's: in grade.log, never in the student's feedback or results file.
        assert re.search(rf"{name}: tampering found on .*{re.escape(EVIDENCE[name])}", log), (name, log)
        feedback = book.feedback(name)
        assert TAMPERING_MESSAGE in feedback and EVIDENCE[name] not in feedback, name
        assert EVIDENCE[name] not in json.dumps(book.results(name))


def test_the_guard_cannot_be_shed(graded):
    book = graded["assignment4"]
    attackers = [name for name in SHED if name in book.rows]
    assert attackers
    for name in attackers:
        row = book.rows[name]
        assert {"tampering", "forbidden_api"} & set(row["problems"].split(";")) or _earned_in(book, name, "gradient") == 0, (name, row)
        assert _earned_in(book, name, "gradient") == 0, (name, book.earned(name))
        assert _score(book, name) <= _score(book, "honest_bug"), (name, row)
    assert "forbidden_api" in book.rows["swallow"]["problems"]
    if "remove_guard" in book.rows:
        assert "tampering" in book.rows["remove_guard"]["problems"]
    assert "forbidden_api" in book.rows["fork"]["problems"]


def _earned_in(book: Gradebook, student: str, function: str) -> float:
    return sum(float(p) for cid, p in book.earned(student).items() if cid.split(".")[0] == function)


@pytest.mark.parametrize("assignment, attacker", [("assignment2", "rebind_encoder"), ("assignment4", "swallow")])
def test_check_on_a_students_machine(tmp_path, assignment, attacker):
    folder = _write_class(tmp_path, assignment, ("honest_bug", attacker))
    module = "linear_regression" if assignment == "assignment2" else "manual_gradients"
    docs = {}
    for name in ("honest_bug", attacker):
        proc = run_grader("check", assignment, "--json", "--path", folder / name / f"{module}.py")
        assert proc.stdout.strip().startswith("{"), proc.stderr[-2000:]
        docs[name] = json.loads(proc.stdout)
    assert docs[attacker]["score"] <= docs["honest_bug"]["score"]
    messages = " ".join(c["message"] for c in docs[attacker]["checks"])
    wanted = TAMPERING_MESSAGE if assignment == "assignment2" else "which this assignment forbids"
    assert wanted in messages, messages
