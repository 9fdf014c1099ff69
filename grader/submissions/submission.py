"""A student's submission, located: the module file to run, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class Submission:
    """A student's module, located and ready to run."""

    name: str
    module_path: Path | None
    problems: set[str] = field(default_factory=set)
    reason: str | None = None
    """Why the module could not be found (``module_path`` is None), for the student."""
