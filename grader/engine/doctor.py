"""Which sandbox layers a student process really gets on this machine (`grader doctor`, the batch warning)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from grader.engine.student import Student, StudentError, SubmissionAbort
from grader.sandbox import policy
from grader.sandbox.layers import LAYERS
from grader.submissions.submission import Submission


def probe(launcher, *, hidden: list[Path] | None = None) -> dict[str, str | None]:
    """Layer -> None when active, else why not, for a student process started by ``launcher``."""
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        module = Path(tmp) / "probe.py"
        module.write_text("def ping():\n    return 1\n")
        student = Student(
            launcher=launcher, submission=Submission(name="probe", module_path=module), module_name="probe",
            functions=["ping"], limits=policy.Limits(), filesystem=policy.filesystem(hidden=hidden or []),
        )
        try:
            student.begin_check()
            student.call("ping")
            reported = dict(student.layers)
        except (StudentError, SubmissionAbort) as exc:
            reported = {}
            failure = str(exc)
        else:
            failure = "the student process did not report its layers"
        finally:
            student.end_check()
            student.close()
    return {name: reported[name] if name in reported else failure for name in LAYERS}
