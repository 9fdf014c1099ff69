"""The checks' handle on one submission: call a student function, get data back.

Checks run in the trusted parent and never touch student code; they ask a
:class:`Student` to call a function in the submission's sandboxed process.
A student process is started on first use and again after one dies, so a
crash or hang costs only the check that was running.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader.errors import SandboxError
from grader.sandbox import limits as sandbox_limits
from grader.sandbox import privileges, protocol
from grader.sandbox.protocol import arguments, frames, results
from grader.sandbox.policy import Limits
from grader.sandbox.process import Output, ProcessEnded, StudentProcess
from grader.submissions.submission import Submission


#: Seed of the submission's random generators at the start of every check: one no check uses,
#: so a function that should seed but does not cannot match a reference by luck.
CHECK_SEED = 918_273_645


class StudentError(Exception):
    """The student's function raised, or is missing: the check fails with this message."""

    def __init__(self, message: str, problem: str | None = None):
        super().__init__(message)
        self.problem = problem


class SubmissionAbort(BaseException):
    """The student process hung, died or could not import: the running check ends at once.

    A ``BaseException`` so that Hypothesis does not retry or shrink on it.
    """

    def __init__(self, message: str, problem: str | None):
        super().__init__(message)
        self.problem = problem


@dataclass
class Call:
    """What one call of a student function produced, as observed in its process."""

    fn: str
    value: object
    inputs: list[results.InputState]
    backward_error: str | None
    _facts: dict[int, results.TensorFacts] = field(repr=False, default_factory=dict)

    def facts(self, tensor: torch.Tensor) -> results.TensorFacts | None:
        return self._facts.get(id(tensor))




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
    ):
        self._launcher = launcher
        self.submission = submission
        self.module_name = module_name
        self.functions = functions
        self.limits = limits
        self._filesystem = filesystem
        self.forbidden = dict(forbidden or {})
        """Function name -> forbidden-API group (:mod:`grader.sandbox.guard`) enforced while it runs."""
        self.output = Output(keep=keep_output)
        self.printed_bytes = 0
        self.problems: set[str] = set(submission.problems)
        self._process: StudentProcess | None = None
        self._scratch: str | None = None
        self._missing: set[str] = set()
        self._import_failure: str | None = None
        self.layers: dict[str, str | None] = {}
        """Sandbox layer -> None when active, else why not, as the last student process reported."""
        self._spent = 0.0
        self._in_check = False
        self._check_used = 0.0
        self._check_budget = limits.check_seconds
        self._failure: str | None = None
        self._reseed = True

    @property
    def import_failure(self) -> str | None:
        """Why the module could not be imported, once that is known."""
        return self._import_failure

    # ------------------------------------------------------------ checks
    def begin_check(self) -> None:
        self._in_check = True
        self._check_used = 0.0
        self._check_budget = min(self.limits.check_seconds, self.limits.submission_seconds - self._spent)
        self._failure = None
        self._reseed = True

    def note_failure(self, message: str) -> None:
        """The running check found a failure; Hypothesis shrinks it, so the latest is the smallest so far."""
        self._failure = message

    def end_check(self) -> tuple[str, int]:
        """Account the check's time; return what the submission printed during it."""
        if self._in_check:
            self._spent += self._check_used
            self._in_check = False
        text, count = self.output.take()
        self.printed_bytes += count
        if self.printed_bytes > self.limits.output_bytes:
            self.problems.add("output")
        return text, count

    def _deadline(self) -> float:
        """When the next call must be done; ends the check at once if its budget is spent.

        Only the time the student process takes to answer counts (from a call to its reply),
        never the grader's own work between calls: on a loaded machine a correct submission
        must not run out of time because Hypothesis or the references were slow.
        """
        remaining = self._check_budget - self._check_used
        if remaining > 0:
            return time.monotonic() + remaining
        if self._failure is not None:
            # Out of time while shrinking a failure: that failure is the verdict, not a timeout.
            raise SubmissionAbort(self._failure, None)
        self.problems.add("timeout")
        if self._check_budget < self.limits.check_seconds:
            raise SubmissionAbort(f"the submission used up its total time budget ({self.limits.submission_seconds:g} s)", "timeout")
        raise SubmissionAbort(f"the check ran past its time limit ({self._check_budget:.3g} s)", "timeout")

    # ------------------------------------------------------------ process
    def _start(self) -> StudentProcess:
        if self.submission.module_path is None:
            raise SubmissionAbort(self.submission.reason or f"no {self.module_name}.py found", None)
        if self._import_failure is not None:
            raise SubmissionAbort(self._import_failure, None)
        self._scratch = tempfile.mkdtemp(prefix="grader-")
        module_path = Path(self._scratch) / f"{self.module_name}.py"
        shutil.copyfile(self.submission.module_path, module_path)
        work = Path(self._scratch) / "work"  # the student's working folder: a private tmpfs where mounts work
        work.mkdir()
        config = {
            "module_name": self.module_name,
            "module_path": str(module_path),
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
        deadline = time.monotonic() + self.limits.import_seconds
        try:
            ready, _ = process.receive(deadline)
            if ready.get("op") == protocol.SANDBOXED:  # sent before any student code ran: believed
                self.layers = ready.get("layers") if isinstance(ready.get("layers"), dict) else {}
                ready, _ = process.receive(deadline)
        except ProcessEnded as exc:
            problem = exc.problem
            self._fail_import(f"importing {self.module_name}.py: {exc.reason}", problem)
        if ready.get("op") == protocol.SANDBOX_FAILED:
            process.kill()
            raise SandboxError(f"the sandbox could not be set up: {str(ready.get('message'))[:300]}")
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

    def _fail_import(self, message: str, problem: str) -> None:
        self._cleanup()
        self._import_failure = message
        self.problems.add(problem)
        raise SubmissionAbort(message, problem)

    def _cleanup(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
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
    ) -> Call:
        """Call ``fn(*args)`` in the student process.

        With ``backward`` (a gradient tensor, or ``"ones"`` for ones shaped like
        the result), the child then backpropagates from the result, and the
        returned input states carry the gradients it produced. With ``keep``,
        the child keeps the result under that name (pass :class:`Ref` to use
        it later). With ``on``, ``fn`` is a method of a kept object. With
        ``no_grad``, the function runs inside ``torch.no_grad()``.
        """
        if on is None and fn not in self.functions:
            raise ValueError(f"{fn} is not a function of this assignment")
        deadline = self._deadline()
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
        return self._exchange(fn if on is None else f"{on.name}.{fn}", header, blobs, deadline)

    def describe(self, ref: arguments.Ref):
        """A kept object as data (a module's parameters, an optimizer's settings)."""
        return self._exchange(ref.name, {"op": protocol.DESCRIBE, "name": ref.name}, [], self._deadline()).value

    def _exchange(self, fn: str, header: dict, blobs: list[bytes], deadline: float) -> Call:
        process = self._process or self._start()
        sent = time.monotonic()
        try:
            reply, reply_blobs = process.call(header, blobs, deadline)
        except ProcessEnded as exc:
            self._check_used += time.monotonic() - sent
            self._cleanup()
            if exc.problem == "timeout" and self._failure is not None:
                raise SubmissionAbort(self._failure, None) from None
            self.problems.add(exc.problem)
            limit = f" ({self._check_budget:.3g} s per check)" if exc.problem == "timeout" else ""
            raise SubmissionAbort(f"{fn}(): {exc.reason}{limit}", exc.problem) from None
        self._check_used += time.monotonic() - sent
        return self._decode(fn, reply, reply_blobs)

    def _decode(self, fn: str, reply: dict, blobs: list[bytes]) -> Call:
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
            backward_error = reply.get("backward_error")
            if isinstance(backward_error, dict):
                backward_error = f"{backward_error.get('type')}: {backward_error.get('message')}"
            elif backward_error is not None:
                backward_error = "backward failed"
        except (frames.ProtocolError, KeyError, TypeError, ValueError) as exc:
            self._cleanup()
            self.problems.add("crash")
            raise SubmissionAbort(f"{fn}(): the student process sent an invalid reply ({exc})", "crash") from None
        return Call(fn=fn, value=value, inputs=inputs, backward_error=backward_error, _facts=facts)
