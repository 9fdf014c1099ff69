"""The checks' handle on one submission: call a student function, get data back.

Checks run in the trusted parent and never touch student code; they ask a
:class:`Student` to call a function in the submission's sandboxed process.
A student process is started on first use and again after one dies, so a
crash or hang costs only the check that was running.

One module, past the usual size: the process's life (start, import, end), its
time accounting (CPU time per check and per submission, the wall-clock safety
net) and the calls share one state, the running process and the check's
budget, and are read together.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader.errors import CourseError, SandboxError
from grader.sandbox import limits as sandbox_limits
from grader.sandbox import privileges, protocol
from grader.sandbox.protocol import arguments, frames, results, seals
from grader.sandbox.policy import Limits
from grader.sandbox.process import Limit, Output, ProcessEnded, StudentProcess
from grader.submissions.submission import Submission


#: The name of the course's ``objects.py`` in the student's scratch folder, next to the copy of the student's
#: module: a module name has no hyphen, so the student's file can never take it.
OBJECTS_FILE = "course-objects.py"

#: Seed of the submission's random generators at the start of every check: one no check uses,
#: so a function that should seed but does not cannot match a reference by luck.
CHECK_SEED = 918_273_645


class StudentError(Exception):
    """The student's function raised, or is missing: the check fails with this message."""

    def __init__(self, message: str, problem: str | None = None):
        super().__init__(message)
        self.problem = problem


class Starved(BaseException):
    """The machine gave the student process too little CPU time to answer within the wall-clock safety net.

    The grader's failure, not the submission's: the check is run again, and a second time it is the
    ``internal`` problem. A ``BaseException``, like :class:`SubmissionAbort`, so that Hypothesis does not
    retry or shrink on it.
    """


class SubmissionAbort(BaseException):
    """The student process hung, died or could not import: the running check ends at once.

    A ``BaseException`` so that Hypothesis does not retry or shrink on it.
    """

    def __init__(self, message: str, problem: str | None, *, evidence: str = ""):
        super().__init__(message)
        self.problem = problem
        self.evidence = evidence
        """For ``tampering``: what the monitor found, for the instructor (a check's ``detail``), never the student."""


@dataclass
class Call:
    """What one call of a student function produced, as observed in its process."""

    fn: str
    value: object
    inputs: list[results.InputState]
    backward_error: str | None
    _facts: dict[int, results.TensorFacts] = field(repr=False, default_factory=dict)
    backward_value: object = None
    """With ``direct_backward``: what the result's ``torch.autograd.Function`` backward returned, as data."""

    def facts(self, tensor: torch.Tensor) -> results.TensorFacts | None:
        return self._facts.get(id(tensor))




def _key(text) -> bytes:
    """The monitor's key from the ``sandboxed`` frame (sent before any student code ran)."""
    try:
        key = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        key = b""
    if len(key) != 32:
        raise SandboxError("the student process's monitor did not start (no key in its first frame)")
    return key


def _error_text(fn: str, module: str, error: dict) -> str:
    kind = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    where = f" (line {error['line']} of {module}.py)" if isinstance(error.get("line"), int) else ""
    if error.get("problem") == "stub":
        return f"{fn}() still raises NotImplementedError{where}: replace the stub's body with your code"
    if error.get("problem") == "memory":
        return f"{fn}() ran out of memory ({kind}){where}"
    if kind == "setup":
        return f"{fn}(): {message}"
    if kind == "unreadable":
        return f"{fn}() returned something that {message.removeprefix('its result ')}"
    if error.get("problem") == "forbidden_api":
        return f"{fn}() called {message}, which this assignment forbids: compute the result without it"
    return f"{fn}() raised {kind}" + (f": {message}" if message else "") + where


class Student:
    def __init__(
        self,
        *,
        launcher,
        submission: Submission,
        module_name: str,
        functions: list[str],
        limits: Limits,
        filesystem: dict | None,
        keep_output: int = 0,
        forbidden: dict[str, str] | None = None,
        objects: Path | None = None,
    ):
        self._launcher = launcher
        self.submission = submission
        self.module_name = module_name
        self.functions = functions
        self.limits = limits
        self._filesystem = filesystem
        self.forbidden = dict(forbidden or {})
        """Function name -> forbidden-API group (:mod:`grader.sandbox.guard`) enforced while it runs."""
        self.objects = objects
        """The course's ``objects.py`` (its builders, for :class:`~grader.sandbox.protocol.arguments.Build`), or None."""
        self.output = Output(keep=keep_output)
        self.printed_bytes = 0
        self.problems: set[str] = set(submission.problems)
        self._process: StudentProcess | None = None
        self._scratch: str | None = None
        self._missing: set[str] = set()
        self._import_failure: str | None = None
        self.layers: dict[str, str | None] = {}
        """Sandbox layer -> None when active, else why not, as the last student process reported."""
        # Time: CPU seconds of the student's process tree, and wall seconds spent waiting for its answers (the
        # safety net), per check and over the submission. Only the calls of a check count.
        self._spent_cpu = 0.0
        self._spent_wall = 0.0
        self._in_check = False
        self._check_cpu = 0.0
        self._check_wall = 0.0
        self._cpu_budget = limits.check_seconds
        self._wall_budget = limits.check_wall
        self._cpu_base: float | None = None
        """The process tree's CPU reading when this check's accounting started (None: not yet, or no process)."""
        self.check_seconds: list[float] = []
        """CPU seconds the calls of each check used, in the order the checks ran."""
        self._failure: str | None = None
        self._reseed = True
        self._tampered = False
        """The monitor found tampering: no check of this submission runs again."""

    @property
    def import_failure(self) -> str | None:
        """Why the module could not be imported, once that is known."""
        return self._import_failure

    # ------------------------------------------------------------ checks
    def begin_check(self) -> None:
        self._in_check = True
        self._check_cpu = self._check_wall = 0.0
        self._cpu_budget = min(self.limits.check_seconds, self.limits.submission_seconds - self._spent_cpu)
        self._wall_budget = min(self.limits.check_wall, self.limits.submission_wall - self._spent_wall)
        self._cpu_base = None
        self._failure = None
        self._reseed = True

    def note_failure(self, message: str) -> None:
        """The running check found a failure; Hypothesis shrinks it, so the latest is the smallest so far."""
        self._failure = message

    def end_check(self) -> tuple[str, int]:
        """Account the check's time; return what the submission printed during it."""
        if self._in_check:
            if self._process is not None and self._cpu_base is not None and self._process.metered:
                self._check_cpu = max(self._check_cpu, self._process.cpu() - self._cpu_base)
            self._spent_cpu += self._check_cpu
            self._spent_wall += self._check_wall
            self._in_check = False
            self.check_seconds.append(self._check_cpu)
        text, count = self.output.take()
        self.printed_bytes += count
        if self.printed_bytes > self.limits.output_bytes:
            self.problems.add("output")
        return text, count

    def checkpoint(self) -> tuple:
        """What a check may change in this handle: :meth:`rewind` undoes it, to run the check again."""
        return set(self.problems), self._spent_cpu, self._spent_wall, self.printed_bytes, len(self.check_seconds)

    def rewind(self, state: tuple) -> None:
        """Back to ``state`` (:meth:`checkpoint`), with a fresh student process for the next call: the grader
        failed on a check and runs it again, at no cost to the submission."""
        problems, self._spent_cpu, self._spent_wall, self.printed_bytes, checks = state
        self.problems = set(problems)
        del self.check_seconds[checks:]
        self._cleanup()

    def _over_budget(self) -> None:
        """End the check at once if its CPU time or its wall-clock safety net is spent.

        On a loaded machine a correct submission must not run out of time because the machine, Hypothesis or
        the references were slow: only the student's CPU time counts, and the grader's work between calls
        never does.
        """
        if self._check_cpu < self._cpu_budget and self._check_wall < self._wall_budget:
            return
        if self._failure is not None:
            # Out of time while shrinking a failure: that failure is the verdict, not a timeout.
            raise SubmissionAbort(self._failure, None)
        self.problems.add("timeout")
        if self._check_cpu < self._cpu_budget and self._wall_budget < self.limits.check_wall:
            raise SubmissionAbort(f"the submission used up its total wall-clock time ({self.limits.submission_wall:g} s of "
                                  "waiting for answers, a safety net for code that sleeps or blocks)", "timeout")
        if self._check_cpu < self._cpu_budget:  # the wall clock ran out: sleeping or blocked calls
            raise SubmissionAbort(
                f"the check ran past its time limit: its calls used only {self._check_cpu:.1f} s of CPU time in the "
                f"wall-clock limit of {self._wall_budget:.3g} s (sleeping or waiting)",
                "timeout",
            )
        if self._cpu_budget < self.limits.check_seconds:
            raise SubmissionAbort(f"the submission used up its total time budget ({self.limits.submission_seconds:g} s of CPU time)", "timeout")
        raise SubmissionAbort(f"the check ran past its time limit: it used all {self._cpu_budget:.3g} s of CPU time a check may use", "timeout")

    def _limit(self, process: StudentProcess) -> Limit:
        """When the next wait for ``process`` must end: the check's CPU time left, and its wall-clock net."""
        now = time.monotonic()
        wall = now + self._wall_budget - self._check_wall
        if not process.metered:  # no CPU time to read here: the wall clock stands for it, as a limit too
            return Limit(wall=min(wall, now + self._cpu_budget - self._check_cpu))
        if self._cpu_base is None:
            self._cpu_base = process.cpu() - self._check_cpu
        return Limit(wall=wall, cpu=self._cpu_base + self._cpu_budget)

    def _account(self, process: StudentProcess, waited: float, cpu: float | None = None) -> None:
        """Add one wait to the check's time; ``cpu``: the tree's reading at its end, where fresher than the last."""
        self._check_wall += waited
        if not process.metered:
            self._check_cpu += waited
        elif self._cpu_base is not None:
            reading = max(process.last_cpu, cpu or 0.0)
            self._check_cpu = max(self._check_cpu, reading - self._cpu_base)

    def _timeout_text(self, exc: ProcessEnded, *, metered: bool) -> str:
        """What a real timeout tells the student: the CPU seconds used, against which limit."""
        if exc.backstop:
            return f" ({self.limits.cpu_limit} s of CPU time per student process)"
        if not metered:  # no CPU time to read here: wall time stood for it
            return f" ({self._cpu_budget:.3g} s per check)"
        if exc.waited is not None and self._check_cpu < self._cpu_budget:
            return (f" (it used only {self._check_cpu:.1f} s of CPU time in the wall-clock limit of {self._wall_budget:.3g} s "
                    "of a check: it was sleeping or waiting)")
        if self._cpu_budget < self.limits.check_seconds:
            return (f" (it used the {self._cpu_budget:.3g} s left of the {self.limits.submission_seconds:g} s of CPU time "
                    "the submission's checks may use in all)")
        # The CPU seconds used are the limit's: a reading a few hundredths past it would make the feedback of the
        # same submission differ from run to run.
        return f" (it used all {self._cpu_budget:.3g} s of CPU time a check may use)"

    # ------------------------------------------------------------ process
    def _start(self) -> StudentProcess:
        if self.submission.module_path is None:
            raise SubmissionAbort(self.submission.reason or f"no {self.module_name}.py found", None)
        if self._import_failure is not None:
            raise SubmissionAbort(self._import_failure, None)
        self._scratch = tempfile.mkdtemp(prefix="grader-")
        module_path = Path(self._scratch) / f"{self.module_name}.py"
        shutil.copyfile(self.submission.module_path, module_path)
        objects_path = None
        if self.objects is not None:
            objects_path = Path(self._scratch) / OBJECTS_FILE
            shutil.copyfile(self.objects, objects_path)
        work = Path(self._scratch) / "work"  # the student's working folder: a private tmpfs where mounts work
        work.mkdir()
        config = {
            "module_name": self.module_name,
            "module_path": str(module_path),
            "objects_path": None if objects_path is None else str(objects_path),
            "functions": self.functions,
            "scratch": self._scratch,
            "work": str(work),
            "uid": privileges.pick(),
            "memory_mb": self.limits.memory_mb,
            "cpu_seconds": self.limits.cpu_limit,
            "file_size_mb": self.limits.file_size_mb,
            "filesystem": self._filesystem,
            "forbidden": self.forbidden,
            "env": sandbox_limits.minimal_env(str(work)),
        }
        process = StudentProcess(self._launcher, self._launcher.start(config), output=self.output)
        # A new process tree starts at 0 s of CPU time.
        limit = Limit(wall=time.monotonic() + self.limits.import_wall, cpu=self.limits.import_seconds if process.metered else None)
        if not process.metered:
            limit = Limit(wall=time.monotonic() + self.limits.import_seconds)
        try:
            ready, _ = process.receive(limit)
            if ready.get("op") == protocol.SANDBOXED:  # sent before any student code ran: believed
                self.layers = ready.get("layers") if isinstance(ready.get("layers"), dict) else {}
                process.key = _key(ready.get("key"))
                ready, _ = process.receive(limit)
        except ProcessEnded as exc:
            if exc.problem == "starved":
                self._cleanup()
                raise Starved(f"importing {self.module_name}.py: {exc.reason}") from None
            if exc.problem == "tampering":
                self._tamper(exc.evidence)
            detail = ""
            if exc.problem == "timeout":
                if exc.cpu is None:
                    detail = f" (the limit is {self.limits.import_seconds:g} s)"
                elif exc.cpu >= self.limits.import_seconds:
                    detail = f" (it used all {self.limits.import_seconds:g} s of CPU time an import may use)"
                else:
                    detail = (f" (it used only {exc.cpu:.1f} s of CPU time in the wall-clock limit of "
                              f"{self.limits.import_wall:g} s: it was sleeping or waiting)")
            self._fail_import(f"importing {self.module_name}.py: {exc.reason}{detail}", exc.problem)
        if ready.get("op") == protocol.SANDBOX_FAILED:
            process.kill()
            raise SandboxError(f"the sandbox could not be set up: {str(ready.get('message'))[:300]}")
        if ready.get("course_error") is not None:  # sent before any student code ran: believed
            process.kill()
            self._cleanup()
            raise CourseError(f"{self.objects} could not be loaded in the student process: {str(ready['course_error'])[:300]}")
        if not ready.get("ok"):
            process.kill()
            error = ready.get("error") if isinstance(ready.get("error"), dict) else {}
            problem = error.get("problem") if error.get("problem") in ("syntax", "encoding", "memory") else "import"
            what = {"syntax": "has a syntax error", "encoding": "cannot be decoded"}.get(problem, "failed to import")
            detail = f"{error.get('type', '')}: {error.get('message', '')}".strip(": ")
            line = f" (line {error['line']})" if isinstance(error.get("line"), int) and error["line"] > 0 else ""
            self._fail_import(f"{self.module_name}.py {what}{line}: {detail}", problem)
        missing = ready.get("missing")
        self._missing = {m for m in missing if m in self.functions} if isinstance(missing, list) else set()
        if self._missing:
            self.problems.add("missing")
        self._process = process
        return process

    def _tamper(self, evidence: str) -> None:
        """The monitor found tampering: this check and every later one of the submission fail, with the evidence
        for the instructor only."""
        self._cleanup()
        self._tampered = True
        self.problems.add("tampering")
        raise SubmissionAbort(seals.TAMPERING_MESSAGE, "tampering", evidence=evidence)

    def _fail_import(self, message: str, problem: str) -> None:
        self._cleanup()
        self._import_failure = message
        self.problems.add(problem)
        raise SubmissionAbort(message, problem)

    def _cleanup(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
        self._cpu_base = None  # a new process's tree starts again from 0 s
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def close(self) -> None:
        self._cleanup()

    # ------------------------------------------------------------ calls
    def call(
        self,
        fn: str,
        *args,
        backward: torch.Tensor | str | None = None,
        keep: str | None = None,
        on: arguments.Ref | None = None,
        no_grad: bool = False,
        direct_backward: bool = False,
    ) -> Call:
        """Call ``fn(*args)`` in the student process.

        With ``backward`` (a gradient tensor, or ``"ones"`` for ones shaped like
        the result), the child then backpropagates from the result, and the
        returned input states carry the gradients it produced. With ``keep``,
        the child keeps the result under that name (pass :class:`Ref` to use
        it later). With ``on``, ``fn`` is a method of a kept object. With
        ``no_grad``, the function runs inside ``torch.no_grad()``. With ``backward`` and ``direct_backward``, the
        child calls the backward of the ``torch.autograd.Function`` that made the result itself (its ``grad_fn``'s,
        with the gradient given), not the autograd engine: ``Call.backward_value`` is what it returned, as it
        returned it (a tuple with ``None``s, gradients of any shape), where autograd would check or reshape it.
        The forbidden APIs of ``fn`` are forbidden in backward too.
        """
        if on is None and fn not in self.functions:
            raise ValueError(f"{fn} is not a function of this assignment")
        if self._tampered:
            raise SubmissionAbort(seals.TAMPERING_MESSAGE, "tampering")
        self._over_budget()
        if self._process is None:
            self._start()  # importing the module tells which functions are missing
        if on is None and fn in self._missing:
            raise StudentError(f"{self.module_name}.py has no function {fn}(): define it with that exact name", "missing")
        blobs: list[bytes] = []
        header = {"op": protocol.CALL, "fn": fn, "args": [arguments.encode(a, blobs) for a in args], "keep": keep}
        header["self"] = None if on is None else on.name
        header["no_grad"] = no_grad
        # Each check starts the submission's random generators from the same seed, so what an
        # unseeded function draws does not depend on how much earlier checks drew.
        header["seed"] = CHECK_SEED if self._reseed else None
        self._reseed = False
        header["backward"] = backward if backward is None or isinstance(backward, str) else arguments.encode(backward, blobs)
        if direct_backward:
            if backward is None:
                raise ValueError("direct_backward needs the gradient to pass: backward=...")
            header["direct_backward"] = True
        return self._exchange(fn if on is None else f"{on.name}.{fn}", header, blobs)

    def describe(self, ref: arguments.Ref):
        """A kept object as data (a module's parameters, an optimizer's settings)."""
        if self._tampered:
            raise SubmissionAbort(seals.TAMPERING_MESSAGE, "tampering")
        self._over_budget()
        return self._exchange(ref.name, {"op": protocol.DESCRIBE, "name": ref.name}, []).value

    def _exchange(self, fn: str, header: dict, blobs: list[bytes]) -> Call:
        process = self._process or self._start()
        limit = self._limit(process)
        sent = time.monotonic()
        try:
            reply, reply_blobs = process.call(header, blobs, limit)
        except ProcessEnded as exc:
            self._account(process, exc.at - sent, exc.cpu)  # until it ended, not until it was reaped
            self._cleanup()
            if exc.problem in ("timeout", "starved") and self._failure is not None:
                raise SubmissionAbort(self._failure, None) from None
            if exc.problem == "starved":
                raise Starved(f"{fn}(): {exc.reason}") from None
            if exc.problem == "tampering":
                self._tamper(exc.evidence)
            self.problems.add(exc.problem)
            detail = self._timeout_text(exc, metered=process.metered) if exc.problem == "timeout" else ""
            raise SubmissionAbort(f"{fn}(): {exc.reason}{detail}", exc.problem) from None
        self._account(process, time.monotonic() - sent)
        return self._decode(fn, reply, reply_blobs)

    def _decode(self, fn: str, reply: dict, blobs: list[bytes]) -> Call:
        forbidden = reply.get("_forbidden")
        if isinstance(forbidden, str) and forbidden:
            # The monitor saw a forbidden API during this call, whatever the reply says (the guard's exception
            # may have been caught by the submission).
            reply = {"ok": False, "error": {"type": "forbidden", "message": forbidden, "line": None, "problem": "forbidden_api"}}
        try:
            if not reply.get("ok"):
                error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
                problem = error.get("problem") if error.get("problem") in ("stub", "memory", "missing", "forbidden_api") else None
                if problem:
                    self.problems.add(problem)
                if problem == "memory":
                    # Like a hang: end the check now (no retries) and start the next one afresh.
                    self._cleanup()
                    raise SubmissionAbort(_error_text(fn, self.module_name, error), problem)
                message = _error_text(fn, self.module_name, error)
                self.note_failure(message)
                raise StudentError(message, problem)
            facts: dict[int, results.TensorFacts] = {}
            value = results.decode(reply.get("result"), blobs, facts)
            inputs = [results.decode_input_state(s, blobs) for s in reply.get("inputs", [])]
            returned = results.decode(reply["backward_value"], blobs, facts) if "backward_value" in reply else None
            backward_error = reply.get("backward_error")
            if isinstance(backward_error, dict):
                backward_error = f"{backward_error.get('type')}: {backward_error.get('message')}"
            elif backward_error is not None:
                backward_error = "backward failed"
        except (frames.ProtocolError, KeyError, TypeError, ValueError) as exc:
            self._cleanup()
            self.problems.add("crash")
            raise SubmissionAbort(f"{fn}(): the student process sent an invalid reply ({exc})", "crash") from None
        return Call(fn=fn, value=value, inputs=inputs, backward_error=backward_error, _facts=facts, backward_value=returned)
